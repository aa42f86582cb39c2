#!/bin/sh
# Keys through the store (key_rotation.kek_file): nodes on one redis-server,
# each with its OWN keys folder. A rotation made with node A's configuration
# reaches node B within seconds; redis never holds a private key in clear; a
# node with another key-encryption key, and a sealed key altered in redis,
# are refused with a clear line while the node keeps signing with its keys.
. "$(dirname "$0")/lib.sh"
setup_tmp
head -c 32 /dev/urandom >"$TMP/kek"
head -c 32 /dev/urandom >"$TMP/kek-other"
chmod 600 "$TMP/kek" "$TMP/kek-other"
cat >"$TMP/extra.json" <<J
{"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 3, "kek_file": "$TMP/kek"}}
J
start_idp redis
A="$IDP"
RCLI() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }

# node_config NAME KEK: a node like A with its own keys folder (its own
# keys, from its own init) and the given key-encryption key.
node_config() {
	"$BUILD/idp/idpctl" --keys-dir "$TMP/keys-$1" keys init >/dev/null 2>&1 || exit 1
	python3 - "$TMP/idp.json" "$TMP/idp-$1.json" "$TMP/keys-$1" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["keys_dir"] = sys.argv[3]
c["key_rotation"]["kek_file"] = sys.argv[4]
json.dump(c, open(sys.argv[2], "w"), indent=1)
PY
}
kid_on() {
	curl -s -u demo-portal:demo-portal-secret -d grant_type=client_credentials "$1/token" | jget access_token |
		cut -d. -f1 | python3 -c 'import sys,base64,json;s=sys.stdin.read().strip();print(json.loads(base64.urlsafe_b64decode(s+"="*(-len(s)%4)))["kid"])'
}
active_in() { python3 -c 'import json,sys;[print(k["kid"]) for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]=="RS256" and k["state"]=="active"]' "$1/state.json"; }
signs_with() { [ "$(kid_on "$1")" = "$2" ]; }

