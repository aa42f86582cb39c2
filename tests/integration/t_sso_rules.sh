#!/bin/sh
# stores: both
# Single sign-on obeys the rules a fresh login obeys (issue 15, finding 3): a
# session opened through a backend the client does not allow, or below an
# essential acr, never gives a code without a new login (login_required under
# prompt=none); an essential acr no level can meet is refused; an unknown
# acr_values is refused in the franceconnect profile; and a login through a
# backend the client does not allow (the configuration changed meanwhile)
# never completes for it.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
R1=http://127.0.0.1:8088/callback
RA=http://127.0.0.1:8086/callback
RF=http://127.0.0.1:8087/callback
SECRET=demo-portal-secret
SECRET_SHA=17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d
printf '%s\n' 'Agent-Pass-2026' | "$BUILD/idp/idpctl" --users "$TMP/agents.json" users add agent \
	--claims '{"given_name":"Alain","family_name":"Agent","birthdate":"1980-01-02","gender":"male","birthcountry":"99134"}' >/dev/null
# config AGENTS_ONLY_BACKENDS: writes extra.json (the agents-only client's
# allowed backends as a JSON list).
config() {
	cat >"$TMP/extra.json" <<J
{"backends": [
  {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": "$TMP/users.json"},
  {"id": "agents", "plugin": "file", "title": "Annuaire des agents", "acr": "eidas2", "users": "$TMP/agents.json"}],
 "clients+": [
  {"client_id": "portal", "client_name": "Portail", "client_secret_sha256": "$SECRET_SHA",
   "redirect_uris": ["$R1"], "first_party": true},
  {"client_id": "agents-only", "client_name": "Intranet", "client_secret_sha256": "$SECRET_SHA",
   "redirect_uris": ["$RA"], "backends": $1, "first_party": true},
  {"client_id": "fc-svc", "client_name": "Service FC", "client_secret_sha256": "$SECRET_SHA",
   "redirect_uris": ["$RF"], "sector_identifier": "fc.test", "profile": "franceconnect", "first_party": true}]}
J
}
config '["agents"]'
start_idp "$STORE"
enc() { python3 -c 'import urllib.parse,sys;print(urllib.parse.quote(sys.argv[1],safe=""))' "$1"; }
# az CLIENT REDIRECT [EXTRA]: GET /authorize with the jar; sets H and PAGE.
az() {
	pkce
	H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$(enc "$2")&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256${3:-}")
	PAGE=$H
}
# A session through "local" (eidas1).
authorize portal "$R1" "&idp_hint=local"
login marianne 'Marianne-2026!'
CODE=$(qparam code "$(location "$RESP")")
ok "setup: a session through local (eidas1)" test -n "$CODE"
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "setup: its acr is eidas1" eq "$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget acr)" eidas1
az portal "$R1" "&prompt=none"
ok "setup: SSO at portal gives a code" test -n "$(qparam code "$(location "$H")")"

# ---- backends: a session from a backend the client does not allow.
az agents-only "$RA" "&prompt=none"
ok "local session, client allowing only agents, prompt=none: no code" eq "$(qparam code "$(location "$H")")" ""
ok "... login_required" eq "$(qparam error "$(location "$H")")" login_required
az agents-only "$RA"
ok "local session, client allowing only agents: a new login, no code" eq "$(qparam code "$(location "$H")")" ""
ok "... at the agents backend's form" contains "$H" "Annuaire des agents"
ok "... a login form" contains "$H" 'name="password"'

# ---- acr: an essential acr the session does not reach.
CL=$(enc '{"id_token":{"acr":{"essential":true,"value":"eidas2"}}}')
az portal "$R1" "&prompt=none&claims=$CL"
ok "eidas1 session, essential acr value eidas2, prompt=none: no code" eq "$(qparam code "$(location "$H")")" ""
ok "... login_required" eq "$(qparam error "$(location "$H")")" login_required
CL=$(enc '{"id_token":{"acr":{"essential":true,"values":["eidas2","eidas3"]}}}')
az portal "$R1" "&prompt=none&acr_values=eidas1&claims=$CL"
ok "eidas1 session, acr_values eidas1 but essential values eidas2/eidas3, prompt=none: no code" eq "$(qparam code "$(location "$H")")" ""
ok "... login_required" eq "$(qparam error "$(location "$H")")" login_required
CL=$(enc '{"id_token":{"acr":{"essential":true,"value":"eidas2"}}}')
az portal "$R1" "&claims=$CL"
ok "eidas1 session, essential acr eidas2: a new login at the eidas2 backend" contains "$H" "Annuaire des agents"
login agent 'Agent-Pass-2026'
CODE=$(qparam code "$(location "$RESP")")
ok "... the login gives a code" test -n "$CODE"
token portal "$SECRET" "$CODE" "$R1" "$V"
ok "... whose ID token says eidas2" eq "$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget acr)" eidas2
CL=$(enc '{"id_token":{"acr":{"essential":true,"value":"loa-from-elsewhere"}}}')
az portal "$R1" "&claims=$CL"
ok "essential acr of no known level: no code" eq "$(qparam code "$(location "$H")")" ""
ok "... unmet_authentication_requirements" eq "$(qparam error "$(location "$H")")" unmet_authentication_requirements
CL=$(enc '{"id_token":{"acr":{"essential":true,"values":["eidas3"]}}}')
az portal "$R1" "&claims=$CL"
ok "essential acr eidas3, no backend reaches it: unmet_authentication_requirements" eq "$(qparam error "$(location "$H")")" unmet_authentication_requirements
CL=$(enc '{"id_token":{"acr":{"value":"loa-from-elsewhere"}}}')
az portal "$R1" "&prompt=none&claims=$CL"
ok "a voluntary acr of no known level is no obstacle: a code" test -n "$(qparam code "$(location "$H")")"

# ---- franceconnect profile: acr_values must name a known level.
az fc-svc "$RF" "&acr_values=loa-from-elsewhere"
ok "franceconnect profile, acr_values of no known level: no code" eq "$(qparam code "$(location "$H")")" ""
ok "... invalid_request" eq "$(qparam error "$(location "$H")")" invalid_request
az fc-svc "$RF" "&acr_values=eidas2&prompt=none"
ok "franceconnect profile, acr_values=eidas2 on the eidas2 session: a code" test -n "$(qparam code "$(location "$H")")"

# ---- a fresh login through a backend the client no longer allows: the
# form was shown for agents, then the configuration (SIGHUP) allows only
# local; the login must not complete for the client.
rm -f "$CJ"
az agents-only "$RA"
ok "setup: agents-only shows the agents form" contains "$H" "Annuaire des agents"
config '["local"]'
make_config "$STORE" "$IDP_PORT"
N=$(grep -c 'reload (SIGHUP): configuration and keys reloaded' "$TMP/idp.log")
kill -HUP "$IDP_PID"
wait_for 50 sh -c "[ \$(grep -c 'reload (SIGHUP): configuration and keys reloaded' '$TMP/idp.log') -gt $N ]"
ok "setup: reloaded" test "$(grep -c 'reload (SIGHUP): configuration and keys reloaded' "$TMP/idp.log")" -gt "$N"
login agent 'Agent-Pass-2026'
ok "a login at a backend the client does not allow: no code" eq "$(qparam code "$(location "$RESP")")" ""
ok "... refused (403 page or access_denied)" sh -c "[ '$(status "$RESP")' = 403 ] || [ '$(qparam error "$(location "$RESP")")' = access_denied ]"
az agents-only "$RA" "&prompt=none"
ok "... and it left no session the client can use" eq "$(qparam code "$(location "$H")")" ""
done_tests
