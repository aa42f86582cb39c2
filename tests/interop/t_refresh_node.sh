#!/bin/sh
# Refresh and revocation with a relying-party library nobody here wrote:
# openid-client (panva, npm) refreshes (rotation, the new ID token validated,
# a narrower scope, a wider one refused, reuse refused) and revokes a refresh
# token (RFC 7009) against the daemon (tests/interop/refresh_client.mjs).
. "$(dirname "$0")/../integration/lib.sh"
setup_tmp
NODE_DIR="$ROOT/tests/node"
if [ ! -d "$NODE_DIR/node_modules/openid-client" ]; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci failed"; FAIL=1; done_tests; exit 1; }
fi
start_idp memory
R1=http://127.0.0.1:8081/callback
# offline: a login with offline_access and prompt=consent; RT, SUB.
offline() {
	rm -f "$CJ"
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20offline_access&prompt=consent&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
	login marianne 'Marianne-2026!'
	consent accept
	token demo-portal demo-portal-secret "$(qparam code "$(location "$RESP")")" "$R1" "$V"
	RT=$(echo "$TOK" | jget refresh_token) SUB=$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget sub)
}
offline
RTA=$RT
offline
ok "setup: two refresh tokens" test -n "$RTA" -a -n "$RT"
timeout 120 node "$ROOT/tests/interop/refresh_client.mjs" "$IDP" demo-portal demo-portal-secret "$RTA" "$RT" "$SUB" \
	>"$TMP/node.out" 2>&1
NRC=$?
checks_from "$TMP/node.out"
ok "openid-client ran to its end" eq "$NRC" 0
done_tests
