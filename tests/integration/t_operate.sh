#!/bin/sh
# stores: both
# Operators' tools (issue 16): the audit trail as JSON lines (one schema,
# no secret in it), idpctl sessions (a citizen's sessions through the shared
# store, ended with their access tokens) and idpctl status (the nodes'
# heartbeats, the store's role, keys, backends). STORE=memory|redis: with the
# memory store, idpctl must refuse sessions and say why.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
R1=http://127.0.0.1:8081/callback
AUDIT="$TMP/audit.jsonl"
printf '{"audit": {"file": "%s", "checkpoint_every": 4}}\n' "$AUDIT" >"$TMP/extra.json"
start_idp "$STORE"
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@" 2>>"$TMP/idpctl.log"; }
CTLE() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; } # stderr kept

# ---- Audit events -----------------------------------------------------------
authorize demo-portal "$R1"
login marianne 'Wrong-password-42'
ok "a wrong password is refused" eq "$(status "$RESP")" 401
full_login demo-portal demo-portal-secret "$R1"
AT=$(echo "$TOK" | jget access_token)
SESSION=$(awk '$6 ~ /_session$/ {print $7}' "$CJ" | tail -n1)
ok "a session cookie was set" test -n "$SESSION"
H=$(curl -s -i -c "$CJ" -b "$CJ" "$IDP/logout")
curl -s -c "$CJ" -b "$CJ" --data-urlencode "csrf=$(field csrf "$H")" --data confirm=yes "$IDP/logout" >/dev/null
CTL keys revoke -- -dzNoSuchKid >/dev/null 2>&1
wait_for 20 grep -q '"event":"logout"' "$AUDIT"
CHECK=$(python3 - "$AUDIT" <<'PY'
import json, sys
ev = []
for line in open(sys.argv[1], encoding="utf-8"):
    assert len(line.encode()) <= 2048, "line too long"
    e = json.loads(line)
    assert set(e) >= {"ts", "event"}, e
    ev.append(e)
def has(**kw):
    return any(all(e.get(k) == v for k, v in kw.items()) for e in ev)
out = []
if has(event="login", result="failure", cause="bad_credentials", client="demo-portal"): out.append("login-failure")
if has(event="login", result="success", client="demo-portal", backend="local"): out.append("login-success")
if has(event="consent", result="given", client="demo-portal"): out.append("consent")
if has(event="token", grant="authorization_code", client="demo-portal"): out.append("token")
if has(event="logout"): out.append("logout")
if has(event="admin", action="keys.revoke", result="failed"): out.append("admin")
users = {e["user"] for e in ev if "user" in e}
if len(users) == 1 and all(len(u) == 32 for u in users): out.append("user-hashed-same")
print(" ".join(out))
print(" ".join(sorted(users)))
PY
)
for e in login-failure login-success consent token logout admin user-hashed-same; do
	ok "audit: $e" contains " $(echo "$CHECK" | head -n1) " " $e "
