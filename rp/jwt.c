/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of signed JWTs from the provider: ID tokens and signed
 * userinfo.
 *
 * Order matters: the size is checked before anything is decoded, the
 * header is read only to pick the key and algorithm, the payload's base64url
 * is decoded (cheap, and it makes a malformed token RP_E_BASE64 rather than a
 * bad signature), the signature is checked before the payload is parsed as
 * JSON, and the claims after that.
 * The algorithm comes from the key: the header's alg must be allowed by the
 * config and by the key it names (kty, crv, and the JWK's own alg), so
 * "none", HS256 over a public key, or ES256 against an RSA key never reach
 * a verify call. */
#include "rp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_HEADER 2048         /* decoded JOSE header */
#define MAX_HEADER_MEMBERS 16
#define MAX_CLAIMS 256
#define MAX_SIG 1024            /* an RSA-8192 signature */
#define MAX_KID 256             /* decoded kid */

struct expect {
	const char *fn;         /* for messages */
	bool id_token;          /* exp, iat, sub required; nonce rules apply */
	bool iss_aud;           /* iss and aud required (signed userinfo) */
	const char *nonce;
	/* A logout token (Back-Channel Logout 1.0, 2.6): iss, aud, iat and exp
	 * required, no nonce, typ logout+jwt when a typ is given. */
	bool logout;
};

static const struct rp_key *find_key(const struct rp_keyset *ks, const char *kid, size_t kidlen,
				     int alg, bool *kid_seen)
{
	size_t i;

	*kid_seen = false;
	for (i = 0; i < ks->n; i++) {
		const struct rp_key *k = &ks->keys[i];
		if (kid != NULL) {
			if (k->kid == NULL || strlen(k->kid) != kidlen ||
			    memcmp(k->kid, kid, kidlen) != 0)
				continue;
			*kid_seen = true;
		}
		if (rp_key_allows(k, alg))
			return k;
	}
	return NULL;
}

/* Tries the keys that may have signed the token. With a kid, the one key
 * that bears it; without one (allowed by RFC 7515), each key of the right
 * type, as a provider with a single key often omits the kid. */
static int try_keys(struct rp_keyset *ks, const char *kid, size_t kidlen, int alg,
		    const char *input, size_t inlen, const unsigned char *sig, size_t slen,
		    bool *kid_seen, bool *any_key)
{
	size_t i;
	int rc = RP_E_SIGNATURE;

	*any_key = false;
	if (kid != NULL) {
		const struct rp_key *k = find_key(ks, kid, kidlen, alg, kid_seen);
		if (k == NULL)
			return RP_E_KID;
		*any_key = true;
		return rp_key_verify(ks, (struct rp_key *)k, alg, input, inlen, sig, slen);
	}
	*kid_seen = false;
	for (i = 0; i < ks->n; i++) {
		if (!rp_key_allows(&ks->keys[i], alg))
			continue;
		*any_key = true;
		if ((rc = rp_key_verify(ks, &ks->keys[i], alg, input, inlen, sig, slen)) == RP_OK)
			return RP_OK;
	}
	return *any_key ? rc : RP_E_KID;
}

static int check_signature(struct rp_config *cfg, const char *fn, int alg, const char *kid,
			   size_t kidlen, const char *input, size_t inlen,
			   const unsigned char *sig, size_t slen, struct rp_error *err)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	struct rp_keyset *ks = NULL, *fresh = NULL;
	unsigned int dlen = 0;
	bool kid_seen, any_key;
	char shown[80];
	int rc;

	if (rp_algs[alg].family == RP_FAM_HMAC) {
		/* Only the client secret is an HMAC key: never a JWKS key,
		 * whose public bytes anyone can read. */
		if (cfg->client_secret == NULL)
			return rp_fail(err, RP_E_ALG_KEY_MISMATCH, "%s: %s needs a client secret",
				       fn, rp_algs[alg].name);
		if (HMAC(EVP_get_digestbynid(rp_algs[alg].md_nid), cfg->client_secret,
			 (int)strlen(cfg->client_secret), (const unsigned char *)input, inlen, mac,
			 &dlen) == NULL)
			return rp_fail(err, RP_E_NOMEM, "%s: HMAC failed", fn);
		rc = slen == dlen && CRYPTO_memcmp(mac, sig, dlen) == 0;
		OPENSSL_cleanse(mac, sizeof(mac));
		return rc ? RP_OK : rp_fail(err, RP_E_SIGNATURE, "%s: bad %s signature", fn,
					    rp_algs[alg].name);
	}
	if ((rc = rp_keys_get(cfg, &ks, err)) != RP_OK)
		return rc;
	rc = try_keys(ks, kid, kidlen, alg, input, inlen, sig, slen, &kid_seen, &any_key);
	if (rc == RP_E_KID && !kid_seen) {
		/* Unknown kid: maybe a key rotation. One refetch, which the
		 * config's interval bounds, so forged kids cannot make us
		 * hammer the provider. */
		struct rp_error ferr;
		rp_err_clear(&ferr);
		if (rp_keys_refetch(cfg, ks, &fresh, &ferr) == RP_OK && fresh != NULL)
			rc = try_keys(fresh, kid, kidlen, alg, input, inlen, sig, slen, &kid_seen,
				      &any_key);
		if (rc == RP_E_KID && !kid_seen) {
			rp_sanitize(shown, sizeof(shown), kid != NULL ? kid : "(none)",
				    kid != NULL ? kidlen : SIZE_MAX);
			rc = rp_fail(err, RP_E_KID, "%s: no %s key with kid \"%s\"%s%s", fn,
				     rp_algs[alg].name, shown, ferr.message[0] != '\0' ? "; " : "",
				     ferr.message);
			goto out;
		}
	}
	if (rc == RP_E_KID) {
		rp_sanitize(shown, sizeof(shown), kid, kidlen);
		rc = rp_fail(err, RP_E_ALG_KEY_MISMATCH, "%s: key \"%s\" does not allow %s", fn,
			     shown, rp_algs[alg].name);
	} else if (rc == RP_E_SIGNATURE) {
		rc = rp_fail(err, RP_E_SIGNATURE, "%s: bad %s signature", fn, rp_algs[alg].name);
	} else if (rc != RP_OK) {
		rc = rp_fail(err, rc, "%s: cannot verify: %s", fn, rp_strerror(rc));
	}
out:
	rp_keyset_put(ks);
	rp_keyset_put(fresh);
	return rc;
}

