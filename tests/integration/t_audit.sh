#!/bin/sh
# stores: both
# The audit findings of issue 2, one section each: the claims parameter held
# to the client's scopes, the consent page listing the ID token's claims, a
# sid per sector, POST without a body, codes bound to a live session,
# claims.id_token.sub.value, max_age=0, id_token_hint typed and addressed,
# client_credentials scope and resource, prompt=select_account, 405 in JSON,
# acr_values in the franceconnect profile; access tokens revoked with their
# session. STORE=memory|redis.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp

R1=http://127.0.0.1:8081/callback
R3=http://127.0.0.1:8083/callback
R4=http://127.0.0.1:8084/callback
FC_SECRET=fc-service-secret-6f1d0a9e2b7c4d3a8e5f
NARROW_SECRET=narrow-service-secret-0a1b2c3d4e5f60718293
cat >"$TMP/extra.json" <<EOF
{
 "clients+": [ {
  "client_id": "narrow",
  "client_name": "Service restreint",
  "client_secret_sha256": "$(printf %s "$NARROW_SECRET" | sha256sum | cut -d' ' -f1)",
  "redirect_uris": ["$R4"],
  "post_logout_redirect_uris": ["http://127.0.0.1:8084/"],
  "sector_identifier": "narrow.test",
  "grant_types": ["authorization_code", "client_credentials"],
  "scopes": ["openid", "profile", "api:read"]
 }, {
  "client_id": "fc-service",
  "client_name": "Service FranceConnect (test)",
  "client_secret_sha256": "$(printf %s "$FC_SECRET" | sha256sum | cut -d' ' -f1)",
  "redirect_uris": ["$R3"],
  "sector_identifier": "fc.test",
  "profile": "franceconnect"
 } ]
}
EOF
start_idp "$STORE"

enc() { python3 -c 'import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }
hdr() { printf %s "$2" | tr -d '\r' | sed '/^$/q' | grep -i "^$1:" | head -n1 | cut -d' ' -f2-; }
# azc CLIENT REDIRECT SCOPE [EXTRA]: GET /authorize with the cookie jar; sets
# H (headers and body) and a fresh PKCE pair.
azc() {
	pkce
	H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$(enc "$2")&scope=$(enc "$3")&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256${4:-}")
}
# forge TYP PAYLOAD: a JWS signed with the provider's active RS256 key (the
# test holds the key directory), header typ TYP.
forge() {
	python3 - "$TMP/keys" "$1" "$2" <<'PY'
import base64, json, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
d, typ, payload = sys.argv[1:4]
st = json.load(open(d + "/state.json"))
k = [k for k in st["keys"] if k["alg"] == "RS256" and k["state"] == "active"][0]
key = serialization.load_pem_private_key(open(d + "/" + k["file"], "rb").read(), None)
b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=").decode()
si = b(json.dumps({"alg": "RS256", "kid": k["kid"], "typ": typ}).encode()) + "." + b(payload.encode())
print(si + "." + b(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())))
PY
}

# ---- 1 and 2: the claims parameter is held to the scopes the client may use
# (here openid and profile), and the consent page lists what the ID token
# will carry too.
CLAIMS='{"userinfo":{"email":null,"phone_number":null,"birthplace":null,"given_name":null},"id_token":{"email":null,"family_name":null}}'
azc narrow "$R4" "openid email phone" "&claims=$(enc "$CLAIMS")"
PAGE=$(body "$H")
login marianne 'Marianne-2026!'
ok "claims: consent page shown" contains "$RESP" 'name="decision"'
ok "consent lists a claim asked for the ID token only (family_name)" contains "$RESP" "Nom de naissance"
ok "consent lists a claim asked for userinfo (given_name)" contains "$RESP" "Prénom(s)"
ok "consent does not list email (scope not allowed to this client)" not_contains "$RESP" "Adresse électronique"
ok "consent does not list phone_number" not_contains "$RESP" "Numéro de téléphone"
ok "consent does not list birthplace" not_contains "$RESP" "Lieu de naissance"
consent accept
CODE=$(qparam code "$(location "$RESP")")
token narrow "$NARROW_SECRET" "$CODE" "$R4" "$V"
IDT_N=$(echo "$TOK" | jget id_token)
P=$(jwt_payload "$IDT_N")
ok "claims: an ID token is issued" test -n "$IDT_N"
ok "ID token: no email through claims.id_token" eq "$(echo "$P" | jget email)" ""
ok "ID token: family_name (profile is allowed) through claims.id_token" eq "$(echo "$P" | jget family_name)" Dupont
U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
ok "userinfo: no email through claims.userinfo" eq "$(echo "$U" | jget email)" ""
ok "userinfo: no phone_number through claims.userinfo" eq "$(echo "$U" | jget phone_number)" ""
ok "userinfo: no birthplace through claims.userinfo" eq "$(echo "$U" | jget birthplace)" ""
ok "userinfo: given_name through claims.userinfo" eq "$(echo "$U" | jget given_name)" Marianne
SUB_N=$(echo "$P" | jget sub)
SID_N=$(echo "$P" | jget sid)

