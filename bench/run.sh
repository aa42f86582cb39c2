#!/bin/sh
# make bench: measures the provider beside the limits of this machine and
# beside its peers, in one run, on loopback only; prints a table and writes
# bench/results.json (one flat object). bench/README.md says what each figure
# is and how it is made.
#
# Knobs (environment): BENCH_SECONDS (3) per timed run, BENCH_RUNS (3) runs
# whose median is kept, BENCH_CONNECTIONS (16) wrk connections and loadgen
# virtual users, BENCH_SESSIONS (100000) live sessions for the memory figure,
# BENCH_SERVER_CPUS / BENCH_LOAD_CPUS (0 / 1 on two or more cores),
# BENCH_PEERS (1; 0 skips Glewlwyd and node-oidc-provider), BENCH_PERF (0; 1
# prints a perf profile of the token and SSO loads when perf is there),
# BENCH_CACHE (~/.cache/idp-bench: npm packages of the node peer).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/bench
DUR=${BENCH_SECONDS:-3}
RUNS=${BENCH_RUNS:-3}
CONC=${BENCH_CONNECTIONS:-16}
SESSIONS=${BENCH_SESSIONS:-100000}
PEERS=${BENCH_PEERS:-1}
PERF=${BENCH_PERF:-0}
START=$(date +%s)
TMP=$(mktemp -d /tmp/idp-bench.XXXXXX) || exit 1
RES=$TMP/results.tsv
NOTES=$TMP/notes.txt
PIDS=""
PEER_DIRS=""
: >"$RES"
: >"$NOTES"

cleanup() {
	for d in $PEER_DIRS; do
		case "$d" in
		*/glewlwyd*) sh "$B/peers/glewlwyd.sh" stop "$d" 2>/dev/null ;;
		*/node*) sh "$B/peers/node-oidc.sh" stop "$d" 2>/dev/null ;;
		esac
	done
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		i=0
		while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '[bench %4ss] %s\n' "$(($(date +%s) - START))" "$*" >&2; }
put() { printf '%s\t%s\n' "$1" "${2:-null}" >>"$RES"; }
note() { printf '%s\n' "$*" >>"$NOTES"; say "note: $*"; }
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n1; }
get() { awk -F'\t' -v k="$1" '$1 == k { v = $2 } END { print v }' "$RES"; }

# median_line FIELD FILE: the line of FILE whose FIELD is the median.
median_line() {
	awk -v f="$1" '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == f) print substr($i, n + 1) "\t" $0 } }' "$2" |
		sort -g | awk -F'\t' '{ l[NR] = $2 } END { if (NR) print l[int((NR + 1) / 2)] }'
}

# pick_line FIELD FILE: the median line by FIELD among the runs in which the
# server had its core (cpu >= 80 % of it); all runs when none had. Another
# process on a shared machine only ever lowers a figure, and shows as a
# server that waited.
pick_line() {
	awk '{ for (i = 1; i <= NF; i++) { n = index($i, "="); if (substr($i, 1, n - 1) == "cpu" && substr($i, n + 1) + 0 >= 80) { print; next } } }' "$2" >"$2.ok"
	if [ -s "$2.ok" ]; then median_line "$1" "$2.ok"; else median_line "$1" "$2"; fi
	DISTURBED=$(( $(wc -l <"$2") - $(wc -l <"$2.ok") ))
	[ -s "$2.ok" ] || DISTURBED=0
}

. "$ROOT/tests/integration/wait.sh"    # wait_for, free_port

