#!/bin/sh
# stores: both
# The citizen in control (issue 17): /account lists what each service
# received (a code exchanged, a data provider's introspection) with a signed
# receipt that idpctl and librp verify (an edited one fails); withdrawing a
# consent revokes the service's access token (the data provider then gets
# active: false, userinfo 401); "log out everywhere" ends every session;
# a POST without its CSRF token, or without a session, changes nothing.
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
  "redirect_uris": ["$R4"]}
]}
JSON
start_idp "$STORE"
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