done
# the other output: prefixed lines on stderr; and exactly one of the two
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["audit"]={"stderr":True};json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/stderr.json"
"$BUILD/idp/idpctl" --config "$TMP/stderr.json" keys revoke -- -dzNoSuchKid 2>"$TMP/stderr.out" >/dev/null
ok "audit.stderr: a line prefixed IDP-AUDIT" eq "$(sed -n 's/^IDP-AUDIT //p' "$TMP/stderr.out" | jget action)" keys.revoke
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["audit"]={"stderr":True,"file":"x"};json.dump(c,open(sys.argv[2],"w"))' "$TMP/idp.json" "$TMP/both.json"
OUT=$("$BUILD/idp/idp" --check --config "$TMP/both.json" 2>&1); RC=$?
ok "audit: file and stderr together refused" eq "$RC" 1
ok "... saying so" contains "$OUT" "exactly one"
UH=$(printf 'marianne\n' | CTL audit-hash)
ok "idpctl audit-hash gives the user's hash in the lines" contains "$CHECK" "$UH"
for s in marianne Marianne-2026 Wrong-password-42 "$CODE" "$AT" "$SESSION" demo-portal-secret; do
	ok "audit: no secret or name in the file (${s%"${s#????}"}...)" sh -c "! grep -qF -- '$s' '$AUDIT'"
done
# ---- The audit chain (issue 17): seq and prev on each line, signed
# checkpoints; an edited copy names its line; a restart continues it.
AV() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" --keys-dir "$TMP/keys" audit verify "$@" 2>&1; }
OUT=$(AV); RC=$?
ok "audit chain: verifies (daemon and idpctl lines in one chain)" eq "$RC" 0
ok "... with a signed checkpoint" test "$(grep -c '"event":"checkpoint"' "$AUDIT")" -ge 1
ok "... the checkpoints verified" not_contains "$OUT" " 0 checkpoints"
ok "... every line chained" contains "$OUT" "$(wc -l <"$AUDIT") lines, $(wc -l <"$AUDIT") chained"
edit() { # edit HOW: a copy of the audit file, edited, into $TMP/edited.jsonl
	python3 - "$AUDIT" "$TMP/edited.jsonl" "$1" <<'PY'
import sys
L = open(sys.argv[1], encoding="utf-8").readlines()
how = sys.argv[3]
if how == "alter": L[2] = L[2].replace('"event":"', '"event":"x', 1)
if how == "delete": del L[3]
if how == "swap": L[2], L[3] = L[3], L[2]
if how == "forge":
    i = [n for n, l in enumerate(L) if '"event":"checkpoint"' in l][0]
    c = L[i][-10]  # a character in the middle of the signature's last block
    L[i] = L[i][:-10] + ("A" if c != "A" else "B") + L[i][-9:]
    print(i + 1)
open(sys.argv[2], "w", encoding="utf-8").writelines(L)
PY
}
edit alter; OUT=$(AV "$TMP/edited.jsonl"); RC=$?
ok "audit: an altered line is found (exit 1)" eq "$RC" 1
ok "... and named: line 3" contains "$OUT" "line 3: altered"
edit delete; OUT=$(AV "$TMP/edited.jsonl")
ok "audit: a removed line is named (line 4)" contains "$OUT" "line 4: seq 5 follows 3: a line removed"
edit swap; OUT=$(AV "$TMP/edited.jsonl")
ok "audit: swapped lines are found at line 3" contains "$OUT" "line 3: seq 4 follows 2"
N=$(edit forge); OUT=$(AV "$TMP/edited.jsonl")
ok "audit: a forged checkpoint signature is named (line $N)" contains "$OUT" "line $N: the checkpoint's signature is not valid"
LAST=$(tail -n1 "$AUDIT" | jget seq)
stop_idp
run_idp
authorize demo-portal "$R1"
login marianne 'Wrong-password-42'
wait_for 20 sh -c "[ \"\$(tail -n1 '$AUDIT' | python3 -c 'import json,sys;print(json.load(sys.stdin)[\"seq\"])')\" -gt $LAST ]"
OUT=$(AV); RC=$?
ok "audit: after a restart the chain continues (verifies)" eq "$RC" 0
ok "... from seq $LAST on" test "$(grep -c "\"seq\":$((LAST + 1)),\"prev\"" "$AUDIT")" -eq 1
# ---- idpctl sessions ----------------------------------------------------------
userinfo() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" "$IDP/userinfo"; }
CJ="$TMP/cj1"; full_login demo-portal demo-portal-secret "$R1"; AT1=$(echo "$TOK" | jget access_token)
CJ="$TMP/cj2"; full_login demo-portal demo-portal-secret "$R1"; AT2=$(echo "$TOK" | jget access_token)
ok "two browsers' access tokens work" eq "$(userinfo "$AT1")$(userinfo "$AT2")" 200200
if [ "$STORE" = memory ]; then
	OUT=$(CTLE sessions list --user marianne 2>&1); RC=$?
	ok "memory store: sessions list refused (exit 3)" eq "$RC" 3
	ok "... saying why" contains "$OUT" "needs the redis store"
	OUT=$(CTLE sessions revoke --user marianne 2>&1); RC=$?
	ok "memory store: sessions revoke refused (exit 3)" eq "$RC" 3
	ok "... and the sessions still live" eq "$(userinfo "$AT1")$(userinfo "$AT2")" 200200
