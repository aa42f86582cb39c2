/* /authorize (OpenID Core 3.1.2), the login form's POST and the consent
 * page's POST: each reads its input and hands over to the flow (flow.h). */
#include "flow.h"
#include "metrics.h"
#include "oidc.h"
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

/* A login failure counts against the address and the username; past the
 * limits the form answers "too many attempts" without checking anything. */
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

/* The counters as read (with the transaction, in one round trip). */
static bool rl_over(const struct req *r, const char *ip_count, const char *user_count)
{
	long long nip = 0, nuser = 0;

	if (ip_count != NULL)
		parse_ll(ip_count, 0, 1LL << 60, &nip);
	if (user_count != NULL)
		parse_ll(user_count, 0, 1LL << 60, &nuser);
	return nip >= r->cfg->rl_ip_per_min || nuser >= r->cfg->rl_user_failures;
}

static void rl_count_failure(const struct rl_keys *k)
{
	long long n;

	store_incr(&g_idp.store, k->ip, 60, &n);
	store_incr(&g_idp.store, k->user, 900, &n);
}

enum MHD_Result ep_login(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *user = params_get(p, "username"), *pass = params_get(p, "password");
	char key[128], name[64], *vals[3] = {NULL, NULL, NULL};
	const char *keys[3] = {key, NULL, NULL};
	size_t lens[3];
	struct rl_keys rk;
	struct authz_req a;
	const struct backend *b;
	struct idp_identity id = {0};
	struct idp_login lr;
	enum MHD_Result ret;
	bool limited;
	int rc;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	txn_key(txn, key);
	/* The transaction and both failure counters: one round trip. */
	if (user != NULL) {
		rl_keys_make(r, user, &rk);
		keys[1] = rk.ip;
		keys[2] = rk.user;
	}
	if (store_mget(&g_idp.store, keys, user != NULL ? 3 : 1, vals, lens) != IDP_OK || vals[0] == NULL) {
		for (int i = 0; i < 3; i++)
			free(vals[i]);
		return http_error_page(r, 400, "expired");
	}
	limited = user != NULL && rl_over(r, vals[1], vals[2]);
	free(vals[1]);
	free(vals[2]);
	if (txn_from_text(key, vals[0], lens[0], &a) != IDP_OK)
		return http_error_page(r, 400, "expired");
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
	if (limited) {
		metrics_count(M_LOGIN_THROTTLED);
		ret = page_login(r, txn, &a, b, 429, "too_many", user);
		goto out;
	}
	if (b == NULL || config_client(r->cfg, a.client_id) == NULL || b->ops->login == NULL) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	lr.username = user;
	lr.password = pass;
	lr.remote_addr = r->ip;
	rc = backend_login(b, &lr, &id);
	if (rc == IDP_EUNAVAIL) {
		backend_report((struct backend *)b, rc);
		ret = page_login(r, txn, &a, b, 503, "unavailable", user);
		goto out;
	}
	if (rc != IDP_OK || id.subject == NULL) {
		char tag[9];

		secret_tag(user, tag);
		idp_log(LOG_INFO, "login: failure for user %s from %s", tag, r->ip);
		rl_count_failure(&rk);
		metrics_count(M_LOGIN_FAILED);
		ret = page_login(r, txn, &a, b, 401, "bad_credentials", user);
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	/* The transaction is single-use: consumed with the session's creation,
	 * so that of two concurrent posts, one wins. */
	ret = flow_authenticated(r, &a, b, &id, key);
out:
	identity_release(&id);
	authz_req_release(&a);
	return ret;
}

enum MHD_Result ep_consent(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *decision = params_get(p, "decision");
	char sid[65];
	struct authz_req a;
	json_t *sess;
	enum MHD_Result ret;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL || decision == NULL)
		return http_error_page(r, 400, "bad_request");
	sess = session_load(r, sid);
	if (sess == NULL)
		return http_error_page(r, 400, "expired");
	/* Bound to the session: the sid is a hash of the session cookie. */
	if (!csrf_check("consent", txn, sid, csrf)) {
		json_decref(sess);
		return http_error_page(r, 403, "csrf");
	}
	if (txn_take(txn, &a) != IDP_OK) {
		json_decref(sess);
		return http_error_page(r, 400, "expired");
	}
	r->lang = a.lang;
	/* The transaction was saved for this very session. */
	if (strcmp(a.sid, sid) != 0)
		ret = http_error_page(r, 400, "bad_request");
	else
		ret = flow_consented(r, &a, sess, sid, strcmp(decision, "accept") == 0);
	json_decref(sess);
	authz_req_release(&a);
	return ret;
}
