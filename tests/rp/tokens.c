/* SPDX-License-Identifier: EUPL-1.2 */
/* Test keys and tokens, signed with OpenSSL directly (not with librp). */
#include "tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

/* The tests' own encoder, written apart from common/codec.c on purpose: the
 * tokens the tests forge must not share a fault with the decoder under test. */
char *b64url(const void *data, size_t len)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *in = data;
	char *out = malloc(len / 3 * 4 + 5);
	size_t i, o = 0;

	if (out == NULL)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = a[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		out[o++] = a[in[i + 2] & 63];
	}
	if (len - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		out[o++] = a[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
	return out;
}

static char *pem_of(EVP_PKEY *pkey)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *pem = NULL;
	long len;

	if (bio == NULL)
		return NULL;
	if (PEM_write_bio_PUBKEY(bio, pkey) == 1 && (len = BIO_get_mem_data(bio, &data)) > 0 &&
	    (pem = malloc((size_t)len + 1)) != NULL) {
		memcpy(pem, data, (size_t)len);
		pem[len] = '\0';
	}
	BIO_free(bio);
	return pem;
}

int tkey_ec(struct tkey *k, const char *kid, const char *group)
{
	const char *name = strcmp(group, "P-384") == 0 ? "P-384" :
			   strcmp(group, "P-521") == 0 ? "P-521" : "P-256";

	memset(k, 0, sizeof(*k));
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	if ((k->pkey = EVP_EC_gen(name)) == NULL || (k->pem = pem_of(k->pkey)) == NULL)
		return -1;
	return 0;
}

/* A fresh RSA key, or the one in $RP_TEST_RSA_DIR/rsa<bits>.pem when
 * tests/rp/run.sh made it with the openssl command: under valgrind, making
 * a 2048-bit key here takes most of a minute. */
int tkey_rsa(struct tkey *k, const char *kid, int bits)
{
	const char *dir = getenv("RP_TEST_RSA_DIR");
	char path[512];
	FILE *f;

	memset(k, 0, sizeof(*k));
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	if (dir != NULL && snprintf(path, sizeof(path), "%s/rsa%d.pem", dir, bits) < (int)sizeof(path) &&
	    (f = fopen(path, "r")) != NULL) {
		k->pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
		if (k->pkey == NULL || EVP_PKEY_get_base_id(k->pkey) != EVP_PKEY_RSA || EVP_PKEY_get_bits(k->pkey) != bits)
			return -1;
	} else if ((k->pkey = EVP_RSA_gen((unsigned)bits)) == NULL) {
		return -1;
	}
	return (k->pem = pem_of(k->pkey)) == NULL ? -1 : 0;
}

void tkey_free(struct tkey *k)
{
	EVP_PKEY_free(k->pkey);
	free(k->pem);
	memset(k, 0, sizeof(*k));
}

static char *bn_b64(const EVP_PKEY *pkey, const char *param, int pad)
{
	unsigned char buf[1024];
	BIGNUM *bn = NULL;
	char *s = NULL;
	int len;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		return NULL;
	len = pad > 0 ? BN_bn2binpad(bn, buf, pad) : BN_bn2bin(bn, buf);
	if (len > 0)
		s = b64url(buf, (size_t)len);
	BN_free(bn);
	return s;
}

char *tkey_jwk(const struct tkey *k, const char *alg, const char *use)
{
	char *a = NULL, *b = NULL, *out = NULL, extra[128] = "";
	size_t cap;

	if (alg != NULL)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",\"alg\":\"%s\"", alg);
	if (use != NULL)
		snprintf(extra + strlen(extra), sizeof(extra) - strlen(extra), ",\"use\":\"%s\"", use);
	if (EVP_PKEY_is_a(k->pkey, "RSA")) {
		a = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_b64(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		if (a == NULL || b == NULL)
			goto out;
		cap = strlen(a) + strlen(b) + 256;
		if ((out = malloc(cap)) != NULL)
			snprintf(out, cap, "{\"kty\":\"RSA\",\"kid\":\"%s\",\"n\":\"%s\",\"e\":\"%s\"%s}",
				 k->kid, a, b, extra);
	} else {
		int bits = EVP_PKEY_get_bits(k->pkey);
		int coord = (bits + 7) / 8;
		const char *crv = bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521";

		a = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, coord);
		b = bn_b64(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, coord);
		if (a == NULL || b == NULL)
			goto out;
		cap = strlen(a) + strlen(b) + 256;
		if ((out = malloc(cap)) != NULL)
			snprintf(out, cap,
				 "{\"kty\":\"EC\",\"kid\":\"%s\",\"crv\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"%s}",
				 k->kid, crv, a, b, extra);
	}
