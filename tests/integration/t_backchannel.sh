#!/bin/sh
# OpenID Back-Channel Logout 1.0 against the daemon (redis store: idpctl
# ends sessions through it): a citizen logged in to two services logs out at
# one; the other, the demo portal on librp, receives a logout token, verifies
# it (rp_verify_logout_token) and ends its own session; a recording service
# gets a token that authlib verifies against the JWKS. idpctl sessions revoke
# and a session's expiry send too. A service that is down is retried, then
# given up; one that hangs or redirects never holds the logout up. Hostile:
# a forged logout token, another service's token, an ID token, none.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
setup_tmp
hash() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
start_redis
IDP_PORT=$(free_port)
DEMO_PORT=$(free_port)
METRICS_PORT=$(free_port)
DOWN_PORT=$(free_port) # nobody listens there
REC="$TMP/received.jsonl"
: >"$REC"
python3 "$ROOT/tests/integration/bclrecv.py" "$TMP/recv.port" "$REC" >"$TMP/recv.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 50 test -s "$TMP/recv.port" || { echo "the receiver did not start" >&2; exit 1; }
RP="http://127.0.0.1:$(cat "$TMP/recv.port")"
DEMO="http://127.0.0.1:$DEMO_PORT"
R_REC=http://127.0.0.1:8084/callback
R_DOWN=http://127.0.0.1:8085/callback
R_SLOW=http://127.0.0.1:8086/callback
R_REDIR=http://127.0.0.1:8087/callback
cli() { c=$1; uri=$2; red=$3; echo "{\"client_id\": \"$c\", \"client_secret_sha256\": \"$(hash "$c-secret")\", \"redirect_uris\": [\"$red\"], \"backchannel_logout_uri\": \"$uri\"}"; }
cat >"$TMP/extra.json" <<JSON
{"metrics": {"listen": "127.0.0.1:$METRICS_PORT"}, "audit": {"file": "$TMP/audit.jsonl"},
 "clients+": [
  $(cli svc-rec "$RP/ok" "$R_REC"), $(cli svc-down "http://127.0.0.1:$DOWN_PORT/bc" "$R_DOWN"),
  $(cli svc-slow "$RP/slow" "$R_SLOW"), $(cli svc-redir "$RP/redir" "$R_REDIR")
]}
JSON
make_config redis "$IDP_PORT"
# The demo portal on its own port, told by back channel (sid required).
python3 - "$TMP/idp.json" "$DEMO" <<'PY'
import json, sys
p, demo = sys.argv[1:3]
c = json.load(open(p))
for cl in c["clients"]:
    if cl["client_id"] == "demo-portal":
        cl["redirect_uris"] = [demo + "/callback"]
        cl["post_logout_redirect_uris"] = [demo + "/logged-out"]
        cl["backchannel_logout_uri"] = demo + "/backchannel-logout"
        cl["backchannel_logout_session_required"] = True
json.dump(c, open(p, "w"), indent=1)
PY
# A backchannel_logout_uri is checked like a redirect URI.
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["clients"][-1]["backchannel_logout_uri"]="http://127.0.0.1:1/bc#frag";json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/bad.json"
OUT=$("$BUILD/idp/idp" --check --config "$TMP/bad.json" --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "config: a backchannel_logout_uri with a fragment is refused" test "$RC" -ne 0
ok "... naming it" contains "$OUT" "backchannel_logout_uri"
run_idp
RP_CLIENT_SECRET=demo-portal-secret "$BUILD/rp/examples/rp-demo" --port "$DEMO_PORT" --name "Demo" \
	--issuer "$IDP" --client-id demo-portal --acr eidas1 --http-loopback >"$TMP/demo.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 50 curl -sf "$DEMO/" || { echo "rp-demo did not start" >&2; cat "$TMP/demo.log" >&2; exit 1; }
metric() { curl -s "http://127.0.0.1:$METRICS_PORT/metrics" | sed -n "s/^idp_backchannel_logouts_total{result=\"$1\"} //p"; }
nrec() { grep -c "\"path\": \"$1\"" "$REC"; }
more() { [ "$(nrec "$1")" -gt "$2" ]; } # for wait_for: evaluated at each try
# last_token PATH: the logout token of the last POST to PATH.
last_token() { grep "\"path\": \"$1\"" "$REC" | tail -n1 | jget token; }
demo_logged_in() { curl -s -b "$CJ" "$DEMO/" | grep -q 'action="/logout"'; }
# sso CLIENT REDIRECT: an authorization in the browser's session (consent
# given on a first visit); sets CODE.
sso() {
	pkce
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$2&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
	[ "$(status "$RESP")" = 200 ] && consent accept
	CODE=$(qparam code "$(location "$RESP")")
}
# timed_logout HINT: GET /logout with the hint in the browser's session; sets CODE and MS.
timed_logout() {
	OUT=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -b "$CJ" -c "$CJ" "$IDP/logout?id_token_hint=$1")
	CODE=${OUT% *}
	MS=$(python3 -c 'import sys;print(int(float(sys.argv[1])*1000))' "${OUT#* }")
}
# verify TOKEN CLIENT ID_TOKEN: authlib checks the logout token against the JWKS
# and against the ID token of that login; prints "ok" or what is wrong.
verify() {
	python3 - "$IDP" "$1" "$2" "$3" <<'PY'
import base64, json, sys, time, urllib.request
from authlib.jose import JsonWebKey, jwt
iss, tok, aud, idt = sys.argv[1:5]
def part(t, i):
    s = t.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
keys = JsonWebKey.import_key_set(json.load(urllib.request.urlopen(iss + "/jwks")))
c = jwt.decode(tok, keys)  # raises on a bad signature
h, it = part(tok, 0), part(idt, 1)
now = time.time()
problems = [w for w, bad in [
    ("typ", h.get("typ") != "logout+jwt"), ("iss", c.get("iss") != iss), ("aud", c.get("aud") != aud),
    ("iat", not now - 60 <= c.get("iat", 0) <= now + 5), ("exp", not c.get("exp", 0) > now),
    ("jti", not c.get("jti")), ("nonce", "nonce" in c),
    ("events", c.get("events") != {"http://schemas.openid.net/event/backchannel-logout": {}}),
    ("sid", c.get("sid") != it.get("sid") or not c.get("sid")), ("sub", c.get("sub") != it.get("sub"))] if bad]
print("ok" if not problems else "bad: " + " ".join(problems))
PY
}

