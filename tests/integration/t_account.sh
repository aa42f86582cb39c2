#!/bin/sh
# stores: both
# The citizen in control (issue 17): /account lists what each service
# received (a code exchanged, a data provider's introspection) with a signed
# receipt that idpctl and librp verify (an edited one fails); withdrawing a
# consent revokes the service's access token (the data provider then gets
# active: false, userinfo 401); "log out everywhere" ends every session;
# a POST without its CSRF token, or without a session, changes nothing.
# Offline access (refresh tokens): the page says which service keeps it and
# until when; its own button ends it, withdrawing the consent ends it too
# (refresh refused, the tokens it issued inactive), logging out everywhere
# does not; idpctl tokens list|revoke (redis). Receipts verify against the
# published JWKS (--jwks URL or file, without the configuration; in the
# memory run, the store playing no part): an edited
# one, a JWKS without the key, an oversized or redirected answer fail.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
debian_python # this suite makes ~100 python calls
setup_tmp
R4=http://127.0.0.1:8084/callback
cat >"$TMP/extra.json" <<JSON
{"clients+": [
 {"client_id": "dp-mail", "client_name": "Fournisseur de courriel", "role": "data_provider",
  "scopes_served": ["email"], "client_secret_sha256": "$(hash dp-mail-secret)"},
 {"client_id": "svc", "client_name": "Service de test", "client_secret_sha256": "$(hash svc-secret)",
  "redirect_uris": ["$R4"], "grant_types": ["authorization_code", "refresh_token"]}
],
 "audit": {"file": "$TMP/audit.jsonl"}}
JSON
start_idp "$STORE"
# A web server for JWKS URLs (receipts verify --jwks, checked in the memory
# run only: the store plays no part), started now to overlap its start-up
# with the rest.
if [ "$STORE" = memory ]; then
	mkdir -p "$TMP/www/dir"
	python3 -c 'import json;print(json.dumps({"keys":[],"pad":"x"*100000}))' >"$TMP/www/big.json"
	WP=$(free_port)
	(cd "$TMP/www" && exec python3 -m http.server "$WP" --bind 127.0.0.1 >"$TMP/www.log" 2>&1) &
	PIDS="$PIDS $!"
fi
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" --keys-dir "$TMP/keys" "$@"; }
userinfo() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$IDP/userinfo"; }
introspect() { curl -s -u dp-mail:dp-mail-secret --data-urlencode "token=$1" "$IDP/introspect"; }

# No session: no data, a page saying how to log in.
H=$(curl -s -i "$IDP/account")
ok "no session: 200, a page" eq "$(status "$H")" 200
ok "... saying to log in first" contains "$H" "connectez-vous"
ok "... and no list" not_contains "$H" "Informations transmises"
H=$(curl -s -i -d action=logout_all -d csrf=x "$IDP/account")
ok "no session: a POST changes nothing (the same page)" contains "$H" "connectez-vous"

full_login svc svc-secret "$R4"
AT=$(echo "$TOK" | jget access_token)
ok "setup: an access token for svc (openid profile email)" test -n "$AT"
ok "userinfo answers it" eq "$(userinfo "$AT")" 200
ok "the data provider sees it active" eq "$(introspect "$AT" | jget active)" true

P=$(curl -s -b "$CJ" "$IDP/account?ui_locales=en")
ok "account: the releases listed" contains "$P" "Data shared"
ok "... the service by name" contains "$P" "Service de test"
ok "... the login (its ID token and userinfo answer) and the provider's check" eq \
	"$(printf %s "$P" | grep -c -e '(login)' -e '(checked by the provider)')" 2
ok "... the data provider named" contains "$P" "Fournisseur de courriel"
ok "... the data by scope, never a value" not_contains "$P" "marianne@"
ok "... the consent, with its withdraw button" contains "$P" "Withdraw my consent to Service de test"
ok "... the open session" contains "$P" "Logged in on"
ok "... the French page by default" contains "$(curl -s -b "$CJ" "$IDP/account")" "Mon compte"

