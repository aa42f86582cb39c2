#!/bin/sh
# stores: both
# The TOTP second factor of local accounts (issue 18): idpctl enrols it; a
# service asking eidas2 gets the code's page after the password, and an ID
# token with acr eidas2 and amr pwd, otp; a wrong code, a used one and one
# three steps away are refused; attempts are throttled like passwords; an
# eidas1 session asked for eidas2 gets only the code's page (step-up), never
# the password again; an account without a second factor does not reach
# eidas2. Either way the citizen has one session, raised in place by the
# code (its tag on /account kept, a service that logged in before the code
# told when it ends), under a new cookie: the one from before the code no
# longer opens it. Codes are computed here with oathtool (RFC 6238).
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
R1=http://127.0.0.1:8088/callback
SECRET=demo-portal-secret
SECRET_SHA=17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d
CTL="$BUILD/idp/idpctl"
printf '%s\n' 'Marianne-2026!' | "$CTL" --users "$TMP/users.json" users add marianne \
	--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14"}' >/dev/null
printf '%s\n' 'Paul-Pass-2026' | "$CTL" --users "$TMP/users.json" users add paul \
	--claims '{"given_name":"Paul","family_name":"Martin","birthdate":"1985-03-02"}' >/dev/null
printf '%s\n' 'Claire-Pass-2026' | "$CTL" --users "$TMP/users.json" users add claire \
	--claims '{"given_name":"Claire","family_name":"Petit","birthdate":"1979-11-30"}' >/dev/null
S2=$("$CTL" --users "$TMP/users.json" users totp-enrol claire | sed -n 's/^secret: //p')

# ---- idpctl users totp-enrol, totp-remove
OUT=$("$CTL" --users "$TMP/users.json" users totp-enrol marianne --qr "$TMP/qr.svg")
S=$(printf %s "$OUT" | sed -n 's/^secret: //p')
ok "enrol: a base32 secret of 160 bits" eq "$(printf %s "$S" | tr -d 'A-Z2-7' | wc -c)$(printf %s "$S" | wc -c)" "032"
ok "enrol: the otpauth URI apps read" contains "$OUT" "uri: otpauth://totp/idp:marianne?secret=$S&issuer=idp&algorithm=SHA1&digits=6&period=30"
ok "enrol: the QR code, an SVG image" contains "$(head -c 300 "$TMP/qr.svg")" "<svg"
ok "enrol: the QR code file is 0600 (it holds the secret)" eq "$(stat -c %a "$TMP/qr.svg")" 600
ok "enrol: the secret is in the users file, 0600" eq "$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["users"]["marianne"]["totp"])' "$TMP/users.json") $(stat -c %a "$TMP/users.json")" "$S 600"
"$CTL" --users "$TMP/users.json" users totp-enrol marianne >/dev/null 2>&1
ok "enrol again without --force: refused" eq "$?" 1
"$CTL" --users "$TMP/users.json" users totp-enrol paul >/dev/null && "$CTL" --users "$TMP/users.json" users totp-remove paul >/dev/null
ok "totp-remove: the secret is gone" eq "$(python3 -c 'import json,sys;print("totp" in json.load(open(sys.argv[1]))["users"]["paul"])' "$TMP/users.json")" False
"$CTL" --users "$TMP/users.json" users totp-remove paul >/dev/null 2>&1
ok "totp-remove without a second factor: refused" eq "$?" 1

# A service told of logouts (back-channel): a receiver recording each POST.
REC="$TMP/received.jsonl"
: >"$REC"
python3 "$ROOT/tests/integration/bclrecv.py" "$TMP/recv.port" "$REC" >"$TMP/recv.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 50 test -s "$TMP/recv.port" || { echo "the receiver did not start" >&2; exit 1; }
R2=http://127.0.0.1:8089/callback
cat >"$TMP/extra.json" <<J
{"backends": [
  {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas2", "password_acr": "eidas1",
   "users": "$TMP/users.json",
   "second_factor_help": {"fr": "Appelez la mairie au 01 23 45 67 89.", "en": "Call the city hall on +33 1 23 45 67 89."}}],
 "rate_limits": {"login_failures_per_ip_per_minute": 60, "login_failures_per_user_per_15min": 8},
 "clients+": [
  {"client_id": "portal", "client_name": "Portail", "client_secret_sha256": "$SECRET_SHA",
   "redirect_uris": ["$R1"], "first_party": true},
  {"client_id": "svc-bc", "client_secret_sha256": "$(hash svc-bc-secret)", "redirect_uris": ["$R2"],
   "first_party": true, "backchannel_logout_uri": "http://127.0.0.1:$(cat "$TMP/recv.port")/ok"}]}
