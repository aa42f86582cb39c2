#!/bin/sh
# The ldap backend against a real slapd: a temporary cn=config and directory
# (tests/integration/ldap/*.ldif) on loopback ports, stopped by PID. The whole
# code flow with a citizen of the directory, search then bind and direct bind,
# refusals (wrong password, unknown user, filter injection, empty password,
# several entries), the directory stopped, hung and restarted (bounded
# answers, the daemon survives, the pool recovers), concurrent logins,
# StartTLS and LDAPS with a test CA, and configurations refused at startup.
. "$(dirname "$0")/lib.sh"
for c in slapd slapadd slappasswd ldapsearch openssl; do
	command -v "$c" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
	command -v "$c" >/dev/null 2>&1 || { echo "t_ldap: $c is missing (apt-get install slapd ldap-utils)" >&2; exit 1; }
done
setup_tmp
FIX="$ROOT/tests/integration/ldap"
R1=http://127.0.0.1:8081/callback
R3=http://127.0.0.1:8083/callback
SVC_PW='svc-Secret-7d41c2'
CAMILLE_PW='Camille-2026!'
ZOE_PW='Zoé-Pass-2026!'
LP=$(free_port)
LPS=$(free_port)
BASE=dc=example,dc=org

# ---- the directory ----

# A test CA and a server certificate for 127.0.0.1, and a second CA that
# did not sign it.
make_tls() {
	mkdir -p "$TMP/tls"
	(
		cd "$TMP/tls" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj /CN=t_ldap-ca -keyout ca.key -out ca.pem &&
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
			-subj /CN=t_ldap-other-ca -keyout other.key -out other.pem &&
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
			-keyout server.key -out server.csr &&
		printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' >ext &&
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
			-extfile ext -out server.pem
	) >"$TMP/openssl.log" 2>&1 || { cat "$TMP/openssl.log" >&2; exit 1; }
}

make_directory() {
	mkdir -p "$TMP/slapd.d" "$TMP/ldap-data"
	sed -e "s#@TMP@#$TMP#g" -e "s#@ROOTPW@#$(slappasswd -s "root-$$-pw")#" \
		"$FIX/config.ldif" >"$TMP/config.ldif"
	sed -e "s#@SVCHASH@#$(slappasswd -h '{SSHA}' -s "$SVC_PW")#" \
		-e "s#@CAMILLEHASH@#$(slappasswd -h '{SSHA}' -s "$CAMILLE_PW")#" \
		-e "s#@ZOEHASH@#$(slappasswd -h '{SSHA}' -s "$ZOE_PW")#" \
		"$FIX/people.ldif" >"$TMP/people.ldif"
	slapadd -n0 -F "$TMP/slapd.d" -l "$TMP/config.ldif" >"$TMP/slapadd.log" 2>&1 &&
		slapadd -n1 -F "$TMP/slapd.d" -l "$TMP/people.ldif" >>"$TMP/slapadd.log" 2>&1 ||
		{ cat "$TMP/slapadd.log" >&2; exit 1; }
}

# slapd in the foreground (-d: debug level "stats", which logs every
# operation to $TMP/slapd.log and keeps $! its PID).
start_slapd() {
	slapd -d 256 -h "ldap://127.0.0.1:$LP/ ldaps://127.0.0.1:$LPS/" -F "$TMP/slapd.d" \
		>>"$TMP/slapd.log" 2>&1 &
	SLAPD_PID=$!
	PIDS="$PIDS $SLAPD_PID"
	wait_for 100 ldapsearch -x -H "ldap://127.0.0.1:$LP/" -b "$BASE" -s base dn ||
		{ echo "slapd did not start:" >&2; tail -20 "$TMP/slapd.log" >&2; exit 1; }
}

stop_slapd() {
	kill "$SLAPD_PID" 2>/dev/null
	await_exit "$SLAPD_PID"
}

binds() { # binds DN-PREFIX: how many binds slapd has logged for it
	grep -c "BIND dn=\"$1" "$TMP/slapd.log"
}

has() { # has FILE TEXT: FILE holds TEXT, taken literally
	grep -qF -- "$2" "$1" && return 0
	echo "  $1 does not contain [$2]" >&2
	return 1
}

# ---- the daemon ----

