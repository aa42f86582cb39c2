#!/bin/sh
# make install into a fresh DESTDIR: the tree, the packager's flags, the man
# pages rendered without a warning and naming every setting, the systemd unit
# verified and its hardening, then the installed daemon started from DESTDIR
# with the installed example configuration (adapted to a temporary folder):
# /healthz, a full login, a reload, a stop, each system call of them allowed
# by the unit's filter (under strace); and the Grafana dashboard naming only
# metrics the daemon serves.
. "$(dirname "$0")/lib.sh"
setup_tmp
DEST="$TMP/root"
P="$DEST/usr/local"
case "$(basename "$BUILD")" in build-san) SANFLAG=SAN=1 ;; *) SANFLAG=SAN=0 ;; esac

# ---- make install ----
OUT=$(cd "$ROOT" && make -s "$SANFLAG" install DESTDIR="$DEST" 2>&1); RC=$?
ok "make install DESTDIR succeeds" eq "$RC" 0
[ "$RC" -eq 0 ] || { echo "$OUT" >&2; done_tests; exit 1; }
for f in sbin/idp sbin/idpctl lib/idp/plugins/file/file.so lib/idp/plugins/ldap/ldap.so \
	lib/idp/plugins/oidc/oidc.so share/idp/templates/fr/login.html share/idp/templates/style.css \
	lib/systemd/system/idp.service lib/sysusers.d/idp.conf share/doc/idp/idp.json.example \
	share/man/man8/idp.8 share/man/man8/idpctl.8 share/man/man5/idp.json.5 share/man/man3/librp.3 \
	include/rp.h lib/librp.so.1.6.0 lib/librp.a lib/pkgconfig/librp.pc; do
	ok "installed $f" test -f "$P/$f"
done
ok "librp.so.1 links to the library" eq "$(readlink "$P/lib/librp.so.1")" librp.so.1.6.0
ok "idp is executable" test -x "$P/sbin/idp"
ok "templates installed whole" diff -r "$ROOT/templates" "$P/share/idp/templates"
ok "configuration installed under /etc/idp" test -f "$DEST/etc/idp/idp.json"
ok "configuration readable by owner and group only" eq "$(stat -c %a "$DEST/etc/idp/idp.json")" 640
ok "example names the installed plugins" grep -q '"/usr/local/lib/idp/plugins"' "$DEST/etc/idp/idp.json"
ok "example names the installed templates" grep -q '"/usr/local/share/idp/templates"' "$DEST/etc/idp/idp.json"
ok "librp.pc names the prefix" grep -q '^prefix=/usr/local$' "$P/lib/pkgconfig/librp.pc"
echo '{"edited": true}' >"$DEST/etc/idp/idp.json"
OUT=$(cd "$ROOT" && make -s "$SANFLAG" install DESTDIR="$DEST" 2>&1)
ok "a second install keeps an existing configuration" eq "$(cat "$DEST/etc/idp/idp.json")" '{"edited": true}'
ok "and says so" contains "$OUT" "kept the existing"
cp "$P/share/doc/idp/idp.json.example" "$DEST/etc/idp/idp.json"
# Left as installed, the example does not start: its pairwise secret is a
# placeholder shorter than a real one.
OUT=$("$P/sbin/idp" --check --config "$DEST/etc/idp/idp.json" 2>&1); RC=$?
ok "the example as installed is refused" test "$RC" -ne 0
ok "... naming its placeholder pairwise_secret" contains "$OUT" "pairwise_secret: required"

