#!/bin/sh
# stores: both
# Token introspection (RFC 7662, the JWT answer of RFC 9701) for data
# providers, and revocation (RFC 7009), against the daemon: a data provider
# sees a token carrying one of its scopes, with a sub pairwise for its own
# sector; another one, a service, a wrong secret get nothing; expired,
# revoked and unknown tokens are inactive; a client revokes only its own.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
debian_python # this suite makes ~100 python calls
setup_tmp
R1=http://127.0.0.1:8081/callback
R4=http://127.0.0.1:8084/callback
cat >"$TMP/extra.json" <<JSON
{"clients+": [
 {"client_id": "dp-mail", "role": "data_provider", "scopes_served": ["email"],
  "client_secret_sha256": "$(hash dp-mail-secret)", "sector_identifier": "mail.provider"},
 {"client_id": "dp-phone", "role": "data_provider", "scopes_served": ["phone", "address"],
  "client_secret_sha256": "$(hash dp-phone-secret)", "id_token_signed_response_alg": "ES256"},
 {"client_id": "dp-pivot", "role": "data_provider", "scopes_served": ["identite_pivot"],
  "client_secret_sha256": "$(hash dp-pivot-secret)"},
 {"client_id": "svc-short", "client_secret_sha256": "$(hash svc-short-secret)",
  "redirect_uris": ["$R4"], "access_token_ttl_s": 1}
]}
JSON
start_idp "$STORE"

# introspect AUTH TOKEN [curl args...]: POST /introspect; sets OUT (body) and CODE (status).
introspect() {
	a=$1 t=$2
	shift 2
	OUT=$(curl -s -w '\n%{http_code}' -u "$a" --data-urlencode "token=$t" "$@" "$IDP/introspect")
	CODE=$(printf %s "$OUT" | tail -n1)
	OUT=$(printf %s "$OUT" | sed '$d')
}
revoke() { # revoke AUTH TOKEN [curl args...]: POST /revoke; sets CODE
	a=$1 t=$2
	shift 2
	CODE=$(curl -s -o /dev/null -w '%{http_code}' -u "$a" --data-urlencode "token=$t" "$@" "$IDP/revoke")
}
userinfo() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$IDP/userinfo"; }

D=$(curl -s "$IDP/.well-known/openid-configuration")
ok "discovery: introspection_endpoint" eq "$(echo "$D" | jget introspection_endpoint)" "$IDP/introspect"
ok "discovery: revocation_endpoint" eq "$(echo "$D" | jget revocation_endpoint)" "$IDP/revoke"
ok "discovery: introspection auth methods" contains "$(echo "$D" | jget introspection_endpoint_auth_methods_supported)" client_secret_basic

full_login demo-portal demo-portal-secret "$R1"
AT=$(echo "$TOK" | jget access_token)
ok "setup: an access token (openid profile email)" test -n "$AT"
SUB_SVC=$(curl -s -H "Authorization: Bearer $AT" "$IDP/userinfo" | jget sub)

introspect dp-mail:dp-mail-secret "$AT"
ok "data provider, its scope: 200" eq "$CODE" 200
ok "... active" eq "$(echo "$OUT" | jget active)" true
ok "... scope: only the scopes it serves" eq "$(echo "$OUT" | jget scope)" email
ok "... client_id: the service" eq "$(echo "$OUT" | jget client_id)" demo-portal
ok "... token_type" eq "$(echo "$OUT" | jget token_type)" Bearer
EXP=$(echo "$OUT" | jget exp) IAT=$(echo "$OUT" | jget iat)
ok "... exp and iat: the token's lifetime" test "$((EXP - IAT))" -gt 0
SUB_DP=$(echo "$OUT" | jget sub)
ok "... a sub of 64 hex digits" eq "$(printf %s "$SUB_DP" | tr -d '0-9a-f' | wc -c)$(printf %s "$SUB_DP" | wc -c)" 064
ok "... pairwise: not the service's sub" test "$SUB_DP" != "$SUB_SVC"
ok "... and none of the citizen's claims" not_contains "$OUT" marianne
introspect dp-mail:dp-mail-secret "$AT" -d token_type_hint=access_token
ok "token_type_hint=access_token: the same sub" eq "$(echo "$OUT" | jget sub)" "$SUB_DP"
OUT=$(curl -s -d client_id=dp-mail -d client_secret=dp-mail-secret --data-urlencode "token=$AT" "$IDP/introspect")
ok "client_secret_post: active" eq "$(echo "$OUT" | jget active)" true

