#!/bin/sh
# stores: both
# /token takes the code only for the client it was issued to, authenticated
# (issue 15, finding 9f): a request with a wrong secret, or another service
# presenting a stolen code with its own valid credentials, is refused and
# leaves the code usable by the rightful client.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
start_idp "$STORE"
R1=http://127.0.0.1:8081/callback
R2=http://127.0.0.1:8082/callback
authorize demo-portal "$R1"
login marianne 'Marianne-2026!'
consent accept
CODE=$(qparam code "$(location "$RESP")")
ok "setup: a code" test -n "$CODE"
token demo-portal wrong-secret "$CODE" "$R1" "$V"
ok "wrong secret (Basic): invalid_client" eq "$(echo "$TOK" | jget error)" invalid_client
TOK=$(curl -s -d client_id=demo-portal -d client_secret=wrong-secret -d grant_type=authorization_code \
	--data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$R1" --data-urlencode "code_verifier=$V" "$IDP/token")
ok "wrong secret (post): invalid_client" eq "$(echo "$TOK" | jget error)" invalid_client
token demo-portal-2 demo-portal-2-secret "$CODE" "$R2" "$V"
ok "another authenticated client presenting the code: invalid_grant" eq "$(echo "$TOK" | jget error)" invalid_grant
token demo-portal-2 demo-portal-2-secret "$CODE" "$R1" "$V"
ok "... even with the code's redirect_uri: invalid_grant" eq "$(echo "$TOK" | jget error)" invalid_grant
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "then the rightful client with its secret: tokens" test -n "$(echo "$TOK" | jget access_token)"
AT=$(echo "$TOK" | jget access_token)
ok "... an ID token" test -n "$(echo "$TOK" | jget id_token)"
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
ok "the code a second time: invalid_grant" eq "$(echo "$TOK" | jget error)" invalid_grant
ok "... and the replay revoked the access token" eq "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$IDP/userinfo")" 401
done_tests