D=$(curl -s "$IDP/.well-known/openid-configuration")
ok "discovery: backchannel_logout_supported" eq "$(echo "$D" | jget backchannel_logout_supported)" true
ok "discovery: backchannel_logout_session_supported" eq "$(echo "$D" | jget backchannel_logout_session_supported)" true

# ---- logout at one service: the other is told ----------------------------------
CJ="$TMP/cj1"
full_login svc-rec svc-rec-secret "$R_REC"
IDT1=$(echo "$TOK" | jget id_token)
ok "setup: logged in at svc-rec" test -n "$IDT1"
L=$(location "$(curl -s -i -c "$CJ" -b "$CJ" "$DEMO/login")")
RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$L")
[ "$(status "$RESP")" = 200 ] && consent accept
curl -s -o /dev/null -c "$CJ" -b "$CJ" "$(location "$RESP")"
ok "setup: logged in at the demo portal, by single sign-on" demo_logged_in
RC="redis-cli -h 127.0.0.1 -p $REDIS_PORT"
sid_hash() { awk '$6 ~ /session$/ {print $7}' "$CJ" | tail -n1 | tr -d '\n' | sha256sum | cut -d' ' -f1; }
H1=$(sid_hash)
sso svc-rec "$R_REC"
ok "the session records each service once, however many codes (svc-rec twice, demo-portal)" eq "$($RC strlen "t:bcl:$H1")" 130

# Hostile: what is not the provider's logout token for this service ends nothing.
FORGED=$(python3 - "$IDP" <<'PY'
import json, sys, time, urllib.request
from authlib.jose import JsonWebKey, jwt
iss = sys.argv[1]
kid = json.load(urllib.request.urlopen(iss + "/jwks"))["keys"][0]["kid"]
k = JsonWebKey.generate_key("RSA", 2048, is_private=True)
now = int(time.time())
print(jwt.encode({"alg": "RS256", "kid": kid, "typ": "logout+jwt"},
                 {"iss": iss, "aud": "demo-portal", "iat": now, "exp": now + 120, "jti": "forged-1",
                  "sid": "x", "events": {"http://schemas.openid.net/event/backchannel-logout": {}}},
                 k).decode())
PY
)
bc_post() { curl -s -o /dev/null -w '%{http_code}' --data-urlencode "logout_token=$1" "$DEMO/backchannel-logout"; }
ok "hostile: a forged logout token (the provider's kid, another key): 400" eq "$(bc_post "$FORGED")" 400
ok "hostile: an ID token as logout token: 400" eq "$(bc_post "$IDT1")" 400
ok "hostile: no logout_token: 400" eq "$(curl -s -o /dev/null -w '%{http_code}' -d x=y "$DEMO/backchannel-logout")" 400
ok "... the demo portal's session lives on" demo_logged_in