# Receipts: downloaded, verified by idpctl and librp; an edited one fails.
JTI=$(printf %s "$P" | sed -n 's/.*receipt=\([A-Za-z0-9_-]*\)".*(checked.*//p; s/.*(checked by the provider).*receipt=\([A-Za-z0-9_-]*\)".*/\1/p' | head -n1)
ok "a receipt link for the provider's check" test -n "$JTI"
H=$(curl -s -i -b "$CJ" "$IDP/account?receipt=$JTI")
ok "receipt: application/jwt, as a file" eq "$(printf %s "$H" | tr -d '\r' | grep -i -c -e '^content-type: application/jwt' -e '^content-disposition: attachment')" 2
body "$H" >"$TMP/receipt.jwt"
R=$(cat "$TMP/receipt.jwt")
ok "receipt: typ receipt+jwt" eq "$(printf %s "$R" | cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["typ"])')" receipt+jwt
RP=$(jwt_payload "$R")
ok "receipt: the service, the data provider, the categories" eq \
	"$(echo "$RP" | jget service) $(echo "$RP" | jget data_provider) $(echo "$RP" | jget categories)" 'svc ["dp-mail"] ["email"]'
ok "receipt: a SHA-256 of what was released, no value" eq "$(echo "$RP" | jget sha256 | wc -c) $(echo "$RP" | grep -c marianne)" "44 0"
OUT=$(CTL receipts verify "$TMP/receipt.jwt" 2>&1); RC=$?
ok "idpctl receipts verify: valid" eq "$RC" 0
ok "... says what was released to whom" contains "$OUT" "to svc"
python3 - "$TMP/receipt.jwt" "$TMP/edited.jwt" <<'PY'
import base64, json, sys
h, p, s = open(sys.argv[1]).read().strip().split(".")
d = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
d["service"] = "someone-else"
p = base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
open(sys.argv[2], "w").write(".".join([h, p, s]))
PY
OUT=$(CTL receipts verify "$TMP/edited.jwt" 2>&1); RC=$?
ok "idpctl: an edited receipt fails" eq "$RC" 1
ok "... saying the signature is not the provider's" contains "$OUT" "signature"
if [ -x "$BUILD/tests/rp/rp_interop" ]; then
	ok "librp rp_verify_receipt: valid" "$BUILD/tests/rp/rp_interop" --receipt "$IDP" "$TMP/receipt.jwt"
	ok "librp rp_verify_receipt: the edited one refused" sh -c "! '$BUILD/tests/rp/rp_interop' --receipt '$IDP' '$TMP/edited.jwt' >/dev/null"
fi
H=$(curl -s -i "$IDP/account?receipt=$JTI")
ok "a receipt without the session: no receipt" not_contains "$H" "application/jwt"

# Withdrawal: CSRF first, then the token is revoked.
K=$(field consent "$P")
CS=$(field csrf "$P")
H=$(curl -s -i -b "$CJ" -d action=withdraw -d "consent=$K" "$IDP/account")
ok "withdraw without CSRF: 403" eq "$(status "$H")" 403
H=$(curl -s -i -b "$CJ" -d action=withdraw -d "consent=$K" -d csrf=AAAA "$IDP/account")
ok "withdraw with a wrong CSRF: 403" eq "$(status "$H")" 403
ok "... the token still works" eq "$(userinfo "$AT")" 200
H=$(curl -s -i -b "$CJ" -d action=withdraw -d "consent=$(hash other)" --data-urlencode "csrf=$CS" "$IDP/account")
ok "withdraw a consent that is not this citizen's: 404" eq "$(status "$H")" 404
H=$(curl -s -i -b "$CJ" -d action=withdraw -d "consent=$K" --data-urlencode "csrf=$CS" "$IDP/account")
ok "withdraw: back to the page" eq "$(status "$H") $(location "$H")" "303 /account?withdrawn=1"
ok "after withdrawal: the data provider gets active: false" eq "$(introspect "$AT" | jget active)" false
ok "after withdrawal: userinfo refuses the token" eq "$(userinfo "$AT")" 401
P=$(curl -s -b "$CJ" "$IDP/account?ui_locales=en")
ok "after withdrawal: the consent is no longer listed" not_contains "$P" "Withdraw my consent to Service de test"
ok "... the releases stay" contains "$P" "(checked by the provider)"
authorize svc "$R4" "&prompt=none"
ok "after withdrawal: prompt=none gets consent_required" contains "$PAGE$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=svc&redirect_uri=$R4&scope=openid%20profile%20email&state=s&code_challenge=$C&code_challenge_method=S256&prompt=none")" consent_required

