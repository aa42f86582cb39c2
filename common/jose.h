/* SPDX-License-Identifier: Apache-2.0 */
/* The JOSE pieces the daemon and librp share, on OpenSSL 3: a public key
 * from a JWK (RFC 7517/7518 6), JWS signatures with a key of any origin
 * (RS256, PS256, ES256: client assertions, RFC 7523), and compact JWE
 * (RFC 7516) with RSA-OAEP-256 or ECDH-ES and A256GCM. cjose 0.6.2, the
 * Debian JOSE library, has no RSA-OAEP-256 and hands headers to jansson
 * without a bound, so these few primitives are written here, once. */
#ifndef IDP_COMMON_JOSE_H
#define IDP_COMMON_JOSE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

enum jose_result { JOSE_OK = 0, JOSE_ENOMEM = -1, JOSE_EINVAL = -2, JOSE_EDENIED = -3 };

/* Signature algorithms accepted from outside: never "none", never HS*. */
enum jose_sig_alg { JOSE_SIG_NONE = 0, JOSE_ES256, JOSE_RS256, JOSE_PS256 };
/* Key management of a JWE; the content encryption is always A256GCM. */
enum jose_enc_alg { JOSE_ENC_NONE = 0, JOSE_RSA_OAEP_256, JOSE_ECDH_ES };

#define JOSE_ENC_A256GCM "A256GCM"

enum jose_sig_alg jose_sig_alg_parse(const char *name); /* JOSE_SIG_NONE when unknown */
const char *jose_sig_alg_name(enum jose_sig_alg a);
enum jose_enc_alg jose_enc_alg_parse(const char *name); /* JOSE_ENC_NONE when unknown */
const char *jose_enc_alg_name(enum jose_enc_alg a);

/* The public key of a JWK: "RSA" (n, e; a modulus of 2048 to 8192 bits) or
 * "EC" on P-256 (x, y: a point of the curve). *out is the caller's. */
int jose_jwk_public(const json_t *jwk, EVP_PKEY **out);
/* Whether a key can serve an algorithm (RSA for RS256/PS256/RSA-OAEP-256,
 * EC P-256 for ES256/ECDH-ES). */
bool jose_key_fits_sig(EVP_PKEY *k, enum jose_sig_alg a);
bool jose_key_fits_enc(EVP_PKEY *k, enum jose_enc_alg a);

/* The signature of a JWS signing input: ES256 as R || S (64 bytes). */
int jose_sig_verify(EVP_PKEY *k, enum jose_sig_alg a, const void *input, size_t inlen,
		    const unsigned char *sig, size_t siglen);
/* *sig is malloc'ed, the caller's (ES256: 64 bytes R || S). */
int jose_sig_sign(EVP_PKEY *k, enum jose_sig_alg a, const void *input, size_t inlen,
		  unsigned char **sig, size_t *siglen);

/* A compact JWE of pt to the public key k, with alg and A256GCM; kid and cty
 * go into the protected header when not NULL. *out is the caller's. */
int jose_jwe_encrypt(EVP_PKEY *k, enum jose_enc_alg alg, const char *kid, const char *cty,
		     const void *pt, size_t n, char **out);
/* Decrypts a compact JWE (at most max bytes of text) with the private key
 * k: the header must name alg (one of ours, fitting k) and A256GCM, and
 * no "crit"; the tag must match. *pt (NUL-terminated, n bytes) is the
 * caller's; *cty the header's cty or NULL (malloc'ed, the caller's). */
int jose_jwe_decrypt(EVP_PKEY *k, const char *tok, size_t len, size_t max, unsigned char **pt,
		     size_t *n, char **cty);
/* Whether a compact token is a JWE (five parts) rather than a JWS (three). */
bool jose_is_jwe(const char *tok, size_t len);

#endif
