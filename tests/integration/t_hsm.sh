#!/bin/sh
# Signing keys in a PKCS#11 token (SoftHSM2): imported with idpctl keys
# import --pkcs11, rotated to active, ID tokens signed by the token and
# verified against /jwks, rotated away again; a wrong PIN or an absent token
# is refused clearly and the running daemon keeps its keys.
. "$(dirname "$0")/lib.sh"
MODULE=/usr/lib/softhsm/libsofthsm2.so
for t in softhsm2-util pkcs11-tool; do
	command -v $t >/dev/null || { echo "t_hsm: $t missing (sh scripts/deps.sh)" >&2; exit 1; }
done
[ -f "$MODULE" ] || { echo "t_hsm: $MODULE missing (sh scripts/deps.sh)" >&2; exit 1; }
setup_tmp
# A token of this test's own: SoftHSM2 keeps its tokens where its
# configuration says, here under $TMP.
mkdir -p "$TMP/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$TMP/tokens" >"$TMP/softhsm2.conf"
export SOFTHSM2_CONF="$TMP/softhsm2.conf"
softhsm2-util --init-token --free --label idp-test --so-pin 87654321 --pin 12345678 >/dev/null ||
	{ echo "t_hsm: softhsm2-util --init-token failed" >&2; exit 1; }
P11() { pkcs11-tool --module "$MODULE" --token-label idp-test --login --pin 12345678 "$@" >>"$TMP/p11.log" 2>&1; }
P11 --keypairgen --key-type EC:prime256v1 --label es-hsm --id 01 || { cat "$TMP/p11.log"; exit 1; }
P11 --keypairgen --key-type rsa:2048 --label rs-hsm --id 02 || { cat "$TMP/p11.log"; exit 1; }
P11 --keypairgen --key-type EC:prime256v1 --label es-late --id 03 || { cat "$TMP/p11.log"; exit 1; }
printf '12345678\n' >"$TMP/pin"
chmod 600 "$TMP/pin"
cat >"$TMP/extra.json" <<J
{"key_rotation": {"jwks_max_age_s": 1, "min_publish_s": 3, "retire_leeway_s": 1,
  "pkcs11_module": "$MODULE", "pkcs11_pin_file": "$TMP/pin"}}
