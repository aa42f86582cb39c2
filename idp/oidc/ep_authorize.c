/* SPDX-License-Identifier: EUPL-1.2 */
/* /authorize (OpenID Core 3.1.2), the login form's POST, the second
 * factor's POST and the consent page's POST: each reads its input and hands
 * over to the flow (flow.h). */
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

/* Login throttling. Every secret about to be checked, a password or a
 * second-factor code, is first counted, atomically, against the address
 * (per minute) and the citizen (per 15 minutes); past either limit nothing
 * is checked. Counting before the check, not after a failure, bounds the
 * secrets verified per window whatever the concurrency: of N simultaneous
 * posts, only those the counter admitted reach the backend. A success
 * gives its attempt back (the limits count failures): only someone who
 * knows the secret can do so. A code is counted with the password's
 * limits, the citizen's under a name of its own ("otp:" and the subject). */
struct attempt {
	const char *user;    /* the username typed (a password), or NULL */
	const char *sub;     /* the citizen (a second factor), or NULL */
	const char *factor;  /* NULL: the password; "otp": the code */
	char ip_key[128], who_key[128];
	unsigned status;     /* refused: 429 (over a limit) or 503 (not counted) */
	const char *error;   /* ... and the form's message */
};

/* Counts attempt t (user or sub and factor set). IDP_OK: check the
 * secret, then attempt_give_back on success or attempt_failed. Else
 * refused (over a limit: IDP_EDENIED, the count stays, a refused attempt
 * is still one; or the store failed, and nothing that cannot be counted
 * is checked), logged and counted: the caller shows its form again with
 * t->status and t->error. */
static int attempt_take(const struct req *r, const struct authz_req *a, const struct backend *b,
			struct attempt *t)
{
	const char *keys[2] = {t->ip_key, t->who_key};
	const unsigned ttls[2] = {60, 900};
	long long n[2] = {0, 0};
	char h[65];
	struct buf who;
	int rc;

	snprintf(t->ip_key, sizeof(t->ip_key), "rl:ip:%s", r->ip);
	buf_init(&who, 8192);
	if (t->factor == NULL)
		rc = buf_adds(&who, t->user);
	else
		rc = buf_printf(&who, "%s:%s", t->factor, t->sub);
	if (rc == IDP_OK) {
		sha256_hex(who.p != NULL ? who.p : "", who.len, h);
		snprintf(t->who_key, sizeof(t->who_key), "rl:user:%.32s", h);
		rc = store_incr_n(&g_idp.store, keys, ttls, 2, n);
	}
	buf_release(&who);
	if (rc == IDP_OK && (n[0] > r->cfg->rl_ip_per_min || n[1] > r->cfg->rl_user_failures))
		rc = IDP_EDENIED;
	if (rc == IDP_EDENIED) {
		metrics_count(M_LOGIN_THROTTLED);
		usage_count(USAGE_FAIL_THROTTLED);
		audit_event("login", r->ip, "result", "failure", "client", a->client_id, "backend", b->id,
			    "user", t->user, "sub", t->sub, "factor", t->factor, "cause", "throttled", NULL);
		t->status = 429;
		t->error = "too_many";
	} else if (rc != IDP_OK) {
		idp_log(LOG_ERR, "login: the attempt could not be counted (%s); not checked", idp_strerror(rc));
		usage_count(USAGE_FAIL_UNAVAILABLE);
		t->status = 503;
		t->error = "unavailable";
	}
	return rc;
}

/* The secret was right, or nothing was learnt about it: the attempt is
 * given back. */
static void attempt_give_back(const struct attempt *t)
{
	const char *keys[2] = {t->ip_key, t->who_key};

	store_decr_n(&g_idp.store, keys, 2);
}

/* The secret was wrong (cause: "bad_credentials", "bad_code"): the
 * attempt stays counted; logged, audited, counted. */
static void attempt_failed(const struct req *r, const struct authz_req *a, const struct backend *b,
			   const struct attempt *t, const char *cause)
{
	char tag[9];

	secret_tag(t->user != NULL ? t->user : t->sub, tag);
	idp_log(LOG_INFO, "login: %s refused for %s %s from %s", t->factor != NULL ? t->factor : "password",
		t->user != NULL ? "user" : "subject", tag, r->ip);
	audit_event("login", r->ip, "result", "failure", "client", a->client_id, "backend", b->id,
		    "user", t->user, "sub", t->sub, "factor", t->factor, "cause", cause, NULL);
	metrics_count(M_LOGIN_FAILED);
	usage_count(USAGE_FAIL_CREDENTIALS);
}

/* A form's transaction, read (not taken: a wrong password or code may be
 * typed again on the same form) into a; key: its store key, consumed when
 * the login goes on. IDP_ENOTFOUND when gone or unreadable. */
static int form_txn_read(const char *txn, char key[128], struct authz_req *a)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	txn_key(txn, key);
	if ((rc = store_get(&g_idp.store, key, &text, &len)) != IDP_OK)
		return rc;
	return txn_from_text(key, text, len, a) == IDP_OK ? IDP_OK : IDP_ENOTFOUND; /* frees text */
}

/* The answer when form_txn_read failed with rc. A store that does not
 * answer is not an expired form: 503, try again. */
