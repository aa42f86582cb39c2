/* SPDX-License-Identifier: Apache-2.0 */
/* The provider's signing keys: parsed once from the JWKS into EVP_PKEYs,
 * each with a pool of ready verify contexts, cached, refetched on an unknown
 * kid no more often than the configured interval.
 *
 * Measured on the development machine (one thread, warm cache, OpenSSL
 * 3.0; `openssl speed` verifies 64.0k RSA-2048 and 19.8k P-256 per second):
 * - EVP_DigestVerifyInit + EVP_DigestVerify per token with a cached key:
 *   53k RS256/s (83%): OpenSSL 3 fetches the algorithm and builds a provider
 *   context on every init. An initialised EVP_PKEY_CTX reused over the
 *   SHA-256 of the signing input reaches 62.5k/s (98%), so contexts (with
 *   an EVP_MD_CTX for the hash, whose EVP_MD is fetched once per key set)
 *   are pooled per key and algorithm.
 * - cjose 0.6.2 (cjose_jws_import + cjose_jws_verify, JWK imported once,
 *   claims parsed by jansson, which is what liboauth2 does): 57k RS256/s
 *   without the claims, 46.5k/s with them; 64% of OpenSSL for RS256 and 86%
 *   for ES256 in `make rp-bench`, against librp's 89-92% and 96-97%. cjose
 *   also hands keys back as legacy RSA and EC_KEY objects (the EC one inside
 *   a private struct), deprecated in OpenSSL 3, so keys are built here from
 *   the JWK members with EVP_PKEY_fromdata().
 * - libjwt 1.10 re-parses the PEM on every verify and trusts the header's
 *   alg (see DESIGN.md); it is not used. */
#include "rp_int.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

const struct rp_alg_info rp_algs[RP_ALG_COUNT] = {
	[RP_ALG_RS256] = { "RS256", RP_FAM_RSA, NID_sha256, 0, 0 },
	[RP_ALG_RS384] = { "RS384", RP_FAM_RSA, NID_sha384, 0, 0 },
	[RP_ALG_RS512] = { "RS512", RP_FAM_RSA, NID_sha512, 0, 0 },
	[RP_ALG_PS256] = { "PS256", RP_FAM_PSS, NID_sha256, 0, 0 },
	[RP_ALG_PS384] = { "PS384", RP_FAM_PSS, NID_sha384, 0, 0 },
	[RP_ALG_PS512] = { "PS512", RP_FAM_PSS, NID_sha512, 0, 0 },
	[RP_ALG_ES256] = { "ES256", RP_FAM_EC, NID_sha256, NID_X9_62_prime256v1, 32 },
	[RP_ALG_ES384] = { "ES384", RP_FAM_EC, NID_sha384, NID_secp384r1, 48 },
	[RP_ALG_ES512] = { "ES512", RP_FAM_EC, NID_sha512, NID_secp521r1, 66 },
	[RP_ALG_HS256] = { "HS256", RP_FAM_HMAC, NID_sha256, 0, 0 },
	[RP_ALG_HS384] = { "HS384", RP_FAM_HMAC, NID_sha384, 0, 0 },
	[RP_ALG_HS512] = { "HS512", RP_FAM_HMAC, NID_sha512, 0, 0 },
};

int rp_alg_lookup(const char *name, size_t len)
{
	int i;

	for (i = 0; i < RP_ALG_COUNT; i++)
		if (strlen(rp_algs[i].name) == len && memcmp(rp_algs[i].name, name, len) == 0)
			return i;
	return -1;
}

bool rp_key_allows(const struct rp_key *k, int alg)
{
	const struct rp_alg_info *a = &rp_algs[alg];

	if (k->alg >= 0 && k->alg != alg)
		return false;
	if (k->kty == RP_KTY_RSA)
		return a->family == RP_FAM_RSA || a->family == RP_FAM_PSS;
	return a->family == RP_FAM_EC && a->curve_nid == k->curve_nid;
}

