#!/bin/sh
# Data shared between administrations, the demo's loop (issue 17): the hub,
# the demo data provider (rp/examples/dp-demo, the family allowance office,
# registered as demo-cnaf in conf/demo.json) and demo portals asking for its
# quotient familial. In a real browser (tests/browser/data.js): the consent
# page names the office and the data, the citizen ticks it and the portal
# shows the quotient; left unticked, the citizen is logged in without it and
# the office refuses the token (403); then the citizen's /account (the
# release with the office and its time, the receipt verified against the
# hub's JWKS by idpctl, the consent withdrawn) and the portal refused when
# it asks the office again (401). With curl: a service not allowed the
# scope does not get it, even when the form says so; a first-party service
# still asks; the office refuses a missing or unknown token; the README's
# data provider (built from the page) answers the same.
. "$(dirname "$0")/lib.sh"
browser_needs
setup_tmp
PD=$(free_port)
PE=$(free_port)
PX=$(free_port)
DS="openid profile email identite_pivot cnaf_quotient_familial"
ALLOWED='["openid", "profile", "email", "identite_pivot", "cnaf_quotient_familial"]'
cat >"$TMP/extra.json" <<J
{"clients+": [
 {"client_id": "portal-d", "client_name": "Cantine scolaire (démo)", "client_secret_sha256": "$(hash portal-d-secret-0123456789)",
  "sector_identifier": "d.demo", "redirect_uris": ["http://127.0.0.1:$PD/callback"], "scopes": $ALLOWED},
 {"client_id": "portal-e", "client_name": "Crèche municipale (démo)", "client_secret_sha256": "$(hash portal-e-secret-0123456789)",
  "sector_identifier": "e.demo", "redirect_uris": ["http://127.0.0.1:$PE/callback"], "scopes": $ALLOWED},
 {"client_id": "portal-n", "client_secret_sha256": "$(hash portal-n-secret-0123456789)",
  "redirect_uris": ["http://127.0.0.1:$PX/callback"]},
 {"client_id": "portal-fp", "client_secret_sha256": "$(hash portal-fp-secret-0123456789)", "first_party": true,
  "redirect_uris": ["http://127.0.0.1:$PX/fp"], "scopes": $ALLOWED}]}
J
start_idp memory

# The office, as make run starts it (its client is the demo configuration's),
# asking the hub at each request: a withdrawal is then refused at once
# (librp's cache would otherwise keep an answer up to 30 s).
RP_CLIENT_SECRET=demo-cnaf-secret "$BUILD/rp/examples/dp-demo" --port 0 --port-file "$TMP/dp.url" \
	--issuer "$IDP" --client-id demo-cnaf --http-loopback --cache-s 0 >"$TMP/dp.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 100 test -s "$TMP/dp.url" || give_up "dp-demo did not start: $(cat "$TMP/dp.log")"
DP="$(cat "$TMP/dp.url")/quotient-familial"
rp_portal portal-d "$PD" eidas1 portal-d-secret-0123456789 "Cantine scolaire (démo)" --scope "$DS" --data-url "$DP"
rp_portal portal-e "$PE" eidas1 portal-e-secret-0123456789 "Crèche municipale (démo)" --scope "$DS" --data-url "$DP"
for p in $PD $PE; do
	wait_for 100 curl -sf "http://127.0.0.1:$p/" || give_up "a portal did not start: $(cat "$TMP"/portal-*.log)"
done

# ---- in the browser ----
browser_run data.js 210 "http://127.0.0.1:$PD" "http://127.0.0.1:$PE" "$TMP" "$IDP" "$BUILD/idp/idpctl" "$TMP/idp.json"