# write_extra LDAP_JSON: the configuration's backends are that ldap backend
# (first: the one the login page uses) and the file backend, which the client
# city-file is limited to.
write_extra() {
	python3 - "$TMP" "$1" >"$TMP/extra.json" <<'PY'
import hashlib, json, sys
tmp, ldap = sys.argv[1], json.loads(sys.argv[2])
b = {"id": "annuaire", "plugin": "ldap", "title": "Annuaire de la ville (test)", "acr": "eidas1"}
b.update(ldap)
print(json.dumps({
    "subject_derivation": "backend",
    "rate_limits": {"login_failures_per_ip_per_minute": 100000,
                    "login_failures_per_user_per_15min": 100000},
    "backends": [b, {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1",
                     "users": tmp + "/users.json"}],
    "clients+": [{"client_id": "city-file", "client_name": "Mairie (fichier)",
                  "client_secret_sha256": hashlib.sha256(b"city-file-secret").hexdigest(),
                  "redirect_uris": ["http://127.0.0.1:8083/callback"],
                  "sector_identifier": "mairie.test", "backends": ["local"]}],
}))
PY
}

# idp_with LABEL LDAP_JSON: a fresh daemon configured so; the previous one
# must have stopped cleanly.
idp_with() {
	if [ -n "${IDP_PID:-}" ] && kill -0 "$IDP_PID" 2>/dev/null; then
		stop_idp
		ok "$LABEL: daemon exits cleanly" eq "$IDP_RC" 0
	fi
	LABEL=$1
	write_extra "$2"
	start_idp memory
}

# choose ID: on the choice page in PAGE (demo-portal may use the directory
# or the file backend), picks backend ID; PAGE is then its login form.
choose() {
	PAGE=$(curl -s -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "backend=$1" "$IDP/choose")
}

# try_login USER PASS [CLIENT REDIRECT]: a new browser, authorize, the
# directory on the choice page, then the login form; sets RESP. Bounded: a
# hung directory must not hang the page.
try_login() {
	rm -f "$CJ"
	authorize "${3:-demo-portal}" "${4:-$R1}"
	case "$PAGE" in *'action="/choose"'*) choose annuaire ;; esac
	RESP=$(curl -s -i --max-time 15 -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=$1" \
		--data-urlencode "password=$2" "$IDP/login")
}

logged_in() { # the last login got past the password form
	case "$(status "$RESP")" in
	200) contains "$RESP" 'name="decision"' ;;
	302 | 303) contains "$(location "$RESP")" "code=" ;;
	*) echo "  status [$(status "$RESP")]" >&2; return 1 ;;
	esac
}

refused() { # the last login was refused like a wrong password
	eq "$(status "$RESP")" 401 && contains "$RESP" 'role="alert"' && contains "$RESP" 'name="password"'
}

refused_empty() { # an empty password: 400 (the daemon) or 401 (the plugin), never a login
	case "$(status "$RESP")" in 400 | 401) contains "$RESP" 'name="password"' ;; *) echo "  status [$(status "$RESP")]" >&2; return 1 ;; esac
}

not() { ! "$@" 2>/dev/null; }

unavailable() { # the last login answered "the directory is unavailable"
	eq "$(status "$RESP")" 503 && contains "$RESP" 'role="alert"' &&
		contains "$RESP" "Ce compte ne peut pas être vérifié pour le moment"
}

# full_flow USER PASS: login, consent, token, userinfo; sets U, IDT.
full_flow() {
	try_login "$1" "$2"
	if [ "$(status "$RESP")" = 200 ]; then consent accept; fi
	CODE=$(qparam code "$(location "$RESP")")
	token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
	IDT=$(echo "$TOK" | jget id_token)
	U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
}

# bad_conf LDAP_JSON TEXT: the daemon refuses to start, and says TEXT.
bad_conf() {
	write_extra "$1"
	make_config memory 1
	OUT=$(timeout 20 "$BUILD/idp/idp" --config "$TMP/idp.json" --port 0 --port-file "$TMP/port.bad" \
		--plugin-dir "$BUILD/plugins" 2>&1)
	BAD_RC=$?
	printf '%s\n' "$OUT" >>"$TMP/idp.log"
	[ "$BAD_RC" -ne 0 ] && [ "$BAD_RC" -ne 124 ] && contains "$OUT" "$2"
}

make_tls
make_directory
start_slapd