/* Reads the JOSE header: the alg (checked against the allow-list) and the
 * kid, both with their JSON escapes decoded ("kid":"a\/b" is the kid a/b;
 * kid gets at least MAX_KID + 1 bytes). Any crit extension is refused: we
 * understand none (RFC 7515 4.1.11). */
static int read_header(const struct rp_config *cfg, const char *fn, const char *b64, size_t len,
		       char *buf, int *alg, char *kid, size_t *kidlen, bool *logout_typ,
		       struct rp_error *err)
{
	struct rp_jmember m[MAX_HEADER_MEMBERS];
	const struct rp_jval *v;
	size_t n, blen, alen;
	char name[16], shown[32];
	int rc;

	if (rp_b64url_decode(b64, len, (unsigned char *)buf, MAX_HEADER, &blen) != RP_OK)
		return rp_fail(err, RP_E_BASE64, "%s: header is not base64url", fn);
	if ((rc = rp_json_scan(buf, blen, m, MAX_HEADER_MEMBERS, &n)) != RP_OK)
		return rp_fail(err, RP_E_MALFORMED, "%s: header is not a JSON object", fn);
	if (rp_json_get(m, n, "crit") != NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: critical header extension refused", fn);
	if ((v = rp_json_get(m, n, "alg")) == NULL || v->type != RP_J_STRING)
		return rp_fail(err, RP_E_MALFORMED, "%s: header has no alg", fn);
	if (!rp_json_str_copy(v, name, sizeof(name), &alen)) {
		rp_sanitize(shown, sizeof(shown), v->p, v->len);
		return rp_fail(err, RP_E_ALG, "%s: alg \"%s\" refused", fn, shown);
	}
	/* alg names are case-sensitive (RFC 7515 4.1.1), but "None" is as
	 * unsigned as "none": both get the code that says so. */
	if (alen == 4 && strncasecmp(name, "none", 4) == 0)
		return rp_fail(err, RP_E_ALG_NONE, "%s: unsigned token (alg \"%s\") refused", fn,
			       name);
	if ((*alg = rp_alg_lookup(name, alen)) < 0) {
		rp_sanitize(shown, sizeof(shown), name, alen);
		return rp_fail(err, RP_E_ALG, "%s: alg \"%s\" refused", fn, shown);
	}
	if (!(cfg->alg_mask & (1u << *alg))) {
		/* Not allowed, so no client secret is trusted as an HMAC key:
		 * the only keys are the JWKS's public ones, and an HMAC over
		 * those is the key-confusion forgery. */
		if (rp_algs[*alg].family == RP_FAM_HMAC)
			return rp_fail(err, RP_E_ALG_KEY_MISMATCH, "%s: %s refused: only public "
				       "keys are trusted, and an HMAC cannot use one", fn, name);
		return rp_fail(err, RP_E_ALG, "%s: alg \"%s\" not allowed", fn, name);
	}
	/* typ "logout+jwt" (or its media type), RFC 8725 3.11: a logout token
	 * cannot pass for another JWT of the provider, nor one for it. A token
	 * without typ is judged on its claims alone (OPs before the spec's
	 * final version sent none). */
	*logout_typ = true;
	if ((v = rp_json_get(m, n, "typ")) != NULL) {
		char typ[40];
		size_t tlen = 0;

		*logout_typ = v->type == RP_J_STRING && rp_json_str_copy(v, typ, sizeof(typ), &tlen) &&
			      ((tlen == 10 && strncasecmp(typ, "logout+jwt", 10) == 0) ||
			       (tlen == 22 && strncasecmp(typ, "application/logout+jwt", 22) == 0));
	}
	*kidlen = 0;
	kid[0] = '\0';
	if ((v = rp_json_get(m, n, "kid")) != NULL) {
		if (v->type != RP_J_STRING || !rp_json_str_copy(v, kid, MAX_KID + 1, kidlen) ||
		    *kidlen == 0 || memchr(kid, '\0', *kidlen) != NULL)
			return rp_fail(err, RP_E_MALFORMED, "%s: bad kid in header", fn);
	}
	return RP_OK;
}

/* The registered claims we check, found in one pass over the members. */
struct registered {
	const struct rp_jval *iss, *aud, *azp, *exp, *iat, *nbf, *nonce, *sub, *acr;
};

static void find_registered(const struct rp_jmember *m, size_t n, struct registered *r)
{
	size_t i;

	memset(r, 0, sizeof(*r));
	for (i = 0; i < n; i++) {
		const char *k = m[i].key;
		const struct rp_jval *v = &m[i].v;

		if (m[i].klen == 3) {
			if (memcmp(k, "iss", 3) == 0)
				r->iss = v;
			else if (memcmp(k, "aud", 3) == 0)
				r->aud = v;
			else if (memcmp(k, "azp", 3) == 0)
				r->azp = v;
			else if (memcmp(k, "exp", 3) == 0)
				r->exp = v;
			else if (memcmp(k, "iat", 3) == 0)
				r->iat = v;
			else if (memcmp(k, "nbf", 3) == 0)
				r->nbf = v;
			else if (memcmp(k, "sub", 3) == 0)
				r->sub = v;
			else if (memcmp(k, "acr", 3) == 0)
				r->acr = v;
		} else if (m[i].klen == 5 && memcmp(k, "nonce", 5) == 0) {
			r->nonce = v;
		}
	}
}

static int check_claims(struct rp_config *cfg, const struct expect *ex,
			const struct rp_jmember *m, size_t n, struct rp_error *err)
{
	const struct rp_jval *iss, *aud, *azp, *exp, *iat, *nbf, *nonce, *sub, *acr;
	const char *fn = ex->fn, *pos = NULL;
	struct registered r;
	struct rp_jval el;
	int64_t now = rp_now(cfg), t;
	size_t naud = 0;
	bool us = false;
	char shown[96];

	find_registered(m, n, &r);
	iss = r.iss;
	if ((ex->id_token || ex->iss_aud || ex->logout || iss != NULL) &&
	    !rp_json_str_eq(iss, cfg->issuer, false)) {
		if (iss != NULL && iss->type == RP_J_STRING)
			rp_sanitize(shown, sizeof(shown), iss->p, iss->len);
		else
			snprintf(shown, sizeof(shown), "(none)");
		return rp_fail(err, RP_E_ISS, "%s: iss \"%s\" is not the provider", fn, shown);
	}

	aud = r.aud;
	if (aud != NULL && aud->type == RP_J_ARRAY) {
		while (rp_json_array_next(aud, &pos, &el)) {
			if (el.type != RP_J_STRING)
				return rp_fail(err, RP_E_MALFORMED, "%s: aud holds a non-string",
					       fn);
			naud++;
			us = us || rp_json_str_eq(&el, cfg->client_id, false);
		}
	} else if (aud != NULL) {
		if (aud->type != RP_J_STRING)
			return rp_fail(err, RP_E_MALFORMED, "%s: aud is not a string", fn);
		naud = 1;
		us = rp_json_str_eq(aud, cfg->client_id, false);
	}
	if ((ex->id_token || ex->iss_aud || ex->logout || aud != NULL) && !us)
		return rp_fail(err, RP_E_AUD, "%s: this client is not an audience", fn);
	/* OpenID Connect Core 3.1.3.7 items 4-5. */
	azp = r.azp;
	if (azp != NULL && !rp_json_str_eq(azp, cfg->client_id, false))
		return rp_fail(err, RP_E_AZP, "%s: azp is another client", fn);
	if (azp == NULL && naud > 1)
		return rp_fail(err, RP_E_AZP, "%s: %zu audiences and no azp", fn, naud);

	exp = r.exp;
	if (exp != NULL || ex->id_token || ex->logout) {
		if (!rp_json_time(exp, &t))
			return rp_fail(err, RP_E_MALFORMED, "%s: %s exp", fn,
				       exp == NULL ? "no" : "bad");
		if (now > t + cfg->leeway)
			return rp_fail(err, RP_E_EXPIRED, "%s: expired %lld s ago", fn,
				       (long long)(now - t));
	}
	nbf = r.nbf;
	if (nbf != NULL) {
		if (!rp_json_time(nbf, &t))
			return rp_fail(err, RP_E_MALFORMED, "%s: bad nbf", fn);
		if (t > now + cfg->leeway)
			return rp_fail(err, RP_E_NOT_YET_VALID, "%s: valid only in %lld s", fn,
				       (long long)(t - now));
	}
	iat = r.iat;
	if (iat != NULL || ex->id_token || ex->logout) {
		if (!rp_json_time(iat, &t))
			return rp_fail(err, RP_E_MALFORMED, "%s: %s iat", fn,
				       iat == NULL ? "no" : "bad");
		if (t > now + cfg->leeway)
			return rp_fail(err, RP_E_IAT_FUTURE, "%s: issued %lld s in the future",
				       fn, (long long)(t - now));
	}

	if (ex->logout && r.nonce != NULL)
		return rp_fail(err, RP_E_NONCE, "%s: a logout token carries no nonce", fn);
	sub = r.sub;
	if ((ex->id_token || sub != NULL) &&
	    (sub == NULL || sub->type != RP_J_STRING || sub->len == 0))
		return rp_fail(err, RP_E_MALFORMED, "%s: no sub", fn);

	if (ex->id_token) {
		nonce = r.nonce;
		if (ex->nonce != NULL && nonce == NULL)
			return rp_fail(err, RP_E_NONCE, "%s: no nonce in the token", fn);
		if (ex->nonce == NULL && nonce != NULL)
			return rp_fail(err, RP_E_NONCE, "%s: a nonce was not expected", fn);
		if (ex->nonce != NULL && !rp_json_str_eq(nonce, ex->nonce, true))
			return rp_fail(err, RP_E_NONCE, "%s: nonce is not this login's", fn);
		if (cfg->min_acr != NULL) {
			int want = rp_acr_rank(cfg, cfg->min_acr, strlen(cfg->min_acr));

			char val[256];
			size_t vlen = 0;

			acr = r.acr;
			if (acr == NULL || acr->type != RP_J_STRING)
				return rp_fail(err, RP_E_ACR, "%s: no acr, %s required", fn,
					       cfg->min_acr);
			/* Escapes decoded: "eidas\u0032" is eidas2. One too long
			 * for val is no level we know. */
			if (!rp_json_str_copy(acr, val, sizeof(val), &vlen) ||
			    rp_acr_rank(cfg, val, vlen) < want) {
				rp_sanitize(shown, sizeof(shown), acr->p, acr->len);
				return rp_fail(err, RP_E_ACR, "%s: acr \"%s\" is below %s", fn,
					       shown, cfg->min_acr);
			}
		}
	}
	return RP_OK;
}

/* Decodes and scans the payload into m (n members), in stack buffers when
 * the token is of the usual size, on the heap otherwise. */
struct claims_buf {
	char stack[4096];
	struct rp_jmember mstack[64];
	char *payload;
	size_t cap;
	size_t plen;            /* decoded bytes */
	struct rp_jmember *m;
	size_t n;
};

/* Step one, before the signature: the base64url only. */
static int decode_claims(const char *fn, const char *b64, size_t len, struct claims_buf *cb,
			 struct rp_error *err)
{
	cb->cap = len / 4 * 3 + 3;
	cb->payload = cb->cap <= sizeof(cb->stack) ? cb->stack : malloc(cb->cap);
	cb->m = cb->mstack;
	if (cb->payload == NULL)
		return rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
	if (rp_b64url_decode(b64, len, (unsigned char *)cb->payload, cb->cap, &cb->plen) != RP_OK)
		return rp_fail(err, RP_E_BASE64, "%s: payload is not base64url", fn);
	return RP_OK;
}

/* Step two, once the signature is good: the JSON. */
static int read_claims(const char *fn, const char *b64, size_t len, struct claims_buf *cb,
		       struct rp_error *err)
{
	size_t plen = cb->plen;
	int rc;