static void key_release(struct rp_key *k)
{
	int a;
	unsigned i;

	for (a = 0; a < RP_ALG_COUNT; a++)
		for (i = 0; i < k->npool[a]; i++) {
			EVP_MD_CTX_free(k->pool[a][i].md);
			EVP_PKEY_CTX_free(k->pool[a][i].pkey);
		}
	EVP_PKEY_free(k->pkey);
	free(k->kid);
	pthread_mutex_destroy(&k->lock);
}

void rp_keyset_put(struct rp_keyset *ks)
{
	size_t i;

	if (ks == NULL || atomic_fetch_sub(&ks->refs, 1) != 1)
		return;
	for (i = 0; i < ks->n; i++)
		key_release(&ks->keys[i]);
	for (i = 0; i < 3; i++)
		EVP_MD_free(ks->md[i]);
	free(ks->keys);
	free(ks);
}

static int md_index(int alg)
{
	switch (rp_algs[alg].md_nid) {
	case NID_sha384:
		return 1;
	case NID_sha512:
		return 2;
	default:
		return 0;
	}
}

const EVP_MD *rp_keyset_md(const struct rp_keyset *ks, int alg)
{
	return ks->md[md_index(alg)];
}

/* A base64url JWK member into a fresh buffer; exact_len > 0 demands that
 * length (EC coordinates are fixed-size, RFC 7518 6.2.1.2). */
static unsigned char *jwk_bytes(json_t *jwk, const char *name, size_t exact_len, size_t *len)
{
	const char *s = json_string_value(json_object_get(jwk, name));
	unsigned char *buf;
	size_t slen;

	if (s == NULL || (slen = strlen(s)) == 0 || slen > 2048)
		return NULL;
	if ((buf = malloc(slen)) == NULL)
		return NULL;
	if (rp_b64url_decode(s, slen, buf, slen, len) != RP_OK || *len == 0 ||
	    (exact_len != 0 && *len != exact_len)) {
		free(buf);
		return NULL;
	}
	return buf;
}

