#!/bin/sh
# The TOTP second factor in a real browser (tests/browser/otp.js): a local
# account enrolled with idpctl logs in at eidas2 with its code, and steps up
# from an eidas1 session with the code alone, in French and in English;
# every page of the hub passes axe-core. The hub's local backend reaches
# eidas2 with the second factor, eidas1 with the password; two demo portals
# (rp-demo, on librp) ask eidas1 and eidas2.
. "$(dirname "$0")/lib.sh"
browser_needs
command -v oathtool >/dev/null 2>&1 || give_up "oathtool is missing (apt-get install oathtool)"
setup_tmp
set -- $(free_port) $(free_port)
P1=$1 P2=$2
SP=$(printf %s 'portal-secret-0123456789' | sha256sum | cut -d' ' -f1)
printf '%s\n' 'Marianne-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add marianne \
	--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14"}' >/dev/null
printf '%s\n' 'Louise-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add louise \
	--claims '{"given_name":"Louise","family_name":"Martin","birthdate":"1988-02-03"}' >/dev/null
# One citizen per language: each uses two codes of its own (a code is used once).
S_FR=$("$BUILD/idp/idpctl" --users "$TMP/users.json" users totp-enrol marianne | sed -n 's/^secret: //p')
S_EN=$("$BUILD/idp/idpctl" --users "$TMP/users.json" users totp-enrol louise | sed -n 's/^secret: //p')
cat >"$TMP/extra.json" <<J
{"backends": [
  {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas2", "password_acr": "eidas1",
   "users": "$TMP/users.json",
   "second_factor_help": {"fr": "Appelez la mairie au 01 23 45 67 89.", "en": "Call the city hall on +33 1 23 45 67 89."}}],
 "clients+": [
 {"client_id": "p1", "client_name": "Impôts (démo)", "client_secret_sha256": "$SP", "sector_identifier": "p1.demo",
  "redirect_uris": ["http://127.0.0.1:$P1/callback"], "post_logout_redirect_uris": ["http://127.0.0.1:$P1/logged-out"]},
 {"client_id": "p2", "client_name": "Santé (démo)", "client_secret_sha256": "$SP", "sector_identifier": "p2.demo",
  "redirect_uris": ["http://127.0.0.1:$P2/callback"], "post_logout_redirect_uris": ["http://127.0.0.1:$P2/logged-out"]}]}
J
start_idp memory
rp_portal p1 "$P1" eidas1 portal-secret-0123456789 "Impots demo"
rp_portal p2 "$P2" eidas2 portal-secret-0123456789 "Sante demo"
for p in $P1 $P2; do
	wait_for 100 curl -sf "http://127.0.0.1:$p/" || give_up "a portal did not start: $(cat "$TMP"/p*.log)"
done
browser_run otp.js 220 "$TMP" "fr=marianne,$S_FR,http://127.0.0.1:$P1,http://127.0.0.1:$P2" \
	"en=louise,$S_EN,http://127.0.0.1:$P1,http://127.0.0.1:$P2"
done_tests