# The build honours the packager's flags: every compile line carries
# CPPFLAGS, every link of the daemon, idpctl, a plugin or librp.so LDFLAGS
# (make -n: nothing is built).
CMDS=$(cd "$ROOT" && make -n -B SAN=0 CPPFLAGS=-DPKG_CPPFLAGS_MARK LDFLAGS=-Wl,--pkg-ldflags-mark all 2>&1)
ok "make -n lists the compile lines" test "$(printf '%s\n' "$CMDS" | grep -c ' -c ')" -gt 40
ok "every compile line carries CPPFLAGS" eq "$(printf '%s\n' "$CMDS" | grep ' -c ' | grep -vc PKG_CPPFLAGS_MARK)" 0
for bin in idp/idp idp/idpctl plugins/file/file.so plugins/oidc/oidc.so rp/librp.so; do
	ok "the link of $bin carries LDFLAGS" sh -c 'printf "%s\n" "$1" | grep -- "-o \(\./\)\?$2 " | grep -q pkg-ldflags-mark' - "$CMDS" "$bin"
done

# ---- man pages ----
for m in man8/idp.8 man8/idpctl.8 man5/idp.json.5 man3/librp.3; do
	W=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$P/share/man/$m" 2>&1)
	ok "$m renders without a warning" eq "$W" ""
	W=$(MANWIDTH=80 man --warnings -l "$P/share/man/$m" 2>&1 >/dev/null)
	ok "man -l $m: no warning" eq "$W" ""
done
# Every setting the code accepts (config.c's lists, the store drivers', the
# plugins') has its entry in idp.json(5).
ok "idp.json(5) names every setting the code accepts" python3 - "$ROOT" "$P/share/man/man5/idp.json.5" <<'PY'
import re, sys
root, man = sys.argv[1], open(sys.argv[2]).read()
keys = set()
for f in ["idp/base/config.c", "idp/base/config_clients.c", "plugins/oidc/oidc.c", "plugins/ldap/ldap.c"]:
    for name, block in re.findall(r"static const char \*const (\w+)\[\]\s*=\s*\{(.*?)NULL\}", open(root + "/" + f).read(), re.S):
        if name not in ("reserved", "technical", "langs"):  # claim names and languages, not settings
            keys |= set(re.findall(r'"([a-z_]+)"', block))
for f in ["idp/store/store_redis.c", "idp/store/store_memory.c"]:
    keys |= set(re.findall(r'strcmp\(k, "([a-z_]+)"\)', open(root + "/" + f).read()))
missing = sorted(k for k in keys if not re.search(r"^\.BR?\b.*\b%s\b" % re.escape(k), man, re.M))
if missing or len(keys) < 60:
    print("  missing from idp.json(5): %s (%d settings found)" % (missing, len(keys)), file=sys.stderr)
    sys.exit(1)
PY

# ---- the systemd unit ----
UNIT="$P/lib/systemd/system/idp.service"
for d in 'User=idp' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'CapabilityBoundingSet=' \
	'SystemCallFilter=@system-service' 'LimitCORE=0' 'StateDirectory=idp' \
	'ExecReload=/bin/kill -HUP $MAINPID' 'Environment=GLIBC_TUNABLES=glibc.malloc.tcache_count=128' \
	'ExecStart=/usr/local/sbin/idp --config /etc/idp/idp.json'; do
	ok "unit has $d" grep -qxF "$d" "$UNIT"
done
if command -v systemd-analyze >/dev/null 2>&1; then
	# verify needs no running systemd (it works in a container whose PID 1 is
	# not systemd); it checks that ExecStart exists and that each
	# Documentation= man page opens: the copy points ExecStart into DESTDIR,
	# and MANPATH at the installed pages.
	mkdir -p "$TMP/unit"
	sed "s#^ExecStart=/usr/local/#ExecStart=$P/#" "$UNIT" >"$TMP/unit/idp.service"
	W=$(MANPATH="$P/share/man" systemd-analyze verify "$TMP/unit/idp.service" 2>&1); RC=$?
	ok "systemd-analyze verify: the unit is valid" eq "$RC" 0
	ok "systemd-analyze verify: nothing to say" eq "$W" ""
	# Exposure on systemd's 0-10 scale, at most 2.0 ("OK"; 1.4 when written).
	W=$(systemd-analyze security --offline=yes --threshold=20 "$TMP/unit/idp.service" 2>&1); RC=$?
	ok "systemd-analyze security: exposure at most 2.0" eq "$RC" 0
	[ "$RC" -eq 0 ] || printf '%s\n' "$W" | grep -E '✗|Overall' >&2
	# The unit's user, from the installed sysusers file, in DESTDIR's own /etc.
	touch "$DEST/etc/passwd" "$DEST/etc/group"
	systemd-sysusers --root="$DEST" >/dev/null 2>&1
	ok "systemd-sysusers makes the user idp from the installed file" grep -q '^idp:x:[0-9]*:[0-9]*:.*:/var/lib/idp:' "$DEST/etc/passwd"
