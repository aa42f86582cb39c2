#!/bin/sh
# stores: both
# The whole code flow with curl, single sign-on across two clients, prompt,
# max_age, userinfo three ways, code replay, logout. STORE=memory|redis.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
real_password_cost # the login at RFC 9106's cost: the metrics show the memory argon2id keeps
setup_tmp
# /metrics has its own listener (metrics.listen), never the citizens' one.
METRICS_PORT=$(free_port)
echo "{\"metrics\": {\"listen\": \"127.0.0.1:$METRICS_PORT\"}}" >"$TMP/extra.json"
start_idp "$STORE"
R1=http://127.0.0.1:8081/callback
# idpctl's cost: RFC 9106's by default; --argon2 (lib.sh's IDPCTL_ARGON2)
# lowers it, within argon2id's own bounds.
ok "idpctl: argon2id at RFC 9106's cost by default" contains "$(cat "$TMP/users.json")" '"$argon2id$v=19$m=65536,t=3,p=4$'
CHEAP=$(printf '%s\n' 'Cheap-pass-2026' | "$BUILD/idp/idpctl" --argon2 1:8:1 --users "$TMP/cheap.json" users add cheap)
ok "idpctl --argon2 1:8:1: that cost, and said" eq "$(grep -cF '"$argon2id$v=19$m=8,t=1,p=1$' "$TMP/cheap.json") $CHEAP" \
	"1 added cheap in $TMP/cheap.json (argon2id below RFC 9106's cost: for tests only)"
for bad in 0:8:1 1:7:1 1:8:0 1:16:4 1:8 1:8:1x; do
	printf '%s\n' 'Cheap-pass-2026' | "$BUILD/idp/idpctl" --argon2 "$bad" --users "$TMP/bad.json" users add bad 2>/dev/null
	ok "idpctl --argon2 $bad: refused, no file" eq "$? $(test -e "$TMP/bad.json" && echo written)" "1 "
done
R2=http://127.0.0.1:8082/callback

D=$(curl -s "$IDP/.well-known/openid-configuration")
ok "discovery issuer" eq "$(echo "$D" | jget issuer)" "$IDP"
ok "discovery S256 only" eq "$(echo "$D" | jget code_challenge_methods_supported)" '["S256"]'
ok "discovery end_session" eq "$(echo "$D" | jget end_session_endpoint)" "$IDP/logout"
# Only what is implemented: no popup display, no claims locales.
ok "discovery display: page only" eq "$(echo "$D" | jget display_values_supported)" '["page"]'
ok "discovery: no claims_locales_supported" eq "$(echo "$D" | jget claims_locales_supported)" ""
ok "discovery: UI in fr and en" eq "$(echo "$D" | jget ui_locales_supported)" '["fr", "en"]'
J=$(curl -s "$IDP/jwks")
ok "jwks kids are RFC 7638 thumbprints" python3 -c '
import json,sys,hashlib,base64
for k in json.loads(sys.argv[1])["keys"]:
    req={"EC":["crv","kty","x","y"],"RSA":["e","kty","n"]}[k["kty"]]
    s=json.dumps({m:k[m] for m in req},separators=(",",":"),sort_keys=True)
    t=base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()).rstrip(b"=").decode()
    assert t==k["kid"] and k["use"]=="sig" and k["alg"] in ("ES256","RS256"), k
' "$J"
ok "jwks has no private member" not_contains "$J" '"d"'