# ---- with curl ----
# authorize_scope CLIENT REDIRECT SCOPE: GET /authorize with that scope and
# prompt=consent (the browser walk came first); sets PAGE.
authorize_scope() {
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" -G "$IDP/authorize" -d response_type=code -d client_id="$1" \
		--data-urlencode "redirect_uri=$2" --data-urlencode "scope=$3" -d state=st4te -d prompt=consent \
		-d nonce=n0nce-0123456789abcdefghij -d code_challenge="$C" -d code_challenge_method=S256)
}
# consent_share [FIELD=VALUE...]: accepts the consent form in RESP with these fields too.
consent_share() {
	cs_txn=$(field txn "$RESP") cs_csrf=$(field csrf "$RESP")
	set -- "$@" decision=accept
	cs_args=""
	for f in "$@"; do cs_args="$cs_args --data-urlencode $f"; done
	# shellcheck disable=SC2086
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$cs_txn" --data-urlencode "csrf=$cs_csrf" \
		$cs_args "$IDP/consent")
}
dp_get() { # dp_get URL [TOKEN]: sets OUT (body), CODE, WWW (the WWW-Authenticate header)
	if [ -n "${2:-}" ]; then set -- "$1" -H "Authorization: Bearer $2"; fi
	OUT=$(curl -s -D "$TMP/h" "$@")
	CODE=$(head -n1 "$TMP/h" | cut -d' ' -f2)
	WWW=$(tr -d '\r' <"$TMP/h" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p')
}

R=http://127.0.0.1:$PD/callback
authorize_scope portal-d "$R" "$DS"
login marianne 'Marianne-2026!'
ok "the consent page names the office" contains "$(body "$RESP")" "Caisse d&#39;allocations familiales, démo"
ok "... and the data, in plain words" contains "$(body "$RESP")" "votre quotient familial"
ok "... behind a box left unticked" contains "$(body "$RESP")" 'type="checkbox" id="share-1" name="share:cnaf_quotient_familial" value="oui">'
consent_share "share:cnaf_quotient_familial=oui"
token portal-d portal-d-secret-0123456789 "$(qparam code "$(location "$RESP")")" "$R" "$V"
AT_YES=$(echo "$TOK" | jget access_token)
ok "ticked: the token carries the data scope" contains " $(echo "$TOK" | jget scope) " " cnaf_quotient_familial "
dp_get "$DP" "$AT_YES"
ok "... the office answers 200" eq "$CODE" 200
ok "... Marianne's quotient familial" eq "$(echo "$OUT" | jget quotient_familial)" 712

# The same browser from here on: single sign-on, prompt=consent shows the page.
authorize_scope portal-d "$R" "$DS"
RESP=$PAGE
consent_share
token portal-d portal-d-secret-0123456789 "$(qparam code "$(location "$RESP")")" "$R" "$V"
AT_NO=$(echo "$TOK" | jget access_token)
ok "unticked: logged in all the same (an ID token)" test -n "$(echo "$TOK" | jget id_token)"
ok "... without the data scope" not_contains "$(echo "$TOK" | jget scope)" cnaf_quotient_familial
ok "... with the identity" contains "$(echo "$TOK" | jget scope)" identite_pivot
dp_get "$DP" "$AT_NO"
ok "... the office refuses it: 403" eq "$CODE" 403
ok "... insufficient_scope, naming the scope (RFC 6750 3.1)" contains "$WWW" 'error="insufficient_scope", scope="cnaf_quotient_familial"'

RN=http://127.0.0.1:$PX/callback
authorize_scope portal-n "$RN" "$DS"
RESP=$PAGE
ok "a service not allowed the scope: its consent page" contains "$PAGE" 'action="/consent"'
ok "... without a box" not_contains "$PAGE" checkbox
consent_share "share:cnaf_quotient_familial=oui"
token portal-n portal-n-secret-0123456789 "$(qparam code "$(location "$RESP")")" "$RN" "$V"
ok "... a box forged into the form grants nothing" not_contains "$(echo "$TOK" | jget scope)" cnaf_quotient_familial
ok "... the rest of its request is served" contains "$(echo "$TOK" | jget scope)" identite_pivot
dp_get "$DP" "$(echo "$TOK" | jget access_token)"
ok "... the office refuses its token: 403" eq "$CODE" 403

pkce
FP=$(curl -s -b "$CJ" -G "$IDP/authorize" -d response_type=code -d client_id=portal-fp \
	--data-urlencode "redirect_uri=http://127.0.0.1:$PX/fp" --data-urlencode "scope=$DS" \
	-d state=st4te -d nonce=n0nce-0123456789abcdefghij -d code_challenge="$C" -d code_challenge_method=S256)
ok "a first-party service asking for data: the consent page all the same" contains "$FP" 'name="share:cnaf_quotient_familial"' 
pkce
LOC=$(curl -s -o /dev/null -w '%{redirect_url}' -b "$CJ" -G "$IDP/authorize" -d response_type=code \
	-d client_id=portal-fp --data-urlencode "redirect_uri=http://127.0.0.1:$PX/fp" --data-urlencode "scope=openid profile" \
	-d state=st4te -d nonce=n0nce-0123456789abcdefghij -d code_challenge="$C" -d code_challenge_method=S256)
ok "... for the identity alone: no page, straight back with a code" contains "$LOC" "http://127.0.0.1:$PX/fp?code="

dp_get "$DP"
ok "the office without a token: 401" eq "$CODE" 401
ok "... WWW-Authenticate: Bearer, no error code (RFC 6750 3.1)" eq "$WWW" 'Bearer realm="cnaf-demo"'
dp_get "$DP" "not-a-token-0123456789abcdefghijklmnop"
ok "an unknown token: 401 invalid_token" eq "$CODE:$WWW" '401:Bearer realm="cnaf-demo", error="invalid_token"'

# The README's data provider, built from the page (rp.mk), against the same hub.
DPX=$(free_port)
RP_ISSUER=$IDP RP_CLIENT_ID=demo-cnaf RP_CLIENT_SECRET=demo-cnaf-secret RP_HTTP_LOOPBACK=1 DP_PORT=$DPX \
	"$BUILD/tests/rp/dp_example" >"$TMP/dpx.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 100 curl -s -o /dev/null "http://127.0.0.1:$DPX/" || ok "the README data provider starts" false
dp_get "http://127.0.0.1:$DPX/" "$AT_YES"
ok "README data provider: the consented token, 200" eq "$CODE:$(echo "$OUT" | jget quotient_familial)" 200:712
dp_get "http://127.0.0.1:$DPX/" "$AT_NO"
ok "... the token without the scope, 403 insufficient_scope" eq "$CODE:$(echo "$WWW" | cut -d, -f1)" '403:Bearer error="insufficient_scope"'
dp_get "http://127.0.0.1:$DPX/"
ok "... no token, 401" eq "$CODE" 401

grep -q "quotient given for portal-d" "$TMP/dp.log"
ok "the office gave the quotient to the portal (its log)" test $? -eq 0
for f in "$TMP/dp.log" "$TMP"/portal-*.log "$TMP/dpx.log"; do
	if grep -q -E "ERROR: AddressSanitizer|runtime error:" "$f"; then
		ok "no sanitizer report in $(basename "$f")" false
		grep -A20 -E "ERROR: AddressSanitizer|runtime error:" "$f" >&2
	fi
done
done_tests