else
	OUT=$(CTL sessions list --user marianne)
	# the logged-out session of the audit part is not listed
	ok "sessions list: the two live sessions" contains "$OUT" "2 live sessions"
	SUB=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["users"]["marianne"]["subject"])' "$TMP/users.json")
	OUT2=$(CTL sessions list --user "local:$SUB")
	ok "... the same by local subject" eq "$OUT2" "$OUT"
	ok "... no other citizen's" contains "$(CTL sessions list --user nobody)" "0 live sessions"
	# the session of the second browser, by its cookie's hash
	S2=$(awk '$6 ~ /_session$/ {print $7}' "$TMP/cj2" | tail -n1)
	H2=$(printf %s "$S2" | sha256sum | cut -d' ' -f1)
	ok "... listed by the hash of its cookie" contains "$OUT" "$H2"
	OUT=$(CTL sessions revoke --sid "$H2"); RC=$?
	ok "sessions revoke --sid: done" eq "$RC" 0
	ok "... its access token is revoked" eq "$(userinfo "$AT2")" 401
	ok "... the other session's still works" eq "$(userinfo "$AT1")" 200
	ok "... one session left" contains "$(CTL sessions list --user marianne)" "1 live session"
	OUT=$(CTL sessions revoke --user marianne)
	ok "sessions revoke --user: one ended" contains "$OUT" "1 session ended"
	ok "... its access token is revoked" eq "$(userinfo "$AT1")" 401
	ok "... none left" contains "$(CTL sessions list --user marianne)" "0 live sessions"
	CJ="$TMP/cj1"; authorize demo-portal "$R1"
	ok "... the browser must log in again" contains "$PAGE" 'name="password"'
	ok "audit: sessions.revoke by sid and by user" eq "$(grep -c '"action":"sessions.revoke".*"result":"done"' "$AUDIT")" 2
fi
OUT=$(CTLE sessions revoke --user a --sid b 2>&1); RC=$?
ok "sessions: --user and --sid together is a usage error" eq "$RC" 2

# ---- idpctl status --------------------------------------------------------------
if [ "$STORE" = memory ]; then
	OUT=$(CTLE status 2>&1); RC=$?
	ok "memory store: status says the nodes are out of reach (exit 3)" eq "$RC" 3
	ok "... why" contains "$OUT" "needs the redis store"
	ok "... and still lists the keys" contains "$OUT" "active"
else
	# a second node on the same store, and a replica of the store
	P2=$(free_port)
	"$BUILD/idp/idp" --config "$TMP/idp.json" --port "$P2" --plugin-dir "$BUILD/plugins" >>"$TMP/idp2.log" 2>&1 &
	IDP2_PID=$!
	PIDS="$PIDS $IDP2_PID"
	RP2=$(free_port)
	mkdir -p "$TMP/replica"
	redis-server --bind 127.0.0.1 --port "$RP2" --dir "$TMP/replica" --save '' --appendonly no \
		--replicaof 127.0.0.1 "$REDIS_PORT" >"$TMP/replica.log" 2>&1 &
	PIDS="$PIDS $!"
	ok "status: two nodes heard" wait_for 100 sh -c "'$BUILD/idp/idpctl' --config '$TMP/idp.json' status 2>/dev/null | grep -q '^2 nodes heard'"
	ok "... and the replica" wait_for 100 sh -c "'$BUILD/idp/idpctl' --config '$TMP/idp.json' status 2>/dev/null | grep -q '^store: redis primary, offset [0-9]*, 1 replica: 127.0.0.1:$RP2'"
	OUT=$(CTL status); RC=$?
	ok "... exit status 0" eq "$RC" 0
	ok "... each node's listening address and version" contains "$OUT" "127.0.0.1:$P2"
	ok "... and the first's" contains "$OUT" "127.0.0.1:$IDP_PORT"
	ok "... the backends' health" contains "$OUT" "local:up"
	ok "... the keys and the services' readiness" contains "$OUT" "readiness of services"
	kill "$IDP2_PID"; wait "$IDP2_PID" 2>/dev/null
	ok "a node stopped leaves the status" contains "$(CTL status)" "1 node heard"
fi

done_tests
