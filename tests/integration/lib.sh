# Shared helpers for the integration tests: real servers on 127.0.0.1, fresh
# folders, bounded waits, everything stopped by PID at exit.
#
#   . tests/integration/lib.sh        (with BUILD=build-san or . in the environment)
#   setup_tmp; start_idp memory        # or redis (starts its own redis-server)
#   ok "what" test ...; done_tests
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build-san}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
PASS=0
FAIL=0
PIDS=""
TMP=""
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The users files a suite makes (idpctl users add) hash with argon2id's
# cheapest cost, 1 pass over 8 KiB: a login at RFC 9106's cost (3 passes,
# 64 MiB, 4 lanes) spends some 0.3 s of CPU under ASan, and the suites make
# hundreds, on a machine shared by three. The daemon verifies either the
# same way (pwhash.c reads the cost from the hash). A suite about the hash
# itself, or that needs a slow login, calls real_password_cost first.
export IDPCTL_ARGON2=${IDPCTL_ARGON2-1:8:1}
real_password_cost() { unset IDPCTL_ARGON2; }

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
		kill -9 "$p" 2>/dev/null
	done
	[ -n "$TMP" ] && rm -rf "$TMP"
}
trap cleanup EXIT INT TERM HUP PIPE

setup_tmp() {
	TMP=$(mktemp -d /tmp/idp-test.XXXXXX)
	CJ="$TMP/cookies"
}

. "$ROOT/tests/integration/wait.sh"    # wait_for, free_port

ok() {
	name=$1; shift
	if "$@"; then
		PASS=$((PASS+1))
	else
		FAIL=$((FAIL+1))
		echo "FAIL: $name" >&2
	fi
}

# Compares two strings; prints both on mismatch.
eq() {
	[ "$1" = "$2" ] && return 0
	echo "  expected [$2] got [$1]" >&2
	return 1
}

contains() {
	case "$1" in *"$2"*) return 0 ;; esac
	echo "  [$(printf %s "$1" | head -c 300)] does not contain [$2]" >&2
	return 1
}

not_contains() {
	case "$1" in *"$2"*) echo "  unexpected [$2]" >&2; return 1 ;; esac
	return 0
}

start_redis() {
	REDIS_PORT=$(free_port)
	mkdir -p "$TMP/redis"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP/redis" --save '' \
		--appendonly no >"$TMP/redis.log" 2>&1 &
	REDIS_PID=$!
	PIDS="$PIDS $REDIS_PID"
	wait_for 50 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping || { echo "redis did not start" >&2; exit 1; }
}

# make_config STORE [PORT]: $TMP/idp.json from conf/demo.json, $TMP/extra.json
# merged in; its issuer's port is PORT when given ("PORT", to be replaced
# with sed, otherwise).
make_config() {
	store=$1
	mkdir -p "$TMP/keys"
	if [ ! -f "$TMP/keys/state.json" ]; then
		"$BUILD/idp/idpctl" --keys-dir "$TMP/keys" keys init >"$TMP/keys-init.log" 2>&1 || { cat "$TMP/keys-init.log"; exit 1; }
	fi
	if [ ! -f "$TMP/users.json" ]; then
		printf '%s\n' 'Marianne-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add marianne \
			--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14","gender":"female","birthplace":"75056","birthcountry":"99100","email":"marianne.dupont@example.fr","email_verified":true,"phone_number":"+33612345678"}' >/dev/null || exit 1
	fi
	python3 - "$ROOT/conf/demo.json" "$TMP/idp.json" "$store" "${REDIS_PORT:-0}" "$TMP" "$ROOT" <<'PY'
import json, sys
src, dst, store, rport, tmp, root = sys.argv[1:7]
c = json.load(open(src))
c["issuer"] = "http://127.0.0.1:PORT"
c["keys_dir"] = tmp + "/keys"
c["templates_dir"] = root + "/templates"
c["backends"] = [c["backends"][0]]  # the local file backend; tests add others via extra.json
c["backends"][0]["users"] = tmp + "/users.json"
# The suites' citizens have no second factor: their local backend stays a
# password's, eidas1 at most, whatever the demo's (marianne's TOTP) reaches.
for k in ("password_acr", "second_factor_help"):
    c["backends"][0].pop(k, None)
c["backends"][0]["acr"] = "eidas1"
c["store"] = {"driver": "memory"} if store == "memory" else {"driver": "redis", "host": "127.0.0.1", "port": int(rport), "prefix": "t:"}
c["demo"] = False
for cl in c["clients"]:  # no logout tokens to the demo portals' ports; t_backchannel sets its own
    cl.pop("backchannel_logout_uri", None)
c["log_level"] = "info"
extra = tmp + "/extra.json"
try:
    e = json.load(open(extra))
    for k, v in e.items():
        if k == "clients+":
            c["clients"].extend(v)
        else:
            c[k] = v
except FileNotFoundError:
    pass
json.dump(c, open(dst, "w"), indent=1)
PY
	[ -z "${2:-}" ] || sed -i "s#http://127.0.0.1:PORT#http://127.0.0.1:$2#" "$TMP/idp.json"
}

