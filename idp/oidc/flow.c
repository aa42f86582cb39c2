/* SPDX-License-Identifier: EUPL-1.2 */
/* The life of a login (flow.h), top to bottom: the session check, the
 * choice of backend, what follows an authentication, consent, the code. */
#include "audit.h"
#include "flow.h"
#include "ledger.h"
#include "claims.h"
#include "code.h"
#include "metrics.h"
#include "pages.h"
#include "usage.h"
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Defined below, in the order a login meets them. */
static enum MHD_Result decide(struct req *r, struct authz_req *a, bool use_cache);
static bool session_usable(struct req *r, const struct authz_req *a, const struct client *cl,
			   const struct session *sess, int min_rank);
static bool can_step_up(struct req *r, const struct authz_req *a, const struct client *cl,
			const struct session *sess);
static enum MHD_Result ask_second_factor(struct req *r, struct authz_req *a, const struct session *sess);
static enum MHD_Result choose_backend(struct req *r, struct authz_req *a, const struct client *cl);
static enum MHD_Result code_or_consent(struct req *r, struct authz_req *a, const struct client *cl,
				       const struct session *sess, bool *issued, bool *stale);
static enum MHD_Result issue_code(struct req *r, const struct authz_req *a, const struct client *cl,
				  const struct session *sess, const char *consent_key, bool *missing);
static enum MHD_Result txn_refused(struct req *r, const struct authz_req *a, int rc);

/* ---- 1. /authorize: is the session usable? ------------------------------ */

/* A session's backend could raise it (session_raise) and has not yet. */
static bool raisable(struct req *r, const struct session *sess)
{
	const struct backend *b = backend_find(r->rt, sess->backend);

	return sess->ck[0] == '\0' && b != NULL &&
	       config_acr_rank(r->cfg, sess->acr) < config_acr_rank(r->cfg, b->acr);
}

enum MHD_Result flow_authorize(struct req *r, struct authz_req *a)
{
	return decide(r, a, true);
}

/* Between login, consent and the code; with use_cache, from the process's
 * copy of the session when it has one. */
static enum MHD_Result decide(struct req *r, struct authz_req *a, bool use_cache)
{
	const struct client *cl = config_client(r->cfg, a->client_id);
	struct session *sess = use_cache ? session_load_cached(r) : session_load(r);
	enum MHD_Result ret;
	bool issued, stale;

	/* A copy below the level asked, or below its backend's (never raised),
	 * may predate a raise on another node (session_raise), which also
	 * replaced the cookie that copy still accepts: the store says. */
	if (sess != NULL && sess->cached &&
	    (config_acr_rank(r->cfg, sess->acr) < a->min_acr_rank || raisable(r, sess))) {
		session_free(sess);
		return decide(r, a, false);
	}
	if (!session_usable(r, a, cl, sess, a->min_acr_rank)) {
		/* Below the level asked, but its backend can reach it with the
		 * citizen's second factor: only that is asked, not the password. */
		if (can_step_up(r, a, cl, sess) && !authz_prompt_has(a, PROMPT_NONE)) {
			ret = ask_second_factor(r, a, sess);
			session_free(sess);
			return ret;
		}
		session_free(sess);
		if (authz_prompt_has(a, PROMPT_NONE))
			return flow_refuse(r, a, "login_required", "the citizen is not logged in");
		return choose_backend(r, a, cl);
	}
	ret = code_or_consent(r, a, cl, sess, &issued, &stale);
	/* From the copy: the session may have ended elsewhere (or the consent
	 * be missing); the store says which. */
	if (stale)
		session_cache_drop(sess->sid_hash);
	session_free(sess);
	if (issued)
		metrics_count(M_SSO_REUSED);
	if (stale)
		return decide(r, a, false);
	return ret;
}

/* Whether the session answers this request as it is: no prompt to log in
 * again, young enough for max_age, at level min_rank at least, and the
 * citizen the request names (id_token_hint, claims sub.value). */