static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld)
{
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL, *check = NULL;
	EVP_PKEY *pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	/* For EC this checks the point is on the curve and not the identity. */
	if ((check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(check) != 1) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
out:
	EVP_PKEY_CTX_free(check);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *jwk_rsa(json_t *jwk, size_t *sig_len)
{
	unsigned char *n = NULL, *e = NULL;
	size_t nlen, elen;
	BIGNUM *bn = NULL, *be = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;
	int bits;

	if ((n = jwk_bytes(jwk, "n", 0, &nlen)) == NULL ||
	    (e = jwk_bytes(jwk, "e", 0, &elen)) == NULL)
		goto out;
	if ((bn = BN_bin2bn(n, (int)nlen, NULL)) == NULL ||
	    (be = BN_bin2bn(e, (int)elen, NULL)) == NULL || !BN_is_odd(be) || BN_is_one(be) ||
	    (bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
		goto out;
	if ((pkey = pkey_fromdata("RSA", bld)) == NULL)
		goto out;
	/* Below 2048 bits a key is forgeable by a well-funded attacker; past
	 * 16384 each verification costs a denial of service. */
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < 2048 || bits > 16384) {
		EVP_PKEY_free(pkey);
		pkey = NULL;
		goto out;
	}
	*sig_len = (size_t)EVP_PKEY_get_size(pkey);
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	free(n);
	free(e);
	return pkey;
}

static EVP_PKEY *jwk_ec(json_t *jwk, int *curve_nid, size_t *sig_len)
{
	static const struct {
		const char *crv, *group;
		int nid;
		size_t coord;
	} curves[] = {
		{ "P-256", "prime256v1", NID_X9_62_prime256v1, 32 },
		{ "P-384", "secp384r1", NID_secp384r1, 48 },
		{ "P-521", "secp521r1", NID_secp521r1, 66 },
	};
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *x = NULL, *y = NULL, pub[1 + 2 * 66];
	size_t i, xlen, ylen;
	OSSL_PARAM_BLD *bld = NULL;
	EVP_PKEY *pkey = NULL;

	for (i = 0; crv != NULL && i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(crv, curves[i].crv) == 0)
			break;
	if (crv == NULL || i == sizeof(curves) / sizeof(curves[0]))
		return NULL;
	if ((x = jwk_bytes(jwk, "x", curves[i].coord, &xlen)) == NULL ||
	    (y = jwk_bytes(jwk, "y", curves[i].coord, &ylen)) == NULL)
		goto out;
	pub[0] = 0x04; /* uncompressed point */
	memcpy(pub + 1, x, xlen);
	memcpy(pub + 1 + xlen, y, ylen);
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + xlen + ylen))
		goto out;
	if ((pkey = pkey_fromdata("EC", bld)) != NULL) {
		*curve_nid = curves[i].nid;
		*sig_len = 2 * curves[i].coord;
	}
out:
	OSSL_PARAM_BLD_free(bld);
	free(x);
	free(y);
	return pkey;
}

/* Keeps a JWK only if it is a public signing key we can use; anything else
 * (encryption keys, oct keys, unknown types) is skipped, never trusted. */
static bool jwk_usable(json_t *jwk, struct rp_key *k)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *use = json_string_value(json_object_get(jwk, "use"));
	const char *alg = json_string_value(json_object_get(jwk, "alg"));
	const char *kid = json_string_value(json_object_get(jwk, "kid"));
	json_t *ops = json_object_get(jwk, "key_ops"), *op;
	bool verify = ops == NULL;
	size_t i;

	if (kty == NULL || (use != NULL && strcmp(use, "sig") != 0))
		return false;
	if (json_object_get(jwk, "use") != NULL && use == NULL)
		return false;
	json_array_foreach(ops, i, op)
		if (json_is_string(op) && strcmp(json_string_value(op), "verify") == 0)
			verify = true;
	if (!verify)
		return false;
	memset(k, 0, sizeof(*k));
	k->alg = -1;
	if (alg != NULL && (k->alg = rp_alg_lookup(alg, strlen(alg))) < 0)
		return false;
	if (json_object_get(jwk, "kid") != NULL && (kid == NULL || strlen(kid) > 256))
		return false;
	if (strcmp(kty, "RSA") == 0) {
		k->kty = RP_KTY_RSA;
		k->pkey = jwk_rsa(jwk, &k->sig_len);
	} else if (strcmp(kty, "EC") == 0) {
		k->kty = RP_KTY_EC;
		k->pkey = jwk_ec(jwk, &k->curve_nid, &k->sig_len);
	}
	if (k->pkey == NULL)
		return false;
	/* A declared alg must fit the key: an RSA key cannot claim ES256. */
	if (k->alg >= 0 && (rp_algs[k->alg].family == RP_FAM_HMAC || !rp_key_allows(k, k->alg)))
		goto drop;
	if (kid != NULL && (k->kid = strdup(kid)) == NULL)
		goto drop;
	if (pthread_mutex_init(&k->lock, NULL) != 0)
		goto drop;
	return true;
drop:
	EVP_PKEY_free(k->pkey);
	free(k->kid);
	return false;
}

int rp_keyset_parse(const char *body, size_t len, struct rp_keyset **out, struct rp_error *err)
{
	struct rp_keyset *ks = NULL;
	json_error_t jerr;
	json_t *doc, *keys, *jwk;
	size_t i;
	int rc = RP_E_NOMEM;

	*out = NULL;
	doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		rc = rp_fail(err, RP_E_JWKS, "jwks: not a JWK set (%s)",
			     doc == NULL ? jerr.text : "no \"keys\" array");
		goto out;
	}
	if ((ks = calloc(1, sizeof(*ks))) == NULL ||
	    (ks->keys = calloc(RP_MAX_KEYS, sizeof(*ks->keys))) == NULL)
		goto out;
	atomic_init(&ks->refs, 1);
	if ((ks->md[0] = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (ks->md[1] = EVP_MD_fetch(NULL, "SHA384", NULL)) == NULL ||
	    (ks->md[2] = EVP_MD_fetch(NULL, "SHA512", NULL)) == NULL) {
		rc = rp_fail(err, RP_E_NOMEM, "jwks: SHA-2 unavailable in OpenSSL");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		if (ks->n == RP_MAX_KEYS)
			break;
		if (json_is_object(jwk) && jwk_usable(jwk, &ks->keys[ks->n]))
			ks->n++;
	}
	ERR_clear_error(); /* refused keys leave OpenSSL errors behind */
	if (ks->n == 0) {
		rc = rp_fail(err, RP_E_JWKS, "jwks: no usable signing key among %zu",
			     json_array_size(keys));
		goto out;
	}
	*out = ks;
	ks = NULL;
	rc = RP_OK;
out:
	if (ks != NULL) {
		if (ks->keys == NULL)
			free(ks);
		else
			rp_keyset_put(ks);
	}
	json_decref(doc);
	return rc;
}