else
	echo "SKIP: systemd-analyze is not installed (Debian package systemd): the unit is not verified" >&2
fi

# ---- the installed daemon, from DESTDIR, with the installed example ----
PORT=$(free_port)
MPORT=$(free_port)
"$P/sbin/idpctl" --keys-dir "$TMP/keys" keys init >"$TMP/keys.log" 2>&1
ok "installed idpctl makes keys" eq "$?" 0
printf '%s\n' 'Marianne-2026!' | "$P/sbin/idpctl" --users "$TMP/users.json" users add marianne \
	--claims '{"given_name":"Marianne","family_name":"Dupont"}' >/dev/null 2>&1
ok "installed idpctl adds a citizen" test -s "$TMP/users.json"
SECRET=$("$P/sbin/idpctl" clients new-secret | sed -n 's/^client_secret (.*: //p')
HASH=$(printf '%s\n' "$SECRET" | "$P/sbin/idpctl" clients hash-secret | sed -n 's/^client_secret_sha256 .*: //p')
python3 - "$DEST/etc/idp/idp.json" "$TMP/idp.json" "$TMP" "$DEST" "$PORT" "$MPORT" "$HASH" <<'PY'
import json, secrets, sys
src, dst, tmp, dest, port, mport, hash = sys.argv[1:8]
c = json.load(open(src))
c["issuer"] = "http://127.0.0.1:" + port
c["listen"]["port"] = int(port)
c["listen"]["connection_limit"] = 256
c["metrics"]["listen"] = "127.0.0.1:" + mport
c["keys_dir"] = tmp + "/keys"
c["plugin_dir"] = dest + c["plugin_dir"]        # the installed paths, under DESTDIR
c["templates_dir"] = dest + c["templates_dir"]
c["store"] = {"driver": "memory"}
c["pairwise_secret"] = secrets.token_hex(32)
c["backends"][0]["users"] = tmp + "/users.json"
c["clients"] = [{"client_id": "portal", "client_secret_sha256": hash,
                 "redirect_uris": ["http://127.0.0.1:9/callback"]}]
json.dump(c, open(dst, "w"), indent=1)
PY
# Under strace when it is there: every system call of a start, a login, a
# reload and a stop must pass the unit's SystemCallFilter.
TRACE=""
if command -v systemd-analyze >/dev/null 2>&1 && strace -f -qq -o /dev/null true 2>/dev/null; then
	# LeakSanitizer cannot run under ptrace; the other suites look for leaks.
	# The busiest calls are left out of the trace (--seccomp-bpf then stops
	# the daemon only for the others): the check below counts them as used.
	BUSY=futex,mmap,munmap,madvise,mprotect,brk,read,write,epoll_wait,clock_nanosleep
	TRACE="env ASAN_OPTIONS=${ASAN_OPTIONS}:detect_leaks=0 strace -f -qq --seccomp-bpf -e trace=!$BUSY -o $TMP/strace.log"
else
	echo "SKIP: strace (or ptrace here) or systemd-analyze missing: the daemon's system calls are not checked against the unit" >&2
