#!/bin/sh
# Runs every librp test on the binaries under BUILD_DIR (build-san for
# `make test`, "." for a plain build) and ends on one line:
#   rp: N passed, M failed
# Exits non-zero when anything failed or nothing ran. Servers listen on
# 127.0.0.1 only, are stopped by PID, and the temporary directory goes.
#
#   sh tests/rp/run.sh [BUILD_DIR]      (make SAN=1 test-bins first)
#
# When valgrind is installed, rp_unit and rp_interop also run under
# `valgrind --leak-check=full --error-exitcode`, on binaries without the
# sanitizers (valgrind cannot run those): BUILD_DIR's own when it is not
# build-san, else a plain build made here in build-vg/ (OUT=build-vg, so
# neither build-san nor the top-level build is touched). Each run is
# bounded by RP_VALGRIND_TIMEOUT seconds (default 300). RP_VALGRIND=0
# skips them.
set -u
BUILD=${1:-build-san}
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$ROOT" || exit 1
BIN=$BUILD/tests/rp
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rp-tests.XXXXXX") || exit 1
OP_PID=
EX_PID=
D1_PID=
D2_PID=
D3_PID=
PASS=0
FAIL=0

stop() { # $1: PID; TERM, up to 5 s, then KILL
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	n=50
	while [ $n -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		n=$((n - 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
cleanup() {
	stop "$EX_PID"
	stop "$D1_PID"
	stop "$D2_PID"
	stop "$D3_PID"
	stop "$OP_PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

pass() { PASS=$((PASS + 1)); echo "ok - $*"; }
fail() { FAIL=$((FAIL + 1)); echo "not ok - $*"; }
# The unit tests' RSA keys, made here by the openssl command (tokens.c reads
# them): made inside the tests under valgrind they take most of a minute.
for bits in 1024 2048; do
	openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" -out "$TMP/rsa$bits.pem" 2>/dev/null ||
		fail "openssl genpkey: no RSA-$bits test key"
done
export RP_TEST_RSA_DIR="$TMP"

wait_for() { # $1 tries 0.1 s apart, then the command
	n=$1
	shift
	while [ "$n" -gt 0 ]; do
		"$@" 2>/dev/null && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# valgrind: the command prefix, or empty when it is not to be used.
VG=
VG_BIN=
VG_RC=99
if [ "${RP_VALGRIND:-1}" != 0 ] && command -v valgrind >/dev/null 2>&1; then
	if [ "$BUILD" != build-san ]; then
		VG_BIN=$BIN
	elif make -s --no-print-directory OUT=build-vg build-vg/tests/rp/rp_unit \
		build-vg/tests/rp/rp_interop >"$TMP/vg-build.log" 2>&1; then
		VG_BIN=build-vg/tests/rp
	else
		sed 's/^/  /' "$TMP/vg-build.log" | tail -n 20
		fail "building the valgrind binaries (make OUT=build-vg)"
	fi
	[ -n "$VG_BIN" ] && VG="timeout -k 10 ${RP_VALGRIND_TIMEOUT:-300} valgrind -q \
		--error-exitcode=$VG_RC --leak-check=full --errors-for-leak-kinds=definite,indirect"
else
	echo "# valgrind is not installed (or RP_VALGRIND=0): no valgrind runs"
fi

# ---- 1. unit and refusal tests (Check) ----
# CK_FORK=no: one process, so LeakSanitizer (or valgrind) sees all of it.
# $1: how to run it (a label), then the command.
run_unit() {
	label=$1
	shift
	CK_FORK=no "$@" >"$TMP/unit.log" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$TMP/unit.log" | tail -n 1)
	checks=$(echo "$line" | sed -n 's/.*Checks: \([0-9]*\).*/\1/p')
	bad=$(echo "$line" | sed -n 's/.*Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2/p')
	set -- ${bad:-0 0}
	bad=$(($1 + $2))
	checks=${checks:-0}
	grep -E ':[EF]:' "$TMP/unit.log" | sed 's/^/  /'
	PASS=$((PASS + checks - bad))
	FAIL=$((FAIL + bad))
	if [ $rc -ne 0 ] && [ $bad -eq 0 ]; then
		# a sanitizer or valgrind report, a timeout, or a crash: show it
		tail -n 40 "$TMP/unit.log" | sed 's/^/  /'
		fail "rp_unit$label exited with status $rc"
	else
		echo "ok - rp_unit$label: $line"
	fi
}
if [ -x "$BIN/rp_unit" ]; then
	run_unit "" "$BIN/rp_unit"
else
	fail "$BIN/rp_unit is not built (make SAN=1 test-bins)"
fi
if [ -n "$VG" ]; then
	t0=$(date +%s)
	# shellcheck disable=SC2086
	run_unit " under valgrind" env RP_UNIT_LIGHT=1 $VG "$VG_BIN/rp_unit"
	echo "# rp_unit under valgrind: $(($(date +%s) - t0)) s"
fi

# ---- 2. the shared library's face ----
SO=$BUILD/rp/librp.so
if [ -f "$SO" ]; then
	extra=$(nm -D --defined-only "$SO" | awk '{ print $3 }' | grep -v '^rp_' |
		grep -v '^LIBRP_1$' | grep -v '^__odr_asan' | tr '\n' ' ')
	if [ -z "$extra" ]; then
		pass "librp.so exports $(nm -D --defined-only "$SO" | grep -c ' rp_') rp_* symbols and nothing else"
	else
		fail "librp.so also exports: $extra"
	fi
	if readelf -d "$SO" | grep -q 'SONAME.*\[librp\.so\.1\]'; then
		pass "librp.so has soname librp.so.1"
	else
		fail "librp.so soname is not librp.so.1"
	fi
else
	fail "$SO is not built"
fi
# The static library: the same public names, every internal one local, so
# a program linking it cannot clash with librp's internals.
A=$BUILD/rp/librp.a
if [ -f "$A" ] && [ -f "$SO" ]; then
	nm -g --defined-only "$A" | awk 'NF == 3 { print $3 }' | sort >"$TMP/a.syms"
	nm -D --defined-only "$SO" | awk '$3 ~ /^rp_/ { sub(/@.*/, "", $3); print $3 }' |
		sort >"$TMP/so.syms"
	if cmp -s "$TMP/a.syms" "$TMP/so.syms"; then
		pass "librp.a defines $(wc -l <"$TMP/a.syms") global symbols, the same as librp.so"
	else
		diff "$TMP/so.syms" "$TMP/a.syms" | sed 's/^/  /' | head -n 20
		fail "librp.a globals differ from librp.so's exports (> is librp.a only)"
	fi
else
	fail "$A is not built"
fi

# ---- 3. make install, then a program built through pkg-config ----
SAN=0
[ "$BUILD" = build-san ] && SAN=1
DEST=$TMP/dest
if make -s --no-print-directory SAN=$SAN DESTDIR="$DEST" PREFIX=/opt/rp rp-install \
	>"$TMP/install.log" 2>&1; then
	missing=
	for f in include/rp.h lib/librp.so lib/librp.so.1 lib/librp.a lib/pkgconfig/librp.pc; do
		[ -e "$DEST/opt/rp/$f" ] || missing="$missing $f"
	done
	if [ -z "$missing" ]; then
		pass "make install puts rp.h, librp.so.1, librp.a and librp.pc under DESTDIR/PREFIX"
	else
		fail "make install did not install:$missing"
	fi
	# shellcheck disable=SC2016
	if grep -qx 'libdir=${prefix}/lib' "$DEST/opt/rp/lib/pkgconfig/librp.pc" &&
		grep -qx 'includedir=${prefix}/include' "$DEST/opt/rp/lib/pkgconfig/librp.pc" &&
		grep -qx 'prefix=/opt/rp' "$DEST/opt/rp/lib/pkgconfig/librp.pc"; then
		pass "librp.pc: libdir and includedir relative to \${prefix}"
	else
		sed 's/^/  /' "$DEST/opt/rp/lib/pkgconfig/librp.pc"
		fail "librp.pc: libdir or includedir not relative to \${prefix}"
	fi
	export PKG_CONFIG_PATH="$DEST/opt/rp/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$DEST"
	sanflags=
	[ $SAN = 1 ] && sanflags=-fsanitize=address,undefined
	ok=0
	# shellcheck disable=SC2046
	if [ -f "$BIN/readme_example.c" ] &&
		cc -std=c11 -Wall -Werror $sanflags -o "$TMP/pc_example" "$BIN/readme_example.c" \
			$(pkg-config --cflags --libs librp) >"$TMP/pc.log" 2>&1; then
		# no settings: it must load the installed library and refuse cleanly
		LD_LIBRARY_PATH="$DEST/opt/rp/lib" "$TMP/pc_example" </dev/null >/dev/null \
			2>"$TMP/pc.err"
		[ $? -eq 1 ] && grep -q 'login failed: rp_config_new' "$TMP/pc.err" && ok=1
	fi
	if [ $ok = 1 ]; then
		pass "a program built with pkg-config --cflags --libs librp links and runs"
	else
		sed 's/^/  /' "$TMP/pc.log" "$TMP/pc.err" 2>/dev/null
		fail "building against the installed librp with pkg-config"
	fi
	unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
else
	sed 's/^/  /' "$TMP/install.log"
	fail "make install"
fi

# ---- 4. interoperability with npm oidc-provider ----
BASE=http://127.0.0.1:9/svc     # the services' redirect URIs: never contacted
if ! command -v node >/dev/null 2>&1; then
	fail "node is not installed: no interoperability test"
else
	if [ ! -d tests/node/node_modules/oidc-provider ]; then
		(cd tests/node && npm ci --no-audit --no-fund >"$TMP/npm.log" 2>&1) ||
			sed 's/^/  /' "$TMP/npm.log"
	fi
	node tests/rp/op.mjs "$TMP/op.url" "$BASE" >"$TMP/op.log" 2>&1 &
	OP_PID=$!
	if ! wait_for 600 test -s "$TMP/op.url"; then
		sed 's/^/  /' "$TMP/op.log"
		fail "oidc-provider did not start"
	else
		ISSUER=$(cat "$TMP/op.url")
		if [ -x "$BIN/rp_interop" ]; then
			"$BIN/rp_interop" "$ISSUER" "$BASE" >"$TMP/interop.log" 2>&1
			rc=$?
			ok=$(grep -c '^ok - ' "$TMP/interop.log")
			bad=$(grep -c '^not ok - ' "$TMP/interop.log")
			sed 's/^/  /' "$TMP/interop.log"
			PASS=$((PASS + ok))
			FAIL=$((FAIL + bad))
			if [ $rc -ne 0 ] && [ "$bad" -eq 0 ]; then
				fail "rp_interop exited with status $rc"
			fi
		else
			fail "$BIN/rp_interop is not built"
		fi
		# The same scenarios under valgrind: the shared library, as a
		# service uses it, with no leak and no invalid access.
		if [ -n "$VG" ]; then
			t0=$(date +%s)
			# shellcheck disable=SC2086
			$VG "$VG_BIN/rp_interop" "$ISSUER" "$BASE" >"$TMP/vg-interop.log" 2>&1
			rc=$?
			bad=$(grep -c '^not ok - ' "$TMP/vg-interop.log")
			if [ $rc -eq 0 ]; then
				pass "rp_interop under valgrind: $(grep -c '^ok - ' \
					"$TMP/vg-interop.log") checks, no error, no leak ($(($(date +%s) - t0)) s)"
			else
				grep -v '^ok - ' "$TMP/vg-interop.log" | tail -n 40 | sed 's/^/  /'
				fail "rp_interop under valgrind: status $rc, $bad failed checks"
			fi
		fi

		# The README example, end to end: it prints the URL, the
		# "browser" logs in, the example reads where it was sent back.
		if [ -x "$BIN/rp_example" ]; then
			mkfifo "$TMP/back"
			RP_ISSUER=$ISSUER RP_CLIENT_ID=svc-post \
			RP_CLIENT_SECRET=p0st-secret-with-enough-length \
			RP_REDIRECT_URI=$BASE/cb RP_HTTP_LOOPBACK=1 \
				timeout 60 "$BIN/rp_example" <"$TMP/back" >"$TMP/ex.out" \
				2>"$TMP/ex.err" &
			EX_PID=$!
			exec 3>"$TMP/back"
			back=
			if wait_for 100 grep -q '^http' "$TMP/ex.out"; then
				back=$("$BIN/rp_interop" --login "$(head -n 1 "$TMP/ex.out")" "$BASE")
			fi
			echo "$back" >&3
			exec 3>&-
			wait "$EX_PID"
			rc=$?
			EX_PID=
			if [ $rc -eq 0 ] &&
				grep -q '^sub=citizen1 acr=eidas2 given_name=Marianne$' "$TMP/ex.out"; then
				pass "README example logs citizen1 in: $(tail -n 1 "$TMP/ex.out")"
			else
				sed 's/^/  /' "$TMP/ex.out" "$TMP/ex.err"
				fail "README example (status $rc)"
			fi
		else
			fail "$BIN/rp_example is not built"
		fi

		# Single sign-on across two demo portals, then logout.
		DEMO=$BUILD/rp/examples/rp-demo
		if [ -x "$DEMO" ]; then
			RP_CLIENT_SECRET=demo1-secret-with-enough-length "$DEMO" --port 0 \
				--port-file "$TMP/d1.url" --name "Impôts démo" --issuer "$ISSUER" \
				--client-id demo1 --acr eidas2 --http-loopback 2>"$TMP/d1.log" &
			D1_PID=$!
			RP_CLIENT_SECRET=demo2-secret-with-enough-length "$DEMO" --port 0 \
				--port-file "$TMP/d2.url" --name "Assurance maladie démo" \
				--issuer "$ISSUER" --client-id demo2 --http-loopback 2>"$TMP/d2.log" &
			D2_PID=$!
			# asks for more than the provider gives (eidas2): refused
			RP_CLIENT_SECRET=demo2-secret-with-enough-length "$DEMO" --port 0 \
				--port-file "$TMP/d3.url" --name "Démo eidas3" --acr eidas3 \
				--issuer "$ISSUER" --client-id demo2 --http-loopback 2>"$TMP/d3.log" &
			D3_PID=$!
			if wait_for 100 test -s "$TMP/d1.url" && wait_for 100 test -s "$TMP/d2.url" &&
				wait_for 100 test -s "$TMP/d3.url"; then
				"$BIN/rp_interop" --sso "$(cat "$TMP/d1.url")" "$(cat "$TMP/d2.url")" \
					"$(cat "$TMP/d3.url")" >"$TMP/sso.log" 2>&1
				rc=$?
				ok=$(grep -c '^ok - ' "$TMP/sso.log")
				bad=$(grep -c '^not ok - ' "$TMP/sso.log")
				sed 's/^/  /' "$TMP/sso.log"
				PASS=$((PASS + ok))
				FAIL=$((FAIL + bad))
				[ $rc -ne 0 ] && [ "$bad" -eq 0 ] && fail "rp_interop --sso exited with $rc"
			else
				sed 's/^/  /' "$TMP/d1.log" "$TMP/d2.log" "$TMP/d3.log"
				fail "the demo portals did not start"
			fi
			stop "$D1_PID"
			stop "$D2_PID"
			stop "$D3_PID"
			D1_PID=
			D2_PID=
			D3_PID=
			# a sanitizer report in a demo shows in its log
			if grep -q 'ERROR: \(Address\|Leak\)Sanitizer\|runtime error' \
				"$TMP/d1.log" "$TMP/d2.log" "$TMP/d3.log"; then
				sed 's/^/  /' "$TMP/d1.log" "$TMP/d2.log" "$TMP/d3.log"
				fail "sanitizer report in a demo portal"
			fi
		else
			fail "$DEMO is not built"
		fi
	fi
	stop "$OP_PID"
	OP_PID=
fi

echo "rp: $PASS passed, $FAIL failed"
[ $FAIL -eq 0 ] && [ $PASS -gt 0 ]