stop_pid() {
	kill "$1" 2>/dev/null
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	PIDS=$(printf '%s\n' $PIDS | grep -vx "$1" | tr '\n' ' ')
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# The private anonymous part of the RSS (heap, stacks, libraries' written
# data): what a leak or bloat moves, apart from the shared libraries' file
# pages that VmRSS also counts (bench/README.md, where the idle RSS went).
rss_anon_kb() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
# CPU time of a process (all its threads), in clock ticks; SRV_PID is the
# server being measured, so every figure also says how busy it kept its core.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
SRV_PID=""
cpu_ticks() { [ -n "$1" ] && awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
now_s() { date +%s.%N; }
cpu_begin() { CPU_T0=$(now_s); CPU_C0=$(cpu_ticks "$SRV_PID"); }
cpu_pct() { # the server's CPU since cpu_begin, in % of one core ("" without a server)
	[ -n "$SRV_PID" ] || return 0
	awk -v t0="$CPU_T0" -v t1="$(now_s)" -v c0="$CPU_C0" -v c1="$(cpu_ticks "$SRV_PID")" -v hz="$CLK_TCK" \
		'BEGIN { if (t1 > t0) printf "%.0f", 100 * (c1 - c0) / hz / (t1 - t0) }'
}
cpu_end() { # KEY: KEY_server_cpu_pct over everything since cpu_begin
	[ -n "$SRV_PID" ] || return 0
	put "${1}_server_cpu_pct" "$(cpu_pct)"
}
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ---- the machine and the cores ---------------------------------------------
NPROC=$(nproc)
if [ "$NPROC" -ge 2 ]; then
	SCPUS=${BENCH_SERVER_CPUS:-0}
	LCPUS=${BENCH_LOAD_CPUS:-1}
else
	SCPUS=${BENCH_SERVER_CPUS:-0}
	LCPUS=${BENCH_LOAD_CPUS:-0}
	note "one core only: server and load generator share it"
fi
SERVER_CORES=$(python3 -c '
import sys
n = 0
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    n += (int(b) - int(a) + 1) if b else 1
print(n)' "$SCPUS")
CPU_MODEL=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
[ -n "$CPU_MODEL" ] || CPU_MODEL=$(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo | head -n1)
LOAD_AT_START=$(cut -d' ' -f1 /proc/loadavg)
put server_cores "$SERVER_CORES"
put machine_nproc "$NPROC"
put machine_load_at_start "$LOAD_AT_START"
say "machine: $CPU_MODEL, nproc $NPROC; server on CPU $SCPUS, load generator and redis on CPU $LCPUS"
if awk -v l="$LOAD_AT_START" 'BEGIN { exit !(l > 0.5) }'; then
	note "the machine was busy when the bench started (load average $LOAD_AT_START): figures are lower and noisier than on an idle machine"
fi

# ---- what the bench needs ---------------------------------------------------
apt_install() { # PKG...: as root, quietly; false when it fails
	[ "$(id -u)" = 0 ] || return 1
	if [ -z "${APT_UPDATED:-}" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1
		APT_UPDATED=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >"$TMP/apt.log" 2>&1
}
missing=""
command -v wrk >/dev/null 2>&1 || missing="$missing wrk"
command -v redis-server >/dev/null 2>&1 || missing="$missing redis-server"
command -v redis-benchmark >/dev/null 2>&1 || missing="$missing redis-tools"
command -v taskset >/dev/null 2>&1 || missing="$missing util-linux"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
pkg-config --exists libmicrohttpd libargon2 openssl jansson libcurl hiredis libjwt 2>/dev/null ||
	missing="$missing libmicrohttpd-dev libargon2-dev libssl-dev libjansson-dev libcurl4-openssl-dev libhiredis-dev libjwt-dev pkg-config"
if [ -n "$missing" ]; then
	say "installing:$missing"
	apt_install $missing || {
		echo "bench: cannot install:$missing (run as root, or: apt-get install$missing)" >&2
		exit 1
	}
fi
if [ "$PEERS" = 1 ] && ! command -v glewlwyd >/dev/null 2>&1; then
	say "installing glewlwyd (peer)"
	apt_install glewlwyd || note "glewlwyd: apt-get install glewlwyd failed; that peer is skipped"
fi
if [ "$PERF" = 1 ] && ! command -v perf >/dev/null 2>&1; then
	apt_install linux-perf || note "perf: not installed (linux-perf); no profile"
fi
for f in idp/idp idp/idpctl plugins/file/file.so build/libidpcore.a; do
	[ -x "$ROOT/$f" ] || [ -f "$ROOT/$f" ] || { echo "bench: $f is missing: run make first" >&2; exit 1; }
done

# The bench's own programs, built here (not part of make).
mkdir -p "$TMP/bin"
BCC=${CC:-cc}
BFLAGS="-O2 -g -Wall -Wextra"
# shellcheck disable=SC2046
$BCC $BFLAGS -I"$ROOT/common" -o "$TMP/bin/loadgen" "$B/loadgen.c" "$ROOT/common/codec.c" $(pkg-config --cflags --libs openssl) -lpthread &&
$BCC $BFLAGS -o "$TMP/bin/hello" "$B/hello.c" $(pkg-config --cflags --libs libmicrohttpd) &&
# argon2 hashes through the provider's own pwhash_verify (make all builds it into build/).
$BCC $BFLAGS -std=c11 -D_GNU_SOURCE -I"$ROOT/idp" -I"$ROOT/idp/base" -I"$ROOT/idp/keys" -I"$ROOT/idp/store" -I"$ROOT/idp/net" -I"$ROOT/idp/oidc" -I"$ROOT/common" -o "$TMP/bin/argon2" "$B/argon2.c" "$ROOT/build/libidpcore.a" \
	$(pkg-config --cflags --libs libmicrohttpd jansson hiredis libjwt openssl libcurl libargon2) -ldl -lpthread || {
	echo "bench: building the bench programs failed" >&2; exit 1; }
# jwtsign links the provider's own objects (make all builds them into build/).
JWTS=""
if [ -f "$ROOT/build/libidpcore.a" ] &&
	$BCC $BFLAGS -std=c11 -D_GNU_SOURCE -I"$ROOT/idp" -I"$ROOT/idp/base" -I"$ROOT/idp/keys" -I"$ROOT/idp/store" -I"$ROOT/idp/net" -I"$ROOT/idp/oidc" -I"$ROOT/common" -I"$ROOT/plugins" -o "$TMP/bin/jwtsign" "$B/jwtsign.c" \
		"$ROOT/build/libidpcore.a" $(pkg-config --cflags --libs libmicrohttpd jansson hiredis libjwt openssl libcurl libargon2) \
		-ldl -lpthread 2>"$TMP/jwtsign.log"; then
	JWTS=$TMP/bin/jwtsign
else
	note "jwtsign did not build ($(head -c 200 "$TMP/jwtsign.log" 2>/dev/null)); sign_* figures are null"
fi
RPV=""
if [ -f "$ROOT/rp/include/rp.h" ] && [ -f "$ROOT/rp/librp.a" ]; then
	if $BCC $BFLAGS -I"$ROOT/rp/include" -o "$TMP/bin/rpverify" "$B/rpverify.c" "$ROOT/rp/librp.a" \
		$(pkg-config --cflags --libs jansson libcurl openssl) -lpthread 2>"$TMP/rpverify.log"; then
		RPV=$TMP/bin/rpverify
	else
		note "librp: rpverify did not build against rp/librp.a ($(head -c 200 "$TMP/rpverify.log")); rp_verify_* are null"
	fi
else
	note "librp: rp/librp.a or rp/include/rp.h is missing; rp_verify_* are null"
fi
LG=$TMP/bin/loadgen

# ---- the limits ---------------------------------------------------------------
say "openssl speed ecdsap256 rsa2048 (1 core, then -multi $NPROC)"
ossl() { # OUTFILE ARGS...
	out=$1; shift
	taskset -c "$SCPUS" openssl speed "$@" ecdsap256 rsa2048 2>/dev/null >"$out"
}
parse_ossl() { # FILE SUFFIX
	l=$(grep -E '^rsa +2048 bits' "$1" | tail -n1)
	put "openssl_rs256_sign_$2" "$(echo "$l" | awk '{ print $(NF-1) }')"
	put "openssl_rs256_verify_$2" "$(echo "$l" | awk '{ print $NF }')"
	l=$(grep -E 'ecdsa \(nistp256\)' "$1" | tail -n1)
	put "openssl_es256_sign_$2" "$(echo "$l" | awk '{ print $(NF-1) }')"
	put "openssl_es256_verify_$2" "$(echo "$l" | awk '{ print $NF }')"
}
# A limit is the best the machine does: another process can only lower it,
# so the best of 3 one-second runs per figure (the targets get no easier).
for r in 1 2 3; do ossl "$TMP/ossl.$r" -seconds 1; done
cat "$TMP/ossl.1" "$TMP/ossl.2" "$TMP/ossl.3" | awk '
	/^rsa +2048 bits/ { if ($(NF-1) > rs) rs = $(NF-1); if ($NF > rv) rv = $NF }
	/ecdsa \(nistp256\)/ { if ($(NF-1) > es) es = $(NF-1); if ($NF > ev) ev = $NF }
	END { printf "rsa 2048 bits x x %s %s\n 256 bits ecdsa (nistp256) x x %s %s\n", rs, rv, es, ev }' >"$TMP/ossl1"
parse_ossl "$TMP/ossl1" 1core
if [ "$NPROC" -gt 1 ]; then
	openssl speed -seconds 1 -multi "$NPROC" ecdsap256 rsa2048 >"$TMP/osslm" 2>/dev/null &&
		parse_ossl "$TMP/osslm" allcores
fi
if [ "$SERVER_CORES" -gt 1 ]; then
	taskset -c "$SCPUS" openssl speed -seconds 2 -multi "$SERVER_CORES" ecdsap256 rsa2048 >"$TMP/ossls" 2>/dev/null &&
		parse_ossl "$TMP/ossls" servercores
fi


# wrk_bench KEY URL [METHOD BODY AUTH]: RUNS runs of DUR seconds, wrk -t1
# -cCONC on the load cores; KEY_rps (2xx only), KEY_p50_ms, KEY_p99_ms of the
# median run.
wrk_bench() {
	key=$1 url=$2
	: >"$TMP/wrk.$key"
	# One second of warm-up, not counted.
	WRK_METHOD=${3:-GET} WRK_BODY=${4:-} WRK_AUTH=${5:-} taskset -c "$LCPUS" \
		wrk -t1 -c"$CONC" -d1s --timeout 10s -s "$B/request.lua" "$url" >/dev/null 2>&1
	r=0
	while [ $r -lt "$RUNS" ]; do
		cpu_begin
		line=$(WRK_METHOD=${3:-GET} WRK_BODY=${4:-} WRK_AUTH=${5:-} taskset -c "$LCPUS" \
			wrk -t1 -c"$CONC" -d"${DUR}s" --timeout 10s -s "$B/request.lua" "$url" 2>&1 |
			grep '^WRK ' | awk '{
				for (i = 2; i <= NF; i++) { split($i, a, "="); v[a[1]] = a[2] }
				printf "%s ok_rps=%.1f", $0, (v["requests"] - v["non2xx"]) / v["seconds"] }')
		[ -n "$line" ] && echo "$line cpu=$(cpu_pct)" >>"$TMP/wrk.$key"
		r=$((r+1))
	done
	pick_line ok_rps "$TMP/wrk.$key" >/dev/null
	l=$(pick_line ok_rps "$TMP/wrk.$key")
	if [ -z "$l" ]; then
		note "$key: wrk gave no result"
		put "${key}_rps" null
		return 1
	fi
	put "${key}_rps" "$(field ok_rps "$l")"
	put "${key}_p50_ms" "$(field p50_ms "$l")"
	put "${key}_p99_ms" "$(field p99_ms "$l")"
	[ -n "$SRV_PID" ] && put "${key}_server_cpu_pct" "$(field cpu "$l")"
	[ "$DISTURBED" -gt 0 ] && note "$key: $DISTURBED of $RUNS runs set aside (the server had less than 80% of its core: disturbed)"
	bad=$(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == "non2xx" || a[1] == "errors") s += a[2] } } END { print s + 0 }' "$TMP/wrk.$key")
	[ "$bad" -gt 0 ] && note "$key: $bad non-2xx answers or socket errors over $RUNS runs (not counted in the rate)"
	grep -q 'requests=0 ' "$TMP/wrk.$key" && note "$key: a run completed no request at all"
	say "$key: $(field ok_rps "$l")/s p50 $(field p50_ms "$l") ms p99 $(field p99_ms "$l") ms; server CPU $(get "${key}_server_cpu_pct")%"
	return 0
}

# keepalive URL: 1 when two requests share one connection.
keepalive() {
	n=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}\n' "$1" "$1" 2>/dev/null | awk '{ s += $1 } END { print s }')
	[ "$n" = 1 ] && echo 1 || echo 0
}

# The HTTP ceiling: a bare libmicrohttpd server, as many threads as the
# provider runs (listen.threads 0: one per core the system reports).
HELLO_THREADS=$NPROC
HP=$(free_port)
taskset -c "$SCPUS" "$TMP/bin/hello" "$HP" "$HELLO_THREADS" "$TMP/hello.port" >"$TMP/hello.log" 2>&1 &
HPID=$!
SRV_PID=$HPID
PIDS="$PIDS $HPID"
if wait_for 50 test -s "$TMP/hello.port"; then
	say "libmicrohttpd hello ($HELLO_THREADS threads, epoll, CPU $SCPUS)"
	wrk_bench http_hello "http://127.0.0.1:$HP/"
	put http_hello_keepalive "$(keepalive "http://127.0.0.1:$HP/")"
else
	note "hello: did not start"
fi
stop_pid "$HPID"

# ---- the provider: configuration, keys, users --------------------------------
mkdir -p "$TMP/keys"
"$ROOT/idp/idpctl" --keys-dir "$TMP/keys" keys init >/dev/null 2>&1 || { echo "bench: idpctl keys init failed" >&2; exit 1; }
PW='Bench-pass-2026!'
# citizen: RFC 9106's second recommended parameters, as idpctl writes them.
# quick: a cheap parameter set for the figures that are not about the hash
# (SSO setups, the 100,000 sessions). 98 more cheap users make 100 in all.
"$TMP/bin/argon2" users "$TMP/users.json" "$PW" citizen:3:65536:4 quick:1:8:1 --bulk u 98 1 8 1 &&
"$TMP/bin/argon2" users "$TMP/users-10k.json" "$PW" citizen:3:65536:4 quick:1:8:1 --bulk u 9998 1 8 1 || {
	echo "bench: users files failed" >&2; exit 1; }
chmod 600 "$TMP/users.json" "$TMP/users-10k.json"

# mkconf OUT STORE (memory, redis, redis-unix) [REDIS_PORT or socket path] [EXTRA_CLIENTS] [THREADS]: demo.json with the
# bench's clients (secret: CLIENT_ID-secret-0123456789abcdef), codes that live
# 600 s (they are minted before the timed part), the production log level.
mkconf() {
	python3 "$ROOT/bench/bench_config.py" "$ROOT" "$1" "$2" "${3:-0}" "${4:-0}" "${5:-0}" \
		"$TMP/keys" "$TMP/users.json" full
}

# start_idp NAME CONFIG: a fresh daemon on a free port, pinned to the server
# cores; sets IDP_PID, IDP_PORT, IDP.
start_idp() {
	IDP_PORT=$(free_port)
	sed "s#http://127.0.0.1:PORT#http://127.0.0.1:$IDP_PORT#" "$2" >"$TMP/$1.json"
	rm -f "$TMP/$1.port"
	GLIBC_TUNABLES=glibc.malloc.tcache_count=128 taskset -c "$SCPUS" "$ROOT/idp/idp" --config "$TMP/$1.json" --port "$IDP_PORT" \
		--port-file "$TMP/$1.port" --plugin-dir "$ROOT/plugins" >>"$TMP/$1.log" 2>&1 &
	IDP_PID=$!
	PIDS="$PIDS $IDP_PID"
	IDP=http://127.0.0.1:$IDP_PORT
	if ! wait_for 300 test -s "$TMP/$1.port" || ! wait_for 50 curl -sf -o /dev/null "$IDP/healthz"; then
		echo "bench: the provider ($1) did not start:" >&2
		tail -n 20 "$TMP/$1.log" >&2
		exit 1
	fi
	SRV_PID=$IDP_PID
	IDP_THREADS=$(sed -n 's/.*listening on .*(\([0-9]*\) threads).*/\1/p' "$TMP/$1.log" | tail -n1)
}

cl() { # loadgen arguments for a client: --client ID --secret S --redirect URI
	printf -- '--client %s --secret %s-secret-0123456789abcdef --redirect http://127.0.0.1:9/%s/callback' "$1" "$1" "$1"
}
cl2() {
	printf -- '--client2 %s --secret2 %s-secret-0123456789abcdef --redirect2 http://127.0.0.1:9/%s/callback' "$1" "$1" "$1"
}
basic() { printf 'Basic %s' "$(printf '%s:%s-secret-0123456789abcdef' "$1" "$1" | base64 | tr -d '\n')"; }

# lg_runs KEY RUNS LOADGEN-ARGS...: RUNS timed loadgen runs; KEY_per_s,
# KEY_p50_ms, KEY_p99_ms of the median run.
lg_runs() {
	key=$1 n=$2
	shift 2
	: >"$TMP/lg.$key"
	r=0
	while [ $r -lt "$n" ]; do
		lg_once "$key" "$@"
		r=$((r+1))
	done
	lg_report "$key" "$n"
}

# lg_once KEY LOADGEN-ARGS...: one timed loadgen run, its RESULT line (with
# the server's CPU) appended to $TMP/lg.KEY.
lg_once() {
	key=$1
	shift
	cpu_begin
	line=$(taskset -c "$LCPUS" "$LG" "$@" 2>>"$TMP/lg.err" | grep '^RESULT' | head -n1)
	[ -n "$line" ] && echo "$line cpu=$(cpu_pct)" >>"$TMP/lg.$key"
}

# lg_report KEY RUNS: KEY_per_s, KEY_p50_ms, KEY_p99_ms of the median of the
# runs in $TMP/lg.KEY, and notes on disturbed runs, errors, reconnects.
lg_report() {
	key=$1 n=$2
	pick_line rate "$TMP/lg.$key" >/dev/null
	l=$(pick_line rate "$TMP/lg.$key")
	if [ -z "$l" ]; then
		note "$key: loadgen gave no result ($(tail -n1 "$TMP/lg.err"))"
		put "${key}_per_s" null
		return 1
	fi
	put "${key}_per_s" "$(field rate "$l")"
	put "${key}_p50_ms" "$(field p50_ms "$l")"
	put "${key}_p99_ms" "$(field p99_ms "$l")"
	[ -n "$SRV_PID" ] && put "${key}_server_cpu_pct" "$(field cpu "$l")"
	[ "$DISTURBED" -gt 0 ] && note "$key: $DISTURBED of $n runs set aside (the server had less than 80% of its core: disturbed)"
	errs=$(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == "errors") s += a[2] } } END { print s + 0 }' "$TMP/lg.$key")
	[ "$errs" -gt 0 ] && note "$key: $errs failed iterations (not counted; first: $(grep 'first:' "$TMP/lg.err" | tail -n1 | cut -c1-160))"
	rec=$(awk '{ for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == "reconnects") s += a[2] } } END { print s + 0 }' "$TMP/lg.$key")
	[ "$rec" -gt 0 ] && note "$key: the server closed $rec keep-alive connections during the runs"
	say "$key: $(field rate "$l")/s p50 $(field p50_ms "$l") ms p99 $(field p99_ms "$l") ms; server CPU $(get "${key}_server_cpu_pct")% (setup logins included)"
	return 0
}

