#!/bin/sh
# stores: both
# Every refusal of the provider, one check each: bad clients and redirect
# URIs (an error page, never a redirect), protocol errors after the client is
# known (a redirect with error, state and iss), the token and userinfo
# endpoints' JSON errors, malformed or oversized input, CSRF, rate limits,
# HTML escaping, security headers, keep-alive, secrets kept out of the log,
# and the franceconnect client profile. STORE=memory|redis.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp

R1=http://127.0.0.1:8081/callback
R2=http://127.0.0.1:8082/callback
R3=http://127.0.0.1:8083/callback
FC_SECRET=fc-service-secret-6f1d0a9e2b7c4d3a8e5f
FC_HASH=$(printf %s "$FC_SECRET" | sha256sum | cut -d' ' -f1)
# Low login limits so that the last section can reach them; no other part of
# this file fails a login against the backend.
RL_USER=3
RL_IP=6
cat >"$TMP/extra.json" <<EOF
{
 "rate_limits": { "login_failures_per_ip_per_minute": $RL_IP, "login_failures_per_user_per_15min": $RL_USER },
 "clients+": [ {
  "client_id": "fc-service",
  "client_name": "Service FranceConnect (test)",
  "client_secret_sha256": "$FC_HASH",
  "redirect_uris": ["$R3"],
  "post_logout_redirect_uris": ["http://127.0.0.1:8083/"],
  "sector_identifier": "fc.test",
  "profile": "franceconnect"
 } ]
}
EOF
start_idp "$STORE"

