#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# Connection floods and slow clients (issue 15, finding 2): each event loop
# filled to its share of connection_limit with idle connections from several
# loopback addresses, held, released: the daemon answers again within a
# second, and a request sent over the limit is answered once a slot frees
# (or refused), never left waiting for ever. A head or a body sent a byte at
# a time is closed at connection_timeout_s and never stops others being served.
. "$(dirname "$0")/lib.sh"
setup_tmp
RAW="python3 $ROOT/tests/integration/rawhttp.py"

flood_daemon() { # flood_daemon THREADS TIMEOUT_S
	[ -n "${IDP_PID:-}" ] && stop_idp
	cat >"$TMP/extra.json" <<EOF2
{"listen": {"address": "127.0.0.1", "port": 8080, "threads": $1, "connection_limit": 32,
 "per_ip_connection_limit": 0, "connection_timeout_s": $2}}
EOF2
	start_idp memory
	wait_for 50 curl -sf -o /dev/null "$IDP/healthz"
}

val() { sed -n "s/^$1=//p" "$2"; }

for th in 1 2; do
	flood_daemon "$th" 4
	$RAW burst "$IDP_PORT" 40 2 >"$TMP/burst.$th" 2>&1
	cat "$TMP/burst.$th" >&2
	ok "flood threads=$th: /healthz answers within 1 s after the burst" \
		contains "$(val healthz_after "$TMP/burst.$th")" "HTTP/1.1 200"
	over=$(val over_after_release "$TMP/burst.$th")
	case "$over" in "HTTP/1.1 200"*|EOF|RESET) r=answered-or-refused ;; *) r="$over" ;; esac
	ok "flood threads=$th: a request over the limit is answered or refused, not left hanging" \
		eq "$r" answered-or-refused
	ok "flood threads=$th: the daemon still runs" kill -0 "$IDP_PID"
done
# Idle connections the client never releases: they are closed at the
# connection timeout (4 s here), and the request waiting over the limit (in
# the kernel's queue) is then answered.
$RAW siege "$IDP_PORT" 40 4 >"$TMP/siege" 2>&1
cat "$TMP/siege" >&2
ok "siege: the request over the limit is answered once the idle ones time out" \
	contains "$(val over_held "$TMP/siege")" "HTTP/1.1 200"

# Slow clients, with a short connection timeout.
flood_daemon 1 2
$RAW slowloris "$IDP_PORT" 2 >"$TMP/slowloris" 2>&1
cat "$TMP/slowloris" >&2
ok "slowloris: closed without an answer" eq "$(val slow_end "$TMP/slowloris")" EOF
ok "slowloris: closed at connection_timeout_s (2 s, in tenths: 15..35)" \
	test "$(val slow_closed_ds "$TMP/slowloris")" -ge 15 -a "$(val slow_closed_ds "$TMP/slowloris")" -le 35
ok "slowloris: others served meanwhile" test "$(val others_served "$TMP/slowloris")" -ge 5
ok "slowloris: every other request got 200" eq "$(val others_not_200 "$TMP/slowloris")" 0

$RAW slowbody "$IDP_PORT" 2 >"$TMP/slowbody" 2>&1
cat "$TMP/slowbody" >&2
ok "slow body: closed without an answer" eq "$(val slow_end "$TMP/slowbody")" EOF
ok "slow body: closed at connection_timeout_s (2 s, in tenths: 15..35)" \
	test "$(val slow_closed_ds "$TMP/slowbody")" -ge 15 -a "$(val slow_closed_ds "$TMP/slowbody")" -le 35
ok "slow body: others served meanwhile" test "$(val others_served "$TMP/slowbody")" -ge 5
ok "slow body: every other request got 200" eq "$(val others_not_200 "$TMP/slowbody")" 0
ok "flood: /healthz still 200 at the end" eq "$(curl -s -m 2 -o /dev/null -w '%{http_code}' "$IDP/healthz")" 200
done_tests
