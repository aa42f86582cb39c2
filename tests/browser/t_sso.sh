#!/bin/sh
# Single sign-on in a real browser across the two demo portals (rp-demo, on
# librp): log in once, reach the second portal without a password, log out,
# and the next login asks for the password again.
. "$(dirname "$0")/../integration/lib.sh"
NODE_DIR="$ROOT/tests/node"
if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ]; then
	(cd "$NODE_DIR" && timeout 600 npm ci --no-audit --no-fund) >&2 || { echo "t_sso: npm ci failed"; echo "t_sso: 0 passed, 1 failed"; exit 1; }
fi
[ -x /usr/bin/chromium ] || { echo "t_sso: /usr/bin/chromium is missing"; echo "t_sso: 0 passed, 1 failed"; exit 1; }
setup_tmp
PA=$(free_port)
PB=$(free_port)
SA=$(printf %s 'portal-a-secret-0123456789' | sha256sum | cut -d' ' -f1)
SB=$(printf %s 'portal-b-secret-0123456789' | sha256sum | cut -d' ' -f1)
cat >"$TMP/extra.json" <<J
{"clients+": [
 {"client_id": "portal-a", "client_name": "Impôts (démo)", "client_secret_sha256": "$SA", "sector_identifier": "a.demo",
  "redirect_uris": ["http://127.0.0.1:$PA/callback"], "post_logout_redirect_uris": ["http://127.0.0.1:$PA/logged-out"]},
 {"client_id": "portal-b", "client_name": "Assurance maladie (démo)", "client_secret_sha256": "$SB", "sector_identifier": "b.demo",
  "redirect_uris": ["http://127.0.0.1:$PB/callback"], "post_logout_redirect_uris": ["http://127.0.0.1:$PB/logged-out"]}]}
J
start_idp memory
DEMO="$BUILD/rp/examples/rp-demo"
RP_CLIENT_SECRET=portal-a-secret-0123456789 "$DEMO" --port "$PA" --name "Impots demo" --issuer "$IDP" \
	--client-id portal-a --acr eidas1 --http-loopback >"$TMP/pa.log" 2>&1 &
PIDS="$PIDS $!"
RP_CLIENT_SECRET=portal-b-secret-0123456789 "$DEMO" --port "$PB" --name "Assurance maladie demo" --issuer "$IDP" \
	--client-id portal-b --acr eidas1 --http-loopback >"$TMP/pb.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 100 curl -sf "http://127.0.0.1:$PA/" || { cat "$TMP/pa.log"; exit 1; }
wait_for 100 curl -sf "http://127.0.0.1:$PB/" || { cat "$TMP/pb.log"; exit 1; }
timeout -k 10 200 node "$ROOT/tests/browser/sso.js" "http://127.0.0.1:$PA" "http://127.0.0.1:$PB" "$TMP" >"$TMP/sso.out" 2>&1
rc=$?
while IFS= read -r line; do
	case "$line" in
	"PASS "*) ok "${line#PASS }" true ;;
	"FAIL "*) echo "  ${line#FAIL }" >&2; ok "${line#FAIL }" false ;;
	"sso: "*) ;;
	*) echo "$line" >&2 ;;
	esac
done <"$TMP/sso.out"
ok "the browser run ended normally (exit $rc)" test "$rc" -eq 0 -o "$rc" -eq 1
done_tests