# start_idp STORE: a fresh daemon on a free port; sets IDP (base URL), IDP_PID.
start_idp() {
	[ "$1" = redis ] && [ -z "${REDIS_PID:-}" ] && start_redis
	IDP_PORT=$(free_port)
	make_config "$1" "$IDP_PORT"
	run_idp
}

# run_idp [WRAPPER...]: the daemon of $TMP/idp.json on $IDP_PORT, run under
# WRAPPER when given; sets IDP, IDP_PID.
run_idp() {
	spawn_idp "$TMP/idp.json" "$IDP_PORT" "$TMP/idp.log" "$TMP/port" "$@"
	IDP_PID=$SPAWNED
	IDP="http://127.0.0.1:$IDP_PORT"
}

# spawn_idp CONFIG PORT LOG PORT_FILE [WRAPPER...]: a daemon (a second node,
# an upstream provider...) stopped at exit; SPAWNED is its PID. The test
# ends when it has not written PORT_FILE within 10 s.
spawn_idp() {
	sp_cfg=$1 sp_port=$2 sp_log=$3 sp_pf=$4 # sp_: shell variables are global
	shift 4
	rm -f "$sp_pf"
	"$@" "$BUILD/idp/idp" --config "$sp_cfg" --port "$sp_port" --port-file "$sp_pf" \
		--plugin-dir "$BUILD/plugins" >>"$sp_log" 2>&1 &
	SPAWNED=$!
	PIDS="$PIDS $SPAWNED"
	wait_for 100 test -s "$sp_pf" || { echo "the daemon of $sp_cfg did not start:" >&2; cat "$sp_log" >&2; exit 1; }
}

# await_exit PID: waits (10 s at most) for PID, a child of this shell, to
# end; EXIT_RC is its exit status.
await_exit() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	wait "$1" 2>/dev/null
	EXIT_RC=$?
}

# stop_idp: SIGTERM to the daemon; IDP_RC is its exit status.
stop_idp() {
	kill "$IDP_PID" 2>/dev/null
	await_exit "$IDP_PID"
	IDP_RC=$EXIT_RC
}

# PKCE pair in V (verifier) and C (challenge).
pkce() {
	V=$(python3 -c 'import secrets;print(secrets.token_urlsafe(48))')
	C=$(printf %s "$V" | openssl dgst -sha256 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=')
}

field() { # field NAME HTML: value of the hidden input NAME
	printf %s "$2" | sed -n "s/.*name=\"$1\" value=\"\\([^\"]*\\)\".*/\\1/p" | head -n1
}

# authorize CLIENT REDIRECT [extra query]: GET /authorize, sets PAGE (body).
authorize() {
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$2&scope=openid%20profile%20email&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256${3:-}")
}

# login USER PASS: posts the login form in PAGE; sets RESP (headers + body).
login() {
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=$1" \
		--data-urlencode "password=$2" "$IDP/login")
}

consent() { # consent accept|refuse: posts the consent form in RESP
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$RESP")" \
		--data-urlencode "csrf=$(field csrf "$RESP")" --data "decision=$1" "$IDP/consent")
}