# ---- receipts verify --jwks: what a citizen or an auditor holds ------------
if [ "$STORE" = memory ]; then
	OUT=$(CTL receipts verify "$TMP/receipt.jwt" --jwks "$IDP/jwks" 2>&1); RC=$?
	ok "receipts verify --jwks URL (the daemon's /jwks): valid" eq "$RC" 0
	ok "... says with which keys" contains "$OUT" "with a key of $IDP/jwks"
	curl -s "$IDP/jwks" >"$TMP/jwks.json"
	OUT=$("$BUILD/idp/idpctl" --config "$TMP/none.json" receipts verify "$TMP/receipt.jwt" --jwks "$TMP/jwks.json" 2>&1); RC=$?
	ok "--jwks FILE, no configuration at hand (a citizen's case): valid" eq "$RC:$(echo "$OUT" | grep -c 'to svc')" 0:1
	OUT=$(CTL receipts verify "$TMP/edited.jwt" --jwks "$IDP/jwks" 2>&1); RC=$?
	ok "--jwks: an edited receipt fails" eq "$RC" 1
	ok "... saying no key of the set signed it" contains "$OUT" "no key of"
	python3 - "$TMP/jwks.json" "$TMP/jwks-nokey.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for k in j["keys"]:
    k["kid"] = "someone-else-" + k.get("kid", "")
json.dump(j, open(sys.argv[2], "w"))
PY
	ok "--jwks: a set without the receipt's key fails" sh -c "! '$BUILD/idp/idpctl' --config '$TMP/none.json' receipts verify '$TMP/receipt.jwt' --jwks '$TMP/jwks-nokey.json' 2>/dev/null"
	# The receipt's kid on another key (an EC key: the RS256 signature cannot be its).
	KID=$(printf %s "$R" | cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4))).get("kid",""))')
	openssl ecparam -name prime256v1 -genkey -noout -out "$TMP/other.pem" 2>/dev/null
	openssl ec -in "$TMP/other.pem" -pubout -outform DER 2>/dev/null | tail -c 64 >"$TMP/other.xy"
	python3 - "$TMP/other.xy" "$KID" "$TMP/jwks-other.json" <<'PY'
import base64, json, sys
xy = open(sys.argv[1], "rb").read()
b = lambda v: base64.urlsafe_b64encode(v).rstrip(b"=").decode()
json.dump({"keys": [{"kty": "EC", "crv": "P-256", "x": b(xy[:32]), "y": b(xy[32:]), "kid": sys.argv[2], "use": "sig"}]},
          open(sys.argv[3], "w"))