static bool session_usable(struct req *r, const struct authz_req *a, const struct client *cl,
			   const struct session *sess, int min_rank)
{
	bool ok = true;

	/* select_account: the citizen may pick a backend again, even with a
	 * live session (choose_backend shows the choice page). */
	if (sess == NULL || authz_prompt_has(a, PROMPT_LOGIN) || authz_prompt_has(a, PROMPT_SELECT_ACCOUNT))
		return false;
	/* Reused only as a login this client could have made now: through a
	 * backend it allows (then at the level it asks, below). */
	if (!client_allows_backend(cl, sess->backend))
		return false;
	/* Whole seconds: an authentication of this very second is 0 s old, and
	 * max_age=0 must still force a new one (like prompt=login). */
	if (a->max_age >= 0 && now_s() - sess->auth_time >= a->max_age)
		return false;
	if (config_acr_rank(r->cfg, sess->acr) < min_rank)
		return false;
	/* Another citizen's session is no answer (issue_code refuses a
	 * sub.value mismatch after the login too). */
	if (a->hint_sub != NULL || a->want_sub != NULL) {
		char *s = subject_for(r->cfg, cl, sess->sub);

		ok = s != NULL && (a->hint_sub == NULL || strcmp(s, a->hint_sub) == 0) &&
		     (a->want_sub == NULL || strcmp(s, a->want_sub) == 0);
		free(s);
	}
	return ok;
}

/* A session good in all but its level, whose backend reaches the level
 * asked with a second factor the citizen has. */
static bool can_step_up(struct req *r, const struct authz_req *a, const struct client *cl,
			const struct session *sess)
{
	const struct backend *b = sess != NULL ? backend_find(r->rt, sess->backend) : NULL;
	uint64_t counter;

	return b != NULL && config_acr_rank(r->cfg, b->acr) >= a->min_acr_rank &&
	       config_acr_rank(r->cfg, sess->acr) < config_acr_rank(r->cfg, b->acr) &&
	       session_usable(r, a, cl, sess, -1) &&
	       backend_second_factor(b, sess->up, NULL, &counter) == IDP_OK;
}

/* The second factor's page, its transaction bound to the session (as the
 * consent page's). */
static enum MHD_Result ask_second_factor(struct req *r, struct authz_req *a, const struct session *sess)
{
	const struct backend *b = backend_find(r->rt, sess->backend);
	char *txn = NULL;
	enum MHD_Result ret;
	int rc;

	memcpy(a->sid, sess->sid_hash, sizeof(a->sid));
	if ((rc = txn_save(r, a, &txn)) != IDP_OK)
		return txn_refused(r, a, rc);
	usage_count(USAGE_OTP_SHOWN);
	ret = page_second_factor(r, txn, a, b, sess->sid_hash, 200, NULL);
	free(txn);
	return ret;
}

/* ---- 2. No: choose a backend --------------------------------------------- */

/* A backend this client allows that reaches the level it asks for. */
static bool eligible(const struct rt *rt, const struct backend *b, const struct client *cl, int min_rank)
{
	return client_allows_backend(cl, b->id) && config_acr_rank(rt->cfg, b->acr) >= min_rank;
}

/* Sends the citizen to backend b: its login form, or its upstream provider. */
static enum MHD_Result start_backend(struct req *r, struct authz_req *a, const struct backend *b)
{
	char *txn = NULL, *url = NULL, *cb = NULL, hash[65];
	json_t *ptxn = NULL;
	const char *state, *bind;
	enum MHD_Result ret;
	int rc;

