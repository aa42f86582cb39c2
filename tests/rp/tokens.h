/* SPDX-License-Identifier: EUPL-1.2 */
/* Test keys and hand-made tokens: signs whatever header and payload a test
 * asks for, so each refusal can be crafted on purpose. */
#ifndef RP_TEST_TOKENS_H
#define RP_TEST_TOKENS_H

#include <stddef.h>

#include <openssl/evp.h>

struct tkey {
	EVP_PKEY *pkey;
	char kid[64];
	char *pem;      /* the public key as PEM, for the HS256 confusion attack */
};

int tkey_ec(struct tkey *k, const char *kid, const char *group); /* "P-256" ... */
int tkey_rsa(struct tkey *k, const char *kid, int bits);
void tkey_free(struct tkey *k);
/* Public JWK as JSON text; alg and use may be NULL. Caller frees. */
char *tkey_jwk(const struct tkey *k, const char *alg, const char *use);
/* {"keys":[ jwk, ... ]} from JWK texts; caller frees. */
char *jwks_of(const char *const *jwks, size_t n);

char *b64url(const void *data, size_t len);
/* header NULL means {"alg":alg,"kid":kid,"typ":"JWT"}. Caller frees. */
char *tok_sign(const struct tkey *k, const char *alg, const char *header, const char *payload);
char *tok_hmac(const void *key, size_t keylen, const char *alg, const char *header,
	       const char *payload);
/* header.payload.sig from texts, the signature given as base64url. */
char *tok_raw(const char *header, const char *payload, const char *sig_b64);

#endif
