#!/bin/sh
# idpctl stats (issue 16): logins counted per hour, service, backend and
# level in the login's own round trip (t_roundtrips counts it), read back by
# idpctl, with counts under 5 suppressed; nothing that names a citizen or an
# address in the records. Redis only: idpctl cannot reach the memory store.
# The local backend reaches eidas2 with the citizen's code (issue 18): a
# login at that level counts once, at eidas2, and its code's page too.
. "$(dirname "$0")/lib.sh"
STORE=redis
setup_tmp
cat >"$TMP/extra.json" <<J
{"backends": [{"id": "local", "plugin": "file", "title": "Compte local", "acr": "eidas2",
  "password_acr": "eidas1", "users": "$TMP/users.json"}]}
J
make_config redis # the users file, for the code's secret
S=$("$BUILD/idp/idpctl" --users "$TMP/users.json" users totp-enrol marianne | sed -n 's/^secret: //p')
start_idp redis
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@" 2>>"$TMP/idpctl.log"; }
RC() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }
DAY=$(date -u +%Y-%m-%d)

for i in 1 2 3 4 5 6; do
	rm -f "$CJ"
	full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
done
rm -f "$CJ"
authorize demo-portal http://127.0.0.1:8081/callback '&acr_values=eidas2'
login marianne 'Marianne-2026!'
RESP=$(curl -s -i -c "$CJ" -b "$CJ" --data-urlencode "txn=$(field txn "$RESP")" --data-urlencode "csrf=$(field csrf "$RESP")" \
	--data-urlencode "code=$(oathtool --totp -b "$S")" "$IDP/otp")
if [ "$(status "$RESP")" = 200 ]; then consent accept; fi
ok "an eidas2 login: the password, then the code" test -n "$(qparam code "$(location "$RESP")")"
rm -f "$CJ"
full_login demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback
ok "the logins got tokens" test -n "$(echo "$TOK" | jget id_token)"
logins() { RC --scan --pattern "t:stats:*:login:$1" | xargs -r -n1 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" get | awk '{n+=$1} END {print n+0}'; }
ok "the eidas2 login counted once, at eidas2 (not also at the password's eidas1)" eq \
	"$(logins demo-portal:local:eidas2) $(logins demo-portal:local:eidas1)" "1 6"
# the hour may have turned during the logins: sum over the day
CSV=$(CTL stats --from "$DAY" --to "$DAY" --csv)
ok "csv header" eq "$(echo "$CSV" | head -n1)" "hour,client,backend,acr,logins"
ok "six logins at demo-portal, local backend, eidas1" eq \
	"$(echo "$CSV" | awk -F, '$2=="demo-portal" && $3=="local" && $4=="eidas1" {n+=$5} END {print n+0}')" 6
ok "one login at demo-portal-2 is suppressed (under 5)" not_contains "$CSV" "demo-portal-2"
ok "... and said so on stderr" contains "$(tail -n1 "$TMP/idpctl.log")" "suppressed"
ok "text output, tab-separated" contains "$(CTL stats --from "$DAY" --to "$DAY")" "	demo-portal	local	eidas1	"
KEYS=$(RC --scan --pattern 't:stats:*')
ok "one record per hour, service, backend and level" contains "$KEYS" ":login:demo-portal:local:eidas1"
ok "no citizen or address in the record names" not_contains "$KEYS$(RC --scan --pattern 't:stats:*' | xargs -r -n1 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" get)" "marianne"
TTL=$(RC ttl "$(echo "$KEYS" | head -n1)")
ok "records expire (5 weeks)" test "$TTL" -gt 3000000 -a "$TTL" -le 3024000
# Usage events (usage.c): pages shown and answered, failures by cause,
# counted in memory and added to the store by the heartbeat (every 5 s).
for i in 1 2 3 4 5; do
	rm -f "$CJ"
	authorize demo-portal http://127.0.0.1:8081/callback
	login nobody-here 'Wrong-pass-2026!'
done
ok "an unknown user's attempt is refused" eq "$(status "$RESP")" 401
rm -f "$CJ"
authorize demo-portal-2 http://127.0.0.1:8082/callback '&prompt=consent'
login marianne 'Marianne-2026!'
ok "the consent page is shown" eq "$(status "$RESP")" 200
consent refuse
HOUR=$(date -u +%Y%m%d%H)
ev() { RC get "t:stats:$HOUR:event:$1"; }
wait_for 80 sh -c "[ \"\$(redis-cli -h 127.0.0.1 -p $REDIS_PORT get t:stats:$HOUR:event:consent:refused)\" = 1 ]"
ok "failures by cause: five bad credentials" eq "$(ev failure:credentials)" 5
ok "the login page: shown 14 times (8 + 5 + 1)" eq "$(ev page:login:shown)" 14
ok "... answered 9 times (the good passwords)" eq "$(ev page:login:done)" 9
ok "the code's page: shown and answered once" eq "$(ev page:otp:shown)/$(ev page:otp:done)" 1/1
ok "the consent page shown and answered (refused once)" eq "$(ev page:consent:shown)/$(ev page:consent:done)/$(ev consent:refused)" "$(ev page:consent:shown)/$(ev page:consent:shown)/1"
EV=$(CTL stats --events --from "$DAY" --to "$DAY" --csv)
ok "stats --events: csv header" eq "$(echo "$EV" | head -n1)" "hour,event,count"
ok "stats --events: five bad credentials" eq \
	"$(echo "$EV" | awk -F, '$2=="failure:credentials" {n+=$3} END {print n+0}')" 5
ok "stats --events: five abandoned at the login page" eq \
	"$(echo "$EV" | awk -F, '$2=="page:login:abandoned" {n+=$3} END {print n+0}')" 5
ok "stats --events: one refused consent is suppressed (under 5)" not_contains "$EV" "consent:refused"
ok "the event records name no citizen" not_contains "$(RC --scan --pattern 't:stats:*:event:*')" "nobody"
CTL stats --from "$DAY" >/dev/null
ok "--to is required" eq "$?" 1
CTL stats --from 2026-01-01 --to 2026-12-31 >/dev/null
ok "a range beyond the records' life is refused" eq "$?" 1
CTL stats --from "$DAY" --to "not-a-date" >/dev/null
ok "a malformed date is refused" eq "$?" 1
done_tests
