#!/bin/sh
# idpctl clients (issue 16): clients kept in their own file (clients_file),
# changed by idpctl after the whole configuration was checked with the new
# version, picked up by the running daemon within a second (no SIGHUP). A
# client added can get tokens; its new secret replaces the old one; removed,
# it cannot; a refused change leaves the file byte for byte as it was.
. "$(dirname "$0")/lib.sh"
setup_tmp
CF="$TMP/clients.json"
R2=http://127.0.0.1:8082/cb
echo '[]' >"$CF"
printf '{"clients_file": "%s"}\n' "$CF" >"$TMP/extra.json"
start_idp memory
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@" 2>>"$TMP/idpctl.log"; }
SECRET=first-secret-of-the-new-service
HASH=$(printf %s "$SECRET" | sha256sum | cut -d' ' -f1)
# cc SECRET: the HTTP status of a client_credentials grant of "newsvc"
cc() { curl -s -o /dev/null -w '%{http_code}' -u "newsvc:$1" -d grant_type=client_credentials "$IDP/token"; }
cc_is() { [ "$(cc "$1")" = "$2" ]; }

ok "an unknown client gets no token" eq "$(cc "$SECRET")" 401
printf '{"client_name":"Nouveau service","client_secret_sha256":"%s","redirect_uris":["%s"],"grant_types":["authorization_code","client_credentials"]}' \
	"$HASH" "$R2" | CTL clients add newsvc >/dev/null
ok "clients add: exit 0" eq "$?" 0
ok "clients list shows it, from the clients file" contains "$(CTL clients list)" "newsvc	Nouveau service	confidential	1 redirect URI	clients_file"
ok "clients show: its redirect URI" contains "$(CTL clients show newsvc)" "redirect_uri	$R2"
ok "the daemon reloads it without a signal" wait_for 30 cc_is "$SECRET" 200
full_login newsvc "$SECRET" "$R2"
ok "the new client completes a login and gets an ID token" test -n "$(echo "$TOK" | jget id_token)"

# Refused changes: the file stays as it was, the daemon keeps serving.
SUM=$(sha256sum <"$CF")
printf '{"redirect_uris":["javascript:alert(1)"]}' | CTL clients set newsvc >/dev/null
ok "a bad redirect URI is refused" eq "$?" 1
ok "... and named in the message" contains "$(tail -n 3 "$TMP/idpctl.log")" "redirect_uris[0]"
printf '{"client_name":"x","redirect_uris":["%s"]}' "$R2" | CTL clients add demo-portal >/dev/null
ok "a duplicate client_id is refused" eq "$?" 1
ok "... as appearing twice" contains "$(tail -n 3 "$TMP/idpctl.log")" 'client_id "demo-portal" appears twice'
printf '{"client_secret":"in-clear-is-refused-0123"}' | CTL clients set newsvc >/dev/null
ok "a secret in clear is refused" eq "$?" 1
printf '{"client_id":"other"}' | CTL clients set newsvc >/dev/null
ok "an id does not change" eq "$?" 1
printf 'not json' | CTL clients add bad >/dev/null
ok "stdin that is not JSON is refused" eq "$?" 1
CTL clients remove demo-portal >/dev/null
ok "a client of the configuration itself is not removed by idpctl" eq "$?" 1
ok "the clients file is untouched by every refusal" eq "$(sha256sum <"$CF")" "$SUM"
ok "no temporary file left behind" eq "$(ls "$TMP" | grep -c 'clients.json.tmp')" 0
ok "the daemon still serves the client" eq "$(cc "$SECRET")" 200

printf '{"client_name":"Renamed"}' | CTL clients set newsvc >/dev/null
ok "clients set: a field changed" contains "$(CTL clients show newsvc)" "newsvc	Renamed"

# new-secret: printed once, only its SHA-256 stored.
NEW=$(CTL clients new-secret newsvc | sed -n 's/^client_secret[^:]*: //p' | head -n1)
ok "new-secret prints a secret" test "${#NEW}" -ge 32
ok "the file keeps only its SHA-256" eq "$(python3 -c 'import json,sys;print([c for c in json.load(open(sys.argv[1])) if c["client_id"]=="newsvc"][0]["client_secret_sha256"])' "$CF")" \
	"$(printf %s "$NEW" | sha256sum | cut -d' ' -f1)"
ok "the secret itself is not in the file" not_contains "$(cat "$CF")" "$NEW"
ok "the new secret works after the reload" wait_for 30 cc_is "$NEW" 200
ok "the old secret no longer does" eq "$(cc "$SECRET")" 401

# A file edited by hand into an invalid state: the reload is refused, the
# previous clients keep serving.
cp "$CF" "$TMP/good.json"
echo '[{"client_id": 1}]' >"$CF.edit" && mv "$CF.edit" "$CF"
ok "a bad hand edit is refused by the daemon" wait_for 30 grep -q 'reload (clients file changed): refused' "$TMP/idp.log"
ok "... which keeps serving the previous clients" eq "$(cc "$NEW")" 200
cp "$TMP/good.json" "$CF.edit" && mv "$CF.edit" "$CF"

CTL clients remove newsvc >/dev/null
ok "clients remove: exit 0" eq "$?" 0
ok "a removed client gets no token after the reload" wait_for 30 cc_is "$NEW" 401
authorize newsvc "$R2"
ok "nor a login page" not_contains "$PAGE" 'name="txn"'
done_tests
