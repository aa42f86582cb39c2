#!/bin/sh
# key_rotation.auto_rotate_days: a node rotates by itself once the active
# key is that old (here: its activation is moved two days back).
. "$(dirname "$0")/lib.sh"
setup_tmp
cat >"$TMP/extra.json" <<'J'
{"key_rotation": {"auto_rotate_days": 1, "jwks_max_age_s": 1, "min_publish_s": 3},
 "clients+": [{"client_id": "cc-es", "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
   "grant_types": ["client_credentials"], "id_token_signed_response_alg": "ES256"}]}
J
start_idp memory
OLD=$(python3 -c 'import json,sys;print([k["kid"] for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]=="ES256" and k["state"]=="active"][0])' "$TMP/keys/state.json")
python3 - "$TMP/keys/state.json" <<'PY'
import json, sys, time
p = sys.argv[1]; s = json.load(open(p))
for k in s["keys"]:
    k["created"] -= 3 * 86400
    if k["state"] == "active": k["activated"] = int(time.time()) - 2 * 86400
json.dump(s, open(p + ".new", "w")); __import__("os").rename(p + ".new", p)
PY
ok "the node rotates by itself once the active key is older than auto_rotate_days" \
	wait_for 300 grep -q "rotate: ES256 .* next -> active; $OLD active -> retiring" "$TMP/keys/audit.log"
ok "the old key is retiring" wait_for 100 python3 -c 'import json,sys;assert [k["state"] for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]]==["retiring"]' "$TMP/keys/state.json" "$OLD"
NEW=$(python3 -c 'import json,sys;print([k["kid"] for k in json.load(open(sys.argv[1]))["keys"] if k["alg"]=="ES256" and k["state"]=="active"][0])' "$TMP/keys/state.json")
ok "the new ES256 key signs within the bound" wait_for 100 sh -c "curl -s -u cc-es:demo-portal-secret -d grant_type=client_credentials $IDP/token | cut -d'\"' -f4 | cut -d. -f1 | base64 -d 2>/dev/null | grep -qe $NEW"
done_tests