# The Location of a redirect, or the URL of a "Refresh: 0; url=" page (how
# the hub goes on from an upstream provider's answer to a service).
location() { printf %s "$1" | tr -d '\r' | sed -n -e 's/^[Ll]ocation: //p' -e 's/^[Rr]efresh: 0; url=//p' | head -n1; }
status() { printf %s "$1" | head -n1 | cut -d' ' -f2; }
body() { printf %s "$1" | tr -d '\r' | sed '1,/^$/d'; } # the body of a curl -i answer
qparam() { printf %s "$2" | tr '?&' '\n\n' | sed -n "s/^$1=//p" | head -n1; }
jget() { python3 -c 'import json,sys
try:
  v=json.loads(sys.stdin.read())
  for k in sys.argv[1].split("."): v=v[k]
  print(v if not isinstance(v,(dict,list,bool)) else json.dumps(v))
except Exception: print("")' "$1"; }
jwt_payload() { printf %s "$1" | cut -d. -f2 | python3 -c 'import sys,base64;s=sys.stdin.read().strip();print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).decode())'; }

# token CLIENT SECRET CODE REDIRECT VERIFIER: client_secret_basic exchange; sets TOK.
token() {
	TOK=$(curl -s -u "$1:$2" -d grant_type=authorization_code --data-urlencode "code=$3" \
		--data-urlencode "redirect_uri=$4" --data-urlencode "code_verifier=$5" "$IDP/token")
}

# full_login CLIENT SECRET REDIRECT: authorize, login, consent, token; sets TOK, CODE.
full_login() {
	authorize "$1" "$3"
	login marianne 'Marianne-2026!'
	if [ "$(status "$RESP")" = 200 ]; then consent accept; fi
	CODE=$(qparam code "$(location "$RESP")")
	token "$1" "$2" "$CODE" "$3" "$V"
}

# checks_from FILE: one ok per "PASS name" or "FAIL name: why" line of FILE
# (the report of a client written in another language); other lines are shown.
checks_from() {
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) ok "${line#PASS }" true ;;
		"FAIL "*) echo "  ${line#FAIL }" >&2; ok "${line#FAIL }" false ;;
		"SUB "*|"LOGIN "*) ;;
		*) echo "  $line" >&2 ;;
		esac
	done <"$1"
}

done_tests() {
	suite=$(basename "$0" .sh)
	if [ -n "${IDP_PID:-}" ] && kill -0 "$IDP_PID" 2>/dev/null; then
		stop_idp
		ok "$suite: daemon exits cleanly on SIGTERM (no sanitizer report)" eq "$IDP_RC" 0
	fi
	if grep -q -E "ERROR: AddressSanitizer|runtime error:|LeakSanitizer" "$TMP/idp.log" 2>/dev/null; then
		FAIL=$((FAIL+1)); echo "FAIL: sanitizer report in idp.log" >&2; grep -A20 -E "ERROR: AddressSanitizer|runtime error:" "$TMP/idp.log" >&2
	fi
	echo "$suite${STORE:+ ($STORE)}: $PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]
}

# debian_python: Debian's python3 (with python3-authlib) for the suite's
# python calls, jget, pkce and make_config included, through pybin/ first in
# PATH: a version manager's shim in front of it costs some 0.7 s a call
# (over a second on a loaded machine), and a suite makes hundreds. A PATH
# entry, not a shell function, so that "python3 x.py &" leaves in $! the
# PID of python itself, which the suite may stop (SIGSTOP) or kill. Every
# suite that sources this file has it; calling it again is harmless.
debian_python() {
	PY=/usr/bin/python3
	[ -x $PY ] || return 0
	case ":$PATH:" in
	*":$ROOT/tests/integration/pybin:"*) ;;
	*) PATH="$ROOT/tests/integration/pybin:$PATH"; export PATH ;;
	esac
}
# authlib_python: PY, Debian's python3, which must import python3-authlib and
# python3-requests (the suite fails loudly otherwise), with tests/interop on
# its path for the helpers those suites share (authlib_common.py).
authlib_python() {
	PY=/usr/bin/python3
	if ! $PY -c 'import authlib, requests' 2>/dev/null; then
		echo "$(basename "$0" .sh): $PY cannot import authlib and requests: apt-get install python3-authlib python3-requests" >&2
		echo "$(basename "$0" .sh): 0 passed, 1 failed"
		exit 1
	fi
	export PYTHONPATH="$ROOT/tests/interop${PYTHONPATH:+:$PYTHONPATH}"
}
debian_python
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; } # hash TEXT: its SHA-256, hex
