#!/bin/sh
# stores: both
# Refresh tokens (RFC 6749 6, OpenID Core 11 and 12.2, RFC 9700 4.14):
# issued only for offline_access with prompt=consent, after a consent page
# that says so, never to a franceconnect client; rotated at each use; a
# rotated-away token presented again ends its family (the new one and the
# family's access tokens too); bound to their client; a refresh only
# narrows the scope; the family's absolute lifetime; /revoke (RFC 7009)
# ends a family; a replayed code ends the family it started; logout leaves
# offline access alone; a citizen's families at one service are capped (the
# oldest past 8 ends: no family outlives its index, which withdrawal and
# idpctl tokens revoke go through). STORE=memory|redis.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
debian_python # this suite makes ~100 python calls
setup_tmp
R1=http://127.0.0.1:8081/callback
R2=http://127.0.0.1:8082/callback
R3=http://127.0.0.1:8083/callback
cat >"$TMP/extra.json" <<JSON
{"clients+": [
 {"client_id": "fc-svc", "client_name": "Service FC", "client_secret_sha256": "$(hash fc-svc-secret)",
  "redirect_uris": ["$R3"], "sector_identifier": "fc.test", "profile": "franceconnect"}
]}
JSON
start_idp "$STORE"

# azo CLIENT REDIRECT SCOPE [EXTRA]: /authorize with SCOPE; sets PAGE.
azo() {
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$2&scope=$3&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256${4:-}")
}
# grant CLIENT SECRET REDIRECT SCOPE [EXTRA]: a fresh login to the consent
# page (CONSENT_PAGE: its body, empty when none was shown) and the code
# exchange; sets TOK, AT, RT, IDT.
grant() {
	rm -f "$CJ"
	azo "$1" "$3" "$4" "${5:-}"
	login marianne 'Marianne-2026!'
	CONSENT_PAGE=
	if [ "$(status "$RESP")" = 200 ]; then CONSENT_PAGE=$(body "$RESP"); consent accept; fi
	CODE=$(qparam code "$(location "$RESP")")
	token "$1" "$2" "$CODE" "$3" "$V"
	AT=$(echo "$TOK" | jget access_token) RT=$(echo "$TOK" | jget refresh_token) IDT=$(echo "$TOK" | jget id_token)
}
# refresh AUTH TOKEN [curl args...]: grant_type=refresh_token; sets OUT, CODE.
refresh() {
	a=$1 t=$2
	shift 2
	OUT=$(curl -s -w '\n%{http_code}' -u "$a" -d grant_type=refresh_token --data-urlencode "refresh_token=$t" "$@" "$IDP/token")
	CODE=$(printf %s "$OUT" | tail -n1)
	OUT=$(printf %s "$OUT" | sed '$d')
}
revoke() { curl -s -o /dev/null -w '%{http_code}' -u "$1" --data-urlencode "token=$2" ${3:+-d "$3"} "$IDP/revoke"; }
userinfo() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$IDP/userinfo"; }
P1=demo-portal:demo-portal-secret
OFF='openid%20profile%20email%20offline_access'

D=$(curl -s "$IDP/.well-known/openid-configuration")
ok "discovery: grant_types_supported has refresh_token" contains "$(echo "$D" | jget grant_types_supported)" '"refresh_token"'
ok "discovery: scopes_supported has offline_access" contains "$(echo "$D" | jget scopes_supported)" '"offline_access"'

# ---- Issued only with offline_access, prompt=consent and consent --------
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
ok "offline_access + prompt=consent: a refresh token" test -n "$RT"
ok "... the scope granted names offline_access" eq "$(echo "$TOK" | jget scope)" "openid profile email offline_access"
ok "... after a consent page that says so (fr)" contains "$CONSENT_PAGE" "pendant que vous n'êtes pas connecté"
ok "... for up to the family's lifetime in days" contains "$CONSENT_PAGE" "jusqu'à 30 jours"
ok "... an ID token with the nonce of the request" eq "$(jwt_payload "$IDT" | jget nonce)" n0nce-0123456789abcdefghij
RT0=$RT AT0=$AT IDT0=$IDT
rm -f "$CJ"
azo demo-portal "$R1" "$OFF" "&prompt=consent&ui_locales=en"
login marianne 'Marianne-2026!'
ok "the consent page in English says it too" contains "$(body "$RESP")" "while you are away"

