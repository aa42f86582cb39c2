#!/bin/sh
# Key rotation: two daemons sharing one redis-server and one keys folder;
# rotate waits for lagging services; both nodes follow a rotation within the
# documented bound (about 1 s); revocation; retiring keys leave the JWKS;
# states survive a restart; unsafe requests are refused.
. "$(dirname "$0")/lib.sh"
setup_tmp
# svc-b: a second service (client_credentials) whose readiness is followed
# beside demo-portal's. rotation_deadline_s (60 s) leaves room for the waiting checks
# of the first RS256 rotation on a loaded machine (ASan, argon2id logins), and
# the ES256 one at the end waits for it to pass.
cat >"$TMP/extra.json" <<'J'
{"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 8, "rotation_deadline_s": 60, "retire_leeway_s": 1},
 "tokens": {"code_ttl_s": 60, "access_token_ttl_s": 10, "id_token_ttl_s": 10},
 "clients+": [{"client_id": "svc-b", "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
   "grant_types": ["client_credentials"]}]}
J
start_idp redis
A="$IDP"; A_PID=$IDP_PID
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }
# A second node: same configuration, same store, same keys folder.
B_PORT=$(free_port)
spawn_idp "$TMP/idp.json" "$B_PORT" "$TMP/idp-b.log" "$TMP/portb"
B_PID=$SPAWNED
B="http://127.0.0.1:$B_PORT"

# The kid that signs on a node: a client_credentials token's header.
kid_on() {
	curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials "$1/token" | jget access_token |
		cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["kid"])'
}
state_of() { python3 -c 'import json,sys;[print(k["state"]) for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]]' "$TMP/keys/state.json" "$1"; }
kid_in_state() { python3 -c 'import json,sys;[print(k["kid"]) for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]==sys.argv[2] and k["state"]==sys.argv[3]]' "$TMP/keys/state.json" "$1" "$2"; }

# A kid is base64url and may begin with '-': idpctl takes it as an argument,
# not as an unknown option (one in 64 kids does).
OUT=$(CTL keys remove -dzNoSuchKid 2>&1); RC=$?
ok "a kid beginning with - is a kid for idpctl" contains "$OUT" "no key -dzNoSuchKid"
ok "... an error, exit status 1" eq "$RC" 1
OUT=$(CTL keys revoke -- -dzNoSuchKid 2>&1)
ok "-- ends idpctl's options" contains "$OUT" "no key -dzNoSuchKid"
OUT=$(CTL keys list --bogus 2>&1); RC=$?
ok "an unknown idpctl option is a usage error" eq "$RC" 2
ok "... that names it" contains "$OUT" 'unknown or incomplete argument "--bogus"'

cc_token() { curl -s -u "$2:demo-portal-secret" -d grant_type=client_credentials "$1/token"; }
# The line of `keys status` for one service.
status_of() { CTL keys status | grep "^  $1 "; }

ACTIVE=$(kid_in_state RS256 active)
NEXT=$(kid_in_state RS256 next)
ok "init made an active and a next key" test -n "$ACTIVE" -a -n "$NEXT"
ok "node A signs with the active key" eq "$(kid_on "$A")" "$ACTIVE"
# A citizen's session and an ID token signed by that key: logout hints below.
full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
IDT1=$(echo "$TOK" | jget id_token)
ok "an ID token signed by the first key" contains "$(printf %s "$IDT1" | cut -d. -f1 | base64 -d 2>/dev/null)" "$ACTIVE"
# svc-b is active and has fetched the JWKS (it holds both next keys): ready.
ok "svc-b gets a token" test -n "$(cc_token "$A" svc-b | jget access_token)"
curl -s -u svc-b:demo-portal-secret "$A/jwks" >/dev/null

