#!/bin/sh
# Creates what the demo needs when it is absent: signing keys (0600) for the
# hub and the demo upstream provider, and the demo citizens, marianne with
# the TOTP secret the README publishes (eidas2). Never overwrites.
set -e
BIN=${1:-.}
cd "$(dirname "$0")/.."
[ -f keys/state.json ] || "$BIN/idp/idpctl" --keys-dir keys keys init 2>/dev/null
[ -f keys-upstream/state.json ] || "$BIN/idp/idpctl" --keys-dir keys-upstream keys init >/dev/null 2>&1
chmod 600 conf/demo-hub-secret conf/demo-portal-plus.sig.pem conf/demo-portal-plus.enc.pem
if [ ! -f conf/demo-users.json ]; then
	printf '%s\n' 'Marianne-2026!' | "$BIN/idp/idpctl" --users conf/demo-users.json users add marianne \
		--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14","gender":"female","birthplace":"75056","birthcountry":"99100","email":"marianne.dupont@example.fr","email_verified":true,"preferred_username":"Dupont","phone_number":"+33612345678","address":{"street_address":"1 place de la Mairie","postal_code":"75001","locality":"Paris","country":"France"}}' >/dev/null
fi
# Also for a users file made before marianne had a second factor.
if ! grep -q '"totp"' conf/demo-users.json; then
	echo DEMOTOTPSECRETFORMARIANNE234567A | "$BIN/idp/idpctl" --users conf/demo-users.json \
		users totp-enrol marianne --secret-stdin >/dev/null
fi
if [ ! -f conf/demo-upstream-users.json ]; then
	printf '%s\n' 'Jean-2026!' | "$BIN/idp/idpctl" --users conf/demo-upstream-users.json users add jean \
		--claims '{"given_name":"Jean","family_name":"Martin","birthdate":"1985-03-02","gender":"male","birthplace":"69123","birthcountry":"99100","email":"jean.martin@example.fr","email_verified":true}' >/dev/null
fi
