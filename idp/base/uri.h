/* SPDX-License-Identifier: EUPL-1.2 */
/* URIs: whether one may be registered, its host and origin in canonical
 * form, and the redirects built from one with parameters added. They are
 * taken apart by libcurl's URL API (curl_url), never by hand. */
#ifndef IDP_URI_H
#define IDP_URI_H

#include <stdbool.h>
#include <stddef.h>

/* Why u may not be registered as a redirect, post-logout or resource URI
 * (a static English phrase to follow the URI in a message), or NULL when
 * it may: an absolute http or https URI written "scheme://host...", with a
 * host that is a valid name or address, at most 2048 bytes of UTF-8 without
 * control characters, spaces, quotes, '<', '>' or backslashes, and no fragment,
 * user info or IPv6 zone. With http_loopback_only, plain http is accepted
 * on loopback hosts only (RFC 8252 7.3; uri_host_is_loopback). */
const char *uri_problem(const char *u, bool http_loopback_only);
/* The host of an http(s) URI in one canonical form, so that two spellings
 * of one host give one pairwise sector: IPv4 in dotted decimal, IPv6
 * compressed in lower case between brackets and without its zone, an
 * internationalised name in punycode (IDNA2008 with UTS 46 mapping, which
 * also folds its case: libidn2 through libcurl), ASCII in lower case, and
 * one trailing dot dropped ("example.fr." is "example.fr"). NULL when u is
 * not such a URI or its host is not a valid name. The caller frees it. */
char *uri_host(const char *u);
/* "scheme://host[:port]" of an http(s) URI, the origin a browser sees
 * (host as uri_host gives it, its trailing dot kept; the scheme's default
 * port left out), for a Content-Security-Policy source. NULL when u is not
 * such a URI. The caller frees it. */
char *uri_origin(const char *u);
/* host as uri_host returns it: true for 127.0.0.0/8, [::1] and localhost. */
bool uri_host_is_loopback(const char *host);

/* uri with name=value parameters added to its query (kv: n/2 pairs of
 * names and values, values URL-encoded, NULL values left out): the
 * redirects that carry a code, an error or a state back. NULL when out of
 * memory or too long. The caller frees it. */
char *uri_with_params(const char *uri, const char *const *kv, size_t n);

#endif
