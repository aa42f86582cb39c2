#!/bin/sh
# Every citizen path in a real browser (tests/browser/paths.js: Debian's
# chromium driven by playwright-core, axe-core on every page): a hub with
# three backends (local file at eidas1; an upstream provider, a second
# daemon, and a slapd directory, both at eidas2), and demo portals (rp-demo,
# on librp) at eidas1 and at eidas2, one pair per language so that each
# language meets the consent page. All on 127.0.0.1 free ports, stopped by
# PID; every wait is bounded.
. "$(dirname "$0")/lib.sh"
browser_needs
for c in slapd slapadd slappasswd ldapsearch; do
	command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
	command -v "$c" >/dev/null 2>&1 || give_up "$c is missing (apt-get install slapd ldap-utils)"
done
setup_tmp

# ---- the directory: camille (tests/integration/ldap), without TLS ----
LP=$(free_port)
BASE=dc=example,dc=org
SVC_PW='svc-Secret-7d41c2'
mkdir -p "$TMP/slapd.d" "$TMP/ldap-data"
grep -v '^olcTLS' "$ROOT/tests/integration/ldap/config.ldif" |
	sed -e "s#@TMP@#$TMP#g" -e "s#@ROOTPW@#$(slappasswd -s "root-$$-pw")#" >"$TMP/config.ldif"
sed -e "s#@SVCHASH@#$(slappasswd -h '{SSHA}' -s "$SVC_PW")#" \
	-e "s#@CAMILLEHASH@#$(slappasswd -h '{SSHA}' -s 'Camille-2026!')#" \
	-e "s#@ZOEHASH@#$(slappasswd -h '{SSHA}' -s 'Zoe-2026!')#" \
	"$ROOT/tests/integration/ldap/people.ldif" >"$TMP/people.ldif"
slapadd -n0 -F "$TMP/slapd.d" -l "$TMP/config.ldif" >"$TMP/slapadd.log" 2>&1 &&
	slapadd -n1 -F "$TMP/slapd.d" -l "$TMP/people.ldif" >>"$TMP/slapadd.log" 2>&1 ||
	{ cat "$TMP/slapadd.log" >&2; give_up "slapadd failed"; }
slapd -d 0 -h "ldap://127.0.0.1:$LP/" -F "$TMP/slapd.d" >"$TMP/slapd.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 100 ldapsearch -x -H "ldap://127.0.0.1:$LP/" -b "$BASE" -s base dn ||
	{ tail -20 "$TMP/slapd.log" >&2; give_up "slapd did not start"; }

# ---- the upstream provider: jean, at eidas2; the hub is its client ----
UP_PORT=$(free_port)
HUB_PORT=$(free_port)
PORTS="$(free_port) $(free_port) $(free_port) $(free_port)"
set -- $PORTS
PA_FR=$1 PA_EN=$2 PC_FR=$3 PC_EN=$4
# Jean's password at RFC 9106's cost (an empty IDPCTL_ARGON2): one login of
# the paths through a real argon2id check; Marianne's are lib.sh's cheap ones.
printf '%s\n' 'Jean-2026!xx' | IDPCTL_ARGON2= "$BUILD/idp/idpctl" --users "$TMP/up-users.json" users add jean \
	--claims '{"given_name":"Jean","family_name":"Martin","birthdate":"1985-03-02","gender":"male","birthplace":"69123","birthcountry":"99100","email":"jean.martin@example.fr"}' >/dev/null
