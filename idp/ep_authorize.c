/* /authorize (OpenID Core 3.1.2), the login form and its POST, and the
 * consent page. Errors before the client and its redirect_uri are known to be
 * good render a page and never redirect; later errors go back to the client
 * with error, state and iss (RFC 9207). */
#include "oidc.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every parameter a transaction keeps has a cap, and the stored record one
 * as a whole (TXN_MAX): an unauthenticated request is kept for
 * login_form_ttl_s, so what one can store is bounded, and what exceeds it
 * is refused with the parameter's name, never cut short. The caps are far
 * above what services send (OpenID and FranceConnect values are short). */
#define STATE_MAX 1024
#define NONCE_MAX 1024
#define CLAIMS_MAX 4096
#define ACR_VALUES_MAX 512
#define LOGIN_HINT_MAX 256
#define PROMPT_MAX 64
#define SCOPE_MAX 1024
#define UI_LOCALES_MAX 128
#define IDP_HINT_MAX 64
/* A transaction at every cap above is about 7.5 KB with a long redirect_uri;
 * what is added later (backend, sid) fits in the rest. */
#define TXN_MAX (12 * 1024)

static const struct {
	const char *name;
	size_t max;
} param_caps[] = {
	{"state", STATE_MAX}, {"nonce", NONCE_MAX}, {"scope", SCOPE_MAX}, {"claims", CLAIMS_MAX},
	{"acr_values", ACR_VALUES_MAX}, {"login_hint", LOGIN_HINT_MAX}, {"prompt", PROMPT_MAX},
	{"ui_locales", UI_LOCALES_MAX}, {"idp_hint", IDP_HINT_MAX}, {"id_token_hint", ID_TOKEN_HINT_MAX},
};

static const char *const claim_labels[][3] = {
	{"given_name", "Prénom(s)", "Given name(s)"},
	{"family_name", "Nom de naissance", "Family name"},
	{"name", "Nom complet", "Full name"},
	{"middle_name", "Autres prénoms", "Middle name"},
	{"nickname", "Surnom", "Nickname"},
	{"preferred_username", "Nom d'usage", "Preferred name"},
	{"birthdate", "Date de naissance", "Date of birth"},
	{"gender", "Sexe", "Gender"},
	{"birthplace", "Lieu de naissance", "Place of birth"},
	{"birthcountry", "Pays de naissance", "Country of birth"},
	{"email", "Adresse électronique", "Email address"},
	{"email_verified", "Adresse électronique vérifiée", "Email verified"},
	{"address", "Adresse postale", "Postal address"},
	{"phone_number", "Numéro de téléphone", "Phone number"},
	{"phone_number_verified", "Téléphone vérifié", "Phone verified"},
	{"locale", "Langue", "Language"},
	{"zoneinfo", "Fuseau horaire", "Time zone"},
	{"picture", "Photo", "Picture"},
	{"profile", "Page de profil", "Profile page"},
	{"website", "Site web", "Website"},
	{"updated_at", "Date de mise à jour", "Last update"},
};

static const char *claim_label(const char *claim, enum lang l)
{
	for (size_t i = 0; i < sizeof(claim_labels) / sizeof(claim_labels[0]); i++)
		if (strcmp(claim_labels[i][0], claim) == 0)
			return claim_labels[i][1 + (l == LANG_EN)];
	return claim;
}

/* The scopes granted: requested ones we support and the client may ask,
 * in a canonical order (so that remembered consent does not depend on it). */
static char *grant_scope(const struct client *cl, const char *requested)
{
	static const char *const order[] = {"openid", "profile", "email", "address", "phone",
		"birth", "identite_pivot", NULL};
	struct buf b;

	buf_init(&b, 512);
	for (const char *const *s = order; *s; s++) {
		bool allowed = cl->scopes_allowed == NULL || strcmp(*s, "openid") == 0;

		for (size_t i = 0; !allowed && i < cl->n_scopes_allowed; i++)
			allowed = strcmp(cl->scopes_allowed[i], *s) == 0;
		if (allowed && scope_has(requested, *s)) {
			if (b.len)
				buf_adds(&b, " ");
			buf_adds(&b, *s);
		}
	}
	return buf_steal(&b);
}