J
start_idp "$STORE"

# otp [SECONDS [SECRET]]: the code of now + SECONDS (marianne's secret by default).
otp() { oathtool --totp -b -N "@$(( $(date +%s) + ${1:-0} ))" "${2:-$S}"; }
# sessions: the sessions /account lists for the citizen of the jar: NS how
# many, TAGS their tags.
sessions() {
	TAGS=$(curl -s -b "$CJ" "$IDP/account" | sed -n 's/.*(local, session \([0-9a-f]*\)).*/\1/p')
	NS=$(printf '%s\n' "$TAGS" | grep -c .)
}
# index_entries: with redis, the entries of claire's session index (K_SUBJECT,
# 65 bytes each), every session ever made for her, ended or not.
index_entries() {
	ie_sub=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["users"]["claire"]["subject"])' "$TMP/users.json")
	echo $(( $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" strlen "t:ssub:$(hash "local:$ie_sub")") / 65 ))
}
# post_otp CODE: posts the code's form in RESP; sets RESP.
post_otp() {
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$FORM")" \
		--data-urlencode "csrf=$(field csrf "$FORM")" --data-urlencode "code=$1" "$IDP/otp")
}
claim() { jwt_payload "$(echo "$TOK" | jget id_token)" | jget "$1"; }
# cookie: the session cookie of the jar, as a Cookie header's NAME=VALUE.
cookie() { awk '$6 ~ /_session$/ { print $6 "=" $7 }' "$CJ"; }
# with_cookie NAME=VALUE [NODE]: /authorize (eidas1) for the portal with that
# cookie alone, as one who stole it would send it (at NODE, by default the
# daemon's URL); sets H.
with_cookie() {
	pkce
	H=$(curl -s -i -H "Cookie: $1" "${2:-$IDP}/authorize?response_type=code&client_id=portal&redirect_uri=$R1&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
}

# ---- eidas2 from scratch: the password, then the code.
authorize portal "$R1" "&acr_values=eidas2"
ok "eidas2: the login form first" contains "$PAGE" 'name="password"'
login marianne 'Marianne-2026!'
FORM=$RESP
ok "eidas2: after the password, the code's page (200)" eq "$(status "$RESP")" 200
ok "... no code for the service yet" eq "$(location "$RESP")" ""
ok "... its field: numeric, one-time-code" contains "$RESP" 'inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code"'
ok "... the configured text for a lost phone" contains "$RESP" "Appelez la mairie au 01 23 45 67 89."
ok "... posted to /otp" contains "$RESP" 'action="/otp"'
NOW=$(otp)
WRONG=$(printf '%06d' $(( (1$NOW - 1000000 + 1) % 1000000 )))
post_otp "$WRONG"
ok "wrong code: refused (401), the page again" eq "$(status "$RESP") $(location "$RESP")" "401 "
ok "... saying why" contains "$RESP" "pas valide"
post_otp "$(otp 90)"
ok "a code three steps ahead: refused" eq "$(status "$RESP")" 401
post_otp "$(otp -90)"
ok "a code three steps behind: refused" eq "$(status "$RESP")" 401
post_otp "12345"
ok "five digits: refused (400)" eq "$(status "$RESP")" 400
SAVED_CJ=$CJ; CJ="$TMP/other-jar"
post_otp "$NOW"
ok "the form from another browser (no session): refused" eq "$(status "$RESP")" 400
CJ=$SAVED_CJ
RESP0=$FORM; FORM=$(printf %s "$FORM" | sed 's/name="csrf" value="[^"]*"/name="csrf" value="forged"/')
post_otp "$NOW"
ok "a forged CSRF token: refused (403)" eq "$(status "$RESP")" 403
# A second browser at the code's page too, for the same citizen.
V1=$V # authorize draws a new PKCE pair
CJ="$TMP/jar2"
authorize portal "$R1" "&acr_values=eidas2"
login marianne 'Marianne-2026!'
FORM2=$RESP
CJ=$SAVED_CJ
V=$V1
FORM=$RESP0
# Computed just before it is posted: valid for the step either side.
GOOD=$(otp)
post_otp "$GOOD"
CODE=$(qparam code "$(location "$RESP")")
ok "the right code: back to the service with a code" test -n "$CODE"
RESP1=$RESP
CJ="$TMP/jar2"
FORM=$FORM2
post_otp "$GOOD"
ok "the same code at once in another browser: refused (used)" eq "$(status "$RESP") $(location "$RESP")" "401 "
CJ=$SAVED_CJ
FORM=$RESP0
RESP=$RESP1
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "... the ID token's acr is eidas2" eq "$(claim acr)" eidas2
ok "... its amr pwd and otp" eq "$(claim amr)" '["pwd", "otp"]'
SUB=$(claim sub)
post_otp "$GOOD"
ok "the same form posted again: refused (its transaction was consumed)" eq "$(status "$RESP")" 400
# sso QUERY: /authorize with the jar and prompt=none; sets H.
sso() {
	pkce
	H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=portal&redirect_uri=$R1&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256&prompt=none$1")
}
sso "&acr_values=eidas2"
ok "SSO at eidas2 afterwards: a code, no page" test -n "$(qparam code "$(location "$H")")"

# ---- step-up: an eidas1 session asked for eidas2.
CJ="$TMP/jar3"
authorize portal "$R1"
login marianne 'Marianne-2026!'
CODE=$(qparam code "$(location "$RESP")")
ok "eidas1 login: the password alone gives a code" test -n "$CODE"
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "... acr eidas1, amr pwd" eq "$(claim acr) $(claim amr)" 'eidas1 ["pwd"]'
sso "&acr_values=eidas2"
ok "eidas1 session, eidas2 asked with prompt=none: login_required" eq "$(qparam error "$(location "$H")")" login_required
authorize portal "$R1" "&acr_values=eidas2&ui_locales=en"
FORM=$PAGE
ok "eidas1 session, eidas2 asked: the code's page" contains "$PAGE" 'autocomplete="one-time-code"'
ok "... and no password asked" not_contains "$PAGE" 'name="password"'
ok "... in English when asked, with the English text for a lost phone" contains "$PAGE" "Call the city hall on +33 1 23 45 67 89."
post_otp "$(otp 30)"
CODE=$(qparam code "$(location "$RESP")")
ok "step-up: the next code gives a code" test -n "$CODE"
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "... acr eidas2, amr pwd and otp" eq "$(claim acr) $(claim amr)" 'eidas2 ["pwd", "otp"]'
ok "... the same citizen" eq "$(claim sub)" "$SUB"

# ---- one session per login, raised in place by the code (claire's own
# browsers: marianne's other browser above has a session of its own).
CJ="$TMP/jar5"
authorize portal "$R1" "&acr_values=eidas2"
login claire 'Claire-Pass-2026'
FORM=$RESP
sessions
ok "claire, eidas2: after the password, one session (awaiting the code)" eq "$NS" 1
T1=$TAGS
OLD=$(cookie)
post_otp "$(otp 0 "$S2")"
ok "... the code: back to the service" test -n "$(qparam code "$(location "$RESP")")"
ok "... under a new session cookie" test -n "$(cookie)" -a "$(cookie)" != "$OLD"
with_cookie "$OLD"
ok "... the cookie set after the password no longer opens it: the login page" eq "$(status "$H") $(location "$H")" "200 "
ok "... (its form)" contains "$H" 'name="password"'
sessions
ok "... still one session, the same (raised in place)" eq "$NS $TAGS" "1 $T1"
[ "$STORE" = redis ] && ok "... one entry in her session index (redis)" eq "$(index_entries)" 1
P=$(curl -s -b "$CJ" "$IDP/account")
curl -s -c "$CJ" -b "$CJ" -d action=logout_all --data-urlencode "csrf=$(field csrf "$P")" "$IDP/account" >/dev/null
CJ="$TMP/jar6"
authorize svc-bc "$R2"
login claire 'Claire-Pass-2026'
CODE=$(qparam code "$(location "$RESP")")
token svc-bc svc-bc-secret "$CODE" "$R2" "$V"
ok "claire logged out everywhere, then eidas1 at a service told of logouts" eq "$(claim acr)" eidas1
BC_SID=$(claim sid)
sessions
ok "... one session" eq "$NS" 1
T1=$TAGS
OLD=$(cookie)
if [ "$STORE" = redis ]; then
	# A second node on the same store, holding a copy of the eidas1 session.
	NODE2_PORT=$(free_port)
	spawn_idp "$TMP/idp.json" "$NODE2_PORT" "$TMP/idp2.log" "$TMP/port2"
	NODE2="http://127.0.0.1:$NODE2_PORT"
	with_cookie "$OLD" "$NODE2"
	ok "... a second node (redis): the eidas1 cookie opens it there too (SSO: a code)" test -n "$(qparam code "$(location "$H")")"
fi
authorize portal "$R1" "&acr_values=eidas2"
FORM=$PAGE
post_otp "$(otp 30 "$S2")"
CODE=$(qparam code "$(location "$RESP")")
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "step-up: acr eidas2" eq "$(claim acr)" eidas2
ok "... under a new session cookie" test -n "$(cookie)" -a "$(cookie)" != "$OLD"
with_cookie "$OLD"
ok "... the eidas1 cookie no longer opens it: the login page, no code" eq "$(status "$H") $(location "$H")" "200 "
ok "... (its form)" contains "$H" 'name="password"'
if [ "$STORE" = redis ]; then
	with_cookie "$OLD" "$NODE2"
	ok "... nor at the second node, whose copy predates the raise: the login page" eq "$(status "$H") $(location "$H")" "200 "
	with_cookie "$(cookie)" "$NODE2"
	ok "... where the new one does" test -n "$(qparam code "$(location "$H")")"
fi
with_cookie "$(cookie)"
ok "... the new one does (SSO: a code)" test -n "$(qparam code "$(location "$H")")"
sessions
ok "... still one session, the same (raised in place)" eq "$NS $TAGS" "1 $T1"
[ "$STORE" = redis ] && ok "... one entry in her session index (redis)" eq "$(index_entries)" 1
sso "&acr_values=eidas2"
ok "... SSO at eidas2 from it: a code, no page" test -n "$(qparam code "$(location "$H")")"
P=$(curl -s -b "$CJ" "$IDP/account")
curl -s -c "$CJ" -b "$CJ" -d action=logout_all --data-urlencode "csrf=$(field csrf "$P")" "$IDP/account" >/dev/null
ok "the raised session ended: the service it logged in to at eidas1 is told" wait_for 150 grep -q '"path": "/ok"' "$REC"
LT=$(grep '"path": "/ok"' "$REC" | tail -n1 | jget token)
ok "... with the sid of its eidas1 ID token" eq "$(jwt_payload "$LT" | jget sid)" "$BC_SID"
ok "... once" eq "$(grep -c '"path": "/ok"' "$REC")" 1

# ---- an account without a second factor does not reach eidas2.
CJ="$TMP/jar4"
authorize portal "$R1" "&acr_values=eidas2"
login paul 'Paul-Pass-2026'
ok "no second factor, eidas2 asked: refused after the password (403)" eq "$(status "$RESP")" 403
ok "... no code page" not_contains "$RESP" 'one-time-code'

# ---- throttled like passwords: 8 failures per citizen (4 counted above).
CJ="$TMP/jar2"
FORM=$FORM2
N=""
for i in 1 2 3 4 5 6; do
	post_otp "$WRONG"
	N="$N$(status "$RESP") "
done
ok "wrong codes: refused, then throttled (429) past the citizen's limit" eq "$N" "401 401 401 401 429 429 "
ok "... saying so" contains "$RESP" "Trop de tentatives"
done_tests
