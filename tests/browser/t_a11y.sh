#!/bin/sh
# WCAG 2.1 AA on every page, French and English, with axe-core in Debian's
# headless chromium driven by playwright-core (tests/browser/a11y.js), and a
# keyboard-only login. The npm packages are those of tests/node (exact
# versions, package-lock.json); installed here with npm ci when missing.
# Anything missing fails loudly: this test never skips.
. "$(dirname "$0")/../integration/lib.sh"
NODE_DIR="$ROOT/tests/node"
SUITE=t_a11y

give_up() {
	echo "$SUITE: $*" >&2
	echo "$SUITE: 0 passed, 1 failed"
	exit 1
}
command -v node >/dev/null 2>&1 || give_up "node is not installed (apt-get install nodejs npm)"
[ -x /usr/bin/chromium ] || give_up "/usr/bin/chromium is missing (apt-get install chromium)"
if [ ! -f "$NODE_DIR/node_modules/playwright-core/package.json" ] ||
	[ ! -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ]; then
	command -v npm >/dev/null 2>&1 || give_up "npm is not installed (apt-get install npm)"
	echo "$SUITE: installing the npm packages of tests/node (npm ci)" >&2
	(cd "$NODE_DIR" && timeout 600 npm ci --no-audit --no-fund) >&2 ||
		give_up "npm ci in tests/node failed: the browser test cannot run"
	[ -f "$NODE_DIR/node_modules/playwright-core/package.json" ] ||
		give_up "npm ci did not install playwright-core"
	[ -f "$NODE_DIR/node_modules/axe-core/axe.min.js" ] ||
		give_up "npm ci did not install axe-core"
fi

setup_tmp
start_idp memory

# a11y.js bounds each wait (10 s) and its whole run (150 s); timeout(1) is the
# last guard. Its PASS/FAIL lines become one ok each.
timeout -k 10 200 node "$ROOT/tests/browser/a11y.js" "$IDP" "$TMP" >"$TMP/a11y.out" 2>&1
rc=$?
while IFS= read -r line; do
	case "$line" in
	"PASS "*) ok "${line#PASS }" true ;;
	"FAIL "*) echo "  ${line#FAIL }" >&2; ok "${line#FAIL }" false ;;
	"a11y: "*) ;;
	*) echo "$line" >&2 ;;
	esac
done <"$TMP/a11y.out"
ok "the browser run ended normally (exit $rc)" test "$rc" -eq 0 -o "$rc" -eq 1
ok "the browser run checked something" grep -q '^PASS ' "$TMP/a11y.out"

done_tests
