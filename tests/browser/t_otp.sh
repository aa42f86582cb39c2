#!/bin/sh
# The TOTP second factor in a real browser (tests/browser/otp.js): a local
# account enrolled with idpctl logs in at eidas2 with its code, and steps up
# from an eidas1 session with the code alone, in French and in English;
# every page of the hub passes axe-core. The hub's local backend reaches
# eidas2 with the second factor, eidas1 with the password; two demo portals
# (rp-demo, on librp) ask eidas1 and eidas2. And make run's third portal as
# it runs there (conf/demo.json's demo-portal-plus, its published keys, on a
# free port): marianne, enrolled with the README's demo secret, logs in at
# eidas2 through a service with private_key_jwt (PS256) and encrypted tokens.
. "$(dirname "$0")/lib.sh"
browser_needs
command -v oathtool >/dev/null 2>&1 || give_up "oathtool is missing (apt-get install oathtool)"
setup_tmp
set -- $(free_port) $(free_port) $(free_port)
P1=$1 P2=$2 P3=$3
SP=$(printf %s 'portal-secret-0123456789' | sha256sum | cut -d' ' -f1)
printf '%s\n' 'Camille-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add camille \
	--claims '{"given_name":"Camille","family_name":"Petit","birthdate":"1992-05-06"}' >/dev/null
printf '%s\n' 'Marianne-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add marianne \
	--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14"}' >/dev/null
printf '%s\n' 'Louise-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add louise \
	--claims '{"given_name":"Louise","family_name":"Martin","birthdate":"1988-02-03"}' >/dev/null
# One citizen per language: each uses two codes of its own (a code is used once).
S_FR=$("$BUILD/idp/idpctl" --users "$TMP/users.json" users totp-enrol camille | sed -n 's/^secret: //p')
# The demo's published secret, as scripts/demo-setup.sh enrols it.
DEMO_SECRET=$(sed -n 's/^[[:space:]]*echo \([A-Z2-7]\{16,\}\) |.*/\1/p' "$ROOT/scripts/demo-setup.sh")
ok "the demo's secret read from demo-setup.sh" test -n "$DEMO_SECRET"
echo "$DEMO_SECRET" | "$BUILD/idp/idpctl" --users "$TMP/users.json" users totp-enrol marianne --secret-stdin >/dev/null
ok "... and it is the README's" grep -q "secret=$DEMO_SECRET" "$ROOT/README.md"
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
IDP_PORT=$(free_port)
make_config memory "$IDP_PORT"
# demo-portal-plus as conf/demo.json has it, on P3 instead of 8084.
python3 - "$TMP/idp.json" "$P3" <<'PY' || exit 1
import json, sys
path, port = sys.argv[1:3]
c = json.load(open(path))
cl = [x for x in c["clients"] if x["client_id"] == "demo-portal-plus"][0]
for k in ("redirect_uris", "post_logout_redirect_uris"):
    cl[k] = [u.replace(":8084/", ":%s/" % port) for u in cl[k]]
cl["jwks_uri"] = cl["jwks_uri"].replace(":8084/", ":%s/" % port)
json.dump(c, open(path, "w"), indent=1)
PY
run_idp
rp_portal p1 "$P1" eidas1 portal-secret-0123456789 "Impots demo"
rp_portal p2 "$P2" eidas2 portal-secret-0123456789 "Sante demo"
# Its options as scripts/run-demo.sh gives them, the port aside.
eval "set -- $(sed -n '/--client-id demo-portal-plus/,/--jwks/p' "$ROOT/scripts/run-demo.sh" |
	tr -d '\\\t&' | tr '\n' ' ' | sed -e 's/^ *--client-id demo-portal-plus --acr eidas2 --http-loopback//' \
	-e "s# conf/# $ROOT/conf/#g")"
ok "the third portal's options read from run-demo.sh ($#)" test $# -eq 10
rp_portal demo-portal-plus "$P3" eidas2 "" "Santé, démo" "$@"
for p in $P1 $P2 $P3; do
	wait_for 100 curl -sf "http://127.0.0.1:$p/" || give_up "a portal did not start: $(cat "$TMP"/p*.log "$TMP"/demo-portal-plus.log)"
done
browser_run otp.js 220 "$TMP" "fr=camille,$S_FR,http://127.0.0.1:$P1,http://127.0.0.1:$P2" \
	"en=louise,$S_EN,http://127.0.0.1:$P1,http://127.0.0.1:$P2" "plus=marianne,$DEMO_SECRET,http://127.0.0.1:$P3"
done_tests
