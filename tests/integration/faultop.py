#!/usr/bin/env python3
# An upstream OpenID provider that misbehaves on demand, for the hub's
# fault tests. It logs every citizen in at once (no form) and signs RS256 ID
# tokens; a test switches its behaviour between logins:
#
#   python3 faultop.py PORT_FILE NAME      writes http://127.0.0.1:PORT when ready
#   curl $OP/_mode -d fault=bad_sig -d acr=eidas1
#
# fault: none | bad_sig (signed with a key not in its JWKS) | wrong_iss |
#        wrong_aud | no_nonce | replay_nonce (the first login's nonce) |
#        error (the callback carries error=access_denied)
# acr:   the acr claim of the ID token; "-" leaves it out.
# NAME becomes the citizen's given_name and part of the subject, so two
# instances tell their citizens apart.
import base64
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

port_file, name = sys.argv[1], sys.argv[2]
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = "k1"
lock = threading.Lock()
mode = {"fault": "none", "acr": "eidas2"}
codes = {}
first_nonce = []


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def uint(n):
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def sign(claims, key):
    head = b64(json.dumps({"alg": "RS256", "kid": KID, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(sig)}"


def identity():
    return {"given_name": name, "family_name": "Martin", "birthdate": "1985-03-02",
            "gender": "male", "birthplace": "69123", "birthcountry": "99100",
            "email": f"{name.lower()}@example.fr"}


class H(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("faultop: " + (fmt % args) + "\n")

    def send(self, status, body, ctype="application/json", headers=()):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        return dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        if u.path == "/.well-known/openid-configuration":
            self.send(200, json.dumps({
                "issuer": ISS, "authorization_endpoint": ISS + "/authorize",
                "token_endpoint": ISS + "/token", "userinfo_endpoint": ISS + "/userinfo",
                "jwks_uri": ISS + "/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"]}))
        elif u.path == "/jwks":
            pub = KEY.public_key().public_numbers()
            self.send(200, json.dumps({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256",
                                                  "n": uint(pub.n), "e": uint(pub.e)}]}))
        elif u.path == "/authorize":
            with lock:
                fault = mode["fault"]
                if not first_nonce and "nonce" in q:
                    first_nonce.append(q["nonce"])
            back = q.get("redirect_uri", "")
            sep = "&" if "?" in back else "?"
            if fault == "error":
                loc = back + sep + urllib.parse.urlencode(
                    {"error": "access_denied", "error_description": "the citizen cancelled",
                     "state": q.get("state", ""), "iss": ISS})
            else:
                code = secrets.token_urlsafe(16)
                with lock:
                    codes[code] = q
                loc = back + sep + urllib.parse.urlencode({"code": code, "state": q.get("state", ""), "iss": ISS})
            self.send(302, "", "text/plain", [("Location", loc)])
        elif u.path == "/userinfo":
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer at-"):
                self.send(401, '{"error":"invalid_token"}')
                return
            self.send(200, json.dumps(dict(identity(), sub="citizen-" + name.lower())))
        else:
            self.send(404, '{"error":"not_found"}')

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        f = self.form()
        if u.path == "/_mode":
            with lock:
                mode["fault"] = f.get("fault", "none")
                mode["acr"] = f.get("acr", "eidas2")
            self.send(200, json.dumps(mode))
            return
        if u.path != "/token":
            self.send(404, '{"error":"not_found"}')
            return
        with lock:
            req = codes.pop(f.get("code", ""), None)
            fault, acr = mode["fault"], mode["acr"]
            replay = first_nonce[0] if first_nonce else "none"
        if req is None:
            self.send(400, '{"error":"invalid_grant"}')
            return
        now = int(time.time())
        claims = {"iss": ISS, "sub": "citizen-" + name.lower(), "aud": req.get("client_id", ""),
                  "iat": now, "exp": now + 300, "nonce": req.get("nonce", "")}
        if acr != "-":
            claims["acr"] = acr
        key = KEY
        if fault == "bad_sig":
            key = OTHER
        elif fault == "wrong_iss":
            claims["iss"] = "http://127.0.0.1:1"
        elif fault == "wrong_aud":
            claims["aud"] = "another-client"
        elif fault == "no_nonce":
            del claims["nonce"]
        elif fault == "replay_nonce":
            claims["nonce"] = replay
        claims.update(identity())
        self.send(200, json.dumps({"access_token": "at-" + secrets.token_urlsafe(16), "token_type": "Bearer",
                                   "expires_in": 300, "id_token": sign(claims, key)}))


srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.daemon_threads = True
ISS = f"http://127.0.0.1:{srv.server_address[1]}"
with open(port_file + ".tmp", "w") as fh:
    fh.write(ISS)
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
