/* SPDX-License-Identifier: Apache-2.0 */
/* HTTP to the provider with libcurl.
 *
 * liboauth2 1.4.5 has oauth2_http_call(), but it does not fit a library
 * that runs inside someone else's process: it follows up to 5 redirects
 * (from https to http too), hides the response's Content-Type (userinfo needs
 * it to tell JSON from a signed JWT), cuts the body at the first NUL, logs
 * the request body and basic-auth password at debug level (the client
 * secret), and needs oauth2_init(), which keeps a process-wide curl handle
 * and mutex (measured: rp/README.md, "Why not liboauth2"). Here: no
 * redirects, https only (loopback http on request), a size cap on every
 * body, the media type returned, no logging. */
#include "rp_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct sink {
	struct buf buf;
	bool too_big;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t len = size * nmemb;

	if (rp_buf_add(&s->buf, data, len) != RP_OK) {
		s->too_big = true;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	return len;
}

static bool loopback_host(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "[::1]") == 0 ||
	       strcasecmp(host, "localhost") == 0;
}

int rp_url_check(const struct rp_config *cfg, const char *fn, const char *url,
		 struct rp_error *err)
{
	char *scheme = NULL, *host = NULL, *frag = NULL;
	char shown[96];
	CURLU *u;
	int rc = RP_OK;

	if ((u = curl_url()) == NULL)
		return rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
	rp_sanitize(shown, sizeof(shown), url, SIZE_MAX);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		rc = rp_fail(err, RP_E_INVAL, "%s: \"%s\" is not a URL", fn, shown);
		goto out;
	}
	/* Endpoints may not carry a fragment (RFC 6749 3.1). */
	if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		rc = rp_fail(err, RP_E_INVAL, "%s: \"%s\" has a fragment", fn, shown);
		goto out;
	}
	if (strcmp(scheme, "https") == 0)
		goto out;
	if (strcmp(scheme, "http") == 0 && cfg->http_loopback && loopback_host(host))
		goto out;
	rc = rp_fail(err, RP_E_INSECURE, "%s: \"%s\" is not https%s", fn, shown,
		     cfg->http_loopback ? " nor loopback http" : "");
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(frag);
	curl_url_cleanup(u);
	return rc;
}

void rp_http_resp_release(struct rp_http_resp *r)
{
	if (r->body != NULL) {
		wipe(r->body, r->len);
		free(r->body);
	}
	memset(r, 0, sizeof(*r));
}

static void media_type(char *dst, size_t cap, const char *ct)
{
	size_t i = 0;

	dst[0] = '\0';
	if (ct == NULL)
		return;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (; ct[i] != '\0' && ct[i] != ';' && ct[i] != ' ' && i + 1 < cap; i++)
		dst[i] = (char)tolower((unsigned char)ct[i]);
	dst[i] = '\0';
}

int rp_http(const struct rp_config *cfg, const char *fn, const char *url,
	    const char *const *headers, const char *post, size_t max,
	    struct rp_http_resp *resp, struct rp_error *err)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *list = NULL, *tmp;
	struct sink sink;
	char *ctype = NULL;
	CURLcode cc;
	CURL *curl = NULL;
	int rc;

	memset(resp, 0, sizeof(*resp));
	buf_init(&sink.buf, max);
	sink.too_big = false;
	if ((rc = rp_url_check(cfg, fn, url, err)) != RP_OK)
		return rc;
	for (; headers != NULL && *headers != NULL; headers++) {
		if ((tmp = curl_slist_append(list, *headers)) == NULL) {
			rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
			goto out;
		}
		list = tmp;
	}
	if (post != NULL) {
		tmp = curl_slist_append(list, "Content-Type: application/x-www-form-urlencoded");
		if (tmp == NULL) {
			rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
			goto out;
		}
		list = tmp;
	}
	if ((curl = curl_easy_init()) == NULL) {
		rc = rp_fail(err, RP_E_NOMEM, "%s: curl_easy_init failed", fn);
		goto out;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, cfg->http_loopback ? "http,https" : "https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_ms);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, cfg->total_ms);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "librp/1.0");
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	if (cfg->ca_file != NULL)
		curl_easy_setopt(curl, CURLOPT_CAINFO, cfg->ca_file);
	if (post != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
	}
	cc = curl_easy_perform(curl);
	if (sink.too_big) {
		rc = rp_fail(err, RP_E_TOO_BIG, "%s: response larger than %zu bytes", fn, max);
		goto out;
	}
	if (cc != CURLE_OK) {
		rc = rp_fail(err, RP_E_NETWORK, "%s: %s", fn,
			     errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ctype);
	media_type(resp->ctype, sizeof(resp->ctype), ctype);
	resp->len = sink.buf.len;
	resp->body = buf_steal(&sink.buf);
	if (resp->body == NULL)
		rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
out:
	buf_release(&sink.buf);
	curl_easy_cleanup(curl);
	/* Header lines may hold the client secret or the access token. */
	for (tmp = list; tmp != NULL; tmp = tmp->next)
		wipe(tmp->data, strlen(tmp->data));
	curl_slist_free_all(list);
	return rc;
}

/* One part of a parsed URL, lower-cased by libcurl where it normalises; the
 * default port filled in, so that https://h and https://h:443 are one. */
static char *url_part(CURLU *u, CURLUPart what)
{
	char *v = NULL;

	if (curl_url_get(u, what, &v, what == CURLUPART_PORT ? CURLU_DEFAULT_PORT : 0) != CURLUE_OK)
		return NULL;
	return v;
}

bool rp_same_origin(const char *a, const char *b)
{
	static const CURLUPart parts[] = {CURLUPART_SCHEME, CURLUPART_HOST, CURLUPART_PORT};
	CURLU *ua = curl_url(), *ub = curl_url();
	bool same = ua != NULL && ub != NULL && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
		    curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK;

	for (size_t i = 0; same && i < sizeof(parts) / sizeof(parts[0]); i++) {
		char *pa = url_part(ua, parts[i]), *pb = url_part(ub, parts[i]);

		same = pa != NULL && pb != NULL && strcasecmp(pa, pb) == 0;
		curl_free(pa);
		curl_free(pb);
	}
	curl_url_cleanup(ua);
	curl_url_cleanup(ub);
	return same;
}
