"""The commands a provider sent to Redis, read from `redis-cli monitor`'s
output, for the round-trip counts of t_roundtrips.sh and bench/run.sh: one
reading of its lines, and one definition of what is no request's round trip.

  sys.path.insert(0, "tests/integration"); import redis_monitor
  for t, cmd, arg in redis_monitor.commands(path): ...
"""
import re

LINE = re.compile(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] "([A-Za-z]+)"(?: "([^"]*)")?')
# What a node's own threads write every few seconds, by no request, under any
# key prefix: its heartbeat (K_NODE, K_NODES in idp/idp.h) and the
# back-channel logout sweeper's reads of its buckets and of what sessions
# recorded (bcx:, bcl:) by their first key; the usage counters (idpctl stats
# --events), a script whose first key is stats:HOUR:event:..., by the line.
BACKGROUND_KEY = re.compile(r'^(?:[^:]*:)?(?:nodes$|node:|bcx:|bcl:)')
BACKGROUND_LINE = re.compile(r'"EVALSHA" "[^"]*" "\d+" "(?:[^":]*:)?stats:\d+:event:')


def commands(path):
    """(time, COMMAND, first argument or "") of each command the provider
    sent itself: neither those a Lua script ran (inside one round trip) nor
    a node's own threads' (BACKGROUND_KEY, BACKGROUND_LINE)."""
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m or m.group(2) == "lua":
            continue
        arg = m.group(4) or ""
        if BACKGROUND_KEY.match(arg) or BACKGROUND_LINE.search(line):
            continue
        yield float(m.group(1)), m.group(3).upper(), arg