introspect dp-phone:dp-phone-secret "$AT"
ok "another data provider (phone, address): 200" eq "$CODE" 200
ok "... inactive: the token carries none of its scopes" eq "$OUT" '{"active":false}'

introspect demo-portal-2:demo-portal-2-secret "$AT"
ok "a service calling /introspect: 403" eq "$CODE" 403
ok "... a JSON error" eq "$(echo "$OUT" | jget error)" unauthorized_client
introspect demo-portal:demo-portal-secret "$AT"
ok "... even the token's own service: 403" eq "$CODE" 403
introspect dp-mail:wrong-secret "$AT"
ok "wrong secret: 401" eq "$CODE" 401
ok "... invalid_client" eq "$(echo "$OUT" | jget error)" invalid_client
ok "... and no answer about the token" not_contains "$OUT" active
OUT=$(curl -s -w '\n%{http_code}' --data-urlencode "token=$AT" "$IDP/introspect")
ok "no client authentication: 401" eq "$(printf %s "$OUT" | tail -n1)" 401
OUT=$(curl -s -w '\n%{http_code}' -u dp-mail:dp-mail-secret "$IDP/introspect" -d x=1)
ok "no token parameter: 400" eq "$(printf %s "$OUT" | tail -n1)" 400
CODE=$(curl -s -o /dev/null -w '%{http_code}' -u dp-mail:dp-mail-secret "$IDP/introspect?token=$AT" -d x=1)
ok "the token in the URL: 400" eq "$CODE" 400
CODE=$(curl -s -o /dev/null -w '%{http_code}' -u dp-mail:dp-mail-secret "$IDP/introspect")
ok "GET: 405" eq "$CODE" 405

introspect dp-mail:dp-mail-secret "unknown-token-0123456789abcdefghijklmnopqrstu"
ok "unknown token: inactive" eq "$OUT" '{"active":false}'
introspect dp-mail:dp-mail-secret "$(head -c 600 /dev/zero | tr '\0' A)"
ok "a 600-byte token: 200, inactive" eq "$CODE:$OUT" '200:{"active":false}'
introspect dp-mail:dp-mail-secret "$(head -c 70000 /dev/zero | tr '\0' A)"
ok "a 70 kB token: refused by the body or parameter bound" test "$CODE" = 413 -o "$CODE" = 400
introspect dp-mail:dp-mail-secret "$AT" -d token=second
ok "the token twice: 400" eq "$CODE" 400

# The JWT answer (RFC 9701), checked with authlib against the JWKS.
cat >"$TMP/verify.py" <<'PY'
import base64, json, sys, urllib.request
from authlib.jose import JsonWebKey, JsonWebToken
issuer, aud, jwt = sys.argv[1:4]
head = json.loads(base64.urlsafe_b64decode(jwt.split(".")[0] + "==").decode())
keys = JsonWebKey.import_key_set(json.load(urllib.request.urlopen(issuer + "/jwks", timeout=5)))
claims = JsonWebToken(["RS256", "ES256"]).decode(jwt, keys)
claims.validate()
print(json.dumps({"typ": head["typ"], "alg": head["alg"], "iss": claims["iss"], "aud": claims["aud"],
                  "iat": isinstance(claims["iat"], int), "ti": claims["token_introspection"]}))
PY
introspect dp-mail:dp-mail-secret "$AT" -H 'Accept: application/token-introspection+jwt'
ok "JWT answer: 200" eq "$CODE" 200
CT=$(curl -s -o /dev/null -w '%{content_type}' -u dp-mail:dp-mail-secret --data-urlencode "token=$AT" \
	-H 'Accept: application/token-introspection+jwt' "$IDP/introspect")
ok "... content type application/token-introspection+jwt" eq "$CT" application/token-introspection+jwt
V=$($PY "$TMP/verify.py" "$IDP" dp-mail "$OUT" 2>&1)
ok "... verified by authlib against the JWKS" eq "$(echo "$V" | jget ti.active)" true
ok "... typ token-introspection+jwt" eq "$(echo "$V" | jget typ)" token-introspection+jwt
ok "... iss" eq "$(echo "$V" | jget iss)" "$IDP"
ok "... aud: the data provider" eq "$(echo "$V" | jget aud)" dp-mail
ok "... iat" eq "$(echo "$V" | jget iat)" true
ok "... token_introspection: the same sub" eq "$(echo "$V" | jget ti.sub)" "$SUB_DP"
introspect dp-phone:dp-phone-secret "$AT" -H 'Accept: application/token-introspection+jwt'
V=$($PY "$TMP/verify.py" "$IDP" dp-phone "$OUT" 2>&1)
ok "JWT answer, ES256 provider, not its scope: inactive" eq "$(echo "$V" | jget ti)" '{"active": false}'
ok "... signed ES256" eq "$(echo "$V" | jget alg)" ES256

