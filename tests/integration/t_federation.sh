#!/bin/sh
# stores: both
# Several identity backends: the choice page filtered by level, idp_hint,
# acr, consent accept/refuse/remembered, pairwise, public and pivot subjects,
# validation of the identity a backend returns, tampered choices and
# last-choice cookies, discovery of scopes and claims, the birth scope,
# backend logos.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
R1=http://127.0.0.1:8081/callback
R2=http://127.0.0.1:8082/callback
# A second directory of citizens at a higher level; marianne is in both,
# with the same identity pivot; "broken" has a malformed birthdate.
printf '%s\n' 'Strong-Pass-2026' | "$BUILD/idp/idpctl" --users "$TMP/strong.json" users add marianne2 \
	--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14","gender":"female","birthplace":"75056","birthcountry":"99100"}' >/dev/null
printf '%s\n' 'Broken-Pass-2026' | "$BUILD/idp/idpctl" --users "$TMP/strong.json" users add broken \
	--claims '{"given_name":"Bad","family_name":"Date","birthdate":"14/07/1990","gender":"female","birthcountry":"99134"}' >/dev/null
cat >"$TMP/extra.json" <<J
{"backends": [
  {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": "$TMP/users.json"},
  {"id": "strong", "plugin": "file", "title": "Compte renforcé", "acr": "eidas2", "users": "$TMP/strong.json",
   "logo": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/2Tq2WQAAAABJRU5ErkJggg=="}],
 "subject_derivation": "pivot",
 "clients+": [{"client_id": "local-only", "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
   "redirect_uris": ["http://127.0.0.1:8083/callback"], "backends": ["local"], "first_party": true},
  {"client_id": "public-a", "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
   "redirect_uris": ["http://127.0.0.1:8084/callback"], "sector_identifier": "a.example", "subject_type": "public", "first_party": true},
  {"client_id": "public-b", "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
   "redirect_uris": ["http://127.0.0.1:8085/callback"], "sector_identifier": "b.example", "subject_type": "public", "first_party": true}]}
J
start_idp "$STORE"
# make_config pointed backends[0] at users.json already; keep ours.
choose() { # choose BACKEND: posts the choice form in PAGE; sets PAGE to the result
	PAGE=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data "backend=$1" "$IDP/choose")
}

authorize demo-portal "$R1"
ok "two eligible backends: the choice page" contains "$PAGE" 'action="/choose"'
ok "choice page lists both" contains "$PAGE" "Compte renforcé"
SAVED=$PAGE
PAGE=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" --data-urlencode "csrf=wrong" --data "backend=local" "$IDP/choose")
ok "choice with a bad CSRF token refused" eq "$(status "$PAGE")" 403
PAGE=$SAVED
choose nosuch
ok "choice of an unknown backend refused" eq "$(status "$PAGE")" 400
authorize demo-portal "$R1"
choose strong
ok "choosing a backend shows its login form" contains "$PAGE" 'name="password"'
login marianne2 'Strong-Pass-2026'
ok "consent after the chosen backend" contains "$RESP" 'name="decision"'
consent accept
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
P=$(jwt_payload "$(echo "$TOK" | jget id_token)")
ok "acr is the level reached (eidas2)" eq "$(echo "$P" | jget acr)" eidas2
SUB_STRONG=$(echo "$P" | jget sub)

# The last choice is remembered and shown first.
authorize demo-portal-2 "$R2" "&prompt=login"
ok "the last choice is remembered" contains "$PAGE" "Votre dernier choix"

# Consent refused: access_denied to the service.
authorize demo-portal-2 "$R2"
RESP=$PAGE
consent refuse
ok "consent refused: access_denied" eq "$(qparam error "$(location "$RESP")")" access_denied

# Level filtering: eidas2 leaves one backend (page skipped), eidas3 none.
curl -s -b "$CJ" "$IDP/logout?client_id=demo-portal" >/dev/null
rm -f "$CJ"
authorize demo-portal "$R1" "&acr_values=eidas2"
ok "acr_values=eidas2: one eligible backend, no choice page" contains "$PAGE" 'name="password"'
ok "... and it is the eidas2 one" contains "$PAGE" "Compte renforcé"
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256&acr_values=eidas3")
ok "nothing reaches eidas3: access_denied" eq "$(qparam error "$(location "$H")")" access_denied

# The same citizen through the other backend: the same sub (pivot).
authorize demo-portal "$R1" "&idp_hint=local"
ok "idp_hint skips the choice page" contains "$PAGE" 'name="password"'
login marianne 'Marianne-2026!'
[ "$(status "$RESP")" = 200 ] && consent accept
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
P=$(jwt_payload "$(echo "$TOK" | jget id_token)")
ok "pivot: same sub whichever backend" eq "$(echo "$P" | jget sub)" "$SUB_STRONG"
ok "acr eidas1 through the local backend" eq "$(echo "$P" | jget acr)" eidas1

# A session at eidas1 does not satisfy eidas2: the citizen logs in again.
authorize demo-portal "$R1" "&acr_values=eidas2"
ok "SSO session below the asked level: login again" contains "$PAGE" 'name="password"'

H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256&idp_hint=nosuch")
ok "unknown idp_hint: error to the service" contains "$(location "$H")" "invalid_idp_hint"
H=$(curl -s -i -b "$CJ" "$IDP/authorize?response_type=code&client_id=local-only&redirect_uri=http://127.0.0.1:8083/callback&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256&idp_hint=strong&prompt=login")
ok "idp_hint of a backend the client may not use: refused" contains "$(location "$H")" "invalid_idp_hint"
rm -f "$CJ"
authorize local-only http://127.0.0.1:8083/callback
ok "a client limited to one backend skips the choice" contains "$PAGE" 'name="password"'
ok "... and it is its backend" contains "$PAGE" "Compte local"

# A malformed identity from a backend is refused, nothing is issued.
rm -f "$CJ"
authorize demo-portal "$R1" "&idp_hint=strong"
login broken 'Broken-Pass-2026'
ok "malformed identity refused with a page" eq "$(status "$RESP")" 403
ok "the page explains" contains "$RESP" "incomplètes ou incorrectes"
ok "the page links back to the service with access_denied" contains "$RESP" "error=access_denied"
ok "no session was created" not_contains "$RESP" "idp_session="

# Discovery lists the scopes and claims, the identity pivot included.
D=$(curl -s "$IDP/.well-known/openid-configuration")
for sc in openid profile email address phone birth; do
	ok "discovery: scope $sc supported" contains "$(echo "$D" | jget scopes_supported)" "\"$sc\""
done
for cl in given_name family_name birthdate gender birthplace birthcountry email sub acr; do
	ok "discovery: claim $cl supported" contains "$(echo "$D" | jget claims_supported)" "\"$cl\""
done
ok "discovery: public and pairwise subjects" eq "$(echo "$D" | jget subject_types_supported)" '["pairwise", "public"]'

# The birth scope: birthplace and birthcountry reach the service; without
# it they do not.
rm -f "$CJ"
pkce
PAGE=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20birth&state=s&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256&idp_hint=local")
login marianne 'Marianne-2026!'
ok "birth scope: consent lists the birthplace" contains "$RESP" "Lieu de naissance"
consent accept
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
ok "birth scope: birthplace reaches the service" eq "$(echo "$U" | jget birthplace)" 75056
ok "birth scope: birthcountry reaches the service" eq "$(echo "$U" | jget birthcountry)" 99100
ok "... beside the profile" eq "$(echo "$U" | jget birthdate)" 1990-07-14
rm -f "$CJ"
authorize demo-portal-2 "$R2" "&idp_hint=local"
login marianne 'Marianne-2026!'
[ "$(status "$RESP")" = 200 ] && consent accept
token demo-portal-2 demo-portal-2-secret "$(qparam code "$(location "$RESP")")" "$R2" "$V"
U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
ok "without the birth scope: the profile" eq "$(echo "$U" | jget given_name)" Marianne
ok "without the birth scope: no birthplace" eq "$(echo "$U" | jget birthplace)" ""
ok "... and no birthcountry" eq "$(echo "$U" | jget birthcountry)" ""
SUB_PAIR2=$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget sub)

# subject_type public: the same sub at two services of different sectors,
# unlike pairwise.
for c in a b; do
	rm -f "$CJ"
	RU="http://127.0.0.1:808$([ $c = a ] && echo 4 || echo 5)/callback"
	authorize "public-$c" "$RU" "&idp_hint=local"
	login marianne 'Marianne-2026!'
	token "public-$c" demo-portal-secret "$(qparam code "$(location "$RESP")")" "$RU" "$V"
	eval "SUB_PUB_$c=\$(jwt_payload \"\$(echo \"\$TOK\" | jget id_token)\" | jget sub)"
done
ok "public sub issued" test -n "$SUB_PUB_a"
ok "pairwise sub issued" test -n "$SUB_PAIR2"
ok "public sub: the same across sectors" eq "$SUB_PUB_b" "$SUB_PUB_a"
ok "pairwise subs differ across sectors" test "$SUB_STRONG" != "$SUB_PAIR2"
ok "a public sub is not a pairwise one" test "$SUB_PUB_a" != "$SUB_STRONG"

# The last-choice cookie: a real backend is shown first; a tampered value is
# ignored (normal page, nothing echoed), as is a backend not eligible.
Q="response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256"
PAGE=$(curl -s -b 'idp_last=strong' "$IDP/authorize?$Q")
ok "last-choice cookie: its backend shown first" contains "$PAGE" "Votre dernier choix"
for v in 'nosuch' '%3Cscript%3Ealert(1)%3C%2Fscript%3E' '"><img src=x>' "$(head -c 3000 /dev/zero | tr '\0' a)"; do
	H=$(curl -s -i -b "idp_last=$v" "$IDP/authorize?$Q")
	ok "tampered last-choice cookie [$(printf %s "$v" | head -c 20)]: the choice page all the same" contains "$H" 'action="/choose"'
	ok "... with no last choice marked" not_contains "$H" "Votre dernier choix"
	ok "... and nothing of it echoed" not_contains "$H" "<img src=x"
done
PAGE=$(curl -s -b 'idp_last=local' "$IDP/authorize?$Q&acr_values=eidas2&prompt=select_account")
ok "a last choice no longer eligible is not offered" not_contains "$PAGE" 'value="local"'

# Logos: a data: URI is shown; anything else is refused at load.
authorize demo-portal "$R1" "&prompt=login"
ok "the backend's logo is shown" contains "$PAGE" '<img src="data:image/png;base64,iVBORw0KGgo'
for logo in 'https://cdn.example/logo.png' 'logo.png' 'data:text/html;base64,PHNjcmlwdD4=' \
	'data:image/svg+xml,<svg onload=alert(1)>' 'data:image/png;base64,@@@@' "data:image/png;base64,$(head -c 60000 /dev/zero | tr '\0' A)"; do
	python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["backends"][1]["logo"]=sys.argv[3];json.dump(c,open(sys.argv[2],"w"))' \
		"$TMP/idp.json" "$TMP/logo.json" "$logo"
	OUT=$("$BUILD/idp/idp" --config "$TMP/logo.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
	ok "logo [$(printf %s "$logo" | head -c 30)] refused at load" test "$RC" -ne 0
	ok "... saying it must be a data: URI" contains "$OUT" '"logo" must be a data: URI'
done
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["backends"][1]["logo"]="data:image/svg+xml;base64,PHN2Zy8+";json.dump(c,open(sys.argv[2],"w"))' \
	"$TMP/idp.json" "$TMP/logo.json"
OUT=$("$BUILD/idp/idp" --config "$TMP/logo.json" --check --plugin-dir "$BUILD/plugins" 2>&1)
ok "an SVG data: logo is accepted" contains "$OUT" "is valid"

done_tests
