/* SPDX-License-Identifier: Apache-2.0 */
/* JWK public keys, JWS signatures and compact JWE (jose.h). */
#include "jose.h"
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#define JWE_HDR_MAX 2048 /* a protected header of ours: alg, enc, kid, cty, epk */

enum jose_sig_alg jose_sig_alg_parse(const char *name)
{
	if (name == NULL)
		return JOSE_SIG_NONE;
	if (strcmp(name, "ES256") == 0)
		return JOSE_ES256;
	if (strcmp(name, "RS256") == 0)
		return JOSE_RS256;
	if (strcmp(name, "PS256") == 0)
		return JOSE_PS256;
	return JOSE_SIG_NONE;
}

const char *jose_sig_alg_name(enum jose_sig_alg a)
{
	return a == JOSE_ES256 ? "ES256" : a == JOSE_RS256 ? "RS256" : a == JOSE_PS256 ? "PS256" : "none";
}

enum jose_enc_alg jose_enc_alg_parse(const char *name)
{
	if (name == NULL)
		return JOSE_ENC_NONE;
	if (strcmp(name, "RSA-OAEP-256") == 0)
		return JOSE_RSA_OAEP_256;
	if (strcmp(name, "ECDH-ES") == 0)
		return JOSE_ECDH_ES;
	return JOSE_ENC_NONE;
}

const char *jose_enc_alg_name(enum jose_enc_alg a)
{
	return a == JOSE_RSA_OAEP_256 ? "RSA-OAEP-256" : a == JOSE_ECDH_ES ? "ECDH-ES" : "none";
}

/* A base64url member of a JWK, decoded into a fresh buffer. */
static int member_b64(const json_t *o, const char *name, size_t max, unsigned char **out, size_t *n)
{
	const char *s = json_string_value(json_object_get(o, name));
	size_t len = s != NULL ? strlen(s) : 0;

	*out = NULL;
	if (len == 0 || codec_b64url_max(len) > max)
		return JOSE_EINVAL;
	if ((*out = malloc(codec_b64url_max(len) + 1)) == NULL)
		return JOSE_ENOMEM;
	if (codec_b64url_decode(s, len, *out, codec_b64url_max(len), n) != CODEC_OK) {
		free(*out);
		*out = NULL;
		return JOSE_EINVAL;
	}
	return JOSE_OK;
}

static int pkey_from_params(const char *type, OSSL_PARAM_BLD *bld, EVP_PKEY **out)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	int rc = JOSE_EINVAL;

	if (params != NULL && ctx != NULL && EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, out, EVP_PKEY_PUBLIC_KEY, params) == 1)
		rc = JOSE_OK;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return rc;
}

/* An uncompressed P-256 point (04 || x || y): OpenSSL decodes it only when
 * it lies on the curve, so an invalid-curve point is refused here. */
static int ec_from_point(const unsigned char *pt, size_t n, EVP_PKEY **out)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	int rc = JOSE_ENOMEM;

	if (bld != NULL && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, n))
		rc = pkey_from_params("EC", bld, out);
	OSSL_PARAM_BLD_free(bld);
	return rc;
}

int jose_jwk_public(const json_t *jwk, EVP_PKEY **out)
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	const char *crv = json_string_value(json_object_get(jwk, "crv"));
	unsigned char *a = NULL, *b = NULL, pt[65];
	size_t an = 0, bn = 0;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int rc = JOSE_EINVAL;

	*out = NULL;
	if (!json_is_object(jwk) || kty == NULL)
		return JOSE_EINVAL;
	if (strcmp(kty, "EC") == 0) {
		if (crv == NULL || strcmp(crv, "P-256") != 0 || member_b64(jwk, "x", 32, &a, &an) != JOSE_OK ||
		    member_b64(jwk, "y", 32, &b, &bn) != JOSE_OK || an != 32 || bn != 32)
			goto out;
		pt[0] = 0x04;
		memcpy(pt + 1, a, 32);
		memcpy(pt + 33, b, 32);
		rc = ec_from_point(pt, sizeof(pt), out);
	} else if (strcmp(kty, "RSA") == 0) {
		if (member_b64(jwk, "n", 1024, &a, &an) != JOSE_OK || member_b64(jwk, "e", 8, &b, &bn) != JOSE_OK)
			goto out;
		rc = JOSE_ENOMEM;
		if ((n = BN_bin2bn(a, (int)an, NULL)) == NULL || (e = BN_bin2bn(b, (int)bn, NULL)) == NULL ||
		    (bld = OSSL_PARAM_BLD_new()) == NULL || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			goto out;
		rc = JOSE_EINVAL;
		if (BN_num_bits(n) < 2048 || BN_num_bits(n) > 8192 || !BN_is_odd(e) || BN_num_bits(e) < 2)
			goto out;
		rc = pkey_from_params("RSA", bld, out);
	}
out:
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	free(a);
	free(b);
	return rc;
}