# A first login, at the first service.
authorize demo-portal "$R1"
ok "login page shown" contains "$PAGE" 'name="password"'
ok "login page names the service" contains "$PAGE" "Impôts (démo)"
login marianne 'wrong-password-1'
ok "wrong password: 401" eq "$(status "$RESP")" 401
ok "wrong password: message" contains "$RESP" 'role="alert"'
ok "wrong password: no redirect" eq "$(location "$RESP")" ""
PAGE=$RESP
login marianne 'Marianne-2026!'
ok "consent page after login" contains "$RESP" 'name="decision"'
ok "consent lists the data" contains "$RESP" "Date de naissance"
ok "session cookie HttpOnly SameSite" contains "$RESP" "HttpOnly; SameSite=Lax"
consent accept
LOC=$(location "$RESP")
ok "redirect to the registered uri" contains "$LOC" "$R1?code="
ok "redirect carries state" eq "$(qparam state "$LOC")" st4te
ok "redirect carries iss (RFC 9207)" eq "$(qparam iss "$LOC")" "$(python3 -c 'import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=""))' "$IDP")"
CODE=$(qparam code "$LOC")
ok "code has >= 128 bits" test "${#CODE}" -ge 22
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
IDT=$(echo "$TOK" | jget id_token)
AT=$(echo "$TOK" | jget access_token)
P1=$(jwt_payload "$IDT")
ok "token response" eq "$(echo "$TOK" | jget token_type)" Bearer
ok "id token iss" eq "$(echo "$P1" | jget iss)" "$IDP"
ok "id token aud" eq "$(echo "$P1" | jget aud)" demo-portal
ok "id token nonce" eq "$(echo "$P1" | jget nonce)" n0nce-0123456789abcdefghij
ok "id token acr" eq "$(echo "$P1" | jget acr)" eidas1
ok "id token amr" eq "$(echo "$P1" | jget amr)" '["pwd"]'
ok "id token at_hash" python3 -c '
import sys,hashlib,base64
d=hashlib.sha256(sys.argv[1].encode()).digest()[:16]
assert base64.urlsafe_b64encode(d).rstrip(b"=").decode()==sys.argv[2]' "$AT" "$(echo "$P1" | jget at_hash)"
ok "id token RS256 by default" eq "$(printf %s "$IDT" | cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["alg"])')" RS256
ok "id token auth_time" test -n "$(echo "$P1" | jget auth_time)"
SUB1=$(echo "$P1" | jget sub)

U=$(curl -s -H "Authorization: Bearer $AT" "$IDP/userinfo")
ok "userinfo GET" eq "$(echo "$U" | jget given_name)" Marianne
ok "userinfo sub = id token sub" eq "$(echo "$U" | jget sub)" "$SUB1"
ok "userinfo holds no unrequested scope (phone)" eq "$(echo "$U" | jget phone_number)" ""
U=$(curl -s -X POST -H "Authorization: Bearer $AT" "$IDP/userinfo")
ok "userinfo POST header" eq "$(echo "$U" | jget email)" marianne.dupont@example.fr
U=$(curl -s -d "access_token=$AT" "$IDP/userinfo")
ok "userinfo POST body" eq "$(echo "$U" | jget family_name)" Dupont
H=$(curl -s -i -H "Authorization: Bearer $AT" "$IDP/userinfo" | tr -d '\r')
ok "userinfo no-store" contains "$H" "Cache-Control: no-store"

# A second use of the code fails and revokes what the first issued.
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "code replay refused" eq "$(echo "$TOK" | jget error)" invalid_grant
ok "code replay revokes the access token" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$IDP/userinfo")" 401

# Single sign-on: the second service gets a code with no password.
authorize demo-portal-2 "$R2"
ok "SSO: no password asked at the second service" not_contains "$PAGE" 'name="password"'
RESP=$PAGE
ok "SSO: consent asked for the new service" contains "$RESP" 'name="decision"'
consent accept
LOC=$(location "$RESP")
CODE=$(qparam code "$LOC")
token demo-portal-2 demo-portal-2-secret "$CODE" "$R2" "$V"
IDT2=$(echo "$TOK" | jget id_token)
P2=$(jwt_payload "$IDT2")
ok "SSO: ES256 for the client that registered it" eq "$(printf %s "$IDT2" | cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["alg"])')" ES256
ok "pairwise sub differs across sectors" test "$(echo "$P2" | jget sub)" != "$SUB1"
ok "SSO keeps auth_time" eq "$(echo "$P2" | jget auth_time)" "$(echo "$P1" | jget auth_time)"

# prompt=none with a live session and remembered consent: straight to a code.
pkce
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=s2&code_challenge=$C&code_challenge_method=S256&prompt=none")
LOC=$(location "$H")
ok "prompt=none with session gives a code" test -n "$(qparam code "$LOC")"
CODE=$(qparam code "$LOC")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "same sub again at the same service" eq "$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget sub)" "$SUB1"
ok "no nonce requested, none in the token" eq "$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget nonce)" ""

