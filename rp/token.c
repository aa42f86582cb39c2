/* SPDX-License-Identifier: Apache-2.0 */
/* The back channel: code exchange at the token endpoint, userinfo. */
#include "rp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define MAX_TOKEN_RESPONSE (256 * 1024)
#define MAX_RESPONSE_MEMBERS 64

void rp_tokens_release(struct rp_tokens *t)
{
	if (t == NULL)
		return;
	rp_free_secret(t->id_token);
	rp_free_secret(t->access_token);
	rp_free_secret(t->refresh_token);
	free(t->token_type);
	free(t->scope);
	memset(t, 0, sizeof(*t));
	t->expires_in = -1;
}

char *rp_basic_header(const struct rp_config *cfg)
{
	static const char prefix[] = "Authorization: Basic ";
	struct rp_buf cred;
	char *hdr = NULL;
	size_t cap;

	rp_buf_init(&cred, 4096);
	if (cfg->client_secret == NULL || rp_buf_add_urlenc(&cred, cfg->client_id) != RP_OK ||
	    rp_buf_add(&cred, ":", 1) != RP_OK ||
	    rp_buf_add_urlenc(&cred, cfg->client_secret) != RP_OK)
		goto out;
	cap = sizeof(prefix) + (cred.len + 2) / 3 * 4 + 1;
	if ((hdr = malloc(cap)) == NULL)
		goto out;
	memcpy(hdr, prefix, sizeof(prefix) - 1);
	EVP_EncodeBlock((unsigned char *)hdr + sizeof(prefix) - 1, (const unsigned char *)cred.p,
			(int)cred.len);
out:
	rp_buf_release(&cred);
	return hdr;
}

/* An OAuth error body ({"error": ..., "error_description": ...}) into err;
 * RP_E_HTTP when the body is not one. */
static int provider_error(const char *fn, const struct rp_http_resp *resp, struct rp_error *err)
{
	struct rp_jmember m[MAX_RESPONSE_MEMBERS];
	char *copy, *e = NULL, *d = NULL, oerr[64], desc[128];
	size_t n;
	int rc;

	if ((copy = rp_strndup(resp->body, resp->len)) == NULL)
		return rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
	if (rp_json_scan(copy, resp->len, m, MAX_RESPONSE_MEMBERS, &n) != RP_OK ||
	    (e = rp_json_str_dup(rp_json_get(m, n, "error"))) == NULL) {
		rc = rp_fail(err, RP_E_HTTP, "%s: HTTP %ld", fn, resp->status);
		goto out;
	}
	d = rp_json_str_dup(rp_json_get(m, n, "error_description"));
	rp_sanitize(oerr, sizeof(oerr), e, SIZE_MAX);
	rp_sanitize(desc, sizeof(desc), d != NULL ? d : "", SIZE_MAX);
	if (err != NULL)
		memcpy(err->oauth_error, oerr, sizeof(oerr));
	rc = rp_fail(err, RP_E_PROVIDER_ERROR, "%s: HTTP %ld, %s%s%s", fn, resp->status, oerr,
		     desc[0] != '\0' ? ": " : "", desc);
out:
	rp_wipe(copy, resp->len);
	free(copy);
	free(e);
	free(d);
	return rc;
}

/* The token response, parsed with the allocation-free scanner so every
 * copy of a token can be wiped. */
static int parse_tokens(const char *fn, struct rp_http_resp *resp, struct rp_tokens *t,
			struct rp_error *err)
{
	struct rp_jmember m[MAX_RESPONSE_MEMBERS];
	const struct rp_jval *v;
	char *type;
	size_t n;
	int64_t secs;