	free(a->backend);
	if ((a->backend = strdup(b->id)) == NULL)
		return flow_refuse(r, a, "server_error", "out of memory");
	if (b->ops->login != NULL) {
		if ((rc = txn_save(r, a, &txn)) != IDP_OK)
			return txn_refused(r, a, rc);
		usage_count(USAGE_LOGIN_SHOWN);
		ret = page_login(r, txn, a, b, 200, NULL, NULL);
		free(txn);
		return ret;
	}
	if (b->ops->begin == NULL || asprintf(&cb, "%s/callback/%s", r->cfg->issuer, b->id) < 0)
		return http_error_page(r, 500, "bad_request");
	/* The record stored below is a transaction too: counted the same. */
	if ((rc = txn_admit(r)) != IDP_OK) {
		free(cb);
		return txn_refused(r, a, rc);
	}
	rc = backend_begin(b, cb, &url, &ptxn);
	free(cb);
	backend_report((struct backend *)b, rc);
	state = json_string_value(json_object_get(ptxn, "state"));
	if (rc != IDP_OK || url == NULL || state == NULL) {
		free(url);
		json_decref(ptxn);
		usage_count(USAGE_FAIL_UNAVAILABLE);
		return page_denied(r, a, "upstream_down", "the identity provider is not answering");
	}
	/* The return is bound to this browser (no login CSRF across browsers)
	 * and to this request; the plugin's state finds it again. */
	bind = bind_cookie(r, true);
	sha256_hex(bind ? bind : "", bind ? strlen(bind) : 0, hash);
	if (upstream_save(r, a, b->id, ptxn, state, hash) != IDP_OK)
		ret = flow_refuse(r, a, "temporarily_unavailable", "the store is not answering");
	else
		ret = http_redirect(r, url);
	free(url);
	json_decref(ptxn);
	return ret;
}

/* The choice page, saved as a new transaction. unavailable: the backend the
 * citizen just picked, which is down. */
static enum MHD_Result show_choice(struct req *r, struct authz_req *a, const struct client *cl,
				   const struct backend *unavailable)
{
	const struct backend **offered = calloc(r->rt->n_backends + 1, sizeof(*offered));
	char *txn = NULL;
	size_t n = 0;
	enum MHD_Result ret;
	int rc = IDP_ENOMEM;

	if (offered == NULL || bind_cookie(r, true) == NULL || (rc = txn_save(r, a, &txn)) != IDP_OK) {
		free(offered);
		return txn_refused(r, a, rc);
	}
	for (size_t i = 0; i < r->rt->n_backends; i++)
		if (eligible(r->rt, &r->rt->backends[i], cl, a->min_acr_rank))
			offered[n++] = &r->rt->backends[i];
	usage_count(USAGE_CHOICE_SHOWN);
	ret = page_choice(r, txn, a, offered, n, unavailable);
	free(offered);
	free(txn);
	return ret;
}

/* A login is needed: idp_hint names the backend, or the only eligible one
 * is taken, or the citizen chooses. */
static enum MHD_Result choose_backend(struct req *r, struct authz_req *a, const struct client *cl)
{
	const struct backend *only = NULL;
	size_t n = 0;

	if (a->idp_hint != NULL) {
		const struct backend *b = backend_find(r->rt, a->idp_hint);

		if (b == NULL || !client_allows_backend(cl, b->id))
			return flow_refuse(r, a, "invalid_request", "invalid_idp_hint: unknown identity provider, or not allowed for this service");
		if (!eligible(r->rt, b, cl, a->min_acr_rank))
			return flow_refuse(r, a, "access_denied", "invalid_idp_hint: this identity provider does not reach the requested level");
		return start_backend(r, a, b);
	}
	for (size_t i = 0; i < r->rt->n_backends; i++)
		if (eligible(r->rt, &r->rt->backends[i], cl, a->min_acr_rank)) {
			only = &r->rt->backends[i];
			n++;
		}
	/* An essential acr gets the error registered for it (OpenID Connect
	 * Core Unmet Authentication Requirements 1.0), telling the service
	 * that no login here can reach it, not that the citizen refused. */
	if (n == 0 && acr_essential(a->claims))
		return flow_refuse(r, a, "unmet_authentication_requirements",
				   "no identity provider reaches the essential assurance level");
	if (n == 0)
		return flow_refuse(r, a, "access_denied", "no identity provider reaches the requested assurance level");
	if (n == 1 && !authz_prompt_has(a, PROMPT_SELECT_ACCOUNT))
		return start_backend(r, a, only);
	return show_choice(r, a, cl, NULL);
}