/* The lowest known level among an acr member's "value" and "values" of a
 * claims request (OpenID Core 5.5.1): any of them is acceptable, and a
 * stronger level satisfies a weaker. -1: none known. */
static int claims_acr_rank(const struct config *cfg, const json_t *acr, bool highest)
{
	json_t *vals = json_object_get(acr, "values"), *v;
	int best = config_acr_rank(cfg, json_string_value(json_object_get(acr, "value")));
	size_t i;

	json_array_foreach(vals, i, v) {
		int rk = config_acr_rank(cfg, json_string_value(v));

		if (rk >= 0 && (best < 0 || (highest ? rk > best : rk < best)))
			best = rk;
	}
	return best;
}

/* The minimum level the client asks for: the weakest known value of
 * acr_values (any listed level is acceptable to it, and a stronger one
 * satisfies a weaker), else of claims.id_token.acr. In the franceconnect
 * profile the highest listed known level, as FranceConnect does (its
 * services list levels expecting the strongest). An essential acr (OpenID
 * Core 5.5.1.1) is a floor the voluntary values cannot lower. -1: none. */
static int required_acr(const struct config *cfg, const char *acr_values, const json_t *claims,
			bool highest)
{
	const json_t *acr = json_object_get(json_object_get(claims, "id_token"), "acr");
	int best = -1, rk;

	for (const char *p = acr_values; p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		char one[64];

		if (n < sizeof(one)) {
			memcpy(one, p, n);
			one[n] = '\0';
			rk = config_acr_rank(cfg, one);
			if (rk >= 0 && (best < 0 || (highest ? rk > best : rk < best)))
				best = rk;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	/* Essential: any listed level is acceptable, whatever the profile. */
	rk = claims_acr_rank(cfg, acr, highest && !acr_essential(claims));
	if (acr_essential(claims))
		return rk > best ? rk : best;
	if (rk >= 0 && (best < 0 || (highest ? rk > best : rk < best)))
		best = rk;
	return best;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

enum consent consent_decide(const struct client *cl, const json_t *areq, const json_t *sess, char key[80])
{
	char hash[65];
	const char *k, *names[128];
	size_t n = 0;
	json_t *rel, *v;
	struct buf msg;
	bool ok;

	/* Consent covers exactly the claims the page listed: their names,
	 * whichever scope or member of the claims parameter asked for them,
	 * written as the object {"name":true,...} with sorted names (as
	 * jansson's JSON_SORT_KEYS wrote it before: remembered consents keep
	 * their keys). */
	rel = claims_released(json_object_get(sess, "claims"), json_string_value(json_object_get(areq, "scope")),
			      json_object_get(areq, "claims"));
	json_object_foreach(rel, k, v) {
		(void)v;
		if (n < sizeof(names) / sizeof(names[0]))
			names[n++] = k;
	}
	qsort(names, n, sizeof(names[0]), name_cmp);
	buf_init(&msg, 64 * 1024);
	ok = rel != NULL && json_object_size(rel) == n && !buf_adds(&msg, json_string_value(json_object_get(sess, "sub")) ?: "") &&
	     !buf_printf(&msg, "|%s|{", cl->id);
	for (size_t i = 0; ok && i < n; i++)
		ok = !buf_json_name(&msg, i == 0, names[i]) && !buf_adds(&msg, "true");
	ok = ok && !buf_adds(&msg, "}");
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
	if (scope_has(json_string_value(json_object_get(areq, "prompt")), "consent"))
		return CONSENT_ASK;
	return cl->first_party ? CONSENT_NONE : CONSENT_STORED;
}

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

/* The form's answer redirects to uri, and Chromium applies form-action to
 * that redirect: its origin joins the policy. Taken apart by libcurl, so
 * an IPv6 literal or an internationalised host (in punycode, as CSP wants
 * it) gives the whole origin; a URI it cannot read adds nothing. */
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

enum MHD_Result login_page(struct req *r, const char *txn_id, const json_t *areq,
			   unsigned status, const char *error, const char *username)
{
	const struct client *cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	const char *bind = bind_cookie(r, true);
	const struct backend *b = backend_find(r->rt, json_string_value(json_object_get(areq, "backend")));
	char csrf[44];
	json_t *ctx;
	enum MHD_Result ret;

	if (cl == NULL || bind == NULL || b == NULL)
		return http_error_page(r, 400, "bad_request");
	csrf_token("login", txn_id, bind, csrf);
	ctx = json_pack("{s:s,s:s,s:s,s:s,s:s?}", "client_name", cl->name, "txn", txn_id, "csrf", csrf,
			"backend", b->title, "username", username ? username : json_string_value(json_object_get(areq, "login_hint")));
	if (error != NULL)
		json_object_set_new(ctx, error, json_true());
	if (error != NULL)
		json_object_set_new(ctx, "has_error", json_true());
	set_form_origin(r, json_string_value(json_object_get(areq, "redirect_uri")));
	ret = http_page(r, status, "login", ctx);
	json_decref(ctx);
	return ret;
}

/* The consent form's CSRF token is bound to the session (sid is the hash of
 * the session cookie), so it works on the very response that sets it. */
enum MHD_Result consent_page(struct req *r, const char *txn_id, const json_t *areq,
				    const json_t *sess, const char *sid)
{
	const struct client *cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	char csrf[44];
	json_t *rel, *list, *ctx, *v;
	const char *k;
	enum MHD_Result ret;

	if (cl == NULL)
		return http_error_page(r, 400, "bad_request");
	csrf_token("consent", txn_id, sid, csrf);
	/* What will be released: every claim the scopes and the claims parameter
	 * (for userinfo and for the ID token) cover for this citizen, in plain
	 * words; consent_decide names exactly this set. */
	rel = claims_released(json_object_get(sess, "claims"), json_string_value(json_object_get(areq, "scope")),
			      json_object_get(areq, "claims"));
	list = json_array();
	json_object_foreach(rel, k, v) {
		(void)v;
		json_array_append_new(list, json_pack("{s:s}", "label", claim_label(k, r->lang)));
	}
	ctx = json_pack("{s:s,s:s,s:s,s:o,s:b}", "client_name", cl->name, "txn", txn_id, "csrf", csrf,
			"claims", list, "no_claims", json_array_size(list) == 0);
	set_form_origin(r, json_string_value(json_object_get(areq, "redirect_uri")));
	ret = http_page(r, 200, "consent", ctx);
	json_decref(ctx);
	json_decref(rel);
	return ret;
}

int txn_admit(struct req *r)
{
	char key[128];
	long long n = 0;

	/* Counted where the transaction is made: an SSO /authorize stores
	 * none, and pays no round trip for this. A store that does not answer
	 * fails the save that follows. */
	snprintf(key, sizeof(key), "rl:txn:%s", r->ip);
	if (store_incr(&g_idp.store, key, 60, &n) == IDP_OK && n > (long long)r->cfg->rl_txn_per_ip_min) {
		if (n == (long long)r->cfg->rl_txn_per_ip_min + 1)
			idp_log(LOG_WARN, "authorize: %s reached %u transactions a minute", r->ip,
				r->cfg->rl_txn_per_ip_min);
		return IDP_ELIMIT;
	}
	return IDP_OK;
}

int txn_save(struct req *r, const json_t *areq, char **txn_id)
{
	char key[128], counter[128], *text = NULL;
	size_t len = 0;
	long long n = 0;
	int rc;

	*txn_id = NULL;
	if (!json_value_bounded(areq, JSON_STORED_DEPTH, TXN_MAX))
		return IDP_ETOOBIG;
	if ((text = store_json_text(areq, &len)) == NULL || (*txn_id = rand_token(24)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	/* Counted against the address in the round trip that stores it (as
	 * txn_admit counts): an SSO /authorize stores none and pays nothing. */
	snprintf(key, sizeof(key), K_TXN "%s", *txn_id);
	snprintf(counter, sizeof(counter), "rl:txn:%s", r->ip);
	rc = store_put_counted(&g_idp.store, counter, 60, (long long)r->cfg->rl_txn_per_ip_min, key, text, len,
			       r->cfg->login_ttl, &n);
	if (rc == IDP_ELIMIT && n == (long long)r->cfg->rl_txn_per_ip_min + 1)
		idp_log(LOG_WARN, "authorize: %s reached %u transactions a minute", r->ip, r->cfg->rl_txn_per_ip_min);
	if (rc != IDP_OK) {
		free(*txn_id);
		*txn_id = NULL;
	}
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	return rc;
}

enum MHD_Result txn_refused(struct req *r, const json_t *areq, int rc)
{
	if (rc == IDP_ELIMIT) {
		req_add_header(r, "Retry-After", "60");
		return http_error_page(r, 429, "too_many");
	}
	if (rc == IDP_ETOOBIG)
		return authz_fail(r, areq, "invalid_request", "the request is too large to keep");
	return authz_fail(r, areq, "temporarily_unavailable", "the store is not answering");
}

/* Decides, for a validated request, between login, consent and the code;
 * with use_cache, from the process's copy of the session when it has one. */
static enum MHD_Result authz_decide(struct req *r, json_t *areq, bool use_cache)
{
	const struct client *cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	const char *prompt = json_string_value(json_object_get(areq, "prompt"));
	int min_rank = (int)json_integer_value(json_object_get(areq, "min_acr_rank"));
	char sid[65], ckey[80], *txn = NULL;
	json_t *sess = use_cache ? session_load_cached(r, sid) : session_load(r, sid);
	bool cached = json_is_true(json_object_get(sess, "cached"));
	/* select_account: the citizen may pick a backend again, even with a
	 * live session (the choice page is shown by federation_start). */
	bool need_login = sess == NULL || scope_has(prompt, "login") || scope_has(prompt, "select_account");
	const char *want_sub = json_string_value(json_object_get(areq, "want_sub"));
	const char *hint_sub = json_string_value(json_object_get(areq, "hint_sub"));
	const char *acr_values = json_string_value(json_object_get(areq, "acr_values"));
	const json_t *claims = json_object_get(areq, "claims");
	enum consent c;
	enum MHD_Result ret;
	int rc;

	/* A level the provider cannot even name cannot be met: refused, never
	 * silently ignored (OpenID Core 5.5.1.1 for an essential acr; and the
	 * franceconnect profile, whose services rely on acr_values, errs too). */
	if (cl->franceconnect && acr_values != NULL && required_acr(r->cfg, acr_values, NULL, true) < 0) {
		json_decref(sess);
		return authz_fail(r, areq, "invalid_request", "acr_values names no known level");
	}
	if (acr_essential(claims) &&
	    claims_acr_rank(r->cfg, json_object_get(json_object_get(claims, "id_token"), "acr"), false) < 0) {
		json_decref(sess);
		return authz_fail(r, areq, "unmet_authentication_requirements",
				  "the essential acr names no level this provider knows");
	}
	/* A session is reused only as a login this client could have made now:
	 * through a backend it allows (then at the level it asks, below). */
	if (sess != NULL && !client_allows_backend(cl, json_string_value(json_object_get(sess, "backend")) ?: ""))
		need_login = true;
	/* Whole seconds: an authentication of this very second is 0 s old, and
	 * max_age=0 must still force a new one (like prompt=login). */
	if (sess != NULL && json_object_get(areq, "max_age") != NULL &&
	    now_s() - json_integer_value(json_object_get(sess, "auth_time")) >=
		    json_integer_value(json_object_get(areq, "max_age")))
		need_login = true;
	if (sess != NULL && config_acr_rank(r->cfg, json_string_value(json_object_get(sess, "acr"))) < min_rank)
		need_login = true;
	/* The subject of id_token_hint, and claims.id_token.sub.value (OpenID
	 * Core 5.5.1): another citizen's session is no answer (authz_complete
	 * refuses a sub.value mismatch after the login too). */
	if (sess != NULL && !need_login && (hint_sub != NULL || want_sub != NULL)) {
		char *s = subject_for(r->cfg, cl, json_string_value(json_object_get(sess, "sub")));

		if (s == NULL || (hint_sub != NULL && strcmp(s, hint_sub) != 0) ||
		    (want_sub != NULL && strcmp(s, want_sub) != 0))
			need_login = true;
		free(s);
	}
	if (need_login) {
		json_decref(sess);
		if (scope_has(prompt, "none"))
			return authz_fail(r, areq, "login_required", "the citizen is not logged in");
		return federation_start(r, areq, cl, min_rank);
	}
	/* With a session, the remembered consent is checked in the round trip
	 * that stores the code (one round trip fewer per SSO login). */
	if ((c = consent_decide(cl, areq, sess, ckey)) != CONSENT_ASK) {
		bool missing = false;

		ret = authz_complete_consented(r, areq, sess, sid, c == CONSENT_STORED ? ckey : NULL, &missing);
		if (!missing) {
			metrics_count(M_SSO_REUSED);
			json_decref(sess);
			return ret;
		}
		/* From the copy: the session may have ended elsewhere (or the
		 * consent be missing); the store says which. */
		if (cached) {
			json_decref(sess);
			session_cache_drop(sid);
			return authz_decide(r, areq, false);
		}
	}
	if (scope_has(prompt, "none")) {
		json_decref(sess);
		return authz_fail(r, areq, "consent_required", "the citizen has not consented yet");
	}
	json_object_set_new(areq, "sid", json_string(sid));
	if ((rc = txn_save(r, areq, &txn)) != IDP_OK) {
		json_decref(sess);
		return txn_refused(r, areq, rc);
	}
	ret = consent_page(r, txn, areq, sess, sid);
	free(txn);
	json_decref(sess);
	return ret;
}

static bool pkce_challenge_ok(const char *c)
{
	size_t n = strlen(c);

	if (n != 43)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((c[i] >= 'A' && c[i] <= 'Z') || (c[i] >= 'a' && c[i] <= 'z') ||
		      (c[i] >= '0' && c[i] <= '9') || c[i] == '-' || c[i] == '_'))
			return false;
	return true;
}

enum MHD_Result ep_authorize(struct req *r)
{
	const struct params *p = req_params(r);
	const char *client_id = params_get(p, "client_id");
	const char *ruri = params_get(p, "redirect_uri");
	const char *rt, *scope, *state, *nonce, *cc, *ccm, *prompt, *max_age, *acr, *claims_s, *hint;
	const struct client *cl;
	json_t *areq = NULL, *claims = NULL, *v;
	char *granted = NULL;
	long long ma = -1;
	enum MHD_Result ret;

	r->lang = req_lang(r, params_get(p, "ui_locales"));
	if (p->dup != NULL && (strcmp(p->dup, "client_id") == 0 || strcmp(p->dup, "redirect_uri") == 0))
		return http_error_page(r, 400, "bad_request");
	if (client_id == NULL || (cl = config_client(r->cfg, client_id)) == NULL)
		return http_error_page(r, 400, "unknown_client");
	if (ruri == NULL || !client_has_redirect_uri(cl, ruri))
		return http_error_page(r, 400, "bad_redirect_uri");

	/* From here on, errors go back to the (now trusted) redirect_uri. */
	state = params_get(p, "state");
	areq = json_pack("{s:s,s:s,s:s?}", "client_id", client_id, "redirect_uri", ruri, "state",
			 state != NULL && strlen(state) <= STATE_MAX ? state : NULL);
	if (p->dup != NULL) {
		char d[96];

		snprintf(d, sizeof(d), "the parameter %.64s is repeated", p->dup);
		ret = authz_fail(r, areq, "invalid_request", d);
		goto out;
	}
#define FAIL(e, d) do { ret = authz_fail(r, areq, e, d); goto out; } while (0)
	if (params_get(p, "request") != NULL)
		FAIL("request_not_supported", "request objects are not supported");
	if (params_get(p, "request_uri") != NULL)
		FAIL("request_uri_not_supported", "request_uri is not supported");
	for (size_t i = 0; i < sizeof(param_caps) / sizeof(param_caps[0]); i++) {
		const char *val = params_get(p, param_caps[i].name);
		char d[96];

		if (val != NULL && strlen(val) > param_caps[i].max) {
			snprintf(d, sizeof(d), "%s is too long (at most %zu bytes)", param_caps[i].name,
				 param_caps[i].max);
			FAIL("invalid_request", d);
		}
	}
	if ((rt = params_get(p, "response_type")) == NULL)
		FAIL("invalid_request", "response_type is required");
	if (strcmp(rt, "code") != 0)
		FAIL("unsupported_response_type", "only the code flow is supported");
	if (params_get(p, "response_mode") != NULL && strcmp(params_get(p, "response_mode"), "query") != 0)
		FAIL("invalid_request", "only response_mode=query is supported");
	if (!cl->grant_code)
		FAIL("unauthorized_client", "this client may not use the authorization code grant");
	scope = params_get(p, "scope");
	if (scope == NULL || !scope_has(scope, "openid"))
		FAIL("invalid_scope", "scope must include openid");
	granted = grant_scope(cl, scope);
	cc = params_get(p, "code_challenge");
	ccm = params_get(p, "code_challenge_method");
	if (cc == NULL && cl->require_pkce)
		FAIL("invalid_request", "code_challenge (PKCE, S256) is required");
	if (cc != NULL && (ccm == NULL || strcmp(ccm, "S256") != 0))
		FAIL("invalid_request", "code_challenge_method must be S256");
	if (cc != NULL && !pkce_challenge_ok(cc))
		FAIL("invalid_request", "code_challenge must be 43 base64url characters");
	nonce = params_get(p, "nonce");
	acr = params_get(p, "acr_values");
	if (cl->franceconnect) {
		if (state == NULL)
			FAIL("invalid_request", "state is required");
		if (nonce == NULL || strlen(nonce) < 22)
			FAIL("invalid_request", "nonce is required, at least 22 characters");
		if (acr == NULL)
			FAIL("invalid_request", "acr_values is required");
	}
	prompt = params_get(p, "prompt");
	for (const char *q = prompt; q != NULL && *q;) {
		size_t n = strcspn(q, " ");

		if (!((n == 4 && !strncmp(q, "none", 4)) || (n == 5 && !strncmp(q, "login", 5)) ||
		      (n == 7 && !strncmp(q, "consent", 7)) || (n == 14 && !strncmp(q, "select_account", 14))))
			FAIL("invalid_request", "unsupported prompt value");
		q += n;
		while (*q == ' ')
			q++;
	}
	if (scope_has(prompt, "none") && strcmp(prompt, "none") != 0)
		FAIL("invalid_request", "prompt=none cannot be combined with other values");
	max_age = params_get(p, "max_age");
	if (max_age != NULL && !parse_ll(max_age, 0, 1000000000, &ma))
		FAIL("invalid_request", "max_age must be a non-negative integer");
	claims_s = params_get(p, "claims");
	if (claims_s != NULL) {
		/* Bounded before jansson recurses over it (util.h). */
		if (json_text_depth(claims_s, strlen(claims_s), JSON_IN_DEPTH) > JSON_IN_DEPTH)
			FAIL("invalid_request", "claims is nested too deep");
		if (json_parse_bounded(claims_s, strlen(claims_s), CLAIMS_MAX, JSON_IN_DEPTH,
				       JSON_REJECT_DUPLICATES, &claims) != IDP_OK ||
		    !json_is_object(claims) ||
		    (json_object_get(claims, "userinfo") && !json_is_object(json_object_get(claims, "userinfo"))) ||
		    (json_object_get(claims, "id_token") && !json_is_object(json_object_get(claims, "id_token"))))
			FAIL("invalid_request", "claims must be a JSON object (OpenID Core 5.5)");
		/* Never more than the client's scopes allow, however asked. */
		v = claims_request_filter(cl, claims);
		json_decref(claims);
		if ((claims = v) == NULL)
			FAIL("server_error", "out of memory");
		v = json_object_get(json_object_get(json_object_get(claims, "id_token"), "sub"), "value");
		if (v != NULL && (!json_is_string(v) || json_string_length(v) > 256))
			FAIL("invalid_request", "claims.id_token.sub.value must be a string");
		if (v != NULL && json_object_set(areq, "want_sub", v))
			FAIL("server_error", "out of memory");
	}
	if (params_get(p, "idp_hint") != NULL) {
		const struct backend *hb = backend_find(r->rt, params_get(p, "idp_hint"));

		if (hb == NULL || !client_allows_backend(cl, hb->id))
			FAIL("invalid_request", "invalid_idp_hint: unknown identity provider, or not allowed for this service");
	}
	hint = params_get(p, "id_token_hint");
	if (hint != NULL) {
		json_t *pl = NULL;

		/* An expired hint is still a hint (OpenID Core 3.1.2.1). But only
		 * an ID token: not an access token we signed (at+jwt), and only one
		 * addressed to a registered client. */
		if (jws_is_access_token(hint) || jws_verify(r->rt->keys, hint, &pl) != IDP_OK ||
		    !json_is_string(json_object_get(pl, "sub")) ||
		    config_client(r->cfg, json_string_value(json_object_get(pl, "aud"))) == NULL ||
		    strcmp(json_string_value(json_object_get(pl, "iss")) ?: "", r->cfg->issuer) != 0) {
			json_decref(pl);
			FAIL("invalid_request", "id_token_hint is not an ID token of this provider");
		}
		json_object_set(areq, "hint_sub", json_object_get(pl, "sub"));
		json_decref(pl);
	}
	if (json_object_set_new(areq, "scope", json_string(granted)) ||
	    (nonce && json_object_set_new(areq, "nonce", json_string(nonce))) ||
	    (cc && json_object_set_new(areq, "code_challenge", json_string(cc))) ||
	    (prompt && json_object_set_new(areq, "prompt", json_string(prompt))) ||
	    (acr && json_object_set_new(areq, "acr_values", json_string(acr))) ||
	    (claims && json_object_set(areq, "claims", claims)) ||
	    (ma >= 0 && json_object_set_new(areq, "max_age", json_integer(ma))) ||
	    (params_get(p, "login_hint") &&
	     json_object_set_new(areq, "login_hint", json_string(params_get(p, "login_hint")))) ||
	    json_object_set_new(areq, "lang", json_string(lang_code(r->lang))) ||
	    json_object_set_new(areq, "min_acr_rank", json_integer(required_acr(r->cfg, acr, claims, cl->franceconnect))))
		FAIL("server_error", "out of memory");
#undef FAIL
	ret = authz_decide(r, areq, true);
out:
	free(granted);
	json_decref(claims);
	json_decref(areq);
	return ret;
}

static enum lang areq_lang(const json_t *areq)
{
	const char *l = json_string_value(json_object_get(areq, "lang"));

	return l != NULL && strcmp(l, "en") == 0 ? LANG_EN : LANG_FR;
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
	json_t *areq = NULL;
	const struct backend *b;
	struct idp_identity id = {0};
	struct idp_login lr;
	const struct client *cl;
	enum MHD_Result ret;
	int rc;

	if (txn == NULL || strlen(txn) > 64 || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	snprintf(key, sizeof(key), K_TXN "%s", txn);
	/* A store that does not answer is not an expired form: 503, try again. */
	if ((rc = store_get(&g_idp.store, key, &text, &len)) != IDP_OK && rc != IDP_ENOTFOUND) {
		req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "5");
		return http_error_page(r, 503, "unavailable");
	}
	if (rc != IDP_OK || store_parse_json(key, text, len, &areq) != IDP_OK) /* frees text */
		return http_error_page(r, 400, "expired");
	r->lang = areq_lang(areq);
	if (!csrf_check("login", txn, req_cookie(r, cookie_name(r->cfg, "b", name)), csrf)) {
		ret = http_error_page(r, 403, "csrf");
		goto out;
	}
	if (user == NULL || pass == NULL) {
		ret = login_page(r, txn, areq, 400, "missing", user);
		goto out;
	}
	if (strlen(user) > 256 || strlen(pass) > 1024) {
		ret = login_page(r, txn, areq, 400, "bad_credentials", NULL);
		goto out;
	}
	b = backend_find(r->rt, json_string_value(json_object_get(areq, "backend")));
	cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	if (b == NULL || cl == NULL || b->ops->login == NULL) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	rl_keys_make(r, user, &rk);
	if ((rc = rl_take_attempt(r, &rk)) == IDP_EDENIED) {
		metrics_count(M_LOGIN_THROTTLED);
		ret = login_page(r, txn, areq, 429, "too_many", user);
		goto out;
	}
	if (rc != IDP_OK) {
		idp_log(LOG_ERR, "login: the attempt could not be counted (%s); not checked", idp_strerror(rc));
		ret = login_page(r, txn, areq, 503, "unavailable", user);
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
		ret = login_page(r, txn, areq, 503, "unavailable", user);
		goto out;
	}
	if (rc != IDP_OK || id.subject == NULL) {
		char tag[9];

		secret_tag(user, tag);
		idp_log(LOG_INFO, "login: failure for user %s from %s", tag, r->ip);
		metrics_count(M_LOGIN_FAILED);
		ret = login_page(r, txn, areq, 401, "bad_credentials", user);
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	rl_give_back(&rk);
	/* The transaction is single-use: consumed with the session's creation,
	 * so that of two concurrent posts, one wins. */
	ret = login_success(r, areq, b, &id, key);
out:
	identity_release(&id);
	json_decref(areq);
	return ret;
}

enum MHD_Result ep_consent(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *decision = params_get(p, "decision");
	char key[128], sid[65], ckey[80];
	json_t *areq = NULL, *sess = NULL;
	const struct client *cl;
	enum MHD_Result ret;

	if (txn == NULL || strlen(txn) > 64 || p->dup != NULL || decision == NULL)
		return http_error_page(r, 400, "bad_request");
	sess = session_load(r, sid);
	if (sess == NULL)
		return http_error_page(r, 400, "expired");
	/* Bound to the session: the sid is a hash of the session cookie. */
	if (!csrf_check("consent", txn, sid, csrf)) {
		json_decref(sess);
		return http_error_page(r, 403, "csrf");
	}
	snprintf(key, sizeof(key), K_TXN "%s", txn);
	if (store_take_json(&g_idp.store, key, &areq) != IDP_OK) {
		json_decref(sess);
		return http_error_page(r, 400, "expired");
	}
	r->lang = areq_lang(areq);
	cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	if (cl == NULL || strcmp(json_string_value(json_object_get(areq, "sid")) ?: "", sid) != 0) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	if (strcmp(decision, "accept") != 0) {
		idp_log(LOG_INFO, "consent: refused for %s", cl->id);
		ret = authz_fail(r, areq, "access_denied", "the citizen refused to share the data");
		goto out;
	}
	consent_decide(cl, areq, sess, ckey);
	if (ckey[0] != '\0')
		store_put(&g_idp.store, ckey, "1", 1, 365 * 86400);
	ret = authz_complete(r, areq, sess, sid);
out:
	json_decref(sess);
	json_decref(areq);
	return ret;
}