out:
	free(a);
	free(b);
	return out;
}

char *jwks_of(const char *const *jwks, size_t n)
{
	size_t i, cap = 32, o;
	char *out;

	for (i = 0; i < n; i++)
		cap += strlen(jwks[i]) + 1;
	if ((out = malloc(cap)) == NULL)
		return NULL;
	o = (size_t)snprintf(out, cap, "{\"keys\":[");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(out + o, cap - o, "%s%s", i > 0 ? "," : "", jwks[i]);
	snprintf(out + o, cap - o, "]}");
	return out;
}

static char *join3(const char *a, const char *b, const char *c)
{
	size_t cap = strlen(a) + strlen(b) + strlen(c) + 3;
	char *out = malloc(cap);

	if (out != NULL)
		snprintf(out, cap, "%s.%s.%s", a, b, c);
	return out;
}

static char *signing_input(const char *alg, const char *kid, const char *header,
			   const char *payload)
{
	char hdr[512], *h, *p, *out;
	size_t cap;

	if (header == NULL) {
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg,
			 kid);
		header = hdr;
	}
	h = b64url(header, strlen(header));
	p = b64url(payload, strlen(payload));
	cap = strlen(h) + strlen(p) + 2;
	if ((out = malloc(cap)) != NULL)
		snprintf(out, cap, "%s.%s", h, p);
	free(h);
	free(p);
	return out;
}

static const EVP_MD *md_of(const char *alg)
{
	if (strstr(alg, "384") != NULL)
		return EVP_sha384();
	if (strstr(alg, "512") != NULL)
		return EVP_sha512();
	return EVP_sha256();
}

char *tok_sign(const struct tkey *k, const char *alg, const char *header, const char *payload)
{
	unsigned char sig[1024], raw[132];
	const unsigned char *sp = sig;
	char *input, *s64 = NULL, *out = NULL, *dot;
	size_t slen = sizeof(sig), coord;
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	ECDSA_SIG *es = NULL;

	if ((input = signing_input(alg, k->kid, header, payload)) == NULL || mctx == NULL)
		goto out;
	if (EVP_DigestSignInit(mctx, &pctx, md_of(alg), NULL, k->pkey) != 1)
		goto out;
	if (alg[0] == 'P' && (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
			      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1))
		goto out;
	if (EVP_DigestSign(mctx, sig, &slen, (unsigned char *)input, strlen(input)) != 1)
		goto out;
	if (EVP_PKEY_is_a(k->pkey, "EC")) {
		coord = (size_t)(EVP_PKEY_get_bits(k->pkey) + 7) / 8;
		if ((es = d2i_ECDSA_SIG(NULL, &sp, (long)slen)) == NULL)
			goto out;
		BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, (int)coord);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + coord, (int)coord);
		s64 = b64url(raw, 2 * coord);
	} else {
		s64 = b64url(sig, slen);
	}
	dot = strchr(input, '.');
	*dot = '\0';
	out = join3(input, dot + 1, s64);
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	free(input);
	free(s64);
	return out;
}

char *tok_hmac(const void *key, size_t keylen, const char *alg, const char *header,
	       const char *payload)
{
	unsigned char mac[64];
	unsigned int mlen = 0;
	char *input, *s64, *out = NULL, *dot;

	if ((input = signing_input(alg, "hs", header, payload)) == NULL)
		return NULL;
	HMAC(md_of(alg), key, (int)keylen, (unsigned char *)input, strlen(input), mac, &mlen);
	s64 = b64url(mac, mlen);
	dot = strchr(input, '.');
	*dot = '\0';
	out = join3(input, dot + 1, s64);
	free(input);
	free(s64);
	return out;
}

char *tok_raw(const char *header, const char *payload, const char *sig_b64)
{
	char *h = b64url(header, strlen(header)), *p = b64url(payload, strlen(payload));
	char *out = join3(h, p, sig_b64);

	free(h);
	free(p);
	return out;
}