# token_exchange KEY CLIENT CAP [LOADGEN-ARGS...]: codes minted through
# /authorize with live sessions (untimed, at most CAP a round), then all
# exchanged (timed).
token_exchange() {
	key=$1 client=$2 cap=$3
	shift 3
	cpu_begin
	# shellcheck disable=SC2046
	taskset -c "$LCPUS" "$LG" token -p "$IDP_PORT" -c "$CONC" $(cl "$client") --user quick --password "$PW" \
		--mint-seconds 2 --mint-max "$cap" --rounds "$RUNS" "$@" 2>>"$TMP/lg.err" | grep '^RESULT' >"$TMP/lg.$key"
	cpu_end "$key"
	l=$(grep 'mode=token_median' "$TMP/lg.$key")
	if [ -z "$l" ]; then
		note "$key: loadgen gave no result ($(tail -n1 "$TMP/lg.err"))"
		put "${key}_rps" null
		return 1
	fi
	put "${key}_rps" "$(field rate "$l")"
	put "${key}_p50_ms" "$(field p50_ms "$l")"
	put "${key}_p99_ms" "$(field p99_ms "$l")"
	put "${key}_codes_per_round" "$(grep 'mode=token ' "$TMP/lg.$key" | head -n1 | tr ' ' '\n' | sed -n 's/^minted=//p')"
	errs=$(grep 'mode=token ' "$TMP/lg.$key" | awk '{ for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == "errors") s += a[2] } } END { print s + 0 }')
	[ "$errs" -gt 0 ] && note "$key: $errs failed exchanges (not counted)"
	say "$key: $(field rate "$l")/s p50 $(field p50_ms "$l") ms p99 $(field p99_ms "$l") ms"
}

# cap_for RATE: codes to mint per round so an exchange round lasts about DUR s.
cap_for() { awk -v r="${1:-0}" -v d="$DUR" 'BEGIN { c = (r == "null" ? 0 : r) * d * 0.8; if (c < 500) c = 500; printf "%d", c }'; }

perf_profile() { # LABEL SECONDS: the daemon's hottest symbols, when asked
	[ "$PERF" = 1 ] && command -v perf >/dev/null 2>&1 || return 0
	perf record -F 499 -g -p "$IDP_PID" -o "$TMP/perf.$1" -- sleep "$2" >/dev/null 2>&1 &&
		{ echo "---- perf: $1, by library ----"
		  perf report -i "$TMP/perf.$1" --stdio --no-children --sort dso 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 10
		  echo "---- perf: $1, top symbols (self) ----"
		  perf report -i "$TMP/perf.$1" --stdio --no-children --sort dso,symbol 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -n 25; } >>"$TMP/perf.txt"
}

# ---- signing an ID token: the key parsed once, or libjwt re-parsing the PEM ---
# With SoftHSM2, the same ES256 signing with the key in a token of its own
# (a PIN made up here), on one thread and on two at once.
P11MOD=/usr/lib/softhsm/libsofthsm2.so
P11ARGS=""
if [ -n "$JWTS" ] && [ -f "$P11MOD" ] && command -v softhsm2-util >/dev/null && command -v pkcs11-tool >/dev/null; then
	mkdir -p "$TMP/softhsm/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$TMP/softhsm/tokens" >"$TMP/softhsm/conf"
	(umask 077; printf '12345678\n' >"$TMP/softhsm/pin")
	if SOFTHSM2_CONF="$TMP/softhsm/conf" softhsm2-util --init-token --free --label bench --so-pin 87654321 \
		--pin 12345678 >>"$TMP/jwtsign.log" 2>&1 &&
	   SOFTHSM2_CONF="$TMP/softhsm/conf" pkcs11-tool --module "$P11MOD" --token-label bench --login --pin 12345678 \
		--keypairgen --key-type EC:prime256v1 --label es --id 01 >>"$TMP/jwtsign.log" 2>&1; then
		P11ARGS="pkcs11:token=bench;object=es $TMP/softhsm/pin 2"
	else
		note "SoftHSM2 could not make its token (see jwtsign.log): sign_pkcs11_es256_per_s is null"
	fi
elif [ -n "$JWTS" ]; then
	note "SoftHSM2 or opensc is not installed (sh scripts/deps.sh): sign_pkcs11_es256_per_s is null"
fi
if [ -n "$JWTS" ]; then
	# shellcheck disable=SC2086 # P11ARGS is three words or none
	l=$(SOFTHSM2_CONF="$TMP/softhsm/conf" taskset -c "$SCPUS" "$JWTS" "$TMP/keys" 1 $P11ARGS 2>>"$TMP/jwtsign.log" | grep '^RESULT')
	put sign_cached_es256_per_s "$(field cached_es256 "$l")"
	put sign_libjwt_es256_per_s "$(field libjwt_es256 "$l")"
	put sign_cached_rs256_per_s "$(field cached_rs256 "$l")"
	put sign_libjwt_rs256_per_s "$(field libjwt_rs256 "$l")"
	say "ID token signing, 1 thread: cached key ES256 $(get sign_cached_es256_per_s)/s, libjwt $(get sign_libjwt_es256_per_s)/s; RS256 $(get sign_cached_rs256_per_s)/s, libjwt $(get sign_libjwt_rs256_per_s)/s"
	put sign_pkcs11_es256_per_s "$(field pkcs11_es256 "$l")"
	put sign_pkcs11_es256_2t_per_s "$(field pkcs11_es256_mt "$l")"
	put sign_cached_es256_2t_per_s "$(field cached_es256_mt "$l")"
	[ -n "$P11ARGS" ] && say "ES256 signing, key in SoftHSM2: $(get sign_pkcs11_es256_per_s)/s on 1 thread, $(get sign_pkcs11_es256_2t_per_s)/s on 2 (in memory: $(get sign_cached_es256_2t_per_s)/s on 2)"
