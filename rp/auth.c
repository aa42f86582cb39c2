/* SPDX-License-Identifier: Apache-2.0 */
/* The front channel: authorization URL (state, nonce, PKCE), callback
 * parsing, logout URL. */
#include "rp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#define RANDOM_BYTES 32         /* 43 base64url characters, 256 bits */
#define MAX_CALLBACK 16384

/* Parameters the library sets itself: extra ones may not replace them. */
static const char *const reserved[] = {
	"response_type", "client_id", "redirect_uri", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method", "acr_values", "prompt", "ui_locales",
	"login_hint", "claims", "max_age", "request", "request_uri", "response_mode", NULL,
};

static bool is_reserved(const char *name)
{
	const char *const *r;

	for (r = reserved; *r != NULL; r++)
		if (strcmp(*r, name) == 0)
			return true;
	return false;
}

/* RFC 7636 4.1: 43 to 128 unreserved characters. */
static bool verifier_ok(const char *v)
{
	size_t len = strlen(v), i;

	if (len < 43 || len > 128)
		return false;
	for (i = 0; i < len; i++) {
		char c = v[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return false;
	}
	return true;
}

static bool has_word(const char *list, const char *word)
{
	size_t wlen = strlen(word), len;
	const char *p = list;

	while (*p != '\0') {
		while (*p == ' ')
			p++;
		len = strcspn(p, " ");
		if (len == wlen && memcmp(p, word, len) == 0)
			return true;
		p += len;
	}
	return false;
}

void rp_auth_request_release(struct rp_auth_request *req)
{
	if (req == NULL)
		return;
	free_secret(req->url);
	free_secret(req->state);
	free_secret(req->nonce);
	free_secret(req->code_verifier);
	memset(req, 0, sizeof(*req));
}

static int fresh_or_given(const char *given, char **out)
{
	*out = given != NULL ? strdup(given) : rand_token(RANDOM_BYTES);
	return *out != NULL ? RP_OK : RP_E_NOMEM;
}

static int check_params(const struct rp_auth_params *p, struct rp_error *err)
{
	const char *const *x;

	if (p->nonce != NULL && (!rp_printable(p->nonce) || strlen(p->nonce) < RP_MIN_NONCE ||
				 strlen(p->nonce) > 255))
		return rp_fail(err, RP_E_INVAL, "rp_auth_url: nonce must be %d to 255 printable "
			       "characters", RP_MIN_NONCE);
	if (p->state != NULL && (!rp_printable(p->state) || strlen(p->state) > 512))
		return rp_fail(err, RP_E_INVAL, "rp_auth_url: state must be 1 to 512 printable "
			       "characters");
	if (p->code_verifier != NULL && !verifier_ok(p->code_verifier))
		return rp_fail(err, RP_E_INVAL, "rp_auth_url: code_verifier must be 43 to 128 "
			       "unreserved characters");
	if (p->max_age < 0)
		return rp_fail(err, RP_E_INVAL, "rp_auth_url: negative max_age");
	for (x = p->extra; x != NULL && *x != NULL; x += 2) {
		if (x[1] == NULL || !rp_printable(x[0]) || is_reserved(x[0]))
			return rp_fail(err, RP_E_INVAL, "rp_auth_url: extra parameter %s refused",
				       rp_printable(x[0]) ? x[0] : "(unprintable)");
	}
	return RP_OK;
}

/* endpoint + '?' or '&' + the encoded query. */
static char *join_url(const char *endpoint, const struct buf *query)
{
	struct buf b;
	size_t elen = strlen(endpoint);
	const char *sep = "?";
	int rc;

	if (strchr(endpoint, '?') != NULL)
		sep = endpoint[elen - 1] == '?' || endpoint[elen - 1] == '&' ? "" : "&";
	buf_init(&b, 64 * 1024);
	if ((rc = rp_buf_adds(&b, endpoint)) != RP_OK || (rc = rp_buf_adds(&b, sep)) != RP_OK ||
	    (rc = rp_buf_add(&b, query->p, query->len)) != RP_OK) {
		buf_release(&b);
		return NULL;
	}
	return buf_steal(&b);
}

int rp_auth_url(struct rp_config *cfg, const struct rp_auth_params *params,
		struct rp_auth_request *out, struct rp_error *err)
{
	static const struct rp_auth_params none;
	const struct rp_auth_params *p = params != NULL ? params : &none;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct rp_auth_request req = { 0 };
	struct rp_disc *disc = NULL;
	struct buf q;
	const char *const *x;
	char *challenge = NULL, *scope = NULL, age[24];
	int rc;

	rp_err_clear(err);
	buf_init(&q, 64 * 1024);
	if (out == NULL || cfg == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_auth_url: no config or no output");
	memset(out, 0, sizeof(*out));
	if ((rc = check_params(p, err)) != RP_OK)
		return rc;
	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		return rc;
	if (fresh_or_given(p->state, &req.state) != RP_OK ||
	    fresh_or_given(p->nonce, &req.nonce) != RP_OK ||
	    fresh_or_given(p->code_verifier, &req.code_verifier) != RP_OK)
		goto nomem;
	SHA256((const unsigned char *)req.code_verifier, strlen(req.code_verifier), digest);
	if ((challenge = b64url_encode(digest, sizeof(digest))) == NULL)
		goto nomem;
	/* The scope must hold "openid" or the provider answers plain OAuth. */
	if (p->scope == NULL || *p->scope == '\0')
		scope = strdup("openid");
	else if (has_word(p->scope, "openid"))
		scope = strdup(p->scope);
	else if ((scope = malloc(strlen(p->scope) + 8)) != NULL)
		snprintf(scope, strlen(p->scope) + 8, "openid %s", p->scope);
	if (scope == NULL)
		goto nomem;

	rc = rp_buf_add_param(&q, "response_type", "code");
	rc = rc ? rc : rp_buf_add_param(&q, "client_id", cfg->client_id);
	rc = rc ? rc : rp_buf_add_param(&q, "redirect_uri", cfg->redirect_uri);
	rc = rc ? rc : rp_buf_add_param(&q, "scope", scope);
	rc = rc ? rc : rp_buf_add_param(&q, "state", req.state);
	rc = rc ? rc : rp_buf_add_param(&q, "nonce", req.nonce);
	rc = rc ? rc : rp_buf_add_param(&q, "code_challenge", challenge);
	rc = rc ? rc : rp_buf_add_param(&q, "code_challenge_method", "S256");
	if (p->acr_values != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "acr_values", p->acr_values);
	if (p->prompt != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "prompt", p->prompt);
	if (p->ui_locales != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "ui_locales", p->ui_locales);
	if (p->login_hint != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "login_hint", p->login_hint);
	if (p->claims != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "claims", p->claims);
	if (p->max_age > 0) {
		snprintf(age, sizeof(age), "%d", p->max_age);
		rc = rc ? rc : rp_buf_add_param(&q, "max_age", age);
	}
	for (x = p->extra; x != NULL && *x != NULL; x += 2)
		rc = rc ? rc : rp_buf_add_param(&q, x[0], x[1]);
	if (rc != RP_OK) {
		rc = rp_fail(err, rc, "rp_auth_url: parameters too long");
		goto out;
	}
	if ((req.url = join_url(disc->authorization_endpoint, &q)) == NULL)
		goto nomem;
	*out = req;
	memset(&req, 0, sizeof(req));
	rc = RP_OK;
	goto out;
nomem:
	rc = rp_fail(err, RP_E_NOMEM, "rp_auth_url: out of memory");
out:
	rp_auth_request_release(&req);
	buf_release(&q);
	rp_disc_put(disc);
	free(challenge);
	free(scope);
	return rc;
}

enum { CB_CODE, CB_STATE, CB_ERROR, CB_DESC, CB_ISS, CB_COUNT };
static const char *const cb_names[CB_COUNT] = { "code", "state", "error", "error_description",
						 "iss" };

static int parse_query(const char *q, size_t len, char *v[CB_COUNT], struct rp_error *err)
{
	const char *end = q + len, *amp, *eq;
	size_t nlen, i;

	while (q < end) {
		amp = memchr(q, '&', (size_t)(end - q));
		if (amp == NULL)
			amp = end;
		eq = memchr(q, '=', (size_t)(amp - q));
		nlen = (size_t)((eq != NULL ? eq : amp) - q);
		for (i = 0; i < CB_COUNT; i++) {
			if (strlen(cb_names[i]) != nlen || memcmp(q, cb_names[i], nlen) != 0)
				continue;
			/* RFC 6749 3.1: no parameter more than once. */
			if (v[i] != NULL)
				return rp_fail(err, RP_E_MALFORMED,
					       "rp_parse_callback: %s repeated", cb_names[i]);
			if ((v[i] = codec_form_decode(eq != NULL ? eq + 1 : amp,
						eq != NULL ? (size_t)(amp - eq - 1) : 0)) == NULL)
				return rp_fail(err, RP_E_MALFORMED, "rp_parse_callback: bad "
					       "encoding in %s", cb_names[i]);
		}
		q = amp + 1;
	}
	return RP_OK;
}

int rp_parse_callback(struct rp_config *cfg, const char *query, const char *expected_state,
		      char **code, struct rp_error *err)
{
	char *v[CB_COUNT] = { NULL };
	char oerr[sizeof(err->oauth_error)], desc[128];
	struct rp_disc *disc = NULL;
	struct rp_error ignored;
	const char *q;
	size_t len, i;
	int rc;

	rp_err_clear(err);
	if (code != NULL)
		*code = NULL;
	/* No expected state, no check: refused, as that is a login CSRF. */
	if (cfg == NULL || query == NULL || expected_state == NULL || code == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_parse_callback: missing argument");
	q = strchr(query, '?');
	q = q != NULL ? q + 1 : query;
	len = strcspn(q, "#");
	if (len > MAX_CALLBACK)
		return rp_fail(err, RP_E_TOO_BIG, "rp_parse_callback: query longer than %d bytes",
			       MAX_CALLBACK);
	if ((rc = parse_query(q, len, v, err)) != RP_OK)
		goto out;

	oerr[0] = desc[0] = '\0';
	if (v[CB_ERROR] != NULL) {
		rp_sanitize(oerr, sizeof(oerr), v[CB_ERROR], SIZE_MAX);
		rp_sanitize(desc, sizeof(desc), v[CB_DESC] != NULL ? v[CB_DESC] : "", SIZE_MAX);
	}
	/* State first: an error that does not carry this login's state may
	 * have been planted by a third party. */
	if (v[CB_STATE] == NULL || !secret_equal(v[CB_STATE], strlen(v[CB_STATE]),
						    expected_state, strlen(expected_state))) {
		rc = rp_fail(err, RP_E_STATE, "rp_parse_callback: state %s%s%s",
			     v[CB_STATE] == NULL ? "missing" : "is not this login's",
			     oerr[0] != '\0' ? "; provider said " : "", oerr);
		goto out;
	}
	/* RFC 9207: the answer names its issuer; when the provider promises
	 * to, a missing one is refused too (mix-up defence). */
	if (v[CB_ISS] != NULL && strcmp(v[CB_ISS], cfg->issuer) != 0) {
		rc = rp_fail(err, RP_E_ISS, "rp_parse_callback: answer from another issuer");
		goto out;
	}
	if (v[CB_ISS] == NULL && rp_disc_get(cfg, &disc, &ignored) == RP_OK &&
	    disc->iss_parameter) {
		rc = rp_fail(err, RP_E_ISS, "rp_parse_callback: iss missing, the provider "
			     "promised it");
		goto out;
	}
	if (v[CB_ERROR] != NULL) {
		if (err != NULL)
			memcpy(err->oauth_error, oerr, sizeof(oerr));
		rc = rp_fail(err, RP_E_PROVIDER_ERROR, "rp_parse_callback: %s%s%s", oerr,
			     desc[0] != '\0' ? ": " : "", desc);
		goto out;
	}
	if (v[CB_CODE] == NULL || v[CB_CODE][0] == '\0') {
		rc = rp_fail(err, RP_E_MALFORMED, "rp_parse_callback: no code");
		goto out;
	}
	*code = v[CB_CODE];
	v[CB_CODE] = NULL;
	rc = RP_OK;
out:
	for (i = 0; i < CB_COUNT; i++)
		free_secret(v[i]);
	rp_disc_put(disc);
	return rc;
}

int rp_logout_url(struct rp_config *cfg, const char *id_token_hint,
		  const char *post_logout_redirect_uri, const char *state, char **url,
		  struct rp_error *err)
{
	struct rp_disc *disc = NULL;
	struct buf q;
	int rc;

	rp_err_clear(err);
	if (url != NULL)
		*url = NULL;
	if (cfg == NULL || url == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_logout_url: missing argument");
	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		return rc;
	if (disc->end_session_endpoint == NULL) {
		rc = rp_fail(err, RP_E_DISCOVERY, "rp_logout_url: the provider has no "
			     "end_session_endpoint");
		goto out;
	}
	buf_init(&q, 128 * 1024);
	rc = id_token_hint != NULL ? rp_buf_add_param(&q, "id_token_hint", id_token_hint) : RP_OK;
	if (post_logout_redirect_uri != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "post_logout_redirect_uri",
						post_logout_redirect_uri);
	if (state != NULL)
		rc = rc ? rc : rp_buf_add_param(&q, "state", state);
	rc = rc ? rc : rp_buf_add_param(&q, "client_id", cfg->client_id);
	if (rc != RP_OK)
		rc = rp_fail(err, rc, "rp_logout_url: parameters too long");
	else if ((*url = join_url(disc->end_session_endpoint, &q)) == NULL)
		rc = rp_fail(err, RP_E_NOMEM, "rp_logout_url: out of memory");
	buf_release(&q);
out:
	rp_disc_put(disc);
	return rc;
}
