#!/bin/sh
# Key rotation: two daemons sharing one redis-server and one keys folder;
# rotate waits for lagging services; both nodes follow a rotation within the
# documented bound (about 1 s); revocation; retiring keys leave the JWKS;
# states survive a restart; unsafe requests are refused.
. "$(dirname "$0")/lib.sh"
setup_tmp
cat >"$TMP/extra.json" <<'J'
{"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 8, "rotation_deadline_s": 3600, "retire_leeway_s": 1},
 "tokens": {"code_ttl_s": 60, "access_token_ttl_s": 10, "id_token_ttl_s": 10}}
J
start_idp redis
A="$IDP"; A_PID=$IDP_PID
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }
# A second node: same configuration, same store, same keys folder.
B_PORT=$(free_port)
"$BUILD/idp/idp" --config "$TMP/idp.json" --port "$B_PORT" --port-file "$TMP/portb" \
	--plugin-dir "$BUILD/plugins" >"$TMP/idp-b.log" 2>&1 &
B_PID=$!
PIDS="$PIDS $B_PID"
B="http://127.0.0.1:$B_PORT"
wait_for 100 test -s "$TMP/portb" || { cat "$TMP/idp-b.log"; exit 1; }

# The kid that signs on a node: a client_credentials token's header.
kid_on() {
	curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials "$1/token" | jget access_token |
		cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["kid"])'
}
state_of() { python3 -c 'import json,sys;[print(k["state"]) for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]]' "$TMP/keys/state.json" "$1"; }
kid_in_state() { python3 -c 'import json,sys;[print(k["kid"]) for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]==sys.argv[2] and k["state"]==sys.argv[3]]' "$TMP/keys/state.json" "$1" "$2"; }

ACTIVE=$(kid_in_state RS256 active)
NEXT=$(kid_in_state RS256 next)
ok "init made an active and a next key" test -n "$ACTIVE" -a -n "$NEXT"
ok "node A signs with the active key" eq "$(kid_on "$A")" "$ACTIVE"
ok "node B signs with the same key" eq "$(kid_on "$B")" "$ACTIVE"
J=$(curl -s "$A/jwks")
ok "the next key is published before it signs" contains "$J" "$NEXT"
H=$(curl -s -i "$A/jwks" | tr -d '\r')
ok "JWKS max-age shorter than min_publish_s" contains "$H" "Cache-Control: public, max-age=1"

# Wait until the next key is old enough (min_publish_s after init).
wait_for 200 sh -c "python3 -c 'import json,sys,time;s=json.load(open(sys.argv[1]));sys.exit(0 if all(time.time()>k[\"created\"]+8.5 for k in s[\"keys\"]) else 1)' $TMP/keys/state.json"

# demo-portal is active (it got a token above) and has never fetched the JWKS.
OUT=$(CTL keys rotate --alg RS256); RC=$?
ok "rotate waits for a lagging active service" eq "$RC" 3
ok "rotate names the lagging service" contains "$OUT" "demo-portal"
OUT=$(CTL keys status)
ok "status shows demo-portal not ready" contains "$OUT" "RS256:not-ready"
curl -s -H 'X-Client-Id: demo-portal' "$B/jwks" >/dev/null
OUT=$(CTL keys status)
ok "status shows demo-portal ready after its JWKS fetch" contains "$OUT" "RS256:ready"
OUT=$(CTL keys rotate --alg RS256); RC=$?
ok "rotate goes on once the service has the next key" eq "$RC" 0
# Checked at once, well inside min_publish_s and the old key's token lifetime:
OUT=$(CTL keys rotate --alg RS256); RC=$?
ok "rotate refused while the new next key is too young" eq "$RC" 3
ok "the refusal says when it may sign" contains "$OUT" "min_publish_s"
OUT=$(CTL keys remove "$ACTIVE"); RC=$?
ok "a retiring key is not removed while its tokens are valid" eq "$RC" 3
ok "the promoted key is active" eq "$(state_of "$NEXT")" active
ok "the old key is retiring" eq "$(state_of "$ACTIVE")" retiring
ok "the audit log records the rotation" grep -q "rotate: RS256 $NEXT next -> active" "$TMP/keys/audit.log"
ok "node A signs with the new key within the bound" wait_for 150 sh -c "[ \"\$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -o $NEXT)\" = $NEXT ]"
ok "node B signs with the new key within the bound" wait_for 150 sh -c "[ \"\$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $B/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -o $NEXT)\" = $NEXT ]"
ok "node A kid" eq "$(kid_on "$A")" "$NEXT"
ok "node B kid" eq "$(kid_on "$B")" "$NEXT"
ok "the retiring key is still published" contains "$(curl -s "$A/jwks")" "$ACTIVE"
ok "the retiring key leaves the JWKS once its tokens expired" wait_for 250 sh -c "! curl -s $A/jwks | grep -q $ACTIVE"
ok "... on node B too" wait_for 150 sh -c "! curl -s $B/jwks | grep -q $ACTIVE"