fi

# ---- the provider with the memory store ---------------------------------------
mkconf "$TMP/mem.tmpl" memory
start_idp mem "$TMP/mem.tmpl"
put idp_threads "$IDP_THREADS"
sleep 1
put rss_idle_kb "$(rss_kb "$IDP_PID")"
put rss_anon_idle_kb "$(rss_anon_kb "$IDP_PID")"
say "provider (memory store) on $IDP, $IDP_THREADS HTTP threads, idle RSS $(get rss_idle_kb) kB, of which private anonymous $(get rss_anon_idle_kb) kB"
put discovery_keepalive "$(keepalive "$IDP/.well-known/openid-configuration")"
[ "$(get discovery_keepalive)" = 1 ] || note "the provider closed the connection after a discovery answer (no keep-alive)"

wrk_bench discovery "$IDP/.well-known/openid-configuration"
wrk_bench jwks "$IDP/jwks"
wrk_bench token_cc_es256 "$IDP/token" POST "grant_type=client_credentials&scope=api" "$(basic bench-cc-es)"
wrk_bench token_cc_rs256 "$IDP/token" POST "grant_type=client_credentials&scope=api" "$(basic bench-cc-rs)"

say "token endpoint, authorization_code (codes minted through real logins and /authorize)"
PERFPID=""
if [ "$PERF" = 1 ]; then (sleep 3; perf_profile token_es256 3) & PERFPID=$!; fi
# Polling VUs on the memory-store runs: the load core has nothing else to
# do, and the provider's core is not charged for waking them (loadgen.c, --spin).
token_exchange token_es256 bench-es "$(cap_for "$(get token_cc_es256_rps)")" --spin
[ -n "$PERFPID" ] && wait "$PERFPID"
token_exchange token_es256_sleeping_vus bench-es "$(cap_for "$(get token_cc_es256_rps)")"
token_exchange token_rs256 bench-rs "$(cap_for "$(get token_cc_rs256_rps)")" --spin

say "introspection: a data provider checks a service's access token (RFC 7662)"
# One real login at bench-es with identite_pivot, the scope bench-dp serves
# (a token without one of its scopes is inactive for it).
"$LG" flow -p "$IDP_PORT" $(cl bench-es) --user quick --password "$PW" --scope "openid identite_pivot" \
	>"$TMP/flow.dp" 2>>"$TMP/lg.err"
AT_DP=$(sed -n 's/^ACCESSTOKEN bench-es //p' "$TMP/flow.dp" | head -n1)
if [ -n "$AT_DP" ] && curl -s -H "Authorization: $(basic bench-dp)" --data "token=$AT_DP" "$IDP/introspect" |
	grep -q '"active":true'; then
	wrk_bench introspect "$IDP/introspect" POST "token=$AT_DP" "$(basic bench-dp)"
else
	put introspect_rps null
	note "introspect: no active access token for bench-dp ($(tail -n1 "$TMP/lg.err"))"
fi

say "SSO login, memory store (authorize with a live session -> code -> token -> userinfo)"
# shellcheck disable=SC2046
lg_runs sso_login_memory "$RUNS" sso --spin -p "$IDP_PORT" -c "$CONC" -d "$DUR" $(cl bench-es) $(cl2 bench-sso) \
	--user quick --password "$PW"
put rss_under_load_kb "$(hwm_kb "$IDP_PID")"

# argon2id is memory-bound, and this machine's speed drifts from second to
# second: so the hash rate and the password login are measured in turns, six
# rounds of one second each (the hash, libargon2's own verify, then about a
# second of logins), and each figure is its total over the rounds. The limit
# is the hash the way the daemon runs it (memory kept between hashes);
# libargon2's argon2id_verify (memory mapped and unmapped each time) beside it.
say "argon2id raw rate (t=3, m=64 MiB, p=4; one thread, server core, the provider idle) and the password login, in 6 rounds"
l=$(taskset -c "$SCPUS" "$TMP/bin/argon2" rate 1 8 1 1)
put argon2id_cheap_hash_per_s "$(field rate "$l")"
# shellcheck disable=SC2046
taskset -c "$LCPUS" "$LG" login -p "$IDP_PORT" -c 2 -n 2 $(cl bench-es) --user citizen --password "$PW" \
	>/dev/null 2>>"$TMP/lg.err"  # warm-up; consent given once
: >"$TMP/a2.daemon"
: >"$TMP/a2.library"
: >"$TMP/lg.password_login"
PWN=""
# The order turns each round (hash first in odd rounds, the logins first in
# even ones), so that a drift of the machine's speed weighs on both alike.
hash_runs() {
	taskset -c "$SCPUS" "$TMP/bin/argon2" rate 3 65536 4 1 >>"$TMP/a2.daemon"
	taskset -c "$SCPUS" "$TMP/bin/argon2" rate 3 65536 4 1 --library >>"$TMP/a2.library"
}
for r in 1 2 3 4 5 6; do
	[ $((r % 2)) = 1 ] && hash_runs
	# A counted run: N logins (even: 2 users), about a second's worth; rate =
	# N / time to the last one (a timed run would drop the logins in flight).
	[ -n "$PWN" ] || PWN=$(awk -v r="$(field rate "$(tail -n1 "$TMP/a2.daemon")")" \
		'BEGIN { n = 2 * int(r / 2 + 0.5); if (n < 4) n = 4; print n }')
	# shellcheck disable=SC2046
	lg_once password_login login -p "$IDP_PORT" -c 2 -n "$PWN" $(cl bench-es) --user citizen --password "$PW"
	[ $((r % 2)) = 0 ] && hash_runs
done
# total KEY-of-count / total KEY-of-seconds over the rounds of FILE
total_rate() {
	awk -v n="$1" -v d="$2" '{ for (i = 1; i <= NF; i++) { k = index($i, "="); f = substr($i, 1, k - 1)
		if (f == n) c += substr($i, k + 1); if (f == d) t += substr($i, k + 1) } }
		END { if (t > 0) printf "%.2f", c / t }' "$3"
}
lg_report password_login 6
put password_login_per_s "$(total_rate done seconds "$TMP/lg.password_login")"
put password_login_count "$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^done=/) s += substr($i, 6) } END { print s + 0 }' "$TMP/lg.password_login")"
put argon2id_hash_per_s "$(total_rate hashes cpu_seconds "$TMP/a2.daemon")"
put argon2id_library_hash_per_s "$(total_rate hashes cpu_seconds "$TMP/a2.library")"
say "password login $(get password_login_per_s)/s; argon2id $(get argon2id_hash_per_s)/s as the daemon hashes, $(get argon2id_library_hash_per_s)/s with argon2id_verify (totals of 6 rounds)"
# shellcheck disable=SC2046
lg_runs login_cheap_hash "$RUNS" login --spin -p "$IDP_PORT" -c "$CONC" -d "$DUR" $(cl bench-es) \
	--user quick --password "$PW"

say "users 100x: the same login with a users file of 10,000 instead of 100"
cp "$TMP/users-10k.json" "$TMP/users.json.new" && mv "$TMP/users.json.new" "$TMP/users.json"
# shellcheck disable=SC2046
lg_runs login_cheap_hash_10k_users "$RUNS" login --spin -p "$IDP_PORT" -c "$CONC" -d "$DUR" $(cl bench-es) \
	--user quick --password "$PW"

