#!/bin/sh
# Services that authenticate with a key (private_key_jwt, RFC 7523 and OpenID
# Core 9) and get their ID token and userinfo encrypted to them (nested JWTs,
# OpenID Core 10.2), checked with python3-authlib, which nobody here wrote:
# authlib's own PrivateKeyJWT logs in, its JWE and JWS decrypt and verify;
# so does openid-client (node), and librp (rp_interop --keys).
# Hostile assertions (replayed jti, another key, alg none, HS256 with the
# secret, expired, far future, wrong aud...) are refused with invalid_client.
# One client has its keys inline, the other behind a jwks_uri served here,
# whose fetches are counted (a kid it lacks fetches again, rate-limited).
. "$(dirname "$0")/lib.sh"
authlib_python
setup_tmp
JW_PORT=$(free_port)
mkdir -p "$TMP/www"

# The services' key pairs; the public halves go into the configuration
# (inline for pk-rsa, through the jwks_uri for pk-ec). "other" is nobody's.
$PY - "$TMP" "$JW_PORT" <<'PY' || exit 1
import hashlib, json, sys
from authlib.jose import JsonWebKey
tmp, port = sys.argv[1:3]
def gen(kty, crv_or_size, kid, use):
    k = JsonWebKey.generate_key(kty, crv_or_size, is_private=True)
    d = k.as_dict(is_private=True)
    d.update(kid=kid, use=use)
    return d
priv = {n: gen(*a) for n, a in {
    "ec-sig": ("EC", "P-256", "ec-sig", "sig"), "rsa-sig": ("RSA", 2048, "rsa-sig", "sig"),
    "rsa-enc": ("RSA", 2048, "rsa-enc", "enc"), "ec-enc": ("EC", "P-256", "ec-enc", "enc"),
    "ec2-sig": ("EC", "P-256", "ec2-sig", "sig"), "other": ("EC", "P-256", "ec-sig", "sig")}.items()}
json.dump(priv, open(tmp + "/priv.json", "w"))
pub = lambda n: {k: v for k, v in priv[n].items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
json.dump({"keys": [pub("ec-sig"), pub("ec-enc")]}, open(tmp + "/www/jwks.json", "w"))
json.dump({"keys": [pub("ec-sig"), pub("ec-enc"), pub("ec2-sig")]}, open(tmp + "/jwks2.json", "w"))
sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
common = {"redirect_uris": ["http://127.0.0.1:8091/cb"], "first_party": True, "subject_type": "public"}
clients = [
    dict(common, client_id="pk-rsa", client_secret_sha256=sha("pk-rsa-secret-0123456789"),
         token_endpoint_auth_methods=["private_key_jwt"], id_token_signed_response_alg="ES256",
         jwks={"keys": [pub("ec-sig"), pub("rsa-sig"), pub("rsa-enc")]},
         id_token_encrypted_response_alg="RSA-OAEP-256", id_token_encrypted_response_enc="A256GCM",
         userinfo_encrypted_response_alg="RSA-OAEP-256"),
    dict(common, client_id="pk-ec", client_secret_sha256=sha("pk-ec-secret-0123456789"),
         token_endpoint_auth_methods=["private_key_jwt", "client_secret_basic"],
         jwks_uri="http://127.0.0.1:%s/jwks.json" % port,
         id_token_encrypted_response_alg="ECDH-ES", userinfo_encrypted_response_alg="ECDH-ES"),
]
json.dump({"clients+": clients}, open(tmp + "/extra.json", "w"))
PY

# The pk-ec service's jwks_uri: every GET counted in hits.log.
cat >"$TMP/jwks_server.py" <<'PY'
import http.server, sys, time
root, port = sys.argv[1:3]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=root, **k)
    def do_GET(self):
        open(root + "/../hits.log", "a").write("%f\n" % time.time())
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
PY
$PY "$TMP/jwks_server.py" "$TMP/www" "$JW_PORT" &
PIDS="$PIDS $!"
wait_for 50 curl -sf "http://127.0.0.1:$JW_PORT/jwks.json" || { echo "the jwks server did not start" >&2; exit 1; }
: >"$TMP/hits.log"