J
start_idp memory
CTL() { "$BUILD/idp/idpctl" --config "$TMP/idp.json" "$@"; }
# Shell, not python, where it is easy: each python start costs seconds on a loaded machine.
state_of() { CTL keys list 2>/dev/null | awk -v k="$1" '$1 == k { print $3 }'; }
hdr() { # hdr JWT NAME: a string member of the JWT's header
	h=$(printf %s "$1" | cut -d. -f1 | tr -- '-_' '+/')
	while [ $((${#h} % 4)) -ne 0 ]; do h="$h="; done
	printf %s "$h" | base64 -d 2>/dev/null | sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p"
}
# verify JWT: the signature checks against the key of its kid in /jwks.
verify() {
	curl -s "$IDP/jwks" >"$TMP/jwks.json"
	python3 - "$1" "$TMP/jwks.json" <<'PY'
import sys, json, base64
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
def b(s): return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
def n(s): return int.from_bytes(b(s), "big")
tok = sys.argv[1]; h, p, s = tok.split(".")
kid = json.loads(b(h))["kid"]
k = [k for k in json.load(open(sys.argv[2]))["keys"] if k["kid"] == kid][0]
msg, sig = (h + "." + p).encode(), b(s)
if k["kty"] == "EC":
    pub = ec.EllipticCurvePublicNumbers(n(k["x"]), n(k["y"]), ec.SECP256R1()).public_key()
    pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")), msg, ec.ECDSA(hashes.SHA256()))
else:
    rsa.RSAPublicNumbers(n(k["e"]), n(k["n"])).public_key().verify(sig, msg, padding.PKCS1v15(), hashes.SHA256())
PY
}
in_jwks() { curl -s "$IDP/jwks" | grep -q "\"$1\""; }

# ES256: the token's key as the next key, published, then rotated to active.
OUT=$(CTL keys import --pkcs11 "pkcs11:token=idp-test;object=es-hsm" --alg ES256 2>&1); RC=$?
ok "import --pkcs11 of the token's EC key" eq "$RC" 0
EKID=$(printf %s "$OUT" | sed -n 's/^imported ES256 key \([^ ]*\) as next$/\1/p')
ok "... names its kid" test -n "$EKID"
ok "state.json names the key by its URI, no file" python3 -c '
import json,sys
k=[k for k in json.load(open(sys.argv[1]))["keys"] if k["kid"]==sys.argv[2]][0]
assert k["pkcs11_uri"]=="pkcs11:token=idp-test;object=es-hsm" and "file" not in k and k["state"]=="next"' "$TMP/keys/state.json" "$EKID"
ok "... and idpctl keys list shows it as next" eq "$(state_of "$EKID")" next
ok "the daemon publishes the token's key" wait_for 50 in_jwks "$EKID"
OUT=$(CTL keys rotate --alg ES256 --force 2>&1)
ok "rotate makes the token's key active" eq "$(state_of "$EKID")" active
sleep 1.5 # the daemon polls the keys folder every second
rm -f "$CJ" # a fresh citizen: no SSO session
full_login demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback
IDT=$(echo "$TOK" | jget id_token)
ok "an ES256 ID token signed by the token's key" eq "$(hdr "$IDT" kid)" "$EKID"
ok "... whose signature checks against /jwks" verify "$IDT"
ok "... and whose claims are the citizen's" eq "$(jwt_payload "$IDT" | jget aud)" demo-portal-2

# RS256 the same way.
OUT=$(CTL keys import --pkcs11 "pkcs11:token=idp-test;object=rs-hsm" --alg RS256 2>&1)
RKID=$(printf %s "$OUT" | sed -n 's/^imported RS256 key \([^ ]*\) as next$/\1/p')
ok "import --pkcs11 of the token's RSA key" test -n "$RKID"
OUT=$(CTL keys import --pkcs11 "pkcs11:token=idp-test;object=rs-hsm" --alg ES256 2>&1); RC=$?
ok "an RSA key imported as ES256 is refused" eq "$RC" 1
ok "... saying why" contains "$OUT" "is not a ES256 key"
wait_for 50 in_jwks "$RKID"
CTL keys rotate --alg RS256 --force >/dev/null 2>&1
ok "rotate makes the token's RSA key active" eq "$(state_of "$RKID")" active
sleep 1.5
rm -f "$CJ" # a fresh citizen: no SSO session
full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
IDT=$(echo "$TOK" | jget id_token)
ok "an RS256 ID token signed by the token's key" eq "$(hdr "$IDT" kid)" "$RKID"
ok "... whose signature checks against /jwks" verify "$IDT"

# Rotating away: the token's key retires (still published), a file key signs.
CTL keys rotate --alg ES256 --force >/dev/null 2>&1
ok "rotating again retires the token's key" eq "$(state_of "$EKID")" retiring
sleep 1.5
rm -f "$CJ" # a fresh citizen: no SSO session
full_login demo-portal-2 demo-portal-2-secret http://127.0.0.1:8082/callback
IDT=$(echo "$TOK" | jget id_token)
ok "the next ID token is signed by another key" test -n "$(hdr "$IDT" kid)" -a "$(hdr "$IDT" kid)" != "$EKID"
ok "... valid against /jwks" verify "$IDT"
ok "the retiring token key stays in /jwks" in_jwks "$EKID"

# Refusals: a wrong PIN, a key the token lacks, a PIN file others may read.
printf '99999999\n' >"$TMP/pin"
OUT=$(CTL keys import --pkcs11 "pkcs11:token=idp-test;object=es-late" --alg ES256 2>&1); RC=$?
ok "a wrong PIN: import refused (exit status 3)" eq "$RC" 3
ok "... saying the token refused the PIN" contains "$OUT" "refused the PIN of $TMP/pin"
ok "... never showing the PIN" not_contains "$OUT" 99999999
ok "... the key is not in the state" not_contains "$(cat "$TMP/keys/state.json")" es-late
printf '12345678\n' >"$TMP/pin"
OUT=$(CTL keys import --pkcs11 "pkcs11:token=no-such-token;object=es-hsm" --alg ES256 2>&1); RC=$?
ok "an absent token: import refused" eq "$RC" 1
ok "... saying so" contains "$OUT" "cannot be loaded from the PKCS#11 token"
chmod 644 "$TMP/pin"
OUT=$(CTL keys import --pkcs11 "pkcs11:token=idp-test;object=es-late" --alg ES256 2>&1); RC=$?
ok "a PIN file readable by others is refused" contains "$OUT" "pkcs11_pin_file $TMP/pin is readable by group or others"
chmod 600 "$TMP/pin"
OUT=$(CTL keys import --pkcs11 "file:///etc/passwd" --alg ES256 2>&1); RC=$?
ok "a URI that is not pkcs11: is refused" contains "$OUT" 'must be a "pkcs11:" URI'

# A node starting with a wrong PIN refuses to start, saying why; the running
# node keeps its keys and answers.
printf '99999999\n' >"$TMP/pin"
B_PORT=$(free_port)
"$BUILD/idp/idp" --config "$TMP/idp.json" --port "$B_PORT" --plugin-dir "$BUILD/plugins" >"$TMP/idp-b.log" 2>&1 &
B_PID=$!
PIDS="$PIDS $B_PID"
await_exit "$B_PID"
ok "a node with a wrong PIN does not start" test "$EXIT_RC" -ne 0
ok "... saying the token refused the PIN" grep -q "the PKCS#11 token refused the PIN of $TMP/pin" "$TMP/idp-b.log"
ok "... without the PIN in its log" not_contains "$(cat "$TMP/idp-b.log")" 99999999
touch "$TMP/keys/state.json" # a reload of the running node: its keys are kept
sleep 1.5
rm -f "$CJ" # a fresh citizen: no SSO session
full_login demo-portal demo-portal-secret http://127.0.0.1:8081/callback
IDT=$(echo "$TOK" | jget id_token)
ok "the running node still signs with the token's key" eq "$(hdr "$IDT" kid)" "$RKID"
ok "... verifiably" verify "$IDT"
ok "the running node never logged the PIN" not_contains "$(cat "$TMP/idp.log")" 12345678
done_tests