static bool key_is_p256(EVP_PKEY *k)
{
	char g[32];
	size_t gl = 0;

	return EVP_PKEY_is_a(k, "EC") &&
	       EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, g, sizeof(g), &gl) == 1 &&
	       strcmp(g, "prime256v1") == 0;
}

bool jose_key_fits_sig(EVP_PKEY *k, enum jose_sig_alg a)
{
	if (a == JOSE_ES256)
		return key_is_p256(k);
	return (a == JOSE_RS256 || a == JOSE_PS256) && EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
}

bool jose_key_fits_enc(EVP_PKEY *k, enum jose_enc_alg a)
{
	if (a == JOSE_ECDH_ES)
		return key_is_p256(k);
	return a == JOSE_RSA_OAEP_256 && EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
}

static int sig_ctx_init(EVP_MD_CTX *ctx, EVP_PKEY *k, enum jose_sig_alg a, bool sign)
{
	EVP_PKEY_CTX *pctx = NULL;

	if (!jose_key_fits_sig(k, a))
		return JOSE_EINVAL;
	if ((sign ? EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, k)
		  : EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, k)) != 1)
		return JOSE_EINVAL;
	/* RFC 7518 3.5: PSS with SHA-256, MGF1 SHA-256, a 32-byte salt. */
	if (a == JOSE_PS256 && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
				EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
				EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) != 1))
		return JOSE_EINVAL;
	if (a == JOSE_RS256 && EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1)
		return JOSE_EINVAL;
	return JOSE_OK;
}

int jose_sig_verify(EVP_PKEY *k, enum jose_sig_alg a, const void *input, size_t inlen,
		    const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *der = NULL;
	int derlen, rc = JOSE_EDENIED;

	if (ctx == NULL)
		return JOSE_ENOMEM;
	if (a == JOSE_ES256) {
		/* R || S, 32 bytes each (RFC 7518 3.4), to DER for OpenSSL. */
		ECDSA_SIG *es = ECDSA_SIG_new();
		BIGNUM *r = siglen == 64 ? BN_bin2bn(sig, 32, NULL) : NULL;
		BIGNUM *s = siglen == 64 ? BN_bin2bn(sig + 32, 32, NULL) : NULL;

		if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s)) {
			BN_free(r);
			BN_free(s);
			ECDSA_SIG_free(es);
			goto out;
		}
		derlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		if (derlen <= 0)
			goto out;
		sig = der;
		siglen = (size_t)derlen;
	}
	if (sig_ctx_init(ctx, k, a, false) == JOSE_OK &&
	    EVP_DigestVerify(ctx, sig, siglen, input, inlen) == 1)
		rc = JOSE_OK;
out:
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int jose_sig_sign(EVP_PKEY *k, enum jose_sig_alg a, const void *input, size_t inlen,
		  unsigned char **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *s = NULL;
	size_t n = 0;
	int rc = JOSE_EINVAL;

	*sig = NULL;
	*siglen = 0;
	if (ctx == NULL)
		return JOSE_ENOMEM;
	if (sig_ctx_init(ctx, k, a, true) != JOSE_OK || EVP_DigestSign(ctx, NULL, &n, input, inlen) != 1 ||
	    (s = malloc(n)) == NULL || EVP_DigestSign(ctx, s, &n, input, inlen) != 1)
		goto out;
	if (a == JOSE_ES256) {
		const unsigned char *p = s;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		const BIGNUM *r, *sv;
		unsigned char *raw = malloc(64);

		if (es == NULL || raw == NULL) {
			ECDSA_SIG_free(es);
			free(raw);
			goto out;
		}
		ECDSA_SIG_get0(es, &r, &sv);
		if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(sv, raw + 32, 32) != 32) {
			ECDSA_SIG_free(es);
			free(raw);
			goto out;
		}
		ECDSA_SIG_free(es);
		free(s);
		s = raw;
		n = 64;
	}
	*sig = s;
	*siglen = n;
	s = NULL;
	rc = JOSE_OK;