static int vctx_new(struct rp_key *k, int alg, const EVP_MD *md, struct rp_vctx *v)
{
	const struct rp_alg_info *a = &rp_algs[alg];
	EVP_PKEY_CTX *ctx;

	v->md = NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL)
		return RP_E_NOMEM;
	if (EVP_PKEY_verify_init(ctx) <= 0)
		goto fail;
	if (a->family == RP_FAM_RSA && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0)
		goto fail;
	if (a->family == RP_FAM_PSS &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) <= 0)
		goto fail;
	if (EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0)
		goto fail;
	/* RFC 7518 3.5: MGF1 with the same hash, salt as long as the hash. */
	if (a->family == RP_FAM_PSS &&
	    (EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) <= 0))
		goto fail;
	if ((v->md = EVP_MD_CTX_new()) == NULL)
		goto fail;
	v->pkey = ctx;
	return RP_OK;
fail:
	EVP_PKEY_CTX_free(ctx);
	ERR_clear_error();
	return RP_E_NOMEM;
}

/* DER-encodes one big-endian integer of n bytes (leading zeros dropped, a
 * zero byte added when the top bit is set). */
static size_t der_int(unsigned char *out, const unsigned char *v, size_t n)
{
	size_t o = 0;

	while (n > 1 && v[0] == 0) {
		v++;
		n--;
	}
	out[o++] = 0x02;
	out[o++] = (unsigned char)(n + (v[0] & 0x80 ? 1 : 0));
	if (v[0] & 0x80)
		out[o++] = 0;
	memcpy(out + o, v, n);
	return o + n;
}

/* JWS carries ECDSA signatures as r||s; OpenSSL wants a DER SEQUENCE. */
static size_t ecdsa_der(unsigned char *out, const unsigned char *sig, size_t slen)
{
	unsigned char body[2 * (3 + 66)];
	size_t blen, o = 0;

	blen = der_int(body, sig, slen / 2);
	blen += der_int(body + blen, sig + slen / 2, slen / 2);
	out[o++] = 0x30;
	if (blen >= 0x80)
		out[o++] = 0x81;
	out[o++] = (unsigned char)blen;
	memcpy(out + o, body, blen);
	return o + blen;
}

int rp_key_verify(const struct rp_keyset *ks, struct rp_key *k, int alg, const char *input,
		  size_t inlen, const unsigned char *sig, size_t slen)
{
	unsigned char der[8 + 2 * (3 + 66)], digest[EVP_MAX_MD_SIZE];
	const EVP_MD *md = rp_keyset_md(ks, alg);
	struct rp_vctx v = { NULL, NULL };
	unsigned int dlen = 0;
	int ok;

	if (slen != k->sig_len)
		return RP_E_SIGNATURE;
	pthread_mutex_lock(&k->lock);
	if (k->npool[alg] > 0)
		v = k->pool[alg][--k->npool[alg]];
	pthread_mutex_unlock(&k->lock);
	if (v.pkey == NULL && vctx_new(k, alg, md, &v) != RP_OK)
		return RP_E_NOMEM;
	if (EVP_DigestInit_ex(v.md, md, NULL) != 1 || EVP_DigestUpdate(v.md, input, inlen) != 1 ||
	    EVP_DigestFinal_ex(v.md, digest, &dlen) != 1) {
		ok = 0;
		goto out;
	}
	if (k->kty == RP_KTY_EC) {
		slen = ecdsa_der(der, sig, slen);
		sig = der;
	}
	ok = EVP_PKEY_verify(v.pkey, sig, slen, digest, dlen) == 1;
out:
	if (!ok)
		ERR_clear_error();
	pthread_mutex_lock(&k->lock);
	if (k->npool[alg] < RP_CTX_POOL) {
		k->pool[alg][k->npool[alg]++] = v;
		v.md = NULL;
		v.pkey = NULL;
	}
	pthread_mutex_unlock(&k->lock);
	EVP_MD_CTX_free(v.md);
	EVP_PKEY_CTX_free(v.pkey);
	return ok ? RP_OK : RP_E_SIGNATURE;
}