printf '%s' 'hub-secret-0123456789abcdef' >"$TMP/hub-secret"
chmod 600 "$TMP/hub-secret"
mkdir -p "$TMP/upkeys"
"$BUILD/idp/idpctl" --keys-dir "$TMP/upkeys" keys init >/dev/null 2>&1 || give_up "idpctl keys init failed"
python3 - "$ROOT" "$TMP" "$UP_PORT" "$HUB_PORT" "$LP" "$SVC_PW" "$PA_FR" "$PA_EN" "$PC_FR" "$PC_EN" <<'PY'
import hashlib, json, sys
root, tmp, up, hub, lp, svc, pafr, paen, pcfr, pcen = sys.argv[1:11]
sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
c = json.load(open(root + "/conf/demo.json"))
c.update({"issuer": f"http://127.0.0.1:{up}", "keys_dir": tmp + "/upkeys", "templates_dir": root + "/templates",
          "cookie_prefix": "up", "demo": False,
          "backends": [{"id": "tax", "plugin": "file", "title": "Compte impots", "acr": "eidas2",
                        "users": tmp + "/up-users.json"}],
          "clients": [{"client_id": "hub", "client_secret_sha256": sha("hub-secret-0123456789abcdef"),
                       "first_party": True, "redirect_uris": [f"http://127.0.0.1:{hub}/callback/upstream"],
                       "post_logout_redirect_uris": [f"http://127.0.0.1:{hub}/logout/return"]}]})
json.dump(c, open(tmp + "/up.json", "w"), indent=1)
base = "dc=example,dc=org"
portals = []
for cid, port, name in (("pa-fr", pafr, "Impôts (démo)"), ("pa-en", paen, "Impôts (démo, en)"),
                        ("pc-fr", pcfr, "Caisse (démo)"), ("pc-en", pcen, "Caisse (démo, en)")):
    portals.append({"client_id": cid, "client_name": name, "client_secret_sha256": sha("portal-secret-0123456789"),
                    "sector_identifier": cid + ".demo", "redirect_uris": [f"http://127.0.0.1:{port}/callback"],
                    "post_logout_redirect_uris": [f"http://127.0.0.1:{port}/logged-out"]})
json.dump({"backends": [
    {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": tmp + "/users.json"},
    {"id": "upstream", "plugin": "oidc", "title": "Compte impots.demo", "acr": "eidas2",
     "issuer": f"http://127.0.0.1:{up}", "client_id": "hub", "client_secret_file": tmp + "/hub-secret",
     "scope": "openid profile email birth", "allow_http_loopback": True, "timeout_ms": 3000, "health_check_s": 0},
    {"id": "annuaire", "plugin": "ldap", "title": "Annuaire de la ville", "acr": "eidas2",
     "uri": f"ldap://127.0.0.1:{lp}/", "bind_dn": "cn=idp,ou=services," + base, "bind_password": svc,
     "base_dn": "ou=people," + base, "filter": "(uid=%s)", "scope": "one", "timeout_ms": 3000,
     "attributes": {"given_name": "givenName", "family_name": "sn", "email": "mail"}}],
    "clients+": portals}, open(tmp + "/extra.json", "w"))
PY
spawn_idp "$TMP/up.json" "$UP_PORT" "$TMP/up.log" "$TMP/upport"

# ---- the hub ----
IDP_PORT=$HUB_PORT
make_config memory "$IDP_PORT"
run_idp

# ---- the portals ----
rp_portal pa-fr "$PA_FR" eidas1 portal-secret-0123456789 "Portail pa-fr"
rp_portal pa-en "$PA_EN" eidas1 portal-secret-0123456789 "Portail pa-en"
rp_portal pc-fr "$PC_FR" eidas2 portal-secret-0123456789 "Portail pc-fr"
rp_portal pc-en "$PC_EN" eidas2 portal-secret-0123456789 "Portail pc-en"
for p in $PORTS; do
	wait_for 100 curl -sf "http://127.0.0.1:$p/" || { cat "$TMP"/p*.log >&2; give_up "a portal did not start"; }
done

# paths.js bounds each wait (10 s) and its whole run.
browser_run paths.js 320 "$TMP" "$IDP" "http://127.0.0.1:$UP_PORT" \
	"fr=http://127.0.0.1:$PA_FR,http://127.0.0.1:$PC_FR" "en=http://127.0.0.1:$PA_EN,http://127.0.0.1:$PC_EN"
if grep -q -E "ERROR: AddressSanitizer|runtime error:" "$TMP/up.log"; then
	ok "no sanitizer report from the upstream provider" false
	grep -A20 -E "ERROR: AddressSanitizer|runtime error:" "$TMP/up.log" >&2
fi
done_tests
