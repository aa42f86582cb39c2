#!/bin/sh
# Installs the Debian packages the build, the demo and the tests need, when
# some are missing: with apt-get as root, otherwise prints the exact line.
PKGS="build-essential pkg-config libmicrohttpd-dev libjansson-dev libhiredis-dev
libssl-dev libcurl4-openssl-dev libargon2-dev libcjose-dev liboath-dev libqrencode-dev check redis-server oathtool
libldap2-dev slapd ldap-utils nginx-light haproxy
curl python3 python3-authlib python3-requests python3-cryptography chromium valgrind
systemd man-db groff-base strace
softhsm2 libengine-pkcs11-openssl opensc"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# Node.js may come from elsewhere with its own npm: only ask for Debian's when absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
	echo "deps: installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
		echo "deps: apt-get install failed" >&2; exit 1; }
else
	echo "deps: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y$missing" >&2
	exit 1
fi