# --force rotates at once, even a next key younger than min_publish_s, and
# names the active service it leaves behind (demo-portal), not the ready one.
ES_ACTIVE=$(kid_in_state ES256 active)
ES_NEXT=$(kid_in_state ES256 next)
OUT=$(CTL keys rotate --alg ES256 --force); RC=$?
ok "rotate --force goes on" eq "$RC" 0
ok "rotate --force says so" contains "$OUT" "rotating anyway (--force); left behind: demo-portal"
ok "rotate --force does not name a ready service" not_contains "$OUT" "svc-b"
ok "rotate --force promoted the next key" eq "$(state_of "$ES_NEXT")" active
ok "rotate --force retired the active key" eq "$(state_of "$ES_ACTIVE")" retiring
ok "the audit log records the forced rotation" grep -q "rotate: ES256 $ES_NEXT next -> active" "$TMP/keys/audit.log"
ES_NEXT2=$(kid_in_state ES256 next)
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
ok "rotate names the lagging service" contains "$OUT" "this active service has not yet fetched a JWKS holding $NEXT: demo-portal"
ok "rotate does not name a ready service" not_contains "$OUT" "svc-b"
ok "rotate says until when it waits" contains "$OUT" "waiting for them"
ok "the next key is still next" eq "$(state_of "$NEXT")" next
ok "status shows demo-portal not ready" contains "$(status_of demo-portal)" "RS256:not-ready"
ok "status shows svc-b ready" contains "$(status_of svc-b)" "RS256:ready"
curl -s -u demo-portal:demo-portal-secret "$B/jwks" >/dev/null
ok "status shows demo-portal ready after its JWKS fetch" contains "$(status_of demo-portal)" "RS256:ready"
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
ok "node A signs with the new key within the bound" wait_for 150 sh -c "[ \"\$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -oe $NEXT)\" = $NEXT ]"
ok "node B signs with the new key within the bound" wait_for 150 sh -c "[ \"\$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $B/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -oe $NEXT)\" = $NEXT ]"
ok "node A kid" eq "$(kid_on "$A")" "$NEXT"
ok "node B kid" eq "$(kid_on "$B")" "$NEXT"
ok "the retiring key is still published" contains "$(curl -s "$A/jwks")" "$ACTIVE"
ok "the retiring key leaves the JWKS once its tokens expired" wait_for 250 sh -c "! curl -s $A/jwks | grep -qe $ACTIVE"
ok "... on node B too" wait_for 150 sh -c "! curl -s $B/jwks | grep -qe $ACTIVE"

# Logout with a hint whose key has left the JWKS (retired): accepted, but
# unverified: the citizen confirms, and a redirect needs client_id and a URI
# registered for it. A hint with a bad signature is still refused.
RURI=http://127.0.0.1:8081/
H=$(curl -s -i -b "$CJ" "$A/logout?id_token_hint=$IDT1&post_logout_redirect_uri=$RURI&state=bye")
ok "retired hint: not refused" eq "$(status "$H")" 200
ok "retired hint: the citizen confirms" contains "$H" 'name="confirm"'
ok "retired hint without client_id: no redirect" eq "$(location "$H")" ""
ok "retired hint without client_id: the URI is not offered" not_contains "$H" 'name="post_logout_redirect_uri"'
H=$(curl -s -i -b "$CJ" "$A/logout?id_token_hint=$IDT1&client_id=demo-portal&post_logout_redirect_uri=https://evil.example/")
ok "retired hint, unregistered URI: no redirect" eq "$(location "$H")" ""
ok "retired hint, unregistered URI: never offered" not_contains "$H" "evil.example"
H=$(curl -s -i -b "$CJ" "$A/logout?id_token_hint=$IDT1&client_id=demo-portal-2&post_logout_redirect_uri=$RURI")
ok "retired hint for another client_id: refused" eq "$(status "$H")" 400
H=$(curl -s -i -b "$CJ" "$A/logout?id_token_hint=$IDT1&client_id=demo-portal&post_logout_redirect_uri=$RURI&state=bye")
ok "retired hint with client_id: the citizen confirms" contains "$H" 'name="confirm"'
ok "retired hint with client_id: the registered URI is kept" contains "$H" "value=\"$RURI\""
H=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "csrf=$(field csrf "$H")" --data client_id=demo-portal \
	--data-urlencode "post_logout_redirect_uri=$RURI" --data state=bye --data confirm=yes "$A/logout")
ok "retired hint with client_id: back to the registered URI once confirmed" eq "$(location "$H")" "${RURI}?state=bye"
AT=$(cc_token "$A" demo-portal | jget access_token)
BAD=$(printf %s "$AT" | python3 -c 'import sys;t=sys.stdin.read().strip();h,p,s=t.split(".");m=len(s)//2;print(h+"."+p+"."+s[:m]+("A" if s[m]!="A" else "B")+s[m+1:])')
H=$(curl -s -i "$A/logout?id_token_hint=$BAD")
ok "a hint with a bad signature by a held key: refused" eq "$(status "$H")" 400
H=$(curl -s -i "$A/logout?id_token_hint=x.y")
ok "a malformed hint: refused" eq "$(status "$H")" 400

