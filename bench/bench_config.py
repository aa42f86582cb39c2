# bench's configuration for a tree: its conf/demo.json with the bench's
# clients (secret: CLIENT_ID-secret-0123456789abcdef), codes that live 600 s
# (minted before the timed part), the production log level, one file backend.
# Shared by run.sh and instructions.sh; the latter runs it on older trees,
# so a rate-limit key is set only where the tree's source knows it.
#   python3 bench_config.py TREE OUT STORE RPORT EXTRA THREADS KEYS_DIR USERS full|minimal
import hashlib
import json
import os
import sys

root, out, store, rport, extra, threads, keys_dir, users, clients = sys.argv[1:10]
src = ""
for d, _, fs in os.walk(root + "/idp"):
    for f in fs:
        if f.endswith(".c"):
            src += open(os.path.join(d, f), errors="replace").read()


def strip(o):
    if isinstance(o, dict):
        return {k: strip(v) for k, v in o.items() if not k.startswith("_comment")}
    if isinstance(o, list):
        return [strip(v) for v in o]
    return o


c = strip(json.load(open(root + "/conf/demo.json")))
c["demo"] = False
c["issuer"] = "http://127.0.0.1:PORT"
c["keys_dir"] = keys_dir
c["templates_dir"] = root + "/templates"
# One backend: the file plugin (what the password and SSO figures measure).
c["backends"] = [{"id": "local", "plugin": "file", "title": "Bench", "acr": "eidas1", "users": users}]
c["log_level"] = "info"
c.setdefault("listen", {})["threads"] = int(threads)
c.setdefault("tokens", {})["code_ttl_s"] = 600
# Every load comes from 127.0.0.1: the per-address limits (protections for
# the public) would count the whole bench as one citizen; attempts are counted
# while in flight, and the bench's users log in as one citizen many at once.
for k in ("transactions_per_ip_per_minute", "login_failures_per_ip_per_minute",
          "login_failures_per_user_per_15min"):
    if '"%s"' % k in src:
        c.setdefault("rate_limits", {})[k] = 1000000
c["store"] = ({"driver": "memory"} if store == "memory" else
              {"driver": "redis", "socket": rport, "prefix": "bench:"} if store == "redis-unix" else
              {"driver": "redis", "host": "127.0.0.1", "port": int(rport), "prefix": "bench:"})


def client(cid, alg, grants):
    return {"client_id": cid, "client_name": "Bench " + cid,
            "client_secret_sha256": hashlib.sha256((cid + "-secret-0123456789abcdef").encode()).hexdigest(),
            "redirect_uris": ["http://127.0.0.1:9/" + cid + "/callback"],
            "post_logout_redirect_uris": ["http://127.0.0.1:9/" + cid + "/"],
            "sector_identifier": cid + ".bench",
            "token_endpoint_auth_methods": ["client_secret_basic"],
            "grant_types": grants, "id_token_signed_response_alg": alg,
            **({"scopes": ["openid", "profile", "email", "api"]} if "client_credentials" in grants else {})}


if clients == "minimal":
    c["clients"] = [client("bench-es", "ES256", ["authorization_code"]),
                    client("bench-sso", "ES256", ["authorization_code"]),
                    client("bench-cc-es", "ES256", ["client_credentials"])]
else:
    c["clients"] = [client("bench-es", "ES256", ["authorization_code"]),
                    client("bench-rs", "RS256", ["authorization_code"]),
                    client("bench-sso", "ES256", ["authorization_code"]),
                    client("bench-consent", "ES256", ["authorization_code"]),
                    client("bench-cc-es", "ES256", ["client_credentials"]),
                    client("bench-cc-rs", "RS256", ["client_credentials"]),
                    # a data provider (issue 17): introspects the services' tokens
                    {"client_id": "bench-dp", "client_name": "Bench data provider", "role": "data_provider",
                     "scopes_served": ["identite_pivot"],
                     "client_secret_sha256": hashlib.sha256(b"bench-dp-secret-0123456789abcdef").hexdigest()}]
for i in range(int(extra)):
    c["clients"].append(client("bench-x%05d" % i, "ES256" if i % 2 else "RS256",
                               ["authorization_code", "client_credentials"]))
json.dump(c, open(out, "w"), indent=1)