enum MHD_Result flow_backend_chosen(struct req *r, struct authz_req *a, const char *backend_id)
{
	const struct client *cl = config_client(r->cfg, a->client_id);
	const struct backend *b = backend_find(r->rt, backend_id);

	/* Only a backend the page offered: eligible for this client and level. */
	if (cl == NULL || b == NULL || !eligible(r->rt, b, cl, a->min_acr_rank))
		return http_error_page(r, 400, "bad_request");
	/* Greyed out (a form posted before it went down, or forged): the
	 * citizen is not walked into it, and chooses again. */
	if (!backend_up(b)) {
		idp_log(LOG_INFO, "choose: %s is marked unavailable; choice page again", b->id);
		return show_choice(r, a, cl, b);
	}
	usage_count(USAGE_CHOICE_DONE);
	return start_backend(r, a, b);
}

/* ---- 3. Authenticated: the session ---------------------------------------- */

/* The level a login through b reached. A form backend checked the
 * credentials itself: no acr means the level its password reaches
 * (password_acr; the second factor then reaches its acr). An upstream
 * provider that names no level, or one we do not know, vouches for nothing
 * more than the weakest level: taking the backend's level would over-claim.
 * Either way a backend cannot claim more than it is configured to reach. */
static const char *acr_reached(const struct config *cfg, const struct backend *b, const char *acr)
{
	if (acr == NULL && b->ops->login != NULL)
		acr = b->password_acr;
	if (config_acr_rank(cfg, acr) < 0) {
		idp_log(LOG_INFO, "login: %s gave %s acr; taken as %s", b->id, acr ? "an unknown" : "no",
			cfg->default_acr);
		acr = cfg->default_acr;
	}
	if (config_acr_rank(cfg, acr) > config_acr_rank(cfg, b->acr))
		acr = b->acr;
	return acr;
}

enum MHD_Result flow_authenticated(struct req *r, struct authz_req *a, const struct backend *b,
				   struct idp_identity *id, const char *txn_key, const char *username)
{
	const struct client *cl = config_client(r->cfg, a->client_id);
	const char *why = NULL, *acr;
	char *local = NULL;
	struct session *sess, *old;
	enum MHD_Result ret;
	bool gone = false, issued, stale, step_up = false;
	uint64_t counter;

