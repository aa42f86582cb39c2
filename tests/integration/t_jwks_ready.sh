#!/bin/sh
# Key readiness is authenticated (issue 15, finding 9a): only a service that
# fetches /jwks with HTTP Basic and its client secret is recorded as holding
# the next keys; X-Client-Id, ?client_id= or a wrong secret get the keys
# (200) and mark nothing, so they cannot defeat `idpctl keys rotate`'s wait.
# A service with a key and no secret (pk-only, private_key_jwt) proves
# itself with a Client-Assertion header: librp's fetch marks it ready and
# rotate goes on; forged, replayed, expired, mis-addressed or oversized
# assertions get the keys and mark nothing.
. "$(dirname "$0")/lib.sh"
setup_tmp
# pk-only's EC key pair, "other" nobody's; as.py signs assertions with either.
mkdir -p "$TMP/pk"
cat >"$TMP/as.py" <<'PY'
import base64, json, os, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
d = sys.argv[2]
if sys.argv[1] == "gen":
    for name in ("sig", "other"):
        k = ec.generate_private_key(ec.SECP256R1())
        open(d + "/" + name + ".pem", "wb").write(k.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    open(d + "/kid", "w").write("pk-sig\n")
    n = k = serialization.load_pem_private_key(open(d + "/sig.pem", "rb").read(), None).public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big")),
           "kid": "pk-sig", "use": "sig"}
    clients = [{"client_id": "pk-only", "token_endpoint_auth_methods": ["private_key_jwt"],
                "grant_types": ["client_credentials"], "jwks": {"keys": [jwk]}}]
    json.dump({"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 3, "rotation_deadline_s": 600},
               "clients+": clients}, open(sys.argv[3], "w"))
    sys.exit(0)
