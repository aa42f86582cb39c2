#!/bin/sh
# listen.proxy_protocol behind a real HAProxy (issue 15, finding 6): every
# connection starts with a PROXY header (v1 text, v2 binary) from a trusted
# proxy, and the client it names is the address the daemon keys on (here the
# transactions per address and minute, 5, as the observable throttle): one
# client throttled, another not; what a client writes in X-Forwarded-For is
# ignored. Without a valid header, from an untrusted peer, with a huge v2
# length, the connection is closed before HTTP; a header in pieces is waited
# for, one that never ends is closed after its deadline while the daemon
# answers others, and those waiting for their header count against the
# connection limit; v1 UNKNOWN and v2 LOCAL (HAProxy's health checks) keep
# the proxy's own address.
. "$(dirname "$0")/lib.sh"
setup_tmp
debian_python
command -v haproxy >/dev/null || { echo "t_proxy_protocol: haproxy is not installed (scripts/deps.sh)" >&2; exit 1; }
METRICS_PORT=$(free_port)
cat >"$TMP/extra.json" <<EOF2
{"listen": {"address": "127.0.0.1", "port": 8080, "threads": 1, "trusted_proxies": ["127.0.0.1"],
            "proxy_protocol": true, "connection_limit": 8},
 "metrics": {"listen": "127.0.0.1:$METRICS_PORT"},
 "rate_limits": {"transactions_per_ip_per_minute": 5},
 "log_level": "debug"}
EOF2
# start_idp waits for the port file only: the daemon answers nobody directly.
start_idp memory
HP1=$(free_port)
HP2=$(free_port)
cat >"$TMP/haproxy.cfg" <<EOF2
global
	maxconn 256
defaults
	mode tcp
	timeout connect 1s
	timeout client 10s
	timeout server 10s
frontend v1
	bind 127.0.0.1:$HP1
	default_backend v1
frontend v2
	bind 127.0.0.1:$HP2
	default_backend v2
backend v1
	server idp 127.0.0.1:$IDP_PORT send-proxy
backend v2
	option httpchk GET /healthz
	server idp 127.0.0.1:$IDP_PORT send-proxy-v2 check inter 300ms fall 2
EOF2
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 50 curl -sf -o /dev/null "http://127.0.0.1:$HP2/healthz" || { cat "$TMP/haproxy.log" "$TMP/idp.log" >&2; exit 1; }
V1="http://127.0.0.1:$HP1"
V2="http://127.0.0.1:$HP2"
AUTHZ="/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
authz() { # authz BASE SRC [curl args]: the status of an /authorize from SRC
	a_base=$1 a_src=$2
	shift 2
	curl -s -m 10 -o /dev/null -w '%{http_code}' --interface "$a_src" "$@" "$a_base$AUTHZ"
}

# A connection by hand: pp.py SRC HEADER [SPLIT] prints the status of GET
# PATH after HEADER (or "closed" when the daemon closes without a byte) and
# the seconds it took. HEADER: v1:LINE, v2:4:ADDR, v2:6:ADDR, v2local,
# v2huge, none, stall (a v1 beginning and nothing more). SPLIT: the header
# written in two pieces 200 ms apart, cut at that byte.
cat >"$TMP/pp.py" <<'PY'
import socket, struct, sys, time
port, src, kind, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
split = int(sys.argv[5]) if len(sys.argv) > 5 else 0
sig = b"\r\n\r\n\x00\r\nQUIT\n"
if kind.startswith("v1:"):
    hdr = ("PROXY " + kind[3:] + "\r\n").encode()
elif kind.startswith("v2:"):
    fam, addr = kind[3], kind[5:]
    if fam == "4":
        body = socket.inet_pton(socket.AF_INET, addr) + socket.inet_pton(socket.AF_INET, "127.0.0.1") + struct.pack(">HH", 40000, 80)
        hdr = sig + b"\x21\x11" + struct.pack(">H", len(body) + 9) + body + b"\x01\x00\x02h2\x04\x00\x01\x00"
    else:
        body = socket.inet_pton(socket.AF_INET6, addr) + socket.inet_pton(socket.AF_INET6, "::1") + struct.pack(">HH", 40000, 80)
        hdr = sig + b"\x21\x21" + struct.pack(">H", len(body)) + body
elif kind == "v2local":
    hdr = sig + b"\x20\x00\x00\x00"
elif kind == "v2huge":
    hdr = sig + b"\x21\x11\xff\xff" + bytes(12)
elif kind == "stall":
    hdr = b"PROXY TCP4 198.51.100.9"
else:
    hdr = b""
req = ("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").encode()
s = socket.socket()
s.settimeout(10)
s.bind((src, 0))
t0 = time.monotonic()
s.connect(("127.0.0.1", port))
try:
    if split:
        s.sendall(hdr[:split])
        time.sleep(0.2)
        s.sendall(hdr[split:] + req)
    elif kind == "stall":
        s.sendall(hdr)
    else:
        s.sendall(hdr + req)
    data = s.recv(64)
