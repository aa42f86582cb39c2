#!/bin/sh
# Rotation that no service notices: continuous SSO logins and ID-token
# verifications with librp in several threads while the keys rotate three
# times; then an emergency revocation seen by librp after one JWKS refetch.
. "$(dirname "$0")/lib.sh"
setup_tmp
LSHA=$(printf %s 'load-secret-0123456789abcdef' | sha256sum | cut -d' ' -f1)
cat >"$TMP/extra.json" <<J
{"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 3, "rotation_deadline_s": 600, "retire_leeway_s": 1},
 "clients+": [{"client_id": "load", "client_secret_sha256": "$LSHA", "first_party": true,
   "redirect_uris": ["http://127.0.0.1:8089/cb"]}]}
J
start_idp redis
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@" 2>>"$TMP/idpctl.log"; }
# One real login gives the browser session the load reuses (SSO).
authorize load http://127.0.0.1:8089/cb
login marianne 'Marianne-2026!'
ok "the citizen is logged in" contains "$(location "$RESP")" "code="
COOKIE=$(awk '$6=="idp_session"{print $7}' "$CJ")
ok "a session cookie" test -n "$COOKIE"
LOAD="$BUILD/tests/rotation_load"

"$LOAD" load "$IDP" load load-secret-0123456789abcdef http://127.0.0.1:8089/cb "$COOKIE" 20 4 \
	>"$TMP/load.out" 2>"$TMP/load.err" &
LPID=$!
PIDS="$PIDS $LPID"
rotations=0
for n in 1 2 3; do
	sleep 3
	# rotate refuses until the next key is old enough and librp (which
	# authenticates as its client) has fetched a JWKS that holds it; retry, bounded.
	i=0
	while [ $i -lt 60 ]; do
		if CTL keys rotate --alg RS256 >>"$TMP/rotate.out"; then
			rotations=$((rotations+1))
			break
		fi
		sleep 0.25
		i=$((i+1))
	done
done
wait "$LPID"
LRC=$?
OUT=$(cat "$TMP/load.out")
echo "  load: $OUT"
ok "three rotations under load" eq "$rotations" 3
ok "the load ran" test -n "$OUT"
ok "zero failed logins and verifications during the rotations" eq "$LRC" 0
ok "zero failed logins" contains "$OUT" "failures 0 "
ok "zero failed verifications" contains "$OUT" "verify_failures 0"
ok "the audit log has the three rotations" eq "$(grep -c 'rotate: RS256 .* next -> active' "$TMP/keys/audit.log")" 3

# Emergency revocation: librp stops accepting the revoked key's tokens after
# one JWKS refetch interval; new tokens verify.
mkfifo "$TMP/fifo"
"$LOAD" revoke "$IDP" load load-secret-0123456789abcdef http://127.0.0.1:8089/cb "$COOKIE" 3 \
	<"$TMP/fifo" >"$TMP/revoke.out" 2>"$TMP/revoke.err" &
RPID=$!
PIDS="$PIDS $RPID"
exec 7>"$TMP/fifo"
wait_for 100 grep -q READY "$TMP/revoke.out"
KID=$(head -n1 "$TMP/revoke.out")
ok "a token signed by the active key" test -n "$KID" -a "$KID" != "?"
CTL keys revoke "$KID" >/dev/null
echo go >&7
exec 7>&-
wait "$RPID"
RRC=$?
cat "$TMP/revoke.out" | sed 's/^/  /'
ok "after one refetch interval librp refuses the revoked key's token and accepts new ones" eq "$RRC" 0
done_tests
