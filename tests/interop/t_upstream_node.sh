#!/bin/sh
# An upstream provider nobody here wrote: npm oidc-provider (panva) behind the
# hub's oidc backend. The citizen chooses it, logs in there, and the service
# receives the upstream identity and acr through the hub.
. "$(dirname "$0")/../integration/lib.sh"
setup_tmp
NODE_DIR="$ROOT/tests/node"
if [ ! -d "$NODE_DIR/node_modules/oidc-provider" ]; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci failed"; FAIL=1; done_tests; exit 1; }
fi
HUB_PORT=$(free_port)
node "$ROOT/tests/rp/op.mjs" "$TMP/op-url" "http://127.0.0.1:$HUB_PORT/callback" >"$TMP/op.log" 2>&1 &
OP_PID=$!
PIDS="$PIDS $OP_PID"
# Node starts in about a second; a loaded CI machine may need far more.
wait_for 600 test -s "$TMP/op-url" || { echo "oidc-provider did not start within 60 s:"; cat "$TMP/op.log"; FAIL=1; done_tests; exit 1; }
OP=$(cat "$TMP/op-url")
printf '%s' 'b4sic:&=secret' >"$TMP/op-secret"
chmod 600 "$TMP/op-secret"
cat >"$TMP/extra.json" <<J
{"backends": [
  {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": "$TMP/users.json"},
  {"id": "cb", "plugin": "oidc", "title": "Fournisseur externe", "acr": "eidas2", "issuer": "$OP",
   "client_id": "svc-basic", "client_secret_file": "$TMP/op-secret", "auth_method": "basic",
   "scope": "openid profile email", "acr_values": "eidas2", "allow_http_loopback": true, "timeout_ms": 5000}]}
J
IDP_PORT=$HUB_PORT
make_config memory "$IDP_PORT"
run_idp
R1=http://127.0.0.1:8081/callback

authorize demo-portal "$R1" "&idp_hint=cb"
ok "idp_hint sends the citizen to the upstream" contains "$(location "$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=st4te&code_challenge=$C&code_challenge_method=S256&idp_hint=cb")")" "$OP/auth?"
URL=$(location "$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=st4te&code_challenge=$C&code_challenge_method=S256&idp_hint=cb")")
# Follow the upstream's redirects to its login form.
i=0
while [ $i -lt 10 ]; do
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$URL")
	NEXT=$(location "$RESP")
	[ -z "$NEXT" ] && break
	case "$NEXT" in /*) NEXT="$OP$NEXT" ;; esac
	URL=$NEXT
	i=$((i+1))
done
ok "the upstream shows its login form" contains "$RESP" 'name="password"'
ACTION=$(printf %s "$RESP" | sed -n 's/.*action="\([^"]*\)".*/\1/p' | head -n1)
RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode login=citizen1 --data-urlencode password=motdepasse "$OP$ACTION")
URL=$(location "$RESP")
i=0
while [ $i -lt 10 ]; do
	case "$URL" in /*) URL="$OP$URL" ;; esac
	case "$URL" in "http://127.0.0.1:$HUB_PORT/"*) break ;; esac
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$URL")
	URL=$(location "$RESP")
	[ -z "$URL" ] && break
	i=$((i+1))
done
ok "the upstream sends the citizen back to the hub" contains "$URL" "http://127.0.0.1:$HUB_PORT/callback/cb?"
RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$URL")
ok "the hub verified the upstream's tokens and asks consent" contains "$RESP" 'name="decision"'
consent accept
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
P=$(jwt_payload "$(echo "$TOK" | jget id_token)")
ok "the service gets an ID token" test -n "$(echo "$P" | jget sub)"
ok "the upstream's acr is carried over" eq "$(echo "$P" | jget acr)" eidas2
U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
ok "the upstream's claims reach the service" eq "$(echo "$U" | jget given_name)" Marianne
ok "... mapped from its userinfo" eq "$(echo "$U" | jget email)" marianne.dupont@example.fr
kill "$OP_PID" 2>/dev/null
done_tests
