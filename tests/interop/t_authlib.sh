#!/bin/sh
# Interoperability with a client nobody here wrote: Debian's python3-authlib
# (with python3-requests, run by /usr/bin/python3) reads the discovery
# document, builds the authorization URL (PKCE S256, nonce, state), the
# script fills in the login and consent forms like a browser would, authlib
# exchanges the code, validates the ID token against the JWKS and calls
# userinfo. For the RS256 client demo-portal and the ES256 client demo-portal-2.
. "$(dirname "$0")/../integration/lib.sh"
STORE=${STORE:-memory}
authlib_python
setup_tmp
start_idp "$STORE"

cat >"$TMP/client.py" <<'PY'
"""One relying party built on authlib, against the provider at argv[1].
Prints 'PASS name' or 'FAIL name: why' per check; exits non-zero when it
could not go on."""
import json
import os
import sys
import time
import urllib.parse

from authlib_common import Checks, forms_of
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import CodeIDToken, UserInfo
from authlib.oidc.discovery import OpenIDProviderMetadata

issuer, client_id, secret, redirect_uri, alg, jar = sys.argv[1:7]
TIMEOUT = 15
checks = Checks(client_id + ": ")
check = checks.check


def fatal(name, why):
    check(name, False, why)
    sys.exit(1)


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
sys.exit(1 if checks.failed else 0)
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
	checks_from "$TMP/out.$1"
	ok "$1: the authlib client ran to its end" eq "$crc" 0
}

run_client demo-portal demo-portal-secret http://127.0.0.1:8081/callback RS256
ok "demo-portal: the citizen typed the password" grep -q "^LOGIN demo-portal password" "$TMP/out.demo-portal"
run_client demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback ES256
ok "demo-portal-2: single sign-on, no password asked" grep -q "^LOGIN demo-portal-2 sso" "$TMP/out.demo-portal-2"
S1=$(sed -n 's/^SUB demo-portal //p' "$TMP/out.demo-portal")
S2=$(sed -n 's/^SUB demo-portal-2 //p' "$TMP/out.demo-portal-2")
ok "pairwise: the two services see different subs" test -n "$S1" -a -n "$S2" -a "$S1" != "$S2"

# Refresh and revoke through authlib (RFC 6749 6, OpenID Core 12.2, RFC
# 7009): a refresh token from a login with offline_access and prompt=consent.
cat >"$TMP/refresh.py" <<'PY'
"""authlib's OAuth2Session refreshes, narrows the scope, revokes; prints
PASS/FAIL lines like client.py."""
import sys, time
from authlib_common import Checks
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.jose import JsonWebKey, JsonWebToken
from authlib.jose.errors import JoseError
from authlib.oidc.core import IDToken

issuer, client_id, secret, rt, sub = sys.argv[1:6]
checks = Checks(client_id + ": ")
check = checks.check

meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=15).json()
keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=15).json())
client = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic")
try:
    t1 = client.refresh_token(meta["token_endpoint"], refresh_token=rt, timeout=15)
except OAuthError as e:
    check("authlib refreshes", False, e)
    sys.exit(1)
check("authlib refreshes: a new access token and a rotated refresh token",
      t1.get("access_token") and t1.get("refresh_token") and t1["refresh_token"] != rt, list(t1.keys()))
try:
    c = JsonWebToken(["RS256"]).decode(t1["id_token"], keys, claims_cls=IDToken,
                                       claims_options={"iss": {"essential": True, "value": issuer}},
                                       claims_params={"client_id": client_id})
    c.validate(now=int(time.time()), leeway=5)
    check("the refreshed ID token verified and validated by authlib", True)
    check("... of the same sub, without nonce (OpenID Core 12.2)", c["sub"] == sub and "nonce" not in c, dict(c))
except (JoseError, KeyError) as e:
    check("the refreshed ID token verified and validated by authlib", False, repr(e))
r = client.get(meta["userinfo_endpoint"], timeout=15)
check("userinfo with the refreshed access token", r.status_code == 200 and r.json().get("sub") == sub, r.status_code)
t2 = client.refresh_token(meta["token_endpoint"], refresh_token=t1["refresh_token"], scope="openid", timeout=15)
check("a narrower scope", t2.get("scope") == "openid", t2.get("scope"))
try:
    client.refresh_token(meta["token_endpoint"], refresh_token=rt, timeout=15)
    check("the first refresh token again is refused", False, "accepted")
except OAuthError as e:
    check("the first refresh token again is refused (invalid_grant)", e.error == "invalid_grant", e.error)
try:
    client.refresh_token(meta["token_endpoint"], refresh_token=t2["refresh_token"], timeout=15)
    check("... and its family with it, the newest token too", False, "accepted")
except OAuthError as e:
    check("... and its family with it, the newest token too (invalid_grant)", e.error == "invalid_grant", e.error)
sys.exit(1 if checks.failed else 0)
PY
cat >"$TMP/revoke.py" <<'PY'
"""authlib revokes a refresh token (RFC 7009), which then fails."""
import sys
from authlib_common import Checks
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError

issuer, client_id, secret, rt = sys.argv[1:5]
checks = Checks(client_id + ": ")
meta = requests.get(issuer + "/.well-known/openid-configuration", timeout=15).json()
client = OAuth2Session(client_id, secret, token_endpoint_auth_method="client_secret_basic",
                       revocation_endpoint_auth_method="client_secret_basic")
r = client.revoke_token(meta["revocation_endpoint"], token=rt, token_type_hint="refresh_token", timeout=15)
checks.check("authlib revokes the refresh token (200)", r.status_code == 200, r.status_code)
try:
    client.refresh_token(meta["token_endpoint"], refresh_token=rt, timeout=15)
    checks.check("the revoked refresh token is refused", False, "accepted")
except OAuthError as e:
    checks.check("the revoked refresh token is refused (invalid_grant)", e.error == "invalid_grant", e.error)
sys.exit(1 if checks.failed else 0)
PY
# offline CLIENT SECRET REDIRECT: a login with offline_access; RT, SUB.
offline() {
	rm -f "$CJ"
	pkce
	PAGE=$(curl -s -c "$CJ" -b "$CJ" "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$3&scope=openid%20profile%20offline_access&prompt=consent&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=$C&code_challenge_method=S256")
	login marianne 'Marianne-2026!'
	consent accept
	token "$1" "$2" "$(qparam code "$(location "$RESP")")" "$3" "$V"
	RT=$(echo "$TOK" | jget refresh_token) SUB=$(jwt_payload "$(echo "$TOK" | jget id_token)" | jget sub)
}
# py_checks SCRIPT ARGS...: one ok per PASS/FAIL line, and one for the exit.
py_checks() {
	$PY "$@" >"$TMP/py.out" 2>&1
	prc=$?
	checks_from "$TMP/py.out"
	ok "$(basename "$1"): ran to its end" eq "$prc" 0
}
offline demo-portal demo-portal-secret http://127.0.0.1:8081/callback
ok "setup: a refresh token (offline_access, prompt=consent)" test -n "$RT"
py_checks "$TMP/refresh.py" "$IDP" demo-portal demo-portal-secret "$RT" "$SUB"
offline demo-portal demo-portal-secret http://127.0.0.1:8081/callback
py_checks "$TMP/revoke.py" "$IDP" demo-portal demo-portal-secret "$RT"

done_tests