ATTRS='"attributes":{"given_name":"givenName","family_name":"sn","email":"mail","preferred_username":"uid","phone_number":"telephoneNumber"}'
SEARCH="{\"uri\":\"ldap://127.0.0.1:$LP/\",\"bind_dn\":\"cn=idp,ou=services,$BASE\",\"bind_password\":\"$SVC_PW\",\"base_dn\":\"ou=people,$BASE\",\"filter\":\"(|(uid=%s)(mail=%s))\",\"scope\":\"one\",\"timeout_ms\":1500,\"pool_size\":2,$ATTRS}"
DIRECT="{\"uri\":\"ldap://127.0.0.1:$LP/\",\"user_dn_template\":\"uid=%s,ou=people,$BASE\",\"timeout_ms\":1500}"

# ---- search then bind, with a service account ----
idp_with search "$SEARCH"
ok "search: the plugin reached the directory at startup" has "$TMP/idp.log" "answers (search then bind)"
rm -f "$CJ"
authorize demo-portal "$R1"
ok "search: the choice page offers the directory" contains "$PAGE" 'value="annuaire"'
choose annuaire
ok "search: its login form names the directory" contains "$PAGE" "Annuaire de la ville (test)"
ok "search: a login form" contains "$PAGE" 'name="password"'

full_flow camille "$CAMILLE_PW"
ok "search: code issued after login and consent" test -n "$CODE"
ok "search: id token" test -n "$IDT"
P=$(jwt_payload "$IDT")
ok "search: id token amr pwd" eq "$(echo "$P" | jget amr)" '["pwd"]'
ok "search: id token acr of the backend" eq "$(echo "$P" | jget acr)" eidas1
ok "search: userinfo given_name (givenName)" eq "$(echo "$U" | jget given_name)" Camille
ok "search: userinfo family_name (sn)" eq "$(echo "$U" | jget family_name)" Martin
ok "search: userinfo email, the first mail value" eq "$(echo "$U" | jget email)" camille.martin@example.fr
ok "search: userinfo preferred_username (uid)" eq "$(echo "$U" | jget preferred_username)" camille
SUB_SEARCH=$(echo "$P" | jget sub)
ok "search: sub" test -n "$SUB_SEARCH"
full_flow camille "$CAMILLE_PW"
ok "search: same sub at the next login" eq "$(jwt_payload "$IDT" | jget sub)" "$SUB_SEARCH"

try_login camille.martin@example.fr "$CAMILLE_PW"
ok "search: a filter with %s twice finds the citizen by mail" logged_in
try_login 'zoé+1' "$ZOE_PW"
ok "search: UTF-8 username with '+'" logged_in
full_flow 'zoé+1' "$ZOE_PW"
ok "search: UTF-8 claim" eq "$(echo "$U" | jget given_name)" "Zoé"

try_login camille 'wrong-Password-1'
ok "search: wrong password: 401" refused
try_login nobody "$CAMILLE_PW"
ok "search: unknown user: 401" refused
N=$(binds "uid=camille,")
try_login '*)(uid=*' "$CAMILLE_PW"
ok "search: username *)(uid=* finds nobody: 401" refused
try_login '*' "$CAMILLE_PW"
ok "search: username * finds nobody: 401" refused
try_login 'cam*' "$CAMILLE_PW"
ok "search: username cam* finds nobody: 401" refused
try_login 'camille)(|(uid=*' "$CAMILLE_PW"
ok "search: username camille)(|(uid=* finds nobody: 401" refused
ok "search: no injection reached camille's entry" eq "$(binds "uid=camille,")" "$N"
ok "search: the escaped filter reached slapd" has "$TMP/slapd.log" 'filter="(|(uid=\2A\29\28uid=\2A)(mail=\2A\29\28uid=\2A))"'
try_login famille.martin@example.fr "$CAMILLE_PW"
ok "search: a username matching two entries: 401" refused
ok "search: two entries logged as a warning" has "$TMP/idp.log" "matches several entries"
N=$(binds "uid=camille,")
try_login camille ''
ok "search: empty password refused" refused_empty
ok "search: empty password: no bind sent" eq "$(binds "uid=camille,")" "$N"

# Concurrent logins (a pool of 2 for 6 workers).
P6=""
for i in 1 2 3 4 5 6; do
	(
		CJ="$TMP/cj.$i"
		try_login camille "$CAMILLE_PW"
		logged_in >/dev/null 2>&1 && echo ok >"$TMP/par.$i"
	) &
	P6="$P6 $!"
done
for p in $P6; do wait "$p"; done
ok "search: 6 concurrent logins all succeed" eq "$(cat "$TMP"/par.* 2>/dev/null | grep -c ok)" 6

# The directory restarts between two logins: the pooled connections are dead.
stop_slapd
start_slapd
try_login camille "$CAMILLE_PW"
ok "search: login after a directory restart (stale pool retried)" logged_in

