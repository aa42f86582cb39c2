"""The commands a provider sent to Redis, read from `redis-cli monitor`'s
output, for the round-trip counts of t_roundtrips.sh and bench/run.sh: one
reading of its lines, and one definition of what is no request's round trip.

  sys.path.insert(0, "tests/integration"); import redis_monitor
  for t, cmd, arg in redis_monitor.commands(path): ...
"""
import re

LINE = re.compile(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] "([A-Za-z]+)"(?: "([^"]*)")?')
# A node's heartbeat (K_NODE, K_NODES in idp/idp.h), under any key prefix:
# written by the node's own thread every few seconds, by no request.
HEARTBEAT = re.compile(r'^(?:[^:]*:)?(?:nodes$|node:)')


def commands(path):
    """(time, COMMAND, first argument or "") of each command the provider
    sent itself: neither those a Lua script ran (inside one round trip) nor
    the heartbeat's."""
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if not m or m.group(2) == "lua":
            continue
        arg = m.group(4) or ""
        if HEARTBEAT.match(arg):
            continue
        yield float(m.group(1)), m.group(3).upper(), arg
