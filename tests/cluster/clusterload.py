#!/usr/bin/env python3
"""Load for t_cluster.sh: full logins (authorize, login form, consent, token)
and SSO logins at a second service with the session just made, through the
load balancer, for a fixed time; every HTTP request's outcome is logged with
its time, so that the test counts the failures around each event it causes.
At the end every session made is checked: an /authorize with its cookie must
still find it.

bench/loadgen.c measures throughput and keeps counts only; this test needs
each request's time and each session's cookie, hence this small driver.

  clusterload.py HOST PORT SECONDS VUS LOG CONF
CONF (JSON): user, password, clients [[id, secret, redirect], [id, secret, redirect]].
LOG gets one JSON line per request: {"t", "d" (seconds it took), "vu", "step", "status", "ok"},
and one {"client_retry": true} for each request sent again on a new connection;
then one per session checked: {"t": created, "session": "alive"|"lost"}."""
import base64
import hashlib
import http.client
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse

HOST, PORT, SECONDS, VUS, LOG, CONF = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
C = json.load(open(CONF))
lock = threading.Lock()
out = open(LOG, "w")
sessions = []  # (created, cookie header)


def log(**kv):
    with lock:
        out.write(json.dumps(kv) + "\n")


def field(body, name):
    m = re.search(r'name="%s" value="([^"]*)"' % re.escape(name), body)
    return m.group(1) if m else None


class Flow(Exception):
    pass


class VU:
    def __init__(self, n):
        self.n = n
        self.conn = None
        self.jar = {}

    def request(self, step, method, path, body=None, headers=None, jar=True):
        h = dict(headers or {})
        if jar and self.jar:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.jar.items())
        if body is not None:
            body = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        t = time.time()
        for attempt in (1, 2):
            reused = self.conn is not None
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, PORT, timeout=15)
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read().decode("utf-8", "replace")
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                break
            except (OSError, http.client.HTTPException) as e:
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                # A kept-alive connection closed without a byte of answer: the
                # balancer's way (HAProxy) of saying "not processed, retry",
                # which browsers do once on a new connection; so does this.
                if attempt == 1 and reused and isinstance(e, (http.client.RemoteDisconnected, ConnectionResetError)):
                    log(t=t, d=time.time() - t, vu=self.n, step=step, status=0, ok=True, client_retry=True)
                    continue
                log(t=t, d=time.time() - t, vu=self.n, step=step, status=0, ok=False, why=type(e).__name__)
                raise Flow(step)
        for v in r.headers.get_all("Set-Cookie") or []:
            nv = v.split(";", 1)[0]
            if "=" in nv:
                k, val = nv.split("=", 1)
                if val:
                    self.jar[k.strip()] = val
                else:
                    self.jar.pop(k.strip(), None)
        self.took = time.time() - t
        return t, r.status, r.getheader("Location") or "", data

    def expect(self, step, res, good):
        t, status, loc, data = res
        ok = good(status, loc, data)
        if ok:
            log(t=t, d=self.took, vu=self.n, step=step, status=status, ok=ok)
        else:  # where a failed step was sent (an error redirect says why; a code is cut off)
            log(t=t, d=self.took, vu=self.n, step=step, status=status, ok=ok, loc=loc.split("code=")[0][:300])
        if not ok:
            raise Flow(step)
        return res

    def authorize(self, client, step):
        v = secrets.token_urlsafe(48)
        ch = base64.urlsafe_b64encode(hashlib.sha256(v.encode()).digest()).rstrip(b"=").decode()
        q = urllib.parse.urlencode({"response_type": "code", "client_id": client[0], "redirect_uri": client[2],
                                    "scope": "openid profile email", "state": "st4te",
                                    "nonce": secrets.token_urlsafe(16), "code_challenge": ch,
                                    "code_challenge_method": "S256"})
        return v, self.request(step, "GET", "/authorize?" + q)

    def finish(self, client, v, res, step):
        """From a consent page or a redirect with a code to the token."""
        t, status, loc, data = res
        if status == 200 and 'action="/consent"' in data:
            res = self.expect(step + ":consent", self.request(step + ":consent", "POST", "/consent",
                                                               {"txn": field(data, "txn"), "csrf": field(data, "csrf"),
                                                                "decision": "accept"}),
                              lambda s, l, d: s in (302, 303) and "code=" in l)
            loc = res[2]
        code = urllib.parse.parse_qs(urllib.parse.urlparse(loc).query).get("code", [""])[0]
        auth = base64.b64encode(("%s:%s" % (client[0], client[1])).encode()).decode()
        self.expect(step + ":token", self.request(step + ":token", "POST", "/token",
                                                  {"grant_type": "authorization_code", "code": code,
                                                   "redirect_uri": client[2], "code_verifier": v},
                                                  {"Authorization": "Basic " + auth}, jar=False),
                    lambda s, l, d: s == 200 and '"id_token"' in d)

    def full_login(self):
        self.jar = {}
        c1 = C["clients"][0]
        v, res = self.authorize(c1, "authorize")
        self.expect("authorize", res, lambda s, l, d: s == 200 and field(d, "txn") is not None)
        data = res[3]
        res = self.expect("login", self.request("login", "POST", "/login",
                                                {"txn": field(data, "txn"), "csrf": field(data, "csrf"),
                                                 "username": C["user"], "password": C["password"]}),
                          lambda s, l, d: (s == 200 and 'action="/consent"' in d) or (s in (302, 303) and "code=" in l))
        with lock:
            sessions.append((res[0], dict(self.jar)))
        self.finish(c1, v, res, "login")

    def sso_login(self):
        c2 = C["clients"][1]
        v, res = self.authorize(c2, "sso")
        self.expect("sso", res, lambda s, l, d: alive(s, l, d))
        self.finish(c2, v, res, "sso")

    def run(self, end):
        while time.time() < end:
            try:
                self.full_login()
                self.sso_login()
            except Flow:
                time.sleep(0.05)  # a failed step: the next login starts afresh


def alive(status, loc, data):
    """/authorize with a session: a code, or the consent page of a new service."""
    return status in (302, 303) and "code=" in loc or status == 200 and 'action="/consent"' in data


def check(vu, jar):
    """A session is alive when /authorize with its cookie does not ask for a password."""
    vu.jar = jar
    try:
        _, res = vu.authorize(C["clients"][1], "check")
    except Flow:
        return "unknown"
    t, status, loc, data = res
    if alive(status, loc, data):
        return "alive"
    return "lost" if status == 200 and 'name="password"' in data else "unknown"


def main():
    end = time.time() + SECONDS
    ts = [threading.Thread(target=VU(i).run, args=(end,)) for i in range(VUS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    vu = VU(-1)
    for created, jar in sessions:
        log(t=created, session=check(vu, jar))
    out.close()


main()