except (ConnectionResetError, BrokenPipeError):
    data = b""
took = time.monotonic() - t0
print((data.split(b" ")[1].decode() if data.startswith(b"HTTP/1.1 ") else "closed") + " %.1f" % took)
PY
pp() { python3 "$TMP/pp.py" "$IDP_PORT" "$@" | cut -d' ' -f1; }

# A header that never ends (its result read further down): closed after its
# deadline (3 s), while the daemon answers others at once.
python3 "$TMP/pp.py" "$IDP_PORT" 127.0.0.1 stall /healthz >"$TMP/stall" &
STALL=$!
sleep 0.3
ok "stall: the daemon answers others meanwhile" eq "$(curl -s -m 2 -o /dev/null -w '%{http_code}' --interface 127.0.0.6 "$V2/healthz")" 200

# HAProxy's client is the client: 5 transactions from 127.0.0.2 (v1), the
# 6th refused (through v2: the same client either way); 127.0.0.3 is not.
for i in 1 2 3 4 5; do echo "$(authz "$V1" 127.0.0.2)"; done >"$TMP/st"
ok "v1: 5 transactions from one client through HAProxy" eq "$(grep -c 200 "$TMP/st")" 5
ok "v2: that client's 6th is refused" eq "$(authz "$V2" 127.0.0.2)" 429
ok "v2: another client through the same proxy is not" eq "$(authz "$V2" 127.0.0.3)" 200
ok "the throttled client is named in the log" grep -q "authorize: 127.0.0.2 reached 5" "$TMP/idp.log"
# X-Forwarded-For from the client (not a trusted proxy now) is ignored: it
# neither lifts the throttle nor puts another client under it.
ok "XFF: a forged header does not lift the throttle" \
	eq "$(authz "$V1" 127.0.0.2 -H "X-Forwarded-For: 203.0.113.5")" 429
ok "XFF: a forged header naming the throttled client is ignored" \
	eq "$(authz "$V1" 127.0.0.4 -H "X-Forwarded-For: 127.0.0.2")" 200
# A login through HAProxy: the citizen logs in, and a failure names its client.
pkce
P=$(curl -s -m 10 --interface 127.0.0.5 -c "$CJ" -b "$CJ" "$V2/authorize?response_type=code&client_id=demo-portal&redirect_uri=http://127.0.0.1:8081/callback&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
H=$(curl -s -m 30 -o /dev/null -w '%{http_code}' --interface 127.0.0.5 -b "$CJ" --data-urlencode "txn=$(field txn "$P")" \
	--data-urlencode "csrf=$(field csrf "$P")" --data-urlencode "username=nobody" --data-urlencode "password=wrong" "$V2/login")
ok "login: a wrong password through HAProxy is 401" eq "$H" 401
ok "login: the failure names HAProxy's client" grep -q "login: password refused for user .* from 127.0.0.5\$" "$TMP/idp.log"

# Straight to the daemon, no header (from a trusted address): closed, no
# status (it is not HTTP yet).
# (curl: 52, an empty reply, or 56, a reset when its request was unread)
H=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$IDP/healthz")
RC=$?
ok "direct: a request without the header is closed without an answer" eq "$H $RC" "000 $([ $RC = 56 ] && echo 56 || echo 52)"
ok "direct: the same by hand" eq "$(pp 127.0.0.1 none /healthz)" closed
# A forged header from a peer that is not a trusted proxy: closed.
ok "untrusted: a forged header from 127.0.0.9 is refused" eq "$(pp 127.0.0.9 "v1:TCP4 198.51.100.7 127.0.0.1 1000 80" /healthz)" closed
ok "untrusted: a valid v2 header from 127.0.0.9 too" eq "$(pp 127.0.0.9 v2:4:198.51.100.7 /healthz)" closed
ok "v2: a huge length is refused" sh -c "python3 '$TMP/pp.py' $IDP_PORT 127.0.0.1 v2huge /healthz | grep -q '^closed 0\\.'"
ok "v1: a malformed line is refused" eq "$(pp 127.0.0.1 "v1:TCP4 198.51.100.7 127.0.0.1 1000" /healthz)" closed
# In pieces (200 ms apart): waited for, and its client is the one keyed on.
ok "pieces: a v1 header in two writes" eq "$(pp 127.0.0.1 "v1:TCP4 198.51.100.8 127.0.0.1 1000 80" /healthz 11)" 200
ok "pieces: a v2 header cut in its signature" eq "$(pp 127.0.0.1 v2:4:198.51.100.8 /healthz 5)" 200
ok "pieces: a v2 header cut in its addresses, naming the throttled client" eq "$(pp 127.0.0.1 v2:4:127.0.0.2 "$AUTHZ" 20)" 429
# IPv6 clients: keyed on, one throttled, another not.
for i in 1 2 3 4 5 6; do pp 127.0.0.1 v2:6:2001:db8::7 "$AUTHZ"; done >"$TMP/st6"
ok "IPv6: 5 transactions, then refused" eq "$(tr '\n' ' ' <"$TMP/st6")" "200 200 200 200 200 429 "
ok "IPv6: another client is not (v1 TCP6)" eq "$(pp 127.0.0.1 "v1:TCP6 2001:db8::8 ::1 1000 80" "$AUTHZ")" 200
# UNKNOWN (v1) and LOCAL (v2, a health check) keep the proxy's address:
# 127.0.0.1 is throttled after 5, whichever of the two.
for i in 1 2 3; do pp 127.0.0.1 v1:UNKNOWN "$AUTHZ"; done >"$TMP/stl"
for i in 1 2 3; do pp 127.0.0.1 v2local "$AUTHZ"; done >>"$TMP/stl"
ok "UNKNOWN and LOCAL: the proxy's own address, throttled at its 6th" eq "$(tr '\n' ' ' <"$TMP/stl")" "200 200 200 200 200 429 "
ok "UNKNOWN and LOCAL: the log names the proxy" grep -q "authorize: 127.0.0.1 reached 5" "$TMP/idp.log"
wait "$STALL"
ok "stall: closed after the deadline" python3 -c "import sys; r, t = open('$TMP/stall').read().split(); sys.exit(not (r == 'closed' and 2.5 <= float(t) < 6))"

# HAProxy's health checks (GET /healthz after a v2 LOCAL header) passed all along.
ok "HAProxy's checks with send-proxy-v2 pass" not_contains "$(cat "$TMP/haproxy.log")" "is DOWN"
# Connections waiting for their header count against the connection limit
# (8): with 8 stalled, the next waits in the kernel's queue until their
# deadline frees the slots, then is served.
python3 - "$IDP_PORT" <<'PY' &
import socket, sys, time
held, t0 = [], time.monotonic()
for i in range(8):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"PROXY TCP4 198.51.100.9")
    held.append(s)
