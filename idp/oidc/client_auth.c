/* SPDX-License-Identifier: EUPL-1.2 */
/* Client authentication (client_auth.h). */
#include "client_auth.h"
#include "client_jwks.h"
#include "json_bounded.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/* RFC 6749 2.3.1: client_id and secret are form-encoded, then Base64. */
static int parse_basic(const char *h, char **id, char **secret)
{
	unsigned char dec[1024];
	size_t n = strlen(h), len;
	int dl;
	char *colon;

	*id = *secret = NULL;
	if (n == 0 || n > 1300 || n % 4 != 0)
		return IDP_EINVAL;
	if ((dl = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)n)) < 0)
		return IDP_EINVAL;
	len = (size_t)dl;
	if (h[n - 1] == '=')
		len--;
	if (h[n - 2] == '=')
		len--;
	dec[len] = '\0';
	if (memchr(dec, '\0', len) != NULL || (colon = strchr((char *)dec, ':')) == NULL) {
		wipe(dec, sizeof(dec));
		return IDP_EINVAL;
	}
	*id = codec_form_decode((char *)dec, (size_t)(colon - (char *)dec));
	*secret = codec_form_decode(colon + 1, len - (size_t)(colon + 1 - (char *)dec));
	wipe(dec, sizeof(dec));
	if (*id == NULL || *secret == NULL || **id == '\0') {
		free(*id);
		free_secret(*secret);
		*id = *secret = NULL;
		return IDP_EINVAL;
	}
	return IDP_OK;
}

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

/* A claim that must be an integer number of seconds, when present: from
 * 1970 to about the year 33658, so that no sum below can overflow. */
static bool claim_time(const json_t *p, const char *name, bool required, int64_t *t)
{
	const json_t *v = json_object_get(p, name);

	*t = 0;
	if (v == NULL)
		return !required;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1LL << 40))
		return false;
	*t = (int64_t)json_integer_value(v);
	return true;
}

/* aud names this provider: its issuer or the endpoint ep the assertion is
 * for (RFC 7523 3, OpenID Core 9), as a string or in an array. */
static bool aud_is_us(const struct config *cfg, const char *ep, const json_t *aud)
{
	size_t il = strlen(cfg->issuer), i;
	const json_t *v;

	if (json_is_string(aud)) {
		const char *a = json_string_value(aud);

		return strcmp(a, cfg->issuer) == 0 ||
		       (strncmp(a, cfg->issuer, il) == 0 && strcmp(a + il, ep) == 0);
	}
	if (!json_is_array(aud) || json_array_size(aud) > 8)
		return false;
	json_array_foreach(aud, i, v)
		if (json_is_string(v) && aud_is_us(cfg, ep, v))
			return true;
	return false;
}

/* The signature of the assertion by one of the client's signing keys: the
 * one its kid names, or any that fits alg when it names none. A kid the set
 * lacks fetches a jwks_uri again (rate-limited). */
static int assertion_signed_by(const struct client *cl, enum jose_sig_alg alg, const char *kid,
			       const char *token, size_t inlen, const unsigned char *sig, size_t sl)
{
	struct client_key *k = NULL;
	size_t n = 0;
	int rc = IDP_EDENIED;

	for (int pass = 0; pass < 2 && rc != IDP_OK; pass++) {
		bool named = false;

		client_keys_free(k, n);
		k = NULL;
		if (client_jwks_keys(cl, pass == 1, &k, &n) != IDP_OK)
			break;
		for (size_t i = 0; i < n && rc != IDP_OK; i++) {
			if (kid != NULL && (k[i].kid == NULL || strcmp(kid, k[i].kid) != 0))
				continue;
			named = true;
			if ((k[i].use == NULL || strcmp(k[i].use, "sig") == 0) &&
			    jose_sig_verify(k[i].pk, alg, token, inlen, sig, sl) == JOSE_OK)
				rc = IDP_OK;
		}
		if (named || cl->jwks_uri == NULL)
			break;
	}
	client_keys_free(k, n);
	return rc;
}

#define ASSERTION_MAX_S 300 /* how far ahead exp may lie */
#define ASSERTION_SKEW_S 30 /* clocks of services and provider may differ this much */