if [ -n "$RPV" ]; then
	say "librp: verifications per second (warm cache, one thread, server core), in turns with openssl speed"
	# shellcheck disable=SC2046
	"$LG" flow -p "$IDP_PORT" $(cl bench-rs) $(cl2 bench-sso) --user quick --password "$PW" >"$TMP/flow.rp" 2>>"$TMP/lg.err"
	# rp_verify ALG: one 1 s run of rpverify on the flow's ID token for ALG.
	rp_verify() {
		c=bench-rs
		[ "$1" = es256 ] && c=bench-sso
		line=$(grep "^IDTOKEN $c " "$TMP/flow.rp" | head -n1)
		[ -n "$line" ] || return 1
		set -- $line
		taskset -c "$SCPUS" "$RPV" "$IDP" "$2" "http://127.0.0.1:9/$2/callback" "$3" "$4" 1 \
			2>>"$TMP/rp.err" | grep '^RESULT'
	}
	# Three rounds, each one openssl speed (1 s per figure) and 1 s of each
	# verification, in turns (openssl first in rounds 1 and 3, last in round
	# 2), so that the machine's drift over the bench (10-20 % here) weighs
	# on both sides alike. The figure is the best of its 3 runs, as the
	# limit is the best of its runs; the limit also keeps the start's runs
	# (the best the machine did: the target gets no easier).
	: >"$TMP/rp.rs256"
	: >"$TMP/rp.es256"
	: >"$TMP/ossl.rp"
	for r in 1 2 3; do
		[ $r = 2 ] || { ossl "$TMP/ossl.rp.$r" -seconds 1; cat "$TMP/ossl.rp.$r" >>"$TMP/ossl.rp"; }
		rp_verify rs256 >>"$TMP/rp.rs256"
		rp_verify es256 >>"$TMP/rp.es256"
		[ $r != 2 ] || { ossl "$TMP/ossl.rp.$r" -seconds 1; cat "$TMP/ossl.rp.$r" >>"$TMP/ossl.rp"; }
	done
	# best_verify FILE...: the best RS256 and ES256 verify rates of openssl speed outputs
	best_verify() {
		cat "$@" | awk '/^rsa +2048 bits/ { if ($NF > rv) rv = $NF } /ecdsa \(nistp256\)/ { if ($NF > ev) ev = $NF }
			END { printf "%s %s\n", rv, ev }'
	}
	best_verify "$TMP/ossl.1" "$TMP/ossl.2" "$TMP/ossl.3" "$TMP/ossl.rp" >"$TMP/ossl.best"
	best_verify "$TMP/ossl.rp" >"$TMP/ossl.beside"
	put openssl_rs256_verify_1core_beside_rp "$(cut -d' ' -f1 "$TMP/ossl.beside")"
	put openssl_es256_verify_1core_beside_rp "$(cut -d' ' -f2 "$TMP/ossl.beside")"
	put openssl_rs256_verify_1core "$(cut -d' ' -f1 "$TMP/ossl.best")"
	put openssl_es256_verify_1core "$(cut -d' ' -f2 "$TMP/ossl.best")"
	for alg in rs256 es256; do
		l=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^rate=/ && substr($i, 6) + 0 > best) { best = substr($i, 6) + 0; line = $0 } }
			END { print line }' "$TMP/rp.$alg")
		put "rp_verify_${alg}_per_s" "$(field rate "$l")"
		[ -n "$(field rate "$l")" ] || note "librp: $alg verification failed: $(tail -n1 "$TMP/rp.err")"
	done
	say "rp_verify: ES256 $(get rp_verify_es256_per_s)/s, RS256 $(get rp_verify_rs256_per_s)/s"
else
	put rp_verify_es256_per_s null
	put rp_verify_rs256_per_s null
fi
put rss_after_load_kb "$(rss_kb "$IDP_PID")"
stop_pid "$IDP_PID"

# ---- clients 100x: 606 clients instead of 6 ------------------------------------
mkconf "$TMP/mem600.tmpl" memory 0 600
start_idp mem600 "$TMP/mem600.tmpl"
say "clients 100x: 606 clients"
wrk_bench token_cc_es256_606_clients "$IDP/token" POST "grant_type=client_credentials&scope=api" "$(basic bench-cc-es)"
wrk_bench discovery_606_clients "$IDP/.well-known/openid-configuration"
stop_pid "$IDP_PID"

# ---- keys 100x: 400 keys instead of 4 -----------------------------------------
# 198 forced rotations of both algorithms leave 396 retiring keys beside the
# active and next ones: every one is published in the JWKS until its tokens
# have expired, and the signer still picks the active key.
cp -a "$TMP/keys" "$TMP/keys400"
sed "s#\"$TMP/keys\"#\"$TMP/keys400\"#" "$TMP/mem.tmpl" >"$TMP/mem400.tmpl"
i=0
while [ $i -lt 198 ]; do
	"$ROOT/idp/idpctl" --config "$TMP/mem400.tmpl" keys rotate --force >/dev/null 2>&1 || break
	i=$((i+1))
done
put keys_100x_count "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$TMP/keys400/state.json" 2>/dev/null)"
start_idp mem400 "$TMP/mem400.tmpl"
sleep 1
put rss_idle_400_keys_kb "$(rss_kb "$IDP_PID")"
say "keys 100x: $(get keys_100x_count) keys ($i rotations), idle RSS $(get rss_idle_400_keys_kb) kB"
wrk_bench token_cc_es256_400_keys "$IDP/token" POST "grant_type=client_credentials&scope=api" "$(basic bench-cc-es)"
wrk_bench jwks_400_keys "$IDP/jwks"
put jwks_400_keys_bytes "$(curl -s "$IDP/jwks" | wc -c)"
put jwks_bytes "$(curl -s -o /dev/null -w '%{size_download}' "$IDP/jwks" 2>/dev/null)"
stop_pid "$IDP_PID"

# ---- 100,000 live sessions in the memory store ---------------------------------
"$TMP/bin/argon2" users "$TMP/users.json" "$PW" citizen:3:65536:4 quick:1:8:1 --bulk u 98 1 8 1
chmod 600 "$TMP/users.json"
start_idp sess "$TMP/mem.tmpl"
sleep 1
RSS0=$(rss_kb "$IDP_PID")
say "$SESSIONS live sessions: real logins (cheap hash), consent refused so that only the session stays"
# shellcheck disable=SC2046
l=$(taskset -c "$LCPUS" "$LG" login -p "$IDP_PORT" -c 32 -n "$SESSIONS" --max-seconds "${BENCH_SESSIONS_MAX_S:-150}" \
	$(cl bench-consent) --user quick --password "$PW" --consent refuse 2>>"$TMP/lg.err" | grep '^RESULT')
put sessions_created "$(field done "$l")"
put sessions_login_per_s "$(field rate "$l")"
[ "$(field errors "$l")" = 0 ] || note "sessions: $(field errors "$l") failed logins"
[ "$(field done "$l")" = "$SESSIONS" ] || note "sessions: $(field done "$l") of $SESSIONS sessions made within the time bound (BENCH_SESSIONS_MAX_S); rss_100k_sessions_kb holds that many"
sleep 1
put rss_sessions_before_kb "$RSS0"
put rss_100k_sessions_kb "$(rss_kb "$IDP_PID")"
put bytes_per_session_memory "$(awk -v a="$RSS0" -v b="$(rss_kb "$IDP_PID")" -v n="$(field done "$l")" 'BEGIN { if (n > 0) printf "%d", (b - a) * 1024 / n }')"
say "rss: $RSS0 kB before, $(get rss_100k_sessions_kb) kB with $(field done "$l") sessions ($(field rate "$l") logins/s)"
say "sessions 100x: SSO logins with the 100,000 sessions in the store"
# shellcheck disable=SC2046
lg_runs sso_login_memory_100k_sessions "$RUNS" sso --spin -p "$IDP_PORT" -c "$CONC" -d "$DUR" $(cl bench-es) $(cl2 bench-sso) \
	--user quick --password "$PW"
stop_pid "$IDP_PID"

# ---- the provider with the Redis store -----------------------------------------
RP_=$(free_port)
mkdir -p "$TMP/redis"
taskset -c "$LCPUS" redis-server --bind 127.0.0.1 --port "$RP_" --dir "$TMP/redis" --save '' \
	--unixsocket "$TMP/redis/redis.sock" --unixsocketperm 700 \
	--appendonly no >"$TMP/redis.log" 2>&1 &
RPID=$!
PIDS="$PIDS $RPID"
if wait_for 50 redis-cli -h 127.0.0.1 -p "$RP_" ping; then
	say "redis-benchmark SET/GET (50 connections, store ceiling)"
	taskset -c "$SCPUS" redis-benchmark -h 127.0.0.1 -p "$RP_" -t set,get -n 100000 -c 50 --csv >"$TMP/rb.csv" 2>/dev/null
	put redis_set_rps "$(grep '^"SET"' "$TMP/rb.csv" | cut -d, -f2 | tr -d '"')"
	put redis_get_rps "$(grep '^"GET"' "$TMP/rb.csv" | cut -d, -f2 | tr -d '"')"
	redis-cli -p "$RP_" flushall >/dev/null

	mkconf "$TMP/redis.tmpl" redis "$RP_"
	start_idp redis "$TMP/redis.tmpl"
	put idp_threads_redis "$IDP_THREADS"
	# Round trips: one warm-up flow, then one under MONITOR, split by phase.
	# shellcheck disable=SC2046
	"$LG" flow -p "$IDP_PORT" $(cl bench-es) $(cl2 bench-sso) --user citizen --password "$PW" >/dev/null 2>>"$TMP/lg.err"
	redis-cli -p "$RP_" monitor >"$TMP/monitor.txt" 2>/dev/null &
	MPID=$!
	sleep 0.3
	# shellcheck disable=SC2046
	"$LG" flow -p "$IDP_PORT" $(cl bench-es) $(cl2 bench-sso) --user citizen --password "$PW" >"$TMP/flow.redis" 2>>"$TMP/lg.err"
	sleep 0.3
	kill "$MPID" 2>/dev/null
	wait "$MPID" 2>/dev/null
	python3 - "$TMP/flow.redis" "$TMP/monitor.txt" "$ROOT/tests/integration" >"$TMP/rt.txt" <<'PY'
import sys
sys.dont_write_bytecode = True  # nothing written into the tree
sys.path.insert(0, sys.argv[3])
import redis_monitor
phases = []
for line in open(sys.argv[1]):
    p = line.split()
    if p and p[0] == "PHASE":
        phases.append((p[1], float(p[2]) - 0.05, float(p[3]) + 0.05))
counts = {name: [] for name, _, _ in phases}
for t, cmd, _ in redis_monitor.commands(sys.argv[2]):
    for name, a, b in phases:
        if a <= t <= b:
            counts[name].append(cmd)
