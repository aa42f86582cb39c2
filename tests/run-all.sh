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
for t in tests/integration/t_*.sh; do
	if grep -q '^# stores: both' "$t"; then
		run "$(basename "$t") memory" env STORE=memory sh "$t"
		run "$(basename "$t") redis" env STORE=redis sh "$t"
	else
		run "$(basename "$t")" sh "$t"
	fi
done
[ -f tests/rp/run.sh ] && run "librp" sh tests/rp/run.sh "$BUILD"
for t in tests/cluster/t_*.sh tests/interop/t_*.sh tests/browser/t_*.sh; do
	[ -f "$t" ] && run "$(basename "$t")" sh "$t"
done
echo "all suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
