#!/bin/sh
# Creates what the demo needs when it is absent: signing keys (keys/, mode
# 0600) and the demo citizen in conf/demo-users.json. Never overwrites.
set -e
BIN=${1:-.}
cd "$(dirname "$0")/.."
if [ ! -f keys/state.json ]; then
	"$BIN/idp/idpctl" --keys-dir keys keys init
fi
if [ ! -f conf/demo-users.json ]; then
	printf '%s\n' 'Marianne-2026!' | "$BIN/idp/idpctl" --users conf/demo-users.json users add marianne \
		--claims '{"given_name":"Marianne","family_name":"Dupont","birthdate":"1990-07-14","gender":"female","birthplace":"75056","birthcountry":"99100","email":"marianne.dupont@example.fr","email_verified":true,"preferred_username":"Dupont","phone_number":"+33612345678","address":{"street_address":"1 place de la Mairie","postal_code":"75001","locality":"Paris","country":"France"}}' >/dev/null
fi