# The remembered consent covers the set of claims shown: the same set asked
# another way needs no new consent; one more claim does.
azc narrow "$R4" "openid" "&prompt=none&claims=$(enc '{"id_token":{"given_name":null,"family_name":null}}')"
ok "consent: the same claims asked another way: a code, no new consent" test -n "$(qparam code "$(location "$H")")"
azc narrow "$R4" "openid" "&prompt=none&claims=$(enc '{"id_token":{"family_name":null,"given_name":null,"birthdate":null}}')"
ok "consent: one more claim: consent_required" eq "$(qparam error "$(location "$H")")" consent_required

# ---- 3: sid differs from one sector to the next, stays for one client.
azc demo-portal "$R1" "openid profile"
RESP=$H
if printf %s "$RESP" | grep -q 'name="decision"'; then consent accept; fi
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
IDT_D=$(echo "$TOK" | jget id_token)
SID_D=$(jwt_payload "$IDT_D" | jget sid)
ok "sid: present in the ID token" test -n "$SID_D"
ok "sid: differs between two sectors" test "$SID_D" != "$SID_N"
azc demo-portal "$R1" "openid profile" "&prompt=none"
token demo-portal demo-portal-secret "$(qparam code "$(location "$H")")" "$R1" "$V"
ok "sid: the same for one client on one session" eq "$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget sid)" "$SID_D"

# ---- 6: claims.id_token.sub.value (OpenID Core 5.5.1).
SUBQ() { enc "{\"id_token\":{\"sub\":{\"value\":\"$1\"}}}"; }
azc demo-portal "$R1" "openid profile" "&prompt=none&claims=$(SUBQ "$(jwt_payload "$IDT_D" | jget sub)")"
ok "sub.value of the logged-in citizen: a code" test -n "$(qparam code "$(location "$H")")"
azc demo-portal "$R1" "openid profile" "&prompt=none&claims=$(SUBQ someone-else)"
ok "sub.value of another citizen, prompt=none: login_required" eq "$(qparam error "$(location "$H")")" login_required
ok "sub.value of another citizen, prompt=none: no code" eq "$(qparam code "$(location "$H")")" ""
azc demo-portal "$R1" "openid profile" "&claims=$(SUBQ someone-else)"
ok "sub.value of another citizen: a login is asked" contains "$H" 'name="password"'
PAGE=$(body "$H")
login marianne 'Marianne-2026!'
ok "sub.value of another citizen: no code after logging in as this one" eq "$(qparam code "$(location "$RESP")")" ""
ok "sub.value of another citizen: an error goes back to the service" test -n "$(qparam error "$(location "$RESP")")"

# ---- 7: max_age=0 forces a login even right after one, and then ends.
azc demo-portal "$R1" "openid profile" "&max_age=0"
ok "max_age=0 right after a login: the password again" contains "$H" 'name="password"'
PAGE=$(body "$H")
login marianne 'Marianne-2026!'
ok "max_age=0: after the login, a code" test -n "$(qparam code "$(location "$RESP")")"

# ---- 9: prompt=select_account with a live session: the choice again.
azc demo-portal "$R1" "openid profile" "&prompt=select_account"
ok "prompt=select_account with a session: the backend choice page" contains "$H" 'name="backend"'
ok "prompt=select_account: no code straight away" eq "$(qparam code "$(location "$H")")" ""

# ---- 4: POST without a body needs no Content-Type.
azc demo-portal "$R1" "openid profile" "&prompt=none"
token demo-portal demo-portal-secret "$(qparam code "$(location "$H")")" "$R1" "$V"
AT=$(echo "$TOK" | jget access_token)
H=$(curl -s -i -X POST -H "Authorization: Bearer $AT" "$IDP/userinfo")
ok "POST /userinfo, Bearer header, no body, no Content-Type: 200" eq "$(status "$H")" 200
ok "POST /userinfo with no body: the claims" eq "$(body "$H" | jget given_name)" Marianne
H=$(curl -s -i -X POST "$IDP/logout")
ok "POST /logout with no body: not 415" eq "$(status "$H")" 200
H=$(curl -s -i -X POST -H 'Content-Type: application/json' -d '{"a":1}' "$IDP/userinfo")
ok "a JSON body is still refused: 415" eq "$(status "$H")" 415

