"""conf.py CONFIG PORT STORE-JSON [EXTRA-JSON]: the node configuration of the
cluster scripts, edited in place: the issuer at PORT (the balancer's or the
node's), one loop thread, the store settings merged in, and the per-address
and per-user limits lifted (all the load comes from one address and one
citizen); EXTRA's top-level keys merged last."""
import json
import sys

path, port, store = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
c = json.load(open(path))
c["issuer"] = "http://127.0.0.1:%s" % port
c["listen"]["threads"] = 1
c["store"].update(store)
limits = c.setdefault("rate_limits", {})
for k in ("transactions_per_ip_per_minute", "login_failures_per_ip_per_minute", "login_failures_per_user_per_15min"):
    limits[k] = 1000000
for k, v in extra.items():
    if isinstance(v, dict):
        c.setdefault(k, {}).update(v)
    else:
        c[k] = v
json.dump(c, open(path, "w"), indent=1)
