/* SPDX-License-Identifier: EUPL-1.2 */
/* A public key as a JWK (RFC 7517) and its RFC 7638 thumbprint, which is
 * the key's kid: what the JWKS publishes and what idpctl names keys by. */
#include "jwk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/sha.h>

#include "util.h"

static char *bn_b64(const BIGNUM *bn, int pad)
{
	unsigned char buf[1024];
	int n = pad > 0 ? pad : BN_num_bytes(bn);

	if (n > (int)sizeof(buf) || BN_bn2binpad(bn, buf, n) != n)
		return NULL;
	return b64url_encode(buf, (size_t)n);
}

static int jwk_from_params(EVP_PKEY *pkey, json_t **out)
{
	BIGNUM *a = NULL, *b = NULL;
	char *sa = NULL, *sb = NULL;
	int rc = IDP_EINVAL;

	*out = NULL;
	if (EVP_PKEY_is_a(pkey, "EC")) {
		char curve[32];

		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), NULL) ||
		    strcmp(curve, "prime256v1") != 0)
			goto out;
		if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &a) ||
		    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &b))
			goto out;
		sa = bn_b64(a, 32);
		sb = bn_b64(b, 32);
		if (sa && sb)
			*out = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256", "x", sa, "y", sb);
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &a) ||
		    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &b))
			goto out;
		if (BN_num_bits(a) < 2048)
			goto out;
		sa = bn_b64(a, 0);
		sb = bn_b64(b, 0);
		if (sa && sb)
			*out = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", sa, "e", sb);
	}
	rc = *out != NULL ? IDP_OK : IDP_EINVAL;
out:
	BN_free(a);
	BN_free(b);
	free(sa);
	free(sb);
	return rc;
}

/* A key an engine holds (in a PKCS#11 token, pkcs11.c) answers no provider
 * parameters: its public half, re-read from its DER encoding, does. */
int jwk_from_pkey(EVP_PKEY *pkey, json_t **out)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int n, rc;

	if ((rc = jwk_from_params(pkey, out)) == IDP_OK)
		return rc;
	ERR_clear_error();
	if ((n = i2d_PUBKEY(pkey, &der)) <= 0)
		return rc;
	p = der;
	if ((pub = d2i_PUBKEY(NULL, &p, n)) != NULL)
		rc = jwk_from_params(pub, out);
	EVP_PKEY_free(pub);
	OPENSSL_free(der);
	ERR_clear_error();
	return rc;
}

/* RFC 7638: SHA-256 over the required members in lexicographic order, no
 * whitespace. jansson's JSON_SORT_KEYS|JSON_COMPACT gives exactly that. */
int jwk_thumbprint(const json_t *jwk, char out[48])
{
	const char *kty = json_string_value(json_object_get(jwk, "kty"));
	json_t *req;
	char *s, *t;
	unsigned char d[SHA256_DIGEST_LENGTH];

	if (kty == NULL)
		return IDP_EINVAL;
	if (strcmp(kty, "EC") == 0)
		req = json_pack("{s:O,s:O,s:O,s:O}", "crv", json_object_get(jwk, "crv"), "kty",
				json_object_get(jwk, "kty"), "x", json_object_get(jwk, "x"), "y",
				json_object_get(jwk, "y"));
	else if (strcmp(kty, "RSA") == 0)
		req = json_pack("{s:O,s:O,s:O}", "e", json_object_get(jwk, "e"), "kty",
				json_object_get(jwk, "kty"), "n", json_object_get(jwk, "n"));
	else
		return IDP_EINVAL;
	if (req == NULL)
		return IDP_EINVAL;
	s = json_dumps(req, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(req);
	if (s == NULL)
		return IDP_ENOMEM;
	sha256(s, strlen(s), d);
	free(s);
	if ((t = b64url_encode(d, sizeof(d))) == NULL)
		return IDP_ENOMEM;
	snprintf(out, 48, "%s", t);
	free(t);
	return IDP_OK;
}