	rc = rp_json_scan(cb->payload, plen, cb->m, 64, &cb->n);
	if (rc == RP_E_TOO_BIG) {
		/* Many claims: scan again into a bigger table. The scan
		 * decoded escaped names in place, so decode afresh too. */
		if ((cb->m = malloc(MAX_CLAIMS * sizeof(*cb->m))) == NULL)
			return rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
		rp_b64url_decode(b64, len, (unsigned char *)cb->payload, cb->cap, &plen);
		rc = rp_json_scan(cb->payload, plen, cb->m, MAX_CLAIMS, &cb->n);
	}
	if (rc != RP_OK)
		return rp_fail(err, rc, "%s: payload is not a JSON object%s", fn,
			       rc == RP_E_TOO_BIG ? " of at most 256 claims" : "");
	return RP_OK;
}

static void claims_release(struct claims_buf *cb)
{
	if (cb->payload != NULL)
		OPENSSL_cleanse(cb->payload, cb->cap);
	if (cb->payload != cb->stack)
		free(cb->payload);
	if (cb->m != cb->mstack)
		free(cb->m);
}

static int verify_jws(struct rp_config *cfg, const struct expect *ex, const char *token,
		      json_t **claims, struct rp_error *err)
{
	struct claims_buf cb;   /* not zeroed: its 6 kB of buffers are written before read */
	unsigned char sig[MAX_SIG];
	char hbuf[MAX_HEADER], kid[MAX_KID + 1];
	const char *dot1, *dot2;
	const char *fn = ex->fn;
	size_t len, slen, kidlen;
	int alg = -1, rc;
	bool logout_typ = false;

	cb.payload = NULL;
	cb.m = cb.mstack;
	if (claims != NULL)
		*claims = NULL;
	if (cfg == NULL || token == NULL)
		return rp_fail(err, RP_E_INVAL, "%s: no config or no token", fn);
	if ((len = strnlen(token, RP_MAX_TOKEN + 1)) > RP_MAX_TOKEN)
		return rp_fail(err, RP_E_TOO_BIG, "%s: token longer than %d bytes", fn,
			       RP_MAX_TOKEN);
	if ((dot1 = memchr(token, '.', len)) == NULL ||
	    (dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token))) == NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: not a compact JWS", fn);
	if (memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
		return rp_fail(err, RP_E_MALFORMED, "%s: encrypted (JWE) tokens are not "
			       "supported", fn);

	if ((rc = read_header(cfg, fn, token, (size_t)(dot1 - token), hbuf, &alg, kid, &kidlen,
			      &logout_typ, err)) != RP_OK)
		return rc;
	if (ex->logout && !logout_typ)
		return rp_fail(err, RP_E_MALFORMED, "%s: typ is not logout+jwt", fn);
	if (rp_b64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), sig, sizeof(sig),
			     &slen) != RP_OK || slen == 0)
		return rp_fail(err, RP_E_BASE64, "%s: signature is not base64url", fn);
	if ((rc = decode_claims(fn, dot1 + 1, (size_t)(dot2 - dot1 - 1), &cb, err)) != RP_OK)
		goto out;
	if ((rc = check_signature(cfg, fn, alg, kidlen > 0 ? kid : NULL, kidlen, token,
				  (size_t)(dot2 - token), sig, slen, err)) != RP_OK)
		goto out;
	if ((rc = read_claims(fn, dot1 + 1, (size_t)(dot2 - dot1 - 1), &cb, err)) != RP_OK)
		goto out;
	if ((rc = check_claims(cfg, ex, cb.m, cb.n, err)) != RP_OK)
		goto out;
	if (claims != NULL && (*claims = rp_json_build(cb.m, cb.n)) == NULL)
		rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", fn);
