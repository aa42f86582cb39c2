#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# Redis paused, killed and full in the middle of logins: the daemon answers
# every request with a status (never a reset, never a hang) within the
# store's timeout plus a margin, keeps serving what needs no store, and
# recovers by itself once Redis is back, without a restart.
. "$(dirname "$0")/lib.sh"
setup_tmp
start_redis
STORE_TIMEOUT_MS=500
# The bound of one answer while the store fails: the store's timeout, a
# second of margin for the sanitizer build, and a second more for the few
# store calls a request makes before it gives up.
BOUND_S=3
cat >"$TMP/extra.json" <<EOF
{"store": {"driver": "redis", "host": "127.0.0.1", "port": $REDIS_PORT, "prefix": "t:", "timeout_ms": $STORE_TIMEOUT_MS}}
EOF
start_idp redis
R="redis-cli -h 127.0.0.1 -p $REDIS_PORT"

# timed NAME CURL-ARGS...: one request with a hard bound of 15 s; sets CODE
# (000 for a reset, a refusal or no answer), SECS and BODY_FILE.
BODY_FILE="$TMP/body"
timed() {
	name=$1
	shift
	out=$(curl -s -o "$BODY_FILE" -w '%{http_code} %{time_total} %{redirect_url}' --max-time 15 -c "$CJ" -b "$CJ" "$@")
	CODE=${out%% *}
	out=${out#* }
	SECS=${out%% *}
	LOC=${out#"$SECS"}
	echo "  $name: $CODE in ${SECS}s:${LOC:+ Location$LOC} $(tr -d '\n' <"$BODY_FILE" | sed 's/<[^>]*>/ /g;s/  */ /g' | head -c 160)"
}
# A new browser: no cookies.
jar=0
fresh() { jar=$((jar+1)); CJ="$TMP/cookies.$jar"; }
is_status() { [ "$CODE" != 000 ] || { echo "  no status (reset or hang)" >&2; return 1; }; }
within() { # within SECONDS: SECS <= SECONDS
	awk -v t="$SECS" -v b="$1" 'BEGIN { exit !(t + 0 <= b + 0) }' ||
		{ echo "  took ${SECS}s, more than $1 s" >&2; return 1; }
}
is_5xx() { case "$CODE" in 5??) return 0 ;; esac; echo "  status $CODE, expected 5xx" >&2; return 1; }
# /authorize with a valid client and redirect URI sends its errors back to
# the service (OpenID Core 3.1.2.6): a 5xx page, or a redirect to the
# registered URI with an error and no code, are both clear answers.
clear_error() {
	case "$CODE" in
	5??) [ -s "$BODY_FILE" ] && return 0 ;;
	30?) case "$LOC" in " http://127.0.0.1:8081/callback?"*code=*) ;;
	     " http://127.0.0.1:8081/callback?error="*) return 0 ;; esac ;;
	esac
	echo "  status $CODE${LOC:+ to$LOC}: neither an error page nor an error sent to the service" >&2
	return 1
}
login_works() { # a whole login in a new browser, code exchanged for tokens
	fresh
	full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
	[ -n "$(printf %s "$TOK" | jget access_token)" ] || { echo "  no token: $TOK" >&2; return 1; }
}

echo "-- healthy"
ok "a login works with Redis" login_works
SSO_CJ=$CJ

echo "-- Redis paused (SIGSTOP) mid-login"
fresh
authorize demo-portal http://127.0.0.1:8081/callback
ok "login form served before the pause" contains "$PAGE" 'name="txn"'
kill -STOP "$REDIS_PID"
timed "POST /login, Redis paused" --data-urlencode "txn=$(field txn "$PAGE")" \
	--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=marianne" \
	--data-urlencode "password=Marianne-2026!" "$IDP/login"
ok "paused: /login answers with a status" is_status
# The transaction cannot be read: that is an outage (503), not a page that
# expired (ep_login answers 400 "expired" for any store_mget failure).
ok "paused: /login answers 503, not 400 expired" is_5xx
ok "paused: /login answers within the store timeout plus a margin" within $BOUND_S
timed "GET /healthz, Redis paused" "$IDP/healthz"
ok "paused: /healthz says not ready (503: a balancer takes the node out)" eq "$CODE" 503
ok "paused: /healthz answers within the store timeout plus a margin" within $BOUND_S
timed "GET /jwks, Redis paused" "$IDP/jwks"
ok "paused: /jwks answers 200" eq "$CODE" 200
ok "paused: /jwks answers at once" within 1
pkce
fresh
timed "GET /authorize, Redis paused" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
ok "paused: /authorize answers with a status" is_status
ok "paused: /authorize answers a clear error" clear_error
ok "paused: /authorize answers within the bound" within $BOUND_S
# Several at once: each waits for the store on its own fiber, none longer.
par=""
for i in 1 2 3 4 5 6; do
	curl -s -o /dev/null -w '%{http_code} %{time_total} %{redirect_url}\n' --max-time 15 "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s$i&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256" >"$TMP/par.$i" &
	par="$par $!"
