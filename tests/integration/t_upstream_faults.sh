#!/bin/sh
# alone: it measures time or memory (tests/run-all.sh)
# Upstream providers that misbehave (tests/integration/faultop.py): a bad
# ID-token signature, a wrong iss or aud, a missing or replayed nonce, an
# error on the callback; the upstream acr below, above, missing or unknown;
# two upstream instances of the oidc plugin side by side; an upstream that
# stops answering (SIGSTOP): timeout, plain page, the other backends keep
# working, greyed out, not choosable, back after SIGCONT.
. "$(dirname "$0")/lib.sh"
setup_tmp
HUB_PORT=$(free_port)
for n in 1 2; do
	python3 "$ROOT/tests/integration/faultop.py" "$TMP/op$n-url" "$([ $n = 1 ] && echo Jean || echo Paul)" \
		>>"$TMP/op$n.log" 2>&1 &
	eval "OP${n}_PID=$!"
	PIDS="$PIDS $!"
done
wait_for 100 test -s "$TMP/op1-url" || { cat "$TMP/op1.log"; exit 1; }
wait_for 100 test -s "$TMP/op2-url" || { cat "$TMP/op2.log"; exit 1; }
OP1=$(cat "$TMP/op1-url")
OP2=$(cat "$TMP/op2-url")
printf '%s' 'hub-secret-0123456789abcdef' >"$TMP/hub-secret"
chmod 600 "$TMP/hub-secret"
python3 - "$TMP" "$OP1" "$OP2" <<'PY'
import json, sys
tmp, op1, op2 = sys.argv[1:4]
up = lambda i, t, iss: {"id": i, "plugin": "oidc", "title": t, "acr": "eidas2", "issuer": iss,
                        "client_id": "hub", "client_secret_file": tmp + "/hub-secret",
                        "scope": "openid profile email birth", "allow_http_loopback": True,
                        "timeout_ms": 2000, "health_check_s": 0}
json.dump({"backends": [
    {"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas1", "users": tmp + "/users.json"},
    up("up", "Compte impots", op1), up("up2", "Compte sante", op2)]}, open(tmp + "/extra.json", "w"))
PY
IDP_PORT=$HUB_PORT
make_config memory "$IDP_PORT"
run_idp
R1=http://127.0.0.1:8081/callback
ISS_ENC="http%3A%2F%2F127.0.0.1%3A$HUB_PORT"

mode() { curl -s -o /dev/null -d "fault=$2" -d "acr=$3" "$1/_mode"; }
authz_url() { # authz_url [QUERY]: the service's request (call pkce first)
	echo "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid%20profile%20email&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256${1:-}"
}
# up_login BACKEND [QUERY]: a fresh browser goes through the upstream (which
# logs in at once) back to the hub; sets RESP to the hub's answer there.
up_login() {
	rm -f "$CJ"
	pkce
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$(authz_url "&idp_hint=$1${2:-}")")
	RESP=$(curl -s -i "$(location "$RESP")")
	CB=$(location "$RESP")
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$CB")
}
finish() { # consent if asked, then the code exchange; sets P (ID token payload), TOK
	# (a 200 without the consent form is the continue page after an upstream's form)
	case "$RESP" in *'name="decision"'*) consent accept ;; esac
	CODE=$(qparam code "$(location "$RESP")")
	token demo-portal demo-portal-secret "$CODE" "$R1" "$V"
	P=$(jwt_payload "$(echo "$TOK" | jget id_token)" 2>/dev/null)
}
return_link() { # the page's link back to the service, &amp; undone
	printf %s "$RESP" | sed -n 's/.*<a href="\([^"]*\)">.*/\1/p' | head -n1 | sed 's/&amp;/\&/g'
}
no_session() { # no SSO session cookie was set, and the hub knows no session
	not_contains "$RESP" "idp_session=" || return 1
	H=$(curl -s -i -c "$CJ" -b "$CJ" "$(authz_url "&prompt=none")")
	eq "$(qparam error "$(location "$H")")" login_required
}

# A good upstream first (it also records the nonce the replay reuses).
up_login up
ok "good upstream: consent for the service" contains "$RESP" 'name="decision"'
finish
ok "good upstream: ID token with the upstream's acr" eq "$(echo "$P" | jget acr)" eidas2

# Each fault: a plain page, access_denied with state and iss for the
# service, no session.
for f in bad_sig wrong_iss wrong_aud no_nonce replay_nonce error; do
	mode "$OP1" "$f" eidas2
	up_login up
	ok "$f: the citizen gets a plain error page" eq "$(status "$RESP")" 403
	ok "$f: the page says the provider did not confirm" contains "$RESP" "pas pu confirmer votre identité"
	L=$(return_link)
	ok "$f: the link returns to the service" contains "$L" "$R1?error=access_denied"
	ok "$f: ... with the service's state" eq "$(qparam state "$L")" st4te
	ok "$f: ... and the hub as iss" eq "$(qparam iss "$L")" "$ISS_ENC"
	ok "$f: nothing stored" no_session
done
ok "the hub logged why the tokens were refused" grep -q "ID token refused" "$TMP/idp.log"
ok "... and the upstream's error" grep -q "error=access_denied" "$TMP/idp.log"