node_config b "$TMP/kek"
node_config c "$TMP/kek-other"
B_PORT=$(free_port); C_PORT=$(free_port)
spawn_idp "$TMP/idp-b.json" "$B_PORT" "$TMP/idp-b.log" "$TMP/port-b"; B_PID=$SPAWNED
spawn_idp "$TMP/idp-c.json" "$C_PORT" "$TMP/idp-c.log" "$TMP/port-c"; C_PID=$SPAWNED
B="http://127.0.0.1:$B_PORT"; C="http://127.0.0.1:$C_PORT"
B_OLD=$(active_in "$TMP/keys-b"); C_OLD=$(active_in "$TMP/keys-c")
B_OLD_FILES=$(ls "$TMP"/keys-b/*.pem)
ok "node B signs with its own key before any key set is in the store" signs_with "$B" "$B_OLD"
ok "... A's key is another one" test "$(active_in "$TMP/keys")" != "$B_OLD"

# The rotation, with node A's configuration only.
OUT=$(CTL keys rotate --force 2>&1); RC=$?
ok "idpctl keys rotate with A's configuration succeeds" eq "$RC" 0
ok "... and publishes the set to the store" contains "$OUT" "published to the store"
NEW=$(active_in "$TMP/keys")
T0=$(date +%s%N)
ok "node B signs with A's new key within 5 s" wait_for 50 signs_with "$B" "$NEW"
echo "  node B followed the rotation in $(( ($(date +%s%N) - T0) / 1000000 )) ms"
ok "node A signs with it too" wait_for 50 signs_with "$A" "$NEW"
ok "B's folder holds the key files, mode 0600" eq "$(stat -c %a "$TMP/keys-b/$(python3 -c 'import json,sys;[print(k["file"]) for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]]' "$TMP/keys-b/state.json" "$NEW")")" 600
gone() { for f in $B_OLD_FILES; do [ ! -e "$f" ] || return 1; done; }
ok "B had key files of its own" test -n "$B_OLD_FILES"
ok "B's own key files, not in the set, left its folder" gone
ok "B's JWKS publishes A's next key" contains "$(curl -s "$B/jwks")" "$(python3 -c 'import json,sys;[print(k["kid"]) for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]=="RS256" and k["state"]=="next"]' "$TMP/keys/state.json")"

# A new node: idpctl keys init takes the published set into its empty folder.
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["keys_dir"]=sys.argv[3];json.dump(c,open(sys.argv[2],"w"))' \
	"$TMP/idp.json" "$TMP/idp-d.json" "$TMP/keys-d"
"$BUILD/idp/idpctl" --config "$TMP/idp-d.json" keys init >/dev/null 2>&1
ok "idpctl keys init on a new node takes the store's set" eq "$(active_in "$TMP/keys-d")" "$NEW"

# Redis holds no private key in clear: every value, scanned.
RCLI --scan >"$TMP/rkeys"
ok "the key set is in redis" grep -q "keys:set" "$TMP/rkeys"
: >"$TMP/rdump"
while read -r k; do RCLI --raw GET "$k" >>"$TMP/rdump" 2>/dev/null; done <"$TMP/rkeys"
ok "no PEM in clear in redis" not_contains "$(cat "$TMP/rdump")" "PRIVATE KEY"
for f in "$TMP"/keys/*.pem; do
	# A line of the key's base64 body, and the key's DER in base64url.
	LINE=$(sed -n 3p "$f")
	B64U=$(openssl pkey -in "$f" -outform DER | base64 -w0 | tr '+/' '-_' | cut -c 40-100)
	ok "no raw key bytes of $(basename "$f") in redis" not_contains "$(cat "$TMP/rdump")" "$LINE"
	ok "... nor its DER in base64url" not_contains "$(cat "$TMP/rdump")" "$B64U"
done

# Node C holds another key-encryption key: it refuses, says so, keeps its keys.
ok "node C refuses the set sealed with another KEK, with a clear line" \
	wait_for 50 grep -q "sealed with another key-encryption key" "$TMP/idp-c.log"
ok "... and keeps signing with its own key" signs_with "$C" "$C_OLD"

# A sealed key altered in redis: the GCM tag fails, node B keeps its keys.
RCLI --raw GET t:keys:set | python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
kid = sorted(d["sealed"])[0]
s = d["sealed"][kid]
d["sealed"][kid] = s[:30] + ("A" if s[30] != "A" else "B") + s[31:]
sys.stdout.write(json.dumps(d))' >"$TMP/tampered"
RCLI -x SET t:keys:set <"$TMP/tampered" >/dev/null
RCLI SET t:keys:version tampered-1 >/dev/null
ok "node B detects the altered sealed key (GCM tag)" wait_for 50 grep -q "does not open (its GCM tag fails" "$TMP/idp-b.log"
ok "... and keeps signing with the key it had" signs_with "$B" "$NEW"
ok "idpctl refuses to change keys from an altered set" test "$(CTL keys rotate --force >/dev/null 2>&1; echo $?)" != 0

# A key-encryption key readable by others is refused.
chmod 644 "$TMP/kek-other"
OUT=$("$BUILD/idp/idpctl" --config "$TMP/idp-c.json" keys rotate --force 2>&1)
ok "a kek_file readable by others is refused" contains "$OUT" "readable by group or others"
# Without redis the setting makes no sense: refused at load.
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["store"]={"driver":"memory"};json.dump(c,open(sys.argv[2],"w"))' \
	"$TMP/idp.json" "$TMP/idp-mem.json"
OUT=$("$BUILD/idp/idp" --check --config "$TMP/idp-mem.json" 2>&1)
ok "kek_file with the memory store is refused" contains "$OUT" "needs the redis store"

for p in "$B_PID" "$C_PID"; do kill "$p"; await_exit "$p"; ok "node $p exits cleanly" eq "$EXIT_RC" 0; done
for n in b c; do
	ok "no sanitizer report on node $n" test -z "$(grep -E 'AddressSanitizer|runtime error:' "$TMP/idp-$n.log")"
done
done_tests
