#!/bin/sh
# What "wait_replicas" costs a login (not a test: bench/README.md keeps its
# figures). One node (the hardened build, `make`), a Redis primary and one
# replica on loopback; bench/loadgen.c runs logins (authorize, login form,
# consent) with users of a cheap argon2id, so that the store's share shows;
# runs alternate WAIT off and on. Also counts the WAITs Redis ran per login.
#   sh tests/cluster/wait_cost.sh [SECONDS per run, 5] [RUNS each, 3]
BUILD=${BUILD:-.}
. "$(dirname "$0")/../integration/lib.sh"
setup_tmp
DUR=${1:-5}
RUNS=${2:-3}
B="$ROOT/bench"
cc -O2 -I"$ROOT/common" -o "$TMP/loadgen" "$B/loadgen.c" "$ROOT/common/codec.c" \
	$(pkg-config --cflags --libs openssl) -lpthread &&
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/idp" -I"$ROOT/common" -o "$TMP/argon2" "$B/argon2.c" "$ROOT/build/libidpcore.a" \
	$(pkg-config --cflags --libs libmicrohttpd jansson hiredis openssl libcurl libargon2) -ldl -lpthread ||
	{ echo "wait_cost: building bench/loadgen.c or bench/argon2.c failed (run make first)" >&2; exit 1; }
start_redis
RR=$(free_port)
mkdir -p "$TMP/replica"
redis-server --bind 127.0.0.1 --port "$RR" --dir "$TMP/replica" --save '' --appendonly no \
	--replicaof 127.0.0.1 "$REDIS_PORT" >"$TMP/replica.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 100 sh -c "redis-cli -p $RR info replication | grep -q master_link_status:up" || { echo "replica did not sync" >&2; exit 1; }
"$TMP/argon2" users "$TMP/users.json" 'Bench-pass-2026!' quick:1:8:1 >/dev/null || exit 1
chmod 600 "$TMP/users.json"
run() { # WAIT_REPLICAS: a node with that setting, RUNS timed runs; prints rate p50 p99 waits/login
	[ -n "${IDP_PID:-}" ] && stop_idp
	IDP_PORT=$(free_port)
	make_config redis
	w='{}'
	[ "$1" -gt 0 ] && w="{\"wait_replicas\": $1, \"wait_timeout_ms\": 100}"
	python3 "$(dirname "$0")/conf.py" "$TMP/idp.json" "$IDP_PORT" "$w" '{"log_level": "warn"}'
	run_idp
	redis-cli -p "$REDIS_PORT" config resetstat >/dev/null
	"$TMP/loadgen" login -p "$IDP_PORT" -c 4 -d "$DUR" -w 1 --client demo-portal --secret demo-portal-secret \
		--redirect http://127.0.0.1:8081/callback --user quick --password 'Bench-pass-2026!' 2>/dev/null |
		grep '^RESULT' >"$TMP/r"
	waits=$(redis-cli -p "$REDIS_PORT" info commandstats | sed -n 's/^cmdstat_wait:calls=\([0-9]*\),.*/\1/p')
	logins=$(sed -n 's/.* done=\([0-9]*\).*/\1/p' "$TMP/r")
	echo "wait_replicas=$1 $(cut -d' ' -f5-8 "$TMP/r") waits_per_login=$(python3 -c "print(round(${waits:-0}/max(1,${logins:-0}),2))")"
}
round=0 # not i: lib.sh's helpers use it
while [ $round -lt "$RUNS" ]; do
	run 0
	run 1
	round=$((round+1))
done
