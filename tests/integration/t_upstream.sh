#!/bin/sh
# The hub as a relying party of an upstream provider (a second instance of
# our daemon): choice, redirect, callback, code exchange and verification
# through librp, claims and acr carried over, logout chained upstream, and the
# faults: upstream down (greyed out, then back by itself), bad client
# secret, replayed or tampered callbacks.
. "$(dirname "$0")/lib.sh"
setup_tmp
UP_PORT=$(free_port)
HUB_PORT=$(free_port)
printf '%s\n' 'Jean-2026!xx' | "$BUILD/idp/idpctl" --users "$TMP/up-users.json" users add jean \
	--claims '{"given_name":"Jean","family_name":"Martin","birthdate":"1985-03-02","gender":"male","birthplace":"69123","birthcountry":"99100","email":"jean.martin@example.fr"}' >/dev/null
printf '%s' 'hub-secret-0123456789abcdef' >"$TMP/hub-secret"
chmod 600 "$TMP/hub-secret"
HUBSHA=$(printf %s 'hub-secret-0123456789abcdef' | sha256sum | cut -d' ' -f1)
mkdir -p "$TMP/upkeys"
"$BUILD/idp/idpctl" --keys-dir "$TMP/upkeys" keys init >/dev/null 2>&1
python3 - "$ROOT" "$TMP" "$UP_PORT" "$HUB_PORT" "$HUBSHA" <<'PY'
import json, sys
root, tmp, up, hub, sha = sys.argv[1:6]
c = json.load(open(root + "/conf/demo.json"))
c.update({"issuer": f"http://127.0.0.1:{up}", "keys_dir": tmp + "/upkeys", "templates_dir": root + "/templates",
          "cookie_prefix": "up", "demo": False,
          "backends": [{"id": "tax", "plugin": "file", "title": "Impots", "acr": "eidas2", "users": tmp + "/up-users.json"}],
          "clients": [{"client_id": "hub", "client_secret_sha256": sha, "first_party": True,
                       "redirect_uris": [f"http://127.0.0.1:{hub}/callback/upstream"],
                       "post_logout_redirect_uris": [f"http://127.0.0.1:{hub}/logout/return"]}]})
json.dump(c, open(tmp + "/up.json", "w"), indent=1)
json.dump({"backends": [
    {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": tmp + "/users.json"},
    {"id": "upstream", "plugin": "oidc", "title": "Compte impots", "acr": "eidas2",
     "issuer": f"http://127.0.0.1:{up}", "client_id": "hub", "client_secret_file": tmp + "/hub-secret",
     "scope": "openid profile email birth", "allow_http_loopback": True, "timeout_ms": 2000, "health_check_s": 0}]},
    open(tmp + "/extra.json", "w"))
PY
start_upstream() {
	spawn_idp "$TMP/up.json" "$UP_PORT" "$TMP/up.log" "$TMP/upport"
	UP_PID=$SPAWNED
}
start_upstream
IDP_PORT=$HUB_PORT
make_config memory "$IDP_PORT"
run_idp
UP="http://127.0.0.1:$UP_PORT"
R1=http://127.0.0.1:8081/callback

follow() { # follow URL: GET with the cookie jar; sets RESP (headers and body)
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$1")
}
choose_upstream() {
	authorize demo-portal "$R1"
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data "backend=upstream" "$IDP/choose")
}

choose_upstream
LOC=$(location "$RESP")
ok "choosing the upstream redirects there" contains "$LOC" "$UP/authorize?"
ok "with PKCE S256" contains "$LOC" "code_challenge_method=S256"
ok "with a nonce" contains "$LOC" "nonce="
ok "to the hub's callback" contains "$LOC" "redirect_uri=http%3A%2F%2F127.0.0.1%3A$HUB_PORT%2Fcallback%2Fupstream"
follow "$LOC"
PAGE=$RESP
ok "the upstream shows its login form" contains "$PAGE" 'name="password"'
RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
	--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=jean" \
	--data-urlencode 'password=Jean-2026!xx' "$UP/login")
CB=$(location "$RESP")
ok "the upstream sends the citizen back to the hub" contains "$CB" "http://127.0.0.1:$HUB_PORT/callback/upstream?code="
follow "$CB"
ok "the hub asks consent for the service" contains "$RESP" 'name="decision"'
consent accept
CODE=$(qparam code "$(location "$RESP")")
token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
IDT=$(echo "$TOK" | jget id_token)
P=$(jwt_payload "$IDT")
ok "the service gets an ID token" test -n "$IDT"
ok "the upstream acr is carried over" eq "$(echo "$P" | jget acr)" eidas2
ok "amr says federated" eq "$(echo "$P" | jget amr)" '["fed"]'
U=$(curl -s -H "Authorization: Bearer $(echo "$TOK" | jget access_token)" "$IDP/userinfo")
ok "the upstream's claims reach the service" eq "$(echo "$U" | jget given_name)" Jean
ok "... all of them in scope" eq "$(echo "$U" | jget email)" jean.martin@example.fr
follow "$CB"
ok "a replayed callback is refused" eq "$(status "$RESP")" 400
follow "http://127.0.0.1:$HUB_PORT/callback/upstream?code=x&state=forged"
ok "a forged state is refused" eq "$(status "$RESP")" 400

