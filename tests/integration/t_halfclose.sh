#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# stores: both
# Half-closed clients (issue 15): a client that sends its request and then
# shuts its side for writing (HTTP/1.0 tools, some proxies) gets its whole
# answer, and the daemon closes the connection within a second after it,
# many times in a row so that a race shows: on a request answered at once
# (/healthz), one that goes to the store (/authorize), and one whose fiber
# parks on a worker (POST /login: the argon2 check). Before the fix: every
# half-closed login lost its answer, every other answer was followed by the
# connection held to its idle timeout (30 s). A body cut off by the end of
# the stream (a chunk size of 2^64-1, 12 bytes sent) gets a 400, where the
# connection was closed without a word (413 once past max_body_bytes).
. "$(dirname "$0")/lib.sh"
real_password_cost # the half-closed logins wait on a worker for a real argon2id check
setup_tmp
RAW="python3 $ROOT/tests/integration/rawhttp.py"
N=${HALFCLOSE_N:-50}
start_idp "${STORE:-memory}"
wait_for 50 curl -sf -o /dev/null "$IDP/healthz"

val() { sed -n "s/^$1=//p" "$2"; }

for kind in healthz authorize login cutbody cutbig; do
	n=$N
	[ $kind = login ] && n=$((N / 5)) # each about 0.7 s of argon2 under ASan
	case $kind in cut*) n=5 ;; esac
	$RAW halfclose "$IDP_PORT" $kind $n >"$TMP/hc.$kind" 2>&1
	cat "$TMP/hc.$kind" >&2
	ok "$kind x$n: every answer arrives (none lost)" eq "$(val lost "$TMP/hc.$kind")" 0
	ok "$kind x$n: every answer whole" eq "$(val partial "$TMP/hc.$kind")" 0
	ok "$kind x$n: the expected status" eq "$(val status "$TMP/hc.$kind")" 0
	ok "$kind x$n: closed within 1 s of the answer" eq "$(val slow_close "$TMP/hc.$kind")" 0
	ok "$kind x$n: no setup failure" eq "$(val setup "$TMP/hc.$kind")" 0
done
ok "half-closed clients: the daemon still runs" kill -0 "$IDP_PID"
done_tests
