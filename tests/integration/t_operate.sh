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
printf '{"audit": {"file": "%s"}}\n' "$AUDIT" >"$TMP/extra.json"
start_idp "$STORE"
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }

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
UH=$(printf 'marianne\n' | CTL audit-hash)
ok "idpctl audit-hash gives the user's hash in the lines" contains "$CHECK" "$UH"
for s in marianne Marianne-2026 Wrong-password-42 "$CODE" "$AT" "$SESSION" demo-portal-secret; do
	ok "audit: no secret or name in the file (${s%"${s#????}"}...)" sh -c "! grep -qF -- '$s' '$AUDIT'"
done
done_tests