full = ["authorize", "login", "consent", "token", "userinfo"]
sso = ["sso_authorize", "sso_consent", "sso_token", "sso_userinfo"]
print("redis_roundtrips_per_login", sum(len(counts.get(n, [])) for n in full))
print("redis_roundtrips_per_sso_login", sum(len(counts.get(n, [])) for n in sso))
print("detail", "; ".join("%s %d (%s)" % (n, len(c), " ".join(c)) for n, c in counts.items()))
PY
	put redis_roundtrips_per_login "$(sed -n 's/^redis_roundtrips_per_login //p' "$TMP/rt.txt")"
	put redis_roundtrips_per_sso_login "$(sed -n 's/^redis_roundtrips_per_sso_login //p' "$TMP/rt.txt")"
	note "redis round trips by step (password login at bench-es with consent remembered, then SSO at bench-sso): $(sed -n 's/^detail //p' "$TMP/rt.txt")"
	say "redis round trips: $(get redis_roundtrips_per_login) per full login, $(get redis_roundtrips_per_sso_login) per SSO login"

	# The Redis runs: the VUs are fibers on one loadgen thread (--threads
	# 1) that polls its epoll and yields the core between polls (--spin),
	# which leaves the load core to Redis whenever it has work, and there
	# are enough of them (four times BENCH_CONNECTIONS) that requests
	# waiting on Redis never leave the provider's core idle: the figure is
	# its capacity.
	say "SSO login, redis store, $((CONC * 4)) VUs"
	PERFPID=""
	if [ "$PERF" = 1 ]; then (sleep 2; perf_profile sso_redis 2) & PERFPID=$!; fi
	# shellcheck disable=SC2046
	lg_runs sso_login "$RUNS" sso -p "$IDP_PORT" -c "$((CONC * 4))" -d "$DUR" --threads 1 --spin $(cl bench-es) \
		$(cl2 bench-sso) --user quick --password "$PW"
	[ -n "$PERFPID" ] && wait "$PERFPID"
	token_exchange token_es256_redis bench-es "$(cap_for "$(get token_es256_rps)")" --threads 1 --spin
	python3 - "$RP_" >"$TMP/mem.txt" <<'PY'
import subprocess, sys
port = sys.argv[1]
def cli(*a):
    return subprocess.run(["redis-cli", "-p", port] + list(a), capture_output=True, text=True).stdout
