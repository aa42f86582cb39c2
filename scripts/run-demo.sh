#!/bin/sh
# make run: the demo on 127.0.0.1, memory store: the hub (:8080), a demo
# upstream identity provider (:8090) and, when built, three demo public
# services (:8081, :8082, and :8084 with keys at eidas2) and a demo data
# provider, the family allowance office (:8083), whose quotient familial
# the second service asks for.
# Ctrl-C stops them all.
set -e
cd "$(dirname "$0")/.."
sh scripts/demo-setup.sh .
PIDS=""
stop() { for p in $PIDS; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap 'stop; exit 0' INT TERM
trap stop EXIT
./idp/idp --config conf/demo-upstream.json &
PIDS="$PIDS $!"
./idp/idp --config conf/demo.json &
PIDS="$PIDS $!"
PORTAL=rp/examples/rp-demo
DATA=rp/examples/dp-demo
sleep 1
if [ -x "$PORTAL" ]; then
	RP_CLIENT_SECRET=demo-portal-secret "$PORTAL" --port 8081 --name "Impôts (démo)" \
		--issuer http://127.0.0.1:8080 --client-id demo-portal --acr eidas1 --http-loopback &
	PIDS="$PIDS $!"
	RP_CLIENT_SECRET=demo-portal-2-secret "$PORTAL" --port 8082 --name "Assurance maladie (démo)" \
		--issuer http://127.0.0.1:8080 --client-id demo-portal-2 --acr eidas1 --http-loopback \
		--scope "openid profile email identite_pivot cnaf_quotient_familial" \
		--data-url http://127.0.0.1:8083/quotient-familial &
	PIDS="$PIDS $!"
	"$PORTAL" --port 8084 --name "Santé, démo" --issuer http://127.0.0.1:8080 \
		--client-id demo-portal-plus --acr eidas2 --http-loopback \
		--client-key conf/demo-portal-plus.sig.pem --client-key-kid demo-portal-plus-sig \
		--client-key-alg PS256 --decryption-key conf/demo-portal-plus.enc.pem \
		--jwks conf/demo-portal-plus.jwks.json &
	PIDS="$PIDS $!"
fi
if [ -x "$DATA" ]; then
	RP_CLIENT_SECRET=demo-cnaf-secret "$DATA" --port 8083 --issuer http://127.0.0.1:8080 \
		--client-id demo-cnaf --http-loopback &
	PIDS="$PIDS $!"
fi
sleep 1
cat <<TXT

  Provider (issuer):   http://127.0.0.1:8080
  Discovery:           http://127.0.0.1:8080/.well-known/openid-configuration
  Demo clients:        demo-portal   / demo-portal-secret   -> http://127.0.0.1:8081/callback
                       demo-portal-2 / demo-portal-2-secret -> http://127.0.0.1:8082/callback
                       demo-portal-plus (no secret: private_key_jwt, PS256, with
                         conf/demo-portal-plus.sig.pem; tokens encrypted to
                         conf/demo-portal-plus.enc.pem) -> http://127.0.0.1:8084/callback
  Data provider:       demo-cnaf     / demo-cnaf-secret     (introspects tokens; :8083)
  Demo citizens:       marianne / Marianne-2026!   (local account of the hub; eidas2 with
                         the TOTP secret DEMOTOTPSECRETFORMARIANNE234567A)
                       jean     / Jean-2026!       (at the demo upstream provider, :8090)
TXT
if [ -x "$PORTAL" ]; then
	cat <<TXT

  Single sign-on: open http://127.0.0.1:8081/ (Impots demo), click "Se connecter",
  choose an account and log in; then open http://127.0.0.1:8082/ (Assurance maladie
  demo): no password is asked. "Se déconnecter" ends the session everywhere.

  Data shared between administrations: the Assurance maladie demo also asks for
  the quotient familial held by the family allowance office (demo data provider,
  http://127.0.0.1:8083/quotient-familial). Tick it on the consent page and the
  portal shows it; leave it unticked and you are logged in without it.

  High assurance (eidas2): open http://127.0.0.1:8084/ (Santé demo), log in as
  marianne, then type the code of any TOTP app holding the secret above:
    otpauth://totp/127.0.0.1:marianne?secret=DEMOTOTPSECRETFORMARIANNE234567A&issuer=127.0.0.1
  (or: oathtool --totp -b DEMOTOTPSECRETFORMARIANNE234567A). The portal shows acr
  eidas2 and amr pwd, otp; its ID token and userinfo arrived encrypted to it.
TXT
fi
echo
echo "  Stop with Ctrl-C. The README walks through one login with curl."
echo
wait
