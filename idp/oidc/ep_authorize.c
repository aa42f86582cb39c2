/* SPDX-License-Identifier: EUPL-1.2 */
/* /authorize (OpenID Core 3.1.2), the login form's POST and the consent
 * page's POST: each reads its input and hands over to the flow (flow.h). */
#include "audit.h"
#include "claims.h"
#include "flow.h"
#include "usage.h"
#include "metrics.h"
#include "csrf.h"
#include "pages.h"
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result ep_authorize(struct req *r)
{
	const struct params *p = req_params(r);
	struct authz_req a;
	struct authz_refusal why;
	enum MHD_Result ret;

	r->lang = req_lang(r, params_get(p, "ui_locales"));
	if (authz_req_parse(r->rt, p, r->lang, &a, &why) != IDP_OK) {
		/* Before the client and its redirect_uri are known to be good, a
		 * page; after, the error goes back to the client. */
		ret = why.page != NULL ? http_error_page(r, why.status, why.page)
				       : flow_refuse(r, &a, why.error, why.description);
	} else {
		ret = flow_authorize(r, &a);
	}
	authz_req_release(&a);
	return ret;
}

/* Login throttling. Every password about to be checked is first counted,
 * atomically, against the address (per minute) and the username (per
 * 15 minutes); past either limit nothing is checked. Counting before the
 * check, not after a failure, bounds the passwords verified per window
 * whatever the concurrency: of N simultaneous posts, only those the counter
 * admitted reach the backend. A success gives its attempt back (the limits
 * count failures): only someone who knows the password can do so. */
struct rl_keys {
	char ip[128], user[128];
};

static void rl_keys_make(const struct req *r, const char *username, struct rl_keys *k)
{
	char h[65];

	snprintf(k->ip, sizeof(k->ip), "rl:ip:%s", r->ip);
	sha256_hex(username, strlen(username), h);
	snprintf(k->user, sizeof(k->user), "rl:user:%.32s", h);
}

/* IDP_OK: this attempt may check a password; IDP_EDENIED: over a limit
 * (its count stays: a refused attempt is still an attempt); another code:
 * the store failed, and nothing that cannot be counted is checked. */
static int rl_take_attempt(const struct req *r, const struct rl_keys *k)
{
	const char *keys[2] = {k->ip, k->user};
	const unsigned ttls[2] = {60, 900};
	long long n[2] = {0, 0};
	int rc;

	if ((rc = store_incr_n(&g_idp.store, keys, ttls, 2, n)) != IDP_OK)
		return rc;
	return n[0] > r->cfg->rl_ip_per_min || n[1] > r->cfg->rl_user_failures ? IDP_EDENIED : IDP_OK;
}

static void rl_give_back(const struct rl_keys *k)
{
	const char *keys[2] = {k->ip, k->user};

	store_decr_n(&g_idp.store, keys, 2);
}

