#!/bin/sh
# Several nodes, no single point of failure (issue 16), on loopback: three
# provider nodes behind HAProxy (health checks on /healthz, redispatch and
# retries, X-Forwarded-For from a trusted proxy), a Redis primary, a replica
# and three sentinels. clusterload.py runs full logins and SSO logins through
# the balancer while the test (a) kills a node, (b) kills the Redis primary
# so that the sentinels promote the replica, (c) restarts both. Counted for
# each event: requests failed, seconds of errors, time to recover; then
# sessions lost. Asserted: no failed request when a node dies (but the
# POSTs it had carried out, sent again by the balancer); under 5 s of
# errors in the failover; no session lost that was made more than 1 s
# before it. Then /healthz says 503 while no Redis answers.
. "$(dirname "$0")/../integration/lib.sh"
setup_tmp
HERE=$(cd "$(dirname "$0")" && pwd)
command -v haproxy >/dev/null || { echo "t_cluster: haproxy is not installed (scripts/deps.sh)" >&2; exit 1; }
LOAD_S=${CLUSTER_LOAD_S:-20}

# ---- Redis: primary, replica, three sentinels ---------------------------------
RP=$(free_port); RR=$(free_port)
redis_start() { # NAME PORT [ARGS...]: a fresh folder, stopped by PID
	name=$1; port=$2; shift 2
	mkdir -p "$TMP/$name"
	redis-server --bind 127.0.0.1 --port "$port" --dir "$TMP/$name" --save '' --appendonly no "$@" \
		>>"$TMP/$name.log" 2>&1 &
	eval "PID_$name=$!"
	PIDS="$PIDS $!"
	wait_for 50 redis-cli -h 127.0.0.1 -p "$port" ping || { echo "redis $name did not start" >&2; cat "$TMP/$name.log" >&2; exit 1; }
}
redis_start primary "$RP"
redis_start replica "$RR" --replicaof 127.0.0.1 "$RP"
SENTINELS=""
for i in 1 2 3; do
	sp=$(free_port)
	mkdir -p "$TMP/s$i"
	cat >"$TMP/s$i/sentinel.conf" <<EOF
bind 127.0.0.1
port $sp
dir $TMP/s$i
sentinel monitor idp 127.0.0.1 $RP 2
sentinel down-after-milliseconds idp 1000
sentinel failover-timeout idp 10000
sentinel parallel-syncs idp 1
EOF
	redis-server "$TMP/s$i/sentinel.conf" --sentinel >"$TMP/s$i.log" 2>&1 &
	PIDS="$PIDS $!"
	SENTINELS="$SENTINELS${SENTINELS:+,}\"127.0.0.1:$sp\""
	eval "SP$i=$sp"
done
# Ready when the replica is in sync and each sentinel knows the replica and
# the two other sentinels (a failover needs both).
sentinels_ready() {
	redis-cli -p "$RR" info replication | grep -q 'master_link_status:up' || return 1
	for sp in $SP1 $SP2 $SP3; do
		[ "$(redis-cli -p "$sp" sentinel replicas idp | grep -c '^ip$')" -ge 1 ] || return 1
		[ "$(redis-cli -p "$sp" sentinel sentinels idp | grep -c '^ip$')" -ge 2 ] || return 1
	done
}
wait_for 300 sentinels_ready || { echo "t_cluster: sentinels did not see the replica and each other" >&2; exit 1; }

# ---- three nodes -------------------------------------------------------------
HP=$(free_port)
make_config memory
python3 "$HERE/conf.py" "$TMP/idp.json" "$HP" \
	"{\"driver\": \"redis\", \"sentinels\": [$SENTINELS], \"master_name\": \"idp\", \"prefix\": \"t:\", \"timeout_ms\": 3000, \"wait_replicas\": 1, \"wait_timeout_ms\": 100}" \
	'{"listen": {"trusted_proxies": ["127.0.0.1/32"]}}'
node_start() { # N: node N on its port NPORT_N, its own log
	n=$1
	eval "port=\$NPORT_$n"
	rm -f "$TMP/port$n"
	"$BUILD/idp/idp" --config "$TMP/idp.json" --port "$port" --port-file "$TMP/port$n" \
		--plugin-dir "$BUILD/plugins" >>"$TMP/node$n.log" 2>&1 &
	eval "NODE_$n=$!"
	PIDS="$PIDS $!"
	wait_for 100 test -s "$TMP/port$n" || { echo "node $n did not start:" >&2; cat "$TMP/node$n.log" >&2; exit 1; }
}
# Settings checked at load (idp --check connects to nothing).
bad_store() { # STORE-JSON EXPECTED-MESSAGE
	python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c["store"]=json.loads(sys.argv[2]); json.dump(c,open(sys.argv[3],"w"))' \
		"$TMP/idp.json" "$1" "$TMP/bad.json"
	out=$("$BUILD/idp/idp" --config "$TMP/bad.json" --plugin-dir "$BUILD/plugins" --check 2>&1) && { echo "  accepted: $1" >&2; return 1; }
	contains "$out" "$2"
}
ok "a sentinel without a port is refused" bad_store \
	'{"driver":"redis","sentinels":["127.0.0.1"],"master_name":"idp"}' '"sentinels"[0] must be "host:port"'