STORE=${STORE:-memory}
start_idp "$STORE"

cat >"$TMP/check.py" <<'PY'
"""Prints 'PASS name' or 'FAIL name: why' per check."""
import base64, json, os, shutil, sys, time, urllib.parse, uuid
from authlib_common import Checks, forms_of
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebEncryption, JsonWebKey, JsonWebSignature, JsonWebToken
from authlib.oauth2.rfc7523 import PrivateKeyJWT

issuer, tmp = sys.argv[1:3]
priv = json.load(open(tmp + "/priv.json"))
TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
RED = "http://127.0.0.1:8091/cb"
T = 15


check = Checks().check


def key(n):
    return JsonWebKey.import_key(priv[n])


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def assertion(client, keyname="ec-sig", alg="ES256", kid=True, **over):
    now = int(time.time())
    c = {"iss": client, "sub": client, "aud": issuer + "/token", "jti": str(uuid.uuid4()), "exp": now + 60, "iat": now}
    c.update(over)
    c = {k: v for k, v in c.items() if v is not None}
    h = {"alg": alg}
    if kid:
        h["kid"] = priv[keyname]["kid"]
    k = JsonWebKey.import_key({n: v for n, v in priv[keyname].items() if n != "use"})  # any key may sign here
    return JsonWebSignature(algorithms=[alg]).serialize_compact(h, json.dumps(c).encode(), k).decode()


def revoke(client, a, **kw):
    data = {"token": "not-a-token", "client_assertion_type": TYPE, "client_assertion": a, "client_id": client}
    data.update(kw.pop("data", {}))
    r = requests.post(issuer + "/revoke", data={k: v for k, v in data.items() if v is not None}, timeout=T, **kw)
    try:
        err = r.json().get("error")
    except ValueError:
        err = None
    return r.status_code, err


def code_for(client):
    """Authorize and log marianne in (first-party client: no consent); the code and verifier."""
    v = generate_token(64)
    sess = OAuth2Session(client, scope="openid profile email", redirect_uri=RED, code_challenge_method="S256")
    url, state = sess.create_authorization_url(issuer + "/authorize", code_verifier=v, nonce=generate_token(32))
    b = requests.Session()
    resp = b.get(url, allow_redirects=False, timeout=T)
    for _ in range(3):
        if resp.status_code in (302, 303):
            break
        f = forms_of(resp.text)[0]
        data = dict(f["fields"], username="marianne", password="Marianne-2026!")
        resp = b.post(urllib.parse.urljoin(resp.url, f["action"]), data=data, allow_redirects=False, timeout=T)
    loc = resp.headers.get("Location", "")
    code_for.nonce = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)["nonce"][0]
    return urllib.parse.parse_qs(urllib.parse.urlparse(loc).query).get("code", [None])[0], v, loc, state


op_keys = JsonWebKey.import_key_set(requests.get(issuer + "/jwks", timeout=T).json())
JWT = JsonWebToken(["ES256", "RS256"])


def open_nested(name, tok, client, enckey, alg):
    """A nested JWT: decrypted with the service's key, then the OP's signature verified."""
    if not check("%s: is a JWE (5 parts)" % name, tok.count(".") == 4, tok[:80]):
        return None
    jwe = JsonWebEncryption().deserialize_compact(tok, key(enckey))
    h = jwe["header"]
    check("%s: header alg %s, enc A256GCM, cty JWT, kid %s" % (name, alg, enckey),
          h.get("alg") == alg and h.get("enc") == "A256GCM" and h.get("cty") == "JWT" and h.get("kid") == enckey, h)
    claims = JWT.decode(jwe["payload"], op_keys)
    claims.validate()
    check("%s: inner JWS verified, iss and aud" % name, claims["iss"] == issuer and claims["aud"] == client, claims)
    return claims


