#!/bin/sh
# The Glewlwyd peer of `make bench` (Debian package glewlwyd), set up as
# PEERS.md says: a fresh SQLite database from the package's schema, a config
# file with the port, the bind address and the log level, then through the
# admin API (logged in as admin): a scope "api", one OIDC plugin instance per
# signing algorithm (oidc-es: ES256, oidc-rs: RS256, single PEM key each,
# client authentication enabled), and one confidential client allowed
# client_credentials with client_secret_basic.
#
#   sh glewlwyd.sh start DIR PORT CPU [cheap]
#       starts it on 127.0.0.1:PORT pinned to CPU, writes DIR/pid, prints
#       KEY=VALUE lines. As shipped by default: the database in DIR, the
#       client secret checked with PBKDF2 (150,000 iterations, the client
#       module's default). "cheap": the database on tmpfs (/dev/shm) and
#       pbkdf2-iterations 1 on the client module, PEERS.md's turned-down case.
#   sh glewlwyd.sh stop DIR
# Exit 3: glewlwyd is not installed.
set -u
SCHEMA=/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3
SHIPPED_CONF=/etc/glewlwyd/glewlwyd.conf

admin() { # METHOD PATH [JSON]
	if [ $# -ge 3 ]; then
		curl -s -o "$dir/admin.out" -w '%{http_code}' -b "$dir/cj" -c "$dir/cj" -X "$1" \
			-H 'Content-Type: application/json' --data-binary "$3" "$API$2"
	else
		curl -s -o "$dir/admin.out" -w '%{http_code}' -b "$dir/cj" -c "$dir/cj" -X "$1" "$API$2"
	fi
}

must() { # what status
	[ "$2" = 200 ] && return 0
	echo "glewlwyd: $1: HTTP $2: $(head -c 300 "$dir/admin.out" 2>/dev/null)" >&2
	stop_it
	exit 1
}

stop_it() {
	[ -f "$dir/pid" ] || return 0
	p=$(cat "$dir/pid")
	kill "$p" 2>/dev/null
	i=0
	while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
	kill -9 "$p" 2>/dev/null
	rm -f "$dir/pid"
	[ -f "$dir/dbdir" ] && rm -rf "$(cat "$dir/dbdir")" && rm -f "$dir/dbdir"
	return 0
}

# plugin_json NAME ALG KEY_PEM PUB_PEM: an OIDC instance, Glewlwyd's defaults
# for what is not said, client_credentials on, no user flows needed.
plugin_json() {
	python3 - "$1" "$2" "$3" "$4" "$I" <<'PY'
import json, sys
name, alg, key, pub, base = sys.argv[1:6]
p = {
    "jwt-type": "ecdsa" if alg == "ES256" else "rsa", "jwt-key-size": "256",
    "key": open(key).read(), "cert": open(pub).read(),
    "access-token-duration": 600, "refresh-token-duration": 1209600, "code-duration": 600,
    "refresh-token-rolling": False, "allow-non-oidc": True,
    "auth-type-code-enabled": True, "auth-type-token-enabled": False,
    "auth-type-id-token-enabled": False, "auth-type-none-enabled": False,
    "auth-type-password-enabled": False, "auth-type-client-enabled": True,
    "auth-type-device-enabled": False, "auth-type-refresh-enabled": False,
    "scope": [], "additional-parameters": [], "claims": [],
    "service-documentation": "", "op-policy-uri": "", "op-tos-uri": "",
    "jwks-show": True, "jwks-x5c": [], "request-parameter-allow": False, "secret-type": "pairwise",
    "address-claim": {"type": "no", "formatted": "", "street_address": "", "locality": "",
                      "region": "", "postal_code": "", "country": "", "mandatory": False},
    "name-claim": "no", "name-claim-scope": [], "email-claim": "no", "email-claim-scope": [],
    "scope-claim": "no", "scope-claim-scope": [], "allowed-scope": ["openid", "api"],
    "pkce-allowed": False, "introspection-revocation-allowed": False,
    "register-client-allowed": False, "session-management-allowed": False,
    "iss": base + "/api/" + name,
}
print(json.dumps({"module": "oidc", "name": name, "display_name": "bench " + alg,
                  "parameters": p, "enabled": True}))
PY
}

case "${1:-}" in
start)
	dir=$2 port=$3 cpu=$4 mode=${5:-shipped}
	command -v glewlwyd >/dev/null 2>&1 && [ -f "$SCHEMA" ] && [ -f "$SHIPPED_CONF" ] || {
		echo "glewlwyd: not installed (apt-get install glewlwyd)" >&2; exit 3; }
	mkdir -p "$dir"
	I=http://127.0.0.1:$port
	API=$I/api
	db="$dir/glewlwyd.db"
	if [ "$mode" = cheap ]; then
		dbdir=$(mktemp -d /dev/shm/glewlwyd-bench.XXXXXX) || exit 1
		echo "$dbdir" >"$dir/dbdir"
		db="$dbdir/glewlwyd.db"
	fi
	python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(open(sys.argv[2]).read()); c.commit()' \
		"$db" "$SCHEMA" || { echo "glewlwyd: cannot create the database" >&2; exit 1; }
	# The shipped file with our port, loopback, a log file and level, and
	# the database inline; the secure_connection_* keys stay (it refuses
	# the file without them, even with TLS off).
	sed -e "s|^port=.*|port=$port|" \
	    -e 's|^#* *bind_address=.*|bind_address="127.0.0.1"|' \
	    -e "s|^external_url=.*|external_url=\"$I/\"|" \
	    -e 's|^log_mode=.*|log_mode="file"|' \
	    -e 's|^log_level=.*|log_level="WARNING"|' \
	    -e "s|^log_file=.*|log_file=\"$dir/glewlwyd.log\"|" \
	    -e '/^@include/d' "$SHIPPED_CONF" >"$dir/glewlwyd.conf"
	printf 'database =\n{\n  type = "sqlite3"\n  path = "%s"\n};\n' "$db" >>"$dir/glewlwyd.conf"
	taskset -c "$cpu" glewlwyd --config-file="$dir/glewlwyd.conf" >"$dir/stdout.log" 2>&1 &
	echo $! >"$dir/pid"
	i=0
	until curl -s -o /dev/null "$API/auth/scheme/" 2>/dev/null; do
		i=$((i+1))
		if [ $i -gt 100 ] || ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
			echo "glewlwyd: did not start:" >&2; cat "$dir/stdout.log" "$dir/glewlwyd.log" >&2 2>/dev/null
			stop_it; exit 1
		fi
		sleep 0.1
	done
	# Loopback only, or nothing.
	if command -v ss >/dev/null 2>&1 &&
	   ss -ltnH "sport = :$port" 2>/dev/null | grep -v '127.0.0.1:' | grep -q .; then
		echo "glewlwyd: it listens beyond 127.0.0.1; stopped" >&2
		stop_it; exit 1
	fi
	must "admin login" "$(admin POST /auth/ '{"username":"admin","password":"password"}')"
	must "scope api" "$(admin POST /scope/ '{"name":"api","display_name":"API","description":"bench","password_required":false,"scheme":{}}')"
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/es.pem" 2>/dev/null &&
	openssl ec -in "$dir/es.pem" -pubout -out "$dir/es.pub" 2>/dev/null &&
	openssl genrsa -out "$dir/rs.pem" 2048 2>/dev/null &&
	openssl rsa -in "$dir/rs.pem" -pubout -out "$dir/rs.pub" 2>/dev/null || {
		echo "glewlwyd: key generation failed" >&2; stop_it; exit 1; }
	must "plugin oidc-es" "$(admin POST /mod/plugin/ "$(plugin_json oidc-es ES256 "$dir/es.pem" "$dir/es.pub")")"
	must "plugin oidc-rs" "$(admin POST /mod/plugin/ "$(plugin_json oidc-rs RS256 "$dir/rs.pem" "$dir/rs.pub")")"
	if [ "$mode" = cheap ]; then
		must "client module" "$(admin GET /mod/client/database)"
		must "client module pbkdf2-iterations" "$(admin PUT /mod/client/database "$(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
m["parameters"]["pbkdf2-iterations"] = 1
print(json.dumps(m))' "$dir/admin.out")")"
		# A changed module runs with its old settings until reset.
		must "client module reset" "$(admin PUT /mod/client/database/reset/)"
	fi
	must "client" "$(admin POST '/client/?source=database' '{"client_id":"bench-cc","name":"bench-cc","description":"","confidential":true,"password":"bench-cc-secret-0123456789abcdef","redirect_uri":[],"authorization_type":["client_credentials"],"token_endpoint_auth_method":["client_secret_basic"],"scope":["api"],"enabled":true}')"
	echo "PID=$(cat "$dir/pid")"
	echo "VERSION=$(dpkg-query -W -f='${Version}' glewlwyd 2>/dev/null)"
	echo "DISCOVERY=$API/oidc-es/.well-known/openid-configuration"
	echo "JWKS=$API/oidc-es/jwks"
	echo "TOKEN_ES=$API/oidc-es/token"
	echo "TOKEN_RS=$API/oidc-rs/token"
	echo "BASIC=Basic $(printf %s 'bench-cc:bench-cc-secret-0123456789abcdef' | base64 | tr -d '\n')"
	echo "BODY_ES=grant_type=client_credentials&scope=api"
	echo "BODY_RS=grant_type=client_credentials&scope=api"
	;;
stop)
	dir=$2
	stop_it
	;;
*)
	echo "usage: glewlwyd.sh start DIR PORT CPU [cheap] | stop DIR" >&2
	exit 2
	;;
esac