	if (cl == NULL)
		return http_error_page(r, 400, "bad_request");
	/* Whatever the transaction says (the configuration may have changed
	 * since the form or the redirect), a backend the client does not allow
	 * never logs a citizen in for it. */
	if (!client_allows_backend(cl, b->id)) {
		idp_log(LOG_INFO, "login: %s is not allowed for %s; refused", b->id, cl->id);
		usage_count(USAGE_FAIL_NOT_ALLOWED);
		return page_denied(r, a, "backend_not_allowed", "this identity provider is not allowed for this service");
	}
	if (id->claims == NULL)
		id->claims = json_object();
	acr = acr_reached(r->cfg, b, id->acr);
	/* The password did not reach the level asked, the citizen's second
	 * factor will: the session is made at the password's level, then the
	 * code is asked (the step-up an existing session gets), which raises
	 * that session in place. The login is counted then, once, at the
	 * level reached. */
	if (config_acr_rank(r->cfg, acr) < a->min_acr_rank && config_acr_rank(r->cfg, b->acr) >= a->min_acr_rank &&
	    backend_second_factor(b, id->session_data, NULL, &counter) == IDP_OK)
		step_up = true;
	else if (config_acr_rank(r->cfg, acr) < a->min_acr_rank) {
		idp_log(LOG_INFO, "login: %s reached %s, below what %s asks", b->id, acr, cl->id);
		usage_count(USAGE_FAIL_LEVEL);
		return page_denied(r, a, "acr_too_low", "the identity provider did not reach the requested level");
	}
	if (!identity_valid(id->claims, &why) || (local = identity_local_subject(r->cfg, b, id, &why)) == NULL) {
		idp_log(LOG_WARN, "login: identity from %s refused: claim %s is malformed or missing", b->id,
			why ? why : "?");
		usage_count(USAGE_FAIL_IDENTITY);
		return page_denied(r, a, "identity_invalid",
				   "the identity returned by the identity provider is incomplete or malformed");
	}
	/* A new login in this browser ends the session it had. */
	if ((old = session_load(r)) != NULL) {
		session_destroy(r, old->sid_hash);
		session_free(old);
	}
	sess = session_create(r, step_up ? NULL : cl->id, b->id, acr, local, id, txn_key, &gone);
	free(local);
	if (gone) { /* another post of the same form won */
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	if (sess == NULL) {
		usage_count(USAGE_FAIL_UNAVAILABLE);
		return flow_refuse(r, a, "temporarily_unavailable", "the session could not be created");
	}
	/* Remember the choice for the next visit (not a secret). */
	req_set_cookie(r, "last", b->id, 180L * 86400);
	idp_log(LOG_INFO, "login: %s authenticated citizen via %s (%s)", cl->id, b->id, acr);
	{
		char tag[9];

		secret_tag(sess->sid_hash, tag);
		audit_event("login", r->ip, "result", "success", "client", cl->id, "backend", b->id,
			    "acr", acr, "user", username, "sub", sess->sub, "sid", tag, NULL);
	}
	metrics_count(M_LOGIN_OK);
	if (step_up)
		ret = ask_second_factor(r, a, sess);
	else
		ret = code_or_consent(r, a, cl, sess, &issued, &stale);
	session_free(sess);
	return ret;
}

enum MHD_Result flow_second_factor(struct req *r, struct authz_req *a, const struct backend *b,
				   const struct session *sess, const char *txn_key)
{
	const struct client *cl = config_client(r->cfg, a->client_id);
	struct session *up;
	char tag[9], *amr = NULL;
	enum MHD_Result ret;
	bool gone = false, issued, stale;

	if (cl == NULL || !client_allows_backend(cl, b->id))
		return http_error_page(r, 400, "bad_request");
	/* The configuration may have changed since the page was shown. */
	if (config_acr_rank(r->cfg, b->acr) < a->min_acr_rank) {
		usage_count(USAGE_FAIL_LEVEL);
		return page_denied(r, a, "acr_too_low", "the identity provider did not reach the requested level");
	}
	if (asprintf(&amr, "%s otp", sess->amr) < 0)
		return flow_refuse(r, a, "server_error", "out of memory");
	/* The session raised to the backend's level in place, keeping its id:
	 * one session in the citizen's list and for back-channel logout, its
	 * access tokens kept. Its cookie is replaced (session_raise): one
	 * stolen before the code must not gain the level. */
	up = session_raise(r, sess, cl->id, b->acr, amr, txn_key, &gone);
	free(amr);
	if (gone) {
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	if (up == NULL) {
		usage_count(USAGE_FAIL_UNAVAILABLE);
		return flow_refuse(r, a, "temporarily_unavailable", "the session could not be created");
	}
	secret_tag(up->sid_hash, tag);
	idp_log(LOG_INFO, "login: %s second factor via %s (%s)", cl->id, b->id, b->acr);
	audit_event("login", r->ip, "result", "success", "client", cl->id, "backend", b->id, "acr", b->acr,
		    "factor", "otp", "sub", up->sub, "sid", tag, NULL);
	ret = code_or_consent(r, a, cl, up, &issued, &stale);
	session_free(up);
	return ret;
}

/* ---- 4. Consent, then the code ------------------------------------------ */

/* A usable session: the code when consent is given or not needed, else the
 * consent page. *issued: the code went out. *stale: the session came from
 * the process's copy and the store no longer has it (or the consent): read
 * it again; nothing was answered. */
static enum MHD_Result code_or_consent(struct req *r, struct authz_req *a, const struct client *cl,
				       const struct session *sess, bool *issued, bool *stale)
{
	char ckey[80], *txn = NULL;
	enum consent c;
	enum MHD_Result ret;
	bool missing = true;
	int rc;

	*issued = *stale = false;
	/* A remembered consent is checked in the round trip that stores the
	 * code (one round trip fewer per login). */
	if ((c = consent_decide(cl, a, sess, ckey)) != CONSENT_ASK) {
		ret = issue_code(r, a, cl, sess, c == CONSENT_STORED ? ckey : NULL, &missing);
		if (!missing) {
			*issued = true;
			return ret;
		}
		if (sess->cached) {
			*stale = true;
			return MHD_NO;
		}
	}
	if (authz_prompt_has(a, PROMPT_NONE))
		return flow_refuse(r, a, "consent_required", "the citizen has not consented yet");
	memcpy(a->sid, sess->sid_hash, sizeof(a->sid));
	if ((rc = txn_save(r, a, &txn)) != IDP_OK)
		return txn_refused(r, a, rc);
	{
		json_t *rel = claims_released(sess->claims, a->scope, a->claims);

		usage_count(USAGE_CONSENT_SHOWN);
		ret = page_consent(r, txn, a, rel, sess->sid_hash);
		json_decref(rel);
	}
	free(txn);
	return ret;
}

enum MHD_Result flow_consented(struct req *r, struct authz_req *a, const struct session *sess,
			       bool accepted)
{
	const struct client *cl = config_client(r->cfg, a->client_id);
	char ckey[80];
	bool missing;

	if (cl == NULL)
		return http_error_page(r, 400, "bad_request");
	usage_count(USAGE_CONSENT_DONE);
	if (!accepted) {
		usage_count(USAGE_CONSENT_REFUSED);
		idp_log(LOG_INFO, "consent: refused for %s", cl->id);
		audit_event("consent", r->ip, "result", "refused", "client", cl->id, "sub", sess->sub, NULL);
		return flow_refuse(r, a, "access_denied", "the citizen refused to share the data");
	}
	consent_decide(cl, a, sess, ckey);
	if (ckey[0] != '\0') {
		json_t *rel = claims_released(sess->claims, a->scope, a->claims);

		ledger_consent_remember(sess->sub, cl->id, ckey, rel); /* listed on /account */
		json_decref(rel);
	}
	audit_event("consent", r->ip, "result", "given", "client", cl->id, "sub", sess->sub,
		    "scope", a->scope, NULL);
	return issue_code(r, a, cl, sess, NULL, &missing);
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static int word_cmp(const void *x, const void *y)
{
	return strcmp((const char *)x, (const char *)y);
}

enum consent consent_decide(const struct client *cl, const struct authz_req *a, const struct session *sess,
			    char key[80])
{
	char hash[65], data[DATA_SCOPES_MAX][65];
	const char *k, *names[128];
	size_t n = 0, nd = scope_data_words(a->scope, data, DATA_SCOPES_MAX);
	json_t *rel, *v;
	struct buf msg;
	bool ok;

	/* Consent covers exactly the claims the page listed: their names,
	 * whichever scope or member of the claims parameter asked for them,
	 * written as the object {"name":true,...} with sorted names (as
	 * jansson's JSON_SORT_KEYS wrote it before: remembered consents keep
	 * their keys). */
	rel = claims_released(sess->claims, a->scope, a->claims);
	json_object_foreach(rel, k, v) {
		(void)v;
		if (n < sizeof(names) / sizeof(names[0]))
			names[n++] = k;
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	buf_init(&msg, 64 * 1024);
	ok = rel != NULL && json_object_size(rel) == n &&
	     !buf_adds(&msg, sess->sub) &&
	     !buf_printf(&msg, "|%s|{", cl->id);
	for (size_t i = 0; ok && i < n; i++)
		ok = !buf_json_name(&msg, i == 0, names[i]) && !buf_adds(&msg, "true");
	ok = ok && !buf_adds(&msg, "}");
	/* The data scopes granted, sorted, after the claims: a consent to the
	 * identity alone never stands for a consent to another
	 * administration's data. Without any, the key is as it always was. */
	qsort(data, nd, sizeof(data[0]), word_cmp);
	for (size_t i = 0; ok && i < nd; i++)
		ok = !buf_adds(&msg, i == 0 ? "|data:" : " ") && !buf_adds(&msg, data[i]);
	if (ok)
		sha256_hex(msg.p, msg.len, hash);
	buf_release(&msg);
	json_decref(rel);
	if (!ok) {
		/* No key that could stand for another citizen's consent: ask,
		 * and remember nothing (key empty). */
		key[0] = '\0';
		return CONSENT_ASK;
	}
	snprintf(key, 80, K_CONSENT "%s", hash);
	if (authz_prompt_has(a, PROMPT_CONSENT))
		return CONSENT_ASK;
	/* A first-party service skips the page for the identity only: data
	 * held by another administration always takes the citizen's consent. */
	return cl->first_party && nd == 0 ? CONSENT_NONE : CONSENT_STORED;
}

/* The code, and the redirect that carries it. consent_key: a remembered
 * consent required in the same round trip; when it (or a session read from
 * the process's copy) is missing, nothing is answered and *missing is set. */
static enum MHD_Result issue_code(struct req *r, const struct authz_req *a, const struct client *cl,
				  const struct session *sess, const char *consent_key, bool *missing)
{
	char *loc = NULL;
	enum MHD_Result ret;
	int rc;

	*missing = false;
	/* claims.id_token.sub.value (OpenID Core 5.5.1): no code for another
	 * citizen than the one asked for, even one who has just logged in. */
	if (a->want_sub != NULL) {
		char *s = subject_for(r->cfg, cl, sess->sub);
		bool same = s != NULL && strcmp(s, a->want_sub) == 0;

		free(s);
		if (!same) {
			idp_log(LOG_INFO, "authorize: %s asked for another citizen (claims sub.value)", cl->id);
			return flow_refuse(r, a, "login_required",
					   "the citizen logged in is not the one the claims parameter names");
		}
	}
	rc = code_issue(r->cfg, cl, a, sess, consent_key, &loc);
	if (rc == IDP_ENOTFOUND && (consent_key != NULL || sess->cached)) {
		*missing = true;
		return MHD_YES; /* nothing answered: the caller asks for consent */
	}
	if (rc != IDP_OK)
		return flow_refuse(r, a, "server_error", "the authorization could not be recorded");
	ret = http_redirect(r, loc);
	free(loc);
	return ret;
}

/* ---- Answers ------------------------------------------------------------ */

enum MHD_Result flow_refuse(struct req *r, const struct authz_req *a, const char *error,
			    const char *description)
{
	char *loc = authz_req_error_uri(r->cfg, a, error, description);
	enum MHD_Result ret;

	if (loc == NULL)
		return http_error_page(r, 400, "bad_request");
	ret = http_redirect(r, loc);
	free(loc);
	return ret;
}

/* The answer to a failed txn_save or txn_admit (rc): 429 with Retry-After
 * past the rate limit, invalid_request when too large, else
 * temporarily_unavailable. */
static enum MHD_Result txn_refused(struct req *r, const struct authz_req *a, int rc)
{
	if (rc == IDP_ELIMIT) {
		req_add_header(r, "Retry-After", "60");
		return http_error_page(r, 429, "too_many");
	}
	if (rc == IDP_ETOOBIG)
		return flow_refuse(r, a, "invalid_request", "the request is too large to keep");
	return flow_refuse(r, a, "temporarily_unavailable", "the store is not answering");
}
