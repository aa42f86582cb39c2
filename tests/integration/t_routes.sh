#!/bin/sh
# The routing table (idp/net/route.c): each path answers its methods, any
# other method gets 405 with Allow (JSON for the OAuth endpoints, a page for
# the citizens'), an unknown path a 404 page, and each answer is counted
# under its route's metrics label.
# stores: memory
. "$(dirname "$0")/lib.sh"
setup_tmp
METRICS_PORT=$(free_port)
echo "{\"metrics\": {\"listen\": \"127.0.0.1:$METRICS_PORT\"}}" >"$TMP/extra.json"
start_idp memory

hdr() { printf %s "$2" | tr -d '\r' | sed '/^$/q' | grep -i "^$1:" | head -n1 | cut -d' ' -f2-; }
req() { H=$(curl -s -i -X "$1" "$IDP$2"); }
head_req() { H=$(curl -s -i -I "$IDP$1"); }

# route PATH ALLOW ERRORS: the methods outside ALLOW get 405 with Allow: ALLOW
# in ERRORS (json or page); those inside do not.
route() {
	for m in GET HEAD POST PUT DELETE PATCH OPTIONS; do
		if [ "$m" = HEAD ]; then head_req "$1"; else req "$m" "$1"; fi
		case ", $2," in
		*", $m,"*)
			ok "$m $1: routed (not 405 or 404)" test "$(status "$H")" != 405 -a "$(status "$H")" != 404 ;;
		*)
			ok "$m $1: 405 with Allow: $2" eq "$(status "$H") $(hdr Allow "$H")" "405 $2"
			[ "$m" = HEAD ] && continue
			if [ "$3" = json ]; then
				ok "$m $1: JSON error" eq "$(body "$H" | jget error) $(body "$H" | jget error_description)" "invalid_request use $2"
			else
				ok "$m $1: error page" contains "$(body "$H")" "method</p>"
			fi ;;
		esac
	done
}

route /.well-known/openid-configuration "GET, HEAD" page
route /jwks "GET, HEAD" page
route /authorize "GET, HEAD, POST" page
route /login "POST" page
route /consent "POST" page
route /otp "POST" page
route /choose "POST" page
route /callback/local "GET, HEAD" page
route /token "POST" json
route /userinfo "GET, HEAD, POST" json
route /introspect "POST" json
route /revoke "POST" json
route /logout "GET, HEAD, POST" page
route /session/end "GET, HEAD, POST" page
route /logout/return "GET, HEAD" page
route /static/style.css "GET, HEAD" page
route /healthz "GET, HEAD" page
req GET /metrics
ok "GET /metrics: 404 on the citizens' listener" eq "$(status "$H")" 404

for p in /nowhere /callback /callbackx /logout/ /token/ /static/other.css /Token; do
	req GET "$p"
	ok "GET $p: 404 page" eq "$(status "$H") $(hdr Allow "$H")" "404 "
	ok "GET $p: not_found" contains "$(body "$H")" "not_found</p>"
done
# Each page sets its own title, in its language.
req GET /nowhere
ok "the French error page's title" contains "$H" "<title>Erreur - Connexion aux services publics</title>"
H=$(curl -s -i -H 'Accept-Language: en' "$IDP/nowhere")
ok "the English error page's title" contains "$H" "<title>Error - Public services login</title>"
for f in "$ROOT"/templates/*/[!_]*.html; do
	ok "$(basename "$(dirname "$f")")/$(basename "$f") has one title, after _page_start" \
		eq "$(grep -c '^{{>_page_start}}<title>[^{}<]* - [^{}<]*</title>$' "$f")" 1
done
head_req /healthz
ok "HEAD /healthz: 200, no body" eq "$(status "$H") $(body "$H")" "200 "
H=$(curl -s -i "$IDP/static/style.css")
ok "the stylesheet is cacheable" contains "$(hdr Cache-Control "$H")" "max-age"
ok "the stylesheet has the CSP" contains "$(hdr Content-Security-Policy "$H")" "default-src 'none'"

# The metrics labels come from the same table: two paths of one endpoint
# share a label, a prefix route counts its whole subtree, anything unknown
# is "other", refusals count under the route they were sent to.
M=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
mval() { printf '%s\n' "$M" | grep -F "$1 " | head -n1 | awk '{print $2}'; }
msum() { printf '%s\n' "$M" | grep -F "idp_http_requests_total{endpoint=\"$1\"," | awk '{s += $2} END {print s + 0}'; }
ok "metrics: /logout and /session/end counted as /logout" test "$(msum /logout)" -ge 14
ok "metrics: /session/end has no label of its own" not_contains "$M" 'endpoint="/session/end"'
ok "metrics: /callback/ID counted as /callback" test "$(mval 'idp_http_requests_total{endpoint="/callback",code="4xx"}')" -ge 6
ok "metrics: the stylesheet counted as /static" test "$(mval 'idp_http_requests_total{endpoint="/static",code="2xx"}')" -ge 2
ok "metrics: unknown paths are other" test "$(mval 'idp_http_requests_total{endpoint="other",code="4xx"}')" -ge 8
ok "metrics: no label for an unknown path" not_contains "$M" 'endpoint="/nowhere"'
ok "metrics: token 405s counted as /token" test "$(mval 'idp_http_requests_total{endpoint="/token",code="4xx"}')" -ge 6
LONG=$(python3 -c 'print("a" * 9000)')
H=$(curl -s -i -X POST "$IDP/token?x=$LONG")
ok "a URL past max_url on /token: 414 in JSON" eq "$(status "$H") $(body "$H" | jget error)" "414 invalid_request"
M=$(curl -s "http://127.0.0.1:$METRICS_PORT/metrics")
ok "metrics: the 414 counted as /token" test "$(mval 'idp_http_requests_total{endpoint="/token",code="4xx"}')" -ge 7

done_tests