int client_assertion_check(const struct config *cfg, const char *token, const char *pid, const char *ep,
			   const struct client **out, const char **why)
{
	size_t tl = strlen(token), hl = 0, bl = 0, sl = 0;
	const char *d1, *d2, *iss, *sub, *jti, *kid;
	unsigned char *h = NULL, *b = NULL, *sig = NULL;
	json_t *hdr = NULL, *p = NULL;
	const struct client *cl;
	enum jose_sig_alg alg;
	int64_t exp, iat, nbf, now = now_s();
	char key[80], hash[65];
	struct buf jk;
	int rc = IDP_EDENIED;

	*out = NULL;
	*why = "malformed assertion";
	buf_init(&jk, 512);
	if (tl > CLIENT_ASSERTION_MAX || (d1 = strchr(token, '.')) == NULL || (d2 = strchr(d1 + 1, '.')) == NULL ||
	    strchr(d2 + 1, '.') != NULL)
		goto out;
	if (b64url_decode(token, (size_t)(d1 - token), &h, &hl) != IDP_OK ||
	    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &b, &bl) != IDP_OK ||
	    b64url_decode(d2 + 1, tl - (size_t)(d2 + 1 - token), &sig, &sl) != IDP_OK ||
	    json_parse_bounded((char *)h, hl, hl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, &hdr) != IDP_OK ||
	    json_parse_bounded((char *)b, bl, bl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, &p) != IDP_OK ||
	    !json_is_object(hdr) || !json_is_object(p))
		goto out;
	/* The algorithm list is ours: never "none", never HMAC (a client
	 * secret as an HMAC key would make the secret the credential again). */
	if ((alg = jose_sig_alg_parse(json_string_value(json_object_get(hdr, "alg")))) == JOSE_SIG_NONE) {
		*why = "alg is not ES256, PS256 or RS256";
		goto out;
	}
	if (json_object_get(hdr, "crit") != NULL) {
		*why = "crit is not understood";
		goto out;
	}
	kid = json_string_value(json_object_get(hdr, "kid"));
	iss = json_string_value(json_object_get(p, "iss"));
	sub = json_string_value(json_object_get(p, "sub"));
	jti = json_string_value(json_object_get(p, "jti"));
	if (iss == NULL || sub == NULL || strcmp(iss, sub) != 0 || (pid != NULL && strcmp(pid, iss) != 0)) {
		*why = "iss and sub must both be the client_id";
		goto out;
	}
	if ((cl = config_client(cfg, iss)) == NULL || !cl->auth_pkjwt) {
		*why = "unknown client, or not registered for private_key_jwt";
		goto out;
	}
	if (!aud_is_us(cfg, ep, json_object_get(p, "aud"))) {
		*why = "aud is neither the issuer nor the endpoint";
		goto out;
	}
	if (!claim_time(p, "exp", true, &exp) || !claim_time(p, "iat", false, &iat) ||
	    !claim_time(p, "nbf", false, &nbf)) {
		*why = "exp is required; exp, iat and nbf are numbers";
		goto out;
	}
	if (exp + ASSERTION_SKEW_S < now) {
		*why = "expired";
		goto out;
	}
	if (exp > now + ASSERTION_MAX_S + ASSERTION_SKEW_S) {
		*why = "exp lies too far ahead (at most 5 minutes)";
		goto out;
	}
	if (iat > now + ASSERTION_SKEW_S || nbf > now + ASSERTION_SKEW_S ||
	    (iat != 0 && iat + ASSERTION_MAX_S + ASSERTION_SKEW_S < now)) {
		*why = "iat or nbf is not now";
		goto out;
	}
	if (jti == NULL || *jti == '\0' || strlen(jti) > 256) {
		*why = "jti is required (at most 256 bytes)";
		goto out;
	}
	if (assertion_signed_by(cl, alg, kid, token, (size_t)(d2 - token), sig, sl) != IDP_OK) {
		*why = "not signed by a key of the client";
		goto out;
	}
	/* Single use: the jti is kept (hashed, per client) until the assertion
	 * expires; of two requests with one assertion, one sets it. */
	if (buf_adds(&jk, cl->id) || buf_add(&jk, "\n", 1) || buf_adds(&jk, jti)) {
		rc = IDP_ENOMEM;
		goto out;
	}
	sha256_hex(jk.p, jk.len, hash);
	snprintf(key, sizeof(key), "ajti:%s", hash);
	rc = store_add(&g_idp.store, key, "1", 1, (unsigned)(exp + ASSERTION_SKEW_S - now + 1));
	if (rc == IDP_EEXIST) {
		*why = "jti replayed";
		rc = IDP_EDENIED;
		goto out;
	}
	if (rc != IDP_OK) {
		*why = "the store did not answer";
		goto out;
	}
	*out = cl;
out:
	buf_release(&jk);
	json_decref(hdr);
	json_decref(p);
	free(h);
	free(b);
	free(sig);
	return rc;
}