out:
	claims_release(&cb);
	return rc;
}

/* A nested JWT (OpenID Core 10.2, a JWE whose content is a signed JWT) is
 * decrypted with the service's key, then its JWS verified as any other;
 * a plain JWS goes straight to verify_jws. */
static int verify(struct rp_config *cfg, const struct expect *ex, const char *token,
		  json_t **claims, char **jws, struct rp_error *err)
{
	unsigned char *inner = NULL;
	char *cty = NULL;
	size_t len, n = 0;
	int rc;

	if (claims != NULL)
		*claims = NULL;
	if (jws != NULL)
		*jws = NULL;
	if (cfg == NULL || token == NULL || (len = strnlen(token, RP_MAX_TOKEN + 1)) > RP_MAX_TOKEN ||
	    !jose_is_jwe(token, len)) {
		rc = verify_jws(cfg, ex, token, claims, err);
		if (rc == RP_OK && jws != NULL && (*jws = strdup(token)) == NULL) {
			json_decref(claims != NULL ? *claims : NULL);
			if (claims != NULL)
				*claims = NULL;
			rc = rp_fail(err, RP_E_NOMEM, "%s: out of memory", ex->fn);
		}
		return rc;
	}
	if (cfg->decrypt_key == NULL)
		return rp_fail(err, RP_E_DECRYPT, "%s: an encrypted token, and no decryption key "
			       "(rp_config_set_decryption_key)", ex->fn);
	rc = jose_jwe_decrypt(cfg->decrypt_key, token, len, RP_MAX_TOKEN, &inner, &n, &cty);
	if (rc == JOSE_ENOMEM)
		return rp_fail(err, RP_E_NOMEM, "%s: out of memory", ex->fn);
	if (rc != JOSE_OK) {
		rc = rp_fail(err, RP_E_DECRYPT, "%s: the encrypted token does not decrypt with our "
			     "key (RSA-OAEP-256 or ECDH-ES, A256GCM)", ex->fn);
	} else if (cty == NULL || strcasecmp(cty, "JWT") != 0 || memchr(inner, '\0', n) != NULL) {
		/* Only nested JWTs: an encrypted unsigned payload proves nothing
		 * about who wrote it. */
		rc = rp_fail(err, RP_E_DECRYPT, "%s: the encrypted content is not a signed JWT "
			     "(cty JWT)", ex->fn);
	} else if ((rc = verify_jws(cfg, ex, (const char *)inner, claims, err)) == RP_OK &&
		   jws != NULL) {
		/* inner is the NUL-terminated signed token: handed over whole. */
		*jws = (char *)inner;
		inner = NULL;
	}
	if (inner != NULL)
		OPENSSL_cleanse(inner, n);
	free(inner);
	free(cty);
	return rc;
}