PY
	ok "--jwks: the receipt's kid on another key fails" sh -c "! '$BUILD/idp/idpctl' --config '$TMP/none.json' receipts verify '$TMP/receipt.jwt' --jwks '$TMP/jwks-other.json' 2>/dev/null"
	# A JWKS URL answering 100 KiB, and one answering a redirect (python's
	# http.server redirects a folder named without its slash).
	cp "$TMP/jwks.json" "$TMP/www/dir/index.html"
	wait_for 100 curl -s -o /dev/null "http://127.0.0.1:$WP/" || ok "the JWKS web server starts" false
	OUT=$(CTL receipts verify "$TMP/receipt.jwt" --jwks "http://127.0.0.1:$WP/big.json" 2>&1); RC=$?
	ok "--jwks URL answering 100 KiB: refused" eq "$RC" 1
	ok "... as larger than 64 KiB" contains "$OUT" "larger than 64 KiB"
	OUT=$(CTL receipts verify "$TMP/receipt.jwt" --jwks "http://127.0.0.1:$WP/dir" 2>&1); RC=$?
	ok "--jwks URL answering a redirect: not followed" eq "$RC:$(echo "$OUT" | grep -c 'redirects are not followed')" 1:1
	ok "... the same set behind its final URL verifies" sh -c "'$BUILD/idp/idpctl' --config '$TMP/idp.json' receipts verify '$TMP/receipt.jwt' --jwks 'http://127.0.0.1:$WP/dir/' >/dev/null"
fi

# ---- Offline access: shown, ended by its button, by withdrawal -------------
# offline_login: the browser's session logs in to svc with offline_access
# (the consent page, no password: single sign-on); sets AT, RT.
offline_login() {
	pkce
	RESP=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=svc&redirect_uri=$R4&scope=openid%20email%20offline_access&prompt=consent&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
	consent accept
	token svc svc-secret "$(qparam code "$(location "$RESP")")" "$R4" "$V"
	AT=$(echo "$TOK" | jget access_token) RT=$(echo "$TOK" | jget refresh_token)
}
refresh() { # refresh TOKEN: sets OUT, RCODE
	OUT=$(curl -s -w '\n%{http_code}' -u svc:svc-secret -d grant_type=refresh_token --data-urlencode "refresh_token=$1" "$IDP/token")
	RCODE=$(printf %s "$OUT" | tail -n1)
	OUT=$(printf %s "$OUT" | sed '$d')
}
offline_login
ok "offline: a refresh token for svc" test -n "$RT"
refresh "$RT"
ok "... it refreshes" eq "$RCODE" 200
RT=$(echo "$OUT" | jget refresh_token) ATR=$(echo "$OUT" | jget access_token)
ok "... its access token is active for the data provider" eq "$(introspect "$ATR" | jget active)" true
P=$(curl -s -b "$CJ" "$IDP/account?ui_locales=en")
ok "account: the consent says the service keeps access while the citizen is away" contains "$P" "This service keeps access while you are away (until"
ok "... and what withdrawing ends" contains "$P" "including while you are away"
ok "... a section of its own, with the last use" contains "$P" "can go on getting your data while you are not logged in, until"
ok "... and its button" contains "$P" "End the access while I am away of Service de test"
ok "... log out everywhere says it leaves offline access" contains "$P" "access while you are away goes on"
PF=$(curl -s -b "$CJ" "$IDP/account")
ok "... in French too" contains "$PF" "Ce service garde l'accès en votre absence (jusqu'au"
CS=$(field csrf "$P")
H=$(curl -s -i -b "$CJ" -d action=end_offline -d client=svc "$IDP/account")
ok "end offline access without CSRF: 403" eq "$(status "$H")" 403
refresh "$RT"
ok "... the refresh token still works" eq "$RCODE" 200
RT=$(echo "$OUT" | jget refresh_token) ATR=$(echo "$OUT" | jget access_token)
H=$(curl -s -i -b "$CJ" -d action=end_offline -d client=nobody --data-urlencode "csrf=$CS" "$IDP/account")
ok "end offline access of an unknown service: 404" eq "$(status "$H")" 404
H=$(curl -s -i -b "$CJ" -d action=end_offline -d client=svc --data-urlencode "csrf=$CS" -d ui_locales=en "$IDP/account")
ok "end offline access: back to the page" eq "$(status "$H") $(location "$H")" "303 /account?offline_ended=1&ui_locales=en"
refresh "$RT"
ok "... then the refresh token: invalid_grant" eq "$RCODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "... and the access token it issued is inactive" eq "$(introspect "$ATR" | jget active)" false
P=$(curl -s -b "$CJ" "$IDP/account?ui_locales=en")
ok "... the page no longer lists it" contains "$P" "No service keeps access to your data while you are away."
ok "... the consent stays" contains "$P" "Withdraw my consent to Service de test"
ok "... the audit trail has it" contains "$(cat "$TMP/audit.jsonl")" '"offline_ended"'