# Discovery.
d = requests.get(issuer + "/.well-known/openid-configuration", timeout=T).json()
check("discovery: private_key_jwt at /token, /introspect, /revoke",
      all("private_key_jwt" in d.get(m + "_endpoint_auth_methods_supported", []) for m in ("token", "introspection", "revocation")), d)
check("discovery: assertion algs ES256 PS256 RS256",
      sorted(d.get("token_endpoint_auth_signing_alg_values_supported", [])) == ["ES256", "PS256", "RS256"], d)
check("discovery: encryption algs and enc",
      sorted(d.get("id_token_encryption_alg_values_supported", [])) == ["ECDH-ES", "RSA-OAEP-256"]
      and d.get("id_token_encryption_enc_values_supported") == ["A256GCM"]
      and sorted(d.get("userinfo_encryption_alg_values_supported", [])) == ["ECDH-ES", "RSA-OAEP-256"], d)

# The first use of pk-ec fetches its jwks_uri (now: the refetch window of
# part 4 runs while the other checks do).
check("pk-ec: an ES256 assertion, keys from the jwks_uri", revoke("pk-ec", assertion("pk-ec")) == (200, None))

# 1. authlib's own client: PrivateKeyJWT (RS256) with the inline keys; an
# ID token and userinfo encrypted RSA-OAEP-256.
code, v, loc, state = code_for("pk-rsa")
check("pk-rsa: a code", code is not None, loc)
exp = int(time.time()) + 120  # authlib's default is an hour: more than the provider takes
s = OAuth2Session("pk-rsa", key("rsa-sig"), redirect_uri=RED,
                  token_endpoint_auth_method=PrivateKeyJWT(issuer + "/token", claims={"exp": exp}))
s.register_client_auth_method(PrivateKeyJWT(issuer + "/token", claims={"exp": exp}))
tok = s.fetch_token(issuer + "/token", authorization_response=loc, state=state, code_verifier=v, timeout=T)
check("pk-rsa: authlib PrivateKeyJWT RS256 gets tokens", "id_token" in tok and "access_token" in tok, tok)
c = open_nested("pk-rsa ID token", tok["id_token"], "pk-rsa", "rsa-enc", "RSA-OAEP-256")
r = requests.get(issuer + "/userinfo", headers={"Authorization": "Bearer " + tok["access_token"]}, timeout=T)
check("pk-rsa userinfo: application/jwt", r.headers.get("Content-Type", "").startswith("application/jwt"), r.headers)
u = open_nested("pk-rsa userinfo", r.text, "pk-rsa", "rsa-enc", "RSA-OAEP-256")
check("pk-rsa userinfo: the ID token's sub, the claims", u and c and u["sub"] == c["sub"] and u.get("given_name") == "Marianne", u)

# 2. ES256 and PS256 assertions by hand at /token (keys fetched from the jwks_uri for pk-ec).
code, v, loc, state = code_for("pk-ec")
a = assertion("pk-ec", "ec-sig", "ES256")
r = requests.post(issuer + "/token", data={"grant_type": "authorization_code", "code": code, "redirect_uri": RED,
                                           "code_verifier": v, "client_assertion_type": TYPE, "client_assertion": a}, timeout=T)
