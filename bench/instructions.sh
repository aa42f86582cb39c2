#!/bin/sh
# make bench-instructions: the provider's cost per request in instructions,
# counted by valgrind (callgrind), which does not depend on the machine's
# load or speed: two builds can be compared to a few parts per thousand on a
# shared, noisy machine where wall-clock throughput moves by a third between
# runs. No root and no hardware counters needed.
#
#   sh bench/instructions.sh [TREE...]   (default: this tree)
#
# Each TREE is a built checkout (`make all`, the hardened build the bench
# uses). This tree's bench/loadgen.c and bench/argon2.c drive every TREE, so
# the requests are the same; each TREE runs with its own idp, idpctl,
# plugins, templates and conf/demo.json, made into the bench's configuration
# (bench/run.sh's mkconf) with one HTTP loop thread.
#
# One daemon per TREE and store runs under callgrind; between phases
# `callgrind_control -d` closes the count, so each phase's instructions are
# its own. Per row: a warm-up phase, not counted, then N requests; Ir per
# request = the phase's Ir / N, less the idle rate (Ir per second with no
# request, measured first) times the phase's length. The SSO row starts with
# one login per run: it is counted as (Ir of 20+N logins - Ir of 20) / N. The
# code exchange row counts the exchanges apart from the minting (loadgen's
# --between). With Redis, MONITOR counts the round trips (commands the
# provider sent, bench's definition in tests/integration/redis_monitor.py)
# and the store operations (the same plus the commands run inside scripts)
# per request: the daemon's instructions do not show Redis's own work.
#
# Knobs: IR_N (200; discovery 500, cheap-hash login 50), IR_REDIS (1; 0 skips
# the Redis rows), IR_KEEP (unset; a directory to keep the callgrind files in,
# for callgrind_annotate). Output: a table per row, and IR lines on stdout
# ("IR tree=... store=... row=... n=... ir_per_req=... rt_per_req=...").
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${IR_N:-200}
NDISC=$((N * 5 / 2))
NLOGIN=$((N / 4))
REDIS=${IR_REDIS:-1}
KEEP=${IR_KEEP:-}
PW='Bench-pass-2026!'
TMP=$(mktemp -d /tmp/idp-ir.XXXXXX) || exit 1
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 1
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '[ir %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
. "$ROOT/tests/integration/wait.sh"    # wait_for, free_port

for c in valgrind callgrind_control curl redis-server redis-cli python3; do
	command -v "$c" >/dev/null 2>&1 || { echo "instructions: $c is missing (sh scripts/deps.sh)" >&2; exit 1; }