grant demo-portal demo-portal-secret "$R1" "$OFF"
ok "offline_access without prompt=consent: no refresh token" eq "$RT" ""
ok "... and offline_access is not granted" eq "$(echo "$TOK" | jget scope)" "openid profile email"
ok "... and the consent page says nothing of it" not_contains "$CONSENT_PAGE" "pendant que vous"
grant demo-portal demo-portal-secret "$R1" 'openid%20profile' "&prompt=consent"
ok "no offline_access: an access token, no refresh token" eq "$(test -n "$AT" && echo y):$RT" y:
rm -f "$CJ"
azo demo-portal "$R1" "$OFF" "&prompt=consent"
login marianne 'Marianne-2026!'
consent refuse
ok "consent refused: access_denied, no code" eq "$(qparam error "$(location "$RESP")")" access_denied
grant fc-svc fc-svc-secret "$R3" "$OFF" "&prompt=consent&acr_values=eidas1"
ok "franceconnect profile: an access token" test -n "$AT"
ok "... but never a refresh token" eq "$RT" ""
sed 's/"profile": "franceconnect"/"profile": "franceconnect", "grant_types": ["authorization_code", "refresh_token"]/' \
	"$TMP/idp.json" >"$TMP/fc-refresh.json"
ok "configuration: refresh_token for a franceconnect client is refused" \
	contains "$("$BUILD/idp/idp" --check --config "$TMP/fc-refresh.json" --plugin-dir "$BUILD/plugins" 2>&1)" "issues no refresh tokens"

# ---- Rotation --------------------------------------------------------------
SUB0=$(jwt_payload "$IDT0" | jget sub)
refresh "$P1" "$RT0"
ok "refresh: 200" eq "$CODE" 200
RT1=$(echo "$OUT" | jget refresh_token) AT1=$(echo "$OUT" | jget access_token) IDT1=$(echo "$OUT" | jget id_token)
ok "... a new refresh token (rotated)" test -n "$RT1" -a "$RT1" != "$RT0"
ok "... a new access token that works" eq "$(userinfo "$AT1")" 200
ok "... the same scope" eq "$(echo "$OUT" | jget scope)" "openid profile email offline_access"
ok "... Cache-Control: no-store" contains "$(curl -s -i -u "$P1" -d grant_type=refresh_token -d refresh_token=x "$IDP/token" | tr -d '\r')" "Cache-Control: no-store"
ok "... an ID token (OpenID Core 12.2) of the same sub" eq "$(jwt_payload "$IDT1" | jget sub)" "$SUB0"
ok "... the same auth_time" eq "$(jwt_payload "$IDT1" | jget auth_time)" "$(jwt_payload "$IDT0" | jget auth_time)"
ok "... the same aud" eq "$(jwt_payload "$IDT1" | jget aud)" demo-portal
ok "... without nonce" eq "$(jwt_payload "$IDT1" | jget nonce)" ""
ok "... with the at_hash of the new access token" eq "$(jwt_payload "$IDT1" | jget at_hash)" \
	"$(printf %s "$AT1" | openssl dgst -sha256 -binary | head -c 16 | openssl base64 -A | tr '+/' '-_' | tr -d '=')"
refresh "$P1" "$RT1"
RT2=$(echo "$OUT" | jget refresh_token) AT2=$(echo "$OUT" | jget access_token)
ok "the rotated token refreshes again" eq "$CODE:$(test -n "$RT2" && echo y)" 200:y

# ---- Reuse of a rotated-away token: the family ends -------------------------
refresh "$P1" "$RT0"
ok "the first token again: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
refresh "$P1" "$RT2"
ok "... and the family is revoked: the newest token is dead too" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "... and the family's access tokens" eq "$(userinfo "$AT1"):$(userinfo "$AT2"):$(userinfo "$AT0")" 401:401:401