	if (rp_json_scan(resp->body, resp->len, m, MAX_RESPONSE_MEMBERS, &n) != RP_OK)
		return rp_fail(err, RP_E_MALFORMED, "%s: token response is not a JSON object", fn);
	if ((t->access_token = rp_json_str_dup(rp_json_get(m, n, "access_token"))) == NULL ||
	    (type = t->token_type = rp_json_str_dup(rp_json_get(m, n, "token_type"))) == NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: no access_token or token_type", fn);
	/* A DPoP or other bound token would be useless to us as a bearer. */
	if (strcasecmp(type, "Bearer") != 0)
		return rp_fail(err, RP_E_MALFORMED, "%s: token_type is not Bearer", fn);
	if ((t->id_token = rp_json_str_dup(rp_json_get(m, n, "id_token"))) == NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: no id_token (was openid in the scope?)",
			       fn);
	if ((v = rp_json_get(m, n, "refresh_token")) != NULL &&
	    (t->refresh_token = rp_json_str_dup(v)) == NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: bad refresh_token", fn);
	if ((v = rp_json_get(m, n, "scope")) != NULL && (t->scope = rp_json_str_dup(v)) == NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: bad scope", fn);
	if ((v = rp_json_get(m, n, "expires_in")) != NULL) {
		if (!rp_json_time(v, &secs) || secs > 0x7fffffff)
			return rp_fail(err, RP_E_MALFORMED, "%s: bad expires_in", fn);
		t->expires_in = (long)secs;
	}
	return RP_OK;
}

int rp_exchange_code(struct rp_config *cfg, const char *code, const char *code_verifier,
		     struct rp_tokens *out, struct rp_error *err)
{
	static const char *const fn = "rp_exchange_code";
	struct rp_tokens t = { .expires_in = -1 };
	struct rp_http_resp resp = { 0 };
	struct rp_disc *disc = NULL;
	struct rp_buf body;
	int rc;

	rp_err_clear(err);
	rp_buf_init(&body, 64 * 1024);
	if (out == NULL || cfg == NULL)
		return rp_fail(err, RP_E_INVAL, "%s: no config or no output", fn);
	memset(out, 0, sizeof(*out));
	out->expires_in = -1;
	if (!rp_printable(code) || strlen(code) > 4096)
		return rp_fail(err, RP_E_INVAL, "%s: code missing or not printable", fn);
	if (code_verifier != NULL && !rp_printable(code_verifier))
		return rp_fail(err, RP_E_INVAL, "%s: code_verifier not printable", fn);
	if (cfg->auth_method == RP_AUTH_BASIC && cfg->client_secret == NULL)
		return rp_fail(err, RP_E_INVAL, "%s: client_secret_basic without a secret", fn);
	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		return rc;

	rc = rp_buf_add_param(&body, "grant_type", "authorization_code");
	rc = rc ? rc : rp_buf_add_param(&body, "code", code);
	rc = rc ? rc : rp_buf_add_param(&body, "redirect_uri", cfg->redirect_uri);
	if (code_verifier != NULL)
		rc = rc ? rc : rp_buf_add_param(&body, "code_verifier", code_verifier);
	if (rc != RP_OK) {
		rc = rp_fail(err, rc, "%s: request too long", fn);
		goto out;
	}
	if ((rc = rp_client_post(cfg, fn, disc->token_endpoint, &body, MAX_TOKEN_RESPONSE, &resp,
				 err)) != RP_OK)
		goto out;
	if ((rc = parse_tokens(fn, &resp, &t, err)) != RP_OK)
		goto out;
	*out = t;
	memset(&t, 0, sizeof(t));
out:
	rp_tokens_release(&t);
	rp_http_resp_release(&resp);
	rp_buf_release(&body);
	rp_disc_put(disc);
	return rc;
}

int rp_client_post(struct rp_config *cfg, const char *fn, const char *url, struct rp_buf *body,
		   size_t max, struct rp_http_resp *resp, struct rp_error *err)
{
	const char *headers[3] = { "Accept: application/json", NULL, NULL };
	char *auth = NULL;
	int rc = RP_OK;

	if (cfg->auth_method == RP_AUTH_PRIVATE_KEY_JWT) {
		struct rp_disc *disc = NULL;
		char *as = NULL;

		/* aud: the token endpoint (OpenID Core 9), at every endpoint. */
		if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
			return rc;
		rc = rp_client_assertion(cfg, fn, disc->token_endpoint, &as, err);
		rp_disc_put(disc);
		if (rc != RP_OK)
			return rc;
		rc = rp_buf_add_param(body, "client_id", cfg->client_id);
		rc = rc ? rc : rp_buf_add_param(body, "client_assertion_type",
						"urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
		rc = rc ? rc : rp_buf_add_param(body, "client_assertion", as);
		rp_free_secret(as);
		if (rc != RP_OK)
			return rp_fail(err, rc, "%s: request too long", fn);
		rc = rp_http(cfg, fn, url, headers, body->p, max, resp, err);
		if (rc == RP_OK && resp->status != 200)
			rc = provider_error(fn, resp, err);
		return rc;
	}
	if (cfg->auth_method == RP_AUTH_BASIC && cfg->client_secret == NULL)
		return rp_fail(err, RP_E_INVAL, "%s: client_secret_basic without a secret", fn);
	if (cfg->auth_method == RP_AUTH_POST || cfg->client_secret == NULL)
		rc = rp_buf_add_param(body, "client_id", cfg->client_id);
	if (cfg->auth_method == RP_AUTH_POST && cfg->client_secret != NULL)
		rc = rc ? rc : rp_buf_add_param(body, "client_secret", cfg->client_secret);
	if (rc != RP_OK)
		return rp_fail(err, rc, "%s: request too long", fn);
	if (cfg->auth_method == RP_AUTH_BASIC) {
		if ((auth = rp_basic_header(cfg)) == NULL)
			return rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
		headers[1] = auth;
	}
	rc = rp_http(cfg, fn, url, headers, body->p, max, resp, err);
	rp_free_secret(auth);
	if (rc == RP_OK && resp->status != 200)
		rc = provider_error(fn, resp, err);
	return rc;
}

int rp_userinfo(struct rp_config *cfg, const char *access_token, const char *expected_sub,
		json_t **claims, struct rp_error *err)
{
	static const char *const fn = "rp_userinfo";
	struct rp_http_resp resp = { 0 };
	struct rp_disc *disc = NULL;
	const char *headers[3] = { "Accept: application/json, application/jwt", NULL, NULL };
	json_t *got = NULL;
	json_error_t jerr;
	const char *sub;
	char *auth = NULL, *tok;
	size_t alen, end;
	int rc;

	rp_err_clear(err);
	if (claims != NULL)
		*claims = NULL;
	if (cfg == NULL || !rp_printable(access_token) || strlen(access_token) > RP_MAX_TOKEN)
		return rp_fail(err, RP_E_INVAL, "%s: access token missing or not printable", fn);
	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		return rc;
	if (disc->userinfo_endpoint == NULL) {
		rc = rp_fail(err, RP_E_DISCOVERY, "%s: the provider has no userinfo_endpoint", fn);
		goto out;
	}
	/* In the header, never the URL (RFC 9700 2.5). */
	alen = strlen(access_token) + sizeof("Authorization: Bearer ");
	if ((auth = malloc(alen)) == NULL) {
		rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
		goto out;
	}
	snprintf(auth, alen, "Authorization: Bearer %s", access_token);
	headers[1] = auth;
	if ((rc = rp_http(cfg, fn, disc->userinfo_endpoint, headers, NULL, RP_MAX_DOC, &resp,
			  err)) != RP_OK)
		goto out;
	if (resp.status != 200) {
		rc = rp_fail(err, RP_E_HTTP, "%s: HTTP %ld", fn, resp.status);
		goto out;
	}
	if (strcmp(resp.ctype, "application/jwt") == 0) {
		/* Signed userinfo (FranceConnect): verified like an ID token,
		 * minus the nonce: iss and aud must be there and be the
		 * provider and us (OpenID Connect Core 5.3.2), or a token the
		 * provider signed for another client, or for nobody, would
		 * pass. exp and iat are checked when present (userinfo
		 * answers often carry neither). Trailing white space is
		 * tolerated. */
		for (end = resp.len; end > 0 && strchr(" \t\r\n", resp.body[end - 1]) != NULL &&
				     resp.body[end - 1] != '\0'; end--)
			;
		tok = resp.body;
		tok[end] = '\0';
		if ((rc = rp_verify_signed(cfg, fn, tok, true, &got, err)) != RP_OK)
			goto out;
	} else if (strcmp(resp.ctype, "application/json") == 0) {
		got = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &jerr);
		if (!json_is_object(got)) {
			rc = rp_fail(err, RP_E_MALFORMED, "%s: answer is not a JSON object", fn);
			goto out;
		}
	} else {
		rc = rp_fail(err, RP_E_MALFORMED, "%s: unexpected content type \"%s\"", fn,
			     resp.ctype);
		goto out;
	}
	/* OpenID Connect Core 5.3.2: the sub must be the ID token's, or the
	 * answer may be about someone else (token substitution). */
	sub = json_string_value(json_object_get(got, "sub"));
	if (sub == NULL || (expected_sub != NULL && strcmp(sub, expected_sub) != 0)) {
		rc = rp_fail(err, RP_E_SUB, "%s: sub %s", fn,
			     sub == NULL ? "missing" : "is not the ID token's");
		goto out;
	}
	if (claims != NULL) {
		*claims = got;
		got = NULL;
	}
	rc = RP_OK;
out:
	json_decref(got);
	rp_http_resp_release(&resp);
	rp_free_secret(auth);
	rp_disc_put(disc);
	return rc;
}

/* RFC 7523 3: iss = sub = client_id, aud, a fresh jti (32 random bytes),
 * iat now and exp a minute later: short, so a captured assertion is worth
 * little, and within what providers accept (ours: 5 minutes). */
#define ASSERTION_TTL_S 60

static int add_b64url(struct rp_buf *b, const void *d, size_t n)
{
	char *s = malloc(codec_b64url_len(n) + 1);
	int rc;

	if (s == NULL)
		return RP_E_NOMEM;
	rc = rp_buf_add(b, s, codec_b64url_encode(s, d, n));
	free(s);
	return rc;
}

int rp_client_assertion(struct rp_config *cfg, const char *fn, const char *aud, char **out,
			struct rp_error *err)
{
	unsigned char rnd[32], *sig = NULL;
	char jti[48], *hs = NULL, *ps = NULL;
	size_t sl = 0;
	int64_t now = rp_now(cfg);
	json_t *h, *p = NULL;
	struct rp_buf b;
	int rc = RP_E_NOMEM;

	*out = NULL;
	rp_buf_init(&b, 16 * 1024);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return rp_fail(err, RP_E_NOMEM, "%s: no random bytes for the assertion", fn);
	codec_b64url_encode(jti, rnd, sizeof(rnd));
	h = json_pack("{s:s,s:s}", "alg", jose_sig_alg_name(cfg->client_key_alg), "typ", "JWT");
	if (h != NULL && cfg->client_key_kid != NULL)
		json_object_set_new(h, "kid", json_string(cfg->client_key_kid));
	p = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "iss", cfg->client_id, "sub", cfg->client_id,
		      "aud", aud, "jti", jti, "iat", (json_int_t)now,
		      "exp", (json_int_t)(now + ASSERTION_TTL_S));
	if (h == NULL || p == NULL || (hs = json_dumps(h, JSON_COMPACT)) == NULL ||
	    (ps = json_dumps(p, JSON_COMPACT)) == NULL || add_b64url(&b, hs, strlen(hs)) != RP_OK ||
	    rp_buf_add(&b, ".", 1) != RP_OK || add_b64url(&b, ps, strlen(ps)) != RP_OK)
		goto out;
	if (jose_sig_sign(cfg->client_key, cfg->client_key_alg, b.p, b.len, &sig, &sl) != JOSE_OK) {
		rc = rp_fail(err, RP_E_INVAL, "%s: the client key did not sign", fn);
		goto out;
	}
	if (rp_buf_add(&b, ".", 1) != RP_OK || add_b64url(&b, sig, sl) != RP_OK)
		goto out;
	if ((*out = rp_buf_steal(&b)) != NULL)
		rc = RP_OK;
out:
	if (rc == RP_E_NOMEM)
		rp_fail(err, rc, "%s: out of memory", fn);
	free(sig);
	free(hs);
	free(ps);
	json_decref(h);
	json_decref(p);
	rp_buf_release(&b);
	return rc;
}