PASSWORD='Marianne-2026!'
SECRETS=""  # codes and access tokens seen: none may reach the log
enc() { python3 -c 'import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }
ISS_ENC=$(enc "$IDP")
E1=$(enc "$R1")
# hdr NAME RESP: the value of a response header (first block only).
hdr() { printf %s "$2" | tr -d '\r' | sed '/^$/q' | grep -i "^$1:" | head -n1 | cut -d' ' -f2-; }

# is_error_page RESP STATUS CODE: an HTML error page naming CODE, no Location.
is_error_page() {
	eq "$(status "$1")" "$2" && eq "$(location "$1")" "" &&
		contains "$(hdr Content-Type "$1")" text/html && contains "$1" "$3</p>"
}
# is_redirect_error RESP ERROR [STATE [REDIRECT]]: back to the client with
# error, the state sent (none if empty) and iss (RFC 9207).
is_redirect_error() {
	_l=$(location "$1")
	_s=$(status "$1")
	[ "$_s" = 303 ] && _s=302 # the answer to a POST (RFC 9110 15.4.4)
	eq "$_s" 302 && contains "$_l" "${4:-$R1}?error=" &&
		eq "$(qparam error "$_l")" "$2" && eq "$(qparam state "$_l")" "${3-st4te}" &&
		eq "$(qparam iss "$_l")" "$ISS_ENC"
}
# is_json_error RESP STATUS ERROR
is_json_error() {
	eq "$(status "$1")" "$2" && contains "$(hdr Content-Type "$1")" application/json &&
		eq "$(body "$1" | jget error)" "$3"
}
is_login_page() { eq "$(status "$1")" 200 && contains "$1" 'name="password"'; }
# az QUERY: GET /authorize without cookies; sets H.
az() { H=$(curl -s -i "$IDP/authorize?$1"); }
# A valid request for demo-portal, to which each test adds or changes a part.
pkce
BASE="response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid%20profile&state=st4te&code_challenge=$C&code_challenge_method=S256"

# ---- The client and its redirect_uri: an error page, never a redirect.
az "response_type=code&client_id=nobody&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "unknown client_id: 400 page, no Location" is_error_page "$H" 400 unknown_client
az "response_type=code&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "missing client_id: 400 page, no Location" is_error_page "$H" 400 unknown_client
for bad in "http://evil.example/callback" "http://127.0.0.1:8081/call" \
	"http://127.0.0.1:8081/callback/extra" "http://127.0.0.1:8081/callbackx" \
	"http://127.0.0.1:8081/Callback" "HTTP://127.0.0.1:8081/CALLBACK" \
	"http://127.0.0.1:8081/callback?x=1" "http://127.0.0.1:8081/callback/" \
	"http://127.0.0.1:8081/callback#f" "http://127.0.0.1:8082/callback" \
	"https://127.0.0.1:8081/callback" "http://127.0.0.1:8081/callback%20"; do
	az "response_type=code&client_id=demo-portal&redirect_uri=$(enc "$bad")&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
	ok "redirect_uri $bad: 400 page, never a redirect" is_error_page "$H" 400 bad_redirect_uri
done
az "response_type=code&client_id=demo-portal&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "missing redirect_uri: 400 page" is_error_page "$H" 400 bad_redirect_uri
az "$BASE&client_id=demo-portal"
ok "duplicate client_id: 400 page" is_error_page "$H" 400 bad_request
az "$BASE&redirect_uri=$E1"
ok "duplicate redirect_uri: 400 page" is_error_page "$H" 400 bad_request
az "$BASE&client_id=demo-portal-2"
ok "two different client_id: 400 page" is_error_page "$H" 400 bad_request
# A client's own redirect_uri for another client.
az "response_type=code&client_id=demo-portal-2&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "another client's redirect_uri: 400 page" is_error_page "$H" 400 bad_redirect_uri

# ---- After the client is validated: a redirect with error, state and iss.
az "$BASE&state=other"
ok "duplicate state: invalid_request redirect" is_redirect_error "$H" invalid_request
az "$BASE&scope=openid"
ok "duplicate scope: invalid_request redirect" is_redirect_error "$H" invalid_request
# RFC 6749 4.1.2.1: a missing required parameter is invalid_request; an
# unsupported value is unsupported_response_type.
az "client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "missing response_type: invalid_request (RFC 6749 4.1.2.1)" is_redirect_error "$H" invalid_request
az "response_type=token&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "response_type=token: unsupported_response_type" is_redirect_error "$H" unsupported_response_type
az "response_type=code%20id_token&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "response_type=code id_token: unsupported_response_type" is_redirect_error "$H" unsupported_response_type
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=profile%20email&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "scope without openid: invalid_scope" is_redirect_error "$H" invalid_scope
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&state=st4te&code_challenge=$C&code_challenge_method=S256"
ok "no scope: invalid_scope" is_redirect_error "$H" invalid_scope
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te"
ok "no code_challenge: invalid_request" is_redirect_error "$H" invalid_request
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=plain"
ok "code_challenge_method=plain: invalid_request" is_redirect_error "$H" invalid_request
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=$C"
ok "code_challenge without method (plain by default): invalid_request" is_redirect_error "$H" invalid_request
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&state=st4te&code_challenge=short&code_challenge_method=S256"
ok "malformed code_challenge: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&request=eyJhbGciOiJub25lIn0.e30."
ok "request=...: request_not_supported" is_redirect_error "$H" request_not_supported
az "$BASE&request_uri=$(enc https://evil.example/req.jwt)"
ok "request_uri=...: request_uri_not_supported" is_redirect_error "$H" request_uri_not_supported
az "$BASE&prompt=none"
ok "prompt=none without session: login_required" is_redirect_error "$H" login_required
az "$BASE&prompt=none%20login"
ok "prompt=none login: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&prompt=bogus"
ok "prompt=bogus: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&max_age=abc"
ok "max_age=abc: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&max_age=-1"
ok "max_age=-1: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&claims=$(enc '{bad json')"
ok "claims={bad json: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&claims=$(enc '[1,2]')"
ok "claims not an object: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&response_mode=fragment"
ok "response_mode=fragment: invalid_request" is_redirect_error "$H" invalid_request
az "$BASE&id_token_hint=not.a.token"
ok "forged id_token_hint: invalid_request" is_redirect_error "$H" invalid_request
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&code_challenge=$C&code_challenge_method=S256&request_uri=x"
ok "error without state: no state in the redirect" is_redirect_error "$H" request_uri_not_supported ""

# ---- Optional parameters accepted (OpenID Basic OP), unknown ones ignored.
az "$BASE&login_hint=marianne"
ok "login_hint accepted and prefilled" contains "$H" 'value="marianne"'
az "$BASE&ui_locales=en"
ok "ui_locales=en renders English" contains "$H" '<html lang="en"'
az "$BASE&ui_locales=de%20en-GB"
ok "ui_locales=de en-GB: first supported, English" contains "$H" '<html lang="en"'
az "$BASE"
ok "no ui_locales: French" contains "$H" '<html lang="fr"'
az "$BASE&claims_locales=fr"
ok "claims_locales accepted" is_login_page "$H"
az "$BASE&display=page"
ok "display=page accepted" is_login_page "$H"
az "$BASE&acr_values=eidas1"
ok "acr_values=eidas1 accepted" is_login_page "$H"
az "$BASE&nonce=abc&max_age=3600&prompt=login&claims=$(enc '{"userinfo":{"email":null}}')"
ok "nonce, max_age, prompt=login, claims accepted" is_login_page "$H"
az "$BASE&foo=bar&x_custom=%C3%A9t%C3%A9&empty="
ok "unknown parameters ignored" is_login_page "$H"
H=$(curl -s -i -d "$BASE" "$IDP/authorize")
ok "POST /authorize shows the login page like GET" is_login_page "$H"
H=$(curl -s -i -d "$BASE&scope=openid" "$IDP/authorize")
ok "POST /authorize: duplicate parameter refused like GET" is_redirect_error "$H" invalid_request
az "$BASE&login_hint=$(enc '"><script>alert(1)</script>')"
ok "hostile login_hint is HTML-escaped" contains "$H" 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'
ok "hostile login_hint: no live script tag" not_contains "$H" '<script>'
az "response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid&code_challenge=$C&code_challenge_method=S256&prompt=none&state=$(enc '"><script>x</script>')"
ok "hostile state is URL-encoded in the redirect" contains "$(location "$H")" "state=%22%3E%3Cscript%3Ex%3C%2Fscript%3E"

# A full flow whose request carries unknown parameters and every optional one.
authorize demo-portal "$R1" "&foo=bar&x_unknown=1&display=page&claims_locales=fr&acr_values=eidas1&login_hint=marianne"
login marianne "$PASSWORD"
ok "login after unknown parameters: consent page" contains "$RESP" 'name="decision"'
consent accept
CODE=$(qparam code "$(location "$RESP")")
SECRETS="$SECRETS $CODE"
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
IDT=$(echo "$TOK" | jget id_token)
AT=$(echo "$TOK" | jget access_token)
SECRETS="$SECRETS $AT"
ok "unknown parameters ignored: the flow ends with an ID token" test -n "$IDT"
ok "acr_values honoured: acr in the ID token" eq "$(jwt_payload "$IDT" | jget acr)" eidas1

# With the SSO session: id_token_hint of this citizen gives a code directly.
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$E1&scope=openid%20profile%20email&state=h1&code_challenge=$C&code_challenge_method=S256&id_token_hint=$IDT&prompt=none")
ok "id_token_hint of the logged-in citizen accepted" test -n "$(qparam code "$(location "$H")")"
SECRETS="$SECRETS $(qparam code "$(location "$H")")"

# fresh_code CLIENT REDIRECT: a code by prompt=none on the SSO session; CODE, V.
fresh_code() {
	pkce
	_h=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$(enc "$2")&scope=openid%20profile%20email&state=fc&code_challenge=$C&code_challenge_method=S256&prompt=none")
	CODE=$(qparam code "$(location "$_h")")
	SECRETS="$SECRETS $CODE"
	[ -n "$CODE" ] || echo "  no code for $1: $(location "$_h")" >&2
}
# The second service: consent once, on the same session.
authorize demo-portal-2 "$R2"
RESP=$PAGE
consent accept
SECRETS="$SECRETS $(qparam code "$(location "$RESP")")"

# ---- The token endpoint.
# tk ARGS...: POST /token; sets H (headers and body).
tk() { H=$(curl -s -i -H 'Expect:' "$@" "$IDP/token"); }
fresh_code demo-portal "$R1"
tk -u demo-portal:wrong-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=$V"
ok "token: wrong secret: 401 invalid_client" is_json_error "$H" 401 invalid_client
ok "token: wrong secret: WWW-Authenticate Basic" contains "$(hdr WWW-Authenticate "$H")" Basic
tk -u nobody:whatever -d grant_type=authorization_code --data-urlencode "code=$CODE"
ok "token: unknown client (basic): 401 invalid_client" is_json_error "$H" 401 invalid_client
tk -d client_id=nobody -d client_secret=whatever -d grant_type=authorization_code --data-urlencode "code=$CODE"
ok "token: unknown client (post): 401 invalid_client" is_json_error "$H" 401 invalid_client
tk -d client_id=demo-portal -d client_secret=wrong -d grant_type=authorization_code --data-urlencode "code=$CODE"
ok "token: wrong secret (post): 401 invalid_client" is_json_error "$H" 401 invalid_client
tk -d grant_type=authorization_code --data-urlencode "code=$CODE"
ok "token: no client authentication: 401 invalid_client" is_json_error "$H" 401 invalid_client
tk -u demo-portal:demo-portal-secret -d client_secret=demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE"
ok "token: basic and post together: 400 invalid_request" is_json_error "$H" 400 invalid_request
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1/" --data-urlencode "code_verifier=$V"
ok "token: wrong redirect_uri: invalid_grant" is_json_error "$H" 400 invalid_grant
fresh_code demo-portal "$R1"
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1"
ok "token: missing redirect_uri: invalid_grant" is_json_error "$H" 400 invalid_grant
fresh_code demo-portal "$R1"
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=${V}x"
ok "token: wrong code_verifier: invalid_grant" is_json_error "$H" 400 invalid_grant
fresh_code demo-portal "$R1"
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1"
ok "token: missing code_verifier: invalid_grant" is_json_error "$H" 400 invalid_grant
fresh_code demo-portal-2 "$R2"
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R2" --data-urlencode "code_verifier=$V"
ok "token: code of another client: invalid_grant" is_json_error "$H" 400 invalid_grant
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code -d code=no-such-code \
	--data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=$V"
ok "token: unknown code: invalid_grant" is_json_error "$H" 400 invalid_grant
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "redirect_uri=$R1"
ok "token: missing code: invalid_request" is_json_error "$H" 400 invalid_request
tk -u demo-portal:demo-portal-secret --data-urlencode "code=x"
ok "token: missing grant_type: invalid_request" is_json_error "$H" 400 invalid_request
tk -u demo-portal:demo-portal-secret -d grant_type=password -d username=marianne --data-urlencode "password=$PASSWORD"
ok "token: grant_type=password: unsupported_grant_type" is_json_error "$H" 400 unsupported_grant_type
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code -d code=a -d code=b
ok "token: duplicate parameter: invalid_request" is_json_error "$H" 400 invalid_request
tk -u demo-portal:demo-portal-secret -H 'Content-Type: application/json' \
	-d '{"grant_type":"authorization_code","code":"x"}'
ok "token: JSON body: 415 JSON error" is_json_error "$H" 415 invalid_request
tk -u demo-portal:demo-portal-secret -H 'Content-Type: text/plain' -d grant_type=authorization_code
ok "token: text/plain body: 415 JSON error" is_json_error "$H" 415 invalid_request
tk -u demo-portal:demo-portal-secret -H 'Content-Type: multipart/form-data; boundary=x' -d grant_type=authorization_code
ok "token: multipart body: 415 JSON error" is_json_error "$H" 415 invalid_request
H=$(curl -s -i "$IDP/token?grant_type=authorization_code")
ok "token: GET: 405 JSON error" is_json_error "$H" 405 invalid_request
ok "token: GET: Allow: POST" eq "$(hdr Allow "$H")" POST
H=$(curl -s -i -u demo-portal:demo-portal-secret -d grant_type=x "$IDP/token?client_secret=demo-portal-secret")
ok "token: credentials in the URL: 400 invalid_request" is_json_error "$H" 400 invalid_request
fresh_code demo-portal "$R1"
tk -d client_id=demo-portal -d client_secret=demo-portal-secret -d grant_type=authorization_code \
	--data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=$V"
AT2=$(body "$H" | jget access_token)
SECRETS="$SECRETS $AT2"
ok "token: client_secret_post works" test -n "$(body "$H" | jget id_token)"
ok "token: success carries Cache-Control: no-store" eq "$(hdr Cache-Control "$H")" no-store
TOK_OK=$H
fresh_code demo-portal "$R1"
tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code --data-urlencode "code=$CODE" \
	--data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=$V"
ok "token: client_secret_basic works" test -n "$(body "$H" | jget id_token)"
SECRETS="$SECRETS $(body "$H" | jget access_token)"

# ---- The userinfo endpoint.
H=$(curl -s -i "$IDP/userinfo")
ok "userinfo: no token: 401" eq "$(status "$H")" 401
ok "userinfo: no token: WWW-Authenticate Bearer" contains "$(hdr WWW-Authenticate "$H")" Bearer
H=$(curl -s -i -H "Authorization: Bearer not-a-token-0123456789" "$IDP/userinfo")
ok "userinfo: bad token: 401 invalid_token" is_json_error "$H" 401 invalid_token
ok "userinfo: bad token: WWW-Authenticate error=invalid_token" contains "$(hdr WWW-Authenticate "$H")" 'error="invalid_token"'
H=$(curl -s -i "$IDP/userinfo?access_token=$AT2")
ok "userinfo: access_token in the query: 400" is_json_error "$H" 400 invalid_request
H=$(curl -s -i -H "Authorization: Bearer $AT2" -d "access_token=$AT2" "$IDP/userinfo")
ok "userinfo: token in header and body: 400" is_json_error "$H" 400 invalid_request
H=$(curl -s -i -H "Authorization: Basic ZGVtbzp4" "$IDP/userinfo")
ok "userinfo: Basic instead of Bearer: 401" eq "$(status "$H")" 401
H=$(curl -s -i -H "Authorization: Bearer $AT2" "$IDP/userinfo")
ok "userinfo: the good token still works" eq "$(body "$H" | jget given_name)" Marianne
UI_OK=$H

# ---- Bad input everywhere: a 400 page (browser endpoints) or JSON (token, userinfo).
for q in "state=%zz" "state=%4" "state=ab%" "state=%00" "state=a%00b" "state=%C3%28" "state=%FF" \
	"state=%ED%A0%80" "state=%C0%AF" "%zz=1"; do
	az "$BASE&$q"
	ok "authorize $q: 400 page" is_error_page "$H" 400 bad_request
done
for q in "code=%zz" "code=%4" "code=%00" "code=%C3%28" "code=%FF"; do
	tk -u demo-portal:demo-portal-secret -d grant_type=authorization_code -d "$q"
	ok "token body $q: 400 JSON" is_json_error "$H" 400 invalid_request
done
H=$(curl -s -i "$IDP/userinfo?x=%zz")
ok "userinfo ?x=%zz: 400 JSON" is_json_error "$H" 400 invalid_request
H=$(curl -s -i "$IDP/logout?state=%FF")
ok "logout ?state=%FF: 400 page" is_error_page "$H" 400 bad_request
H=$(curl -s -i -H 'Expect:' -d "txn=%C3%28&csrf=x" "$IDP/login")
ok "login body txn=%C3%28: 400 page" is_error_page "$H" 400 bad_request
H=$(printf 'grant_type=authorization_code&code=a\000b' | curl -s -i -u demo-portal:demo-portal-secret \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary @- "$IDP/token")
ok "token: NUL byte in the body: 400 JSON" is_json_error "$H" 400 invalid_request
H=$(printf 'txn=a\000b&csrf=x&username=u&password=p' | curl -s -i \
	-H 'Content-Type: application/x-www-form-urlencoded' --data-binary @- "$IDP/login")
ok "login: NUL byte in the body: 400 page" is_error_page "$H" 400 bad_request
LONG=$(head -c 10240 /dev/zero | tr '\0' a)
az "$BASE&pad=$LONG"
ok "authorize: 10 KB URL: 414 page" is_error_page "$H" 414 too_big
H=$(curl -s -i -H "Authorization: Bearer $AT2" "$IDP/userinfo?pad=$LONG")
ok "userinfo: 10 KB URL: 414 JSON" is_json_error "$H" 414 invalid_request
H=$(curl -s -i -u demo-portal:demo-portal-secret -d grant_type=x "$IDP/token?pad=$LONG")
ok "token: 10 KB URL: 414 JSON" is_json_error "$H" 414 invalid_request
# The request head is read into a pool of max_url_bytes + 16 KiB: 8 KB of
# cookies (more than a browser keeps for one host) pass, 16 KB get 431.
PAD8=$(head -c 8192 /dev/zero | tr '\0' b)
H=$(curl -s -i -H "Cookie: pad=$PAD8" "$IDP/.well-known/openid-configuration")
ok "discovery: 8 KB of cookies: 200" sh -c 'printf %s "$1" | head -n1 | grep -q " 200"' _ "$H"
H=$(curl -s -i -H "Cookie: pad=$PAD8$PAD8" "$IDP/.well-known/openid-configuration")
ok "discovery: 16 KB of cookies: 431" sh -c 'printf %s "$1" | head -n1 | grep -q " 431"' _ "$H"
ok "the daemon lives after the large heads" curl -sf -o /dev/null "$IDP/healthz"
MANY=$(python3 -c 'print("&".join("p%d=%d" % (i, i) for i in range(200)))')
az "$BASE&$MANY"
ok "authorize: 200 parameters: 413 page" is_error_page "$H" 413 too_big
tk -u demo-portal:demo-portal-secret -d "grant_type=authorization_code&$MANY"
ok "token: 200 parameters: 413 JSON" is_json_error "$H" 413 invalid_request
head -c 102400 /dev/zero | tr '\0' a | sed 's/^/pad=/' >"$TMP/big"
tk -u demo-portal:demo-portal-secret --data-binary @"$TMP/big"
ok "token: 100 KB body: 413 JSON" is_json_error "$H" 413 invalid_request
H=$(curl -s -i -H 'Expect:' --data-binary @"$TMP/big" "$IDP/login")
ok "login: 100 KB body: 413 page" is_error_page "$H" 413 too_big
H=$(curl -s -i -H 'Expect:' -H "Authorization: Bearer $AT2" --data-binary @"$TMP/big" "$IDP/userinfo")
ok "userinfo: 100 KB body: 413 JSON" is_json_error "$H" 413 invalid_request
H=$(curl -s -i -H 'Expect:' -H 'Content-Type: application/json' -d '{"txn":"x"}' "$IDP/login")
ok "login: JSON body: 415 page" is_error_page "$H" 415 bad_request
H=$(curl -s -i "$IDP/no/such/page")
ok "unknown path: 404 page" is_error_page "$H" 404 not_found
NOTFOUND=$H
H=$(curl -s -i "$IDP/login")
ok "GET /login: 405 page" is_error_page "$H" 405 method
H=$(curl -s -i -X DELETE "$IDP/authorize?$BASE")
ok "DELETE /authorize: 404 or 405 page" test "$(status "$H")" = 404 -o "$(status "$H")" = 405
ok "the daemon is still alive after the bad input" eq "$(curl -s "$IDP/healthz")" ok

# ---- The login form: CSRF and transactions.
CJ_MAIN=$CJ
CJ="$TMP/cookies-login"
authorize demo-portal "$R1"
TXN=$(field txn "$PAGE")
CSRF=$(field csrf "$PAGE")
# lp ARGS...: POST /login with the form's cookie; sets H.
lp() { H=$(curl -s -i -b "$CJ" -c "$CJ" -H 'Expect:' "$@" "$IDP/login"); }
lp --data-urlencode "txn=$TXN" -d csrf=0000000000000000000000000000000000000000000 \
	-d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: wrong csrf: 403 page" is_error_page "$H" 403 csrf
lp --data-urlencode "txn=$TXN" -d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: missing csrf: 403 page" is_error_page "$H" 403 csrf
H=$(curl -s -i -H 'Expect:' --data-urlencode "txn=$TXN" --data-urlencode "csrf=$CSRF" \
	-d username=marianne --data-urlencode "password=$PASSWORD" "$IDP/login")
ok "login: csrf without its binding cookie: 403 page" is_error_page "$H" 403 csrf
lp -d txn=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA --data-urlencode "csrf=$CSRF" \
	-d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: unknown txn: 400 page" is_error_page "$H" 400 expired
lp --data-urlencode "csrf=$CSRF" -d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: missing txn: 400 page" is_error_page "$H" 400 bad_request
lp --data-urlencode "txn=$TXN" --data-urlencode "txn=$TXN" --data-urlencode "csrf=$CSRF" \
	-d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: duplicate txn: 400 page" is_error_page "$H" 400 bad_request
lp --data-urlencode "txn=$TXN" --data-urlencode "csrf=$CSRF" -d username=marianne
ok "login: missing password: 400 form with a message" test "$(status "$H")" = 400 -a -n "$(printf %s "$H" | grep 'role="alert"')"
H=$(curl -s -i -H 'Expect:' -d "txn=x&csrf=y&decision=accept" "$IDP/consent")
ok "consent without session: 400 page" is_error_page "$H" 400 expired
lp --data-urlencode "txn=$TXN" --data-urlencode "csrf=$CSRF" -d username=marianne --data-urlencode "password=$PASSWORD"
ok "login: the right form still works after the refusals" test "$(status "$H")" = 200 -o "$(status "$H")" = 303
# A consent post with a forged csrf, on a real session.
authorize demo-portal "$R1" "&prompt=consent"
RESP=$PAGE
H=$(curl -s -i -b "$CJ" -H 'Expect:' --data-urlencode "txn=$(field txn "$RESP")" -d csrf=forged \
	-d decision=accept "$IDP/consent")
ok "consent: wrong csrf: 403 page" is_error_page "$H" 403 csrf
CJ=$CJ_MAIN

# ---- Security headers on every kind of response.
az "$BASE"
PAGE_LOGIN=$H
az "response_type=code&client_id=nobody"
PAGE_ERR=$H
az "$BASE&request=x"
REDIR=$H
DISC=$(curl -s -i "$IDP/.well-known/openid-configuration")
JWKS=$(curl -s -i "$IDP/jwks")
CSS=$(curl -s -i "$IDP/static/style.css")
tk -u demo-portal:wrong -d grant_type=authorization_code -d code=x
TOK_ERR=$H
UI_ERR=$(curl -s -i "$IDP/userinfo")
LOGGED_OUT=$(curl -s -i "$IDP/logout")
BIG=$(curl -s -i "$IDP/authorize?$BASE&pad=$LONG")
# sec_headers RESP: CSP with frame-ancestors 'none', nosniff, no-referrer.
sec_headers() {
	contains "$(hdr Content-Security-Policy "$1")" "frame-ancestors 'none'" &&
		eq "$(hdr X-Content-Type-Options "$1")" nosniff &&
		eq "$(hdr Referrer-Policy "$1")" no-referrer
}
resp=""
for v in PAGE_LOGIN PAGE_ERR REDIR DISC JWKS CSS TOK_ERR TOK_OK UI_ERR UI_OK NOTFOUND LOGGED_OUT BIG; do
	eval "resp=\$$v"
	ok "security headers: $v" sec_headers "$resp"
done
for v in PAGE_LOGIN PAGE_ERR NOTFOUND LOGGED_OUT TOK_ERR TOK_OK UI_ERR UI_OK BIG; do
	eval "resp=\$$v"
	ok "Cache-Control: no-store: $v" eq "$(hdr Cache-Control "$resp")" no-store
done

# ---- Keep-alive: two requests on one connection, pages, JSON and errors alike.
# conns URL...: the number of connections curl opened for the URLs.
conns() {
	_n=$(curl -s -w '%{num_connects}' "$@" -o /dev/null -o /dev/null -o /dev/null)
	printf %s "$_n" | awk '{ n = 0; for (i = 1; i <= length($0); i++) n += substr($0, i, 1); print n }'
}
ok "keep-alive: discovery twice on one connection" eq "$(conns "$IDP/.well-known/openid-configuration" "$IDP/jwks")" 1
ok "keep-alive: login page then 404" eq "$(conns "$IDP/authorize?$BASE" "$IDP/nowhere")" 1
ok "keep-alive: error page then redirect" eq "$(conns "$IDP/authorize?response_type=code" "$IDP/authorize?$BASE&request=x")" 1
ok "keep-alive: userinfo 401 twice" eq "$(conns "$IDP/userinfo" "$IDP/userinfo")" 1
ok "keep-alive: POST /token errors twice" eq "$(conns -d grant_type=x "$IDP/token" "$IDP/token")" 1
H=$(curl -s -i "$IDP/jwks")
ok "no Connection: close on a 200" not_contains "$(hdr Connection "$H")" close
H=$(curl -s -i "$IDP/nowhere")
ok "no Connection: close on a 404" not_contains "$(hdr Connection "$H")" close

# ---- The franceconnect profile.
FCB="response_type=code&client_id=fc-service&redirect_uri=$(enc "$R3")&scope=openid%20identite_pivot&code_challenge=$C&code_challenge_method=S256"
NONCE=fc-nonce-0123456789abcdefghijklmn
az "$FCB&nonce=$NONCE&acr_values=eidas1"
ok "franceconnect: missing state: invalid_request" is_redirect_error "$H" invalid_request "" "$R3"
az "$FCB&state=st4te&acr_values=eidas1"
ok "franceconnect: missing nonce: invalid_request" is_redirect_error "$H" invalid_request st4te "$R3"
az "$FCB&state=st4te&nonce=0123456789abcdefghij1&acr_values=eidas1"
ok "franceconnect: nonce of 21 characters: invalid_request" is_redirect_error "$H" invalid_request st4te "$R3"
az "$FCB&state=st4te&nonce=$NONCE"
ok "franceconnect: missing acr_values: invalid_request" is_redirect_error "$H" invalid_request st4te "$R3"
az "$FCB&state=st4te&nonce=0123456789abcdefghij12&acr_values=eidas1"
ok "franceconnect: nonce of 22 characters accepted" is_login_page "$H"
pkce
H=$(curl -s -i -b "$CJ" -c "$CJ" "$IDP/authorize?response_type=code&client_id=fc-service&redirect_uri=$(enc "$R3")&scope=openid%20identite_pivot%20email&state=fcst&nonce=$NONCE&acr_values=eidas1&code_challenge=$C&code_challenge_method=S256")
ok "franceconnect: consent for the new service" contains "$H" 'name="decision"'
RESP=$H
consent accept
FCODE=$(qparam code "$(location "$RESP")")
SECRETS="$SECRETS $FCODE"
ok "franceconnect: a code" test -n "$FCODE"
tk -d client_id=fc-service --data-urlencode "client_secret=$FC_SECRET" -d grant_type=authorization_code \
	--data-urlencode "code=$FCODE" --data-urlencode "redirect_uri=$R3" --data-urlencode "code_verifier=$V"
FIDT=$(body "$H" | jget id_token)
FAT=$(body "$H" | jget access_token)
SECRETS="$SECRETS $FAT"
ok "franceconnect: client_secret_post exchange" test -n "$FIDT"
ok "franceconnect: access token lifetime 60 s" eq "$(body "$H" | jget expires_in)" 60
JWKS_DOC=$(curl -s "$IDP/jwks")
# verify_jws JWS ALG AUD NONCE: signature against the JWKS, alg, iss, aud, nonce.
verify_jws() {
	/usr/bin/python3 - "$1" "$2" "$3" "$4" "$JWKS_DOC" "$IDP" <<'PY'
import sys, json, time
from authlib.jose import JsonWebToken, JsonWebKey
tok, alg, aud, nonce, jwks, iss = sys.argv[1:7]
import base64
h = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
assert h["alg"] == alg, h
c = JsonWebToken([alg]).decode(tok, JsonWebKey.import_key_set(json.loads(jwks)),
    claims_options={"iss": {"essential": True, "value": iss}, "aud": {"essential": True, "value": aud}})
c.validate(now=int(time.time()))
if nonce:
    assert c["nonce"] == nonce, c
PY
}
ok "franceconnect: ES256 ID token verified against the JWKS" verify_jws "$FIDT" ES256 fc-service "$NONCE"
ok "franceconnect: ID token lifetime 60 s" eq "$(( $(jwt_payload "$FIDT" | jget exp) - $(jwt_payload "$FIDT" | jget iat) ))" 60
H=$(curl -s -i -H "Authorization: Bearer $FAT" "$IDP/userinfo")
ok "franceconnect: userinfo as application/jwt" contains "$(hdr Content-Type "$H")" application/jwt
UJ=$(body "$H")
ok "franceconnect: signed userinfo verified (ES256, iss, aud)" verify_jws "$UJ" ES256 fc-service ""
ok "franceconnect: userinfo sub = ID token sub" eq "$(jwt_payload "$UJ" | jget sub)" "$(jwt_payload "$FIDT" | jget sub)"
ok "franceconnect: userinfo holds the identity pivot" eq "$(jwt_payload "$UJ" | jget birthplace)" 75056
ok "demo-portal (standard) ID token is RS256, verified" verify_jws "$IDT" RS256 demo-portal ""

# ---- Rate limits (last: they lock the address out for a minute).
CJ="$TMP/cookies-rl"
authorize demo-portal "$R1"
i=0
while [ $i -lt $RL_USER ]; do
	login ghost-user "wrong-password-$i"
	[ "$(status "$RESP")" = 401 ] || echo "  failure $i: $(status "$RESP")" >&2
	PAGE=$RESP
	i=$((i+1))
done
login ghost-user "wrong-password-x"
ok "rate limit: $RL_USER failures for one user, then 429" eq "$(status "$RESP")" 429
ok "rate limit: 429 says so on the form" contains "$RESP" 'role="alert"'
PAGE=$RESP
login marianne "$PASSWORD"
ok "rate limit: another user from the same address still logs in" test "$(status "$RESP")" = 200 -o "$(status "$RESP")" = 303
CJ="$TMP/cookies-rl2"
authorize demo-portal "$R1"
i=$RL_USER
while [ $i -lt $RL_IP ]; do
	login "ghost-$i" "wrong-password-$i"
	PAGE=$RESP
	i=$((i+1))
done
login marianne "$PASSWORD"
ok "rate limit: $RL_IP failures from one address, then 429 for everyone" eq "$(status "$RESP")" 429
CJ=$CJ_MAIN

# ---- Nothing secret in the log.
stop_idp
ok "daemon exits cleanly on SIGTERM" eq "$IDP_RC" 0
# never_logged WHAT VALUE...
never_logged() {
	what=$1; shift
	for s in "$@"; do
		[ -n "$s" ] || continue
		if grep -F -q -- "$s" "$TMP/idp.log"; then
			echo "  the log holds a $what: $(grep -F -- "$s" "$TMP/idp.log" | head -n2)" >&2
			return 1
		fi
	done
	return 0
}
ok "log: no password" never_logged password "$PASSWORD" wrong-password-0 wrong-password-x
ok "log: no client secret" never_logged "client secret" demo-portal-secret demo-portal-2-secret "$FC_SECRET"
# shellcheck disable=SC2086
ok "log: no code or access token ($(echo $SECRETS | wc -w) checked)" never_logged "code or token" $SECRETS
ok "log: no PKCE verifier" never_logged verifier "$V"
ok "log: has lines (the check saw a real log)" test -s "$TMP/idp.log"

done_tests