offline_login
refresh "$RT"
RT=$(echo "$OUT" | jget refresh_token) ATR=$(echo "$OUT" | jget access_token)
ok "a new offline login refreshes" eq "$RCODE:$(introspect "$ATR" | jget active)" 200:true
if [ "$STORE" = redis ]; then
	OUT=$(CTL tokens list --user marianne 2>&1)
	ok "idpctl tokens list: the family, its service" eq "$(echo "$OUT" | grep -c ' svc ')" 1
	ok "... last used, never a token" eq "$(echo "$OUT" | grep -c -e "$RT" -e "$ATR" -e ' never ')" 0
	ok "... counted" contains "$OUT" "1 live refresh token family"
fi
P=$(curl -s -b "$CJ" "$IDP/account?ui_locales=en")
H=$(curl -s -i -b "$CJ" -d action=withdraw -d "consent=$(field consent "$P")" --data-urlencode "csrf=$(field csrf "$P")" "$IDP/account")
ok "withdraw the consent of the offline login: 303" eq "$(status "$H")" 303
refresh "$RT"
ok "after withdrawal: the refresh token is refused (invalid_grant)" eq "$RCODE:$(echo "$OUT" | jget error)" 400:invalid_grant
ok "... the access token it issued is inactive at /introspect" eq "$(introspect "$ATR" | jget active)" false
ok "... and at userinfo" eq "$(userinfo "$ATR")" 401
ok "... the login's own access token too" eq "$(introspect "$AT" | jget active)" false
if [ "$STORE" = redis ]; then
	ok "... idpctl lists no family" contains "$(CTL tokens list --user marianne 2>&1)" "0 live refresh token families"
	offline_login
	OUT=$(CTL tokens revoke --user marianne --client svc 2>&1)
	ok "idpctl tokens revoke: one family ended" contains "$OUT" "1 refresh token family ended"
	refresh "$RT"
	ok "... its refresh token: invalid_grant" eq "$RCODE" 400
	ok "... its access token inactive" eq "$(introspect "$AT" | jget active)" false
	ok "... the audit trail has it" contains "$(grep tokens.revoke "$TMP/audit.jsonl")" '"result":"done"'
	ok "idpctl tokens list without --user: usage" sh -c "! '$BUILD/idp/idpctl' --config '$TMP/idp.json' tokens list 2>/dev/null"
	ok "idpctl tokens list --client unknown: refused" sh -c "! '$BUILD/idp/idpctl' --config '$TMP/idp.json' tokens list --user marianne --client nobody 2>/dev/null"
fi

# Log out everywhere: two browsers, both sessions end.
CJ1=$CJ
CJ="$TMP/cj2"; full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
AT2=$(echo "$TOK" | jget access_token)
CJ=$CJ1
ok "a second browser's token works" eq "$(userinfo "$AT2")" 200
P=$(curl -s -b "$CJ" "$IDP/account")
H=$(curl -s -i -b "$CJ" -d action=logout_all "$IDP/account")
ok "log out everywhere without CSRF: 403" eq "$(status "$H")" 403
H=$(curl -s -i -c "$CJ" -b "$CJ" -d action=logout_all --data-urlencode "csrf=$(field csrf "$P")" "$IDP/account")
ok "log out everywhere: the page says so" contains "$H" "déconnecté partout"
ok "... the other browser's token is revoked" eq "$(userinfo "$AT2")" 401
ok "... the other browser has no session" contains "$(curl -s -b "$TMP/cj2" "$IDP/account")" "connectez-vous"
ok "... nor this one" contains "$(curl -s -b "$CJ" "$IDP/account")" "connectez-vous"

done_tests