done
[ $# -gt 0 ] || set -- "$ROOT"
for t in "$@"; do
	for f in idp/idp idp/idpctl plugins/file/file.so; do
		[ -e "$t/$f" ] || { echo "instructions: $t/$f is missing: make all there first" >&2; exit 1; }
	done
done

# The drivers: this tree's loadgen and users-file writer.
INC="-I$ROOT/idp -I$ROOT/idp/base -I$ROOT/idp/keys -I$ROOT/idp/store -I$ROOT/idp/net -I$ROOT/idp/oidc -I$ROOT/common"
# shellcheck disable=SC2046,SC2086
${CC:-cc} -O2 -I"$ROOT/common" -o "$TMP/loadgen" "$ROOT/bench/loadgen.c" "$ROOT/common/codec.c" \
	$(pkg-config --cflags --libs openssl) -lpthread &&
${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE $INC -o "$TMP/argon2" "$ROOT/bench/argon2.c" "$ROOT/build/libidpcore.a" \
	$(pkg-config --cflags --libs libmicrohttpd jansson hiredis libjwt openssl libcurl libargon2) -ldl -lpthread ||
	{ echo "instructions: building the drivers failed (make all here first)" >&2; exit 1; }
LG=$TMP/loadgen
"$TMP/argon2" users "$TMP/users.json" "$PW" citizen:3:65536:4 quick:1:8:1 >/dev/null &&
	chmod 600 "$TMP/users.json" || { echo "instructions: users file failed" >&2; exit 1; }

# mkconf TREE OUT STORE [REDIS_PORT]: bench/run.sh's configuration for TREE
# (its rate-limit keys only where TREE knows them), one HTTP loop thread.
mkconf() {
	python3 "$ROOT/bench/bench_config.py" "$1" "$2" "$3" "${4:-0}" 0 1 \
		"$TMP/keys.${2##*/}" "$TMP/users.json" minimal
}

cl() { printf -- '--client %s --secret %s-secret-0123456789abcdef --redirect http://127.0.0.1:9/%s/callback' "$1" "$1" "$1"; }
cl2() { printf -- '--client2 %s --secret2 %s-secret-0123456789abcdef --redirect2 http://127.0.0.1:9/%s/callback' "$1" "$1" "$1"; }

# dump LABEL: close the running count (callgrind writes it as a new file);
# sets DUMP_IR (that file's Ir) and DUMP_T1 (the time of the dump).
CG_SEQ=0
dump() {
	callgrind_control -d "$1" "$IDP_PID" >/dev/null 2>&1 || { echo "instructions: callgrind_control failed" >&2; exit 1; }
	CG_SEQ=$((CG_SEQ + 1))
	f=$TMP/cg.$IDP_PID.$CG_SEQ
	wait_for 600 test -s "$f" || { echo "instructions: no dump $f" >&2; exit 1; }
	sleep 0.2
	[ -z "$KEEP" ] || cp "$f" "$KEEP/$TAG.$STORE.$1.cg"
	DUMP_T1=$(date +%s.%N)
	DUMP_IR=$(sed -n 's/^summary: *//p; s/^totals: *//p' "$f" | head -n1 | cut -d' ' -f1)
}

# mark LABEL: a marker in the MONITOR capture (Redis runs).
mark() { [ "$STORE" = redis ] && redis-cli -p "$RPORT" echo "mark-$1" >/dev/null; return 0; }

# phase ROW N CMD...: the row's N requests by CMD, then its count; prints
# the IR line. Uses the idle rate IDLE_IPS.
# (wait_for uses n and i: the names here are the phase's own.)
phase() {
	ph_row=$1 ph_n=$2
	shift 2
	mark "$ph_row"
	"$@" >"$TMP/phase.out" 2>>"$TMP/driver.err" || say "$ph_row: the driver failed: $(tail -n1 "$TMP/driver.err")"
	grep -q 'errors=0 ' "$TMP/phase.out" || ! grep -q '^RESULT' "$TMP/phase.out" ||
		say "$ph_row: errors: $(cat "$TMP/phase.out")"
	mark "$ph_row-end"
	ph_t1=$(date +%s.%N)
	dump "$ph_row"
	emit "$ph_row" "$ph_n" "$DUMP_IR" "$(awk -v a="$PHASE_T0" -v b="$ph_t1" 'BEGIN { print b - a }')"
	PHASE_T0=$DUMP_T1
}

emit() { # ROW N IR SECONDS
	awk -v t="$TAG" -v s="$STORE" -v r="$1" -v n="$2" -v ir="$3" -v sec="$4" -v idle="$IDLE_IPS" \
		'BEGIN { printf "IR tree=%s store=%s row=%s n=%d ir=%.0f seconds=%.1f ir_per_req=%.0f\n", t, s, r, n, ir, sec, (ir - idle * sec) / n }' >>"$TMP/ir.txt"
	tail -n1 "$TMP/ir.txt" >&2
}

# start TREE STORE: the daemon of TREE under callgrind.
start() {
	tree=$1
	rm -rf "$TMP/keys.$TAG.$STORE.json"
	mkconf "$tree" "$TMP/$TAG.$STORE.json" "$STORE" "${RPORT:-0}"
	"$tree/idp/idpctl" --keys-dir "$TMP/keys.$TAG.$STORE.json" keys init >/dev/null 2>&1 ||
		{ echo "instructions: $tree: idpctl keys init failed" >&2; exit 1; }
	IDP_PORT=$(free_port)
	sed -i "s#http://127.0.0.1:PORT#http://127.0.0.1:$IDP_PORT#" "$TMP/$TAG.$STORE.json"
	rm -f "$TMP/port" "$TMP"/cg.*
	# The bench's allocator setting, given here so that no version starts
	# itself again (daa5ce0 re-executed itself to set it).
	GLIBC_TUNABLES=glibc.malloc.tcache_count=128 valgrind --tool=callgrind -q \
		--callgrind-out-file="$TMP/cg.%p" --dump-instr=no --dump-line=no --compress-strings=no \
		"$tree/idp/idp" --config "$TMP/$TAG.$STORE.json" --port "$IDP_PORT" --port-file "$TMP/port" \
		--plugin-dir "$tree/plugins" >"$TMP/$TAG.$STORE.log" 2>&1 &
	IDP_PID=$!
	PIDS="$PIDS $IDP_PID"
	CG_SEQ=0
	IDP=http://127.0.0.1:$IDP_PORT
	if ! wait_for 1200 test -s "$TMP/port" || ! wait_for 300 curl -sf -o /dev/null "$IDP/healthz"; then
		echo "instructions: $tree ($STORE) did not start:" >&2
		tail -n 20 "$TMP/$TAG.$STORE.log" >&2
		exit 1
	fi
}

stop() {
	kill "$IDP_PID" 2>/dev/null
	wait_for 300 sh -c "! kill -0 $IDP_PID 2>/dev/null"
	kill -9 "$IDP_PID" 2>/dev/null
	wait "$IDP_PID" 2>/dev/null
}

# rows: the measured phases of one daemon.
rows() {
	basic="bench-cc-es:bench-cc-es-secret-0123456789abcdef"
	disc="$IDP/.well-known/openid-configuration"
	# Warm-up: every path once or more, consent given at both services.
	curl -s -o /dev/null "$disc" "$disc"
	curl -s -o /dev/null -u "$basic" -d 'grant_type=client_credentials&scope=api' "$IDP/token" "$IDP/token"
	# shellcheck disable=SC2046
	"$LG" login -p "$IDP_PORT" -c 1 -n 3 $(cl bench-es) --user quick --password "$PW" >/dev/null 2>>"$TMP/driver.err"
	# shellcheck disable=SC2046
	"$LG" sso -p "$IDP_PORT" -c 1 -n 3 $(cl bench-es) $(cl2 bench-sso) --user quick --password "$PW" >/dev/null 2>>"$TMP/driver.err"
	dump warm
	# The idle rate: what the daemon's own timers cost per second.
	sleep 5
	dump idle
	IDLE_IPS=$(awk -v ir="$DUMP_IR" 'BEGIN { printf "%.0f", ir / 5 }')
	PHASE_T0=$DUMP_T1
	printf 'IR tree=%s store=%s row=idle ir_per_s=%s\n' "$TAG" "$STORE" "$IDLE_IPS" >>"$TMP/ir.txt"
	if [ "$STORE" = memory ]; then
		urls=$(awk -v u="$disc" -v n="$NDISC" 'BEGIN { for (i = 0; i < n; i++) printf "%s ", u }')
		# shellcheck disable=SC2086
		phase discovery "$NDISC" curl -s -o /dev/null $urls
		urls=$(awk -v u="$IDP/token" -v n="$N" 'BEGIN { for (i = 0; i < n; i++) printf "%s ", u }')
		# shellcheck disable=SC2086
		phase token_cc_es256 "$N" curl -s -o /dev/null -u "$basic" -d 'grant_type=client_credentials&scope=api' $urls
	fi
	# shellcheck disable=SC2046
	phase login_cheap_hash "$NLOGIN" "$LG" login -p "$IDP_PORT" -c 1 -n "$NLOGIN" $(cl bench-es) --user quick --password "$PW"
	# shellcheck disable=SC2046
	phase sso_setup 20 "$LG" sso -p "$IDP_PORT" -c 1 -n 20 $(cl bench-es) $(cl2 bench-sso) --user quick --password "$PW"
	ir20=$(tail -n1 "$TMP/ir.txt" | sed 's/.* ir=\([0-9]*\) seconds=\([0-9.]*\).*/\1 \2/')
	# shellcheck disable=SC2046
	phase sso_setup_plus_n $((N + 20)) "$LG" sso -p "$IDP_PORT" -c 1 -n $((N + 20)) $(cl bench-es) $(cl2 bench-sso) \
		--user quick --password "$PW"
	irn=$(tail -n1 "$TMP/ir.txt" | sed 's/.* ir=\([0-9]*\) seconds=\([0-9.]*\).*/\1 \2/')
	# shellcheck disable=SC2086
	set -- $ir20 $irn
	emit sso_login "$N" "$(($3 - $1))" "$(awk -v a="$2" -v b="$4" 'BEGIN { print b - a }')"
	# The code exchange: minting is closed apart by --between.
	# shellcheck disable=SC2046
	"$LG" token -p "$IDP_PORT" -c 1 $(cl bench-es) --user quick --password "$PW" --mint-seconds 3600 \
		--mint-max "$N" --rounds 1 --between "redis-cli -p ${RPORT:-0} echo mark-token_exchange >/dev/null 2>&1; callgrind_control -d mint $IDP_PID >/dev/null" \
		>"$TMP/phase.out" 2>>"$TMP/driver.err"
	mark token_exchange-end
	CG_SEQ=$((CG_SEQ + 1))
	t1=$(date +%s.%N)
	t0=$(stat -c %.9Y "$TMP/cg.$IDP_PID.$CG_SEQ")
	dump token_exchange
	emit token_exchange "$N" "$DUMP_IR" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
	PHASE_T0=$DUMP_T1
}

# rt_counts: round trips and store operations per request, by row, from the
# MONITOR capture of a Redis run.
rt_counts() {
	python3 - "$TMP/monitor.$TAG" "$ROOT/tests/integration" "$TAG" "$N" "$NLOGIN" <<'PY' >>"$TMP/ir.txt"
import re, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
import redis_monitor
path, _, tag, n, nlogin = sys.argv[1:6]
n, nlogin = int(n), int(nlogin)
marks = []
for line in open(path, errors="replace"):
    m = re.search(r'"ECHO" "mark-([^"]*)"', line, re.I)
    if m:
        marks.append((float(line.split()[0]), m.group(1)))
def window(row):
    a = [t for t, l in marks if l == row]
    b = [t for t, l in marks if l == row + "-end"]
    return (a[0], b[0]) if a and b else (None, None)
rt = {}
ops = {}
for t, cmd, _ in redis_monitor.commands(path):
    if cmd == "ECHO":
        continue
    for row in ("login_cheap_hash", "sso_setup", "sso_setup_plus_n", "token_exchange"):
        a, b = window(row)
        if a is not None and a < t < b:
            rt[row] = rt.get(row, 0) + 1
bg = redis_monitor.BACKGROUND_KEY
skip = False  # inside a script that a node's own thread ran (MONITOR logs the call, then its commands)
for line in open(path, errors="replace"):
    m = redis_monitor.LINE.match(line)
    if not m or (m.group(3).upper() == "ECHO"):
        continue
    if m.group(2) != "lua":
        skip = bool(bg.match(m.group(4) or "") or redis_monitor.BACKGROUND_LINE.search(line))
    if skip:
        continue
    t = float(m.group(1))
    for row in ("login_cheap_hash", "sso_setup", "sso_setup_plus_n", "token_exchange"):
        a, b = window(row)
        if a is not None and a < t < b:
            ops[row] = ops.get(row, 0) + 1
def out(row, k, v):
    print("RT tree=%s row=%s %s=%.2f" % (tag, row, k, v))
out("login_cheap_hash", "roundtrips_per_req", rt.get("login_cheap_hash", 0) / nlogin)
out("login_cheap_hash", "store_ops_per_req", ops.get("login_cheap_hash", 0) / nlogin)
out("sso_login", "roundtrips_per_req", (rt.get("sso_setup_plus_n", 0) - rt.get("sso_setup", 0)) / n)
out("sso_login", "store_ops_per_req", (ops.get("sso_setup_plus_n", 0) - ops.get("sso_setup", 0)) / n)
out("token_exchange", "roundtrips_per_req", rt.get("token_exchange", 0) / n)
out("token_exchange", "store_ops_per_req", ops.get("token_exchange", 0) / n)
PY
}

: >"$TMP/ir.txt"
TAGS=""
for tree in "$@"; do
	TAG=$(git -C "$tree" rev-parse --short HEAD 2>/dev/null || basename "$tree")
	[ -z "$(git -C "$tree" status --porcelain --untracked-files=no 2>/dev/null)" ] || TAG="$TAG+"
	TAGS="$TAGS $TAG"
	STORE=memory
	RPORT=""
	say "$TAG: memory store"
	start "$tree"
	rows
	stop
	if [ "$REDIS" = 1 ]; then
		STORE=redis
		RPORT=$(free_port)
		redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
			>"$TMP/redis.log" 2>&1 &
		RPID=$!
		PIDS="$PIDS $RPID"
		wait_for 100 redis-cli -p "$RPORT" ping >/dev/null
		redis-cli -p "$RPORT" monitor >"$TMP/monitor.$TAG" 2>/dev/null &
		MPID=$!
		PIDS="$PIDS $MPID"
		say "$TAG: redis store"
		start "$tree"
		rows
		stop
		kill "$MPID" "$RPID" 2>/dev/null
		wait "$MPID" "$RPID" 2>/dev/null
		rt_counts
	fi
done
cat "$TMP/ir.txt"
# The table: Ir per request by row, each tree against the first.
# shellcheck disable=SC2086 # one argument per tree
python3 - "$TMP/ir.txt" $TAGS <<'PY'
import sys
rows, tags = {}, sys.argv[2:]
for line in open(sys.argv[1]):
    p = line.split()
    kv = dict(x.split("=", 1) for x in p[1:])
    if p[0] == "IR" and "ir_per_req" in kv and not kv["row"].startswith("sso_setup"):
        rows.setdefault((kv["store"], kv["row"], "Ir/request"), {})[kv["tree"]] = float(kv["ir_per_req"])
    elif p[0] == "IR" and "ir_per_s" in kv:
        rows.setdefault((kv["store"], "idle", "Ir/s"), {})[kv["tree"]] = float(kv["ir_per_s"])
    elif p[0] == "RT":
        for k, v in kv.items():
            if k.endswith("_per_req"):
                rows.setdefault(("redis", kv["row"], k[:-8].replace("_", " ") + "/request"), {})[kv["tree"]] = float(v)
print()
print("| store | row | figure | " + " | ".join(tags) + " | " + " | ".join("%s / %s" % (t, tags[0]) for t in tags[1:]) + " |")
print("| --- | --- | --- | " + " | ".join("---:" for _ in tags) + " | " + " | ".join("---:" for _ in tags[1:]) + " |")
for (store, row, what), v in rows.items():
    base = v.get(tags[0])
    cells = ["{:,.0f}".format(v[t]) if t in v and v[t] >= 100 else ("%.2f" % v[t] if t in v else "") for t in tags]
    ratios = ["%.3f" % (v[t] / base) if base and t in v else "" for t in tags[1:]]
    print("| %s | %s | %s | %s | %s |" % (store, row, what, " | ".join(cells), " | ".join(ratios)))
PY