ok "sentinels without master_name are refused" bad_store \
	'{"driver":"redis","sentinels":["127.0.0.1:1"]}' '"sentinels" and "master_name" go together'
ok "sentinels beside a host are refused" bad_store \
	'{"driver":"redis","sentinels":["127.0.0.1:1"],"master_name":"idp","host":"127.0.0.1"}' 'no "host"'
for n in 1 2 3; do
	eval "NPORT_$n=$(free_port)"
	node_start $n
done

# ---- HAProxy ----------------------------------------------------------------
# Checks every 300 ms, down after 2 failures; a check waits longer than the
# store's timeout_ms, so that a node waiting out a Redis failover is not
# taken out for it. A request whose connection failed or got no answer goes
# to another node (redispatch), a login form's POST too.
cat >"$TMP/haproxy.cfg" <<EOF
global
	maxconn 512
	log stderr format raw local0
defaults
	mode http
	log global
	option httplog
	timeout connect 500ms
	timeout client 20s
	timeout server 20s
	timeout check 4s
	retries 3
	option redispatch 1
	retry-on conn-failure empty-response
	option forwardfor
frontend fe
	bind 127.0.0.1:$HP
	default_backend idp
backend idp
	balance roundrobin
	option httpchk GET /healthz
	http-check expect status 200
	default-server inter 300ms fall 2 rise 2
	server n1 127.0.0.1:$NPORT_1 check
	server n2 127.0.0.1:$NPORT_2 check
	server n3 127.0.0.1:$NPORT_3 check
EOF
haproxy -db -f "$TMP/haproxy.cfg" >"$TMP/haproxy.log" 2>&1 &
PIDS="$PIDS $!"
wait_for 50 curl -sf -o /dev/null "http://127.0.0.1:$HP/healthz" || { cat "$TMP/haproxy.log" >&2; exit 1; }

ok "each node answers /healthz through its own port" \
	eq "$(for n in 1 2 3; do eval "curl -s -m 5 http://127.0.0.1:\$NPORT_$n/healthz"; done | tr -d '\n')" "okokok"

# ---- the load and the events -------------------------------------------------
cat >"$TMP/load.json" <<EOF
{"user": "marianne", "password": "Marianne-2026!",
 "clients": [["demo-portal", "demo-portal-secret", "http://127.0.0.1:8081/callback"],
             ["demo-portal-2", "demo-portal-2-secret", "http://127.0.0.1:8082/callback"]]}
EOF
python3 "$HERE/clusterload.py" 127.0.0.1 "$HP" "$LOAD_S" 4 "$TMP/load.log" "$TMP/load.json" 2>"$TMP/load.err" &
LOAD=$!
PIDS="$PIDS $LOAD"
stamp() { echo "$1 $(date +%s.%N)" >>"$TMP/events"; }
sleep 4
stamp node_killed
kill -9 "$NODE_2"
sleep 5
stamp primary_killed
kill -9 "$PID_primary"
sleep 6
stamp restarted
node_start 2
redis_start primary "$RP"
# Load runs to its end, then checks every session (bounded).
i=0
while kill -0 "$LOAD" 2>/dev/null && [ $i -lt $((LOAD_S * 10 + 600)) ]; do sleep 0.1; i=$((i+1)); done
kill "$LOAD" 2>/dev/null
stamp end

python3 - "$TMP/load.log" "$TMP/events" >"$TMP/report" <<'PY'
import json, sys
reqs, sess = [], []
for line in open(sys.argv[1]):
    e = json.loads(line)
    (sess if "session" in e else reqs).append(e)
ev = {}
for line in open(sys.argv[2]):
    k, t = line.split()
    ev[k] = float(t)
for e in reqs:
    e["end"] = e["t"] + e["d"]  # a request counts in the window where it ended
reqs.sort(key=lambda e: e["end"])
order = ["node_killed", "primary_killed", "restarted", "end"]
print("requests %d ok %d failed %d" % (len(reqs), sum(e["ok"] and "client_retry" not in e for e in reqs),
                                      sum(not e["ok"] for e in reqs)))
