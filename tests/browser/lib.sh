# What the browser wrappers share, on top of tests/integration/lib.sh: the
# tools they need (a missing one fails loudly, never skips), the npm
# packages of tests/node installed when missing, the demo portals, and the
# node run whose PASS/FAIL lines become one ok each.
#
#   . "$(dirname "$0")/lib.sh"; browser_needs; setup_tmp; ...; browser_run x.js 200 ARGS...
. "$(dirname "$0")/../integration/lib.sh"
SUITE=$(basename "$0" .sh)
NODE_DIR="$ROOT/tests/node"

give_up() {
	echo "$SUITE: $*" >&2
	echo "$SUITE: 0 passed, 1 failed"
	exit 1
}

# browser_needs: node, chromium and the npm packages of tests/node.
browser_needs() {
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
}

# rp_portal CLIENT PORT ACR SECRET NAME [OPTIONS...]: a demo portal (rp-demo,
# on librp) for CLIENT at the provider $IDP, stopped at exit; OPTIONS go to
# rp-demo (--scope, --data-url).
rp_portal() {
	rpp_c=$1 rpp_p=$2 rpp_a=$3 rpp_s=$4 rpp_n=$5 # rpp_: shell variables are global
	shift 5
	RP_CLIENT_SECRET=$rpp_s "$BUILD/rp/examples/rp-demo" --port "$rpp_p" --name "$rpp_n" --issuer "$IDP" \
		--client-id "$rpp_c" --acr "$rpp_a" --http-loopback "$@" >"$TMP/$rpp_c.log" 2>&1 &
	PIDS="$PIDS $!"
}

# browser_run SCRIPT SECONDS ARGS...: node tests/browser/SCRIPT ARGS, ended
# by timeout(1) after SECONDS (the script bounds itself first); each of its
# PASS/FAIL lines is one ok, and the run must end normally having checked
# something.
browser_run() {
	br_js=$1 br_s=$2 # br_: shell variables are global
	shift 2
	timeout -k 10 "$br_s" node "$ROOT/tests/browser/$br_js" "$@" >"$TMP/$br_js.out" 2>&1
	br_rc=$?
	while IFS= read -r br_line; do
		case "$br_line" in
		"PASS "*) ok "${br_line#PASS }" true ;;
		"FAIL "*) echo "  ${br_line#FAIL }" >&2; ok "${br_line#FAIL }" false ;;
		"${br_js%.js}: "*) ;;
		*) echo "$br_line" >&2 ;;
		esac
	done <"$TMP/$br_js.out"
	ok "the browser run ended normally (exit $br_rc)" test "$br_rc" -eq 0 -o "$br_rc" -eq 1
	ok "the browser run checked something" grep -q '^PASS ' "$TMP/$br_js.out"
}
