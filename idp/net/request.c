/* SPDX-License-Identifier: EUPL-1.2 */
/* What the client sent: the request's life (made from its URI, freed once
 * answered), strict parameter parsing, headers, cookies, the client's
 * language (its address: address.c). Nothing here answers: route.c decides
 * what a malformed request gets. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "idp.h"

void params_clear(struct params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free_secret(p->v[i].name);
		free_secret(p->v[i].value); /* may be a password or a code */
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int params_parse(const char *s, size_t len, size_t max_params, struct params *out)
{
	const char *end = s + len;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return IDP_OK;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s)), *eq;
		const char *pend = amp ? amp : end;
		char *name, *value;

		if (pend == s) { /* empty pair ("a=1&&b=2") */
			s = pend + 1;
			continue;
		}
		if (out->n == max_params)
			return IDP_ETOOBIG;
		/* Grown as needed: a request has a few parameters, and an array
		 * for max_params at once (1 kB) is an allocation glibc serves by
		 * consolidating its free lists, on every request. */
		if (out->n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct param *nv;

			if (ncap > max_params)
				ncap = max_params;
			if ((nv = realloc(out->v, ncap * sizeof(*nv))) == NULL)
				return IDP_ENOMEM;
			out->v = nv;
			cap = ncap;
		}
		eq = memchr(s, '=', (size_t)(pend - s));
		name = codec_form_decode(s, (size_t)((eq ? eq : pend) - s));
		value = eq ? codec_form_decode(eq + 1, (size_t)(pend - eq - 1)) : strdup("");
		if (name == NULL || value == NULL || name[0] == '\0') {
			free(name);
			free_secret(value);
			return IDP_EINVAL;
		}
		for (size_t i = 0; i < out->n && out->dup == NULL; i++)
			if (strcmp(out->v[i].name, name) == 0)
				out->dup = out->v[i].name;
		out->v[out->n].name = name;
		out->v[out->n].value = value;
		out->n++;
		s = pend + 1;
	}
	return IDP_OK;
}