# The directory down: a clear 503, the daemon and the other backend survive.
stop_slapd
try_login camille "$CAMILLE_PW"
ok "search: directory down: 503 unavailable" unavailable
try_login camille "$CAMILLE_PW"
ok "search: directory still down: 503 again" unavailable
try_login camille "$CAMILLE_PW"
ok "search: directory down a third time: 503" unavailable
rm -f "$CJ"
authorize demo-portal "$R1"
ok "search: the choice page greys the directory out" contains "$PAGE" 'aria-describedby="indisponible-annuaire"'
ok "search: daemon alive with the directory down" kill -0 "$IDP_PID"
ok "search: discovery still answers" eq "$(curl -s --max-time 5 "$IDP/.well-known/openid-configuration" | jget issuer)" "$IDP"
try_login marianne 'Marianne-2026!' city-file "$R3"
ok "search: the file backend still logs citizens in" logged_in
ok "search: the failure is logged" has "$TMP/idp.log" "Can't contact LDAP server"
start_slapd
choice_up() {
	rm -f "$CJ"
	authorize demo-portal "$R1"
	contains "$PAGE" 'value="annuaire"' && not_contains "$PAGE" 'indisponible-annuaire'
}
ok "search: directory back: the probe brings it back on the choice page" wait_for 150 choice_up
try_login camille "$CAMILLE_PW"
ok "search: directory back: login works again" logged_in

# The directory hung (SIGSTOP): 503 after timeout_ms, not a hung worker.
kill -STOP "$SLAPD_PID"
try_login camille "$CAMILLE_PW"
ok "search: directory hung: 503 unavailable" unavailable
try_login camille "$CAMILLE_PW"
ok "search: directory still hung: 503 again" unavailable
ok "search: the timeout is logged" has "$TMP/idp.log" "Timed out"
kill -CONT "$SLAPD_PID"
try_login camille "$CAMILLE_PW"
ok "search: directory resumed: login works again" logged_in

ok "search: no password in the daemon log" not has "$TMP/idp.log" "$CAMILLE_PW"
ok "search: no service password in the daemon log" not has "$TMP/idp.log" "$SVC_PW"

# ---- direct bind, no service account ----
idp_with direct "$DIRECT"
full_flow camille "$CAMILLE_PW"
ok "direct: userinfo given_name (default mapping)" eq "$(echo "$U" | jget given_name)" Camille
ok "direct: userinfo email" eq "$(echo "$U" | jget email)" camille.martin@example.fr
ok "direct: same sub as search then bind (entryUUID)" eq "$(jwt_payload "$IDT" | jget sub)" "$SUB_SEARCH"
try_login 'zoé+1' "$ZOE_PW"
ok "direct: UTF-8 username with '+' escaped in the DN" logged_in
ok "direct: the DN was escaped per RFC 4514 (one RDN)" has "$TMP/slapd.log" 'BIND dn="uid=zoé\2B1,ou=people,dc=example,dc=org" mech=SIMPLE'
try_login camille 'wrong-Password-1'
ok "direct: wrong password: 401" refused
try_login nobody "$CAMILLE_PW"
ok "direct: unknown user: 401" refused
try_login '*)(uid=*' "$CAMILLE_PW"
ok "direct: username *)(uid=*: 401" refused
try_login 'camille,ou=people' "$CAMILLE_PW"
ok "direct: username with a comma cannot add an RDN: 401" refused
N=$(grep -c 'BIND ' "$TMP/slapd.log")
try_login camille ''
ok "direct: empty password refused" refused_empty
ok "direct: empty password: no bind sent" eq "$(grep -c 'BIND ' "$TMP/slapd.log")" "$N"
stop_slapd
try_login camille "$CAMILLE_PW"
ok "direct: directory down: 503 unavailable" unavailable
start_slapd
try_login camille "$CAMILLE_PW"
ok "direct: directory back: login works again" logged_in

# ---- TLS ----
# StartTLS, and an anonymous search (no service account).
idp_with starttls "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"starttls\":true,\"ca_file\":\"$TMP/tls/ca.pem\",\"base_dn\":\"$BASE\"}"
try_login camille "$CAMILLE_PW"
ok "starttls: login (anonymous search)" logged_in
try_login camille 'wrong-Password-1'
ok "starttls: wrong password: 401" refused
ok "starttls: slapd saw StartTLS" has "$TMP/slapd.log" 'EXT oid=1.3.6.1.4.1.1466.20037'