# The deadline passed: ES256's next key (made by the forced rotation) was
# published more than rotation_deadline_s ago and svc-b, active, has not
# fetched a JWKS since: rotate goes on and names it (demo-portal fetched one
# holding the key above). The deadline is idpctl's decision, read from its
# configuration: an operator who shortens it to 10 s (rather than the test
# waiting out the 60 s the checks above need on a loaded machine).
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["key_rotation"]["rotation_deadline_s"]=10;json.dump(c,open(sys.argv[2],"w"))' \
	"$TMP/idp.json" "$TMP/idp-deadline.json"
wait_for 200 sh -c "python3 -c 'import json,sys,time;s=json.load(open(sys.argv[1]));sys.exit(0 if all(time.time()>k[\"created\"]+10.5 for k in s[\"keys\"] if k[\"kid\"]==sys.argv[2]) else 1)' $TMP/keys/state.json $ES_NEXT2"
OUT=$("$BUILD/idp/idpctl" --config "$TMP/idp-deadline.json" keys rotate --alg ES256); RC=$?
ok "rotate after the deadline goes on" eq "$RC" 0
ok "rotate after the deadline names the lagging service" contains "$OUT" "this active service has not yet fetched a JWKS holding $ES_NEXT2: svc-b"
ok "rotate after the deadline says why and whom it leaves behind" contains "$OUT" "rotating anyway (deadline passed); left behind: svc-b"
ok "rotate after the deadline does not name a ready service" not_contains "$OUT" "demo-portal"
ok "the late next key is active" eq "$(state_of "$ES_NEXT2")" active

# Emergency revocation: out of the JWKS at once, signing moves on.
CUR=$(kid_in_state RS256 active)
rm -f "$CJ"
full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
IDT2=$(echo "$TOK" | jget id_token)
ok "an ID token signed by the key about to be revoked" contains "$(printf %s "$IDT2" | cut -d. -f1 | base64 -d 2>/dev/null)" "$CUR"
OUT=$(CTL keys revoke "$CUR"); RC=$?
ok "revoke succeeds" eq "$RC" 0
# At once, before the nodes' pollers reload: no node signs with the revoked
# key (a token request may be told to retry, never signed by it).
LEAK=0
for i in 1 2 3 4 5 6 7 8 9 10; do
	for N in "$A" "$B"; do
		HDR=$(curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials "$N/token" |
			cut -d'"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null)
		case "$HDR" in *"$CUR"*) LEAK=$((LEAK+1)) ;; esac
	done
done
ok "right after the revocation, no node signs with the revoked key" eq "$LEAK" 0
ok "revoked key is out of node A's JWKS" wait_for 150 sh -c "! curl -s $A/jwks | grep -qe $CUR"
ok "revoked key is out of node B's JWKS" wait_for 150 sh -c "! curl -s $B/jwks | grep -qe $CUR"
NEW=$(kid_in_state RS256 active)
ok "a new key signs after revocation" test -n "$NEW" -a "$NEW" != "$CUR"
ok "node A signs with it" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -qe $NEW"
ok "node B signs with it" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $B/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -qe $NEW"
ok "the revoked key's file is gone" sh -c "! ls $TMP/keys | grep -q \"rs256-$(printf %.16s "$CUR")\""
OUT=$(CTL keys revoke "$CUR"); RC=$?
ok "revoking twice is refused" test "$RC" -ne 0
# Logout with a hint signed by the revoked key, no session left in this browser.
H=$(curl -s -i "$B/logout?id_token_hint=$IDT2&post_logout_redirect_uri=$RURI&state=bye")
ok "revoked hint without client_id, no session: the logged-out page" eq "$(status "$H")" 200
ok "revoked hint without client_id: no redirect" eq "$(location "$H")" ""
H=$(curl -s -i "$B/logout?id_token_hint=$IDT2&client_id=demo-portal&post_logout_redirect_uri=$RURI&state=bye")
ok "revoked hint with client_id and its registered URI: back there" eq "$(location "$H")" "${RURI}?state=bye"
H=$(curl -s -i "$B/logout?id_token_hint=$IDT2&client_id=demo-portal&post_logout_redirect_uri=https://evil.example/")
ok "revoked hint, unregistered URI: no redirect" eq "$(location "$H")" ""