static enum MHD_Result form_txn_unread(struct req *r, int rc)
{
	if (rc == IDP_ENOTFOUND) {
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
	return http_error_page(r, 503, "unavailable");
}

enum MHD_Result ep_login(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *user = params_get(p, "username"), *pass = params_get(p, "password");
	char key[128], name[64];
	struct attempt t = {.user = user};
	struct authz_req a;
	const struct backend *b;
	struct idp_identity id = {0};
	struct idp_login lr;
	enum MHD_Result ret;
	int rc;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	if ((rc = form_txn_read(txn, key, &a)) != IDP_OK)
		return form_txn_unread(r, rc);
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
	if (attempt_take(r, &a, b, &t) != IDP_OK) {
		ret = page_login(r, txn, &a, b, t.status, t.error, user);
		goto out;
	}
	lr.username = user;
	lr.password = pass;
	lr.remote_addr = r->ip;
	rc = backend_login(b, &lr, &id);
	if (rc == IDP_EUNAVAIL) {
		/* No answer about the password: nothing learnt, nothing counted. */
		attempt_give_back(&t);
		backend_report((struct backend *)b, rc);
		usage_count(USAGE_FAIL_UNAVAILABLE);
		ret = page_login(r, txn, &a, b, 503, "unavailable", user);
		goto out;
	}
	if (rc != IDP_OK || id.subject == NULL) {
		attempt_failed(r, &a, b, &t, "bad_credentials");
		ret = page_login(r, txn, &a, b, 401, "bad_credentials", user);
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	attempt_give_back(&t);
	usage_count(USAGE_LOGIN_DONE);
	/* The transaction is single-use: consumed with the session's creation,
	 * so that of two concurrent posts, one wins. */
	ret = flow_authenticated(r, &a, b, &id, key, user);
out:
	identity_release(&id);
	authz_req_release(&a);
	return ret;
}

/* Second-factor codes are single use (RFC 6238 5.2): the last time step
 * used is kept per citizen and backend, and a code is taken only for a
 * later step, so neither the same code nor an older one of the window
 * passes again. A lock record makes the read and the write one step
 * across nodes; a concurrent attempt finds it and is refused. Kept longer
 * than any code of the window stays valid. */
#define OTP_USED_TTL 300
#define OTP_LOCK_TTL 5

static int otp_step_take(const struct session *sess, uint64_t step)
{
	char h[65], key[160], lock[160], *text = NULL, val[24];
	size_t len = 0;
	unsigned long long last = 0;
	int rc;

	sha256_hex(sess->sub, strlen(sess->sub), h);
	snprintf(key, sizeof(key), "otp:%.64s:%s", sess->backend, h);
	snprintf(lock, sizeof(lock), "otp:lock:%.64s:%s", sess->backend, h);
	if ((rc = store_add(&g_idp.store, lock, "1", 1, OTP_LOCK_TTL)) != IDP_OK)
		return rc == IDP_EEXIST ? IDP_EDENIED : rc;
	rc = store_get(&g_idp.store, key, &text, &len);
	if (rc == IDP_OK && sscanf(text, "%llu", &last) != 1)
		rc = IDP_EINVAL;
	free(text);
	if (rc == IDP_ENOTFOUND || (rc == IDP_OK && step > last)) {
		snprintf(val, sizeof(val), "%llu", (unsigned long long)step);
		rc = store_put(&g_idp.store, key, val, strlen(val), OTP_USED_TTL);
	} else if (rc == IDP_OK) {
		rc = IDP_EDENIED;
	}
	store_del(&g_idp.store, lock);
	return rc;
}

enum MHD_Result ep_second_factor(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf"), *code = params_get(p, "code");
	char key[128];
	struct attempt t = {.factor = "otp"};
	struct authz_req a;
	struct session *sess;
	const struct backend *b;
	uint64_t step = 0;
	enum MHD_Result ret;
	int rc;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	/* Bound to the session: the sid is a hash of the session cookie. */
	if ((sess = session_load(r)) == NULL)
		return http_error_page(r, 400, "expired");
	if (!csrf_check("otp", txn, sess->sid_hash, csrf)) {
		session_free(sess);
		return http_error_page(r, 403, "csrf");
	}
	if ((rc = form_txn_read(txn, key, &a)) != IDP_OK) {
		session_free(sess);
		return form_txn_unread(r, rc);
	}
	r->lang = a.lang;
	b = backend_find(r->rt, sess->backend);
	/* The transaction was saved for this very session. */
	if (strcmp(a.sid, sess->sid_hash) != 0 || b == NULL || config_client(r->cfg, a.client_id) == NULL) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	if (code == NULL || strlen(code) != 6 || strspn(code, "0123456789") != 6) {
		ret = page_second_factor(r, txn, &a, b, sess->sid_hash, 400, "bad_code");
		goto out;
	}
	t.sub = sess->sub;
	if (attempt_take(r, &a, b, &t) != IDP_OK) {
		ret = page_second_factor(r, txn, &a, b, sess->sid_hash, t.status, t.error);
		goto out;
	}
	rc = backend_second_factor(b, sess->up, code, &step);
	if (rc == IDP_OK)
		rc = otp_step_take(sess, step);
	if (rc != IDP_OK && rc != IDP_EDENIED) {
		attempt_give_back(&t);
		idp_log(LOG_ERR, "login: second factor not checked (%s)", idp_strerror(rc));
		usage_count(USAGE_FAIL_UNAVAILABLE);
		ret = page_second_factor(r, txn, &a, b, sess->sid_hash, 503, "unavailable");
		goto out;
	}
	if (rc != IDP_OK) {
		attempt_failed(r, &a, b, &t, "bad_code");
		ret = page_second_factor(r, txn, &a, b, sess->sid_hash, 401, "bad_code");
		goto out;
	}
	attempt_give_back(&t);
	usage_count(USAGE_OTP_DONE);
	ret = flow_second_factor(r, &a, b, sess, key);
out:
	session_free(sess);
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
