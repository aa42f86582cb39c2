/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the shared JOSE pieces (common/jose.c): JWE round trips with
 * both key managements, and what decryption refuses (another key, a changed
 * header, ciphertext or tag, an alg or enc not ours); JWS signatures of
 * each algorithm, and JWK import (public only, curve checked). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "check_main.h"
#include "jose.h"

static EVP_PKEY *gen(bool rsa)
{
	return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048) : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

/* Flips one character of part (0-4) of a compact token. */
static char *flip(const char *tok, int part)
{
	char *t = strdup(tok), *p = t;

	for (int i = 0; i < part; i++)
		p = strchr(p, '.') + 1;
	*p = *p == 'A' ? 'B' : 'A';
	return t;
}

static void roundtrip(enum jose_enc_alg alg, bool rsa)
{
	EVP_PKEY *k = gen(rsa), *other = gen(rsa);
	const char msg[] = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
	unsigned char *pt = NULL;
	size_t n = 0;
	char *tok = NULL, *cty = NULL, *bad;

	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(jose_jwe_encrypt(k, alg, "kid-1", "JWT", msg, strlen(msg), &tok), JOSE_OK);
	ck_assert(jose_is_jwe(tok, strlen(tok)));
	ck_assert_int_eq(jose_jwe_decrypt(k, tok, strlen(tok), 65536, &pt, &n, &cty), JOSE_OK);
	ck_assert_uint_eq(n, strlen(msg));
	ck_assert_str_eq((char *)pt, msg);
	ck_assert_str_eq(cty, "JWT");
	free(pt);
	free(cty);
	/* Another key of the same type: refused, nothing out. */
	ck_assert_int_ne(jose_jwe_decrypt(other, tok, strlen(tok), 65536, &pt, &n, &cty), JOSE_OK);
	ck_assert_ptr_null(pt);
	/* Each part changed: refused (the header is the additional data). */
	for (int part = 0; part < 5; part++) {
		if (part == 1 && alg == JOSE_ECDH_ES)
			continue; /* empty: nothing to change */
		bad = flip(tok, part);
		ck_assert_int_ne(jose_jwe_decrypt(k, bad, strlen(bad), 65536, &pt, &n, &cty), JOSE_OK);
		free(bad);
	}
	/* Longer than the caller's bound: refused before anything. */
	ck_assert_int_eq(jose_jwe_decrypt(k, tok, strlen(tok), 100, &pt, &n, &cty), JOSE_EINVAL);
	/* A key of the other type for this alg: refused at once. */
	EVP_PKEY_free(other);
	other = gen(!rsa);
	ck_assert_int_eq(jose_jwe_encrypt(other, alg, NULL, NULL, "x", 1, &bad), JOSE_EINVAL);
	free(tok);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
}

START_TEST(t_jwe_rsa_oaep_256)
{
	roundtrip(JOSE_RSA_OAEP_256, true);
}
END_TEST

START_TEST(t_jwe_ecdh_es)
{
	roundtrip(JOSE_ECDH_ES, false);
}
END_TEST

START_TEST(t_jwe_header_refusals)
{
	/* alg "dir", "RSA-OAEP" (SHA-1), enc A128CBC-HS256, a crit: refused
	 * whatever follows (the header is read before any key is used). */
	static const char *const hdrs[] = {
		"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0",                   /* dir */
		"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ",           /* RSA-OAEP */
		"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0", /* A128CBC-HS256 */
		"eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwiY3JpdCI6WyJ4Il19", /* crit */
	};
	EVP_PKEY *k = gen(true);
	unsigned char *pt;
	size_t n;
	char *cty, tok[512];

	for (size_t i = 0; i < sizeof(hdrs) / sizeof(*hdrs); i++) {
		snprintf(tok, sizeof(tok), "%s.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", hdrs[i]);
		ck_assert_int_eq(jose_jwe_decrypt(k, tok, strlen(tok), 65536, &pt, &n, &cty), JOSE_EINVAL);
	}
	ck_assert(!jose_is_jwe("a.b.c", 5));
	EVP_PKEY_free(k);
}
END_TEST

START_TEST(t_sig_and_jwk)
{
	static const enum jose_sig_alg algs[] = {JOSE_ES256, JOSE_RS256, JOSE_PS256};
	const char in[] = "header.payload";
	unsigned char *sig = NULL;
	size_t sl = 0;

	for (size_t i = 0; i < 3; i++) {
		EVP_PKEY *k = gen(algs[i] != JOSE_ES256);

		ck_assert_int_eq(jose_sig_sign(k, algs[i], in, strlen(in), &sig, &sl), JOSE_OK);
		ck_assert_int_eq(jose_sig_verify(k, algs[i], in, strlen(in), sig, sl), JOSE_OK);
		ck_assert_int_eq(jose_sig_verify(k, algs[i], "header.payloaD", strlen(in), sig, sl), JOSE_EDENIED);
		if (algs[i] != JOSE_ES256) /* RS256 and PS256 never stand in for each other */
			ck_assert_int_eq(jose_sig_verify(k, algs[i] == JOSE_RS256 ? JOSE_PS256 : JOSE_RS256, in,
							 strlen(in), sig, sl), JOSE_EDENIED);
		else
			ck_assert_int_eq(jose_sig_verify(k, JOSE_RS256, in, strlen(in), sig, sl), JOSE_EDENIED);
		free(sig);
		EVP_PKEY_free(k);
	}
	ck_assert_int_eq(jose_sig_alg_parse("HS256"), JOSE_SIG_NONE);
	ck_assert_int_eq(jose_sig_alg_parse("none"), JOSE_SIG_NONE);
	ck_assert_int_eq(jose_enc_alg_parse("RSA-OAEP"), JOSE_ENC_NONE);
	{
		/* A P-256 point that is not on the curve, and another curve. */
		json_t *off = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-256",
					"x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
					"y", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE");
		json_t *p384 = json_pack("{s:s,s:s,s:s,s:s}", "kty", "EC", "crv", "P-384", "x", "AA", "y", "AA");
		json_t *small = json_pack("{s:s,s:s,s:s}", "kty", "RSA", "n", "AQAB", "e", "AQAB");
		EVP_PKEY *k = NULL;

		ck_assert_int_ne(jose_jwk_public(off, &k), JOSE_OK);
		ck_assert_int_ne(jose_jwk_public(p384, &k), JOSE_OK);
		ck_assert_int_ne(jose_jwk_public(small, &k), JOSE_OK);
		ck_assert_ptr_null(k);
		json_decref(off);
		json_decref(p384);
		json_decref(small);
	}
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("jose", t_jwe_rsa_oaep_256, t_jwe_ecdh_es, t_jwe_header_refusals, t_sig_and_jwk);
}