/* "Client-Assertion: <JWT>" for the provider's JWKS at aud. */
static int assertion_header(struct rp_config *cfg, const char *aud, char **out, struct rp_error *err)
{
	static const char prefix[] = "Client-Assertion: ";
	char *as = NULL;
	size_t n;
	int rc;

	*out = NULL;
	if ((rc = rp_client_assertion(cfg, "jwks", aud, &as, err)) != RP_OK)
		return rc;
	n = strlen(as);
	if ((*out = malloc(sizeof(prefix) + n)) == NULL) {
		free_secret(as);
		return rp_fail(err, RP_E_NOMEM, "jwks: out of memory");
	}
	memcpy(*out, prefix, sizeof(prefix) - 1);
	memcpy(*out + sizeof(prefix) - 1, as, n + 1);
	free_secret(as);
	return RP_OK;
}

/* One JWKS fetch; the caller holds cfg->jwks_fetch. On success the new
 * keys replace the cached ones. */
static int jwks_fetch(struct rp_config *cfg, struct rp_error *err)
{
	struct rp_http_resp resp = { 0 };
	struct rp_keyset *ks = NULL, *old;
	struct rp_disc *disc = NULL;
	char *auth = NULL;
	const char *headers[3] = { "Accept: application/jwk-set+json, application/json", NULL,
				   NULL };
	int rc;

	pthread_mutex_lock(&cfg->lock);
	cfg->jwks_attempt = rp_mono(cfg);
	cfg->jwks_tried = true;
	pthread_mutex_unlock(&cfg->lock);

	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		goto out;
	/* The service authenticates as at the token endpoint, so that the
	 * provider can trust that it holds the keys it just fetched (readiness
	 * for a key rotation): Basic with its secret, else a client assertion
	 * (fresh jti, aud the JWKS URL, so it is good nowhere else) in the
	 * provider's Client-Assertion header. Credentials go only where they
	 * already go: to the token endpoint's origin; a JWKS elsewhere is
	 * fetched anonymously. */
	if (cfg->jwks_client_id != RP_JWKS_ID_NONE && (cfg->client_secret != NULL || cfg->client_key != NULL) &&
	    rp_same_origin(disc->jwks_uri, disc->token_endpoint)) {
		if (cfg->client_secret != NULL) {
			if ((auth = rp_basic_header(cfg)) == NULL) {
				rc = rp_fail(err, RP_E_NOMEM, "jwks: out of memory");
				goto out;
			}
		} else if ((rc = assertion_header(cfg, disc->jwks_uri, &auth, err)) != RP_OK) {
			goto out;
		}
		headers[1] = auth;
	}
	if ((rc = rp_http(cfg, "jwks", disc->jwks_uri, headers, NULL, RP_MAX_DOC, &resp, err)) != RP_OK)
		goto out;
	if (resp.status != 200) {
		rc = rp_fail(err, RP_E_HTTP, "jwks: HTTP %ld from the JWKS endpoint", resp.status);
		goto out;
	}
	if ((rc = rp_keyset_parse(resp.body, resp.len, &ks, err)) != RP_OK)
		goto out;
	pthread_mutex_lock(&cfg->lock);
	if (cfg->disc != NULL && strcmp(cfg->disc->jwks_uri, disc->jwks_uri) != 0) {
		/* Discovery moved the JWKS while we fetched: these keys are
		 * the old endpoint's, and must not come back. */
		pthread_mutex_unlock(&cfg->lock);
		rp_keyset_put(ks);
		rc = rp_fail(err, RP_E_JWKS, "jwks: jwks_uri changed during the fetch");
		goto out;
	}
	old = cfg->keys;
	cfg->keys = ks;
	cfg->jwks_fetched = rp_mono(cfg);
	pthread_mutex_unlock(&cfg->lock);
	rp_keyset_put(old);
out:
	rp_http_resp_release(&resp);
	rp_disc_put(disc);
	free_secret(auth);
	return rc;
}