enum MHD_Result ep_login(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *user = params_get(p, "username"), *pass = params_get(p, "password");
	char key[128], name[64], *text = NULL;
	size_t len = 0;
	struct rl_keys rk;
	struct authz_req a;
	const struct backend *b;
	struct idp_identity id = {0};
	struct idp_login lr;
	enum MHD_Result ret;
	int rc;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	txn_key(txn, key);
	/* A store that does not answer is not an expired form: 503, try again. */
	if ((rc = store_get(&g_idp.store, key, &text, &len)) != IDP_OK && rc != IDP_ENOTFOUND) {
		req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
		return http_error_page(r, 503, "unavailable");
	}
	if (rc != IDP_OK || txn_from_text(key, text, len, &a) != IDP_OK) { /* frees text */
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	r->lang = a.lang;
	b = backend_find(r->rt, a.backend);
	if (!csrf_check("login", txn, req_cookie(r, cookie_name(r->cfg, "b", name)), csrf)) {
		ret = http_error_page(r, 403, "csrf");
		goto out;
	}
	if (user == NULL || pass == NULL) {
		ret = page_login(r, txn, &a, b, 400, "missing", user);
		goto out;
	}
	if (strlen(user) > 256 || strlen(pass) > 1024) {
		ret = page_login(r, txn, &a, b, 400, "bad_credentials", NULL);
		goto out;
	}
	if (b == NULL || config_client(r->cfg, a.client_id) == NULL || b->ops->login == NULL) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	rl_keys_make(r, user, &rk);
	if ((rc = rl_take_attempt(r, &rk)) == IDP_EDENIED) {
		metrics_count(M_LOGIN_THROTTLED);
		usage_count(USAGE_FAIL_THROTTLED);
		audit_event("login", r->ip, "result", "failure", "client", a.client_id, "backend", b->id,
			    "user", user, "cause", "throttled", NULL);
		ret = page_login(r, txn, &a, b, 429, "too_many", user);
		goto out;
	}
	if (rc != IDP_OK) {
		idp_log(LOG_ERR, "login: the attempt could not be counted (%s); not checked", idp_strerror(rc));
		usage_count(USAGE_FAIL_UNAVAILABLE);
		ret = page_login(r, txn, &a, b, 503, "unavailable", user);
		goto out;
	}
	lr.username = user;
	lr.password = pass;
	lr.remote_addr = r->ip;
	rc = backend_login(b, &lr, &id);
	if (rc == IDP_EUNAVAIL) {
		/* No answer about the password: nothing learnt, nothing counted. */
		rl_give_back(&rk);
		backend_report((struct backend *)b, rc);
		usage_count(USAGE_FAIL_UNAVAILABLE);
		ret = page_login(r, txn, &a, b, 503, "unavailable", user);
		goto out;
	}
	if (rc != IDP_OK || id.subject == NULL) {
		char tag[9];

		secret_tag(user, tag);
		idp_log(LOG_INFO, "login: failure for user %s from %s", tag, r->ip);
		audit_event("login", r->ip, "result", "failure", "client", a.client_id, "backend", b->id,
			    "user", user, "cause", "bad_credentials", NULL);
		metrics_count(M_LOGIN_FAILED);
		usage_count(USAGE_FAIL_CREDENTIALS);
		ret = page_login(r, txn, &a, b, 401, "bad_credentials", user);
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	rl_give_back(&rk);
	usage_count(USAGE_LOGIN_DONE);
	/* The transaction is single-use: consumed with the session's creation,
	 * so that of two concurrent posts, one wins. */
	ret = flow_authenticated(r, &a, b, &id, key, user);
out:
	identity_release(&id);
	authz_req_release(&a);
	return ret;
}

/* A data scope (claims.h) is granted only when the citizen ticked its box
 * ("share:SCOPE"): unticked, the login goes on without it. */
static int keep_shared(const struct params *p, struct authz_req *a)
{
	char data[DATA_SCOPES_MAX][65], name[96];
	size_t nd = scope_data_words(a->scope, data, DATA_SCOPES_MAX);
	struct buf b;

	buf_init(&b, strlen(a->scope) + 16);
	for (const char *w = a->scope; *w;) {
		size_t n = strcspn(w, " ");
		bool keep = true;

		for (size_t i = 0; i < nd; i++)
			if (strlen(data[i]) == n && strncmp(data[i], w, n) == 0) {
				snprintf(name, sizeof(name), "share:%.64s", data[i]);
				keep = params_get(p, name) != NULL;
			}
		if (keep && ((b.len > 0 && buf_adds(&b, " ") != IDP_OK) || buf_add(&b, w, n) != IDP_OK)) {
			buf_release(&b);
			return IDP_ENOMEM;
		}
		w += n;
		while (*w == ' ')
			w++;
	}
	free(a->scope);
	a->scope = buf_steal(&b);
	return a->scope != NULL ? IDP_OK : IDP_ENOMEM;
}

enum MHD_Result ep_consent(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *decision = params_get(p, "decision");
	struct authz_req a;
	struct session *sess;
	enum MHD_Result ret;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL || decision == NULL)
		return http_error_page(r, 400, "bad_request");
	sess = session_load(r);
	if (sess == NULL) {
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	/* Bound to the session: the sid is a hash of the session cookie. */
	if (!csrf_check("consent", txn, sess->sid_hash, csrf)) {
		session_free(sess);
		return http_error_page(r, 403, "csrf");
	}
	if (txn_take(txn, &a) != IDP_OK) {
		session_free(sess);
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	r->lang = a.lang;
	/* The transaction was saved for this very session. */
	if (strcmp(a.sid, sess->sid_hash) != 0)
		ret = http_error_page(r, 400, "bad_request");
	else if (keep_shared(p, &a) != IDP_OK)
		ret = http_error_page(r, 500, "bad_request");
	else
		ret = flow_consented(r, &a, sess, strcmp(decision, "accept") == 0);
	session_free(sess);
	authz_req_release(&a);
	return ret;
}