int client_authenticate(struct req *r, const struct params *form, const struct client **out,
			struct client_auth_fail *f)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *pid = form != NULL ? params_get(form, "client_id") : NULL;
	const char *psecret = form != NULL ? params_get(form, "client_secret") : NULL;
	char *id = NULL, *secret = NULL;
	const struct client *cl = NULL;
	bool basic = false;
	unsigned char h[SHA256_DIGEST_LENGTH];
	int rc = IDP_EDENIED;

	*out = NULL;
	*f = (struct client_auth_fail){401, "invalid_client", "client authentication failed", false};
	if (form != NULL && (params_get(form, "client_assertion") != NULL ||
			     params_get(form, "client_assertion_type") != NULL)) {
		const char *type = params_get(form, "client_assertion_type");
		const char *as = params_get(form, "client_assertion"), *why;

		if ((auth != NULL && strncasecmp(auth, "Basic ", 6) == 0) || psecret != NULL) {
			*f = (struct client_auth_fail){400, "invalid_request",
						       "use one client authentication method, not two", false};
			return IDP_EINVAL;
		}
		if (type == NULL || strcmp(type, ASSERTION_TYPE) != 0 || as == NULL) {
			f->description = "client_assertion_type must be " ASSERTION_TYPE ", with client_assertion";
			return IDP_EINVAL;
		}
		if ((rc = client_assertion_check(r->cfg, as, pid, "/token", out, &why)) != IDP_OK) {
			char tag[9];

			secret_tag(pid != NULL ? pid : "", tag);
			idp_log(LOG_INFO, "%s: client assertion refused: %s (client id hash %s)", r->path, why, tag);
			metrics_count(M_CLIENT_AUTH_FAILED);
			f->description = "the client assertion is invalid";
		}
		return rc == IDP_ENOMEM ? IDP_ENOMEM : rc != IDP_OK ? IDP_EDENIED : IDP_OK;
	}
	if (auth != NULL && strncasecmp(auth, "Basic ", 6) == 0) {
		basic = f->basic = true;
		if (psecret != NULL) {
			*f = (struct client_auth_fail){400, "invalid_request",
						       "use one client authentication method, not two", false};
			return IDP_EINVAL;
		}
		if (parse_basic(auth + 6, &id, &secret) != IDP_OK) {
			f->description = "malformed Basic credentials";
			return IDP_EINVAL;
		}
		if (pid != NULL && strcmp(pid, id) != 0) {
			*f = (struct client_auth_fail){400, "invalid_request",
						       "client_id differs from the authenticated client", false};
			rc = IDP_EINVAL;
			goto out;
		}
	} else if (psecret != NULL && pid != NULL) {
		id = strdup(pid);
		secret = strdup(psecret);
		if (id == NULL || secret == NULL) {
			rc = IDP_ENOMEM;
			goto out;
		}
	} else {
		f->description = "client authentication is required";
		return IDP_ENOTFOUND;
	}
	cl = config_client(r->cfg, id);
	/* The secret is a long random string: SHA-256 suffices, the digests
	 * (of one fixed length) compared in constant time. A slow password KDF
	 * here would cap the endpoint. Without a form (a GET, as at /jwks),
	 * Basic is the only way to send a secret, whatever methods the client
	 * registered for /token. */
	sha256(secret, strlen(secret), h);
	if (cl == NULL || !cl->has_secret ||
	    CRYPTO_memcmp(h, cl->secret_sha256, sizeof(h)) != 0 ||
	    (form != NULL && ((basic && !cl->auth_basic) || (!basic && !cl->auth_post)))) {
		char tag[9];

		secret_tag(id, tag);
		idp_log(LOG_INFO, "%s: client authentication failed (client id hash %s)", r->path, tag);
		metrics_count(M_CLIENT_AUTH_FAILED);
		goto out;
	}
	*out = cl;
	rc = IDP_OK;
out:
	wipe(h, sizeof(h));
	free(id);
	free_secret(secret);
	return rc;
}

const struct client *client_jwks_fetcher(struct req *r)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *as = req_header(r, CLIENT_ASSERTION_HEADER), *why;
	const struct client *cl = NULL;
	struct client_auth_fail f;

	if (auth != NULL && as != NULL)
		why = "two client authentications";
	else if (auth != NULL)
		return client_authenticate(r, NULL, &cl, &f) == IDP_OK ? cl : NULL;
	else if (as == NULL)
		return NULL;
	else if (strnlen(as, CLIENT_ASSERTION_MAX + 1) > CLIENT_ASSERTION_MAX)
		why = "oversized assertion";
	else if (client_assertion_check(r->cfg, as, NULL, "/jwks", &cl, &why) == IDP_OK)
		return cl;
	idp_log(LOG_INFO, "%s: client assertion refused: %s", r->path, why);
	metrics_count(M_CLIENT_AUTH_FAILED);
	return NULL;
}

const struct client *client_auth_token_request(struct req *r, const char **tok, enum MHD_Result *ret)
{
	const struct client *cl;
	struct client_auth_fail f;

	*tok = params_get(&r->form, "token");
	if (r->form.dup != NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "a parameter is repeated");
	} else if (params_get(&r->query, "token") != NULL || params_get(&r->query, "client_secret") != NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "tokens and credentials do not belong in the URL");
	} else if (client_authenticate(r, &r->form, &cl, &f) != IDP_OK) {
		if (f.status == 401 && f.basic)
			req_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"idp\"");
		*ret = http_json_error(r, f.status, f.error, f.description);
	} else if (*tok == NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "token is required");
	} else {
		return cl;
	}
	return NULL;
}
