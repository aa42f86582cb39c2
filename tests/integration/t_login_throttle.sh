#!/bin/sh
# stores: both
# Login throttling under concurrency (issue 15, finding 5): 60 wrong
# passwords for one user, posted at once with one transaction, verify at most
# login_failures_per_user_per_15min of them (401); the others get 429 without
# any check. The right password is then refused too (the user is locked),
# while another user from another address logs in. A success gives its
# attempt back: logins that succeed never lock anyone.
. "$(dirname "$0")/lib.sh"
STORE=${STORE:-memory}
setup_tmp
R1=http://127.0.0.1:8081/callback
RL_USER=10
cat >"$TMP/extra.json" <<J
{"rate_limits": {"login_failures_per_ip_per_minute": 30, "login_failures_per_user_per_15min": $RL_USER}}
J
start_idp "$STORE"
# A second citizen, added after make_config wrote users.json; the file
# backend reads it again on SIGHUP.
printf '%s\n' 'Paul-Pass-2026!' | "$BUILD/idp/idpctl" --users "$TMP/users.json" users add paul \
	--claims '{"given_name":"Paul","family_name":"Martin","birthdate":"1985-03-04","gender":"male","birthcountry":"99134"}' >/dev/null
kill -HUP "$IDP_PID"
wait_for 50 sh -c "grep -q 'reload (SIGHUP): configuration and keys reloaded' '$TMP/idp.log'"

# Successes give their attempt back: more successful logins than either
# limit, from one address, none refused.
n=0
i=0
while [ $i -lt $((RL_USER + 2)) ]; do
	rm -f "$CJ"
	authorize demo-portal "$R1" "&prompt=login"
	login marianne 'Marianne-2026!'
	[ "$(status "$RESP")" = 200 ] || [ "$(status "$RESP")" = 302 ] && n=$((n+1))
	i=$((i+1))
done
ok "$((RL_USER + 2)) successful logins in a row: none throttled" eq "$n" $((RL_USER + 2))

# 60 wrong passwords at once, one transaction.
rm -f "$CJ"
authorize demo-portal "$R1"
python3 - "$IDP/login" "$CJ" "$(field txn "$PAGE")" "$(field csrf "$PAGE")" >"$TMP/burst" <<'PY'
import sys, threading, urllib.parse, urllib.request, urllib.error
url, jar, txn, csrf = sys.argv[1:5]
cookies = "; ".join(l.split("\t")[5] + "=" + l.split("\t")[6].strip()
                    for l in open(jar) if l.count("\t") >= 6 and not l.startswith("# "))
cookies = cookies.replace("#HttpOnly_", "")
body = urllib.parse.urlencode({"txn": txn, "csrf": csrf, "username": "marianne", "password": "wrong-guess"}).encode()
go = threading.Barrier(60)
codes = []
lock = threading.Lock()
def one():
    go.wait()
    req = urllib.request.Request(url, data=body, headers={"Cookie": cookies})
    try:
        c = urllib.request.urlopen(req, timeout=60).status
    except urllib.error.HTTPError as e:
        c = e.code
    except Exception as e:
        c = "error:" + type(e).__name__
    with lock:
        codes.append(c)
ts = [threading.Thread(target=one) for _ in range(60)]
for t in ts: t.start()
for t in ts: t.join()
print(" ".join(str(c) for c in codes))
PY
B=$(cat "$TMP/burst")
N401=$(printf '%s\n' $B | grep -c '^401$')
N429=$(printf '%s\n' $B | grep -c '^429$')
ok "burst: 60 answers" eq "$(printf '%s\n' $B | wc -l)" 60
ok "burst: at most $RL_USER passwords verified (401), got $N401" test "$N401" -le "$RL_USER"
ok "burst: at least one verified" test "$N401" -ge 1
ok "burst: every other answer is 429, got $N429" eq "$((N401 + N429))" 60
login marianne 'Marianne-2026!'
ok "after the burst, the right password is refused too (locked): 429" eq "$(status "$RESP")" 429
# Another user, from another address (the limit per address is spent too).
CJ2="$TMP/cookies2"
pkce
PAGE=$(curl -s --interface 127.0.0.2 -c "$CJ2" -b "$CJ2" "$IDP/authorize?response_type=code&client_id=demo-portal&redirect_uri=$R1&scope=openid&state=st4te&code_challenge=$C&code_challenge_method=S256")
RESP=$(curl -s -i --interface 127.0.0.2 -c "$CJ2" -b "$CJ2" --data-urlencode "txn=$(field txn "$PAGE")" \
	--data-urlencode "csrf=$(field csrf "$PAGE")" --data-urlencode "username=paul" \
	--data-urlencode "password=Paul-Pass-2026!" "$IDP/login")
ok "another user from another address logs in" sh -c "[ '$(status "$RESP")' = 200 ] || [ '$(status "$RESP")' = 302 ]"
done_tests