# ---- 9: other methods on the JSON endpoints: 405 in JSON with Allow.
H=$(curl -s -i -X DELETE -H "Authorization: Bearer $AT" "$IDP/userinfo")
ok "DELETE /userinfo: 405" eq "$(status "$H")" 405
ok "DELETE /userinfo: JSON" contains "$(hdr Content-Type "$H")" application/json
ok "DELETE /userinfo: JSON error" eq "$(body "$H" | jget error)" invalid_request
ok "DELETE /userinfo: Allow" contains "$(hdr Allow "$H")" POST
H=$(curl -s -i -X PUT -d x=1 "$IDP/token")
ok "PUT /token: 405 JSON with Allow: POST" eq "$(status "$H") $(hdr Allow "$H") $(body "$H" | jget error)" "405 POST invalid_request"

# ---- 8: id_token_hint must be an ID token addressed to a registered client.
CC=$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials "$IDP/token" | jget access_token)
NOW=$(date +%s)
AT_AUD=$(forge at+jwt "{\"iss\":\"$IDP\",\"sub\":\"demo-portal\",\"aud\":\"demo-portal\",\"client_id\":\"demo-portal\",\"iat\":$NOW,\"exp\":$((NOW+60))}")
ID_UNK=$(forge JWT "{\"iss\":\"$IDP\",\"sub\":\"$SUB_N\",\"aud\":\"nobody\",\"iat\":$NOW,\"exp\":$((NOW+60))}")
azc demo-portal "$R1" "openid profile" "&prompt=none&id_token_hint=$CC"
ok "id_token_hint = a client_credentials access token: invalid_request" eq "$(qparam error "$(location "$H")")" invalid_request
azc demo-portal "$R1" "openid profile" "&prompt=none&id_token_hint=$AT_AUD"
ok "id_token_hint typ at+jwt with a client audience: invalid_request" eq "$(qparam error "$(location "$H")")" invalid_request
azc demo-portal "$R1" "openid profile" "&prompt=none&id_token_hint=$ID_UNK"
ok "id_token_hint for an unregistered audience: invalid_request" eq "$(qparam error "$(location "$H")")" invalid_request
H=$(curl -s -i -b "$CJ" "$IDP/logout?id_token_hint=$AT_AUD")
ok "logout: an at+jwt hint is refused" eq "$(status "$H")" 400
ok "logout: the session survives a refused hint" test -n "$(azc demo-portal "$R1" "openid profile" "&prompt=none"; qparam code "$(location "$H")")"

# ---- 8: client_credentials: scope within the client's, resource an absolute URI.
ccd() { _u=$1; shift; H=$(curl -s -i -u "$_u" -d grant_type=client_credentials "$@" "$IDP/token"); }
ccd "narrow:$NARROW_SECRET" -d scope=email
ok "cc: a scope the client may not use: invalid_scope" eq "$(status "$H") $(body "$H" | jget error)" "400 invalid_scope"
ccd "narrow:$NARROW_SECRET" --data-urlencode "scope=openid profile"
ok "cc: the client's own scopes: a token" eq "$(body "$H" | jget scope)" "openid profile"
ccd demo-portal:demo-portal-secret -d scope=admin
ok "cc: an unknown scope: invalid_scope" eq "$(body "$H" | jget error)" invalid_scope
ccd "narrow:$NARROW_SECRET" -d scope=api:read
ok "cc: an API scope the client's scopes name: a token for it" eq "$(jwt_payload "$(body "$H" | jget access_token)" | jget scope)" api:read
ccd demo-portal:demo-portal-secret -d scope=api:read
ok "cc: an API scope another client's scopes name: invalid_scope" eq "$(body "$H" | jget error)" invalid_scope
ccd demo-portal:demo-portal-secret -d resource=demo-portal
ok "cc: resource not an absolute URI: invalid_target" eq "$(status "$H") $(body "$H" | jget error)" "400 invalid_target"
ccd demo-portal:demo-portal-secret --data-urlencode "resource=https://api.example/x#frag"
ok "cc: resource with a fragment: invalid_target" eq "$(body "$H" | jget error)" invalid_target
ccd demo-portal:demo-portal-secret --data-urlencode "resource=ftp://api.example/"
ok "cc: resource of another scheme: invalid_target" eq "$(body "$H" | jget error)" invalid_target
ccd demo-portal:demo-portal-secret --data-urlencode "resource=https://api.example/v1"
ok "cc: an https resource: its audience" eq "$(jwt_payload "$(body "$H" | jget access_token)" | jget aud)" https://api.example/v1

