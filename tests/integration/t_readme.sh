#!/bin/sh
# The README's curl walk-through, run as written against the demo
# configuration (on a free port instead of 8080), must end with a verified
# ID token and the userinfo answer. And every source file ARCHITECTURE.md
# names exists, so that the auditor's map cannot drift from the tree.
. "$(dirname "$0")/lib.sh"
setup_tmp

# Paths (idp/net/loop.c) must exist as written; a bare name (loop.c) somewhere
# under idp/, common/ or plugins/; templates (ep_<name>.c) and globs are skipped.
MISSING=$(cd "$ROOT" && grep -o '`[^`]*\.[ch]`' ARCHITECTURE.md | tr -d '`' | sort -u | while read -r f; do
	case "$f" in
	*'<'* | *'*'*) ;;
	*/*) [ -e "$f" ] || echo "$f" ;;
	*) [ -n "$(find idp common plugins -name "$f" | head -n 1)" ] || echo "$f" ;;
	esac
done)
ok "ARCHITECTURE.md names $(cd "$ROOT" && grep -o '`[^`]*\.[ch]`' ARCHITECTURE.md | sort -u | wc -l) files, all in the tree (missing: ${MISSING:-none})" \
	test -z "$MISSING"
IDP_PORT=$(free_port)
"$BUILD/idp/idpctl" --keys-dir "$TMP/keys" keys init >/dev/null 2>&1
printf '%s\n' 'Marianne-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add marianne \
	--claims '{"given_name":"Marianne","family_name":"Dupont","email":"marianne.dupont@example.fr"}' >/dev/null
sed -e "s#127.0.0.1:8080#127.0.0.1:$IDP_PORT#g" -e "s#\"demo-users.json\"#\"$TMP/users.json\"#" \
	-e "s#\"../keys\"#\"$TMP/keys\"#" -e "s#\"../templates\"#\"$ROOT/templates\"#" \
	-e "s#\"demo-hub-secret\"#\"$ROOT/conf/demo-hub-secret\"#" "$ROOT/conf/demo.json" >"$TMP/idp.json"
run_idp
sed -n '/^## One login with curl/,/^## Endpoints/p' "$ROOT/README.md" |
	sed -n '/^```sh$/,/^```$/p' | sed '1d;$d' | sed "s#127.0.0.1:8080#127.0.0.1:$IDP_PORT#g; s#/tmp/cookies#$TMP/cj#" >"$TMP/walk.sh"
ok "the README has a walk-through" test -s "$TMP/walk.sh"
OUT=$(cd "$TMP" && PATH="/usr/bin:$PATH" sh "$TMP/walk.sh" 2>&1)
ok "the walk-through ends with a verified ID token" contains "$OUT" "verified:"
ok "... for the demo citizen" contains "$OUT" '"given_name":"Marianne"'
ok "the redirect it prints carries code, state and iss" contains "$OUT" "/callback?code="
done_tests
