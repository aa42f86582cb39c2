/* SPDX-License-Identifier: EUPL-1.2 */
/* The authorization request: parsed and validated once, typed, and its one
 * stored form. Errors before the client and its redirect_uri are known to be
 * good are answered with a page, later ones go back to the client. */
#include "authz_req.h"
#include "claims.h"
#include "id_token_hint.h"
#include "uri.h"
#include "json_bounded.h"
#include "jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void authz_req_init(struct authz_req *a)
{
	memset(a, 0, sizeof(*a));
	a->max_age = -1;
	a->min_acr_rank = -1;
	a->lang = LANG_FR;
}

void authz_req_release(struct authz_req *a)
{
	free(a->client_id);
	free(a->redirect_uri);
	free(a->state);
	free(a->scope);
	free(a->nonce);
	free(a->code_challenge);
	free(a->acr_values);
	free(a->login_hint);
	free(a->want_sub);
	free(a->hint_sub);
	json_decref(a->claims);
	free(a->backend);
	free(a->idp_hint);
	authz_req_init(a);
}

/* The scopes granted: requested ones we support and the client may ask,
 * in a canonical order (so that remembered consent does not depend on it),
 * then the data scopes it may ask (claims.h), in its "scopes" order.
 * Anything else requested is ignored. */
static char *grant_scope(const struct config *cfg, const struct client *cl, const char *requested)
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
	for (size_t i = 0, nd = 0; i < cl->n_scopes_allowed && nd < DATA_SCOPES_MAX; i++) {
		const char *w = cl->scopes_allowed[i];

		if (scope_has(requested, w) && !scope_has(b.p, w) && client_may_data_scope(cfg, cl, w)) {
			nd++;
			buf_adds(&b, " ");
			buf_adds(&b, w);
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

/* Every parameter a transaction keeps has a cap, and the stored record one
 * as a whole (TXN_MAX, txn.c): an unauthenticated request is kept for
 * login_form_ttl_s, so what one can store is bounded, and what exceeds it
 * is refused with the parameter's name, never cut short. The caps are far
 * above what services send (OpenID and FranceConnect values are short). */
static const struct {
	const char *name;
	size_t max;
} param_caps[] = {
	{"state", AUTHZ_STATE_MAX}, {"nonce", AUTHZ_NONCE_MAX}, {"scope", AUTHZ_SCOPE_MAX},
	{"claims", AUTHZ_CLAIMS_MAX}, {"acr_values", AUTHZ_ACR_VALUES_MAX},
	{"login_hint", AUTHZ_LOGIN_HINT_MAX}, {"prompt", AUTHZ_PROMPT_MAX},
	{"ui_locales", AUTHZ_UI_LOCALES_MAX}, {"idp_hint", AUTHZ_IDP_HINT_MAX},
	{"id_token_hint", ID_TOKEN_HINT_MAX},
};

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

static const struct {
	const char *word;
	enum authz_prompt bit;
} prompt_words[] = {
	{"none", PROMPT_NONE},
	{"login", PROMPT_LOGIN},
	{"consent", PROMPT_CONSENT},
	{"select_account", PROMPT_SELECT_ACCOUNT},
};
#define N_PROMPT (sizeof(prompt_words) / sizeof(prompt_words[0]))

/* The bits of a space-separated prompt; IDP_EINVAL on an unknown word. */
static int prompt_parse(const char *s, unsigned *out)
{
	*out = 0;
	for (const char *q = s; q != NULL && *q;) {
		size_t n = strcspn(q, " ");
		bool known = false;

		for (size_t i = 0; i < N_PROMPT && !known; i++)
			if (strlen(prompt_words[i].word) == n && strncmp(q, prompt_words[i].word, n) == 0) {
				*out |= prompt_words[i].bit;
				known = true;
			}
		if (!known)
			return IDP_EINVAL;
		q += n;
		while (*q == ' ')
			q++;
	}
	return IDP_OK;
}

/* Copies s into *dst; false when out of memory (NULL copies as NULL). */
static bool dup_to(char **dst, const char *s)
{
	free(*dst);
	*dst = NULL;
	return s == NULL || (*dst = strdup(s)) != NULL;
}

static int refuse_page(struct authz_refusal *why, const char *page)
{
	why->status = 400;
	why->page = page;
	return IDP_EINVAL;
}

int authz_req_parse(const struct rt *rt, const struct params *p, enum lang lang, struct authz_req *a,
		    struct authz_refusal *why)
{
	const struct config *cfg = rt->cfg;
	const char *client_id = params_get(p, "client_id");
	const char *ruri = params_get(p, "redirect_uri");
	const char *rtype, *scope, *state, *cc, *ccm, *prompt, *max_age, *claims_s, *hint, *lh;
	const struct client *cl;
	json_t *claims = NULL, *v;

	memset(why, 0, sizeof(*why));
	authz_req_init(a);
	a->lang = lang;
	if (p->dup != NULL && (strcmp(p->dup, "client_id") == 0 || strcmp(p->dup, "redirect_uri") == 0))
		return refuse_page(why, "bad_request");
	if (client_id == NULL || (cl = config_client(cfg, client_id)) == NULL)
		return refuse_page(why, "unknown_client");
	if (ruri == NULL || !client_has_redirect_uri(cl, ruri))
		return refuse_page(why, "bad_redirect_uri");

	/* From here on, errors go back to the (now trusted) redirect_uri. */
	state = params_get(p, "state");
	if (!dup_to(&a->client_id, client_id) || !dup_to(&a->redirect_uri, ruri) ||
	    !dup_to(&a->state, state != NULL && strlen(state) <= AUTHZ_STATE_MAX ? state : NULL))
		goto nomem;
#define FAIL(e, d) do { why->error = (e); why->description = (d); return IDP_EINVAL; } while (0)
	if (p->dup != NULL) {
		snprintf(why->text, sizeof(why->text), "the parameter %.64s is repeated", p->dup);
		FAIL("invalid_request", why->text);
	}
	if (params_get(p, "request") != NULL)
		FAIL("request_not_supported", "request objects are not supported");
	if (params_get(p, "request_uri") != NULL)
		FAIL("request_uri_not_supported", "request_uri is not supported");
	for (size_t i = 0; i < sizeof(param_caps) / sizeof(param_caps[0]); i++) {
		const char *val = params_get(p, param_caps[i].name);

		if (val != NULL && strlen(val) > param_caps[i].max) {
			snprintf(why->text, sizeof(why->text), "%s is too long (at most %zu bytes)",
				 param_caps[i].name, param_caps[i].max);
			FAIL("invalid_request", why->text);
		}
	}
	if ((rtype = params_get(p, "response_type")) == NULL)
		FAIL("invalid_request", "response_type is required");
	if (strcmp(rtype, "code") != 0)
		FAIL("unsupported_response_type", "only the code flow is supported");
	if (params_get(p, "response_mode") != NULL && strcmp(params_get(p, "response_mode"), "query") != 0)
		FAIL("invalid_request", "only response_mode=query is supported");
	if (!cl->grant_code)
		FAIL("unauthorized_client", "this client may not use the authorization code grant");
	scope = params_get(p, "scope");
	if (scope == NULL || !scope_has(scope, "openid"))
		FAIL("invalid_scope", "scope must include openid");
	if ((a->scope = grant_scope(cfg, cl, scope)) == NULL)
		goto nomem;
	cc = params_get(p, "code_challenge");
	ccm = params_get(p, "code_challenge_method");
	if (cc == NULL && cl->require_pkce)
		FAIL("invalid_request", "code_challenge (PKCE, S256) is required");
	if (cc != NULL && (ccm == NULL || strcmp(ccm, "S256") != 0))
		FAIL("invalid_request", "code_challenge_method must be S256");
	if (cc != NULL && !pkce_challenge_ok(cc))
		FAIL("invalid_request", "code_challenge must be 43 base64url characters");
	if (!dup_to(&a->code_challenge, cc) || !dup_to(&a->nonce, params_get(p, "nonce")) ||
	    !dup_to(&a->acr_values, params_get(p, "acr_values")))
		goto nomem;
	if (cl->franceconnect) {
		if (state == NULL)
			FAIL("invalid_request", "state is required");
		if (a->nonce == NULL || strlen(a->nonce) < 22)
			FAIL("invalid_request", "nonce is required, at least 22 characters");
		if (a->acr_values == NULL)
			FAIL("invalid_request", "acr_values is required");
	}
	prompt = params_get(p, "prompt");
	if (prompt_parse(prompt, &a->prompt) != IDP_OK)
		FAIL("invalid_request", "unsupported prompt value");
	if ((a->prompt & PROMPT_NONE) && strcmp(prompt, "none") != 0)
		FAIL("invalid_request", "prompt=none cannot be combined with other values");
	max_age = params_get(p, "max_age");
	if (max_age != NULL && !parse_ll(max_age, 0, 1000000000, &a->max_age))
		FAIL("invalid_request", "max_age must be a non-negative integer");
	claims_s = params_get(p, "claims");
	if (claims_s != NULL) {
		/* Bounded before jansson recurses over it (json_bounded.h). */
		if (json_text_depth(claims_s, strlen(claims_s), JSON_IN_DEPTH) > JSON_IN_DEPTH)
			FAIL("invalid_request", "claims is nested too deep");
		if (json_parse_bounded(claims_s, strlen(claims_s), AUTHZ_CLAIMS_MAX, JSON_IN_DEPTH,
				       JSON_REJECT_DUPLICATES, &claims) != IDP_OK ||
		    !json_is_object(claims) ||
		    (json_object_get(claims, "userinfo") && !json_is_object(json_object_get(claims, "userinfo"))) ||
		    (json_object_get(claims, "id_token") && !json_is_object(json_object_get(claims, "id_token")))) {
			json_decref(claims);
			FAIL("invalid_request", "claims must be a JSON object (OpenID Core 5.5)");
		}
		/* Never more than the client's scopes allow, however asked. */
		a->claims = claims_request_filter(cl, claims);
		json_decref(claims);
		if (a->claims == NULL)
			FAIL("server_error", "out of memory");
		v = json_object_get(json_object_get(json_object_get(a->claims, "id_token"), "sub"), "value");
		if (v != NULL && (!json_is_string(v) || json_string_length(v) > AUTHZ_SUB_MAX))
			FAIL("invalid_request", "claims.id_token.sub.value must be a string");
		if (!dup_to(&a->want_sub, json_string_value(v)))
			goto nomem;
	}
	if (params_get(p, "idp_hint") != NULL) {
		const struct backend *hb = backend_find(rt, params_get(p, "idp_hint"));

		if (hb == NULL || !client_allows_backend(cl, hb->id))
			FAIL("invalid_request", "invalid_idp_hint: unknown identity provider, or not allowed for this service");
		if (!dup_to(&a->idp_hint, hb->id))
			goto nomem;
	}
	hint = params_get(p, "id_token_hint");
	if (hint != NULL) {
		json_t *pl = NULL;
		const char *sub;

		/* An expired hint is still a hint (OpenID Core 3.1.2.1). But only
		 * an ID token: not an access token we signed (at+jwt), and only one
		 * addressed to a registered client. */
		if (jws_is_access_token(hint) || jws_verify(rt->keys, hint, &pl) != IDP_OK ||
		    (sub = json_string_value(json_object_get(pl, "sub"))) == NULL ||
		    config_client(cfg, json_string_value(json_object_get(pl, "aud"))) == NULL ||
		    strcmp(json_string_value(json_object_get(pl, "iss")) ?: "", cfg->issuer) != 0) {
			json_decref(pl);
			FAIL("invalid_request", "id_token_hint is not an ID token of this provider");
		}
		if (!dup_to(&a->hint_sub, sub)) {
			json_decref(pl);
			goto nomem;
		}
		json_decref(pl);
	}
	lh = params_get(p, "login_hint");
	if (lh != NULL && !dup_to(&a->login_hint, lh))
		goto nomem;
	/* A level the provider cannot even name cannot be met: refused, never
	 * silently ignored (OpenID Core 5.5.1.1 for an essential acr; and the
	 * franceconnect profile, whose services rely on acr_values, errs too). */
	if (cl->franceconnect && a->acr_values != NULL && required_acr(cfg, a->acr_values, NULL, true) < 0)
		FAIL("invalid_request", "acr_values names no known level");
	if (acr_essential(a->claims) &&
	    claims_acr_rank(cfg, json_object_get(json_object_get(a->claims, "id_token"), "acr"), false) < 0)
		FAIL("unmet_authentication_requirements", "the essential acr names no level this provider knows");
	a->min_acr_rank = required_acr(cfg, a->acr_values, a->claims, cl->franceconnect);
	return IDP_OK;
nomem:
	FAIL("server_error", "out of memory");
#undef FAIL
}

/* The stored form. Its member names are those the transaction had when it
 * was a plain JSON object, so that a login in progress across an upgrade
 * goes on. */
json_t *authz_req_encode(const struct authz_req *a)
{
	json_t *j = json_object();
	char prompt[64];
	size_t n = 0;
	bool ok;

	prompt[0] = '\0';
	for (size_t i = 0; i < N_PROMPT; i++)
		if (a->prompt & prompt_words[i].bit)
			n += (size_t)snprintf(prompt + n, sizeof(prompt) - n, "%s%s", n ? " " : "",
					      prompt_words[i].word);
#define STR(name, v) ((v) == NULL || json_object_set_new(j, name, json_string(v)) == 0)
	ok = j != NULL && STR("client_id", a->client_id) && STR("redirect_uri", a->redirect_uri) &&
	     STR("state", a->state) && STR("scope", a->scope) && STR("nonce", a->nonce) &&
	     STR("code_challenge", a->code_challenge) && STR("acr_values", a->acr_values) &&
	     STR("login_hint", a->login_hint) && STR("want_sub", a->want_sub) &&
	     STR("hint_sub", a->hint_sub) && STR("backend", a->backend) &&
	     STR("prompt", a->prompt ? prompt : NULL) && STR("lang", lang_code(a->lang)) &&
	     STR("sid", a->sid[0] ? a->sid : NULL) &&
	     (a->claims == NULL || json_object_set(j, "claims", a->claims) == 0) &&
	     (a->max_age < 0 || json_object_set_new(j, "max_age", json_integer(a->max_age)) == 0) &&
	     json_object_set_new(j, "min_acr_rank", json_integer(a->min_acr_rank)) == 0;
#undef STR
	if (!ok) {
		json_decref(j);
		return NULL;
	}
	return j;
}

/* A string member of a stored request, at most max bytes; absent is NULL. */
static bool get_str(const json_t *j, const char *name, size_t max, char **out)
{
	const json_t *v = json_object_get(j, name);

	*out = NULL;
	if (v == NULL)
		return true;
	if (!json_is_string(v) || json_string_length(v) > max)
		return false;
	return (*out = strdup(json_string_value(v))) != NULL;
}

int authz_req_decode(const json_t *j, struct authz_req *a)
{
	const json_t *claims = json_object_get(j, "claims"), *ma = json_object_get(j, "max_age");
	const json_t *rank = json_object_get(j, "min_acr_rank");
	char *prompt = NULL, *lang = NULL, *sid = NULL;
	bool ok;

	authz_req_init(a);
	ok = json_is_object(j) && get_str(j, "client_id", AUTHZ_TEXT_MAX, &a->client_id) &&
	     get_str(j, "redirect_uri", AUTHZ_URI_MAX, &a->redirect_uri) &&
	     get_str(j, "state", AUTHZ_STATE_MAX, &a->state) && get_str(j, "scope", AUTHZ_SCOPE_MAX, &a->scope) &&
	     get_str(j, "nonce", AUTHZ_NONCE_MAX, &a->nonce) &&
	     get_str(j, "code_challenge", 43, &a->code_challenge) &&
	     get_str(j, "acr_values", AUTHZ_ACR_VALUES_MAX, &a->acr_values) &&
	     get_str(j, "login_hint", AUTHZ_LOGIN_HINT_MAX, &a->login_hint) &&
	     get_str(j, "want_sub", AUTHZ_SUB_MAX, &a->want_sub) &&
	     get_str(j, "hint_sub", AUTHZ_TEXT_MAX, &a->hint_sub) &&
	     get_str(j, "backend", AUTHZ_IDP_HINT_MAX, &a->backend) &&
	     get_str(j, "prompt", 64, &prompt) && get_str(j, "lang", 8, &lang) && get_str(j, "sid", 64, &sid) &&
	     a->client_id != NULL && a->redirect_uri != NULL && a->scope != NULL &&
	     prompt_parse(prompt, &a->prompt) == IDP_OK && (claims == NULL || json_is_object(claims)) &&
	     (ma == NULL || (json_is_integer(ma) && json_integer_value(ma) >= 0)) && json_is_integer(rank);
	if (ok) {
		a->claims = json_incref((json_t *)claims);
		a->max_age = ma != NULL ? (long long)json_integer_value(ma) : -1;
		a->min_acr_rank = (int)json_integer_value(rank);
		a->lang = lang != NULL && strcmp(lang, "en") == 0 ? LANG_EN : LANG_FR;
		if (sid != NULL)
			memcpy(a->sid, sid, strlen(sid) + 1);
	}
	free(prompt);
	free(lang);
	free(sid);
	if (!ok) {
		authz_req_release(a);
		return IDP_EINVAL;
	}
	return IDP_OK;
}

char *authz_req_error_uri(const struct config *cfg, const struct authz_req *a, const char *error,
			  const char *description)
{
	const char *kv[] = {"error", error, "error_description", description, "state", a->state,
			    "iss", cfg->issuer};

	return uri_with_params(a->redirect_uri, kv, sizeof(kv) / sizeof(kv[0]));
}