keys = [k for k in cli("--scan", "--pattern", "bench:sess:*").split() if k][:500]
sizes = [int(cli("memory", "usage", k, "samples", "0").strip() or 0) for k in keys]
lens = [int(cli("strlen", k).strip() or 0) for k in keys]
if sizes:
    print(len(sizes), sum(sizes) // len(sizes), sum(lens) // len(lens))
PY
	set -- $(cat "$TMP/mem.txt") 0 0 0
	put redis_bytes_per_session "$([ "$1" -gt 0 ] && echo "$2" || echo null)"
	put redis_session_value_bytes "$([ "$1" -gt 0 ] && echo "$3" || echo null)"
	say "redis: $(get redis_bytes_per_session) bytes per session (MEMORY USAGE over $1 sessions)"
	stop_pid "$IDP_PID"

	# The same with a quarter of the VUs: each request waits on Redis with
	# fewer beside it, and the provider's core has idle moments.
	mkconf "$TMP/redis16.tmpl" redis "$RP_"
	start_idp redis16 "$TMP/redis16.tmpl"
	say "SSO login, redis store, $CONC VUs"
	# shellcheck disable=SC2046
	lg_runs sso_login_redis_1x_vus "$RUNS" sso -p "$IDP_PORT" -c "$CONC" -d "$DUR" --threads 1 --spin $(cl bench-es) \
		$(cl2 bench-sso) --user quick --password "$PW"
	stop_pid "$IDP_PID"
	# The same Redis over its Unix socket (store "socket"): no TCP stack
	# on the path of each round trip.
	mkconf "$TMP/redis-unix.tmpl" redis-unix "$TMP/redis/redis.sock"
	start_idp redis-unix "$TMP/redis-unix.tmpl"
	say "SSO login, redis store over its Unix socket"
	# shellcheck disable=SC2046
	lg_runs sso_login_redis_unix "$RUNS" sso -p "$IDP_PORT" -c "$((CONC * 4))" -d "$DUR" --threads 1 --spin $(cl bench-es) \
		$(cl2 bench-sso) --user quick --password "$PW"
	stop_pid "$IDP_PID"
else
	note "redis: redis-server did not start; the redis figures are null"
fi
stop_pid "$RPID"

# ---- the limits again, once the provider is measured ----------------------------
# This machine's speed drifts within a run: the same openssl speed after the
# provider's figures says how far (the ratios keep the start's best of 3).
ossl "$TMP/ossl.end" -seconds 1
parse_ossl "$TMP/ossl.end" 1core_end
awk -v a="$(get openssl_es256_sign_1core)" -v b="$(get openssl_es256_sign_1core_end)" -v c="$(get openssl_rs256_verify_1core)" -v d="$(get openssl_rs256_verify_1core_end)" \
	'BEGIN { if (a > 0 && b > 0 && c > 0 && d > 0 && (b / a < 0.9 || b / a > 1.1 || d / c < 0.9 || d / c > 1.1)) exit 0; exit 1 }' &&
	note "the machine's speed moved during the run: openssl ES256 sign $(get openssl_es256_sign_1core)/s at the start, $(get openssl_es256_sign_1core_end)/s after the provider's figures; RS256 verify $(get openssl_rs256_verify_1core)/s, then $(get openssl_rs256_verify_1core_end)/s"

# ---- the peers ------------------------------------------------------------------
peer() { # NAME SCRIPT [MODE]: start, measure, stop
	name=$1 script=$2 mode=${3:-}
	dir=$TMP/$name
	port=$(free_port)
	PEER_DIRS="$PEER_DIRS $dir"
	if ! sh "$B/peers/$script" start "$dir" "$port" "$SCPUS" $mode >"$TMP/$name.env" 2>"$TMP/$name.err"; then
		note "$name: skipped: $(tail -n 2 "$TMP/$name.err" | tr '\n' ' ' | cut -c1-200)"
		return 1
	fi
	PPID_=$(sed -n 's/^PID=//p' "$TMP/$name.env")
	SRV_PID=$PPID_
	P_DISC=$(sed -n 's/^DISCOVERY=//p' "$TMP/$name.env")
	P_JWKS=$(sed -n 's/^JWKS=//p' "$TMP/$name.env")
	P_TES=$(sed -n 's/^TOKEN_ES=//p' "$TMP/$name.env")
	P_TRS=$(sed -n 's/^TOKEN_RS=//p' "$TMP/$name.env")
	P_BASIC=$(sed -n 's/^BASIC=//p' "$TMP/$name.env")
	P_BES=$(sed -n 's/^BODY_ES=//p' "$TMP/$name.env")
	P_BRS=$(sed -n 's/^BODY_RS=//p' "$TMP/$name.env")
	P_VER=$(sed -n 's/^VERSION=//p' "$TMP/$name.env")
	sleep 1
	put "${name}_rss_idle_kb" "$(rss_kb "$PPID_")"
	return 0
}
peer_stop() { sh "$B/peers/$2" stop "$TMP/$1" 2>/dev/null; }

if [ "$PEERS" = 1 ]; then
	if peer node_oidc_provider node-oidc.sh; then
		say "node-oidc-provider $P_VER (NODE_ENV=production, one process, CPU $SCPUS)"
		wrk_bench node_oidc_provider_discovery "$P_DISC"
		wrk_bench node_oidc_provider_jwks "$P_JWKS"
		wrk_bench node_oidc_provider_token "$P_TES" POST "$P_BES" "$P_BASIC"
		wrk_bench node_oidc_provider_token_rs256 "$P_TRS" POST "$P_BRS" "$P_BASIC"
		put node_oidc_provider_rss_under_load_kb "$(hwm_kb "$PPID_")"
		peer_stop node_oidc_provider node-oidc.sh
		NODE_VER=$P_VER
	fi
	if peer glewlwyd glewlwyd.sh; then
		say "Glewlwyd $P_VER as shipped (PBKDF2 client secrets, SQLite on disk, CPU $SCPUS)"
		wrk_bench glewlwyd_discovery "$P_DISC"
		wrk_bench glewlwyd_jwks "$P_JWKS"
		wrk_bench glewlwyd_token "$P_TES" POST "$P_BES" "$P_BASIC"
		wrk_bench glewlwyd_token_rs256 "$P_TRS" POST "$P_BRS" "$P_BASIC"
		put glewlwyd_rss_under_load_kb "$(hwm_kb "$PPID_")"
		peer_stop glewlwyd glewlwyd.sh
		GLEW_VER=$P_VER
	fi
	if peer glewlwyd_cheap glewlwyd.sh cheap; then
		say "Glewlwyd turned down (pbkdf2-iterations 1, SQLite on tmpfs)"
		wrk_bench glewlwyd_cheap_token "$P_TES" POST "$P_BES" "$P_BASIC"
		peer_stop glewlwyd_cheap glewlwyd.sh
	fi
fi
for k in node_oidc_provider_token glewlwyd_token glewlwyd_discovery node_oidc_provider_discovery; do
	[ -n "$(get "${k}_rps")" ] || put "${k}_rps" null
done

# ---- the table and results.json ----------------------------------------------------
ELAPSED=$(($(date +%s) - START))
put bench_seconds "$ELAPSED"
[ -f "$TMP/perf.txt" ] && cat "$TMP/perf.txt"
python3 - "$RES" "$NOTES" "$B/results.json" "$CPU_MODEL" "$SCPUS" "$LCPUS" "$CONC" "$DUR" "$RUNS" \
	"${NODE_VER:-}" "${GLEW_VER:-}" "$(openssl version | cut -d' ' -f2)" \
	"$(pkg-config --modversion libmicrohttpd 2>/dev/null)" "$(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')" <<'PY'
import datetime, json, sys
res, notes_f, out, cpu_model, scpus, lcpus, conc, dur, runs, node_v, glew_v, ossl_v, mhd_v, redis_v = sys.argv[1:15]
R = {}
for line in open(res):
    k, _, v = line.rstrip("\n").partition("\t")
    if v in ("", "null"):
        R[k] = None
        continue
    try:
        f = float(v)
        R[k] = int(f) if f.is_integer() and "." not in v else round(f, 2)
    except ValueError:
        R[k] = v
notes = [l.rstrip("\n") for l in open(notes_f) if l.strip()]
R["machine_cpu_model"] = cpu_model
R["bench_date_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
for k in ["openssl_es256_sign_1core", "openssl_es256_verify_1core", "openssl_rs256_sign_1core",
          "openssl_rs256_verify_1core", "http_hello_rps", "token_es256_rps", "token_rs256_rps",
          "token_es256_p99_ms", "token_cc_es256_rps", "sso_login_per_s", "password_login_per_s",
          "argon2id_hash_per_s", "discovery_rps", "jwks_rps", "rp_verify_es256_per_s",
          "rp_verify_rs256_per_s", "glewlwyd_token_rps", "node_oidc_provider_token_rps",
          "rss_idle_kb", "rss_anon_idle_kb", "rss_under_load_kb", "rss_100k_sessions_kb", "redis_bytes_per_session",
          "redis_roundtrips_per_login", "server_cores"]:
    R.setdefault(k, None)
R.pop("node_oidc_provider_version_note", None)

def fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float) and v < 100:
        s = "%.2f" % v
    else:
        s = "{:,}".format(int(round(v)))
    return s + unit
if R.get("http_hello_rps") and R.get("openssl_es256_sign_1core"):
    R["ceiling_token_es256_rps"] = round(1 / (1 / R["http_hello_rps"] + 1 / (R["openssl_es256_sign_1core"] * (R.get("server_cores") or 1))), 1)
json.dump(dict(sorted(R.items())), open(out, "w"), indent=1)
def cpu(key):
    v = R.get(key + "_server_cpu_pct")
    return "" if v is None else "; server CPU %s%%" % int(v)
cores = R.get("server_cores") or 1
W = "wrk -t1 -c%s, median of %s x %s s" % (conc, runs, dur)
L = "loadgen %s polling VUs (--spin), median of %s x %s s" % (conc, runs, dur)
LR = "loadgen %s VUs as fibers on 1 polling thread (--threads 1 --spin; redis shares the load core), median of %s x %s s" % (int(conc) * 4, runs, dur)
rows = [
    ("Limits of this machine", None, None),
    ("openssl ES256 sign / verify, 1 core", "%s / %s" % (fmt(R.get("openssl_es256_sign_1core")), fmt(R.get("openssl_es256_verify_1core"))), "openssl speed ecdsap256 pinned, best of 3 x 1 s (verify: best of those and of 3 more in turns with librp)"),
    ("openssl RS256 sign / verify, 1 core", "%s / %s" % (fmt(R.get("openssl_rs256_sign_1core")), fmt(R.get("openssl_rs256_verify_1core"))), "openssl speed rsa2048 pinned, best of 3 x 1 s (verify: as ES256)"),
    ("openssl ES256 / RS256 sign, all %s cores" % R.get("machine_nproc"), "%s / %s" % (fmt(R.get("openssl_es256_sign_allcores")), fmt(R.get("openssl_rs256_sign_allcores"))), "openssl speed -multi"),
    ("libmicrohttpd hello, req/s", fmt(R.get("http_hello_rps")), "%s; epoll, %s thread(s), keep-alive %s%s" % (W, R.get("idp_threads"), "yes" if R.get("http_hello_keepalive") == 1 else "NO", cpu("http_hello"))),
    ("redis SET / GET, req/s", "%s / %s" % (fmt(R.get("redis_set_rps")), fmt(R.get("redis_get_rps"))), "redis-benchmark -c 50 -n 100000 on the server core, redis on the load core (as the provider sees it)"),
    ("argon2id t=3 m=64MiB p=4, hashes/s", fmt(R.get("argon2id_hash_per_s")), "as the daemon verifies (libargon2, memory kept), 1 thread on the server core, 6 x 1 s in turns with the login"),
    ("argon2id with libargon2's argon2id_verify, hashes/s", fmt(R.get("argon2id_library_hash_per_s")), "memory mapped and unmapped each hash; 6 x 1 s, same rounds"),
    ("ID token signing ES256, cached key / libjwt 1.10, /s", "%s / %s" % (fmt(R.get("sign_cached_es256_per_s")), fmt(R.get("sign_libjwt_es256_per_s"))), "bench/jwtsign.c, 1 thread: jws_sign (EVP_PKEY parsed once) / jwt_encode_str (PEM parsed per call)"),
    ("ID token signing ES256, key in SoftHSM2 / in memory, /s", "%s / %s" % (fmt(R.get("sign_pkcs11_es256_per_s")), fmt(R.get("sign_cached_es256_per_s"))), "bench/jwtsign.c, 1 thread, the same jws_sign with the key in a PKCS#11 token through libp11's engine; 2 threads: %s / %s" % (fmt(R.get("sign_pkcs11_es256_2t_per_s")), fmt(R.get("sign_cached_es256_2t_per_s")))),
    ("ID token signing RS256, cached key / libjwt 1.10, /s", "%s / %s" % (fmt(R.get("sign_cached_rs256_per_s")), fmt(R.get("sign_libjwt_rs256_per_s"))), "same"),
    ("openssl ES256 sign / RS256 verify, 1 core, after the provider's figures", "%s / %s" % (fmt(R.get("openssl_es256_sign_1core_end")), fmt(R.get("openssl_rs256_verify_1core_end"))), "the same, 1 x 1 s: how far the machine's speed drifted during the run"),
    ("HTTP + ES256 sign alone, req/s", fmt(R.get("ceiling_token_es256_rps")), "1 / (1/hello + 1/sign): a token endpoint that did nothing else"),
    ("Our provider, memory store", None, None),
    ("discovery, req/s", fmt(R.get("discovery_rps")), "%s; p99 %s ms%s" % (W, fmt(R.get("discovery_p99_ms")), cpu("discovery"))),
    ("JWKS, req/s", fmt(R.get("jwks_rps")), "%s; p99 %s ms%s" % (W, fmt(R.get("jwks_p99_ms")), cpu("jwks"))),
    ("token, code exchange, ES256 ID token, req/s", fmt(R.get("token_es256_rps")), "%s; p50 %s ms, p99 %s ms; codes from real logins%s (minting included)" % (L.replace("median of", "median round of"), fmt(R.get("token_es256_p50_ms")), fmt(R.get("token_es256_p99_ms")), cpu("token_es256"))),
    ("token, code exchange, ES256, VUs sleeping in recv, req/s", fmt(R.get("token_es256_sleeping_vus_rps")), "same without --spin: the provider's core also pays for waking each VU; p99 %s ms%s" % (fmt(R.get("token_es256_sleeping_vus_p99_ms")), cpu("token_es256_sleeping_vus"))),
    ("token, code exchange, RS256 ID token, req/s", fmt(R.get("token_rs256_rps")), "same; p50 %s ms, p99 %s ms%s" % (fmt(R.get("token_rs256_p50_ms")), fmt(R.get("token_rs256_p99_ms")), cpu("token_rs256"))),
    ("introspection (data provider, JSON answer), req/s", fmt(R.get("introspect_rps")), "%s; one access token from a real login, client_secret_basic; p99 %s ms%s" % (W, fmt(R.get("introspect_p99_ms")), cpu("introspect"))),
    ("token, client_credentials, ES256 JWT, req/s", fmt(R.get("token_cc_es256_rps")), "%s; p99 %s ms%s" % (W, fmt(R.get("token_cc_es256_p99_ms")), cpu("token_cc_es256"))),
    ("token, client_credentials, RS256 JWT, req/s", fmt(R.get("token_cc_rs256_rps")), "%s; p99 %s ms%s" % (W, fmt(R.get("token_cc_rs256_p99_ms")), cpu("token_cc_rs256"))),
    ("SSO login (authorize+token+userinfo), /s", fmt(R.get("sso_login_memory_per_s")), "%s; p99 %s ms%s" % (L, fmt(R.get("sso_login_memory_p99_ms")), cpu("sso_login_memory"))),
    ("password login (t=3, 64 MiB, p=4), /s", fmt(R.get("password_login_per_s")), "loadgen 2 VUs, %s logins in 6 rounds; authorize + login POST%s" % (R.get("password_login_count"), cpu("password_login"))),
    ("login with a cheap hash (t=1, 8 KiB, p=1), /s", fmt(R.get("login_cheap_hash_per_s")), "%s; what is not the hash%s" % (L, cpu("login_cheap_hash"))),
    ("librp verify ES256 / RS256, /s", "%s / %s" % (fmt(R.get("rp_verify_es256_per_s")), fmt(R.get("rp_verify_rs256_per_s"))), "rp_verify_id_token, warm cache, 1 thread on the server core, best of 3 x 1 s (as its openssl limit)"),
    ("RSS idle / under load, kB", "%s / %s" % (fmt(R.get("rss_idle_kb")), fmt(R.get("rss_under_load_kb"))), "VmRSS after start / VmHWM after the loads"),
    ("RSS idle, private anonymous, kB", fmt(R.get("rss_anon_idle_kb")), "RssAnon after start: heap, stacks, libraries' data (VmRSS less the shared file pages)"),
    ("RSS with %s sessions, kB" % fmt(R.get("sessions_created")), fmt(R.get("rss_100k_sessions_kb")), "from %s kB: %s bytes/session; real logins (cheap hash), consent refused" % (fmt(R.get("rss_sessions_before_kb")), fmt(R.get("bytes_per_session_memory")))),
    ("Our provider, redis store", None, None),
    ("SSO login, /s", fmt(R.get("sso_login_per_s")), "%s; p99 %s ms; %s HTTP event loop(s) (listen.threads 0)%s" % (LR, fmt(R.get("sso_login_p99_ms")), R.get("idp_threads_redis"), cpu("sso_login"))),
    ("SSO login, %s VUs, /s" % conc, fmt(R.get("sso_login_redis_1x_vus_per_s")), "same, a quarter of the VUs; p99 %s ms%s" % (fmt(R.get("sso_login_redis_1x_vus_p99_ms")), cpu("sso_login_redis_1x_vus"))),
    ("SSO login, redis over its Unix socket, /s", fmt(R.get("sso_login_redis_unix_per_s")), "same, store \"socket\"" + cpu("sso_login_redis_unix")),
    ("token, code exchange, ES256, req/s", fmt(R.get("token_es256_redis_rps")), "p99 %s ms%s" % (fmt(R.get("token_es256_redis_p99_ms")), cpu("token_es256_redis"))),
    ("round trips per full login / SSO login", "%s / %s" % (fmt(R.get("redis_roundtrips_per_login")), fmt(R.get("redis_roundtrips_per_sso_login"))), "MONITOR; authorize+login+token+userinfo / authorize+token+userinfo"),
    ("bytes per session", fmt(R.get("redis_bytes_per_session")), "MEMORY USAGE bench:sess:*; value %s bytes" % fmt(R.get("redis_session_value_bytes"))),
    ("Costs as things grow 100x", None, None),
    ("clients 6 -> 606: client_credentials ES256, req/s", "%s -> %s" % (fmt(R.get("token_cc_es256_rps")), fmt(R.get("token_cc_es256_606_clients_rps"))), W),
    ("clients 6 -> 606: discovery, req/s", "%s -> %s" % (fmt(R.get("discovery_rps")), fmt(R.get("discovery_606_clients_rps"))), W),
    ("users 100 -> 10,000: login (cheap hash), /s", "%s -> %s" % (fmt(R.get("login_cheap_hash_per_s")), fmt(R.get("login_cheap_hash_10k_users_per_s"))), L),
    ("sessions ~%s -> %s: SSO login, /s" % (conc, fmt(R.get("sessions_created"))), "%s -> %s" % (fmt(R.get("sso_login_memory_per_s")), fmt(R.get("sso_login_memory_100k_sessions_per_s"))), L),
    ("keys 4 -> %s: client_credentials ES256, req/s" % fmt(R.get("keys_100x_count")), "%s -> %s" % (fmt(R.get("token_cc_es256_rps")), fmt(R.get("token_cc_es256_400_keys_rps"))), W + "; idle RSS %s kB" % fmt(R.get("rss_idle_400_keys_kb"))),
    ("keys 4 -> %s: JWKS, req/s" % fmt(R.get("keys_100x_count")), "%s -> %s" % (fmt(R.get("jwks_rps")), fmt(R.get("jwks_400_keys_rps"))), "the document grows with the keys it publishes: %s bytes" % fmt(R.get("jwks_400_keys_bytes"))),
    ("Peers, same core, same load generator", None, None),
    ("node-oidc-provider %s: discovery / JWKS, req/s" % node_v, "%s / %s" % (fmt(R.get("node_oidc_provider_discovery_rps")), fmt(R.get("node_oidc_provider_jwks_rps"))), "NODE_ENV=production, 1 process; " + W),
    ("node-oidc-provider: token cc ES256 / RS256, req/s", "%s / %s" % (fmt(R.get("node_oidc_provider_token_rps")), fmt(R.get("node_oidc_provider_token_rs256_rps"))), "at+jwt, resource indicators; RSS %s -> %s kB%s" % (fmt(R.get("node_oidc_provider_rss_idle_kb")), fmt(R.get("node_oidc_provider_rss_under_load_kb")), cpu("node_oidc_provider_token"))),
    ("Glewlwyd %s: discovery / JWKS, req/s" % glew_v, "%s / %s" % (fmt(R.get("glewlwyd_discovery_rps")), fmt(R.get("glewlwyd_jwks_rps"))), W),
    ("Glewlwyd as shipped: token cc ES256 / RS256, req/s", "%s / %s" % (fmt(R.get("glewlwyd_token_rps")), fmt(R.get("glewlwyd_token_rs256_rps"))), "PBKDF2 client secret, SQLite on disk; RSS %s -> %s kB%s" % (fmt(R.get("glewlwyd_rss_idle_kb")), fmt(R.get("glewlwyd_rss_under_load_kb")), cpu("glewlwyd_token"))),
    ("Glewlwyd turned down: token cc ES256, req/s", fmt(R.get("glewlwyd_cheap_token_rps")), "pbkdf2-iterations 1, SQLite on tmpfs" + cpu("glewlwyd_cheap_token")),
]
def ratio(a, b):
    a, b = R.get(a), b
    return None if a is None or b in (None, 0) else a / b
es1, rs1 = R.get("openssl_es256_sign_1core"), R.get("openssl_rs256_sign_1core")
targets = [
    ("token_es256_rps / (openssl_es256_sign_1core x server_cores)", ratio("token_es256_rps", es1 and es1 * cores), ">= 0.50"),
    ("token_rs256_rps / (openssl_rs256_sign_1core x server_cores)", ratio("token_rs256_rps", rs1 and rs1 * cores), ">= 0.80"),
    ("token_cc_es256_rps / node_oidc_provider_token_rps", ratio("token_cc_es256_rps", R.get("node_oidc_provider_token_rps")), ">= 5"),
    ("token_cc_es256_rps / glewlwyd_token_rps", ratio("token_cc_es256_rps", R.get("glewlwyd_token_rps")), ">= 20"),
    ("sso_login_per_s (redis) / (openssl_es256_sign_1core x server_cores)", ratio("sso_login_per_s", es1 and es1 * cores), ">= 0.15"),
    ("password_login_per_s / argon2id_hash_per_s", ratio("password_login_per_s", R.get("argon2id_hash_per_s")), ">= 0.90"),
    ("rp_verify_es256_per_s / openssl_es256_verify_1core", ratio("rp_verify_es256_per_s", R.get("openssl_es256_verify_1core")), ">= 0.90"),
    ("rp_verify_rs256_per_s / openssl_rs256_verify_1core", ratio("rp_verify_rs256_per_s", R.get("openssl_rs256_verify_1core")), ">= 0.90"),
    ("(info) token_es256_rps / ceiling (HTTP + sign alone)", ratio("token_es256_rps", R.get("ceiling_token_es256_rps")), ""),
    ("rss_idle_kb", R.get("rss_idle_kb"), "<= 10000"),
    ("MB added by %s sessions" % fmt(R.get("sessions_created")),
     None if R.get("rss_100k_sessions_kb") is None or R.get("rss_sessions_before_kb") is None else (R["rss_100k_sessions_kb"] - R["rss_sessions_before_kb"]) / 1024, "<= 100"),
    ("redis_roundtrips_per_login", R.get("redis_roundtrips_per_login"), "<= 8"),
]
for k in sorted(R):
    if k.endswith("_server_cpu_pct") and R[k] is not None and R[k] < 75:
        notes.append("%s: the server used %s%% of its core: this figure was limited elsewhere (the load "
                     "generator, Redis round trips, locks, or another process on the machine)" % (k[:-len("_server_cpu_pct")], int(R[k])))
def met(v, goal):
    if v is None:
        return "n/a"
    if not goal:
        return ""
    op, lim = goal.split()
    lim = float(lim)
    return "yes" if (v >= lim if op == ">=" else v <= lim) else "**no**"

print()
print("make bench, %s UTC: %s, nproc %s, server pinned to CPU %s (server_cores %s), load generator and redis on CPU %s; load average at start %s; %s s in all" % (
    R["bench_date_utc"], cpu_model, R.get("machine_nproc"), scpus, cores, lcpus, R.get("machine_load_at_start"), R.get("bench_seconds")))
print("OpenSSL %s, libmicrohttpd %s, redis %s; our provider with listen.threads 0 (%s HTTP event loop(s) with the memory store, %s with redis), log level info" % (ossl_v, mhd_v, redis_v, R.get("idp_threads"), R.get("idp_threads_redis")))
print()
print("| what | figure | how |")
print("| --- | ---: | --- |")
for what, fig, how in rows:
    if fig is None:
        print("| **%s** | | |" % what)
    else:
        print("| %s | %s | %s |" % (what, fig, how))
print()
print("| target (ratios in this run) | value | goal | met |")
print("| --- | ---: | --- | --- |")
for what, v, goal in targets:
    print("| %s | %s | %s | %s |" % (what, "n/a" if v is None else ("%.2f" % v if v < 100 else "{:,}".format(int(v))), goal, met(v, goal)))
if notes:
    print()
    print("Notes:")
    for n in notes:
        print("- " + n)
print()
print("wrote %s" % out)
PY