# The upstream acr, capped at the backend's level (eidas2); missing or
# unknown counts as the weakest level.
acr_of() { # acr_of UPSTREAM_ACR [QUERY]: the acr in the ID token the service gets
	mode "$OP1" none "$1"
	up_login up "${2:-}"
	finish
	echo "$P" | jget acr
}
ok "upstream acr eidas1 (below the backend's): carried as is" eq "$(acr_of eidas1)" eidas1
ok "upstream acr eidas3 (above the backend's): capped at eidas2" eq "$(acr_of eidas3)" eidas2
ok "no upstream acr: the weakest level, not the backend's" eq "$(acr_of -)" eidas1
ok "unknown upstream acr: the weakest level" eq "$(acr_of loa-x)" eidas1
ok "upstream acr eidas2 for a service asking eidas2" eq "$(acr_of eidas2 '&acr_values=eidas2')" eidas2
for a in - eidas1; do
	mode "$OP1" none "$a"
	up_login up "&acr_values=eidas2"
	ok "upstream acr [$a] below what the service asks: refused" eq "$(status "$RESP")" 403
	ok "... the page says the level is too low" contains "$RESP" "niveau de sécurité suffisant"
	ok "... access_denied for the service" contains "$(return_link)" "$R1?error=access_denied"
	ok "... no session" no_session
done
mode "$OP1" none eidas2

# Two instances of the oidc plugin: each on the choice page with its own
# title, a login through each.
rm -f "$CJ"
PAGE=$(curl -s -c "$CJ" -b "$CJ" "$(authz_url)")
ok "choice page: the first upstream with its title" contains "$PAGE" '<button type="submit" name="backend" value="up">Compte impots</button>'
ok "choice page: the second upstream with its title" contains "$PAGE" '<button type="submit" name="backend" value="up2">Compte sante</button>'
for b in up up2; do
	rm -f "$CJ"
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" "$(authz_url)")
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
		--data-urlencode "csrf=$(field csrf "$PAGE")" --data "backend=$b" "$IDP/choose")
	LOC=$(location "$RESP")
	RESP=$(curl -s -i "$LOC")
	RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$(location "$RESP")")
	finish
	eval "GN_$b=\$(curl -s -H \"Authorization: Bearer \$(echo \"\$TOK\" | jget access_token)\" \"\$IDP/userinfo\" | jget given_name)"
	eval "TO_$b=\$LOC"
done
ok "choosing the first upstream goes to it" contains "$TO_up" "$OP1/authorize?"
ok "choosing the second upstream goes to it" contains "$TO_up2" "$OP2/authorize?"
ok "a login through the first upstream: its citizen" eq "$GN_up" Jean
ok "a login through the second upstream: its citizen" eq "$GN_up2" Paul

# The upstream stops answering in the middle of a login (after sending the
# citizen back, before the code exchange): a timeout, a plain page.
rm -f "$CJ"
pkce
RESP=$(curl -s -i -c "$CJ" -b "$CJ" "$(authz_url "&idp_hint=up")")
CB=$(location "$(curl -s -i "$(location "$RESP")")")
kill -STOP "$OP1_PID"
RESP=$(curl -s -i -m 20 -c "$CJ" -b "$CJ" "$CB")
ok "slow upstream at the code exchange: a plain page" eq "$(status "$RESP")" 403
ok "... saying the provider is not answering" contains "$RESP" "ne répond pas"
ok "... access_denied for the service" contains "$(return_link)" "$R1?error=access_denied"
ok "... no session" no_session
ok "the hub logged the timeout" grep -q -i "timeout\|timed out" "$TMP/idp.log"
# While a citizen waits on the stopped upstream, others log in elsewhere.
curl -s -i -m 20 "$(authz_url "&idp_hint=up")" >"$TMP/slow.out" 2>&1 &
SLOW=$!
rm -f "$CJ"
pkce
PAGE=$(curl -s -m 20 -c "$CJ" -b "$CJ" "$(authz_url "&idp_hint=local")")
login marianne 'Marianne-2026!'
finish
ok "upstream stopped: the local backend still logs citizens in" eq "$(echo "$P" | jget acr)" eidas1
up_login up2
finish
ok "upstream stopped: the other upstream still logs citizens in" eq "$(echo "$P" | jget acr)" eidas2
wait "$SLOW"
ok "the citizen sent to the stopped upstream gets the plain page" contains "$(cat "$TMP/slow.out")" "ne répond pas"
RESP=$(curl -s -i -m 20 "$(authz_url "&idp_hint=up")")
# Three failures in a row: greyed out, and not choosable.
rm -f "$CJ"
PAGE=$(curl -s -c "$CJ" -b "$CJ" "$(authz_url)")
ok "after repeated timeouts the upstream is greyed out" contains "$PAGE" 'value="up" disabled'
ok "... with a plain-language notice" contains "$PAGE" "Indisponible pour le moment"
ok "... the other upstream stays choosable" contains "$PAGE" 'value="up2">'
RESP=$(curl -s -i -m 20 -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
	--data-urlencode "csrf=$(field csrf "$PAGE")" --data "backend=up" "$IDP/choose")
ok "choosing the greyed-out upstream is refused" eq "$(status "$RESP")" 503
ok "... the citizen is not sent there" eq "$(location "$RESP")" ""
ok "... the notice names it" contains "$RESP" "Compte impots est indisponible pour le moment"
ok "... and the choice page is shown again" contains "$RESP" 'action="/choose"'
PAGE=$RESP
RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$PAGE")" \
	--data-urlencode "csrf=$(field csrf "$PAGE")" --data "backend=local" "$IDP/choose")
ok "... from which another backend can be chosen" contains "$RESP" 'name="password"'
kill -CONT "$OP1_PID"
ok "after SIGCONT the prober brings the upstream back" wait_for 200 sh -c \
	"curl -s '$(authz_url)' | grep -q 'value=\"up\">'"
up_login up
finish
ok "and a login through it works again" eq "$(echo "$P" | jget acr)" eidas2
done_tests
