#!/bin/sh
# Interoperability with a client nobody here wrote: Debian's python3-authlib
# (with python3-requests, run by /usr/bin/python3) reads the discovery
# document, builds the authorization URL (PKCE S256, nonce, state), the
# script fills in the login and consent forms like a browser would, authlib
# exchanges the code, validates the ID token against the JWKS and calls
# userinfo. For the RS256 client demo-portal and the ES256 client demo-portal-2.
. "$(dirname "$0")/../integration/lib.sh"
STORE=${STORE:-memory}
PY=/usr/bin/python3
if ! $PY -c 'import authlib, requests' 2>/dev/null; then
	echo "t_authlib: $PY cannot import authlib and requests: apt-get install python3-authlib python3-requests" >&2
	echo "t_authlib: 0 passed, 1 failed"
	exit 1
fi
setup_tmp
start_idp "$STORE"

cat >"$TMP/client.py" <<'PY'
"""One relying party built on authlib, against the provider at argv[1].
Prints 'PASS name' or 'FAIL name: why' per check; exits non-zero when it
could not go on."""
import html.parser
import json
import os
import sys
import time
import urllib.parse

os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the test issuer is http on loopback

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata

issuer, client_id, secret, redirect_uri, alg, jar = sys.argv[1:7]
failed = False
TIMEOUT = 15


def check(name, cond, why=""):
    global failed
    if cond:
        print("PASS %s: %s" % (client_id, name))
    else:
        failed = True
        print("FAIL %s: %s: %s" % (client_id, name, why))
    return cond


def fatal(name, why):
    check(name, False, why)
    sys.exit(1)


class Forms(html.parser.HTMLParser):
    """The forms of a page: action, method and the inputs and buttons."""

    def __init__(self):
        super().__init__()
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action"), "method": a.get("method", "get"), "fields": {}, "buttons": {}})
        elif tag in ("input", "button") and self.forms and a.get("name"):
            if tag == "button" or a.get("type") == "submit":
                self.forms[-1]["buttons"][a["name"]] = a.get("value", "")
            else:
                self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def forms_of(text):
    p = Forms()
    p.feed(text)
    return p.forms


# Discovery, validated by authlib's own model of the metadata.
r = requests.get(issuer + "/.well-known/openid-configuration", timeout=TIMEOUT)
check("discovery answers 200 JSON", r.status_code == 200 and r.headers.get("Content-Type", "").startswith("application/json"), r.status_code)
meta = OpenIDProviderMetadata(r.json())
try:
    meta.validate()
    check("discovery metadata valid for authlib (OpenID Discovery 1.0)", True)
except ValueError as e:
    check("discovery metadata valid for authlib (OpenID Discovery 1.0)", False, e)
check("discovery issuer is the issuer", meta["issuer"] == issuer, meta["issuer"])
check("discovery announces S256", "S256" in meta.get("code_challenge_methods_supported", []), meta.get("code_challenge_methods_supported"))
check("discovery announces %s" % alg, alg in meta.get("id_token_signing_alg_values_supported", []), meta.get("id_token_signing_alg_values_supported"))
jwks = requests.get(meta["jwks_uri"], timeout=TIMEOUT).json()
keys = JsonWebKey.import_key_set(jwks)
check("JWKS imported by authlib", len(keys.keys) >= 2, jwks)