# A key change reloads the keys only: an error elsewhere in the daemons'
# configuration file (not yet SIGHUPed) does not keep a revoked key signing.
cp "$TMP/idp.json" "$TMP/idp.json.good"
cp "$TMP/idp.json" "$TMP/ctl.json"
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["no_such_setting"]=1;json.dump(c,open(sys.argv[1],"w"))' "$TMP/idp.json"
CUR=$(kid_in_state RS256 active)
OUT=$("$BUILD/idp/idpctl" --config "$TMP/ctl.json" keys revoke "$CUR"); RC=$?
ok "revoke with a broken daemon configuration succeeds" eq "$RC" 0
NEW=$(kid_in_state RS256 active)
ok "config error: revoked key out of node A's JWKS" wait_for 150 sh -c "! curl -s $A/jwks | grep -qe $CUR"
ok "config error: revoked key out of node B's JWKS" wait_for 150 sh -c "! curl -s $B/jwks | grep -qe $CUR"
ok "config error: node A signs with the new key" eq "$(kid_on "$A")" "$NEW"
ok "config error: node B signs with the new key" eq "$(kid_on "$B")" "$NEW"
ok "config error: the configuration was not re-read" sh -c "! grep -q no_such_setting '$TMP/idp.log'"
mv "$TMP/idp.json.good" "$TMP/idp.json"

# Keys that cannot be loaded (the next key made readable by others, then
# promoted by a revocation): the revoked key stops signing all the same, and
# the node retries every second until the folder loads again.
CUR=$(kid_in_state RS256 active)
NXT=$(kid_in_state RS256 next)
NXT_FILE=$(python3 -c 'import json,sys;[print(k["file"]) for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]]' "$TMP/keys/state.json" "$NXT")
chmod 644 "$TMP/keys/$NXT_FILE"
OUT=$(CTL keys revoke "$CUR"); RC=$?
ok "revoke with an unreadable next key succeeds" eq "$RC" 0
ok "load failure: the node says it retries" wait_for 50 grep -q "keys: reloading $TMP/keys refused" "$TMP/idp.log"
ok "load failure: revoked key out of node A's JWKS" wait_for 150 sh -c "! curl -s $A/jwks | grep -qe $CUR"
ok "load failure: node A does not sign with the revoked key" sh -c "! curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | grep -q access_token"
# It retries every second but says so once (then once a minute, with a
# count): after a few more seconds, still one line of each, on both nodes.
sleep 4
for f in idp.log idp-b.log; do
	ok "load failure: $f says it once, not every second" eq \
		"$(grep -c "keys: reloading $TMP/keys refused" "$TMP/$f") $(grep -c "$NXT_FILE is readable by group or others" "$TMP/$f")" "1 1"
done
chmod 600 "$TMP/keys/$NXT_FILE"
ok "load failure: once fixed, node A signs with the promoted key" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $A/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -qe $NXT"
ok "load failure: ... and node B" wait_for 150 sh -c "curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials $B/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -qe $NXT"
ok "load failure: the promoted key is published" contains "$(curl -s "$A/jwks")" "$NXT"
ok "load failure: the recovery is said once" eq "$(grep -c "keys: $TMP/keys loads again after [0-9]* failed attempts; keys reloaded" "$TMP/idp.log")" 1
# A state.json cut short: read by the poller every second and on each
# signature, its error is said once all the same.
cp "$TMP/keys/state.json" "$TMP/state.good"
printf '{"keys": [' >"$TMP/keys/state.json.tmp" && mv "$TMP/keys/state.json.tmp" "$TMP/keys/state.json"
for i in 1 2 3 4 5 6 7 8 9 10; do cc_token "$A" demo-portal >/dev/null; cc_token "$B" demo-portal >/dev/null; sleep 0.3; done
ok "truncated state.json: the nodes still sign" contains "$(cc_token "$A" demo-portal)" access_token
for f in idp.log idp-b.log; do
	ok "truncated state.json: $f says it once" eq "$(grep -c "state.json: line 1:" "$TMP/$f")" 1
