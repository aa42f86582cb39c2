#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# SIGTERM while requests are in progress: what is in progress is answered,
# a new request on a kept-alive connection gets 503 with Connection: close
# and Retry-After (never a dropped connection), no new connection is
# accepted, and the daemon exits 0 once the last request is answered.
# The stop window is held open by a request waiting on a Redis server that
# is paused (SIGSTOP), then let go (SIGCONT).
. "$(dirname "$0")/lib.sh"
setup_tmp
start_redis
# One event loop, so that the kept-alive connection and the waiting
# request are on the loop that stays up; a store timeout longer than the
# test's window.
cat >"$TMP/extra.json" <<EOF
{"listen": {"address": "127.0.0.1", "port": 8080, "threads": 1},
 "store": {"driver": "redis", "host": "127.0.0.1", "port": $REDIS_PORT, "prefix": "t:", "timeout_ms": 20000}}
EOF
start_idp redis
wait_for 50 curl -sf -o /dev/null "$IDP/healthz"

python3 - "$IDP_PORT" "$IDP_PID" "$REDIS_PID" >"$TMP/stop.out" 2>&1 <<'PY'
import os, signal, socket, sys, time
port, idp, redis = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    return s

def ask(s, path, hdrs=""):
    s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (path, hdrs)).encode())

def answer(s):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    h = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        h[k.strip().lower()] = v.strip()
    n = int(h.get("content-length", "0"))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), h, body

keep = conn()
ask(keep, "/.well-known/openid-configuration")
r = answer(keep)
print("keepalive_first", r[0] if r else "none")
os.kill(redis, signal.SIGSTOP)
try:
    waiting = conn()
    ask(waiting, "/userinfo", "Authorization: Bearer " + "A" * 43 + "\r\n")
    time.sleep(0.5)
    os.kill(idp, signal.SIGTERM)
    time.sleep(0.5)
    print("alive_while_waiting", "yes" if os.path.exists("/proc/%d" % idp) else "no")
    ask(keep, "/userinfo", "Authorization: Bearer " + "B" * 43 + "\r\n")
    r = answer(keep)
    if r is None:
        print("stopping_answer none")
    else:
        print("stopping_answer", r[0])
        print("stopping_connection", r[1].get("connection", ""))
        print("stopping_retry_after", r[1].get("retry-after", ""))
        print("stopping_body", r[2].decode("latin-1").replace("\n", " ")[:200])
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(2)
        got = s.recv(100)
        print("new_connection", "answered" if got else "closed")
    except OSError:
        print("new_connection refused")
finally:
    os.kill(redis, signal.SIGCONT)
r = answer(waiting)
print("waiting_answer", r[0] if r else "none")
PY
cat "$TMP/stop.out" | sed 's/^/  /'
val() { sed -n "s/^$1 //p" "$TMP/stop.out"; }
ok "a kept-alive connection is served before the stop" eq "$(val keepalive_first)" 200
ok "the daemon stays up while a request waits" eq "$(val alive_while_waiting)" yes
ok "a new request while stopping: 503" eq "$(val stopping_answer)" 503
ok "... with Connection: close" eq "$(val stopping_connection)" close
ok "... with Retry-After" eq "$(val stopping_retry_after)" 1
ok "... a JSON error saying so" contains "$(val stopping_body)" '"error":"temporarily_unavailable"'
ok "no new connection is taken while stopping" test "$(val new_connection)" != answered
ok "the waiting request is answered (not dropped)" test -n "$(val waiting_answer)" -a "$(val waiting_answer)" != none
await_exit "$IDP_PID"
ok "the daemon exits 0 after the last answer" eq "$EXIT_RC" 0
ok "the log says it stopped" contains "$(cat "$TMP/idp.log")" "stop"
done_tests
