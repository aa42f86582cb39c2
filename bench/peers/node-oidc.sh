#!/bin/sh
# The node-oidc-provider peer of `make bench` (npm oidc-provider, pinned by
# package-lock.json beside this script, NODE_ENV=production, one process).
#
#   sh node-oidc.sh start DIR PORT CPU    installs when needed, starts it on
#                                         127.0.0.1:PORT pinned to CPU; writes
#                                         DIR/pid; prints KEY=VALUE lines
#   sh node-oidc.sh stop DIR              stops it by PID
#
# node_modules go to a cache folder outside the checkout
# (${BENCH_CACHE:-$HOME/.cache/idp-bench}/node), reinstalled with `npm ci`
# when the lock file changes. Exit 3: node, npm or the install is missing.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${BENCH_CACHE:-${HOME:-/tmp}/.cache/idp-bench}/node

install_peer() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || {
		echo "node-oidc: node or npm is missing (apt-get install nodejs npm)" >&2; return 3; }
	mkdir -p "$CACHE" || return 3
	if ! cmp -s "$HERE/package-lock.json" "$CACHE/package-lock.json" ||
	   [ ! -f "$CACHE/node_modules/oidc-provider/package.json" ]; then
		cp "$HERE/package.json" "$HERE/package-lock.json" "$CACHE/" || return 3
		echo "node-oidc: npm ci (oidc-provider, pinned) into $CACHE" >&2
		(cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error >"$CACHE/npm.log" 2>&1) || {
			echo "node-oidc: npm ci failed; see $CACHE/npm.log" >&2; return 3; }
	fi
	cp "$HERE/node-oidc.mjs" "$CACHE/node-oidc.mjs"
}

case "${1:-}" in
start)
	dir=$2 port=$3 cpu=$4
	install_peer || exit 3
	mkdir -p "$dir"
	(cd "$CACHE" && PORT=$port NODE_ENV=production exec taskset -c "$cpu" node node-oidc.mjs) \
		>"$dir/node.log" 2>&1 &
	echo $! >"$dir/pid"
	i=0
	until curl -sf -o /dev/null "http://127.0.0.1:$port/.well-known/openid-configuration"; do
		i=$((i+1))
		if [ $i -gt 100 ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
			echo "node-oidc: did not start:" >&2; cat "$dir/node.log" >&2
			kill "$(cat "$dir/pid")" 2>/dev/null; exit 1
		fi
		sleep 0.1
	done
	I=http://127.0.0.1:$port
	echo "PID=$(cat "$dir/pid")"
	echo "VERSION=$(node -p "require('$CACHE/node_modules/oidc-provider/package.json').version" 2>/dev/null)"
	echo "DISCOVERY=$I/.well-known/openid-configuration"
	echo "JWKS=$I/jwks"
	echo "TOKEN_ES=$I/token"
	echo "TOKEN_RS=$I/token"
	echo "BASIC=Basic $(printf %s 'bench-cc:bench-cc-secret-0123456789abcdef' | base64 | tr -d '\n')"
	echo "BODY_ES=grant_type=client_credentials&scope=api&resource=$I/api/es"
	echo "BODY_RS=grant_type=client_credentials&scope=api&resource=$I/api/rs"
	;;
stop)
	dir=$2
	[ -f "$dir/pid" ] || exit 0
	p=$(cat "$dir/pid")
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	kill -9 "$p" 2>/dev/null
	rm -f "$dir/pid"
	;;
*)
	echo "usage: node-oidc.sh start DIR PORT CPU | stop DIR" >&2
	exit 2
	;;
esac