timed_logout "$IDT1"
ok "logout at svc-rec: 200" eq "$CODE" 200
ok "... answered at once ($MS ms)" test "$MS" -lt 1000
ok "the demo portal ends its session (logout token verified by librp)" wait_for 50 sh -c "! curl -s -b '$CJ' '$DEMO/' | grep -q 'action=\"/logout\"'"
ok "... and says so" wait_for 20 grep -q "back-channel logout: 1 session(s) ended" "$TMP/demo.log"
ok "svc-rec receives one too" wait_for 50 more /ok 0
LT1=$(last_token /ok)
ok "... form-encoded, logout_token only" contains "$(tail -n1 "$REC")" '"ct": "application/x-www-form-urlencoded", "token": "'
ok "... verified by authlib: typ, iss, aud, iat, exp, jti, events, sid and sub of the login, no nonce" eq "$(verify "$LT1" svc-rec "$IDT1")" ok
ok "hostile: svc-rec's logout token at the demo portal: 400" eq "$(bc_post "$LT1")" 400

# ---- a service down, one that hangs, one that redirects --------------------------
CJ="$TMP/cj4"
N=$(nrec /ok)
full_login svc-down svc-down-secret "$R_DOWN"
IDT4=$(echo "$TOK" | jget id_token)
sso svc-slow "$R_SLOW"
sso svc-redir "$R_REDIR"
ok "setup: three services in one session" test -n "$CODE"
timed_logout "$IDT4"
ok "logout with a service hanging: answered at once ($MS ms)" test "$MS" -lt 1000
ok "the hanging service was reached" wait_for 30 more /slow 0
ok "... the daemon serves meanwhile" eq "$(curl -s -m 2 "$IDP/healthz")" ok
ok "the redirecting service: refused once, the redirect not followed" wait_for 30 more /redir 0
ok "the redirect's target never got that token" eq "$(nrec /ok)" "$N"

# ---- idpctl sessions revoke --------------------------------------------------
CJ="$TMP/cj2"
full_login svc-rec svc-rec-secret "$R_REC"
IDT2=$(echo "$TOK" | jget id_token)
N=$(nrec /ok)
OUT=$("$BUILD/idp/idpctl" --config "$TMP/idp.json" sessions revoke --user marianne 2>>"$TMP/idpctl.log")
ok "idpctl sessions revoke: one session ended" contains "$OUT" "1 session ended"
ok "... svc-rec receives a logout token" wait_for 50 more /ok "$N"
ok "... for that session" eq "$(verify "$(last_token /ok)" svc-rec "$IDT2")" ok

# ---- expiry --------------------------------------------------------------------
CJ="$TMP/cj3"
full_login svc-rec svc-rec-secret "$R_REC"
IDT3=$(echo "$TOK" | jget id_token)
H3=$(sid_hash)
# The session is listed in the bucket just after its idle end (1800 s away).
B=$($RC --scan --pattern 't:bcx:*' | while read -r k; do $RC get "$k" | grep -q "$H3" && echo "${k#t:bcx:}"; done | sort -n | tail -n1)
WANT=$(( ($(date +%s) + 1800) / 10 + 1 ))
ok "expiry: the session waits in the bucket of its end" test "${B:-0}" -ge $((WANT - 1)) -a "${B:-0}" -le $((WANT + 1))
# Its end, brought forward: the record gone as a TTL takes it, the bucket due now.
N=$(nrec /ok)
$RC del "t:sess:$H3" >/dev/null
$RC append "t:bcx:$(( $(date +%s) / 10 ))" "$H3 " >/dev/null
ok "... once expired, svc-rec receives a logout token" wait_for 50 more /ok "$N"
ok "... for that session" eq "$(verify "$(last_token /ok)" svc-rec "$IDT3")" ok
N=$(nrec /ok)
$RC append "t:bcx:$(( $(date +%s) / 10 ))" "$H3 " >/dev/null
sleep 1.5
ok "... and only once" eq "$(nrec /ok)" "$N"

# ---- the service down, at the end of its retries -------------------------------
ok "a service down: 3 attempts, then given up" wait_for 80 grep -q "attempt 3 for svc-down failed.*given up" "$TMP/idp.log"
ok "... never a 4th" not_contains "$(cat "$TMP/idp.log")" "attempt 4 for svc-down"
ok "... counted as failed (svc-down, svc-redir)" test "$(metric failed)" -ge 2
ok "the redirecting service: one POST only, never retried" eq "$(nrec /redir)" 1
ok "... audited" wait_for 20 grep -q '"event":"backchannel_logout".*"result":"failed".*"client":"svc-down"' "$TMP/audit.jsonl"
ok "sent counted" test "$(metric sent)" -ge 4
ok "nothing dropped" eq "$(metric dropped)" 0
ok "the daemon still serves" eq "$(curl -s -m 2 "$IDP/healthz")" ok
done_tests