for s in held:  # until the daemon closes each (its deadline), 8 s at most
    s.settimeout(max(0.1, t0 + 8 - time.monotonic()))
    try:
        s.recv(1)
    except OSError:
        pass
PY
HOLD=$!
sleep 0.5
T=$(curl -s -m 10 -o /dev/null -w '%{http_code} %{time_total}' --interface 127.0.0.7 "$V1/healthz")
ok "limit: served once the stalled headers' slots are freed" python3 -c "import sys; c, t = '$T'.split(); sys.exit(not (c == '200' and 1.5 <= float(t) < 6))"
wait "$HOLD"

M=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
ok "metrics: untrusted peers counted" contains "$M" 'idp_proxy_protocol_refused_total{reason="untrusted_peer"} 2'
ok "metrics: invalid headers counted" contains "$M" 'idp_proxy_protocol_refused_total{reason="invalid_header"} 4'
ok "metrics: the timeouts counted" contains "$M" 'idp_proxy_protocol_refused_total{reason="timeout"} 9'
ok "log: refusals at debug level" grep -q "PROXY protocol: a connection from 127.0.0.9, not a trusted proxy: closed" "$TMP/idp.log"

# A SIGHUP that changes the trusted proxies applies to the next connection:
# 127.0.0.1 taken out, 127.0.0.2 added; then back as it was.
cp "$TMP/idp.json" "$TMP/idp.json.orig"
python3 - "$TMP/idp.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["listen"]["trusted_proxies"] = ["127.0.0.2"]
json.dump(c, open(sys.argv[1], "w"))
PY
kill -HUP "$IDP_PID"
wait_for 50 sh -c "[ \$(grep -c 'reload (SIGHUP): configuration and keys reloaded' '$TMP/idp.log') -ge 1 ]"
ok "SIGHUP: a proxy taken out of trusted_proxies is closed" eq "$(pp 127.0.0.1 'v1:TCP4 198.51.100.7 127.0.0.1 40000 8080' /healthz)" closed
ok "SIGHUP: a proxy added is heard" eq "$(pp 127.0.0.2 'v1:TCP4 198.51.100.7 127.0.0.1 40000 8080' /healthz)" 200
cp "$TMP/idp.json.orig" "$TMP/idp.json"
kill -HUP "$IDP_PID"
wait_for 50 sh -c "[ \$(grep -c 'reload (SIGHUP): configuration and keys reloaded' '$TMP/idp.log') -ge 2 ]"
ok "SIGHUP: back as it was, through HAProxy" eq "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$V1/healthz")" 200

# proxy_protocol without a trusted proxy is refused at load.
python3 - "$TMP/idp.json" "$TMP/bad.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
del c["listen"]["trusted_proxies"]
json.dump(c, open(sys.argv[2], "w"))
PY
OUT=$("$BUILD/idp/idp" --check --config "$TMP/bad.json" 2>&1)
ok "config: proxy_protocol needs trusted_proxies" contains "$OUT" '"proxy_protocol" needs the proxies that send it in "trusted_proxies"'
ok "the daemon is still up" kill -0 "$IDP_PID"
done_tests