done
cp "$TMP/state.good" "$TMP/keys/state.json.tmp" && mv "$TMP/keys/state.json.tmp" "$TMP/keys/state.json"
ok "truncated state.json: once restored, the keys load again" wait_for 50 sh -c "test \$(grep -c 'keys: $TMP/keys loads again after' '$TMP/idp.log') = 2"
NEW=$NXT

# Import: a key made elsewhere becomes the next key; a wrong type is refused.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/ext.pem" 2>/dev/null
# A private key others may read is refused, as the daemon refuses it.
cp "$TMP/ext.pem" "$TMP/ext644.pem"
chmod 644 "$TMP/ext644.pem"
BEFORE=$(cat "$TMP/keys/state.json")
OUT=$(CTL keys import "$TMP/ext644.pem" --alg ES256 2>&1); RC=$?
ok "import of a key readable by others refused" test "$RC" -ne 0
ok "the refusal names the mode" contains "$OUT" "readable by group or others (mode 0644)"
ok "the refusal says how to fix it" contains "$OUT" "chmod 600 $TMP/ext644.pem"
ok "the refused import left the key set alone" eq "$(cat "$TMP/keys/state.json")" "$BEFORE"
chmod 640 "$TMP/ext644.pem"
OUT=$(CTL keys import "$TMP/ext644.pem" --alg ES256 2>&1); RC=$?
ok "import of a key readable by the group refused" contains "$OUT" "(mode 0640)"
chmod 600 "$TMP/ext.pem"
OUT=$(CTL keys import "$TMP/ext.pem" --alg RS256); RC=$?
ok "import of an EC key as RS256 refused" test "$RC" -ne 0
OUT=$(CTL keys import "$TMP/ext.pem" --alg ES256); RC=$?
ok "import of a P-256 key as ES256" eq "$RC" 0
IMP=$(kid_in_state ES256 next)
ok "the imported key is next and published" wait_for 150 sh -c "curl -s $A/jwks | grep -qe $IMP"

# A restart keeps the key states. Not across a retiring key's removal time
# (the JWKS then rightly changes): if one falls within the next seconds,
# first wait until it has passed and node A has dropped it.
wait_for 100 python3 -c 'import json,sys,time;t=time.time();sys.exit(1 if any(k["state"]=="retiring" and t-2<k.get("remove_at",0)<t+5 for k in json.load(open(sys.argv[1]))["keys"]) else 0)' "$TMP/keys/state.json"
BEFORE=$(curl -s "$A/jwks")
IDP_PID=$A_PID
stop_idp
run_idp
ok "a restart keeps the JWKS" eq "$(curl -s "$IDP/jwks")" "$BEFORE"
ok "a restart keeps the signing key" eq "$(kid_on "$IDP")" "$NEW"

# min_publish_s must exceed jwks_max_age_s by the 2 s a node may lag.
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["key_rotation"].update(jwks_max_age_s=5,min_publish_s=int(sys.argv[3]));json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/timing.json" 6
OUT=$("$BUILD/idp/idp" --config "$TMP/timing.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "min_publish_s < jwks_max_age_s + 2 refused" test "$RC" -ne 0
ok "the refusal states the rule" contains "$OUT" "min_publish_s (6) must be at least jwks_max_age_s + 2 (7)"
ok "the refusal says why" contains "$OUT" "poll the keys folder every second"
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["key_rotation"].update(jwks_max_age_s=5,min_publish_s=int(sys.argv[3]));json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/timing.json" 7
OUT=$("$BUILD/idp/idp" --config "$TMP/timing.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "min_publish_s = jwks_max_age_s + 2 accepted" eq "$RC" 0

# No active key: the daemon refuses to start.
python3 -c 'import json,sys;s=json.load(open(sys.argv[1]));[k.update(state="next") for k in s["keys"] if k["alg"]=="ES256" and k["state"]=="active"];json.dump(s,open(sys.argv[2]+"/state.json","w"))' "$TMP/keys/state.json" "$TMP" 
mkdir -p "$TMP/k3" && cp "$TMP/keys"/*.pem "$TMP/k3/" && mv "$TMP/state.json" "$TMP/k3/state.json"
OUT=$("$BUILD/idp/idp" --config "$TMP/idp.json" --keys-dir "$TMP/k3" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "no active key: refused" test "$RC" -ne 0
ok "no active key: said plainly" contains "$OUT" "no active ES256 key"
kill "$B_PID" 2>/dev/null
done_tests
