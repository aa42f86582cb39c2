/* SPDX-License-Identifier: EUPL-1.2 */
/* URIs through libcurl's URL API: registration checks, canonical hosts and
 * origins (IDN through libidn2), and redirects with parameters added. */
#include "uri.h"

#include <arpa/inet.h>
#include <locale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "util.h"

char *uri_with_params(const char *uri, const char *const *kv, size_t n)
{
	struct buf b;
	bool query = strchr(uri, '?') != NULL;
	int rc;

	buf_init(&b, 16384);
	rc = buf_adds(&b, uri);
	for (size_t i = 0; i + 1 < n && rc == IDP_OK; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		if ((rc = buf_adds(&b, query ? "&" : "?")) == IDP_OK && (rc = buf_adds(&b, kv[i])) == IDP_OK &&
		    (rc = buf_adds(&b, "=")) == IDP_OK)
			rc = buf_add_urlenc(&b, kv[i + 1]);
		query = true;
	}
	if (rc != IDP_OK) {
		buf_release(&b);
		return NULL;
	}
	return buf_steal(&b);
}

/* u parsed by libcurl when it is an absolute http or https URI; NULL
 * otherwise. The caller frees it with curl_url_cleanup. */
static CURLU *uri_parse(const char *u)
{
	CURLU *h = NULL;
	char *scheme = NULL;

	if (u == NULL || (h = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		curl_url_cleanup(h);
		h = NULL;
	}
	curl_free(scheme);
	return h;
}

/* libidn2, which libcurl calls to turn a host into punycode, reads the host
 * in the charset of the thread's locale: under the "C" locale the daemon
 * runs in, every non-ASCII host would be refused. C.UTF-8 is set for that
 * one call on this thread only (uselocale), nothing else in the process. */
static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The host of a parsed URI, canonical as uri_host documents; drop_dot:
 * one trailing dot removed. NULL for a host that cannot be made ASCII. */
static char *uri_host_of(CURLU *h, bool drop_dot)
{
	char *raw = NULL, *out = NULL;
	unsigned flags = 0;
	locale_t prev = (locale_t)0;
	CURLUcode uc;
	size_t n;

#ifdef CURLU_PUNYCODE
	flags = CURLU_PUNYCODE;
	pthread_once(&utf8_locale_once, utf8_locale_init);
	if (utf8_locale != (locale_t)0)
		prev = uselocale(utf8_locale);
#endif
	uc = curl_url_get(h, CURLUPART_HOST, &raw, flags);
	if (prev != (locale_t)0)
		uselocale(prev);
	if (uc != CURLUE_OK)
		goto out;
	/* Without punycode support a non-ASCII host stays as written: refused
	 * rather than compared in a form another spelling would not match. */
	for (unsigned char *p = (unsigned char *)raw; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			goto out;
		if (*p >= 'A' && *p <= 'Z')
			*p = (unsigned char)(*p - 'A' + 'a');
	}
	n = strlen(raw);
	if (raw[0] == '[' && n > 2 && n < INET6_ADDRSTRLEN + 2 && raw[n - 1] == ']') {
		/* libcurl leaves some IPv6 forms as written ([::ffff:7f00:1] and
		 * [::ffff:127.0.0.1]); glibc writes every one the RFC 5952 way. */
		char text[INET6_ADDRSTRLEN];
		struct in6_addr a6;

		memcpy(text, raw + 1, n - 2);
		text[n - 2] = '\0';
		if (inet_pton(AF_INET6, text, &a6) != 1 || inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL)
			goto out;
		if (asprintf(&out, "[%s]", text) < 0)
			out = NULL;
		goto out;
	}
	if (drop_dot && n > 1 && raw[n - 1] == '.')
		raw[--n] = '\0';
	if (n == 0 || strcmp(raw, ".") == 0)
		goto out;
	out = strdup(raw);
out:
	curl_free(raw);
	return out;
}

char *uri_host(const char *u)
{
	CURLU *h = uri_parse(u);
	char *host = h != NULL ? uri_host_of(h, true) : NULL;

	curl_url_cleanup(h);
	return host;
}

char *uri_origin(const char *u)
{
	CURLU *h = uri_parse(u);
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (h == NULL || (host = uri_host_of(h, false)) == NULL ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	/* No port part is no error: the scheme's default port (or none given). */
	if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
		port = NULL;
	if (asprintf(&out, "%s://%s%s%s", scheme, host, port != NULL ? ":" : "", port != NULL ? port : "") < 0)
		out = NULL;
out:
	curl_free(scheme);
	curl_free(port);
	free(host);
	curl_url_cleanup(h);
	return out;
}

bool uri_host_is_loopback(const char *host)
{
	struct in_addr a;

	if (host == NULL)
		return false;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	/* libcurl writes every IPv4 form (127.1, 0x7f.0.0.1) in dotted decimal. */
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* True when libcurl finds the part in h (an empty user "@host" counts). */
static bool uri_has(CURLU *h, CURLUPart what)
{
	char *v = NULL;
	bool has = curl_url_get(h, what, &v, 0) == CURLUE_OK;

	curl_free(v);
	return has;
}

const char *uri_problem(const char *u, bool http_loopback_only)
{
	const char *why = NULL, *rest;
	CURLU *h = NULL;
	char *host = NULL;
	size_t len = u != NULL ? strlen(u) : 0;
	bool http;

	if (len == 0)
		return "is empty";
	if (len > 2048)
		return "is longer than 2048 bytes";
	for (const unsigned char *p = (const unsigned char *)u; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("\"<>\\", *p) != NULL)
			return "holds a control character, a space, a quote, '<', '>' or a backslash";
	if (!utf8_valid(u, len))
		return "is not UTF-8";
	/* Spelled out: libcurl also reads "https:/host" and "https:///host",
	 * which no browser sends back to match them. */
	http = strncmp(u, "http://", 7) == 0;
	rest = http ? u + 7 : strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;
	if (rest == NULL || *rest == '/' || *rest == '\0')
		return "must be an absolute http or https URI (https://host/path)";
	if (strchr(u, '#') != NULL)
		return "has a fragment ('#'), which a redirect cannot carry";
	if ((h = uri_parse(u)) == NULL) {
		why = "is not a valid URI (libcurl refuses it)";
		goto out;
	}
	if (uri_has(h, CURLUPART_USER) || uri_has(h, CURLUPART_PASSWORD) ||
	    uri_has(h, CURLUPART_OPTIONS)) {
		why = "has user info ('user@' before the host)";
		goto out;
	}
	if (uri_has(h, CURLUPART_ZONEID)) {
		why = "has an IPv6 zone ('%' in the address)";
		goto out;
	}
	if ((host = uri_host_of(h, true)) == NULL) {
		why = "has a host that is not a valid name (an internationalised one must be valid IDNA)";
		goto out;
	}
	if (http && http_loopback_only && !uri_host_is_loopback(host))
		why = "uses http on a host that is not loopback: use https (the issuer is https; "
		      "http is kept for 127.0.0.0/8, [::1] and localhost, RFC 8252 7.3)";
out:
	free(host);
	curl_url_cleanup(h);
	return why;
}