# Emergency revocation: out of the JWKS at once, signing moves on.
CUR=$(kid_in_state RS256 active)
OUT=$(CTL keys revoke "$CUR"); RC=$?
ok "revoke succeeds" eq "$RC" 0
ok "revoked key is out of node A's JWKS" wait_for 150 sh -c "! curl -s $A/jwks | grep -q $CUR"
ok "revoked key is out of node B's JWKS" wait_for 150 sh -c "! curl -s $B/jwks | grep -q $CUR"
NEW=$(kid_in_state RS256 active)
ok "a new key signs after revocation" test -n "$NEW" -a "$NEW" != "$CUR"
ok "node A signs with it" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -q $NEW"
ok "node B signs with it" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $B/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -q $NEW"
ok "the revoked key's file is gone" sh -c "! ls $TMP/keys | grep -q \"rs256-$(printf %.16s "$CUR")\""
OUT=$(CTL keys revoke "$CUR"); RC=$?
ok "revoking twice is refused" test "$RC" -ne 0

# Import: a key made elsewhere becomes the next key; a wrong type is refused.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/ext.pem" 2>/dev/null
OUT=$(CTL keys import "$TMP/ext.pem" --alg RS256); RC=$?
ok "import of an EC key as RS256 refused" test "$RC" -ne 0
OUT=$(CTL keys import "$TMP/ext.pem" --alg ES256); RC=$?
ok "import of a P-256 key as ES256" eq "$RC" 0
IMP=$(kid_in_state ES256 next)
ok "the imported key is next and published" wait_for 150 sh -c "curl -s $A/jwks | grep -q $IMP"

# A restart keeps the key states.
BEFORE=$(curl -s "$A/jwks")
IDP_PID=$A_PID
stop_idp
run_idp
ok "a restart keeps the JWKS" eq "$(curl -s "$IDP/jwks")" "$BEFORE"
ok "a restart keeps the signing key" eq "$(kid_on "$IDP")" "$NEW"

# No active key: the daemon refuses to start.
python3 -c 'import json,sys;s=json.load(open(sys.argv[1]));[k.update(state="next") for k in s["keys"] if k["alg"]=="ES256" and k["state"]=="active"];json.dump(s,open(sys.argv[2]+"/state.json","w"))' "$TMP/keys/state.json" "$TMP" 
mkdir -p "$TMP/k3" && cp "$TMP/keys"/*.pem "$TMP/k3/" && mv "$TMP/state.json" "$TMP/k3/state.json"
OUT=$("$BUILD/idp/idp" --config "$TMP/idp.json" --keys-dir "$TMP/k3" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "no active key: refused" test "$RC" -ne 0
ok "no active key: said plainly" contains "$OUT" "no active ES256 key"
kill "$B_PID" 2>/dev/null
done_tests