/* RFC 6749 3.1: a parameter sent without a value is treated as omitted. */
const char *params_get(const struct params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return p->v[i].value[0] ? p->v[i].value : NULL;
	return NULL;
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_cookie(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const struct params *req_params(struct req *r)
{
	return r->is_post ? &r->form : &r->query;
}

void req_add_header(struct req *r, const char *name, const char *value)
{
	if (r->n_hdrs == sizeof(r->hdrs) / sizeof(r->hdrs[0]))
		return;
	r->hdrs[r->n_hdrs].name = strdup(name);
	r->hdrs[r->n_hdrs].value = strdup(value);
	r->n_hdrs++;
}

const char *cookie_name(const struct config *cfg, const char *base, char out[64])
{
	/* Cookies do not tell ports apart: two providers on one host (a hub and
	 * its upstream) need different names, hence the configurable prefix. */
	snprintf(out, 64, "%s%s_%s", cfg->issuer_https ? "__Host-" : "", cfg->cookie_prefix, base);
	return out;
}

void req_set_cookie(struct req *r, const char *base, const char *value, long max_age)
{
	char name[64], *line = NULL, age[48] = "";

	cookie_name(r->cfg, base, name);
	if (max_age >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%ld", max_age);
	if (asprintf(&line, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", name, value,
		     r->cfg->issuer_https ? "; Secure" : "", age) < 0)
		return;
	req_add_header(r, MHD_HTTP_HEADER_SET_COOKIE, line);
	free(line);
}

enum lang req_lang(struct req *r, const char *ui_locales)
{
	const char *al;

	/* ui_locales (OpenID Core 3.1.2.1): space-separated, by preference. */
	for (const char *p = ui_locales; p != NULL && *p;) {
		size_t n = strcspn(p, " ");

		if (n >= 2 && strncasecmp(p, "fr", 2) == 0 && (n == 2 || p[2] == '-'))
			return LANG_FR;
		if (n >= 2 && strncasecmp(p, "en", 2) == 0 && (n == 2 || p[2] == '-'))
			return LANG_EN;
		p += n;
		while (*p == ' ')
			p++;
	}
	/* Accept-Language: the first of fr or en in the order given. */
	if ((al = req_header(r, "Accept-Language")) != NULL) {
		for (const char *p = al; *p;) {
			while (*p == ' ' || *p == ',')
				p++;
			if (strncasecmp(p, "fr", 2) == 0)
				return LANG_FR;
			if (strncasecmp(p, "en", 2) == 0)
				return LANG_EN;
			p += strcspn(p, ",");
		}
	}
	return LANG_FR;
}

struct req *req_new(const char *uri, struct MHD_Connection *conn)
{
	struct req *r = calloc(1, sizeof(*r));
	const char *q;
	size_t max;

	if (r == NULL)
		return NULL;
	r->conn = conn;
	r->rt = rt_acquire();
	r->cfg = r->rt->cfg;
	max = r->cfg->max_url;
	r->head_bytes = strlen(uri);
	q = strchr(uri, '?');
	if (strlen(uri) > max) {
		/* Keep the path (bounded) so that the refusal speaks the
		 * endpoint's language: JSON for /token and /userinfo. */
		r->url_too_long = true;
		r->path = strndup(uri, q != NULL && (size_t)(q - uri) < 256 ? (size_t)(q - uri) : 256);
		return r;
	}
	r->path = q ? strndup(uri, (size_t)(q - uri)) : strdup(uri);
	if (q != NULL && q[1] != '\0')
		r->raw_query = strdup(q + 1);
	return r;
}

void req_begin(struct req *r, struct MHD_Connection *conn, const char *method)
{
	r->started = true;
	r->method = method;
	r->is_post = strcmp(method, "POST") == 0;
	buf_init(&r->body, r->cfg->max_body);
	req_set_ip(r, conn);
	r->lang = req_lang(r, NULL);
}

void req_add_body(struct req *r, const char *data, size_t len)
{
	if (!r->body_too_big && buf_add(&r->body, data, len) != IDP_OK) {
		r->body_too_big = true;
		buf_release(&r->body);
	}
}

int req_parse(struct req *r, unsigned *status, const char **why)
{
	const char *ct;
	int rc;

	if (r->url_too_long) {
		*status = 414;
		*why = "the URL is too long";
		return IDP_ETOOBIG;
	}
	if (r->body_too_big) {
		*status = 413;
		*why = "the request body is too large";
		return IDP_ETOOBIG;
	}
	if (r->raw_query != NULL) {
		rc = params_parse(r->raw_query, strlen(r->raw_query), r->cfg->max_params, &r->query);
		if (rc != IDP_OK) {
			*status = rc == IDP_ETOOBIG ? 413 : 400;
			*why = rc == IDP_ETOOBIG ? "too many parameters" : "malformed query string";
			return rc;
		}
	}
	if (r->is_post) {
		ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		/* Only form posts: JSON or multipart bodies are refused, not guessed.
		 * An empty body has no type to check (POST /userinfo with the
		 * Bearer header, POST /logout): curl and most libraries send none. */
		if (r->body.len > 0 &&
		    (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
		     (ct[33] != '\0' && ct[33] != ';'))) {
			*status = 415;
			*why = "Content-Type must be application/x-www-form-urlencoded";
			return IDP_EINVAL;
		}
		rc = params_parse(r->body.p ? r->body.p : "", r->body.len, r->cfg->max_params, &r->form);
		if (rc != IDP_OK) {
			*status = rc == IDP_ETOOBIG ? 413 : 400;
			*why = rc == IDP_ETOOBIG ? "too many parameters" : "malformed form body";
			return rc;
		}
	}
	return IDP_OK;
}

void req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	params_clear(&r->query);
	params_clear(&r->form);
	buf_release(&r->body);
	for (size_t i = 0; i < r->n_hdrs; i++) {
		free(r->hdrs[i].name);
		free_secret(r->hdrs[i].value); /* Location may carry a code */
	}
	free(r->path);
	free_secret(r->raw_query);
	free(r->csp_extra);
	rt_release(r->rt);
	free(r);
}
