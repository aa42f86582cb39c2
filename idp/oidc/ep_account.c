/* SPDX-License-Identifier: EUPL-1.2 */
/* /account: the citizen's own page (README "The account page"), reached
 * with the live session's cookie: which services received which data, from
 * which data provider, when (each with its signed receipt); the remembered
 * consents, each withdrawable (its service's access tokens for the citizen
 * are revoked with it, and its refresh tokens: offline access ends); the
 * services that keep access while the citizen is away (offline_access), each
 * endable alone; the live sessions, with "log out everywhere", which ends
 * the sessions and their tokens but not offline access (OpenID Core 11: it
 * is meant for when the citizen is not logged in; the page says so).
 * Without a session it shows no data, only how to log in. Every POST
 * carries the CSRF token bound to the session, as the logout form. */
#include "audit.h"
#include "csrf.h"
#include "ledger.h"
#include "refresh.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *fmt_utc(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, 32, "?");
	return out;
}

static const char *service_name(const struct config *cfg, const char *id)
{
	const struct client *cl = config_client(cfg, id);

	return cl != NULL && cl->name != NULL ? cl->name : id;
}

/* The data providers' names, for the page. */
static json_t *provider_names(const struct config *cfg, const char *ids)
{
	json_t *a = json_array();

	for (const char *p = ids; a != NULL && p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		char w[129];

		if (n > 0 && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			json_array_append_new(a, json_string(service_name(cfg, w)));
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return a;
}

/* The claim names as the consent page wrote them (labels.json). */
static json_t *claim_labels(struct req *r, const char *names)
{
	json_t *a = json_array();

	for (const char *p = names; a != NULL && p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		char w[129], k[160];
		const char *l;

		if (n > 0 && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			snprintf(k, sizeof(k), "claim.%s", w);
			l = tmpl_label(r->rt->tmpl, r->lang, k);
			json_array_append_new(a, json_string(l != NULL ? l : w));
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return a;
}

static json_t *releases_view(struct req *r, const char *sub)
{
	json_t *list = NULL, *out = json_array(), *e;
	size_t i;
	char t[32];

	if (out == NULL || ledger_releases(sub, &list) != IDP_OK) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(list, i, e) {
		const char *k = json_string_value(json_object_get(e, "k")) ?: "";
		const char *p = json_string_value(json_object_get(e, "p"));
		json_t *v = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "when",
				      fmt_utc(json_integer_value(json_object_get(e, "t")), t), "service",
				      service_name(r->cfg, json_string_value(json_object_get(e, "c"))), "categories",
				      json_string_value(json_object_get(e, "s")) ?: "", "jti",
				      json_string_value(json_object_get(e, "j")) ?: "", "kind_token",
				      strcmp(k, "token") == 0, "kind_introspection", strcmp(k, "introspection") == 0);

		if (v != NULL && p != NULL)
			json_object_set_new(v, "providers", provider_names(r->cfg, p));
		if (v != NULL)
			json_array_append_new(out, v);
	}
	json_decref(list);
	return out;
}

/* The latest end of client's offline access among fams (0: none). */
static long long offline_until(const struct refresh_family *fams, size_t n, const char *client)
{
	long long until = 0;

	for (size_t i = 0; client != NULL && i < n; i++)
		if (strcmp(fams[i].client, client) == 0 && fams[i].expires > until)
			until = fams[i].expires;
	return until;
}

/* The services keeping offline access, one entry each: until when, and the
 * latest refresh. */
static json_t *offline_view(struct req *r, const struct refresh_family *fams, size_t n)
{
	json_t *out = json_array();
	char t[32], u[32];

	for (size_t i = 0; out != NULL && i < n; i++) {
		long long used = 0;
		bool seen = false;

		for (size_t j = 0; j < i; j++)
			seen = seen || strcmp(fams[j].client, fams[i].client) == 0;
		if (seen)
			continue;
		for (size_t j = i; j < n; j++)
			if (strcmp(fams[j].client, fams[i].client) == 0 && fams[j].used > used)
				used = fams[j].used;
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s*}", "service",
						     service_name(r->cfg, fams[i].client), "client", fams[i].client,
						     "until", fmt_utc(offline_until(fams, n, fams[i].client), t),
						     "used", used > 0 ? fmt_utc(used, u) : NULL));
	}
	return out;
}