# ---- Bound to its client ----------------------------------------------------
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
refresh demo-portal-2:demo-portal-2-secret "$RT"
ok "another client's refresh token: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
refresh "$P1" "$RT"
ok "... and it did not burn it: its client still refreshes" eq "$CODE" 200
RT=$(echo "$OUT" | jget refresh_token)
refresh demo-portal:wrong-secret "$RT"
ok "a wrong client secret: 401 invalid_client" eq "$CODE:$(echo "$OUT" | jget error)" 401:invalid_client
refresh "$P1" "$RT" -d client_id=demo-portal-2
ok "Basic of one client, client_id of another: 400" eq "$CODE" 400
refresh "$P1" "$RT"
ok "... the token still good after both" eq "$CODE" 200
RT=$(echo "$OUT" | jget refresh_token)

# ---- Scope: only narrower -----------------------------------------------------
refresh "$P1" "$RT" -d scope=openid%20phone
ok "a wider scope: invalid_scope" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_scope
refresh "$P1" "$RT" --data-urlencode "scope=openid offline_access"
ok "a narrower scope: 200" eq "$CODE" 200
ok "... the access token's scope is the narrower one" eq "$(echo "$OUT" | jget scope)" "openid offline_access"
UI=$(curl -s -H "Authorization: Bearer $(echo "$OUT" | jget access_token)" "$IDP/userinfo")
ok "... its userinfo: the sub" eq "$(echo "$UI" | jget sub)" "$(jwt_payload "$(echo "$OUT" | jget id_token)" | jget sub)"
ok "... and none of the profile or email claims" eq "$(echo "$UI" | jget given_name)$(echo "$UI" | jget email)" ""
RT=$(echo "$OUT" | jget refresh_token)
refresh "$P1" "$RT" -d scope=profile
ok "scope without openid: no ID token" eq "$CODE:$(echo "$OUT" | jget id_token)" 200:
UI=$(curl -s -H "Authorization: Bearer $(echo "$OUT" | jget access_token)" "$IDP/userinfo")
ok "... the refresh token keeps the scope granted: profile claims" eq "$(echo "$UI" | jget given_name)" Marianne
RT=$(echo "$OUT" | jget refresh_token)
refresh "$P1" "$RT" -d scope=profile%20email
ok "... and a later refresh may ask for email again" eq "$CODE:$(echo "$OUT" | jget scope)" "200:profile email"
RT=$(echo "$OUT" | jget refresh_token)

# ---- Refusals -------------------------------------------------------------
refresh "$P1" "$(head -c 600 /dev/zero | tr '\0' A)"
ok "a 600-byte refresh token: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
OUT=$(curl -s -u "$P1" -d grant_type=refresh_token "$IDP/token")
ok "no refresh_token: invalid_request" eq "$(echo "$OUT" | jget error)" invalid_request
refresh "$P1" "$AT0"
ok "an access token as refresh token: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant

# ---- Revocation (RFC 7009) ------------------------------------------------
ok "revoke by another client: 200" eq "$(revoke demo-portal-2:demo-portal-2-secret "$RT" token_type_hint=refresh_token)" 200
refresh "$P1" "$RT"
ok "... and the token still works" eq "$CODE" 200
RT=$(echo "$OUT" | jget refresh_token) AT=$(echo "$OUT" | jget access_token)
ok "revoking the access token: 200" eq "$(revoke "$P1" "$AT")" 200
ok "... the access token is dead" eq "$(userinfo "$AT")" 401
refresh "$P1" "$RT"
ok "... the refresh token is not (an access token ends alone)" eq "$CODE" 200
RT=$(echo "$OUT" | jget refresh_token) AT=$(echo "$OUT" | jget access_token)
ok "revoke the refresh token (token_type_hint=refresh_token): 200" eq "$(revoke "$P1" "$RT" token_type_hint=refresh_token)" 200
refresh "$P1" "$RT"
ok "... then using it: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "... and the family's access token is revoked with it" eq "$(userinfo "$AT")" 401
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
ok "revoke a refresh token without hint: 200" eq "$(revoke "$P1" "$RT")" 200
refresh "$P1" "$RT"
ok "... then using it: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "... and the code's access token is revoked with it" eq "$(userinfo "$AT")" 401
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
ok "revoke with the wrong hint (access_token): found anyway" eq "$(revoke "$P1" "$RT" token_type_hint=access_token)" 200
refresh "$P1" "$RT"
ok "... then using it: invalid_grant" eq "$CODE" 400