check("pk-ec: ES256 assertion gets tokens", r.status_code == 200, r.text)
tok = r.json()
c = open_nested("pk-ec ID token", tok.get("id_token", ""), "pk-ec", "ec-enc", "ECDH-ES")
r = requests.get(issuer + "/userinfo", headers={"Authorization": "Bearer " + tok.get("access_token", "")}, timeout=T)
u = open_nested("pk-ec userinfo", r.text, "pk-ec", "ec-enc", "ECDH-ES")
check("pk-ec userinfo: the ID token's sub", u and c and u["sub"] == c["sub"], u)
check("/revoke: a fresh ES256 assertion of pk-rsa", revoke("pk-rsa", assertion("pk-rsa", "ec-sig", "ES256")) == (200, None))
check("/revoke: a PS256 assertion", revoke("pk-rsa", assertion("pk-rsa", "rsa-sig", "PS256")) == (200, None))
check("/revoke: aud the issuer", revoke("pk-rsa", assertion("pk-rsa", "rsa-sig", "RS256", aud=issuer)) == (200, None))
check("/revoke: aud an array naming the token endpoint",
      revoke("pk-rsa", assertion("pk-rsa", aud=["https://elsewhere.example", issuer + "/token"])) == (200, None))
check("/revoke: no kid, the key found by trying", revoke("pk-rsa", assertion("pk-rsa", kid=False)) == (200, None))

# 3. Hostile assertions: 401 invalid_client, each.
BAD = (401, "invalid_client")
replay = assertion("pk-rsa")
check("a first use of an assertion", revoke("pk-rsa", replay) == (200, None))
check("replayed jti refused", revoke("pk-rsa", replay) == BAD)
check("signed with another key (same kid) refused", revoke("pk-rsa", assertion("pk-rsa", "other")) == BAD)
check("signed with another key (no kid) refused", revoke("pk-rsa", assertion("pk-rsa", "other", kid=False)) == BAD)
check("a service's encryption key is no signing key", revoke("pk-ec", assertion("pk-ec", "ec-enc")) == BAD)
now = int(time.time())
claims = {"iss": "pk-rsa", "sub": "pk-rsa", "aud": issuer + "/token", "jti": str(uuid.uuid4()), "exp": now + 60}
none = b64(json.dumps({"alg": "none"}).encode()) + "." + b64(json.dumps(claims).encode()) + "."
check("alg none refused", revoke("pk-rsa", none) == BAD)
hs = JsonWebSignature(algorithms=["HS256"]).serialize_compact(
    {"alg": "HS256"}, json.dumps(dict(claims, iss="pk-ec", sub="pk-ec")).encode(), b"pk-ec-secret-0123456789").decode()
check("HS256 with the client secret as key refused", revoke("pk-ec", hs) == BAD)
check("expired refused", revoke("pk-rsa", assertion("pk-rsa", exp=now - 120, iat=now - 180)) == BAD)
check("exp an hour ahead refused", revoke("pk-rsa", assertion("pk-rsa", exp=now + 3600)) == BAD)
check("no exp refused", revoke("pk-rsa", assertion("pk-rsa", exp=None)) == BAD)
check("exp of 2^63 - 1 refused", revoke("pk-rsa", assertion("pk-rsa", exp=2**63 - 1)) == BAD)
check("a negative iat refused", revoke("pk-rsa", assertion("pk-rsa", iat=-2**63)) == BAD)
check("exp as a string refused", revoke("pk-rsa", assertion("pk-rsa", exp=str(now + 60))) == BAD)
check("iat in the future refused", revoke("pk-rsa", assertion("pk-rsa", iat=now + 600)) == BAD)
check("wrong aud refused", revoke("pk-rsa", assertion("pk-rsa", aud="https://other.example/token")) == BAD)
check("iss is not sub refused", revoke("pk-rsa", assertion("pk-rsa", sub="pk-ec")) == BAD)
check("no jti refused", revoke("pk-rsa", assertion("pk-rsa", jti=None)) == BAD)
check("another client's name in client_id refused",
      revoke("pk-rsa", assertion("pk-rsa"), data={"client_id": "pk-ec"}) == BAD)
check("an unknown client's assertion refused", revoke("nobody", assertion("nobody")) == BAD)
check("a client not registered for private_key_jwt refused",
      revoke("demo-portal", assertion("demo-portal")) == BAD)
check("a wrong client_assertion_type refused",
      revoke("pk-rsa", assertion("pk-rsa"), data={"client_assertion_type": "urn:x"}) == BAD)
