#!/bin/sh
# librp's ID-token verification rates beside `openssl speed` for the same
# algorithms, measured in the same run, one thread, warm JWKS cache.
# Prints figures, asserts nothing.
#
#   sh tests/rp/bench.sh [BUILD_DIR] [SECONDS]     (make rp-bench builds and runs it)
set -u
BUILD=${1:-.}
SECS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
cd "$ROOT" || exit 1
BENCH=$BUILD/tests/rp/rp_bench
[ -x "$BENCH" ] || { echo "rp-bench: $BENCH is not built (make rp-bench)" >&2; exit 1; }
TMP=$(mktemp -d "${TMPDIR:-/tmp}/rp-bench.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

openssl speed -seconds "$SECS" ecdsap256 rsa2048 >"$TMP/speed" 2>/dev/null
# "rsa 2048 bits 0.000264s 0.000016s 3791.3 63947.0": verify/s is the last field
SPEED_RS=$(awk '/^rsa 2048 bits/ { print $NF }' "$TMP/speed")
SPEED_ES=$(awk '/ecdsa \(nistp256\)/ { print $NF }' "$TMP/speed")
"$BENCH" "$SECS" >"$TMP/bench" || exit 1

echo "librp ID-token verification, one thread, warm cache ($(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg))"
printf '%-6s %-26s %10s %12s %14s\n' alg measure "verify/s" "vs speed" "vs same-run"
for alg in ES256 RS256; do
	speed=$SPEED_ES
	[ $alg = RS256 ] && speed=$SPEED_RS
	printf '%-6s %-26s %10.0f %12s %14s\n' $alg "openssl speed" "${speed:-0}" "100%" "-"
	grep "^$alg [a-z_]* [0-9]*/s" "$TMP/bench" | while read -r a what rate ratio; do
		r=${rate%/s}
		pct=$(echo "$r ${speed:-0}" | awk '{ if ($2 > 0) printf "%.1f", 100 * $1 / $2; else printf "0" }')
		printf '%-6s %-26s %10s %11s%% %14s\n' "$a" "$what" "$r" "$pct" "$ratio"
	done
done
echo "(vs same-run: median ratio to openssl_evp_verify in interleaved slices; robust to load)"
