#!/bin/sh
# The daemon's own contract: configuration errors, key permissions, plugin
# ABI, command line, SIGHUP reload without dropping service, SIGTERM.
. "$(dirname "$0")/lib.sh"
setup_tmp
start_idp memory
IDPBIN="$BUILD/idp/idp"

# A configuration error names the file and the line, and the daemon refuses.
printf '{\n  "issuer": "http://127.0.0.1:1",\n  "listen": {,}\n}\n' >"$TMP/bad.json"
OUT=$("$IDPBIN" --config "$TMP/bad.json" --check 2>&1); RC=$?
ok "syntax error refused" test "$RC" -ne 0
ok "syntax error names file and line" contains "$OUT" "$TMP/bad.json: line 3"
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["listen"]["prot"]=1;json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/typo.json"
OUT=$("$IDPBIN" --config "$TMP/typo.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "unknown setting refused" test "$RC" -ne 0
ok "unknown setting named" contains "$OUT" 'unknown setting "prot"'
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["clients"][0]["redirect_uris"]=["javascript:alert(1)"];json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/uri.json"
OUT=$("$IDPBIN" --config "$TMP/uri.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "bad redirect URI refused" test "$RC" -ne 0
ok "bad redirect URI located" contains "$OUT" "clients[0]: redirect_uris[0]"
OUT=$("$IDPBIN" --config "$TMP/idp.json" --check --plugin-dir "$BUILD/plugins" 2>&1)
ok "--check accepts a good file" contains "$OUT" "is valid"
OUT=$("$IDPBIN" --port 99999 2>&1); RC=$?
ok "bad --port refused" eq "$RC" 2
OUT=$("$IDPBIN" --bogus 2>&1); RC=$?
ok "unknown argument refused" eq "$RC" 2

# Private keys readable by others are refused.
cp -r "$TMP/keys" "$TMP/keys2"
chmod 644 "$TMP/keys2"/*.pem
OUT=$("$IDPBIN" --config "$TMP/idp.json" --keys-dir "$TMP/keys2" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
ok "group/world-readable key refused" test "$RC" -ne 0
ok "key refusal says how to fix" contains "$OUT" "chmod 600"
ok "no private key material in the message" not_contains "$OUT" "PRIVATE KEY"

# A plugin of another ABI version is refused with both versions named.
mkdir -p "$TMP/plugins/file"
cat >"$TMP/old.c" <<'C'
#include "idp_plugin.h"
__attribute__((visibility("default"))) const struct idp_backend idp_backend_entry = {99, sizeof(struct idp_backend), "file", 0, 0, 0, 0, 0};
C
cc -shared -fPIC -I"$ROOT/plugins" $(pkg-config --cflags jansson) -o "$TMP/plugins/file/file.so" "$TMP/old.c"
OUT=$("$IDPBIN" --config "$TMP/idp.json" --check --plugin-dir "$TMP/plugins" 2>&1); RC=$?
ok "plugin of another ABI refused" test "$RC" -ne 0
ok "ABI refusal names both versions" contains "$OUT" "ABI 99, daemon 4"

# SIGHUP: a new client name shows at once; a broken file keeps the old one.
authorize demo-portal http://127.0.0.1:8081/callback
ok "before reload" contains "$PAGE" "Impôts (démo)"
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["clients"][0]["client_name"]="Impots renamed";json.dump(c,open(sys.argv[1],"w"))' "$TMP/idp.json"
kill -HUP "$IDP_PID"
wait_for 50 sh -c "grep -q 'reload (SIGHUP): configuration and keys reloaded' '$TMP/idp.log'"
authorize demo-portal http://127.0.0.1:8081/callback
ok "after SIGHUP the new configuration serves" contains "$PAGE" "Impots renamed"
cp "$TMP/idp.json" "$TMP/good.json"
printf '{ broken' >"$TMP/idp.json"
kill -HUP "$IDP_PID"
wait_for 50 sh -c "grep -q 'reload (SIGHUP): refused' '$TMP/idp.log'"
authorize demo-portal http://127.0.0.1:8081/callback
ok "a broken reload keeps the old configuration" contains "$PAGE" "Impots renamed"
ok "daemon still alive after a broken reload" kill -0 "$IDP_PID"
cp "$TMP/good.json" "$TMP/idp.json"

# The demo configuration warns that its secrets are public.
OUT=$(cd "$ROOT" && "$IDPBIN" --config "$TMP/idp.json" --check --plugin-dir "$BUILD/plugins" 2>&1)
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["demo"]=True;json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/demo.json"
P2=$(free_port)
"$IDPBIN" --config "$TMP/demo.json" --port "$P2" --port-file "$TMP/port2" --plugin-dir "$BUILD/plugins" >"$TMP/demo.log" 2>&1 &
DPID=$!
PIDS="$PIDS $DPID"
wait_for 100 test -s "$TMP/port2"
ok "demo configuration warns" grep -q "DEMO configuration" "$TMP/demo.log"
kill "$DPID"
done_tests