out:
	free(s);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ---- JWE ---- */

/* A growing text of base64url parts joined by dots. */
struct text {
	char *p;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *p = realloc(t->p, cap);

		if (p == NULL)
			return JOSE_ENOMEM;
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
	return JOSE_OK;
}

static int text_add_b64(struct text *t, const void *d, size_t n, bool dot)
{
	size_t need = codec_b64url_len(n);
	char *s;
	int rc;

	if (need == SIZE_MAX || (s = malloc(need + 1)) == NULL)
		return JOSE_ENOMEM;
	codec_b64url_encode(s, d, n);
	rc = text_add(t, s, need);
	free(s);
	if (rc == JOSE_OK && dot)
		rc = text_add(t, ".", 1);
	return rc;
}

/* RFC 7518 4.6.2: the Concat KDF (NIST SP 800-56A) with SHA-256, one round
 * for a 256-bit key; AlgorithmID is the enc value (direct key agreement),
 * PartyUInfo and PartyVInfo empty (we send no apu or apv). */
static void concat_kdf(const unsigned char *z, size_t zl, unsigned char cek[32])
{
	static const unsigned char round1[4] = {0, 0, 0, 1}, alg_len[4] = {0, 0, 0, 7},
				   empty[4] = {0, 0, 0, 0}, bits[4] = {0, 0, 1, 0};
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 32;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, round1, 4) != 1 || EVP_DigestUpdate(ctx, z, zl) != 1 ||
	    EVP_DigestUpdate(ctx, alg_len, 4) != 1 || EVP_DigestUpdate(ctx, JOSE_ENC_A256GCM, 7) != 1 ||
	    EVP_DigestUpdate(ctx, empty, 4) != 1 || EVP_DigestUpdate(ctx, empty, 4) != 1 ||
	    EVP_DigestUpdate(ctx, bits, 4) != 1 || EVP_DigestFinal_ex(ctx, cek, &n) != 1)
		RAND_bytes(cek, 32); /* never a predictable key: the recipient fails to decrypt */
	EVP_MD_CTX_free(ctx);
}

static int ecdh(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char cek[32])
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
	unsigned char z[66];
	size_t zl = sizeof(z);
	int rc = JOSE_EINVAL;

	if (ctx != NULL && EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
	    EVP_PKEY_derive(ctx, z, &zl) == 1) {
		concat_kdf(z, zl, cek);
		rc = JOSE_OK;
	}
	OPENSSL_cleanse(z, sizeof(z));
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

/* The epk member: the ephemeral public key as a JWK. */
static json_t *epk_jwk(EVP_PKEY *k)
{
	unsigned char pt[65];
	size_t n = 0;
	char x[48], y[48];

	if (EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &n) != 1 || n != 65 ||
	    pt[0] != 0x04)
		return NULL;
	codec_b64url_encode(x, pt + 1, 32);
	codec_b64url_encode(y, pt + 33, 32);
	return json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", x, "y", y);
}