int rp_verify_id_token(struct rp_config *cfg, const char *token, const char *expected_nonce,
		       json_t **claims, struct rp_error *err)
{
	struct expect ex = { "rp_verify_id_token", true, true, expected_nonce, false };

	rp_err_clear(err);
	return verify(cfg, &ex, token, claims, NULL, err);
}

int rp_verify_id_token_jws(struct rp_config *cfg, const char *token, const char *expected_nonce,
			   json_t **claims, char **signed_token, struct rp_error *err)
{
	struct expect ex = { "rp_verify_id_token_jws", true, true, expected_nonce, false };

	rp_err_clear(err);
	return verify(cfg, &ex, token, claims, signed_token, err);
}

int rp_verify_signed(struct rp_config *cfg, const char *fn, const char *token, bool iss_aud,
		     json_t **claims, struct rp_error *err)
{
	struct expect ex = { fn, false, iss_aud, NULL, false };

	return verify(cfg, &ex, token, claims, NULL, err);
}

int rp_verify_logout_jws(struct rp_config *cfg, const char *token, json_t **claims,
			 struct rp_error *err)
{
	struct expect ex = { "rp_verify_logout_token", false, true, NULL, true };

	return verify(cfg, &ex, token, claims, NULL, err);
}

int rp_verify_jwt(struct rp_config *cfg, const char *token, json_t **claims,
		  struct rp_error *err)
{
	rp_err_clear(err);
	return rp_verify_signed(cfg, "rp_verify_jwt", token, false, claims, err);
}