authorize demo-portal "$R1" "&prompt=login"
ok "prompt=login asks for the password again" contains "$PAGE" 'name="password"'
authorize demo-portal "$R1" "&max_age=0"
ok "max_age=0 asks for the password again" contains "$PAGE" 'name="password"'
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=s3&code_challenge=$C&code_challenge_method=S256&max_age=10000")
ok "max_age=10000 with a fresh session gives a code" test -n "$(qparam code "$(location "$H")")"
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email%20phone&state=s4&code_challenge=$C&code_challenge_method=S256&prompt=none")
ok "prompt=none with new data to consent: consent_required" eq "$(qparam error "$(location "$H")")" consent_required

if [ "$STORE" = redis ]; then
	# An SSO session and an unused code survive a restart of the daemon.
	pkce
	H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=s5&code_challenge=$C&code_challenge_method=S256&prompt=none")
	CODE=$(qparam code "$(location "$H")")
	stop_idp
	ok "redis: daemon stopped cleanly" eq "$IDP_RC" 0
	run_idp
	token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
	ok "redis: an unused code survives a restart" test -n "$(echo "$TOK" | jget id_token)"
	H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=s6&code_challenge=$C&code_challenge_method=S256&prompt=none")
	ok "redis: the SSO session survives a restart" test -n "$(qparam code "$(location "$H")")"
fi

# RP-initiated logout with the ID token as hint: back to the registered URI.
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/logout?id_token_hint=$IDT&post_logout_redirect_uri=http://127.0.0.1:8081/&state=bye")
ok "logout redirects to the registered uri with state" eq "$(location "$H")" "http://127.0.0.1:8081/?state=bye"
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=s7&code_challenge=$C&code_challenge_method=S256&prompt=none")
ok "after logout, prompt=none: login_required" eq "$(qparam error "$(location "$H")")" login_required
H=$(curl -s -i "$IDP/logout?id_token_hint=$IDT&post_logout_redirect_uri=https://evil.example/")
ok "logout never redirects to an unregistered uri" eq "$(status "$H")" 400
ok "logout: no Location to an unregistered uri" eq "$(location "$H")" ""

# Operator metrics: Prometheus text, on metrics.listen only.
ok "metrics: not served on the citizens' listener" eq "$(curl -s -o /dev/null -w '%{http_code}' "$IDP/metrics")" 404
H=$(curl -s -i "http://127.0.0.1:$METRICS_PORT/metrics")
M=$(printf %s "$H" | tr -d '\r')
mval() { printf '%s\n' "$M" | awk -v k="$1" '$1 == k { print $2 }'; }
ok "metrics: 200 on metrics.listen" eq "$(status "$H")" 200
ok "metrics: Prometheus text format" contains "$M" "Content-Type: text/plain; version=0.0.4"
ok "metrics: no-store" contains "$M" "Cache-Control: no-store"
ok "metrics: code exchanges counted" test "$(mval 'idp_tokens_issued_total{grant="authorization_code"}')" -ge 1
ok "metrics: token 2xx counted by endpoint" test "$(mval 'idp_http_requests_total{endpoint="/token",code="2xx"}')" -ge 1
ok "metrics: logout counted" test "$(mval idp_logouts_total)" -ge 1
ok "metrics: SSO reuse counted" test "$(mval idp_sso_reuses_total)" -ge 1
ok "metrics: the file backend is up" eq "$(mval 'idp_backend_up{backend="local"}')" 1
ok "metrics: an active ES256 key listed" contains "$M" 'idp_signing_keys{alg="ES256",state="active"'
ok "metrics: store records gauge" test "$(mval idp_store_records)" -ge 1
if [ "$STORE" = memory ]; then
	# (with redis the daemon has restarted since the login)
	ok "metrics: password logins counted" test "$(mval 'idp_logins_total{result="success"}')" -ge 1
	# The login's argon2id memory stays for the next one (at least m = 8 KiB).
	ok "metrics: password hash memory kept" test "$(mval idp_password_hash_memory_bytes)" -ge 8192
fi
ok "metrics: no secret in the exposition" not_contains "$M" "$CODE"

done_tests