static int gcm(bool enc, const unsigned char key[32], const unsigned char iv[12], const char *aad, size_t aadl,
	       const unsigned char *in, size_t n, unsigned char *out, unsigned char tag[16])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l = 0, rc = JOSE_EDENIED;

	if (c == NULL || n > INT32_MAX)
		goto out;
	if (EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, key, iv, enc ? 1 : 0) != 1 ||
	    EVP_CipherUpdate(c, NULL, &l, (const unsigned char *)aad, (int)aadl) != 1 ||
	    (n > 0 && EVP_CipherUpdate(c, out, &l, in, (int)n) != 1))
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag) != 1)
		goto out;
	if (EVP_CipherFinal_ex(c, out + (n > 0 ? l : 0), &l) != 1)
		goto out;
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
		goto out;
	rc = JOSE_OK;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int jose_jwe_encrypt(EVP_PKEY *k, enum jose_enc_alg alg, const char *kid, const char *cty,
		     const void *pt, size_t n, char **out)
{
	unsigned char cek[32], iv[12], tag[16], *ek = NULL, *ct = NULL;
	size_t ekl = 0, hdrl;
	json_t *h = NULL, *epk;
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	struct text t = {0};
	char *hdr = NULL;
	int rc = JOSE_EINVAL;

	*out = NULL;
	if (!jose_key_fits_enc(k, alg))
		return JOSE_EINVAL;
	h = json_pack("{s:s,s:s}", "alg", jose_enc_alg_name(alg), "enc", JOSE_ENC_A256GCM);
	if (h == NULL || (kid != NULL && json_object_set_new(h, "kid", json_string(kid)) != 0) ||
	    (cty != NULL && json_object_set_new(h, "cty", json_string(cty)) != 0))
		goto out;
	if (alg == JOSE_ECDH_ES) {
		/* Direct key agreement: the CEK is what the KDF gives, no encrypted key. */
		if ((eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL ||
		    (epk = epk_jwk(eph)) == NULL || json_object_set_new(h, "epk", epk) != 0 ||
		    ecdh(eph, k, cek) != JOSE_OK)
			goto out;
	} else {
		/* RFC 7518 4.3: OAEP with SHA-256 and MGF1 SHA-256 wraps a random CEK. */
		if (RAND_bytes(cek, sizeof(cek)) != 1 || (ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL ||
		    EVP_PKEY_encrypt_init(ctx) != 1 || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_encrypt(ctx, NULL, &ekl, cek, sizeof(cek)) != 1 || (ek = malloc(ekl)) == NULL ||
		    EVP_PKEY_encrypt(ctx, ek, &ekl, cek, sizeof(cek)) != 1)
			goto out;
	}
	if (RAND_bytes(iv, sizeof(iv)) != 1 || (hdr = json_dumps(h, JSON_COMPACT)) == NULL ||
	    (ct = malloc(n > 0 ? n : 1)) == NULL)
		goto out;
	hdrl = strlen(hdr);
	/* The additional data is the encoded protected header (RFC 7516 5.1 14). */
	if ((rc = text_add_b64(&t, hdr, hdrl, false)) != JOSE_OK)
		goto out;
	if ((rc = gcm(true, cek, iv, t.p, t.len, pt, n, ct, tag)) != JOSE_OK)
		goto out;
	if ((rc = text_add(&t, ".", 1)) != JOSE_OK || (rc = text_add_b64(&t, ek, ekl, true)) != JOSE_OK ||
	    (rc = text_add_b64(&t, iv, sizeof(iv), true)) != JOSE_OK ||
	    (rc = text_add_b64(&t, ct, n, true)) != JOSE_OK || (rc = text_add_b64(&t, tag, sizeof(tag), false)) != JOSE_OK)
		goto out;
	*out = t.p;
	t.p = NULL;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (ct != NULL)
		OPENSSL_cleanse(ct, n);
	free(ct);
	free(ek);
	free(hdr);
	free(t.p);
	json_decref(h);
	EVP_PKEY_free(eph);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

bool jose_is_jwe(const char *tok, size_t len)
{
	size_t dots = 0;

	for (size_t i = 0; i < len; i++)
		dots += tok[i] == '.';
	return dots == 4;
}

/* Decodes one part of a compact serialization into a fresh buffer. */
static int part(const char *s, size_t len, size_t max, unsigned char **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (codec_b64url_max(len) > max)
		return JOSE_EINVAL;
	if ((*out = malloc(codec_b64url_max(len) + 1)) == NULL)
		return JOSE_ENOMEM;
	if (codec_b64url_decode(s, len, *out, codec_b64url_max(len), n) != CODEC_OK)
		return JOSE_EINVAL;
	return JOSE_OK;
}

int jose_jwe_decrypt(EVP_PKEY *k, const char *tok, size_t len, size_t max, unsigned char **pt,
		     size_t *n, char **cty)
{
	const char *d[4], *p = tok;
	unsigned char *hdr = NULL, *ek = NULL, *iv = NULL, *ct = NULL, *tag = NULL, *out = NULL;
	size_t hl, ekl, ivl, ctl, tagl;
	unsigned char cek[32], unwrapped[1024]; /* OpenSSL writes up to the modulus' size */
	size_t cekl = sizeof(unwrapped);
	json_t *h = NULL;
	EVP_PKEY *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	enum jose_enc_alg alg;
	const char *enc;
	int rc = JOSE_EINVAL;

	*pt = NULL;
	*n = 0;
	*cty = NULL;
	if (len > max || !jose_is_jwe(tok, len) || memchr(tok, '\0', len) != NULL)
		return JOSE_EINVAL;
	for (int i = 0; i < 4; i++) {
		d[i] = memchr(p, '.', len - (size_t)(p - tok));
		p = d[i] + 1;
	}
	if (part(tok, (size_t)(d[0] - tok), JWE_HDR_MAX, &hdr, &hl) != JOSE_OK ||
	    part(d[0] + 1, (size_t)(d[1] - d[0] - 1), 1024, &ek, &ekl) != JOSE_OK ||
	    part(d[1] + 1, (size_t)(d[2] - d[1] - 1), 12, &iv, &ivl) != JOSE_OK ||
	    part(d[2] + 1, (size_t)(d[3] - d[2] - 1), max, &ct, &ctl) != JOSE_OK ||
	    part(d[3] + 1, len - (size_t)(d[3] + 1 - tok), 16, &tag, &tagl) != JOSE_OK || ivl != 12 || tagl != 16)
		goto out;
	/* Ours has two objects (the header, its epk): a header with more than
	 * a few brackets is refused before jansson, whose recursion per level
	 * would run on the caller's stack. */
	for (size_t i = 0, brackets = 0; i < hl; i++)
		if ((hdr[i] == '{' || hdr[i] == '[') && ++brackets > 8)
			goto out;
	if ((h = json_loadb((const char *)hdr, hl, JSON_REJECT_DUPLICATES, NULL)) == NULL || !json_is_object(h) ||
	    json_object_get(h, "crit") != NULL || json_object_get(h, "zip") != NULL)
		goto out;
	alg = jose_enc_alg_parse(json_string_value(json_object_get(h, "alg")));
	enc = json_string_value(json_object_get(h, "enc"));
	if (alg == JOSE_ENC_NONE || !jose_key_fits_enc(k, alg) || enc == NULL || strcmp(enc, JOSE_ENC_A256GCM) != 0)
		goto out;
	if (alg == JOSE_ECDH_ES) {
		json_t *epk = json_object_get(h, "epk");

		if (ekl != 0 || json_object_get(h, "apu") != NULL || json_object_get(h, "apv") != NULL ||
		    json_object_get(epk, "d") != NULL || jose_jwk_public(epk, &peer) != JOSE_OK ||
		    !jose_key_fits_enc(peer, JOSE_ECDH_ES) || ecdh(k, peer, cek) != JOSE_OK)
			goto out;
	} else {
		/* A key that does not unwrap goes on as a random one, so the
		 * refusal comes from the tag, the same for every failure
		 * (RFC 7516 11.5: no padding oracle). */
		if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL)) == NULL || EVP_PKEY_decrypt_init(ctx) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1 ||
		    EVP_PKEY_decrypt(ctx, unwrapped, &cekl, ek, ekl) != 1 || cekl != 32)
			RAND_bytes(cek, sizeof(cek));
		else
			memcpy(cek, unwrapped, sizeof(cek));
		OPENSSL_cleanse(unwrapped, sizeof(unwrapped));
		ERR_clear_error();
	}
	if ((out = malloc(ctl + 1)) == NULL) {
		rc = JOSE_ENOMEM;
		goto out;
	}
	if ((rc = gcm(false, cek, iv, tok, (size_t)(d[0] - tok), ct, ctl, out, tag)) != JOSE_OK)
		goto out;
	out[ctl] = '\0';
	if (json_is_string(json_object_get(h, "cty")) &&
	    (*cty = strdup(json_string_value(json_object_get(h, "cty")))) == NULL) {
		rc = JOSE_ENOMEM;
		goto out;
	}
	*pt = out;
	*n = ctl;
	out = NULL;
out:
	OPENSSL_cleanse(cek, sizeof(cek));
	if (out != NULL)
		OPENSSL_cleanse(out, ctl);
	free(out);
	free(hdr);
	free(ek);
	free(iv);
	free(ct);
	free(tag);
	json_decref(h);
	EVP_PKEY_free(peer);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}
