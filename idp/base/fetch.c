/* SPDX-License-Identifier: EUPL-1.2 */
/* One bounded HTTP GET for what the provider and idpctl fetch from others
 * (a client's jwks_uri, a JWKS to check a receipt): the same limits on
 * protocols, redirects, size and time everywhere. */
#include "fetch.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

struct body {
	char *p;
	size_t len, max;
	bool too_big;
};

static size_t on_data(char *p, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;
	char *q;

	if (b->len + n > b->max) {
		b->too_big = true;
		return 0; /* curl stops the transfer */
	}
	if ((q = realloc(b->p, b->len + n + 1)) == NULL)
		return 0;
	memcpy(q + b->len, p, n);
	b->p = q;
	b->len += n;
	q[b->len] = '\0';
	return n;
}

int fetch_bounded(const char *url, long timeout_ms, size_t max, char **body, size_t *len, long *status,
		  const char **why)
{
	struct body b = {.max = max};
	CURL *c = curl_easy_init();
	CURLcode cc;
	int rc;

	*body = NULL;
	*len = 0;
	*status = 0;
	*why = "cannot start a transfer";
	if (c == NULL)
		return IDP_ENOMEM;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	*why = curl_easy_strerror(cc);
	if (b.too_big || cc == CURLE_FILESIZE_EXCEEDED)
		rc = IDP_ETOOBIG;
	else if (cc != CURLE_OK)
		rc = IDP_EIO;
	else if (*status != 200)
		rc = IDP_EDENIED;
	else if (b.p == NULL && (b.p = calloc(1, 1)) == NULL)
		rc = IDP_ENOMEM;
	else {
		*body = b.p;
		*len = b.len;
		return IDP_OK;
	}
	free(b.p);
	return rc;
}
