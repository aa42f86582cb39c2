/* SPDX-License-Identifier: EUPL-1.2 */
/* The pages of a login (pages.h). Values reach the HTML only through the
 * template's escaper; the words for citizens are in templates/LANG/. */
#include "pages.h"
#include "claims.h"
#include "csrf.h"
#include "uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *bind_cookie(struct req *r, bool create)
{
	char name[64];
	const char *c = req_cookie(r, cookie_name(r->cfg, "b", name));
	char *t;

	if (c != NULL && strlen(c) >= 22 && strlen(c) <= 64)
		return c;
	if (r->bind_fresh[0] != '\0')
		return r->bind_fresh;
	if (!create || (t = rand_token(24)) == NULL)
		return NULL;
	/* In the request, not in a static: fibers of one thread interleave. */
	snprintf(r->bind_fresh, sizeof(r->bind_fresh), "%s", t);
	free(t);
	req_set_cookie(r, "b", r->bind_fresh, -1);
	return r->bind_fresh;
}

/* Taken apart by libcurl, so an IPv6 literal or an internationalised host
 * (in punycode, as CSP wants it) gives the whole origin; a URI it cannot
 * read adds nothing. */
void set_form_origin(struct req *r, const char *uri)
{
	char *origin = uri_origin(uri);

	if (origin == NULL)
		return;
	free(r->csp_extra);
	r->csp_extra = origin;
}

void add_form_origin(struct req *r, const char *uri)
{
	char *had = r->csp_extra, *both = NULL;

	/* set_form_origin is the one origin parser: let it make the new
	 * origin alone, then put back the ones the page already listed. */
	r->csp_extra = NULL;
	if (uri != NULL)
		set_form_origin(r, uri);
	if (had == NULL)
		return;
	if (r->csp_extra == NULL || scope_has(had, r->csp_extra) ||
	    asprintf(&both, "%s %s", had, r->csp_extra) < 0) {
		free(r->csp_extra);
		r->csp_extra = had;
		return;
	}
	free(had);
	free(r->csp_extra);
	r->csp_extra = both;
}

static const char *client_name(const struct req *r, const struct authz_req *a)
{
	const struct client *cl = config_client(r->cfg, a->client_id);

	return cl != NULL ? cl->name : NULL;
}

enum MHD_Result page_login(struct req *r, const char *txn_id, const struct authz_req *a,
			   const struct backend *b, unsigned status, const char *error,
			   const char *username)
{
	const char *cname = client_name(r, a), *bind = bind_cookie(r, true);
	char csrf[44];
	json_t *ctx;
	enum MHD_Result ret;

	if (cname == NULL || bind == NULL || b == NULL)
		return http_error_page(r, 400, "bad_request");
	csrf_token("login", txn_id, bind, csrf);
	ctx = json_pack("{s:s,s:s,s:s,s:s,s:s?}", "client_name", cname, "txn", txn_id, "csrf", csrf,
			"backend", b->title, "username", username ? username : a->login_hint);
	if (error != NULL) {
		json_object_set_new(ctx, error, json_true());
		json_object_set_new(ctx, "has_error", json_true());
	}
	set_form_origin(r, a->redirect_uri);
	ret = http_page(r, status, "login", ctx);
	json_decref(ctx);
	return ret;
}

/* The data held by other administrations that the service asks for (its
 * data scopes, claims.h): each named in plain words with the data provider
 * holding it, a box the citizen ticks to share it ("share:SCOPE"). */
static void consent_data(struct req *r, const struct authz_req *a, json_t *ctx)
{
	char data[DATA_SCOPES_MAX][65], name[96], id[32];
	size_t nd = scope_data_words(a->scope, data, DATA_SCOPES_MAX);
	json_t *list = json_array();

	for (size_t i = 0; list != NULL && i < nd; i++) {
		const struct client *dp = config_data_provider(r->cfg, data[i]);
		const char *text = client_scope_text(dp, data[i], r->lang);

		snprintf(name, sizeof(name), "share:%.64s", data[i]);
		snprintf(id, sizeof(id), "share-%zu", i + 1);
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:s}", "name", name, "input_id", id,
						      "text", text ? text : data[i],
						      "provider", dp ? dp->name : data[i]));
	}
	json_object_set_new(ctx, "has_data", json_boolean(nd > 0));
	json_object_set_new(ctx, "data", list ? list : json_array());
}