# Revocation (each login in its own browser: no single sign-on between them).
CJ="$TMP/cookies2"
full_login demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback
AT2=$(echo "$TOK" | jget access_token)
ok "setup: a token of demo-portal-2" test -n "$AT2"
revoke demo-portal:demo-portal-secret "$AT2"
ok "revoking another client's token: 200" eq "$CODE" 200
ok "... and it still works at /userinfo" eq "$(userinfo "$AT2")" 200
revoke demo-portal-2:wrong "$AT2"
ok "revoking with a wrong secret: 401" eq "$CODE" 401
ok "... still works" eq "$(userinfo "$AT2")" 200
revoke demo-portal:demo-portal-secret "unknown-token-0123456789abcdefghijklmnopqrstu"
ok "revoking an unknown token: 200" eq "$CODE" 200
revoke demo-portal:demo-portal-secret "$(head -c 600 /dev/zero | tr '\0' A)" -d token_type_hint=refresh_token
ok "revoking a 600-byte token with a refresh_token hint: 200" eq "$CODE" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -u demo-portal:demo-portal-secret -d x=1 "$IDP/revoke")
ok "revoking without token: 400" eq "$CODE" 400
ok "before revocation: userinfo 200" eq "$(userinfo "$AT")" 200
revoke demo-portal:demo-portal-secret "$AT" -d token_type_hint=access_token
ok "the service revokes its own token: 200" eq "$CODE" 200
ok "... userinfo: 401" eq "$(userinfo "$AT")" 401
introspect dp-mail:dp-mail-secret "$AT"
ok "... introspection: inactive" eq "$OUT" '{"active":false}'
revoke demo-portal:demo-portal-secret "$AT"
ok "revoking it again: 200" eq "$CODE" 200
CODE=$(curl -s -o /dev/null -w '%{http_code}' -d client_id=demo-portal-2 -d client_secret=demo-portal-2-secret \
	--data-urlencode "token=$AT2" "$IDP/revoke")
ok "revoking with client_secret_post: 200" eq "$CODE" 200
ok "... userinfo: 401" eq "$(userinfo "$AT2")" 401

# Expiry: a one-second token.
CJ="$TMP/cookies3"
full_login svc-short svc-short-secret "$R4"
AT3=$(echo "$TOK" | jget access_token)
ok "setup: a one-second token" test -n "$AT3"
sleep 2.1
introspect dp-mail:dp-mail-secret "$AT3"
ok "expired token: inactive" eq "$OUT" '{"active":false}'

# librp: a data provider written with it (tests/rp/interop.c --introspect).
CJ="$TMP/cookies4"
full_login demo-portal demo-portal-secret "$R1"
AT4=$(echo "$TOK" | jget access_token)
RPI="$BUILD/tests/rp/rp_interop"
if [ -x "$RPI" ]; then
	"$RPI" --introspect "$IDP" dp-mail:dp-mail-secret demo-portal:demo-portal-secret "$AT4" >"$TMP/rp.log" 2>&1
	RC=$?
	grep '^not ok' "$TMP/rp.log" >&2
	ok "librp: rp_introspect, its cache, rp_revoke, rp_scope_has ($(grep -c '^ok' "$TMP/rp.log") checks)" eq "$RC" 0
else
	ok "librp: $RPI is built (make test-bins)" false
fi
ok "... the token revoked through librp: userinfo 401" eq "$(userinfo "$AT4")" 401

