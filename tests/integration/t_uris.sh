#!/bin/sh
# Registered URIs: what `idp --check` refuses (plain http beyond loopback
# under an https issuer, fragments, user info, relative URIs) with the client
# and the URI named, and the form-action origin the pages derive from them.
. "$(dirname "$0")/lib.sh"
setup_tmp
IDPBIN="$BUILD/idp/idp"
# A service whose host is internationalised and written in capitals, and
# one on an IPv6 address with a port: the daemon never connects to them.
cat >"$TMP/extra.json" <<'EOF'
{"clients+": [
 {"client_id": "mairie", "client_name": "Mairie", "require_pkce": false,
  "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
  "redirect_uris": ["https://Mairie-\u00c9lancourt.FR/cb"]},
 {"client_id": "v6", "client_name": "V6", "require_pkce": false,
  "client_secret_sha256": "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d",
  "redirect_uris": ["https://[2001:DB8::1]:8443/cb"]}
]}
EOF
start_idp memory

# variant NAME ISSUER CLIENT_INDEX MEMBER URI...: a copy of the running
# configuration with that issuer and those URIs as the client's list.
variant() {
	python3 - "$TMP/idp.json" "$TMP/$1.json" "$@" <<'PY'
import json, sys
src, dst, _, issuer, idx, member = sys.argv[1:7]
c = json.load(open(src))
c["issuer"] = issuer
c["clients"][int(idx)][member] = sys.argv[7:]
json.dump(c, open(dst, "w"))
PY
}
check() { # check NAME: runs idp --check on $TMP/NAME.json; sets OUT, RC
	OUT=$("$IDPBIN" --config "$TMP/$1.json" --check --plugin-dir "$BUILD/plugins" 2>&1); RC=$?
}

HTTPS=https://login.example.gouv.fr
for m in redirect_uris post_logout_redirect_uris; do
	variant remote "$HTTPS" 0 "$m" http://portail.example.fr/callback
	check remote
	ok "$m: http on a remote host under an https issuer is refused" test "$RC" -ne 0
	ok "$m: the refusal names the setting" contains "$OUT" "clients[0]: $m[0]"
	ok "$m: the refusal names the URI" contains "$OUT" '"http://portail.example.fr/callback"'
	ok "$m: the refusal names the client" contains "$OUT" 'client "demo-portal"'
	ok "$m: the refusal says to use https" contains "$OUT" "use https"
	variant loop "$HTTPS" 0 "$m" http://127.0.0.1:8081/callback http://localhost:8081/cb "http://[::1]:8081/cb"
	check loop
	ok "$m: 127.0.0.1, localhost, [::1] (loopback) accepted under an https issuer" contains "$OUT" "is valid"
	variant plain http://127.0.0.1:8080 0 "$m" http://portail.example.fr/callback
	check plain
	ok "$m: a plain-http issuer (development) accepts http anywhere" contains "$OUT" "is valid"
	# Every problem of a file is reported in one pass: one check for all.
	variant shape "$HTTPS" 1 "$m" https://portail.example.fr/cb https://portail.example.fr/cb#top \
		https://jean@portail.example.fr/cb portail.example.fr/cb https:/portail.example.fr/cb
	check shape
	ok "$m: fragment, user info, relative URIs refused" test "$RC" -ne 0
	ok "$m: the good URI is not reported" not_contains "$OUT" "$m[0]"
	for u in "1] \"https://portail.example.fr/cb#top\" of client \"demo-portal-2\" has a fragment" \
		"2] \"https://jean@portail.example.fr/cb\" of client \"demo-portal-2\" has user info" \
		"3] \"portail.example.fr/cb\" of client \"demo-portal-2\" must be an absolute" \
		"4] \"https:/portail.example.fr/cb\" of client \"demo-portal-2\" must be an absolute"; do
		ok "$m[$u" contains "$OUT" "clients[1]: $m[$u"
	done
done

# The login page lets its form post on to the service's origin (Chromium
# applies form-action to the redirect that follows): the host as a browser
# and CSP want it, in punycode, lower case, the IPv6 literal whole.
csp_of() { # csp_of CLIENT REDIRECT: the CSP header of the /authorize page
	curl -s -D - -o /dev/null "$IDP/authorize?response_type=code&client_id=$1&redirect_uri=$2&scope=openid&state=s&nonce=n0nce-0123456789abcdefghij&idp_hint=local&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256" |
		tr -d '\r' | sed -n 's/^[Cc]ontent-[Ss]ecurity-[Pp]olicy: //p'
}
CSP=$(csp_of mairie "https%3A%2F%2FMairie-%C3%89lancourt.FR%2Fcb")
ok "IDN redirect: form-action holds the punycode origin" contains "$CSP" "form-action 'self' https://xn--mairie-lancourt-hnb.fr"
ok "IDN redirect: no raw UTF-8 in the header" not_contains "$CSP" "lancourt.FR"
CSP=$(csp_of v6 "https%3A%2F%2F%5B2001%3ADB8%3A%3A1%5D%3A8443%2Fcb")
ok "IPv6 redirect: form-action holds the whole origin" contains "$CSP" "form-action 'self' https://[2001:db8::1]:8443"
CSP=$(csp_of demo-portal "http%3A%2F%2F127.0.0.1%3A8081%2Fcallback")
ok "loopback redirect: form-action holds its origin with the port" contains "$CSP" "form-action 'self' http://127.0.0.1:8081"
done_tests