done
for p in $par; do wait "$p"; done # each bounded by --max-time
par_ok() {
	for f in "$TMP"/par.*; do
		read -r c s l <"$f" || return 1
		CODE=$c SECS=$s LOC=" $l"
		echo "  concurrent: $CODE in ${SECS}s to$LOC"
		clear_error && within $BOUND_S || return 1
	done
}
ok "paused: 6 concurrent /authorize all answer a clear error within the bound" par_ok
# A browser with a session: the session cannot be read; the daemon must
# say so (a page, or an error sent back to the service), not hang.
CJ=$SSO_CJ
timed "GET /authorize with a session, Redis paused" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
ok "paused, SSO: /authorize answers with a status" is_status
ok "paused, SSO: /authorize answers within the bound" within $BOUND_S
ok "paused, SSO: a clear error, no code" clear_error
kill -CONT "$REDIS_PID"
echo "-- Redis resumed (SIGCONT)"
ok "resumed: a new login succeeds without restarting the daemon" login_works
ok "resumed: the daemon is the same process" kill -0 "$IDP_PID"

echo "-- Redis killed (SIGKILL) and restarted on the same port"
kill -9 "$REDIS_PID"
wait "$REDIS_PID" 2>/dev/null
fresh
timed "GET /authorize, Redis dead" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
ok "dead: /authorize answers with a status" is_status
ok "dead: /authorize answers a clear error" clear_error
ok "dead: /authorize answers within the bound" within $BOUND_S
timed "GET /healthz, Redis dead" "$IDP/healthz"
ok "dead: /healthz says not ready" eq "$CODE" 503
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP/redis" --save '' \
	--appendonly no >>"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS="$PIDS $REDIS_PID"
wait_for 50 $R ping || { echo "redis did not restart" >&2; exit 1; }
REDIS_BACK=$(date +%s%N)
# The first request after the restart may still meet the dead connection;
# the daemon must reconnect by itself within a few attempts, each answered.
recovered=no
all_status=yes
for i in 1 2 3 4 5; do
	fresh
	timed "GET /authorize after the restart ($i)" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
	[ "$CODE" = 000 ] && all_status=no
	[ "$CODE" = 200 ] && { recovered=yes; break; }
	sleep 0.5
done
ok "restarted: every answer was a status" eq "$all_status" yes
ok "restarted: /authorize serves the login form again by itself" eq "$recovered" yes
# Each event loop has its own connection, and a loop whose connect failed
# while Redis was dead fails at once for a second (store_redis.c, ra_connect)
# before it tries again: a login may land on such a loop just after the
# restart. Past that second (and a margin), every loop must have its
# connection back: the next login works at its first attempt, whichever
# loops it meets. Measured from Redis answering, not from the login's own
# duration (a loaded machine makes a login slow, not the recovery).
left=$(awk -v a="$REDIS_BACK" -v b="$(date +%s%N)" 'BEGIN { l = 1.5 - (b - a) / 1e9; print (l > 0 ? l : 0) }')
sleep "$left"
ok "restarted: 1.5 s after Redis answers, a whole login works at the first attempt" login_works
ok "restarted: and keeps working (a second login)" login_works

echo "-- Redis full (maxmemory, noeviction)"
used=$($R info memory | tr -d '\r' | sed -n 's/^used_memory://p')
$R config set maxmemory-policy noeviction >/dev/null
$R config set maxmemory $((used + 1048576)) >/dev/null
$R eval "for i=1,4000 do redis.call('set','fill:'..i,string.rep('x',1024)) end return 1" 0 >/dev/null 2>&1
ok "full: Redis refuses writes (OOM)" contains "$($R set probe 1 2>&1)" OOM
fresh
timed "GET /authorize, Redis full" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
ok "full: /authorize answers with a status" is_status
ok "full: /authorize answers a clear error, not a login form" clear_error
ok "full: /authorize answers within the bound" within $BOUND_S
$R flushall >/dev/null
$R config set maxmemory 0 >/dev/null
echo "-- memory freed (FLUSHALL)"
ok "freed: a new login succeeds" login_works
done_tests