for a, b in zip(order, order[1:]):
    w = [e for e in reqs if ev[a] <= e["end"] < ev[b]]
    bad = [e for e in w if not e["ok"]]
    errs = bad[-1]["end"] - bad[0]["end"] if bad else 0.0
    after = [e for e in w if e["ok"] and "client_retry" not in e and (not bad or e["t"] > bad[-1]["end"])]
    recover = (after[0]["end"] - ev[a]) if bad and after else 0.0
    # A POST the dying node had already carried out (a login form's, its
    # transaction consumed; a code exchange's, its code taken) gets 400 when
    # the balancer sends it again: "in_flight_posts".
    spent = sum(e["step"] in ("login", "login:token", "sso:token") and e["status"] == 400 for e in bad)
    print("%s requests %d failed %d errors_s %.2f recovered_s %.2f slowest_s %.2f client_retries %d "
          "in_flight_posts %d other_failed %d steps %s" % (
        a, len(w), len(bad), errs, recover, max([e["d"] for e in w] or [0]), sum("client_retry" in e for e in w),
        spent, len(bad) - spent, ",".join(sorted({"%s/%s" % (e["step"], e["status"]) for e in bad}))))
before = [s for s in sess if s["t"] < ev["primary_killed"] - 1]
print("sessions %d alive %d lost %d unknown %d; made >1 s before the failover %d, lost of those %d" % (
    len(sess), sum(s["session"] == "alive" for s in sess), sum(s["session"] == "lost" for s in sess),
    sum(s["session"] == "unknown" for s in sess), len(before), sum(s["session"] == "lost" for s in before)))
PY
echo "balancer retries (requests sent again to another node) $(grep -cE ' [0-9]+/[0-9]+/[0-9]+/[0-9]+/\+[0-9]+ ' "$TMP/haproxy.log")" >>"$TMP/report"
cat "$TMP/report"
val() { sed -n "s/^$1 .*[ ]$2 \([0-9.]*\).*/\1/p" "$TMP/report" | head -n1; }
ok "the load ran (some logins done)" test "$(sed -n 's/^requests [0-9]* ok \([0-9]*\).*/\1/p' "$TMP/report")" -gt 50
# When a node dies, nothing fails but the POSTs it had already carried out
# (at most one per client of the load, which runs 4): the balancer sends
# them again and the transaction or code they consumed is gone (README,
# "Operate").
ok "no failed request when a node dies, but POSTs it had carried out" eq "$(val node_killed other_failed)" 0
ok "... of those, at most one per client (4)" test "$(val node_killed in_flight_posts)" -le 4
ok "under 5 s of errors during the Redis failover" \
	python3 -c "import sys; sys.exit(0 if float('$(val primary_killed errors_s)') < 5 else 1)"
ok "the failover was followed: logins after it succeed" \
	python3 -c "import sys; sys.exit(0 if float('$(val primary_killed recovered_s)') < 8 else 1)"
ok "no session lost that was made more than 1 s before the failover" \
	eq "$(sed -n 's/.*lost of those \([0-9]*\).*/\1/p' "$TMP/report")" 0
ok "the nodes logged the new primary" grep -q "the primary is 127.0.0.1:$RR now" "$TMP/node1.log"
ok "with the replica promoted and none left, writes went on unacknowledged (logged)" \
	grep -q "not acknowledged by 1 replica" "$TMP/node1.log"
ok "idpctl (blocking connections) finds the new primary through the sentinels" \
	sh -c "'$BUILD/idp/idpctl' --config '$TMP/idp.json' keys status >'$TMP/status.out' 2>&1"
ok "the old primary came back as a replica" wait_for 100 sh -c "redis-cli -p $RP role | head -n1 | grep -qx slave"

# ---- readiness: no Redis answers -> 503 ------------------------------------------
kill -9 "$PID_replica" "$PID_primary" 2>/dev/null
code=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NPORT_1/healthz")
ok "/healthz says 503 while the store is unreachable" eq "$code" 503
no_server() { curl -s -m 5 "http://127.0.0.1:$HP/.well-known/openid-configuration" | grep -q "No server is available"; }
ok "and the balancer takes every node out of rotation" wait_for 150 no_server

for n in 1 2 3; do
	eval "pid=\$NODE_$n"
	kill "$pid" 2>/dev/null
	i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
	wait "$pid" 2>/dev/null
	ok "node $n exits cleanly on SIGTERM" eq "$?" 0
	cat "$TMP/node$n.log" >>"$TMP/idp.log"
done
[ -n "${CLUSTER_KEEP:-}" ] && rm -rf "$CLUSTER_KEEP" && cp -r "$TMP" "$CLUSTER_KEEP"
done_tests