# ---- 9: acr_values: the weakest known level in the standard profile, the
# highest in the franceconnect one (the test's only backend reaches eidas1).
H=$(curl -s -i "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$(enc "$R1")&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256&acr_values=eidas1%20eidas2")
ok "standard profile, acr_values=eidas1 eidas2: the login page (eidas1 suffices)" contains "$H" 'name="password"'
H=$(curl -s -i "$IDP/authorize?response_type=code&client_id=fc-service&redirect_uri=$(enc "$R3")&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256&acr_values=eidas1%20eidas2")
ok "franceconnect profile, acr_values=eidas1 eidas2: eidas2 required (access_denied here)" eq "$(qparam error "$(location "$H")")" access_denied
H=$(curl -s -i "$IDP/authorize?response_type=code&client_id=fc-service&redirect_uri=$(enc "$R3")&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256&acr_values=eidas1")
ok "franceconnect profile, acr_values=eidas1: the login page" contains "$H" 'name="password"'

# ---- 3 and 5: logout with the hint's per-client sid ends the session at
# once, and a code issued before it can no longer be exchanged.
azc demo-portal "$R1" "openid profile" "&prompt=none"
token demo-portal demo-portal-secret "$(qparam code "$(location "$H")")" "$R1" "$V"
IDT_F=$(echo "$TOK" | jget id_token)
azc demo-portal "$R1" "openid profile" "&prompt=none"
CODE=$(qparam code "$(location "$H")")
ok "before logout: a code" test -n "$CODE"
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/logout?id_token_hint=$IDT_F&post_logout_redirect_uri=$(enc http://127.0.0.1:8081/)&state=bye")
ok "logout with the hint of this session (per-client sid): straight back" eq "$(location "$H")" "http://127.0.0.1:8081/?state=bye"
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "a code issued before logout: invalid_grant" eq "$(echo "$TOK" | jget error)" invalid_grant
ok "a code issued before logout: no ID token" eq "$(echo "$TOK" | jget id_token)" ""

# ---- Access tokens die with their SSO session: at a confirmed logout, and
# when a new login in the same browser replaces the session; another
# browser's session keeps its own.
ui() { H=$(curl -s -i -H "Authorization: Bearer $1" "$IDP/userinfo"); }
CJ_A=$CJ
CJ="$TMP/cookies-other"
full_login demo-portal demo-portal-secret "$R1"
AT_OTHER=$(echo "$TOK" | jget access_token)
CJ=$CJ_A
full_login demo-portal demo-portal-secret "$R1"
AT_1=$(echo "$TOK" | jget access_token)
azc narrow "$R4" "openid profile"
RESP=$H
if printf %s "$RESP" | grep -q 'name="decision"'; then consent accept; fi
token narrow "$NARROW_SECRET" "$(qparam code "$(location "$RESP")")" "$R4" "$V"
AT_2=$(echo "$TOK" | jget access_token)
ui "$AT_1"
ok "logout revokes: before, userinfo answers the access token" eq "$(status "$H") $(body "$H" | jget given_name)" "200 Marianne"
ui "$AT_2"
ok "logout revokes: before, the second service's token too" eq "$(status "$H")" 200
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/logout")
ok "logout without a hint: the citizen confirms" contains "$H" 'name="confirm"'
H=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "csrf=$(field csrf "$H")" --data confirm=yes "$IDP/logout")
ok "logout confirmed: the logged-out page" eq "$(status "$H")" 200
ui "$AT_1"
ok "after logout: the session's access token is refused (401)" eq "$(status "$H")" 401
ok "after logout: invalid_token" eq "$(body "$H" | jget error)" invalid_token
ok "after logout: invalid_token in WWW-Authenticate" contains "$(hdr WWW-Authenticate "$H")" 'error="invalid_token"'
ui "$AT_2"
ok "after logout: the token of the session's other service is refused too" eq "$(status "$H") $(body "$H" | jget error)" "401 invalid_token"
ui "$AT_OTHER"
ok "after logout: another browser's session keeps its token" eq "$(status "$H") $(body "$H" | jget given_name)" "200 Marianne"
# A new login in the other browser (prompt=login) replaces its session.
CJ="$TMP/cookies-other"
authorize demo-portal "$R1" "&prompt=login"
login marianne 'Marianne-2026!'
token demo-portal demo-portal-secret "$(qparam code "$(location "$RESP")")" "$R1" "$V"
AT_NEW=$(echo "$TOK" | jget access_token)
ui "$AT_OTHER"
ok "a new login replacing the session revokes the old session's token" eq "$(status "$H") $(body "$H" | jget error)" "401 invalid_token"
ui "$AT_NEW"
ok "... and the new session's token works" eq "$(status "$H")" 200
CJ=$CJ_A

done_tests