enum MHD_Result page_consent(struct req *r, const char *txn_id, const struct authz_req *a,
			     const json_t *released, const char *sid)
{
	const char *cname = client_name(r, a), *k;
	char csrf[44], key[128];
	json_t *ctx, *list, *v;
	enum MHD_Result ret;

	if (cname == NULL)
		return http_error_page(r, 400, "bad_request");
	csrf_token("consent", txn_id, sid, csrf);
	list = json_array();
	json_object_foreach((json_t *)released, k, v) {
		const char *label;

		(void)v;
		snprintf(key, sizeof(key), "claim.%s", k);
		label = tmpl_label(r->rt->tmpl, r->lang, key);
		json_array_append_new(list, json_pack("{s:s}", "label", label ? label : k));
	}
	ctx = json_pack("{s:s,s:s,s:s,s:o,s:b}", "client_name", cname, "txn", txn_id, "csrf", csrf,
			"claims", list, "no_claims", json_array_size(list) == 0);
	if (ctx != NULL)
		consent_data(r, a, ctx);
	set_form_origin(r, a->redirect_uri);
	ret = http_page(r, 200, "consent", ctx);
	json_decref(ctx);
	return ret;
}

enum MHD_Result page_choice(struct req *r, const char *txn_id, const struct authz_req *a,
			    const struct backend *const *offered, size_t n,
			    const struct backend *unavailable)
{
	char name[64], csrf[44];
	const char *last = req_cookie(r, cookie_name(r->cfg, "last", name));
	const char *cname = client_name(r, a), *bind = bind_cookie(r, true);
	json_t *list, *ctx;
	enum MHD_Result ret;

	if (cname == NULL || bind == NULL)
		return http_error_page(r, 400, "bad_request");
	csrf_token("choose", txn_id, bind, csrf);
	list = json_array();
	for (int pass = 0; pass < 2; pass++) {
		/* The last choice first, then the others in configuration order. */
		for (size_t i = 0; i < n; i++) {
			const struct backend *b = offered[i];
			bool is_last = last != NULL && strcmp(last, b->id) == 0;

			if ((pass == 0) != is_last)
				continue;
			json_array_append_new(list, json_pack("{s:s,s:s,s:s?,s:b,s:b,s:s}", "id", b->id,
							      "title", b->title, "logo", b->logo,
							      "down", !backend_up(b), "last", is_last,
							      "input_id", b->id));
			/* The form's answer redirects to this provider, and with a
			 * session there straight on through our callback to the
			 * service: form-action must allow both or Chromium stops. */
			add_form_origin(r, b->issuer);
		}
	}
	add_form_origin(r, a->redirect_uri);
	ctx = json_pack("{s:s,s:s,s:s,s:o,s:s?}", "client_name", cname, "txn", txn_id, "csrf", csrf,
			"backends", list, "unavailable", unavailable ? unavailable->title : NULL);
	ret = http_page(r, unavailable ? 503 : 200, "choice", ctx);
	json_decref(ctx);
	return ret;
}

enum MHD_Result page_denied(struct req *r, const struct authz_req *a, const char *code,
			    const char *description)
{
	char *loc = authz_req_error_uri(r->cfg, a, "access_denied", description);
	json_t *ctx = json_pack("{s:s,s:b,s:s?,s:s?}", "code", code, code, 1, "return_url", loc,
				"client_name", client_name(r, a));
	enum MHD_Result ret;

	r->lang = a->lang;
	ret = http_page(r, 403, "error", ctx);
	json_decref(ctx);
	free(loc);
	return ret;
}