static json_t *consents_view(struct req *r, const char *sub, const struct refresh_family *fams, size_t nf)
{
	json_t *list = NULL, *out = json_array(), *e;
	size_t i;
	char t[32], o[32];

	if (out == NULL || ledger_consents(sub, &list) != IDP_OK) {
		json_decref(out);
		return NULL;
	}
	json_array_foreach(list, i, e) {
		json_t *v = json_pack("{s:s,s:s,s:s,s:o}", "when",
				      fmt_utc(json_integer_value(json_object_get(e, "t")), t), "service",
				      service_name(r->cfg, json_string_value(json_object_get(e, "c"))), "consent",
				      json_string_value(json_object_get(e, "k")), "claims",
				      claim_labels(r, json_string_value(json_object_get(e, "n"))));

		long long until = offline_until(fams, nf, json_string_value(json_object_get(e, "c")));

		if (v != NULL && until > 0)
			json_object_set_new(v, "offline_until", json_string(fmt_utc(until, o)));
		if (v != NULL)
			json_array_append_new(out, v);
	}
	json_decref(list);
	return out;
}

static json_t *sessions_view(const char *sub)
{
	struct session **list = NULL;
	json_t *out = json_array();
	size_t n = 0;
	char a[32], c[32], tag[9];

	if (out == NULL || session_list_subject(&g_idp.store, sub, &list, &n) != IDP_OK) {
		json_decref(out);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		secret_tag(list[i]->sid_hash, tag);
		json_array_append_new(out, json_pack("{s:s,s:s,s:s,s:s}", "authenticated",
						     fmt_utc(list[i]->auth_time, a), "created",
						     fmt_utc(list[i]->created, c), "backend", list[i]->backend,
						     "tag", tag));
		session_free(list[i]);
	}
	free(list);
	return out;
}

static enum MHD_Result account_page(struct req *r, const struct session *sess, const char *notice)
{
	json_t *ctx = json_object(), *rel, *con, *ses, *off;
	struct refresh_family *fams = NULL;
	size_t nf = 0;
	char csrf[44];
	enum MHD_Result ret;

	if (ctx == NULL)
		return http_error_page(r, 500, "unavailable");
	if (notice != NULL)
		json_object_set_new(ctx, notice, json_true());
	if (sess == NULL) {
		json_object_set_new(ctx, "no_session", json_true());
		ret = http_page(r, 200, "account", ctx);
		json_decref(ctx);
		return ret;
	}
	if (refresh_families(&g_idp.store, r->cfg, sess->sub, NULL, &fams, &nf) != IDP_OK) {
		json_decref(ctx);
		return http_error_page(r, 503, "unavailable");
	}
	rel = releases_view(r, sess->sub);
	con = consents_view(r, sess->sub, fams, nf);
	ses = sessions_view(sess->sub);
	off = offline_view(r, fams, nf);
	free(fams);
	if (rel == NULL || con == NULL || ses == NULL || off == NULL) {
		json_decref(rel);
		json_decref(con);
		json_decref(ses);
		json_decref(off);
		json_decref(ctx);
		return http_error_page(r, 503, "unavailable");
	}
	json_object_set_new(ctx, "has_offline", json_boolean(json_array_size(off) > 0));
	json_object_set_new(ctx, "offline", off);
	csrf_token("account", "x", sess->sid_hash, csrf);
	json_object_set_new(ctx, "csrf", json_string(csrf));
	json_object_set_new(ctx, "has_releases", json_boolean(json_array_size(rel) > 0));
	json_object_set_new(ctx, "has_consents", json_boolean(json_array_size(con) > 0));
	json_object_set_new(ctx, "releases", rel);
	json_object_set_new(ctx, "consents", con);
	json_object_set_new(ctx, "sessions", ses);
	ret = http_page(r, 200, "account", ctx);
	json_decref(ctx);
	return ret;
}