# ---- A replayed code ends the family it started --------------------------
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "the code again: invalid_grant" eq "$(echo "$TOK" | jget error)" invalid_grant
refresh "$P1" "$RT"
ok "... and its refresh token is revoked" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant

# ---- Logout leaves offline access ----------------------------------------
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/logout?id_token_hint=$IDT&post_logout_redirect_uri=http://127.0.0.1:8081/&state=bye")
ok "logout: back to the service" eq "$(location "$H")" "http://127.0.0.1:8081/?state=bye"
ok "... the session's access token is revoked" eq "$(userinfo "$AT")" 401
refresh "$P1" "$RT"
ok "... the refresh token lives on (offline_access outlives the session)" eq "$CODE" 200
ok "... and its new access token works" eq "$(userinfo "$(echo "$OUT" | jget access_token)")" 200

# ---- The index of families per citizen and service: 8, the oldest ended ----
# In the same browser (single sign-on: the consent page, no password).
sso_grant() {
	azo demo-portal "$R1" "$OFF" "&prompt=consent"
	RESP=$PAGE
	consent accept
	token demo-portal demo-portal-secret "$(qparam code "$(location "$RESP")")" "$R1" "$V"
	RT=$(echo "$TOK" | jget refresh_token)
}
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
RTF=$RT
for i in 1 2 3 4 5 6; do sso_grant; done
refresh "$P1" "$RTF"
ok "cap: the first of 7 families still refreshes" eq "$CODE" 200
RTF=$(echo "$OUT" | jget refresh_token) ATF=$(echo "$OUT" | jget access_token)
sso_grant
refresh "$P1" "$RTF"
ok "... and of 8 (the cap)" eq "$CODE" 200
RTF=$(echo "$OUT" | jget refresh_token) ATF=$(echo "$OUT" | jget access_token)
sso_grant
refresh "$P1" "$RTF"
ok "a 9th family ends the oldest: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
refresh "$P1" "$RT"
ok "... the newest refreshes" eq "$CODE" 200

# ---- librp: rp_refresh, rp_revoke (tests/rp/interop.c --refresh) -----------
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
RTA=$RT SUBA=$(jwt_payload "$IDT" | jget sub)
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
RPI="$BUILD/tests/rp/rp_interop"
if [ -x "$RPI" ]; then
	"$RPI" --refresh "$IDP" "$P1" "$RTA" "$RT" "$SUBA" >"$TMP/rp.log" 2>&1
	RC=$?
	grep '^not ok' "$TMP/rp.log" >&2
	ok "librp: rp_refresh, rp_revoke ($(grep -c '^ok' "$TMP/rp.log") checks)" eq "$RC" 0
else
	ok "librp: $RPI is built (make test-bins)" false
fi

# ---- The family's absolute lifetime -----------------------------------------
# Restarted with a family of 8 s and tokens of 7 s unused. Times count from
# the ID token's iat (the daemon's clock at the exchange, not this loaded
# shell's): a refresh at 4 s gives a token that would live to 11 s unused,
# yet it is refused at 10 s, past the family's end (8 s, 9 s at most
# should the exchange have straddled a second).
stop_idp
ok "the daemon stops cleanly" eq "$IDP_RC" 0
python3 - "$TMP/idp.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["tokens"].update({"refresh_absolute_ttl_s": 8, "refresh_idle_ttl_s": 7})
json.dump(c, open(sys.argv[1], "w"))
PY
run_idp
grant demo-portal demo-portal-secret "$R1" "$OFF" "&prompt=consent"
T0=$(jwt_payload "$IDT" | jget iat)
at() { python3 -c "import time,sys;d=$T0+float(sys.argv[1])-time.time();time.sleep(max(d,0))" "$1"; }
at 4
refresh "$P1" "$RT"
ok "absolute lifetime: a refresh at 4 s" eq "$CODE" 200
RT=$(echo "$OUT" | jget refresh_token)
at 10
refresh "$P1" "$RT"
ok "... at 10 s, within the idle limit but past the family's 8 s: invalid_grant" eq "$CODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "no refresh token reaches the log" not_contains "$(cat "$TMP/idp.log")" "$RT0"
done_tests