# The authorization URL: code flow, PKCE S256, nonce, state.
client = OAuth2Session(client_id, secret, scope="openid profile email", redirect_uri=redirect_uri,
                       code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
verifier = generate_token(64)
nonce = generate_token(32)
url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
check("authorization URL carries S256 PKCE, nonce and state",
      q.get("code_challenge_method") == ["S256"] and q.get("nonce") == [nonce] and q.get("state") == [state], url)

# The citizen's browser: a cookie jar kept across the two clients (SSO).
browser = requests.Session()
if os.path.exists(jar):
    browser.cookies.update(json.load(open(jar)))
resp = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
saw_login = saw_consent = False
for step in range(4):
    if resp.status_code in (302, 303):
        break
    if resp.status_code != 200:
        fatal("the login pages answer", "step %d: HTTP %d %s" % (step, resp.status_code, resp.text[:300]))
    forms = forms_of(resp.text)
    if not forms:
        fatal("the login pages hold a form", resp.text[:300])
    f = forms[0]
    data = dict(f["fields"])
    if "password" in data:
        saw_login = True
        check("login form has hidden txn and csrf", data.get("txn") and data.get("csrf"), data)
        data["username"] = "marianne"
        data["password"] = "Marianne-2026!"
    elif "decision" in f["buttons"]:
        saw_consent = True
        check("consent form has hidden txn and csrf", data.get("txn") and data.get("csrf"), data)
        data["decision"] = "accept"
    else:
        fatal("a known form", f)
    resp = browser.post(urllib.parse.urljoin(resp.url, f["action"]), data=data, allow_redirects=False, timeout=TIMEOUT)
json.dump(browser.cookies.get_dict(), open(jar, "w"))
check("consent asked", saw_consent)
location = resp.headers.get("Location", "")
check("redirected to the registered redirect_uri", location.startswith(redirect_uri + "?"), location)
back = urllib.parse.parse_qs(urllib.parse.urlparse(location).query)
check("the redirect carries iss (RFC 9207)", back.get("iss") == [issuer], back)
if "code" not in back:
    fatal("a code in the redirect", location)

# The exchange, by authlib (client_secret_basic), with its own state check.
try:
    token = client.fetch_token(meta["token_endpoint"], authorization_response=location, state=state,
                               code_verifier=verifier, timeout=TIMEOUT)
except Exception as e:
    fatal("authlib exchanges the code", repr(e))
check("authlib exchanges the code", "id_token" in token and "access_token" in token, token.keys())
check("token_type Bearer", token.get("token_type", "").lower() == "bearer", token.get("token_type"))

# The ID token: signature against the JWKS (the expected algorithm only),
# iss, aud, exp, iat, nonce, at_hash, by authlib's CodeIDToken rules.
try:
    claims = JsonWebToken([alg]).decode(
        token["id_token"], keys, claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": issuer},
                        "aud": {"essential": True, "value": client_id},
                        "nonce": {"essential": True, "value": nonce}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
    claims.validate(now=int(time.time()), leeway=5)
    check("ID token %s verified and validated by authlib" % alg, True)
except JoseError as e:
    fatal("ID token %s verified and validated by authlib" % alg, repr(e))
check("ID token header alg is %s" % alg, claims.header.get("alg") == alg, claims.header)
check("ID token kid is in the JWKS", any(k.get("kid") == claims.header.get("kid") for k in jwks["keys"]), claims.header)
check("ID token has auth_time, acr, amr, at_hash",
      all(k in claims for k in ("auth_time", "acr", "amr", "at_hash")), dict(claims))
other = "RS256" if alg == "ES256" else "ES256"
try:
    JsonWebToken([other]).decode(token["id_token"], keys)
    check("the ID token is refused under %s" % other, False, "accepted")
except JoseError:
    check("the ID token is refused under %s" % other, True)
try:
    bad = JsonWebToken([alg]).decode(token["id_token"], keys, claims_cls=CodeIDToken,
                                     claims_params={"nonce": "another-nonce", "client_id": client_id})
    bad.validate()
    check("a wrong nonce fails validation", False, "validated")
except JoseError:
    check("a wrong nonce fails validation", True)
h, p, s = token["id_token"].split(".")
forged = ".".join((h, p, ("A" if s[0] != "A" else "B") + s[1:]))
try:
    JsonWebToken([alg]).decode(forged, keys)
    check("a tampered signature is refused", False, "accepted")
except JoseError:
    check("a tampered signature is refused", True)

# userinfo with the access token, by authlib's session (Bearer header).
r = client.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
check("userinfo answers 200", r.status_code == 200, "%d %s" % (r.status_code, r.text[:200]))
info = UserInfo(r.json())
check("userinfo sub = ID token sub", info.get("sub") == claims["sub"], (info.get("sub"), claims["sub"]))
check("userinfo returns the profile and email claims",
      info.get("given_name") == "Marianne" and info.get("email") == "marianne.dupont@example.fr", dict(info))
check("userinfo holds no claim of an unrequested scope", "phone_number" not in info, dict(info))

# A second exchange of the same code fails (RFC 6749 4.1.2), through authlib.
try:
    client.fetch_token(meta["token_endpoint"], authorization_response=location, state=state,
                       code_verifier=verifier, timeout=TIMEOUT)
    check("a replayed code is refused", False, "accepted")
except OAuthError as e:
    check("a replayed code is refused (invalid_grant)", e.error == "invalid_grant", e.error)
print("SUB %s %s" % (client_id, claims["sub"]))
print("LOGIN %s %s" % (client_id, "password" if saw_login else "sso"))
sys.exit(1 if failed else 0)
PY

# run_client ID SECRET REDIRECT ALG: runs the authlib client, one ok per check.
run_client() {
	$PY "$TMP/client.py" "$IDP" "$1" "$2" "$3" "$4" "$TMP/browser.json" >"$TMP/out.$1" 2>&1 &
	cpid=$!
	# Bounded: every request has a 15 s timeout; the whole run gets 120 s.
	i=0
	while kill -0 "$cpid" 2>/dev/null && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
	if kill -0 "$cpid" 2>/dev/null; then
		kill "$cpid"
		echo "  $1: the client did not finish in 120 s" >&2
	fi
	wait "$cpid"
	crc=$?
	while IFS= read -r line; do
		case "$line" in
		"PASS "*) ok "${line#PASS }" true ;;
		"FAIL "*) echo "  ${line#FAIL }" >&2; ok "${line#FAIL }" false ;;
		"SUB "*|"LOGIN "*) ;;
		*) echo "  $1: $line" >&2 ;;
		esac
	done <"$TMP/out.$1"
	ok "$1: the authlib client ran to its end" eq "$crc" 0
}

run_client demo-portal demo-portal-secret http://127.0.0.1:8081/callback RS256
ok "demo-portal: the citizen typed the password" grep -q "^LOGIN demo-portal password" "$TMP/out.demo-portal"
run_client demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback ES256
ok "demo-portal-2: single sign-on, no password asked" grep -q "^LOGIN demo-portal-2 sso" "$TMP/out.demo-portal-2"
S1=$(sed -n 's/^SUB demo-portal //p' "$TMP/out.demo-portal")
S2=$(sed -n 's/^SUB demo-portal-2 //p' "$TMP/out.demo-portal-2")
ok "pairwise: the two services see different subs" test -n "$S1" -a -n "$S2" -a "$S1" != "$S2"

done_tests