# Logout at the hub ends the upstream session too, then returns to the service.
follow "$IDP/logout?id_token_hint=$IDT&post_logout_redirect_uri=http://127.0.0.1:8081/&state=bye"
LOC=$(location "$RESP")
ok "hub logout goes to the upstream's logout" contains "$LOC" "$UP/logout?"
follow "$LOC"
LOC=$(location "$RESP")
ok "the upstream returns to the hub" contains "$LOC" "http://127.0.0.1:$HUB_PORT/logout/return?state="
follow "$LOC"
ok "the hub returns to the service with its state" eq "$(location "$RESP")" "http://127.0.0.1:8081/?state=bye"
H=$(curl -s -i -b "$CJ" "$UP/authorize?response_type=code&client_id=hub&redirect_uri=http://127.0.0.1:$HUB_PORT/callback/upstream&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256&prompt=none")
ok "the upstream session is over" eq "$(qparam error "$(location "$H")")" login_required

# A reload of the hub while a citizen is at the upstream: the login ends
# well (the oidc backend finishes a login begun before the reload).
upstream_login() { # up to the upstream's redirect back to the hub; sets CB
	rm -f "$CJ"
	choose_upstream
	follow "$(location "$RESP")"
	PAGE=$RESP
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=jean" \
		--data-urlencode 'password=Jean-2026!xx' "$UP/login")
	CB=$(location "$RESP")
}
login_ends() { # follow the callback in CB; true when the service gets a code
	follow "$CB"
	if [ "$(status "$RESP")" = 200 ] && contains "$RESP" 'name="decision"'; then consent accept; fi
	case "$(location "$RESP")" in "$R1?code="*) return 0 ;; esac
	echo "  [$(status "$RESP")] $(printf %s "$RESP" | grep -o 'upstream[^<]*' | head -n1)" >&2
	return 1
}
# wait_log PATTERN N: until the hub's log has more than N lines with PATTERN.
wait_log() { wait_for 50 sh -c "[ \$(grep -c '$1' '$TMP/idp.log') -gt $2 ]"; }
upstream_login
ok "an upstream login under way" contains "$CB" "/callback/upstream?code="
N=$(grep -c 'reload (keys changed)' "$TMP/idp.log")
touch "$TMP/keys/state.json"
ok "the hub follows the keys folder" wait_log 'reload (keys changed)' "$N"
ok "a keys reload during an upstream login: the login ends" login_ends
upstream_login
N=$(grep -c 'reload (SIGHUP): configuration' "$TMP/idp.log")
kill -HUP "$IDP_PID"
ok "the hub reloads on SIGHUP" wait_log 'reload (SIGHUP): configuration' "$N"
ok "a SIGHUP during an upstream login: the login ends" login_ends

# The upstream goes down: a clear page, then greyed out; back by itself.
kill "$UP_PID"; wait "$UP_PID" 2>/dev/null
rm -f "$CJ"
for i in 1 2 3; do choose_upstream; done
ok "upstream down: a plain page" eq "$(status "$RESP")" 403
ok "upstream down: the page says so" contains "$RESP" "ne répond pas"
ok "upstream down: a link back to the service with access_denied" contains "$RESP" "error=access_denied"
authorize demo-portal "$R1"
ok "after repeated failures the upstream is greyed out" contains "$PAGE" "Indisponible pour le moment"
ok "the local backend stays available" contains "$PAGE" 'value="local">'
# A reload does not forget that a backend is down.
N=$(grep -c 'reload (SIGHUP): configuration' "$TMP/idp.log")
kill -HUP "$IDP_PID"
wait_log 'reload (SIGHUP): configuration' "$N"
authorize demo-portal "$R1"
ok "after a SIGHUP the upstream is still greyed out" contains "$PAGE" "Indisponible pour le moment"
rm -f "$TMP/upport"
start_upstream
ok "once back, the prober restores it" wait_for 150 sh -c "curl -s -c $CJ -b $CJ '$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=s&code_challenge=$C&code_challenge_method=S256' | grep -q 'value=\"upstream\">'"

# A wrong client secret upstream: the citizen is refused, nothing stored.
printf '%s' 'wrong-secret-0123456789abcdef' >"$TMP/hub-secret"
N=$(grep -c 'reload (SIGHUP): configuration' "$TMP/idp.log")
kill -HUP "$IDP_PID"
wait_log 'reload (SIGHUP): configuration' "$N"
upstream_login
follow "$CB"
ok "a failed code exchange upstream: refused" eq "$(status "$RESP")" 403
ok "no hub session after a failed upstream login" not_contains "$RESP" "idp_session="
ok "the upstream's log names no secret" sh -c "! grep -q 'hub-secret-0123456789abcdef' '$TMP/up.log' '$TMP/idp.log'"
kill "$UP_PID" 2>/dev/null
done_tests
