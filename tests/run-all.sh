#!/bin/sh
# make test: every suite against the sanitizer build. Ends with one summary
# line; exits non-zero on any failure or if nothing ran.
BUILD=${1:-build-san}
cd "$(dirname "$0")/.."
export BUILD
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
passed=0
failed=0
run() { # run NAME CMD...: and how long it took, to keep the whole run short
	echo "== $1"
	shift
	t0=$(date +%s)
	if "$@"; then passed=$((passed+1)); else failed=$((failed+1)); echo "!! suite failed: $*"; fi
	echo "   ($(($(date +%s) - t0)) s)"
}
# The other suites, TEST_JOBS (3) at a time: most of a suite's time is spent
# waiting (sleeps, TTLs, sockets, a browser), and each one has its own
# ports, folders and daemons. A freed slot takes the next suite at once
# (whichever suite ended), longest known first. A suite that measures time
# or memory says "# alone" and runs by itself once the others are done, as
# the cluster test does. Each one's output is shown whole when it ends.
# The npm packages of tests/node, installed once before any suite starts:
# the browser, interop and librp suites all use them, and `npm ci` empties
# node_modules first, under whichever of them runs at that moment. Each
# suite still installs them itself when run alone.
if [ ! -f tests/node/node_modules/.package-lock.json ] ||
	[ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; then
	if command -v npm >/dev/null 2>&1; then
		echo "== installing the npm packages of tests/node (npm ci)"
		(cd tests/node && timeout 600 npm ci --no-audit --no-fund) || echo "!! npm ci in tests/node failed: the suites that need it will say so"
	fi
fi
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/idp-suites.XXXXXX") || exit 1
trap 'rm -rf "$LOGS"' EXIT
launch() { # launch NAME CMD...: in the background, its output and status in LOGS
	n=$1
	shift
	(
		t0=$(date +%s)
		"$@" >"$LOGS/$n.log" 2>&1
		echo "$? $(($(date +%s) - t0))" >"$LOGS/$n.rc.tmp" && mv "$LOGS/$n.rc.tmp" "$LOGS/$n.rc"
	) &
}
show() { # show NAME: a finished suite's output, counted
	echo "== $1"
	cat "$LOGS/$1.log"
	read -r rc secs <"$LOGS/$1.rc"
	if [ "$rc" -eq 0 ]; then passed=$((passed+1)); else failed=$((failed+1)); echo "!! suite failed: $1"; fi
	echo "   ($secs s)"
}
running=""
reap() { # reap: waits until some running suite ends, shows it, frees its slot
	while :; do
		for n in $running; do
			[ -f "$LOGS/$n.rc" ] || continue
			show "$n"
			running=$(echo " $running " | sed "s/ $n / /;s/^ *//;s/ *$//")
			return
		done
		sleep 0.2
	done
}
start() { # start NAME CMD...: once fewer than TEST_JOBS run
	while [ "$(echo $running | wc -w)" -ge "${TEST_JOBS:-3}" ]; do reap; done
	launch "$@"
	running="${running:+$running }$1"
}
suite_file() { # suite_file NAME.sh: the suite's script, in whichever folder it is
	for d in integration interop browser; do
		[ -f "tests/$d/$1" ] && echo "tests/$d/$1" && return
	done
}
begin() { # begin JOB: starts one job of the pool, by the name it is shown under
	case $1 in
	librp) start librp sh tests/rp/run.sh "$BUILD" ;;
	# test_store's out-of-memory case, apart: ASan's allocation cap makes
	# hiredis fail to allocate (see redis_fibers_oom_fails_one).
	unit-test_store-redis_oom) start "$1" env IDP_TEST_REDIS_OOM=1 \
		CK_RUN_CASE=redis_oom LSAN_OPTIONS=suppressions=tests/unit/redis-oom.supp \
		ASAN_OPTIONS="$ASAN_OPTIONS:max_allocation_size_mb=1:allocator_may_return_null=1:fast_unwind_on_malloc=0" \
		"$BUILD/tests/test_store" ;;
	unit-*) start "$1" "$BUILD/tests/${1#unit-}" ;;
	fuzz-corpus-*) f=${1#fuzz-corpus-}; start "$1" "$BUILD/tests/$f" "tests/fuzz/corpus/${f#fuzz_}" ;;
	*.sh-memory|*.sh-redis) start "$1" env STORE="${1##*-}" sh "$(suite_file "${1%-*}")" ;;
	*) start "$1" sh "$(suite_file "$1")" ;;
	esac
}
# Every job of the pool by name: librp, the unit tests and the fuzz corpora's
# replays, then each suite (twice, one per store, with "# stores: both").
JOBS=""
ALONE=""
[ -f tests/rp/run.sh ] && JOBS="librp"
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && JOBS="$JOBS unit-$(basename "$t")"
done
[ -x "$BUILD/tests/test_store" ] && JOBS="$JOBS unit-test_store-redis_oom"
for f in "$BUILD"/tests/fuzz_*; do
	[ -x "$f" ] && JOBS="$JOBS fuzz-corpus-$(basename "$f")"
done
for t in tests/integration/t_*.sh tests/interop/t_*.sh tests/browser/t_*.sh; do
	b=$(basename "$t")
	if grep -q '^# alone' "$t"; then
		ALONE="$ALONE $t"
	elif grep -q '^# stores: both' "$t"; then
		JOBS="$JOBS $b-memory $b-redis"
	else
		JOBS="$JOBS $b"
	fi
done
# The longest first, so that the pool does not end on one long suite: the
# jobs above a minute or so in a full run's "(N s)" lines, longest first
# (keep it current when a suite grows); every other job follows in the order
# above. A name here that is not a job is passed over.
LONGEST="
	t_federation.sh-redis t_federation.sh-memory t_keys.sh librp t_routes.sh t_paths.sh
	t_refusals.sh-redis t_refusals.sh-memory t_sso_rules.sh-memory t_roundtrips.sh t_ldap.sh
	t_sso_rules.sh-redis t_flow.sh-redis t_flow.sh-memory t_operate.sh-redis t_refresh.sh-memory
	t_refresh.sh-redis t_totp.sh-redis unit-test_store t_upstream.sh t_totp.sh-memory"
LONGEST=$(echo $LONGEST) # one line, one space between names
for j in $LONGEST; do
	case " $JOBS " in *" $j "*) begin "$j" ;; esac
done
for j in $JOBS; do
	case " $LONGEST " in *" $j "*) ;; *) begin "$j" ;; esac
done
while [ -n "$running" ]; do reap; done
for t in $ALONE tests/cluster/t_*.sh; do
	[ -f "$t" ] || continue
	b=$(basename "$t" .sh)
	if grep -q '^# stores: both' "$t"; then
		run "$b.sh memory" env STORE=memory sh "$t"
		run "$b.sh redis" env STORE=redis sh "$t"
	else
		run "$b.sh" sh "$t"
	fi
done
echo "all suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
