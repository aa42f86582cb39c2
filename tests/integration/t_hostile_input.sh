#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# stores: both
# Hostile input at /authorize and /logout: JSON nested far too deep (the
# "claims" that overflowed a fiber's stack), oversized parameters posted in
# bulk (the daemon's memory must not grow), 200 concurrent requests at every
# cap from several addresses (each answered), the per-address rate limit on
# transactions, and id_token_hint bounded before it is decoded. After each,
# the daemon is alive and a normal login works. STORE=memory|redis.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp

R1=http://127.0.0.1:8081/callback
RL_TXN=60
# A body large enough for 50,000 levels of brackets; the rest as in demo.json.
cat >"$TMP/extra.json" <<EOF
{
 "listen": { "address": "127.0.0.1", "port": 8080, "threads": 2, "connection_limit": 4096,
   "per_ip_connection_limit": 256, "connection_timeout_s": 30, "max_body_bytes": 262144,
   "max_url_bytes": 8192, "max_params": 64 },
 "rate_limits": { "transactions_per_ip_per_minute": $RL_TXN }
}
EOF
# ASan keeps freed memory in quarantine (256 MB by default): a small one
# lets the resident size show what the daemon keeps, not what it freed.
ASAN_OPTIONS="$ASAN_OPTIONS:quarantine_size_mb=4" start_idp "$STORE"

rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$IDP_PID/status"; }
alive() { [ "$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$IDP/healthz")" = 200 ]; }
# A normal login after the abuse: authorize, login, consent, a code.
login_works() {
	rm -f "$CJ"
	authorize demo-portal "$R1"
	login marianne 'Marianne-2026!'
	[ "$(status "$RESP")" = 200 ] && consent accept
	contains "$(location "$RESP")" "$R1?code="
}
# The common parameters of a valid request (PKCE challenge of any verifier).
BASEQ="response_type=code&client_id=demo-portal&redirect_uri=$(printf %s "$R1" | sed 's#:#%3A#g;s#/#%2F#g')&scope=openid%20profile&state=st&nonce=n0nce-0123456789abcdefghij&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"

# --- Finding 1: claims nested 1,750 deep (10.7 KB posted), then 50,000 deep
# (100 KB of raw brackets): a redirect with invalid_request, the daemon alive.
python3 - "$TMP" "$BASEQ" <<'PY'
import sys, urllib.parse
tmp, q = sys.argv[1], sys.argv[2]
deep = '{"userinfo":{"given_name":{"value":' + '[' * 1750 + ']' * 1750 + '}}}'
open(tmp + "/deep1750", "w").write(q + "&claims=" + urllib.parse.quote(deep, safe=""))
open(tmp + "/deep50000", "w").write(q + "&claims=" + "[" * 50000 + "]" * 50000)
PY
R=$(curl -s -i --max-time 10 --data-binary "@$TMP/deep1750" "$IDP/authorize")
ok "1,750-deep claims: refused with invalid_request" contains "$(location "$R")" "$R1?error=invalid_request"
ok "1,750-deep claims: the error says why" contains "$(location "$R")" "claims%20is%20nested%20too%20deep"
ok "1,750-deep claims: the daemon is alive" alive
R=$(curl -s -i --max-time 10 --data-binary "@$TMP/deep50000" "$IDP/authorize")
ok "50,000-deep claims: refused with invalid_request" contains "$(location "$R")" "$R1?error=invalid_request"
ok "50,000-deep claims: the daemon is alive" alive
# At the limit, an ordinary claims request still works.
CL=$(python3 -c 'import urllib.parse;print(urllib.parse.quote("{\"userinfo\":{\"given_name\":{\"essential\":true},\"email\":null},\"id_token\":{\"acr\":{\"values\":[\"eidas1\"]}}}",safe=""))')
R=$(curl -s -i --max-time 10 "$IDP/authorize?$BASEQ&claims=$CL")
ok "an ordinary claims request: a page" eq "$(status "$R")" 200
ok "a normal login works after deep JSON" login_works

# --- Finding 4: 1,000 posts with 60 KB of acr_values are refused, and the
# daemon's memory (and Redis's) does not grow with them.
# bulk N: N posts of 60 KB acr_values on one connection; the answers counted.
bulk() {
	python3 - "$IDP_PORT" "$BASEQ" "$TMP/bulk" "$1" <<'PY'
import http.client, sys
port, q, out, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
body = q + "&acr_values=" + "a" * 60000
codes = {}
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(n):
    c.request("POST", "/authorize", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    loc = r.getheader("Location") or ""
    k = "%d %s" % (r.status, "too_long" if "acr_values%20is%20too%20long" in loc else "other")
    codes[k] = codes.get(k, 0) + 1
open(out, "w").write(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
PY
}
bulk 100 # the allocator's steady state first
RSS0=$(rss_kb)
[ "$STORE" = redis ] && RMEM0=$(redis-cli -p "$REDIS_PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
bulk 1000
RSS1=$(rss_kb)
echo "  1,000 posts of 60 KB acr_values: $(cat "$TMP/bulk"); RSS ${RSS0} kB -> ${RSS1} kB"
ok "60 KB acr_values: every one refused as too long" eq "$(cat "$TMP/bulk")" "303 too_long=1000"
ok "60 KB acr_values x 1,000: RSS grows by less than 4 MB" test $((RSS1 - RSS0)) -lt 4096
if [ "$STORE" = redis ]; then
	RMEM1=$(redis-cli -p "$REDIS_PORT" info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
	echo "  Redis used_memory ${RMEM0} -> ${RMEM1} bytes"
	ok "60 KB acr_values x 1,000: Redis grows by less than 1 MB" test $((RMEM1 - RMEM0)) -lt 1048576
fi
ok "a normal login works after the bulk posts" login_works

# --- Each stored parameter has its cap, named in the error.
for pc in state:1024 nonce:1024 acr_values:512 login_hint:256 prompt:64 ui_locales:128 claims:4096 scope:1024 idp_hint:64; do
	p=${pc%%:*}
	n=${pc#*:}
	B=$(printf %s "$BASEQ" | sed "s/&$p=[^&]*//")
	R=$(curl -s -i --max-time 10 --data-binary "$B&$p=$(python3 -c "print('a'*$((n + 1)))")" "$IDP/authorize")
	ok "$p of $((n + 1)) bytes: invalid_request naming it" contains "$(location "$R")" "error_description=$p%20is%20too%20long"
done

# --- 200 concurrent /authorize with every field at its cap, from five
# addresses: each answered with a status (no reset), memory bounded.
RSS0=$(rss_kb)
python3 - "$IDP_PORT" "$TMP/conc" <<'PY'
import socket, sys, threading, urllib.parse, json
port, out = int(sys.argv[1]), sys.argv[2]
claims = {"userinfo": {"given_name": {"essential": True}, "family_name": {"values": []}}}
pad = 4096 - len(json.dumps(claims, separators=(",", ":")))
claims["userinfo"]["family_name"]["values"] = ["x" * (pad - 2)]
cs = json.dumps(claims, separators=(",", ":"))
assert len(cs) == 4096, len(cs)
form = {
    "response_type": "code", "client_id": "demo-portal", "redirect_uri": "http://127.0.0.1:8081/callback",
    "scope": "openid profile" + " " * 1010, "state": "s" * 1024, "nonce": "n" * 1024,
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256",
    "acr_values": ("eidas1 " * 80)[:512], "login_hint": "h" * 256, "prompt": "login consent",
    "ui_locales": ("fr en " * 30)[:128], "claims": cs,
}
body = urllib.parse.urlencode(form).encode()
res, lock = {}, threading.Lock()
def one(i):
    src = "127.0.0.%d" % (2 + i % 5)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(src, 0))
        s.sendall(b"POST /authorize HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        s.close()
        k = data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "none"
    except Exception as e:
        k = type(e).__name__
    with lock:
        res[k] = res.get(k, 0) + 1
ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
for t in ts: t.start()
for t in ts: t.join()
open(out, "w").write(" ".join("%s=%d" % kv for kv in sorted(res.items())))
PY
RSS1=$(rss_kb)
echo "  200 concurrent at-cap /authorize: $(cat "$TMP/conc"); RSS ${RSS0} kB -> ${RSS1} kB"
ok "200 concurrent at-cap requests: each one a page (200)" eq "$(cat "$TMP/conc")" "200=200"
ok "200 concurrent at-cap requests: RSS grows by less than 32 MB" test $((RSS1 - RSS0)) -lt 32768
ok "a normal login works after the concurrent burst" login_works

# --- The transaction rate limit: past it, 429 with Retry-After for that
# address only.
python3 - "$IDP_PORT" "$BASEQ" "$RL_TXN" "$TMP/rl" <<'PY'
import http.client, socket, sys
port, q, n, out = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
class Src(http.client.HTTPConnection):
    def __init__(self, src):
        super().__init__("127.0.0.1", port, timeout=10, source_address=(src, 0))
res = []
c = Src("127.0.0.20")
for i in range(n + 1):
    c.request("GET", "/authorize?" + q)
    r = c.getresponse(); r.read()
    res.append(r.status)
ra = r.getheader("Retry-After") or ""
other = Src("127.0.0.21")
other.request("GET", "/authorize?" + q)
o = other.getresponse(); o.read()
open(out, "w").write("first=%s last=%d retry=%s other=%d" % (
    "200" if all(s == 200 for s in res[:n]) else "mixed", res[n], ra, o.status))
PY
echo "  rate limit: $(cat "$TMP/rl")"
ok "transactions: $RL_TXN a minute served, the next one 429 with Retry-After, another address served" \
	eq "$(cat "$TMP/rl")" "first=200 last=429 retry=60 other=200"

# --- id_token_hint: bounded before anything decodes it.
BIGHINT=$(python3 -c 'print("eyJhbGciOiJSUzI1NiJ9." + "A" * 8200 + ".sig")')
R=$(curl -s -i --max-time 10 --data-binary "$BASEQ&id_token_hint=$BIGHINT" "$IDP/authorize")
ok "authorize: an 8 KB+ id_token_hint is invalid_request, named" contains "$(location "$R")" "id_token_hint%20is%20too%20long"
R=$(curl -s -i --max-time 10 --data-binary "id_token_hint=$BIGHINT" "$IDP/logout")
ok "logout: an 8 KB+ id_token_hint is 400" eq "$(status "$R")" 400
ok "logout: ... says the request is too long" contains "$R" "too_big"
# A hint with a header nested 5,000 deep (under the size cap) is refused too.
DEEPHINT=$(python3 -c 'import base64;print(base64.urlsafe_b64encode(b"["*2500+b"]"*2500).decode().rstrip("=")+".e30.c2ln")')
R=$(curl -s -i --max-time 10 "$IDP/logout?id_token_hint=$DEEPHINT")
ok "logout: a deep hint header is a bad hint" eq "$(status "$R")" 400
ok "a normal login works at the end" login_works
ok "the daemon is alive at the end" alive

done_tests
