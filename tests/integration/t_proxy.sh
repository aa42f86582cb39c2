#!/bin/sh
# Behind a real nginx on loopback (issue 15, finding 6): with
# listen.trusted_proxies, the client address is the one the proxy appends to
# X-Forwarded-For (or writes in Forwarded), never what a client forged; the
# per-address failure limit (10 here, to keep the suite short) locks out that
# client only; the same headers sent straight to
# the daemon are ignored; /metrics is not served through the proxy, only on
# metrics.listen. A second daemon listens on [::1]: discovery, throttling
# keyed on ::1, ::1 as a trusted proxy; listen.address is checked at load.
. "$(dirname "$0")/lib.sh"
setup_tmp
command -v nginx >/dev/null || { echo "t_proxy: nginx is not installed (scripts/deps.sh)" >&2; exit 1; }
METRICS_PORT=$(free_port)
cat >"$TMP/extra.json" <<EOF2
{"listen": {"address": "127.0.0.1", "port": 8080, "threads": 1, "trusted_proxies": ["127.0.0.1/32", "fd00::/8"]},
 "metrics": {"listen": "127.0.0.1:$METRICS_PORT"},
 "rate_limits": {"login_failures_per_ip_per_minute": 10},
 "log_level": "debug"}
EOF2
start_idp memory
NPORT=$(free_port)
NPORT2=$(free_port)
mkdir -p "$TMP/ngx"
cat >"$TMP/ngx/nginx.conf" <<EOF2
daemon off;
master_process off;
worker_processes 1;
pid $TMP/ngx/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $TMP/ngx/body;
	proxy_temp_path $TMP/ngx/proxy;
	fastcgi_temp_path $TMP/ngx/fastcgi;
	uwsgi_temp_path $TMP/ngx/uwsgi;
	scgi_temp_path $TMP/ngx/scgi;
	server {
		listen 127.0.0.1:$NPORT;
		location / {
			proxy_pass http://127.0.0.1:$IDP_PORT;
			proxy_set_header Host 127.0.0.1:$IDP_PORT;
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
	server {
		listen 127.0.0.1:$NPORT2;
		location / {
			proxy_pass http://127.0.0.1:$IDP_PORT;
			proxy_set_header Host 127.0.0.1:$IDP_PORT;
			proxy_set_header X-Forwarded-For "";
			proxy_set_header Forwarded "for=\$remote_addr;proto=http";
		}
	}
}
EOF2
nginx -e stderr -p "$TMP/ngx" -c "$TMP/ngx/nginx.conf" >"$TMP/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS="$PIDS $NGINX_PID"
wait_for 50 curl -sf -o /dev/null "http://127.0.0.1:$NPORT/healthz" || { cat "$TMP/nginx.log" >&2; exit 1; }
PROXY="http://127.0.0.1:$NPORT"
R1=http://127.0.0.1:8081/callback

# prepare BASE SRC JAR [curl args]: an authorization from the source address
# SRC (its own cookie jar); sets TXN and CSRF for a login.
prepare() {
	base=$1 src=$2 jar=$3
	shift 3
	pkce
	P=$(curl -s -m 10 --interface "$src" -c "$jar" -b "$jar" "$@" "$base/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
	TXN=$(field txn "$P")
	CSRF=$(field csrf "$P")
}
# post_login BASE SRC JAR TXN CSRF USER PASS [curl args]: prints the status.
post_login() {
	base=$1 src=$2 jar=$3 txn=$4 csrf=$5 user=$6 pass=$7
	shift 7
	curl -s -m 30 -o /dev/null -w '%{http_code}' --interface "$src" -b "$jar" "$@" \
		--data-urlencode "txn=$txn" --data-urlencode "csrf=$csrf" \
		--data-urlencode "username=$user" --data-urlencode "password=$pass" "$base/login"
}
attempt() { # attempt BASE SRC USER PASS [curl args]
	a_base=$1 a_src=$2 a_user=$3 a_pass=$4
	shift 4
	prepare "$a_base" "$a_src" "$CJ.a" "$@"
	post_login "$a_base" "$a_src" "$CJ.a" "$TXN" "$CSRF" "$a_user" "$a_pass" "$@"
}

# 10 failures from 127.0.0.2 through nginx, each with another forged
# X-Forwarded-For (and another user name, so only the per-address limit
# counts), sent at once: all wrong passwords, then that client is throttled.
i=1
BATCH=""
while [ $i -le 10 ]; do
	(prepare "$PROXY" 127.0.0.2 "$CJ.$i" -H "X-Forwarded-For: 198.51.100.$i"
	 echo "$i $TXN $CSRF" >"$TMP/prep.$i") &
	BATCH="$BATCH $!"
	i=$((i+1))
done
for p in $BATCH; do wait "$p"; done
i=1
: >"$TMP/batch"
while [ $i -le 10 ]; do cat "$TMP/prep.$i" >>"$TMP/batch"; i=$((i+1)); done
BATCH=""
while read -r i txn csrf; do
	post_login "$PROXY" 127.0.0.2 "$CJ.$i" "$txn" "$csrf" "nobody$i" wrong -H "X-Forwarded-For: 198.51.100.$i" >"$TMP/st.$i" &
	BATCH="$BATCH $!"
	if [ $((i % 10)) -eq 0 ]; then
		for p in $BATCH; do wait "$p"; done # (curl is bounded by -m below)
		BATCH=""
	fi
done <"$TMP/batch"
ok "proxy: 10 failed logins through nginx are 401" eq "$(cat "$TMP"/st.* | grep -o 401 | wc -l | tr -d " ")" 10
ok "proxy: the 11th from the same client is throttled (429), whatever it forges" \
	eq "$(attempt "$PROXY" 127.0.0.2 nobody31 wrong -H "X-Forwarded-For: 203.0.113.77")" 429
ok "proxy: a citizen from another address still logs in through nginx" \
	eq "$(attempt "$PROXY" 127.0.0.3 marianne 'Marianne-2026!')" 200
ok "proxy: the throttled client is throttled via Forwarded too" \
	eq "$(attempt "http://127.0.0.1:$NPORT2" 127.0.0.2 nobody32 wrong)" 429
ok "proxy: another client via Forwarded is not" \
	eq "$(attempt "http://127.0.0.1:$NPORT2" 127.0.0.4 nobody33 wrong)" 401
# Straight to the daemon (not through a trusted proxy) the headers are ignored:
# the throttled client cannot hide behind a forged address ...
ok "direct: a forged X-Forwarded-For does not lift the throttle" \
	eq "$(attempt "$IDP" 127.0.0.2 nobody34 wrong -H "X-Forwarded-For: 203.0.113.78" -H "Forwarded: for=203.0.113.78")" 429
# ... and another client cannot be keyed as the throttled one.
ok "direct: a forged X-Forwarded-For naming a throttled address is ignored" \
	eq "$(attempt "$IDP" 127.0.0.5 nobody35 wrong -H "X-Forwarded-For: 127.0.0.2")" 401
ok "proxy: the log names the forwarded client" grep -q "from 127.0.0.2" "$TMP/idp.log"
ok "proxy: no failure logged under the proxy's address" sh -c "! grep -q 'login: failure.*from 127.0.0.1\$' '$TMP/idp.log'"
# A malformed X-Forwarded-For from the trusted proxy: its own address, logged at debug.
H=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: not-an-address" "$PROXY/healthz")
ok "proxy: a malformed X-Forwarded-For is still answered" eq "$H" 200
ok "proxy: a malformed X-Forwarded-For is logged at debug" grep -q "malformed X-Forwarded-For or Forwarded from proxy 127.0.0.1" "$TMP/idp.log"

# /metrics: never through the proxy nor on the citizens' listener.
ok "metrics: 404 through nginx" eq "$(curl -s -o /dev/null -w '%{http_code}' "$PROXY/metrics")" 404
ok "metrics: 404 on the citizens' listener" eq "$(curl -s -o /dev/null -w '%{http_code}' "$IDP/metrics")" 404
M=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
ok "metrics: served on metrics.listen" contains "$M" 'idp_logins_total{result="throttled"}'
ok "metrics: only /metrics on metrics.listen" eq "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/authorize")" 404

# The citizens' listener on IPv6 loopback: a second daemon on [::1], with
# ::1 as its trusted proxy (cidr_list_has with an IPv6 peer).
if python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	P6=$(free_port)
	python3 - "$TMP/idp.json" "$TMP/v6.json" "$P6" <<'PY6'
import json, sys
c = json.load(open(sys.argv[1]))
c["issuer"] = "http://[::1]:" + sys.argv[3]
c["listen"]["address"] = "::1"
c["listen"]["trusted_proxies"] = ["::1/128"]
c["rate_limits"]["login_failures_per_ip_per_minute"] = 3
c.pop("metrics", None)
json.dump(c, open(sys.argv[2], "w"))
PY6
	spawn_idp "$TMP/v6.json" "$P6" "$TMP/v6.log" "$TMP/port6"
	V6="http://[::1]:$P6"
	ok "ipv6: /healthz on [::1]" eq "$(curl -s -o /dev/null -w '%{http_code}' "$V6/healthz")" 200
	D=$(curl -s "$V6/.well-known/openid-configuration")
	ok "ipv6: discovery names the [::1] issuer" contains "$D" "\"issuer\":\"http://[::1]:$P6\""
	# At once, each with its cookie jar: the counter must not lose any.
	i=1
	BATCH=""
	while [ $i -le 3 ]; do
		(prepare "$V6" ::1 "$CJ.6$i"
		 post_login "$V6" ::1 "$CJ.6$i" "$TXN" "$CSRF" "six$i" wrong >"$TMP/st6.$i") &
		BATCH="$BATCH $!"
		i=$((i+1))
	done
	for p in $BATCH; do wait "$p"; done # (curl is bounded by -m)
	ok "ipv6: 3 failed logins from ::1 are 401" eq "$(cat "$TMP"/st6.* | grep -o 401 | wc -l | tr -d " ")" 3
	ok "ipv6: the 4th from ::1 is throttled (429)" eq "$(attempt "$V6" ::1 six4 wrong)" 429
	ok "ipv6: the failures are logged from ::1" grep -q "password refused for user [0-9a-f]* from ::1\$" "$TMP/v6.log"
	# Through the trusted proxy ::1, the client it names is another one.
	ok "ipv6: a client forwarded by the trusted ::1 is not throttled" \
		eq "$(attempt "$V6" ::1 six5 wrong -H "X-Forwarded-For: 2001:db8::7")" 401
	ok "ipv6: and is logged under its own address" grep -q "password refused for user [0-9a-f]* from 2001:db8::7\$" "$TMP/v6.log"
else
	echo "SKIP: no IPv6 on loopback" >&2
fi

# Configuration errors are reported at load.
python3 - "$TMP/idp.json" "$TMP/bad.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["listen"]["trusted_proxies"] = ["10.0.0.0/33", "proxy.example"]
c["metrics"] = {"listen": "localhost"}
json.dump(c, open(sys.argv[2], "w"))
c = json.load(open(sys.argv[1]))
c["listen"]["address"] = "fe80::1%lo"
json.dump(c, open(sys.argv[2] + ".zone", "w"))
c["listen"]["address"] = "localhost"
json.dump(c, open(sys.argv[2] + ".name", "w"))
PY
OUT=$("$BUILD/idp/idp" --check --config "$TMP/bad.json" 2>&1)
ok "config: a bad trusted_proxies CIDR is refused" contains "$OUT" "trusted_proxies[0] must be an IPv4 or IPv6 address, or a CIDR block"
ok "config: a host name in trusted_proxies is refused" contains "$OUT" "trusted_proxies[1]"
ok "config: a bad metrics.listen is refused" contains "$OUT" '"listen" must be "ADDRESS:PORT"'
OUT=$("$BUILD/idp/idp" --check --config "$TMP/bad.json.zone" 2>&1)
ok "config: a listen.address with a zone is refused" contains "$OUT" '"address": "fe80::1%lo" is not an IPv4 or IPv6 address'
OUT=$("$BUILD/idp/idp" --check --config "$TMP/bad.json.name" 2>&1); RC=$?
ok "config: a host name as listen.address is refused" contains "$OUT" '"address": "localhost" is not an IPv4 or IPv6 address'
ok "config: ... and --check fails" test "$RC" -ne 0
done_tests
