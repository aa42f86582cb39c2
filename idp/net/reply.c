/* SPDX-License-Identifier: EUPL-1.2 */
/* What goes back: every reply carries the security headers (CSP, nosniff,
 * no referrer, no framing, HSTS under https) and, unless it is the
 * stylesheet, no-store. A request has one reply, queued by loop.c once the
 * request's fiber has ended. */
#include "http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idp.h"
#include "metrics.h"

#define CSP_BASE "default-src 'none'; style-src 'self'; img-src 'self' data:; " \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

static enum MHD_Result reply_with(struct req *r, unsigned status, const char *ctype,
				  struct MHD_Response *resp, bool no_store)
{
	char *csp = NULL;

	if (resp == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	/* A form whose answer redirects to a service needs that origin in
	 * form-action: browsers apply it to the redirect as well. */
	if (r->csp_extra != NULL && asprintf(&csp, "%s %s", CSP_BASE, r->csp_extra) > 0)
		MHD_add_response_header(resp, "Content-Security-Policy", csp);
	else
		MHD_add_response_header(resp, "Content-Security-Policy", CSP_BASE);
	free(csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->cfg != NULL && r->cfg->issuer_https)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	if (no_store) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	}
	for (size_t i = 0; i < r->n_hdrs; i++)
		MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
	return http_send(r, status, resp);
}

enum MHD_Result http_send(struct req *r, unsigned status, struct MHD_Response *resp)
{
	if (resp == NULL)
		return MHD_NO;
	if (r->resp != NULL) { /* a second reply: the first one stands */
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->resp = resp;
	r->status = status;
	metrics_request(r->metric, status);
	return MHD_YES;
}

enum MHD_Result http_reply(struct req *r, unsigned status, const char *ctype, const void *body,
			   size_t len, bool no_store)
{
	return reply_with(r, status, ctype,
			  MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY), no_store);
}

static void free_secret_cb(void *p)
{
	free_secret(p);
}

enum MHD_Result http_reply_owned(struct req *r, unsigned status, const char *ctype, char *text, size_t len)
{
	/* The response owns the text, no copy; wiped when sent: it holds tokens. */
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, text, free_secret_cb);

	if (resp == NULL) {
		free_secret(text);
		return MHD_NO;
	}
	return reply_with(r, status, ctype, resp, true);
}

enum MHD_Result http_json_text(struct req *r, unsigned status, char *text, size_t len)
{
	return http_reply_owned(r, status, "application/json", text, len);
}

enum MHD_Result http_json(struct req *r, unsigned status, const json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);

	return s == NULL ? MHD_NO : http_json_text(r, status, s, strlen(s));
}

enum MHD_Result http_json_error(struct req *r, unsigned status, const char *error,
				const char *description)
{
	json_t *doc = json_pack("{s:s}", "error", error);
	enum MHD_Result ret;

	if (description != NULL)
		json_object_set_new(doc, "error_description", json_string(description));
	ret = http_json(r, status, doc);
	json_decref(doc);
	return ret;
}

/* Whether location is on our own origin (the issuer's). */
static bool is_own_origin(const struct config *cfg, const char *location)
{
	size_t n = strlen(cfg->issuer);

	return strncmp(location, cfg->issuer, n) == 0 && strchr("/?#", location[n]) != NULL;
}

enum MHD_Result http_redirect(struct req *r, const char *location)
{
	/* Chromium checks each redirect that follows a form post against the
	 * form page's form-action: another site's form cannot list the
	 * services we send its answer on to. A Refresh is a new navigation of
	 * ours, not the form's; the link is there for any browser without it. */
	if (r->from_foreign_form && !is_own_origin(r->cfg, location)) {
		json_t *ctx = json_pack("{s:s}", "location", location);
		char *refresh = NULL;
		enum MHD_Result ret;

		if (ctx == NULL || asprintf(&refresh, "0; url=%s", location) < 0) {
			json_decref(ctx);
			return http_error_page(r, 500, "bad_request");
		}
		req_add_header(r, "Refresh", refresh);
		ret = http_page(r, 200, "continue", ctx);
		json_decref(ctx);
		free(refresh);
		return ret;
	}
	req_add_header(r, MHD_HTTP_HEADER_LOCATION, location);
	/* 303 after a POST so that the browser follows with a GET. */
	return http_reply(r, r->is_post ? MHD_HTTP_SEE_OTHER : MHD_HTTP_FOUND, "text/plain", "", 0, true);
}

enum MHD_Result http_page(struct req *r, unsigned status, const char *tmpl, json_t *ctx)
{
	struct buf b;
	enum MHD_Result ret;
	int rc;

	buf_init(&b, 1 << 20);
	json_object_set_new(ctx, "lang", json_string(lang_code(r->lang)));
	json_object_set_new(ctx, "issuer", json_string(r->cfg->issuer));
	rc = tmpl_render(r->rt->tmpl, r->lang, tmpl, ctx, &b);
	if (rc != IDP_OK) {
		buf_release(&b);
		static const char fallback[] = "<!DOCTYPE html><html lang=\"fr\"><title>Erreur</title>"
			"<p>Une erreur interne est survenue. Veuillez réessayer.</p></html>";
		return http_reply(r, 500, "text/html; charset=utf-8", fallback, sizeof(fallback) - 1, true);
	}
	ret = http_reply(r, status, "text/html; charset=utf-8", b.p, b.len, true);
	buf_release(&b);
	return ret;
}

enum MHD_Result http_error_page(struct req *r, unsigned status, const char *code)
{
	json_t *ctx = json_pack("{s:s,s:b}", "code", code, code, 1);
	enum MHD_Result ret = http_page(r, status, "error", ctx);

	json_decref(ctx);
	return ret;
}

enum MHD_Result http_css(struct req *r)
{
	size_t len;
	const char *css = tmpl_css(r->rt->tmpl, &len);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)css, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=3600");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP_BASE);
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return http_send(r, 200, resp);
}