# as.py sign DIR KEY AUD EXP_OFFSET PAD...: ES256 assertions of pk-only, one
# a line, for each group of four (PAD: bytes of padding claim, or 0).
a = sys.argv[3:]
for key, aud, off, pad in zip(a[0::4], a[1::4], a[2::4], a[3::4]):
    now = int(time.time())
    claims = {"iss": "pk-only", "sub": "pk-only", "aud": aud, "jti": b64(os.urandom(16)), "iat": now,
              "exp": now + int(off)}
    if int(pad) > 0:
        claims["pad"] = "x" * int(pad)
    k = serialization.load_pem_private_key(open(d + "/" + key + ".pem", "rb").read(), None)
    si = b64(json.dumps({"alg": "ES256", "kid": "pk-sig"}).encode()) + "." + b64(json.dumps(claims).encode())
    r, s = decode_dss_signature(k.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    print(si + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
PY
python3 "$TMP/as.py" gen "$TMP/pk" "$TMP/extra.json" || exit 1
start_idp redis
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }
status_of() { CTL keys status | grep "^  $1 "; }
ok "setup: demo-portal not ready at first" contains "$(status_of demo-portal)" "RS256:not-ready"
H=$(curl -s -i -H 'X-Client-Id: demo-portal' "$IDP/jwks")
ok "anonymous fetch naming the client in X-Client-Id: 200" eq "$(status "$H")" 200
ok "... the keys" contains "$H" '"keys"'
ok "... marks nothing" contains "$(status_of demo-portal)" "RS256:not-ready"
H=$(curl -s -i "$IDP/jwks?client_id=demo-portal")
ok "anonymous fetch with ?client_id=: 200" eq "$(status "$H")" 200
ok "... marks nothing" contains "$(status_of demo-portal)" "RS256:not-ready"
H=$(curl -s -i -u demo-portal:wrong-secret -H 'X-Client-Id: demo-portal' "$IDP/jwks?client_id=demo-portal")
ok "fetch with a wrong secret: still 200" eq "$(status "$H")" 200
ok "... the keys" contains "$H" '"keys"'
ok "... marks nothing" contains "$(status_of demo-portal)" "RS256:not-ready"
H=$(curl -s -i -H 'Authorization: Basic !!!!' "$IDP/jwks")
ok "fetch with malformed Basic credentials: still 200" eq "$(status "$H")" 200
H=$(curl -s -i -u demo-portal-2:demo-portal-secret "$IDP/jwks")
ok "another client's id with demo-portal's secret marks nothing" contains "$(status_of demo-portal-2)" "RS256:not-ready"
ok "... nor demo-portal" contains "$(status_of demo-portal)" "RS256:not-ready"
H=$(curl -s -i -u demo-portal:demo-portal-secret "$IDP/jwks")
ok "fetch with the right secret: 200" eq "$(status "$H")" 200
ok "... not kept by shared caches" contains "$H" "private, max-age="
ok "... marks demo-portal ready" contains "$(status_of demo-portal)" "RS256:ready"
ok "... and only it" contains "$(status_of demo-portal-2)" "RS256:not-ready"
ok "no secret in the log" not_contains "$(cat "$TMP/idp.log")" "demo-portal-secret"

# pk-only logs in (a token with an assertion): an active service, not ready.
# Assertions made at once (python starts slowly): lines of $ASS.
ASS=$(python3 "$TMP/as.py" sign "$TMP/pk" sig "$IDP" 60 0  other "$IDP/jwks" 60 0  sig "$IDP/jwks" -120 0 \
	sig "$IDP/token" 60 0  sig http://127.0.0.1:1 60 0  sig "$IDP/jwks" 60 8300  sig "$IDP/jwks" 60 0 \
	sig "$IDP" 60 0)
as_n() { printf '%s\n' "$ASS" | sed -n "$1p"; }
A1=$(as_n 1)
AT=$(curl -s -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \
	-d "client_assertion=$A1" "$IDP/token" | jget access_token)
ok "pk-only gets a token with its key" test -n "$AT"
ok "... not ready yet" contains "$(status_of pk-only)" "RS256:not-ready"
jwks_as() { curl -s -i -H "Client-Assertion: $1" "$IDP/jwks"; }
for case in "another key:$(as_n 2)" "replayed (used at /token):$A1" "expired:$(as_n 3)" \
	"for /token, not /jwks:$(as_n 4)" "aud another provider:$(as_n 5)" "oversized, well signed:$(as_n 6)" \
	"not a JWT:a.b"; do
	H=$(jwks_as "${case#*:}")
	ok "assertion ${case%%:*}: the keys all the same" eq "$(status "$H")" 200
	ok "... publicly cacheable (not recorded)" contains "$H" "public, max-age="
done
H=$(curl -s -i -u demo-portal:demo-portal-secret -H "Client-Assertion: $(as_n 7)" "$IDP/jwks")
ok "Basic and an assertion at once: the keys" eq "$(status "$H")" 200
ok "... not recorded" contains "$H" "public, max-age="
ok "none of these marked pk-only" contains "$(status_of pk-only)" "RS256:not-ready"
ok "refusals are logged" grep -q "client assertion refused: oversized assertion" "$TMP/idp.log"
ok "... with why" grep -q "client assertion refused: jti replayed" "$TMP/idp.log"

# Rotation waits for pk-only (once the next key is old enough to sign)...
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }
wait_for 100 sh -c "python3 -c 'import json,sys,time;s=json.load(open(sys.argv[1]));sys.exit(0 if all(time.time()>k[\"created\"]+3.5 for k in s[\"keys\"]) else 1)' $TMP/keys/state.json"
OUT=$(CTL keys rotate --alg RS256 2>&1); RC=$?
ok "rotate waits for pk-only" eq "$RC" 3
ok "... and names it" contains "$OUT" "pk-only"
# ... until librp fetches the JWKS with a client assertion.
OUT=$("$BUILD/tests/rp/rp_interop" --jwks "$IDP" pk-only "$TMP/pk" "$AT" 2>&1)
ok "librp (key, no secret) fetches the JWKS and verifies a token" eq "$?" 0 || printf '%s\n' "$OUT" >&2
ok "... marks pk-only ready" contains "$(status_of pk-only)" "RS256:ready"
ok "a valid assertion of our own is recorded too" contains "$(jwks_as "$(as_n 8)")" "private, max-age="
OUT=$(CTL keys rotate --alg RS256 2>&1); RC=$?
ok "rotate goes on without --force" eq "$RC" 0 || printf '%s\n' "$OUT" >&2
ok "no assertion in the log" not_contains "$(cat "$TMP/idp.log")" "$A1"
done_tests
