#!/bin/sh
# Core dumps hold the private keys and sessions: the daemon turns them off
# at start (soft RLIMIT_CORE 0, not dumpable) unless debug.allow_core_dumps.
# "Not dumpable" is observed the way an attacker would meet it: the daemon
# runs as an unprivileged user (nobody), and another process of that same
# user can no longer read its /proc files (environ), which the kernel then
# gives to root.
. "$(dirname "$0")/lib.sh"
setup_tmp
NOBODY=65534
# AddressSanitizer sets the soft core limit to 0 itself (disable_coredump):
# told not to, so that what is observed is the daemon's own doing.
export ASAN_OPTIONS="$ASAN_OPTIONS:disable_coredump=0"
not() { ! "$@"; }
as_nobody() { setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups "$@"; }

IDP_PORT=$(free_port)
make_config memory "$IDP_PORT"
chown -R $NOBODY:$NOBODY "$TMP"

# start_nobody CONFIG: the daemon as nobody, its core limit soft 1 MiB
# (hard unlimited) as a shell with `ulimit -c` would hand it over.
start_nobody() {
	spawn_idp "$1" "$IDP_PORT" "$TMP/idp.log" "$TMP/port" \
		prlimit --core=1048576:unlimited setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups
	IDP_PID=$SPAWNED
	IDP="http://127.0.0.1:$IDP_PORT"
}
core_soft() { awk '/^Max core file size/ { print $5 }' "/proc/$1/limits"; }

# The control: a plain process of nobody's, its environ readable by nobody.
prlimit --core=1048576:unlimited setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sleep 30 &
SLEEP_PID=$!
PIDS="$PIDS $SLEEP_PID"
wait_for 50 test "$(stat -c %u /proc/$SLEEP_PID/environ 2>/dev/null)" = $NOBODY
ok "control: a dumpable process of nobody's has its /proc files owned by nobody" \
	eq "$(stat -c %u /proc/$SLEEP_PID/environ)" $NOBODY
ok "control: nobody reads its environ" as_nobody sh -c "cat /proc/$SLEEP_PID/environ >/dev/null"
ok "control: its core limit is the one given" eq "$(core_soft $SLEEP_PID)" 1048576
kill $SLEEP_PID

start_nobody "$TMP/idp.json"
ok "the daemon serves as nobody" eq "$(curl -s "$IDP/healthz")" ok
ok "the daemon runs as nobody" eq "$(awk '/^Uid:/ { print $2 }' /proc/$IDP_PID/status)" $NOBODY
ok "default: soft core size limit 0" eq "$(core_soft $IDP_PID)" 0
ok "default: not dumpable (its /proc files belong to root)" eq "$(stat -c %u /proc/$IDP_PID/environ)" 0
ok "default: another process of nobody's cannot read its environ" \
	not as_nobody sh -c "cat /proc/$IDP_PID/environ >/dev/null 2>&1"
ok "default: nor its memory" not as_nobody sh -c "head -c1 /proc/$IDP_PID/mem >/dev/null 2>&1"
ok "default: SIGHUP delivered" kill -HUP "$IDP_PID"
wait_for 50 grep -q "reload (SIGHUP)" "$TMP/idp.log"
ok "default: still not dumpable after SIGHUP" eq "$(stat -c %u /proc/$IDP_PID/environ)" 0
stop_idp
ok "the daemon stopped cleanly as nobody" eq "$IDP_RC" 0

# debug.allow_core_dumps: the limit it was started with, and dumpable.
python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["debug"]={"allow_core_dumps":True};json.dump(c,open(sys.argv[2],"w"))' \
	"$TMP/idp.json" "$TMP/dumps.json"
chown $NOBODY "$TMP/dumps.json"
start_nobody "$TMP/dumps.json"
ok "allowed: the core limit the daemon was started with" eq "$(core_soft $IDP_PID)" 1048576
ok "allowed: dumpable (its /proc files belong to nobody)" eq "$(stat -c %u /proc/$IDP_PID/environ)" $NOBODY
ok "allowed: a warning says what a dump would hold" grep -q "allow_core_dumps: a crash may write a core dump holding the private keys" "$TMP/idp.log"
# SIGHUP with the setting gone turns them off again.
cp "$TMP/idp.json" "$TMP/dumps.json"
kill -HUP "$IDP_PID"
wait_for 50 test "$(grep -c "reload (SIGHUP)" "$TMP/idp.log")" = 2
ok "allowed, then removed by SIGHUP: soft limit 0 again" eq "$(core_soft $IDP_PID)" 0
ok "allowed, then removed by SIGHUP: not dumpable again" eq "$(stat -c %u /proc/$IDP_PID/environ)" 0
stop_idp
ok "the daemon stopped cleanly" eq "$IDP_RC" 0

# The setting is checked like every other.
for bad in '{"allow_core_dump": true}|unknown setting "allow_core_dump"' \
	'{"allow_core_dumps": 1}|"allow_core_dumps" must be true or false' '[]|debug: must be an object'; do
	python3 -c 'import json,sys;c=json.load(open(sys.argv[1]));c["debug"]=json.loads(sys.argv[3]);json.dump(c,open(sys.argv[2],"w"))' \
		"$TMP/idp.json" "$TMP/bad.json" "${bad%%|*}"
	OUT=$("$BUILD/idp/idp" --config "$TMP/bad.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
	ok "debug ${bad%%|*} refused" test "$RC" -ne 0
	ok "debug ${bad%%|*}: says ${bad#*|}" contains "$OUT" "${bad#*|}"
done
done_tests
