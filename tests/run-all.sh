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
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] && run "unit $(basename "$t")" "$t"
done
# test_store's out-of-memory case, apart: ASan's allocation cap makes hiredis
# fail to allocate (see redis_fibers_oom_fails_one).
[ -x "$BUILD/tests/test_store" ] && run "unit test_store redis_oom" env IDP_TEST_REDIS_OOM=1 \
	CK_RUN_CASE=redis_oom LSAN_OPTIONS=suppressions=tests/unit/redis-oom.supp \
	ASAN_OPTIONS="$ASAN_OPTIONS:max_allocation_size_mb=1:allocator_may_return_null=1:fast_unwind_on_malloc=0" \
	"$BUILD/tests/test_store"
for f in "$BUILD"/tests/fuzz_*; do
	[ -x "$f" ] || continue
	n=$(basename "$f")
	run "fuzz corpus $n" "$f" "tests/fuzz/corpus/${n#fuzz_}"
done
# The integration suites, TEST_JOBS (2) at a time: most of a suite's time is
# spent waiting (argon2 on the backend's workers, TTLs, sockets), and each
# one has its own ports, folders and daemons. A suite that measures time or
# memory says "# alone" and runs by itself. Each one's output is shown whole
# when it ends.
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
collect() { # collect NAME: waits for the suite NAME, shows it, counts it
	while [ ! -f "$LOGS/$1.rc" ]; do sleep 0.2; done
	echo "== $1"
	cat "$LOGS/$1.log"
	read -r rc secs <"$LOGS/$1.rc"
	if [ "$rc" -eq 0 ]; then passed=$((passed+1)); else failed=$((failed+1)); echo "!! suite failed: $1"; fi
	echo "   ($secs s)"
}
running=""
start() { # start NAME CMD...: once fewer than TEST_JOBS run, in launch order
	while [ "$(echo $running | wc -w)" -ge "${TEST_JOBS:-2}" ]; do
		first=${running%% *}
		collect "$first"
		running=${running#"$first"}
		running=${running# }
	done
	launch "$@"
	running="${running:+$running }$1"
}
drain() { for n in $running; do collect "$n"; done; running=""; }
for t in tests/integration/t_*.sh; do
	b=$(basename "$t" .sh)
	if grep -q '^# alone' "$t"; then
		drain
		if grep -q '^# stores: both' "$t"; then
			run "$b.sh memory" env STORE=memory sh "$t"
			run "$b.sh redis" env STORE=redis sh "$t"
		else
			run "$b.sh" sh "$t"
		fi
	elif grep -q '^# stores: both' "$t"; then
		start "$b.sh-memory" env STORE=memory sh "$t"
		start "$b.sh-redis" env STORE=redis sh "$t"
	else
		start "$b.sh" sh "$t"
	fi
done
drain
[ -f tests/rp/run.sh ] && run "librp" sh tests/rp/run.sh "$BUILD"
for t in tests/cluster/t_*.sh tests/interop/t_*.sh tests/browser/t_*.sh; do
	[ -f "$t" ] && run "$(basename "$t")" sh "$t"
done
echo "all suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