# authlib, a client nobody here wrote: introspect (as the data provider),
# then revoke (as the service), with client_secret_basic and _post.
CJ="$TMP/cookies6"
full_login demo-portal demo-portal-secret "$R1"
AT6=$(echo "$TOK" | jget access_token)
cat >"$TMP/authlib_rr.py" <<'PY'
import sys
from authlib.integrations.requests_client import OAuth2Session
issuer, tok = sys.argv[1:3]
dp = OAuth2Session("dp-mail", "dp-mail-secret", token_endpoint_auth_method="client_secret_post")
svc = OAuth2Session("demo-portal", "demo-portal-secret")
a = dp.introspect_token(issuer + "/introspect", token=tok, token_type_hint="access_token", timeout=5).json()
r = svc.revoke_token(issuer + "/revoke", token=tok, token_type_hint="access_token", timeout=5)
b = dp.introspect_token(issuer + "/introspect", token=tok, timeout=5).json()
print(a.get("active"), a.get("client_id"), r.status_code, b.get("active"))
PY
ok "authlib: introspect active, revoke 200, then inactive" eq "$($PY "$TMP/authlib_rr.py" "$IDP" "$AT6" 2>&1)" "True demo-portal 200 False"

# The identity pivot: only to a data provider serving identite_pivot.
CJ="$TMP/cookies5"
pkce
curl -s -c "$CJ" -b "$CJ" -o "$TMP/page" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20email%20identite_pivot&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256"
PAGE=$(cat "$TMP/page")
login marianne 'Marianne-2026!'
consent accept
token demo-portal demo-portal-secret "$(qparam code "$(location "$RESP")")" "$R1" "$V"
AT5=$(echo "$TOK" | jget access_token)
ok "setup: a token with identite_pivot" contains "$(echo "$TOK" | jget scope)" identite_pivot
introspect dp-pivot:dp-pivot-secret "$AT5"
ok "pivot provider: active, scope identite_pivot" eq "$(echo "$OUT" | jget active) $(echo "$OUT" | jget scope)" "true identite_pivot"
ok "... the pivot: family_name, birthdate, birthplace" eq "$(echo "$OUT" | jget family_name) $(echo "$OUT" | jget birthdate) $(echo "$OUT" | jget birthplace)" "Dupont 1990-07-14 75056"
ok "... not the email (not a pivot claim)" not_contains "$OUT" marianne.dupont
introspect dp-mail:dp-mail-secret "$AT5"
ok "the email provider on the same token: active, no pivot" eq "$(echo "$OUT" | jget active) $(echo "$OUT" | jget family_name)" "true "

# Configuration: roles checked at start.
bad_config() { # bad_config JSON-CLIENT EXPECTED-MESSAGE
	python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["clients"].append(json.loads(sys.argv[2]));json.dump(c,open(sys.argv[3],"w"))' \
		"$TMP/idp.json" "$1" "$TMP/bad.json"
	"$BUILD/idp/idp" --config "$TMP/bad.json" --check --plugin-dir "$BUILD/plugins" >"$TMP/check.log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && grep -q "$2" "$TMP/check.log"
}
H=$(hash x)
ok "config: an unknown role is refused" bad_config "{\"client_id\":\"b1\",\"role\":\"admin\",\"client_secret_sha256\":\"$H\",\"redirect_uris\":[\"$R4\"]}" '"role" must be'
ok "config: a data provider without scopes_served is refused" bad_config "{\"client_id\":\"b2\",\"role\":\"data_provider\",\"client_secret_sha256\":\"$H\"}" 'scopes_served'
ok "config: a data provider without a secret is refused" bad_config '{"client_id":"b3","role":"data_provider","scopes_served":["email"]}' 'client_secret_sha256'
ok "config: scopes_served on a service is refused" bad_config "{\"client_id\":\"b4\",\"client_secret_sha256\":\"$H\",\"redirect_uris\":[\"$R4\"],\"scopes_served\":[\"email\"]}" 'data_provider" only'
LOG=$(cat "$TMP/idp.log")
ok "the log says who revoked a token" contains "$LOG" "revoke: client demo-portal revoked its access token"
ok "... and holds no token" not_contains "$LOG$(cat "$TMP/rp.log" 2>/dev/null)" "$AT"

# The store gone (Redis stopped): 503, never an answer about the token.
if [ "$STORE" = redis ]; then
	kill "$REDIS_PID"
	await_exit "$REDIS_PID"
	introspect dp-mail:dp-mail-secret "$AT5"
	ok "store down: /introspect 503" eq "$CODE $(echo "$OUT" | jget error)" "503 temporarily_unavailable"
	revoke demo-portal:demo-portal-secret "$AT5"
	ok "store down: /revoke 503 (not a 200 that revoked nothing)" eq "$CODE" 503
fi
done_tests
