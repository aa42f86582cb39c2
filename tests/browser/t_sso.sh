#!/bin/sh
# Single sign-on in a real browser across the two demo portals (rp-demo, on
# librp): log in once, reach the second portal without a password, log out,
# and the next login asks for the password again.
. "$(dirname "$0")/lib.sh"
browser_needs
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
rp_portal portal-a "$PA" eidas1 portal-a-secret-0123456789 "Impots demo"
rp_portal portal-b "$PB" eidas1 portal-b-secret-0123456789 "Assurance maladie demo"
wait_for 100 curl -sf "http://127.0.0.1:$PA/" || give_up "portal-a did not start: $(cat "$TMP/portal-a.log")"
wait_for 100 curl -sf "http://127.0.0.1:$PB/" || give_up "portal-b did not start: $(cat "$TMP/portal-b.log")"
browser_run sso.js 200 "http://127.0.0.1:$PA" "http://127.0.0.1:$PB" "$TMP"
done_tests