# LDAPS, direct bind, the DN as the subject.
idp_with ldaps "{\"uri\":\"ldaps://127.0.0.1:$LPS/\",\"ca_file\":\"$TMP/tls/ca.pem\",\"user_dn_template\":\"uid=%s,ou=people,$BASE\",\"subject_attribute\":\"dn\"}"
full_flow camille "$CAMILLE_PW"
ok "ldaps: login and userinfo" eq "$(echo "$U" | jget family_name)" Martin
SUB_DN=$(jwt_payload "$IDT" | jget sub)
ok "ldaps: the DN as the subject gives another sub" test -n "$SUB_DN" -a "$SUB_DN" != "$SUB_SEARCH"
try_login camille 'wrong-Password-1'
ok "ldaps: wrong password: 401" refused

idp_with ldaps-wrong-ca "{\"uri\":\"ldaps://127.0.0.1:$LPS/\",\"ca_file\":\"$TMP/tls/other.pem\",\"user_dn_template\":\"uid=%s,ou=people,$BASE\"}"
try_login camille "$CAMILLE_PW"
ok "ldaps: an untrusted certificate: 503, no password sent" unavailable
idp_with starttls-wrong-ca "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"starttls\":true,\"ca_file\":\"$TMP/tls/other.pem\",\"user_dn_template\":\"uid=%s,ou=people,$BASE\"}"
try_login camille "$CAMILLE_PW"
ok "starttls: an untrusted certificate: 503" unavailable
idp_with ldaps-no-check "{\"uri\":\"ldaps://127.0.0.1:$LPS/\",\"ca_file\":\"$TMP/tls/other.pem\",\"tls_require_cert\":false,\"user_dn_template\":\"uid=%s,ou=people,$BASE\"}"
try_login camille "$CAMILLE_PW"
ok "ldaps: tls_require_cert false accepts it" logged_in
ok "ldaps: tls_require_cert false is warned about" has "$TMP/idp.log" '"tls_require_cert" is false'

# ---- startup ----
DEAD=$(free_port)
idp_with down-at-start "{\"uri\":\"ldap://127.0.0.1:$DEAD/\",\"user_dn_template\":\"uid=%s,ou=people,$BASE\",\"timeout_ms\":500}"
ok "startup: a directory that is down does not stop the daemon" kill -0 "$IDP_PID"
ok "startup: it is reported" has "$TMP/idp.log" "does not answer now"
try_login camille "$CAMILLE_PW"
ok "startup: its logins answer 503" unavailable
stop_idp
ok "$LABEL: daemon exits cleanly" eq "$IDP_RC" 0

ok "config: uri must be ldap(s)" bad_conf '{"uri":"http://127.0.0.1/","base_dn":"dc=example,dc=org"}' '"uri" must be one ldap:// or ldaps:// URL'
ok "config: uri required" bad_conf '{"base_dn":"dc=example,dc=org"}' '"uri"'
ok "config: bind_dn needs bind_password" bad_conf "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"bind_dn\":\"cn=idp,$BASE\",\"base_dn\":\"$BASE\"}" '"bind_dn" and "bind_password" go together'
ok "config: filter needs %s" bad_conf "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"base_dn\":\"$BASE\",\"filter\":\"(uid=camille)\"}" '"filter" must be'
ok "config: base_dn or user_dn_template" bad_conf "{\"uri\":\"ldap://127.0.0.1:$LP/\"}" '"base_dn"'
ok "config: starttls with ldaps" bad_conf "{\"uri\":\"ldaps://127.0.0.1:$LPS/\",\"starttls\":true,\"base_dn\":\"$BASE\"}" '"starttls" is for ldap:// URIs'
ok "config: ca_file must exist" bad_conf "{\"uri\":\"ldaps://127.0.0.1:$LPS/\",\"ca_file\":\"$TMP/nope.pem\",\"base_dn\":\"$BASE\"}" '"ca_file"'
ok "config: timeout_ms range" bad_conf "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"base_dn\":\"$BASE\",\"timeout_ms\":0}" '"timeout_ms" must be an integer'
ok "config: reserved claim" bad_conf "{\"uri\":\"ldap://127.0.0.1:$LP/\",\"base_dn\":\"$BASE\",\"attributes\":{\"sub\":\"uid\"}}" 'not a claim a directory can supply'
ok "config: the service password is never logged" not has "$TMP/idp.log" "$SVC_PW"

done_tests