check("garbage refused", revoke("pk-rsa", "a.b.c") == BAD)
check("an assertion of 10 KB refused", revoke("pk-rsa", assertion("pk-rsa", pad="x" * 10000)) == BAD)
r = requests.post(issuer + "/revoke", data={"token": "x"}, auth=("pk-rsa", "pk-rsa-secret-0123456789"), timeout=T)
check("pk-rsa (private_key_jwt only) presenting its secret: invalid_client", (r.status_code, r.json().get("error")) == BAD, r.text)
r = requests.post(issuer + "/revoke", data={"token": "x", "client_id": "pk-rsa", "client_secret": "pk-rsa-secret-0123456789"}, timeout=T)
check("pk-rsa presenting its secret in the form: invalid_client", (r.status_code, r.json().get("error")) == BAD, r.text)
st, err = revoke("pk-ec", assertion("pk-ec"), auth=("pk-ec", "pk-ec-secret-0123456789"))
check("an assertion and Basic together: invalid_request", (st, err) == (400, "invalid_request"), (st, err))
r = requests.post(issuer + "/revoke", data={"token": "x"}, auth=("pk-ec", "pk-ec-secret-0123456789"), timeout=T)
check("pk-ec may still use its secret (client_secret_basic registered)", r.status_code == 200, r.text)

# 4. jwks_uri: a new key of the service is fetched on its first use (once
# 10 s have passed since the last fetch); an unknown kid right after
# fetches nothing more (rate-limited).
hits = lambda: len(open(tmp + "/hits.log").read().split())
h0 = hits()
check("jwks_uri fetched once so far", h0 == 1, h0)
shutil.copy(tmp + "/jwks2.json", tmp + "/www/jwks.json")
check("a new key within 10 s of the last fetch: not fetched yet", revoke("pk-ec", assertion("pk-ec", "ec2-sig")) == BAD)
first = float(open(tmp + "/hits.log").read().split()[0])
time.sleep(max(0, first + 10.5 - time.time()))
check("a key added to the jwks_uri is found (refetch on unknown kid)",
      revoke("pk-ec", assertion("pk-ec", "ec2-sig")) == (200, None))
check("one more fetch", hits() == h0 + 1, hits())
unk = JsonWebSignature(algorithms=["ES256"]).serialize_compact(
    {"alg": "ES256", "kid": "nope"}, json.dumps(dict(claims, iss="pk-ec", sub="pk-ec", jti=str(uuid.uuid4()))).encode(),
    key("other")).decode()
check("an unknown kid again: refused", revoke("pk-ec", unk) == BAD)
check("and no fetch within 10 s", hits() == h0 + 1, hits())

# 5. For librp (rp_interop --keys): a code of pk-rsa, the service's keys as PEM.
os.makedirs(tmp + "/rp", exist_ok=True)
for name, f in (("rsa-sig", "sig.pem"), ("rsa-enc", "enc.pem"), ("other", "wrong.pem")):
    k = JsonWebKey.import_key({n: v for n, v in priv[name].items() if n != "use"})
    open(tmp + "/rp/" + f, "wb").write(k.as_pem(is_private=True))
open(tmp + "/rp/kid", "w").write("rsa-sig")
code, v, loc, state = code_for("pk-rsa")
open(tmp + "/rp/args", "w").write("%s %s %s\n" % (code, v, code_for.nonce))
PY
t0=$(date +%s)
$PY "$TMP/check.py" "$IDP" "$TMP" >"$TMP/check.out" 2>&1
echo "check.py: $(( $(date +%s) - t0 )) s" >&2
count() { # count FILE: its PASS and FAIL lines, the rest shown
	while IFS= read -r line; do
		case "$line" in
		PASS*) PASS=$((PASS+1)) ;;
		FAIL*) FAIL=$((FAIL+1)); echo "$line" >&2 ;;
		*) echo "  $line" >&2 ;;
		esac
	done <"$1"
}
count "$TMP/check.out"
ok "the checks ran to the end" grep -q "and no fetch within 10 s" "$TMP/check.out"