fi
$TRACE "$P/sbin/idp" --config "$TMP/idp.json" --port-file "$TMP/port" >>"$TMP/idp.log" 2>&1 &
IDP_PID=$!
PIDS="$PIDS $IDP_PID"
IDP="http://127.0.0.1:$PORT"
if wait_for 300 test -s "$TMP/port"; then
	ok "installed daemon: /healthz answers ok" eq "$(curl -s --max-time 5 "$IDP/healthz")" ok
	full_login portal "$SECRET" http://127.0.0.1:9/callback
	ok "installed daemon: a full login gets an ID token" contains "$TOK" '"id_token":"ey'
	ok "installed daemon: metrics on their own listener" contains \
		"$(curl -s --max-time 5 "http://127.0.0.1:$MPORT/metrics")" 'idp_logins_total{result="success"} 1'
	DPID=$(cat /proc/"$IDP_PID"/task/*/children 2>/dev/null | tr -s ' ' '\n' | grep -m1 .)
	[ -n "$TRACE" ] && [ -n "$DPID" ] || DPID=$IDP_PID
	# MemoryDenyWriteExecute=yes: no mapping may be writable and executable.
	ok "installed daemon: no writable and executable memory" eq "$(grep -c '^[^ ]* rwx' "/proc/$DPID/maps")" 0
	kill -HUP "$DPID"
	ok "installed daemon: reloads on SIGHUP" wait_for 50 grep -q "reload (SIGHUP): configuration and keys reloaded" "$TMP/idp.log"
	kill "$DPID"
	wait_for 100 sh -c '! kill -0 "$1"' - "$IDP_PID"
	ok "installed daemon: stops on SIGTERM" grep -q stopping "$TMP/idp.log"
else
	ok "installed daemon starts" false
	cat "$TMP/idp.log" >&2
fi
if [ -n "$TRACE" ] && [ -s "$TMP/strace.log" ]; then
	ok "every system call made is allowed by the unit's SystemCallFilter" python3 - "$TMP/strace.log" "$UNIT" "$BUSY" <<'PY'
import re, subprocess, sys
def members(group):
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        line = line.strip()
        if line.startswith("@"):
            names |= members(line)
        elif line and not line.startswith("#"):
            names.add(line)
    return names
allowed = set()
for line in open(sys.argv[2]):
    if line.startswith("SystemCallFilter="):
        v = line.split("=", 1)[1].split()
        if v[0].startswith("~"):
            allowed -= set().union(*(members(g.lstrip("~")) for g in v))
        else:
            allowed |= set().union(*(members(g) for g in v))
used = set(sys.argv[3].split(","))
for line in open(sys.argv[1]):
    m = re.match(r"\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]", line)
    if m and m.group(1) not in ("exited", "killed", "resumed"):
        used.add(m.group(1))
# The sanitizers' runtime makes calls the daemon does not: names only what it adds.
san = {"personality", "sigaltstack", "readlink", "sched_yield"}
bad = sorted(used - allowed - san)
if bad or len(used) < 20:
    print("  outside the filter: %s (%d calls seen)" % (bad, len(used)), file=sys.stderr)
    sys.exit(1)
PY
fi

# ---- contrib/grafana-idp.json ----
ok "the dashboard queries name only metrics the daemon serves" python3 - "$ROOT/contrib/grafana-idp.json" \
	"$ROOT/idp/base/metrics.c" "$ROOT/idp/metrics_http.c" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
served = set(re.findall(r"\bidp_[a-z_]+", open(sys.argv[2]).read() + open(sys.argv[3]).read()))
exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
exprs += [v["query"]["query"] for v in d["templating"]["list"] if v["type"] == "query"]
bad = 0
for e in exprs:
    names = set(re.findall(r"\bidp_[a-z_]+", e))
    if not names or names - served:
        print("  %s: names %s" % (e, sorted(names - served) or "no idp metric"), file=sys.stderr)
        bad += 1
panels = [p for p in d["panels"] if p["type"] != "row"]
if any(not p.get("targets") for p in panels) or len(exprs) < 10:
    print("  a panel without a query, or too few queries", file=sys.stderr)
    bad += 1
sys.exit(1 if bad else 0)
PY
done_tests