static bool interval_passed(struct rp_config *cfg)
{
	bool ok;

	pthread_mutex_lock(&cfg->lock);
	ok = !cfg->jwks_tried || rp_mono(cfg) - cfg->jwks_attempt >= cfg->jwks_min_interval;
	pthread_mutex_unlock(&cfg->lock);
	return ok;
}

static struct rp_keyset *keys_ref(struct rp_config *cfg, int64_t *age)
{
	struct rp_keyset *ks;

	pthread_mutex_lock(&cfg->lock);
	if ((ks = cfg->keys) != NULL)
		atomic_fetch_add(&ks->refs, 1);
	if (age != NULL)
		*age = rp_mono(cfg) - cfg->jwks_fetched;
	pthread_mutex_unlock(&cfg->lock);
	return ks;
}

int rp_keys_get(struct rp_config *cfg, struct rp_keyset **out, struct rp_error *err)
{
	struct rp_keyset *ks;
	struct rp_error ignored;
	int64_t age;
	int rc = RP_E_JWKS;

	*out = NULL;
	ks = keys_ref(cfg, &age);
	if (ks != NULL && age < cfg->jwks_max_age) {
		*out = ks;
		return RP_OK;
	}
	if (ks != NULL) {
		/* Stale: one thread refreshes while the others go on with the
		 * cached keys, which also survive a failed refresh. */
		if (pthread_mutex_trylock(&cfg->jwks_fetch) == 0) {
			if (interval_passed(cfg) && jwks_fetch(cfg, &ignored) == RP_OK) {
				rp_keyset_put(ks);
				ks = keys_ref(cfg, NULL);
			}
			pthread_mutex_unlock(&cfg->jwks_fetch);
		}
		*out = ks;
		return RP_OK;
	}
	pthread_mutex_lock(&cfg->jwks_fetch);
	if ((ks = keys_ref(cfg, NULL)) == NULL) {
		if (interval_passed(cfg))
			rc = jwks_fetch(cfg, err);
		else
			rc = rp_fail(err, RP_E_JWKS, "jwks: no keys yet, and the last fetch "
				     "failed less than %d s ago", cfg->jwks_min_interval);
		if (rc == RP_OK)
			ks = keys_ref(cfg, NULL);
	}
	pthread_mutex_unlock(&cfg->jwks_fetch);
	if (ks == NULL)
		return rc;
	*out = ks;
	return RP_OK;
}

int rp_keys_refetch(struct rp_config *cfg, struct rp_keyset *seen, struct rp_keyset **out,
		    struct rp_error *err)
{
	struct rp_keyset *ks;
	int rc = RP_OK;

	*out = NULL;
	pthread_mutex_lock(&cfg->jwks_fetch);
	ks = keys_ref(cfg, NULL);
	if (ks != NULL && ks != seen) {
		/* Another thread fetched while we waited: no second fetch. */
		pthread_mutex_unlock(&cfg->jwks_fetch);
		*out = ks;
		return RP_OK;
	}
	rp_keyset_put(ks);
	if (!interval_passed(cfg)) {
		pthread_mutex_unlock(&cfg->jwks_fetch);
		return rp_fail(err, RP_E_KID, "jwks: not refetched, the last fetch was less "
			       "than %d s ago", cfg->jwks_min_interval);
	}
	if ((rc = jwks_fetch(cfg, err)) == RP_OK)
		*out = keys_ref(cfg, NULL);
	pthread_mutex_unlock(&cfg->jwks_fetch);
	return rc;
}