/* GET /account?receipt=JTI: the signed receipt, as a file. */
static enum MHD_Result receipt(struct req *r, const struct session *sess, const char *jti)
{
	char *jws = NULL, disp[96];
	int rc;

	if (strlen(jti) != 22 || strspn(jti, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != 22)
		return http_error_page(r, 404, "not_found");
	rc = ledger_receipt(r->cfg, sess->sub, jti, &jws);
	if (rc == IDP_ENOTFOUND)
		return http_error_page(r, 404, "not_found");
	if (rc != IDP_OK)
		return http_error_page(r, 503, "unavailable");
	snprintf(disp, sizeof(disp), "attachment; filename=\"receipt-%s.jwt\"", jti);
	req_add_header(r, "Content-Disposition", disp);
	return http_reply_owned(r, 200, "application/jwt", jws, strlen(jws));
}

enum MHD_Result ep_account(struct req *r)
{
	const struct params *p = req_params(r);
	const char *action = params_get(p, "action"), *jti = params_get(&r->query, "receipt");
	struct session *sess;
	enum MHD_Result ret;
	char client[128];
	size_t n = 0;

	r->lang = req_lang(r, params_get(p, "ui_locales"));
	if (p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	sess = session_load(r);
	if (!r->is_post) {
		if (sess != NULL && jti != NULL)
			ret = receipt(r, sess, jti);
		else
			ret = account_page(r, sess, sess == NULL                         ? NULL
						    : params_get(p, "withdrawn") != NULL   ? "withdrawn"
						    : params_get(p, "offline_ended") != NULL ? "offline_ended"
											     : NULL);
		session_free(sess);
		return ret;
	}
	/* A POST: the session's own form only. */
	if (sess == NULL)
		return account_page(r, NULL, NULL);
	if (!csrf_check("account", "x", sess->sid_hash, params_get(p, "csrf"))) {
		session_free(sess);
		return http_error_page(r, 403, "csrf");
	}
	if (action != NULL && strcmp(action, "withdraw") == 0) {
		int rc = ledger_consent_withdraw(sess->sub, params_get(p, "consent") ?: "", client);

		if (rc == IDP_OK)
			audit_event("consent", r->ip, "result", "withdrawn", "client", client, "sub", sess->sub, NULL);
		session_free(sess);
		if (rc == IDP_ENOTFOUND)
			return http_error_page(r, 404, "not_found");
		if (rc != IDP_OK)
			return http_error_page(r, 503, "unavailable");
		return http_redirect(r, r->lang == LANG_EN ? "/account?withdrawn=1&ui_locales=en" : "/account?withdrawn=1");
	}
	if (action != NULL && strcmp(action, "end_offline") == 0) {
		/* A service's offline access alone: its refresh families, with the
		 * access tokens they issued; the consent stays. */
		const char *cid = params_get(p, "client");
		size_t ended = 0;
		int rc = cid != NULL && config_client(r->cfg, cid) != NULL
				 ? refresh_families_end(&g_idp.store, r->cfg, sess->sub, cid, &ended)
				 : IDP_ENOTFOUND;

		if (rc == IDP_OK)
			audit_event("token", r->ip, "result", "offline_ended", "client", cid, "sub", sess->sub, NULL);
		session_free(sess);
		if (rc == IDP_ENOTFOUND)
			return http_error_page(r, 404, "not_found");
		if (rc != IDP_OK)
			return http_error_page(r, 503, "unavailable");
		return http_redirect(r, r->lang == LANG_EN ? "/account?offline_ended=1&ui_locales=en"
							   : "/account?offline_ended=1");
	}
	if (action != NULL && strcmp(action, "logout_all") == 0) {
		int rc = session_end_subject(&g_idp.store, sess->sub, &n);

		audit_event("logout", r->ip, "scope", "everywhere", "sub", sess->sub, NULL);
		session_destroy(r, "");
		session_free(sess);
		if (rc != IDP_OK)
			return http_error_page(r, 503, "unavailable");
		return account_page(r, NULL, "logged_out");
	}
	session_free(sess);
	return http_error_page(r, 400, "bad_request");
}