# openid-client (node) logs in as pk-ec: its own assertions, ECDH-ES decryption.
NODE_DIR="$ROOT/tests/node"
if [ ! -d "$NODE_DIR/node_modules/openid-client" ]; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1) || echo "FAIL openid-client: npm ci failed" >"$TMP/node.out"
fi
[ -s "$TMP/node.out" ] || node "$ROOT/tests/interop/openid_client_keys.mjs" "$IDP" "$TMP" pk-ec ec-sig ec-enc >"$TMP/node.out" 2>&1
count "$TMP/node.out"
ok "openid-client: ran to the end, the userinfo checked" grep -q "PASS openid-client: userinfo decrypted" "$TMP/node.out"

# librp: private_key_jwt with rp_config_set_client_key, the JWE decrypted
# with rp_config_set_decryption_key; another key or none: RP_E_DECRYPT.
# The wrong key is an EC key: the ID token is RSA-OAEP-256.
read -r RP_CODE RP_V RP_NONCE <"$TMP/rp/args"
"$BUILD/tests/rp/rp_interop" --keys "$IDP" pk-rsa http://127.0.0.1:8091/cb "$RP_CODE" "$RP_V" "$RP_NONCE" \
	"$TMP/rp" >"$TMP/rp.out" 2>&1
while IFS= read -r line; do
	case "$line" in
	"ok "*) PASS=$((PASS+1)) ;;
	"not ok"*) FAIL=$((FAIL+1)); echo "librp: $line" >&2 ;;
	esac
done <"$TMP/rp.out"
ok "librp: the scenario ran to the end" grep -q "^# keys: [1-9][0-9]* passed, 0 failed" "$TMP/rp.out"
ok "replays and forgeries logged without the assertion" grep -q "client assertion refused: jti replayed" "$TMP/idp.log"

# Configuration refusals, each naming the problem: one file per case, made
# in one go, each checked by idp --check.
$PY - "$TMP" <<'PY'
import json, sys
tmp = sys.argv[1]
c = json.load(open(tmp + "/idp.json"))
priv = json.load(open(tmp + "/priv.json"))
cases = {
    "nokeys": {"token_endpoint_auth_methods": ["private_key_jwt"]},
    "private": {"jwks": {"keys": [priv["ec-sig"]]}},
    "both": {"jwks": {"keys": []}, "jwks_uri": "http://127.0.0.1:1/j"},
    "encnokeys": {"id_token_encrypted_response_alg": "RSA-OAEP-256"},
    "sha1": {"id_token_encrypted_response_alg": "RSA-OAEP"},
    "cbc": {"id_token_encrypted_response_alg": "ECDH-ES", "id_token_encrypted_response_enc": "A128CBC-HS256"},
}
for name, patch in cases.items():
    d = json.loads(json.dumps(c))
    d["clients"].append(dict(c["clients"][0], client_id="bad", **patch))
    json.dump(d, open("%s/bad-%s.json" % (tmp, name), "w"))
PY
bad_client() { # bad_client CASE WHAT EXPECTED
	out=$("$BUILD/idp/idp" --check --config "$TMP/bad-$1.json" 2>&1)
	ok "config refused: $2" contains "$out" "$3"
}
bad_client nokeys "private_key_jwt without keys" 'needs the client'"'"'s keys'
bad_client private "a private key in jwks" 'holds a private key'
bad_client both "jwks and jwks_uri" 'exclude each other'
bad_client encnokeys "encryption without keys" 'encrypted tokens need'
bad_client sha1 "RSA-OAEP (SHA-1)" 'must be "RSA-OAEP-256" or "ECDH-ES"'
bad_client cbc "enc other than A256GCM" 'must be "A256GCM"'
done_tests
