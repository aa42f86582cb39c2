#!/bin/sh
# Key readiness is authenticated (issue 15, finding 9a): only a service that
# fetches /jwks with HTTP Basic and its client secret is recorded as holding
# the next keys; X-Client-Id, ?client_id= or a wrong secret get the keys
# (200) and mark nothing, so they cannot defeat `idpctl keys rotate`'s wait.
. "$(dirname "$0")/lib.sh"
setup_tmp
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
done_tests
