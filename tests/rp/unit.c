/* SPDX-License-Identifier: EUPL-1.2 */
/* librp unit tests (Check): codecs, the JSON scanner against jansson,
 * every refusal of a crafted token with its own code, the JWKS cache and
 * its refetch limits against a provider in this process, and the front and
 * back channels against the same scripted provider. */
#include "rp_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <cjose/cjose.h>
#include <curl/curl.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include "mockop.h"
#include "tokens.h"

#define NONCE "n-0123456789abcdefghijklmnopqrstuv"
#define T0 1700000000
#define SECRET "s3cret:&= with spaces"

/* Keys made once in main(), before Check forks a child per test. */
static struct tkey k_ec, k_rsa, k_ec2, k_ec384;
static char *jwk_ec, *jwk_rsa, *jwk_ec2, *jwk_ec384;

/* Per-test state, made in the child by the checked fixture. */
static struct mockop *op;
static struct rp_config *cfg;
static time_t fake_now;

static time_t test_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

/* Valgrind looks for memory errors, not for rare interleavings: its run
 * (tests/rp/run.sh sets RP_UNIT_LIGHT) does a tenth of the loops that the
 * sanitizer run does in full, which keeps make test short. */
static int loops(int n)
{
	return getenv("RP_UNIT_LIGHT") != NULL ? (n + 9) / 10 : n;
}

static void serve_keys(const char *const *jwks, size_t n)
{
	char *set = jwks_of(jwks, n);

	mockop_set_jwks(op, set);
	free(set);
}

static void setup(void)
{
	const char *keys[] = { jwk_ec, jwk_rsa, jwk_ec384 };
	struct rp_error err;
	char redirect[128];

	op = mockop_start();
	ck_assert_ptr_nonnull(op);
	serve_keys(keys, 3);
	snprintf(redirect, sizeof(redirect), "%s/cb", mockop_issuer(op));
	cfg = rp_config_new(mockop_issuer(op), "svc-a", SECRET, redirect, &err);
	ck_assert_msg(cfg != NULL, "rp_config_new: %s", err.message);
	ck_assert_int_eq(rp_config_set_http_loopback(cfg, true), RP_OK);
	ck_assert_int_eq(rp_config_set_timeouts(cfg, 2000, 5000), RP_OK);
	fake_now = T0;
	ck_assert_int_eq(rp_config_set_clock(cfg, test_clock, NULL), RP_OK);
}

static void teardown(void)
{
	rp_config_free(cfg);
	mockop_free(op);
	cfg = NULL;
	op = NULL;
}

/* A valid ID token payload for svc-a, changed by override: its members
 * replace the defaults, a null member removes one. Caller frees. */
static char *payload(const char *override)
{
	json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", mockop_issuer(op),
			      "sub", "citizen-42", "aud", "svc-a", "iat", (json_int_t)T0, "exp",
			      (json_int_t)T0 + 60, "nonce", NONCE, "acr", "eidas2");
	json_t *o = override != NULL ? json_loads(override, 0, NULL) : NULL;
	const char *key;
	json_t *v;
	void *tmp;
	char *s;

	ck_assert_ptr_nonnull(p);
	ck_assert(override == NULL || o != NULL);
	json_object_foreach_safe(o, tmp, key, v) {
		if (json_is_null(v))
			json_object_del(p, key);
		else
			json_object_set(p, key, v);
	}
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	json_decref(o);
	return s;
}

static char *es256(const char *override)
{
	char *p = payload(override), *t = tok_sign(&k_ec, "ES256", NULL, p);

	free(p);
	ck_assert_ptr_nonnull(t);
	return t;
}

static char *es256_kid(const char *kid, const char *override)
{
	char hdr[128], *p = payload(override), *t;

	snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", kid);
	t = tok_sign(&k_ec, "ES256", hdr, p);
	free(p);
	ck_assert_ptr_nonnull(t);
	return t;
}

/* Verifies and checks the code, that err agrees, and that claims come back
 * only on success. Frees the token. */
static void expect(char *token, const char *nonce, int want)
{
	struct rp_error err;
	json_t *claims = (json_t *)1;
	int rc;

	rc = rp_verify_id_token(cfg, token, nonce, &claims, &err);
	ck_assert_msg(rc == want, "got %d (%s), want %d", rc, err.message, want);
	ck_assert_int_eq(err.code, rc);
	if (rc == RP_OK) {
		ck_assert_ptr_nonnull(claims);
		ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), "citizen-42");
	} else {
		ck_assert_ptr_null(claims);
		ck_assert(err.message[0] != '\0');
	}
	json_decref(claims);
	free(token);
}

/* ------------------------------------------------------------------ */
/* codecs */

START_TEST(b64url_roundtrip)
{
	unsigned char in[64], out[64];
	size_t len, olen;
	char *enc;

	for (len = 0; len < sizeof(in); len++) {
		in[len] = (unsigned char)(len * 37 + 11);
		enc = b64url_encode(in, len);
		ck_assert_ptr_nonnull(enc);
		ck_assert_int_eq(rp_b64url_decode(enc, strlen(enc), out, sizeof(out), &olen), RP_OK);
		ck_assert_uint_eq(olen, len);
		ck_assert(memcmp(in, out, len) == 0);
		free(enc);
	}
}
END_TEST

START_TEST(b64url_strict)
{
	static const char *const bad[] = { "QQ==", "QQ=", "Q", "QUJD+A", "QUJD/A", "QU JD", "QU\nJD",
					   "AB", "ABC", "QUJ*", "\xc3\xa9\xc3\xa9" };
	unsigned char out[16];
	size_t i, olen;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(rp_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &olen) != RP_OK,
			      "accepted \"%s\"", bad[i]);
	ck_assert_int_eq(rp_b64url_decode("QQ", 2, out, sizeof(out), &olen), RP_OK);
	ck_assert_uint_eq(olen, 1);
	ck_assert_int_eq(rp_b64url_decode("QUI", 3, out, sizeof(out), &olen), RP_OK);
	ck_assert_uint_eq(olen, 2);
	ck_assert_int_eq(rp_b64url_decode("QUJDRA", 6, out, 3, &olen), RP_E_TOO_BIG);
}
END_TEST

static int scan(const char *text, size_t *n)
{
	static struct rp_jmember m[64];
	char *copy = strdup(text);
	int rc = rp_json_scan(copy, strlen(text), m, 64, n);

	free(copy);
	return rc;
}

START_TEST(json_scan_refusals)
{
	static const char *const bad[] = {
		"", "[]", "\"s\"", "1", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1}x",
		"{\"a\":01}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":-}", "{\"a\":1e}", "{\"a\":+1}",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\":'x'}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u00\"}",
		"{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
		"{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc0\xaf\"}",
		"{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe2\x82\"}",
		"{\"a\":1,\"a\":2}", "{\"a\":1,\"\\u0061\":2}", "{\"a\":99999999999999999999}",
		"{\"a\":1e999}", "{\"a\":[1,]}", "{\"a\":[,1]}", "{\"a\":{\"b\"}}", "{\"a\":\"x}",
	};
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(scan(bad[i], &n) != RP_OK, "accepted %s", bad[i]);
}
END_TEST

START_TEST(json_scan_accepts)
{
	static const char *const good[] = {
		"{}", " {\"a\" : 1 } \n", "{\"a\":-0,\"b\":1.5e-3,\"c\":1E+2,\"d\":true,\"e\":false}",
		"{\"a\":null,\"b\":[],\"c\":{},\"d\":[1,[2,[3]]],\"e\":{\"x\":{\"y\":1}}}",
		"{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac \xf0\x9f\x98\x80\"}",
		"{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}",
		"{\"n\":{\"a\":1,\"a\":2}}", "{\"a\":1e-400}", "{\"a\":9223372036854775807}",
	};
	size_t i, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(scan(good[i], &n) == RP_OK, "refused %s", good[i]);
}
END_TEST

START_TEST(json_depth_and_members)
{
	char doc[512];
	size_t i, o, n;
	struct rp_jmember m[4];

	/* depth 64 (the object plus 63 arrays) passes, 65 does not */
	for (int depth = 63; depth <= 64; depth++) {
		o = (size_t)snprintf(doc, sizeof(doc), "{\"a\":");
		for (i = 0; i < (size_t)depth; i++)
			doc[o++] = '[';
		for (i = 0; i < (size_t)depth; i++)
			doc[o++] = ']';
		snprintf(doc + o, sizeof(doc) - o, "}");
		ck_assert_int_eq(scan(doc, &n), depth == 63 ? RP_OK : RP_E_MALFORMED);
	}
	snprintf(doc, sizeof(doc), "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5}");
	ck_assert_int_eq(rp_json_scan(doc, strlen(doc), m, 4, &n), RP_E_TOO_BIG);
	/* escaped names are decoded, and then compared */
	snprintf(doc, sizeof(doc), "{\"\\u0069ss\":\"x\\/y\",\"n\":1700000000.9}");
	ck_assert_int_eq(rp_json_scan(doc, strlen(doc), m, 4, &n), RP_OK);
	ck_assert_ptr_nonnull(rp_json_get(m, n, "iss"));
	ck_assert(rp_json_str_eq(rp_json_get(m, n, "iss"), "x/y", false));
	ck_assert(rp_json_str_eq(rp_json_get(m, n, "iss"), "x/y", true));
	{
		int64_t t;
		ck_assert(rp_json_time(rp_json_get(m, n, "n"), &t));
		ck_assert_int_eq(t, 1700000000);
	}
}
END_TEST

/* Differential test: random mutations of JSON documents; whatever jansson
 * accepts without duplicates, the scanner accepts and builds the same
 * value; whatever jansson refuses, the scanner refuses. */
START_TEST(json_matches_jansson)
{
	static const char *const seeds[] = {
		"{\"iss\":\"https://idp.example\",\"aud\":[\"a\",\"b\"],\"exp\":1700000060,"
		"\"n\":{\"x\":[1,2.5,-3e2,true,false,null]},\"s\":\"\\u00e9\\n\\ud83d\\ude00\"}",
		"{\"a\":{\"b\":{\"c\":[[],{}]}},\"e\":\"\xc3\xa9\xe2\x82\xac\",\"f\":0.001}",
		"{}",
	};
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefnrtlsE.-+ \xc3\xa9\x80\xff";
	char buf[512];
	unsigned seed = 12345;
	int i, j, agree = 0;

	for (i = 0; i < loops(30000); i++) {
		const char *s = seeds[i % 3];
		size_t len = strlen(s), n, k;
		struct rp_jmember m[64];
		json_t *strict, *loose, *mine;
		int muts, rc;

		memcpy(buf, s, len + 1);
		muts = 1 + (int)((seed = seed * 1103515245 + 12345) >> 16) % 3;
		for (j = 0; j < muts && len > 0; j++) {
			unsigned r = (seed = seed * 1103515245 + 12345) >> 8;
			size_t pos = r % len;
			char c = alphabet[(r >> 12) % (sizeof(alphabet) - 1)];
			switch ((r >> 20) % 3) {
			case 0: /* replace */
				buf[pos] = c;
				break;
			case 1: /* delete (byte loops: valgrind misreads fortified memmove) */
				for (k = pos; k < len; k++)
					buf[k] = buf[k + 1];
				len--;
				break;
			default: /* insert */
				if (len + 2 < sizeof(buf)) {
					for (k = len + 1; k > pos; k--)
						buf[k] = buf[k - 1];
					buf[pos] = c;
					len++;
				}
			}
		}
		strict = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
		loose = json_loadb(buf, len, 0, NULL);
		{
			char *copy = malloc(len + 1);
			memcpy(copy, buf, len);
			rc = rp_json_scan(copy, len, m, 64, &n);
			mine = rc == RP_OK ? rp_json_build(m, n) : NULL;
			if (rc == RP_OK)
				ck_assert_ptr_nonnull(mine);
			if (json_is_object(strict)) {
				ck_assert_msg(mine != NULL, "refused what jansson accepts: %.*s",
					      (int)len, buf);
				ck_assert_msg(json_equal(mine, strict), "built differently: %.*s",
					      (int)len, buf);
				agree++;
			}
			if (!json_is_object(loose))
				ck_assert_msg(mine == NULL, "accepted what jansson refuses: %.*s",
					      (int)len, buf);
			free(copy);
		}
		json_decref(mine);
		json_decref(strict);
		json_decref(loose);
	}
	ck_assert_int_gt(agree, 100); /* the mutations left enough valid documents */
}
END_TEST

/* ------------------------------------------------------------------ */
/* tokens accepted */

START_TEST(accepts_es256)
{
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
}
END_TEST

START_TEST(accepts_rs256_ps256_es384)
{
	char *p = payload(NULL);

	expect(tok_sign(&k_rsa, "RS256", NULL, p), NONCE, RP_OK);
	expect(tok_sign(&k_rsa, "PS256", NULL, p), NONCE, RP_OK);
	expect(tok_sign(&k_rsa, "RS512", NULL, p), NONCE, RP_OK);
	expect(tok_sign(&k_ec384, "ES384", NULL, p), NONCE, RP_OK);
	free(p);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1); /* keys parsed once, then cached */
}
END_TEST

START_TEST(accepts_without_kid)
{
	char *p = payload(NULL);

	/* No kid: each key of the right type is tried. */
	expect(tok_sign(&k_rsa, "RS256", "{\"alg\":\"RS256\"}", p), NONCE, RP_OK);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\"}", p), NONCE, RP_OK);
	free(p);
}
END_TEST

START_TEST(accepts_within_leeway)
{
	expect(es256("{\"exp\":1699999950}"), NONCE, RP_OK);   /* expired 50 s ago */
	expect(es256("{\"iat\":1700000050}"), NONCE, RP_OK);   /* 50 s ahead */
	expect(es256("{\"exp\":1700000060.75}"), NONCE, RP_OK); /* fractional NumericDate */
	ck_assert_int_eq(rp_config_set_leeway(cfg, 0), RP_OK);
	expect(es256("{\"exp\":1699999999}"), NONCE, RP_E_EXPIRED);
}
END_TEST

START_TEST(claims_are_returned)
{
	struct rp_error err;
	json_t *c = NULL;
	char *t = es256("{\"given_name\":\"Marianne\",\"amr\":[\"pwd\",\"otp\"],"
			"\"birth\":{\"place\":\"75056\",\"\\u00e9\":\"\\u00e9\"}}");

	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, &c, &err), RP_OK);
	ck_assert_str_eq(json_string_value(json_object_get(c, "given_name")), "Marianne");
	ck_assert_str_eq(json_string_value(json_object_get(c, "acr")), "eidas2");
	ck_assert_int_eq(json_integer_value(json_object_get(c, "exp")), T0 + 60);
	ck_assert_uint_eq(json_array_size(json_object_get(c, "amr")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "birth"), "\xc3\xa9")),
			 "\xc3\xa9");
	json_decref(c);
	/* claims may be NULL: same checks, nothing built */
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, NULL, &err), RP_OK);
	/* err may be NULL too */
	ck_assert_int_eq(rp_verify_id_token(cfg, t, "wrong-nonce-0123456789xx", NULL, NULL),
			 RP_E_NONCE);
	free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* tokens refused, one code each */

START_TEST(refuses_bad_signature)
{
	char *t = es256(NULL);
	size_t len = strlen(t);

	/* change one signature character (keeping base64url canonical) */
	t[len - 3] = t[len - 3] == 'A' ? 'B' : 'A';
	expect(t, NONCE, RP_E_SIGNATURE);
}
END_TEST

START_TEST(refuses_signature_of_wrong_length)
{
	char *p = payload(NULL);

	expect(tok_raw("{\"alg\":\"ES256\",\"kid\":\"ec1\"}", p, "AAAA"), NONCE, RP_E_SIGNATURE);
	expect(tok_raw("{\"alg\":\"RS256\",\"kid\":\"rsa1\"}", p, "AAAA"), NONCE, RP_E_SIGNATURE);
	free(p);
}
END_TEST

START_TEST(refuses_alg_none)
{
	char *p = payload(NULL);

	/* the unsigned form has an empty signature: refused for its alg first */
	expect(tok_raw("{\"alg\":\"none\"}", p, ""), NONCE, RP_E_ALG_NONE);
	expect(tok_raw("{\"alg\":\"none\"}", p, "AAAA"), NONCE, RP_E_ALG_NONE);
	expect(tok_raw("{\"alg\":\"none\",\"kid\":\"ec1\"}", p, "AAAA"), NONCE, RP_E_ALG_NONE);
	expect(tok_raw("{\"alg\":\"None\"}", p, "AAAA"), NONCE, RP_E_ALG_NONE);
	expect(tok_raw("{\"alg\":\"n\\u006fne\"}", p, "AAAA"), NONCE, RP_E_ALG_NONE);
	expect(tok_raw("{\"alg\":\"EdDSA\"}", p, "AAAA"), NONCE, RP_E_ALG); /* unknown */
	expect(tok_raw("{\"kid\":\"ec1\"}", p, "AAAA"), NONCE, RP_E_MALFORMED); /* no alg */
	free(p);
	ck_assert_int_eq(mockop_jwks_fetches(op), 0); /* refused before any key lookup */
}
END_TEST

/* The classic confusion: HS256 keyed with the bytes of the public key. */
START_TEST(refuses_hs256_with_public_key)
{
	char *p = payload(NULL), *jwk = tkey_jwk(&k_rsa, NULL, NULL);
	char hdr[] = "{\"alg\":\"HS256\",\"kid\":\"rsa1\"}";

	expect(tok_hmac(k_rsa.pem, strlen(k_rsa.pem), "HS256", hdr, p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	expect(tok_hmac(jwk, strlen(jwk), "HS256", hdr, p), NONCE, RP_E_ALG_KEY_MISMATCH);
	expect(tok_hmac(k_ec.pem, strlen(k_ec.pem), "HS512", NULL, p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	ck_assert_int_eq(mockop_jwks_fetches(op), 0); /* refused from the header alone */
	/* Even where HS256 is allowed (FranceConnect's legacy clients), the
	 * key is the client secret, never a JWKS key: an HMAC keyed with the
	 * public key then simply does not verify with the secret. */
	ck_assert_int_eq(rp_config_set_algs(cfg, "HS256 ES256"), RP_OK);
	expect(tok_hmac(k_rsa.pem, strlen(k_rsa.pem), "HS256", hdr, p), NONCE, RP_E_SIGNATURE);
	expect(tok_hmac(jwk, strlen(jwk), "HS256", hdr, p), NONCE, RP_E_SIGNATURE);
	expect(tok_hmac(SECRET, strlen(SECRET), "HS256", hdr, p), NONCE, RP_OK);
	free(p);
	free(jwk);
}
END_TEST

START_TEST(refuses_alg_not_allowed_or_not_the_keys)
{
	char *p = payload(NULL);

	/* allow-list */
	ck_assert_int_eq(rp_config_set_algs(cfg, "ES256"), RP_OK);
	expect(tok_sign(&k_rsa, "RS256", NULL, p), NONCE, RP_E_ALG);
	ck_assert_int_eq(rp_config_set_algs(cfg, "ES256 RS256 PS256 ES384"), RP_OK);
	/* the header's alg against the key's type and curve */
	expect(tok_sign(&k_rsa, "RS256", "{\"alg\":\"ES256\",\"kid\":\"rsa1\"}", p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"RS256\",\"kid\":\"ec1\"}", p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES384\",\"kid\":\"ec1\"}", p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	expect(tok_sign(&k_ec384, "ES384", "{\"alg\":\"ES256\",\"kid\":\"ec384\"}", p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	free(p);
	ck_assert_int_eq(rp_config_set_algs(cfg, "none"), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_algs(cfg, ""), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_algs(cfg, "ES256 XX999"), RP_E_INVAL);
}
END_TEST

START_TEST(refuses_alg_other_than_the_jwks_alg)
{
	char *rs = tkey_jwk(&k_rsa, "RS256", "sig");
	const char *keys[] = { rs };
	char *p = payload(NULL);

	serve_keys(keys, 1);
	expect(tok_sign(&k_rsa, "RS256", NULL, p), NONCE, RP_OK);
	/* the JWK says RS256: the same key may not be used for PS256 */
	expect(tok_sign(&k_rsa, "PS256", NULL, p), NONCE, RP_E_ALG_KEY_MISMATCH);
	free(p);
	free(rs);
}
END_TEST

START_TEST(refuses_unknown_kid_with_one_refetch)
{
	int i;

	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	/* Right after a fetch, an unknown kid cannot be a rotation we missed:
	 * no refetch within the interval (60 s by default). */
	expect(es256_kid("forged-0", NULL), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	fake_now += 61;
	expect(es256_kid("forged-1", NULL), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2); /* exactly one refetch */
	/* A flood of forged kids within the interval: no fetch at all. */
	for (i = 0; i < 200; i++) {
		char kid[32];
		snprintf(kid, sizeof(kid), "forged-%d", i + 2);
		expect(es256_kid(kid, NULL), NONCE, RP_E_KID);
	}
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
	expect(es256(NULL), NONCE, RP_OK); /* known keys unaffected */
	/* Once the interval has passed, the next unknown kid refetches once. */
	fake_now += 61;
	expect(es256_kid("forged-x", NULL), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 3);
}
END_TEST

START_TEST(refetch_interval_is_configurable)
{
	ck_assert_int_eq(rp_config_set_jwks_cache(cfg, 3600, 86400), RP_OK);
	expect(es256(NULL), NONCE, RP_OK);
	fake_now += 61;
	expect(es256_kid("forged-1", NULL), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	fake_now += 3600;
	expect(es256_kid("forged-2", NULL), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
	ck_assert_int_eq(rp_config_set_jwks_cache(cfg, -1, 10), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_jwks_cache(cfg, 0, 0), RP_E_INVAL);
}
END_TEST

START_TEST(new_key_after_rotation)
{
	const char *rotated[] = { jwk_ec, jwk_rsa, jwk_ec2 };
	char *p;

	expect(es256(NULL), NONCE, RP_OK);
	serve_keys(rotated, 3); /* the provider publishes a new key */
	fake_now += 61;
	p = payload("{\"iat\":1700000061,\"exp\":1700000121}");
	expect(tok_sign(&k_ec2, "ES256", NULL, p), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
	free(p);
}
END_TEST

START_TEST(refuses_expired)
{
	expect(es256("{\"exp\":1699999939}"), NONCE, RP_E_EXPIRED); /* 61 s ago */
	expect(es256("{\"exp\":null}"), NONCE, RP_E_MALFORMED);
	expect(es256("{\"exp\":\"1700000060\"}"), NONCE, RP_E_MALFORMED);
	expect(es256("{\"exp\":-5}"), NONCE, RP_E_MALFORMED);
}
END_TEST

START_TEST(refuses_iat_in_future)
{
	expect(es256("{\"iat\":1700000061,\"exp\":1700000600}"), NONCE, RP_E_IAT_FUTURE);
	expect(es256("{\"iat\":null}"), NONCE, RP_E_MALFORMED);
}
END_TEST

START_TEST(refuses_nbf_in_future)
{
	expect(es256("{\"nbf\":1700000061}"), NONCE, RP_E_NOT_YET_VALID);
	expect(es256("{\"nbf\":1700000000}"), NONCE, RP_OK);
}
END_TEST

START_TEST(refuses_wrong_iss)
{
	expect(es256("{\"iss\":\"https://evil.example\"}"), NONCE, RP_E_ISS);
	expect(es256("{\"iss\":null}"), NONCE, RP_E_ISS);
	expect(es256("{\"iss\":42}"), NONCE, RP_E_ISS);
	{
		/* the issuer plus a trailing slash is another issuer */
		char o[128];
		snprintf(o, sizeof(o), "{\"iss\":\"%s/\"}", mockop_issuer(op));
		expect(es256(o), NONCE, RP_E_ISS);
	}
}
END_TEST

START_TEST(refuses_wrong_aud)
{
	expect(es256("{\"aud\":\"svc-b\"}"), NONCE, RP_E_AUD);
	expect(es256("{\"aud\":null}"), NONCE, RP_E_AUD);
	expect(es256("{\"aud\":[\"svc-b\",\"svc-c\"]}"), NONCE, RP_E_AUD);
	expect(es256("{\"aud\":\"svc-a \"}"), NONCE, RP_E_AUD);
	expect(es256("{\"aud\":[\"svc-a\"]}"), NONCE, RP_OK);
	/* several audiences: azp must be present and be us */
	expect(es256("{\"aud\":[\"svc-a\",\"svc-b\"]}"), NONCE, RP_E_AZP);
	expect(es256("{\"aud\":[\"svc-a\",\"svc-b\"],\"azp\":\"svc-b\"}"), NONCE, RP_E_AZP);
	expect(es256("{\"aud\":[\"svc-a\",\"svc-b\"],\"azp\":\"svc-a\"}"), NONCE, RP_OK);
	expect(es256("{\"azp\":\"svc-b\"}"), NONCE, RP_E_AZP);
	expect(es256("{\"aud\":[\"svc-a\",7]}"), NONCE, RP_E_MALFORMED);
}
END_TEST

START_TEST(refuses_missing_or_wrong_nonce)
{
	expect(es256("{\"nonce\":null}"), NONCE, RP_E_NONCE);
	expect(es256(NULL), "n-0123456789abcdefghijklmnopqrstuX", RP_E_NONCE);
	expect(es256("{\"nonce\":\"" NONCE "x\"}"), NONCE, RP_E_NONCE);
	expect(es256(NULL), NULL, RP_E_NONCE); /* a nonce nobody asked for */
	expect(es256("{\"nonce\":null}"), NULL, RP_OK);
	expect(es256("{\"nonce\":7}"), NONCE, RP_E_NONCE);
}
END_TEST

START_TEST(refuses_low_acr)
{
	struct rp_error err;
	json_t *c = NULL;
	char *t;

	ck_assert_int_eq(rp_config_set_min_acr(cfg, "eidas2", NULL), RP_OK);
	expect(es256(NULL), NONCE, RP_OK); /* eidas2 */
	expect(es256("{\"acr\":\"eidas3\"}"), NONCE, RP_OK);
	expect(es256("{\"acr\":\"eidas1\"}"), NONCE, RP_E_ACR);
	expect(es256("{\"acr\":null}"), NONCE, RP_E_ACR);
	expect(es256("{\"acr\":\"eidas9\"}"), NONCE, RP_E_ACR);
	ck_assert_int_eq(rp_config_set_min_acr(cfg, "eidas4", NULL), RP_E_INVAL);
	/* a page that asks for more than the config's minimum */
	ck_assert_int_eq(rp_config_set_min_acr(cfg, NULL, NULL), RP_OK);
	t = es256(NULL);
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, &c, &err), RP_OK);
	ck_assert_int_eq(rp_check_acr(cfg, c, "eidas2", &err), RP_OK);
	ck_assert_int_eq(rp_check_acr(cfg, c, "eidas3", &err), RP_E_ACR);
	ck_assert_int_eq(rp_check_acr(cfg, c, NULL, &err), RP_OK);
	json_decref(c);
	free(t);
	/* custom levels */
	ck_assert_int_eq(rp_config_set_min_acr(cfg, "substantial", "low substantial high"), RP_OK);
	expect(es256("{\"acr\":\"high\"}"), NONCE, RP_OK);
	expect(es256("{\"acr\":\"low\"}"), NONCE, RP_E_ACR);
}
END_TEST

START_TEST(refuses_tampered_payload)
{
	char *t = es256(NULL), *p = payload("{\"sub\":\"someone-else\"}"), *enc, *out;
	char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
	size_t cap;

	enc = b64url(p, strlen(p));
	cap = strlen(t) + strlen(enc) + 1;
	out = malloc(cap);
	*dot1 = '\0';
	snprintf(out, cap, "%s.%s%s", t, enc, dot2);
	/* Valid base64url, valid JSON, someone else's sub: to a signature
	 * check this is a bad signature, and it is refused as one (rp.h). */
	expect(out, NONCE, RP_E_SIGNATURE);
	free(t);
	free(p);
	free(enc);
}
END_TEST

START_TEST(refuses_malformed)
{
	char *t = es256(NULL), *c;
	char *dot1 = strchr(t, '.');

	c = strdup(t);
	c[dot1 - t + 3] = '*';  /* payload: its base64url is checked first */
	expect(c, NONCE, RP_E_BASE64);
	c = strdup(t);
	c[dot1 - t + 3] = '=';  /* padding is not base64url either */
	expect(c, NONCE, RP_E_BASE64);
	c = strdup(t);
	c[2] = '*';             /* header */
	expect(c, NONCE, RP_E_BASE64);
	c = strdup(t);
	c[strlen(c) - 2] = '=';  /* signature */
	expect(c, NONCE, RP_E_BASE64);
	ck_assert_int_eq(mockop_jwks_fetches(op), 0); /* all refused before any key lookup */
	expect(strdup("not a token"), NONCE, RP_E_MALFORMED);
	expect(strdup("a.b"), NONCE, RP_E_MALFORMED);
	expect(strdup(""), NONCE, RP_E_MALFORMED);
	expect(strdup("a.b.c.d.e"), NONCE, RP_E_DECRYPT); /* JWE, no decryption key */
	expect(strdup("..."), NONCE, RP_E_MALFORMED);
	{
		/* signed, but the payload is not JSON, or repeats a claim */
		char *p = tok_sign(&k_ec, "ES256", NULL, "not json");
		expect(p, NONCE, RP_E_MALFORMED);
		p = tok_sign(&k_ec, "ES256", NULL,
			     "{\"nonce\":\"" NONCE "\",\"nonce\":\"other\",\"sub\":\"x\"}");
		expect(p, NONCE, RP_E_MALFORMED);
		p = tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"crit\":[\"exp\"]}",
			     "{}");
		expect(p, NONCE, RP_E_MALFORMED);
		p = tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"ec1\",\"alg\":\"RS256\"}",
			     "{}");
		expect(p, NONCE, RP_E_MALFORMED);
		p = payload("{\"sub\":null}");
		expect(tok_sign(&k_ec, "ES256", NULL, p), NONCE, RP_E_MALFORMED);
		free(p);
	}
	free(t);
}
END_TEST

/* JSON escapes in alg, kid and acr are decoded, not taken for malformed:
 * "a\/b" is the kid a/b, "eidas\u0032" the acr eidas2. */
static char *with_acr(const char *acr_json)
{
	char *p = payload("{\"acr\":null}"), *out;
	size_t len = strlen(p), cap = len + strlen(acr_json) + 16;

	out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	p[len - 1] = '\0'; /* drop the closing brace */
	snprintf(out, cap, "%s,\"acr\":%s}", p, acr_json);
	free(p);
	return out;
}

START_TEST(escapes_in_header_and_acr)
{
	struct tkey slash = k_ec; /* the same key pair under another kid */
	char *jwk, *p;
	const char *keys[1];

	snprintf(slash.kid, sizeof(slash.kid), "a/b");
	jwk = tkey_jwk(&slash, NULL, "sig");
	keys[0] = jwk;
	serve_keys(keys, 1);
	p = payload(NULL);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a\\/b\"}", p), NONCE, RP_OK);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a/b\"}", p), NONCE, RP_OK);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"E\\u00532\\u00356\",\"kid\":\"\\u0061/b\"}",
			p), NONCE, RP_OK);
	/* decoded, an unknown kid is still unknown, and a decoded alg still
	 * meets the allow-list and the key */
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a\\\\b\"}", p), NONCE,
	       RP_E_KID);
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"\\u0052S256\",\"kid\":\"a/b\"}", p), NONCE,
	       RP_E_ALG_KEY_MISMATCH);
	free(p);
	free(jwk);

	ck_assert_int_eq(rp_config_set_min_acr(cfg, "eidas2", NULL), RP_OK);
	p = with_acr("\"eidas\\u0032\"");
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a/b\"}", p), NONCE, RP_OK);
	free(p);
	p = with_acr("\"\\u0065idas3\"");
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a/b\"}", p), NONCE, RP_OK);
	free(p);
	p = with_acr("\"eidas\\u0031\"");
	expect(tok_sign(&k_ec, "ES256", "{\"alg\":\"ES256\",\"kid\":\"a/b\"}", p), NONCE, RP_E_ACR);
	free(p);
}
END_TEST

START_TEST(refuses_huge_token)
{
	size_t big = 1024 * 1024;
	char *t = malloc(big + 1);

	/* a 1 MB token, refused before any parsing or fetching */
	memset(t, 'A', big);
	t[10] = '.';
	t[big - 10] = '.';
	t[big] = '\0';
	expect(t, NONCE, RP_E_TOO_BIG);
	t = malloc(RP_MAX_TOKEN + 2);
	memset(t, 'A', RP_MAX_TOKEN + 1);
	t[RP_MAX_TOKEN + 1] = '\0';
	expect(t, NONCE, RP_E_TOO_BIG);
	ck_assert_int_eq(mockop_jwks_fetches(op), 0);
	ck_assert_int_eq(mockop_disc_fetches(op), 0);
}
END_TEST

START_TEST(many_claims)
{
	struct rp_error err;
	json_t *c = NULL;
	char extra[8192], *t;
	size_t o;
	int i;

	/* past the 64 claims scanned on the stack, up to the 256 allowed */
	o = (size_t)snprintf(extra, sizeof(extra), "{");
	for (i = 0; i < 150; i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s\"c%d\":%d", i ? "," : "", i, i);
	snprintf(extra + o, sizeof(extra) - o, "}");
	t = es256(extra);
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, &c, &err), RP_OK);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "c149")), 149);
	ck_assert_uint_eq(json_object_size(c), 157);
	json_decref(c);
	free(t);
	o = (size_t)snprintf(extra, sizeof(extra), "{");
	for (i = 0; i < 300; i++)
		o += (size_t)snprintf(extra + o, sizeof(extra) - o, "%s\"c%d\":%d", i ? "," : "", i, i);
	snprintf(extra + o, sizeof(extra) - o, "}");
	expect(es256(extra), NONCE, RP_E_TOO_BIG);
}
END_TEST

START_TEST(distinct_codes_and_messages)
{
	int a, b;

	ck_assert_int_eq(RP_E_LAST, RP_E_REPLAY);
	ck_assert_int_eq(RP_E_DECRYPT, -27);
	ck_assert_int_eq(RP_E_BASE64, -26);
	/* the 1.0 values never move */
	ck_assert_int_eq(RP_E_ALG, -5);
	ck_assert_int_eq(RP_E_SIGNATURE, -7);
	ck_assert_int_eq(RP_E_INSECURE, -23);
	for (a = RP_E_LAST; a <= RP_OK; a++) {
		ck_assert_str_ne(rp_strerror(a), "unknown error");
		for (b = RP_E_LAST; b < a; b++)
			ck_assert_str_ne(rp_strerror(a), rp_strerror(b));
	}
	ck_assert_str_eq(rp_strerror(1), "unknown error");
	ck_assert_str_eq(rp_strerror(-1000), "unknown error");
}
END_TEST

/* ------------------------------------------------------------------ */
/* the JWKS cache */

START_TEST(cache_survives_jwks_down)
{
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	mockop_halt(op); /* the provider goes away */
	expect(es256(NULL), NONCE, RP_OK);
	/* past max_age the keys are stale: the refresh fails, they still work */
	fake_now += 4000;
	expect(es256("{\"iat\":1700004000,\"exp\":1700004060}"), NONCE, RP_OK);
	expect(es256("{\"iat\":1700004000,\"exp\":1700004060}"), NONCE, RP_OK);
	expect(es256_kid("unknown", "{\"iat\":1700004000,\"exp\":1700004060}"), NONCE, RP_E_KID);
}
END_TEST

START_TEST(cache_refreshes_when_stale)
{
	const char *only_rsa[] = { jwk_rsa };

	expect(es256(NULL), NONCE, RP_OK);
	serve_keys(only_rsa, 1); /* the provider withdraws the EC key */
	fake_now += 3601;
	expect(es256("{\"iat\":1700003601,\"exp\":1700003661}"), NONCE, RP_E_KID);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
}
END_TEST

START_TEST(first_fetch_failure_is_rate_limited)
{
	struct rp_error err;
	char *t = es256(NULL);

	mockop_set_jwks_status(op, 503);
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, NULL, &err), RP_E_HTTP);
	mockop_set_jwks_status(op, 200);
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, NULL, &err), RP_E_JWKS);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	fake_now += 60;
	ck_assert_int_eq(rp_verify_id_token(cfg, t, NONCE, NULL, &err), RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
	free(t);
}
END_TEST

/* JWKS fetches authenticate the client (HTTP Basic, as at the token
 * endpoint): the provider trusts no X-Client-Id or ?client_id= for key
 * readiness. The deprecated modes mean the same; NONE fetches anonymously. */
START_TEST(jwks_authenticates_the_client)
{
	const char *cred = "svc-a:s3cret%3A%26%3D%20with%20spaces";
	unsigned char b64[256];
	char want[512], *a;

	EVP_EncodeBlock(b64, (const unsigned char *)cred, (int)strlen(cred));
	snprintf(want, sizeof(want), "Basic %s", b64);
	expect(es256(NULL), NONCE, RP_OK);
	a = mockop_last_jwks_auth(op);
	ck_assert_str_eq(a, want);
	free(a);
	ck_assert_ptr_null(mockop_last_jwks_header(op));
	ck_assert_ptr_null(mockop_last_jwks_query(op));
	for (int how = RP_JWKS_ID_HEADER; how <= RP_JWKS_ID_QUERY; how++) {
		ck_assert_int_eq(rp_config_set_jwks_client_id(cfg, (enum rp_jwks_client_id)how), RP_OK);
		fake_now += 61;
		expect(es256_kid("other", "{\"iat\":1700000061,\"exp\":1700000121}"), NONCE, RP_E_KID);
		a = mockop_last_jwks_auth(op);
		ck_assert_str_eq(a, want);
		free(a);
		ck_assert_ptr_null(mockop_last_jwks_header(op));
		ck_assert_ptr_null(mockop_last_jwks_query(op));
	}
	ck_assert_int_eq(rp_config_set_jwks_client_id(cfg, RP_JWKS_ID_NONE), RP_OK);
	fake_now += 61;
	expect(es256_kid("other", "{\"iat\":1700000122,\"exp\":1700000182}"), NONCE, RP_E_KID);
	ck_assert_ptr_null(mockop_last_jwks_auth(op));
	ck_assert_ptr_null(mockop_last_jwks_header(op));
	ck_assert_ptr_null(mockop_last_jwks_query(op));
	ck_assert_int_eq(mockop_jwks_fetches(op), 4);
}
END_TEST

/* The secret goes only to the origin it already goes to (the token
 * endpoint's): a JWKS published elsewhere is fetched anonymously. */
START_TEST(jwks_secret_stays_at_the_token_origin)
{
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
				 "\"token_endpoint\":\"http://localhost:9/token\",\"jwks_uri\":\"%s/jwks\","
				 "\"response_types_supported\":[\"code\"],\"subject_types_supported\":[\"pairwise\"],"
				 "\"id_token_signing_alg_values_supported\":[\"ES256\"]}");
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	ck_assert_ptr_null(mockop_last_jwks_auth(op));
}
END_TEST

START_TEST(jwks_skips_unusable_keys)
{
	struct rp_keyset *ks = NULL;
	struct rp_error err;
	struct tkey small;
	char *weak, *doc;
	/* EC point not on the curve; RSA key claiming ES256; an encryption
	 * key; a symmetric key; an unknown type; a P-256 x of the wrong size. */
	const char *bad[] = {
		"{\"kty\":\"EC\",\"kid\":\"off\",\"crv\":\"P-256\","
		"\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
		"\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}",
		NULL, NULL, "{\"kty\":\"oct\",\"kid\":\"h\",\"k\":\"c2VjcmV0\"}",
		"{\"kty\":\"OKP\",\"kid\":\"o\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}",
		"{\"kty\":\"EC\",\"kid\":\"short\",\"crv\":\"P-256\",\"x\":\"AQAB\",\"y\":\"AQAB\"}",
		NULL, jwk_ec2,
	};

	ck_assert_int_eq(tkey_rsa(&small, "small", 1024), 0);
	weak = tkey_jwk(&small, NULL, NULL);
	bad[1] = tkey_jwk(&k_rsa, "ES256", NULL);
	bad[2] = tkey_jwk(&k_ec, NULL, "enc");
	bad[6] = weak;
	doc = jwks_of(bad, 8);
	ck_assert_int_eq(rp_keyset_parse(doc, strlen(doc), &ks, &err), RP_OK);
	ck_assert_uint_eq(ks->n, 1); /* only jwk_ec2 */
	ck_assert_str_eq(ks->keys[0].kid, "ec2");
	rp_keyset_put(ks);
	free(doc);
	doc = jwks_of(bad, 7);
	ck_assert_int_eq(rp_keyset_parse(doc, strlen(doc), &ks, &err), RP_E_JWKS);
	ck_assert_ptr_null(ks);
	free(doc);
	ck_assert_int_eq(rp_keyset_parse("[]", 2, &ks, &err), RP_E_JWKS);
	ck_assert_int_eq(rp_keyset_parse("{\"keys\":7}", 10, &ks, &err), RP_E_JWKS);
	free((char *)bad[1]);
	free((char *)bad[2]);
	free(weak);
	tkey_free(&small);
}
END_TEST

/* Keys made and tokens signed by cjose, an independent JOSE library. */
static char *cjose_token(cjose_jwk_t *jwk, const char *alg, const char *kid, const char *payload_)
{
	cjose_err e;
	cjose_header_t *h = cjose_header_new(&e);
	cjose_jws_t *jws;
	const char *ser;
	char *out = NULL;

	cjose_header_set(h, "alg", alg, &e);
	cjose_header_set(h, "kid", kid, &e);
	if ((jws = cjose_jws_sign(jwk, h, (const uint8_t *)payload_, strlen(payload_), &e)) != NULL &&
	    cjose_jws_export(jws, &ser, &e))
		out = strdup(ser);
	cjose_jws_release(jws);
	cjose_header_release(h);
	return out;
}

START_TEST(interop_with_cjose)
{
	static const uint8_t e65537[] = { 1, 0, 1 };
	cjose_err e;
	cjose_jwk_t *ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &e);
	cjose_jwk_t *rsa = cjose_jwk_create_RSA_random(2048, e65537, 3, &e);
	char *jec, *jrsa, *p = payload(NULL);
	const char *keys[2];

	ck_assert(ec != NULL && rsa != NULL);
	cjose_jwk_set_kid(ec, "cj-ec", 5, &e);
	cjose_jwk_set_kid(rsa, "cj-rsa", 6, &e);
	jec = cjose_jwk_to_json(ec, false, &e);
	jrsa = cjose_jwk_to_json(rsa, false, &e);
	keys[0] = jec;
	keys[1] = jrsa;
	serve_keys(keys, 2);
	expect(cjose_token(ec, "ES256", "cj-ec", p), NONCE, RP_OK);
	expect(cjose_token(rsa, "RS256", "cj-rsa", p), NONCE, RP_OK);
	expect(cjose_token(rsa, "PS256", "cj-rsa", p), NONCE, RP_OK);
	free(jec);
	free(jrsa);
	free(p);
	cjose_jwk_release(ec);
	cjose_jwk_release(rsa);
}
END_TEST

struct worker {
	char *tokens[4];        /* valid ES256, valid RS256, unknown kid, bad sig */
	int want[4];
	int failures;
};

static void *verify_worker(void *arg)
{
	struct worker *w = arg;
	struct rp_error err;
	json_t *c;
	int i, rc, n = loops(400);

	for (i = 0; i < n; i++) {
		c = NULL;
		rc = rp_verify_id_token(cfg, w->tokens[i % 4], NONCE, i % 2 ? &c : NULL, &err);
		if (rc != w->want[i % 4])
			w->failures++;
		json_decref(c);
	}
	return NULL;
}

START_TEST(threads_share_one_config)
{
	const char *set_a[] = { jwk_ec, jwk_rsa }, *set_b[] = { jwk_rsa, jwk_ec, jwk_ec2 };
	struct worker w = { .want = { RP_OK, RP_OK, RP_E_KID, RP_E_SIGNATURE } };
	pthread_t th[6];
	char *p = payload(NULL);
	int i;

	w.tokens[0] = tok_sign(&k_ec, "ES256", NULL, p);
	w.tokens[1] = tok_sign(&k_rsa, "RS256", NULL, p);
	w.tokens[2] = es256_kid("nobody", NULL);
	w.tokens[3] = tok_sign(&k_rsa, "RS256", NULL, p);
	{
		char *c = &w.tokens[3][strlen(w.tokens[3]) - 4];
		*c = *c == 'A' ? 'B' : 'A';
	}
	/* every unknown kid may refetch: keys are replaced under the readers */
	ck_assert_int_eq(rp_config_set_jwks_cache(cfg, 0, 3600), RP_OK);
	struct worker ws[6];
	for (i = 0; i < 6; i++) {
		ws[i] = w;
		ck_assert_int_eq(pthread_create(&th[i], NULL, verify_worker, &ws[i]), 0);
	}
	for (i = 0; i < 20; i++)
		serve_keys(i % 2 ? set_a : set_b, i % 2 ? 2 : 3);
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(ws[i].failures, 0);
	}
	for (i = 0; i < 4; i++)
		free(w.tokens[i]);
	free(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* configuration and discovery */

START_TEST(config_validation)
{
	struct rp_error err;
	struct rp_config *c;

	ck_assert_ptr_null(rp_config_new(NULL, "a", "s", "https://rp/cb", &err));
	ck_assert_int_eq(err.code, RP_E_INVAL);
	ck_assert_ptr_null(rp_config_new("ftp://idp", "a", "s", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp/?x=1", "a", "s", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp/#f", "a", "s", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp", "", "s", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp", "a\r\nX: y", "s", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp", "a", "s\n", "https://rp/cb", &err));
	ck_assert_ptr_null(rp_config_new("https://idp", "a", "s", "not a url", &err));
	c = rp_config_new("https://idp.example", "a", NULL, "https://rp.example/cb", &err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(rp_config_set_leeway(c, -1), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_leeway(c, 601), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_timeouts(c, 0, 10), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_auth_method(c, (enum rp_auth_method)7), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_jwks_client_id(c, (enum rp_jwks_client_id)7), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_ca_file(c, "/etc/ssl/certs/ca-certificates.crt"), RP_OK);
	rp_config_free(c);
	rp_config_free(NULL);
}
END_TEST

START_TEST(discovery_checks)
{
	struct rp_error err;

	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	ck_assert_int_eq(mockop_disc_fetches(op), 1);
	mockop_set_discovery(op, "{\"issuer\":\"https://evil.example\","
			     "\"authorization_endpoint\":\"%s/a\",\"token_endpoint\":\"%s/t\","
			     "\"jwks_uri\":\"%s/jwks\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_E_ISS);
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"http://example.com/token\",\"jwks_uri\":\"%s/j\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_E_INSECURE);
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"%s/t\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_E_DISCOVERY);
	mockop_set_discovery(op, "[\"%s\"]");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_E_DISCOVERY);
	/* http is refused unless loopback http was allowed */
	mockop_set_discovery(op, NULL);
	ck_assert_int_eq(rp_config_set_http_loopback(cfg, false), RP_OK);
	ck_assert_int_eq(rp_discover(cfg, &err), RP_E_INSECURE);
	/* the earlier good document is still cached and used */
	ck_assert_int_eq(rp_config_set_http_loopback(cfg, true), RP_OK);
	expect(es256(NULL), NONCE, RP_OK);
}
END_TEST

/* One discovery fetch serves every call; once a day it is refreshed, and
 * if the provider is down then, the old document keeps working. */
START_TEST(discovery_cached)
{
	struct rp_auth_request req;
	struct rp_tokens t;
	struct rp_error err;
	json_t *c = NULL;
	char *url = NULL, *p;
	time_t later;

	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_OK);
	rp_auth_request_release(&req);
	mockop_set_token(op, 200, "application/json",
			 "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\","
			 "\"id_token\":\"h.p.s\"}");
	ck_assert_int_eq(rp_exchange_code(cfg, "code-1", "verifier-1", &t, &err), RP_OK);
	rp_tokens_release(&t);
	expect(es256(NULL), NONCE, RP_OK);
	mockop_set_userinfo(op, 200, "application/json", "{\"sub\":\"citizen-42\"}");
	ck_assert_int_eq(rp_userinfo(cfg, "at-1", "citizen-42", &c, &err), RP_OK);
	json_decref(c);
	ck_assert_int_eq(rp_logout_url(cfg, "h.p.s", NULL, NULL, &url, &err), RP_OK);
	free(url);
	ck_assert_int_eq(mockop_disc_fetches(op), 1);

	/* a day later: one refresh */
	fake_now += RP_DISC_MAX_AGE + 1;
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_OK);
	rp_auth_request_release(&req);
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_OK);
	rp_auth_request_release(&req);
	ck_assert_int_eq(mockop_disc_fetches(op), 2);

	/* another day, and the provider is down: the refresh fails, and the
	 * cached document (and keys) go on serving every call that needs no
	 * other request to the provider */
	fake_now += RP_DISC_MAX_AGE + 1;
	mockop_halt(op);
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_OK);
	ck_assert_msg(strncmp(req.url, mockop_issuer(op), strlen(mockop_issuer(op))) == 0 &&
			      strstr(req.url, "/authorize?") != NULL, "%s", req.url);
	rp_auth_request_release(&req);
	fake_now += RP_DISC_RETRY; /* and again, once the retry delay has passed */
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_OK);
	rp_auth_request_release(&req);
	ck_assert_int_eq(rp_logout_url(cfg, "h.p.s", NULL, NULL, &url, &err), RP_OK);
	ck_assert(strstr(url, "/logout?") != NULL);
	free(url);
	later = fake_now;
	p = malloc(128);
	snprintf(p, 128, "{\"iat\":%lld,\"exp\":%lld}", (long long)later,
		 (long long)later + 60);
	expect(es256(p), NONCE, RP_OK);
	free(p);
	/* the token endpoint is down too: a network error, not a discovery one */
	ck_assert_int_eq(rp_exchange_code(cfg, "code-2", "verifier-2", &t, &err), RP_E_NETWORK);
	ck_assert_msg(strncmp(err.message, "rp_exchange_code", 16) == 0, "%s", err.message);
	ck_assert_int_eq(mockop_disc_fetches(op), 2);
}
END_TEST

/* A new jwks_uri in a fresh discovery document: the keys cached from the
 * old one are dropped and fetched from the new one at once; the same
 * jwks_uri keeps them. */
START_TEST(discovery_new_jwks_uri_drops_keys)
{
	static const char moved[] =
		"{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
		"\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/jwks?v=2\"}";
	static const char gone[] =
		"{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
		"\"token_endpoint\":\"%s/token\",\"jwks_uri\":\"%s/nokeys\"}";
	struct rp_error err;

	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK); /* same jwks_uri */
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 1);
	mockop_set_discovery(op, moved);
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	expect(es256(NULL), NONCE, RP_OK);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2); /* fetched anew, no interval wait */
	/* a jwks_uri with nothing behind it: the old keys are not trusted */
	mockop_set_discovery(op, gone);
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	expect(es256(NULL), NONCE, RP_E_HTTP);
	ck_assert_int_eq(mockop_jwks_fetches(op), 2);
}
END_TEST

/* A refused rp_config_set_min_acr() changes nothing, levels included. */
START_TEST(min_acr_refusal_changes_nothing)
{
	ck_assert_int_eq(rp_config_set_min_acr(cfg, "eidas2", NULL), RP_OK);
	ck_assert_int_eq(rp_config_set_min_acr(cfg, "bogus", "low substantial high"), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_min_acr(cfg, "eidas1", "   "), RP_E_INVAL);
	expect(es256("{\"acr\":\"eidas2\"}"), NONCE, RP_OK);
	expect(es256("{\"acr\":\"eidas1\"}"), NONCE, RP_E_ACR);
	expect(es256("{\"acr\":\"high\"}"), NONCE, RP_E_ACR);
	ck_assert_int_eq(rp_config_set_min_acr(cfg, NULL, "low high"), RP_OK);
	expect(es256("{\"acr\":\"anything\"}"), NONCE, RP_OK); /* no minimum any more */
}
END_TEST

START_TEST(discovery_down)
{
	struct rp_error err;
	struct rp_auth_request req;

	mockop_halt(op);
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_E_NETWORK);
	ck_assert_ptr_null(req.url);
	/* no hammering: within 10 s, no new attempt (nothing listens anyway) */
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req, &err), RP_E_NETWORK);
	ck_assert(strstr(err.message, "last attempt") != NULL);
}
END_TEST

/* ------------------------------------------------------------------ */
/* front channel */

static char *qparam(const char *url, const char *name)
{
	const char *q = strchr(url, '?'), *p;
	size_t nlen = strlen(name);
	int outlen;
	char *v, *r;

	for (p = q; p != NULL; p = strchr(p + 1, '&')) {
		if (strncmp(p + 1, name, nlen) == 0 && p[1 + nlen] == '=') {
			const char *start = p + 2 + nlen;
			size_t len = strcspn(start, "&");
			v = curl_easy_unescape(NULL, start, (int)len, &outlen);
			r = strdup(v);
			curl_free(v);
			return r;
		}
	}
	return NULL;
}

static void assert_param(const char *url, const char *name, const char *want)
{
	char *v = qparam(url, name);

	if (want == NULL) {
		ck_assert_msg(v == NULL, "%s present", name);
		return;
	}
	ck_assert_msg(v != NULL, "%s missing from %s", name, url);
	ck_assert_str_eq(v, want);
	free(v);
}

START_TEST(auth_url_generates)
{
	struct rp_auth_params p = { .scope = "profile email", .acr_values = "eidas2",
				    .prompt = "login consent", .ui_locales = "fr en", .max_age = 300 };
	const char *extra[] = { "idp_hint", "fip1 & co", NULL };
	unsigned char digest[SHA256_DIGEST_LENGTH];
	struct rp_auth_request req, req2;
	struct rp_error err;
	char *challenge, redirect[128];

	p.extra = extra;
	ck_assert_int_eq(rp_auth_url(cfg, &p, &req, &err), RP_OK);
	ck_assert(strncmp(req.url, mockop_issuer(op), strlen(mockop_issuer(op))) == 0);
	ck_assert(strstr(req.url, "/authorize?") != NULL);
	assert_param(req.url, "response_type", "code");
	assert_param(req.url, "client_id", "svc-a");
	snprintf(redirect, sizeof(redirect), "%s/cb", mockop_issuer(op));
	assert_param(req.url, "redirect_uri", redirect);
	assert_param(req.url, "scope", "openid profile email");
	assert_param(req.url, "acr_values", "eidas2");
	assert_param(req.url, "prompt", "login consent");
	assert_param(req.url, "ui_locales", "fr en");
	assert_param(req.url, "max_age", "300");
	assert_param(req.url, "idp_hint", "fip1 & co");
	assert_param(req.url, "state", req.state);
	assert_param(req.url, "nonce", req.nonce);
	assert_param(req.url, "code_challenge_method", "S256");
	ck_assert_uint_ge(strlen(req.nonce), 22); /* FranceConnect's minimum */
	ck_assert_uint_eq(strlen(req.nonce), 43);
	ck_assert_uint_eq(strlen(req.state), 43);
	ck_assert_uint_eq(strlen(req.code_verifier), 43);
	SHA256((const unsigned char *)req.code_verifier, strlen(req.code_verifier), digest);
	challenge = b64url(digest, sizeof(digest));
	assert_param(req.url, "code_challenge", challenge);
	free(challenge);
	/* fresh values each time */
	ck_assert_int_eq(rp_auth_url(cfg, NULL, &req2, &err), RP_OK);
	ck_assert_str_ne(req.nonce, req2.nonce);
	ck_assert_str_ne(req.state, req2.state);
	ck_assert_str_ne(req.code_verifier, req2.code_verifier);
	assert_param(req2.url, "scope", "openid");
	assert_param(req2.url, "acr_values", NULL);
	assert_param(req2.url, "prompt", NULL);
	rp_auth_request_release(&req);
	rp_auth_request_release(&req2);
	ck_assert_ptr_null(req.url);
}
END_TEST

START_TEST(auth_url_given_values)
{
	struct rp_auth_params p = { .state = "my-state", .nonce = "my-nonce-is-22-chars-ok",
				    .code_verifier = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv",
				    .scope = "openid" };
	const char *extra[] = { "nonce", "x", NULL };
	struct rp_auth_request req;
	struct rp_error err;

	ck_assert_int_eq(rp_auth_url(cfg, &p, &req, &err), RP_OK);
	ck_assert_str_eq(req.state, "my-state");
	assert_param(req.url, "nonce", "my-nonce-is-22-chars-ok");
	assert_param(req.url, "scope", "openid");
	rp_auth_request_release(&req);
	p.nonce = "short-nonce-21-chars-";
	ck_assert_int_eq(rp_auth_url(cfg, &p, &req, &err), RP_E_INVAL);
	p.nonce = NULL;
	p.code_verifier = "too-short";
	ck_assert_int_eq(rp_auth_url(cfg, &p, &req, &err), RP_E_INVAL);
	p.code_verifier = NULL;
	p.extra = extra; /* may not replace ours */
	ck_assert_int_eq(rp_auth_url(cfg, &p, &req, &err), RP_E_INVAL);
	ck_assert_ptr_null(req.url);
}
END_TEST

static int callback(const char *query, const char *state, char **code, struct rp_error *err)
{
	return rp_parse_callback(cfg, query, state, code, err);
}

START_TEST(callback_parsing)
{
	struct rp_error err;
	char *code = NULL, q[256];

	ck_assert_int_eq(callback("code=abc%2Bd&state=st1", "st1", &code, &err), RP_OK);
	ck_assert_str_eq(code, "abc+d");
	free(code);
	ck_assert_int_eq(callback("https://rp.example/cb?state=st1&code=c+1#frag", "st1", &code, &err),
			 RP_OK);
	ck_assert_str_eq(code, "c 1");
	free(code);
	ck_assert_int_eq(callback("code=abc&state=st2", "st1", &code, &err), RP_E_STATE);
	ck_assert_ptr_null(code);
	ck_assert_int_eq(callback("code=abc", "st1", &code, &err), RP_E_STATE);
	ck_assert_int_eq(callback("code=abc&state=st1", NULL, &code, &err), RP_E_INVAL);
	ck_assert_int_eq(callback("state=st1", "st1", &code, &err), RP_E_MALFORMED);
	ck_assert_int_eq(callback("code=&state=st1", "st1", &code, &err), RP_E_MALFORMED);
	ck_assert_int_eq(callback("code=a&code=b&state=st1", "st1", &code, &err), RP_E_MALFORMED);
	ck_assert_int_eq(callback("code=a%zz&state=st1", "st1", &code, &err), RP_E_MALFORMED);
	ck_assert_int_eq(callback("code=a%00b&state=st1", "st1", &code, &err), RP_E_MALFORMED);
	/* the provider's error, with this login's state */
	ck_assert_int_eq(callback("error=access_denied&error_description=Annul%C3%A9+par+"
				  "l%27usager&state=st1", "st1", &code, &err),
			 RP_E_PROVIDER_ERROR);
	ck_assert_str_eq(err.oauth_error, "access_denied");
	ck_assert(strstr(err.message, "access_denied") != NULL);
	ck_assert(strstr(err.message, "par l'usager") != NULL);
	/* an error without our state is refused as such */
	ck_assert_int_eq(callback("error=access_denied", "st1", &code, &err), RP_E_STATE);
	/* RFC 9207 iss */
	snprintf(q, sizeof(q), "code=c&state=st1&iss=%s", mockop_issuer(op));
	ck_assert_int_eq(callback(q, "st1", &code, &err), RP_OK);
	free(code);
	ck_assert_int_eq(callback("code=c&state=st1&iss=https%3A%2F%2Fevil", "st1", &code, &err),
			 RP_E_ISS);
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"%s/t\",\"jwks_uri\":\"%s/jwks\","
			     "\"authorization_response_iss_parameter_supported\":true}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	ck_assert_int_eq(callback("code=c&state=st1", "st1", &code, &err), RP_E_ISS);
	ck_assert_int_eq(callback(q, "st1", &code, &err), RP_OK);
	free(code);
}
END_TEST

START_TEST(logout_url)
{
	struct rp_error err;
	char *url = NULL;

	ck_assert_int_eq(rp_logout_url(cfg, "eyJ.hint.sig", "https://rp.example/bye", "ls1", &url,
				       &err), RP_OK);
	ck_assert(strstr(url, "/logout?") != NULL);
	assert_param(url, "id_token_hint", "eyJ.hint.sig");
	assert_param(url, "post_logout_redirect_uri", "https://rp.example/bye");
	assert_param(url, "state", "ls1");
	assert_param(url, "client_id", "svc-a");
	free(url);
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"%s/t\",\"jwks_uri\":\"%s/jwks\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	ck_assert_int_eq(rp_logout_url(cfg, "x", NULL, NULL, &url, &err), RP_E_DISCOVERY);
	ck_assert_ptr_null(url);
}
END_TEST

/* rp_introspect against the mock, its introspection_endpoint being the
 * mock's token endpoint (whose answer each step sets): the answer read, the
 * cache bounded by the token's exp and by its maximum age, refusals. */
START_TEST(introspect_answers_and_cache)
{
	struct rp_introspection in;
	struct rp_error err;
	char active[256], *body;

	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"%s/t\",\"jwks_uri\":\"%s/jwks\","
			     "\"introspection_endpoint\":\"%s/token\",\"revocation_endpoint\":\"%s/token\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	snprintf(active, sizeof(active), "{\"active\":true,\"scope\":\"cnaf_qf\",\"client_id\":\"svc\","
		 "\"sub\":\"s1\",\"exp\":%lld,\"iat\":%lld,\"given_name\":\"Marianne\","
		 "\"birthdate\":\"1990-07-14\",\"email\":\"not-pivot\"}", (long long)T0 + 100, (long long)T0);
	mockop_set_token(op, 200, "application/json", active);
	ck_assert_int_eq(rp_introspect(cfg, "tok-1", &in, &err), RP_OK);
	ck_assert(in.active);
	ck_assert_str_eq(in.scope, "cnaf_qf");
	ck_assert_str_eq(in.client_id, "svc");
	ck_assert_str_eq(in.sub, "s1");
	ck_assert_int_eq(in.exp, (long long)T0 + 100);
	ck_assert(rp_scope_has(in.scope, "cnaf_qf"));
	/* The identity pivot's members given, and nothing else (1.4). */
	ck_assert_str_eq(json_string_value(json_object_get(in.pivot, "given_name")), "Marianne");
	ck_assert_str_eq(json_string_value(json_object_get(in.pivot, "birthdate")), "1990-07-14");
	ck_assert_uint_eq(json_object_size(in.pivot), 2);
	rp_introspection_release(&in);
	ck_assert_ptr_null(in.pivot);
	body = mockop_last_token_body(op);
	ck_assert(strstr(body, "token=tok-1") != NULL && strstr(body, "token_type_hint=access_token") != NULL);
	free(body);
	/* Cached: the provider now says inactive, the answer holds 30 s. */
	mockop_set_token(op, 200, "application/json", "{\"active\":false}");
	fake_now = T0 + 29;
	ck_assert_int_eq(rp_introspect(cfg, "tok-1", &in, &err), RP_OK);
	ck_assert(in.active);
	ck_assert_str_eq(json_string_value(json_object_get(in.pivot, "given_name")), "Marianne");
	rp_introspection_release(&in);
	fake_now = T0 + 31;
	ck_assert_int_eq(rp_introspect(cfg, "tok-1", &in, &err), RP_OK);
	ck_assert(!in.active && in.sub == NULL);
	/* Bounded by exp before the maximum age. */
	fake_now = T0 + 90;
	mockop_set_token(op, 200, "application/json", active);
	ck_assert_int_eq(rp_introspect(cfg, "tok-2", &in, &err), RP_OK);
	ck_assert(in.active);
	rp_introspection_release(&in);
	mockop_set_token(op, 200, "application/json", "{\"active\":false}");
	fake_now = T0 + 101;
	ck_assert_int_eq(rp_introspect(cfg, "tok-2", &in, &err), RP_OK);
	ck_assert(!in.active);
	/* An answer "active" past its exp is not believed. */
	mockop_set_token(op, 200, "application/json", active);
	fake_now = T0 + 200;
	ck_assert_int_eq(rp_introspect(cfg, "tok-3", &in, &err), RP_OK);
	ck_assert(!in.active);
	/* Refusals. */
	mockop_set_token(op, 200, "application/json", "{\"active\":\"yes\"}");
	ck_assert_int_eq(rp_introspect(cfg, "tok-4", &in, &err), RP_E_MALFORMED);
	mockop_set_token(op, 200, "application/json", "{\"active\":true,\"sub\":7}");
	ck_assert_int_eq(rp_introspect(cfg, "tok-4", &in, &err), RP_E_MALFORMED);
	ck_assert_ptr_null(in.sub);
	mockop_set_token(op, 200, "application/json", "{\"active\":true,\"given_name\":\"A\",\"family_name\":[]}");
	ck_assert_int_eq(rp_introspect(cfg, "tok-4", &in, &err), RP_E_MALFORMED);
	ck_assert_ptr_null(in.pivot);
	mockop_set_token(op, 200, "application/json", "{\"active\":true,\"sub\":\"s\"}");
	ck_assert_int_eq(rp_introspect(cfg, "tok-5", &in, &err), RP_OK);
	ck_assert(in.active && in.pivot == NULL);
	rp_introspection_release(&in);
	mockop_set_token(op, 403, "application/json", "{\"error\":\"unauthorized_client\"}");
	ck_assert_int_eq(rp_introspect(cfg, "tok-4", &in, &err), RP_E_PROVIDER_ERROR);
	ck_assert_str_eq(err.oauth_error, "unauthorized_client");
	ck_assert_int_eq(rp_introspect(cfg, "with space", &in, &err), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_introspection_cache(cfg, -1, 10), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_introspection_cache(cfg, 10, 0), RP_E_INVAL);
	/* rp_revoke: 200 is done, an error is said. */
	mockop_set_token(op, 200, "application/json", "{}");
	ck_assert_int_eq(rp_revoke(cfg, "tok-1", "refresh_token", &err), RP_OK);
	body = mockop_last_token_body(op);
	ck_assert(strstr(body, "token_type_hint=refresh_token") != NULL);
	free(body);
	mockop_set_token(op, 503, "application/json", "{\"error\":\"temporarily_unavailable\"}");
	ck_assert_int_eq(rp_revoke(cfg, "tok-1", NULL, &err), RP_E_PROVIDER_ERROR);
	/* Without the endpoints in discovery. */
	mockop_set_discovery(op, "{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/a\","
			     "\"token_endpoint\":\"%s/t\",\"jwks_uri\":\"%s/jwks\"}");
	ck_assert_int_eq(rp_discover(cfg, &err), RP_OK);
	ck_assert_int_eq(rp_introspect(cfg, "tok-9", &in, &err), RP_E_DISCOVERY);
	ck_assert_int_eq(rp_revoke(cfg, "tok-9", NULL, &err), RP_E_DISCOVERY);
}
END_TEST

/* ------------------------------------------------------------------ */
/* back channel */

static const char token_ok[] =
	"{\"access_token\":\"at-123\",\"token_type\":\"Bearer\",\"expires_in\":60,"
	"\"id_token\":\"h.p.s\",\"scope\":\"openid profile\"}";

START_TEST(exchange_basic)
{
	struct rp_tokens t;
	struct rp_error err;
	char *auth, *body, want[512];
	unsigned char b64[256];
	const char *cred = "svc-a:s3cret%3A%26%3D%20with%20spaces";

	mockop_set_token(op, 200, "application/json", token_ok);
	ck_assert_int_eq(rp_exchange_code(cfg, "code-1", "verifier-1", &t, &err), RP_OK);
	ck_assert_str_eq(t.access_token, "at-123");
	ck_assert_str_eq(t.id_token, "h.p.s");
	ck_assert_str_eq(t.token_type, "Bearer");
	ck_assert_str_eq(t.scope, "openid profile");
	ck_assert_int_eq(t.expires_in, 60);
	ck_assert_ptr_null(t.refresh_token);
	rp_tokens_release(&t);
	auth = mockop_last_token_auth(op);
	body = mockop_last_token_body(op);
	EVP_EncodeBlock(b64, (const unsigned char *)cred, (int)strlen(cred));
	snprintf(want, sizeof(want), "Basic %s", b64);
	ck_assert_str_eq(auth, want);
	ck_assert(strstr(body, "grant_type=authorization_code") != NULL);
	ck_assert(strstr(body, "code=code-1") != NULL);
	ck_assert(strstr(body, "code_verifier=verifier-1") != NULL);
	ck_assert(strstr(body, "redirect_uri=http%3A%2F%2F127.0.0.1") != NULL);
	ck_assert(strstr(body, "client_secret") == NULL);
	free(auth);
	free(body);
}
END_TEST

START_TEST(exchange_post)
{
	struct rp_tokens t;
	struct rp_error err;
	char *auth, *body;

	ck_assert_int_eq(rp_config_set_auth_method(cfg, RP_AUTH_POST), RP_OK);
	mockop_set_token(op, 200, "application/json", token_ok);
	ck_assert_int_eq(rp_exchange_code(cfg, "code-1", NULL, &t, &err), RP_OK);
	rp_tokens_release(&t);
	auth = mockop_last_token_auth(op);
	body = mockop_last_token_body(op);
	ck_assert_ptr_null(auth);
	ck_assert(strstr(body, "client_id=svc-a") != NULL);
	ck_assert(strstr(body, "client_secret=s3cret%3A%26%3D%20with%20spaces") != NULL);
	ck_assert(strstr(body, "code_verifier") == NULL);
	free(body);
}
END_TEST

START_TEST(exchange_errors)
{
	struct rp_tokens t;
	struct rp_error err;
	char *big;

	mockop_set_token(op, 400, "application/json",
			 "{\"error\":\"invalid_grant\",\"error_description\":\"code expired\"}");
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_PROVIDER_ERROR);
	ck_assert_str_eq(err.oauth_error, "invalid_grant");
	ck_assert(strstr(err.message, "code expired") != NULL);
	ck_assert_ptr_null(t.access_token);
	mockop_set_token(op, 500, "text/html", "<h1>oops</h1>");
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_HTTP);
	mockop_set_token(op, 200, "application/json", "{\"access_token\":\"a\",\"token_type\":"
			 "\"DPoP\",\"id_token\":\"x\"}");
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_MALFORMED);
	mockop_set_token(op, 200, "application/json", "{\"access_token\":\"a\",\"token_type\":"
			 "\"bearer\"}");
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_MALFORMED);
	mockop_set_token(op, 200, "application/json", "not json");
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_MALFORMED);
	big = malloc(300 * 1024);
	memset(big, ' ', 300 * 1024 - 1);
	big[300 * 1024 - 1] = '\0';
	mockop_set_token(op, 200, "application/json", big);
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_TOO_BIG);
	free(big);
	ck_assert_int_eq(rp_exchange_code(cfg, "", "v", &t, &err), RP_E_INVAL);
	mockop_halt(op);
	ck_assert_int_eq(rp_exchange_code(cfg, "c", "v", &t, &err), RP_E_NETWORK);
}
END_TEST

START_TEST(userinfo_json_and_jwt)
{
	struct rp_error err;
	json_t *c = NULL;
	char *auth, *jwt, *p;

	mockop_set_userinfo(op, 200, "application/json; charset=utf-8",
			    "{\"sub\":\"citizen-42\",\"given_name\":\"Marianne\"}");
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", "citizen-42", &c, &err), RP_OK);
	ck_assert_str_eq(json_string_value(json_object_get(c, "given_name")), "Marianne");
	json_decref(c);
	auth = mockop_last_userinfo_auth(op);
	ck_assert_str_eq(auth, "Bearer at-123");
	free(auth);
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", "citizen-7", &c, &err), RP_E_SUB);
	ck_assert_ptr_null(c);

	/* FranceConnect answers with a signed JWT */
	p = payload("{\"nonce\":null,\"exp\":null,\"iat\":null,\"acr\":null,"
		    "\"given_name\":\"Marianne\"}");
	jwt = tok_sign(&k_ec, "ES256", NULL, p);
	mockop_set_userinfo(op, 200, "application/jwt", jwt);
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", "citizen-42", &c, &err), RP_OK);
	ck_assert_str_eq(json_string_value(json_object_get(c, "given_name")), "Marianne");
	json_decref(c);
	jwt[strlen(jwt) - 3] = jwt[strlen(jwt) - 3] == 'A' ? 'B' : 'A';
	mockop_set_userinfo(op, 200, "application/jwt", jwt);
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", "citizen-42", &c, &err), RP_E_SIGNATURE);
	ck_assert(strncmp(err.message, "rp_userinfo:", 12) == 0);
	free(jwt);
	free(p);
	p = payload("{\"aud\":\"svc-b\"}");
	jwt = tok_sign(&k_ec, "ES256", NULL, p);
	mockop_set_userinfo(op, 200, "application/jwt", jwt);
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", "citizen-42", &c, &err), RP_E_AUD);
	free(jwt);
	free(p);

	mockop_set_userinfo(op, 200, "text/html", "{\"sub\":\"citizen-42\"}");
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", NULL, &c, &err), RP_E_MALFORMED);
	mockop_set_userinfo(op, 401, "application/json", "{}");
	ck_assert_int_eq(rp_userinfo(cfg, "at-123", NULL, &c, &err), RP_E_HTTP);
	ck_assert_int_eq(rp_userinfo(cfg, "at 123\r\n", NULL, &c, &err), RP_E_INVAL);
}
END_TEST

/* Signed userinfo is verified like an ID token: iss and aud required. */
START_TEST(userinfo_jwt_needs_iss_and_aud)
{
	static const char *const cases[][2] = {
		{ "{\"iss\":null}", "no iss" },
		{ "{\"aud\":null}", "no aud" },
		{ "{\"iss\":null,\"aud\":null}", "neither" },
	};
	static const int want[] = { RP_E_ISS, RP_E_AUD, RP_E_ISS };
	struct rp_error err;
	json_t *c = NULL;
	char *p, *jwt, over[160];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(over, sizeof(over), "{\"nonce\":null,\"exp\":null,\"iat\":null,%s",
			 cases[i][0] + 1);
		p = payload(over);
		jwt = tok_sign(&k_ec, "ES256", NULL, p);
		mockop_set_userinfo(op, 200, "application/jwt", jwt);
		ck_assert_msg(rp_userinfo(cfg, "at-123", "citizen-42", &c, &err) == want[i],
			      "%s: got %d (%s)", cases[i][1], err.code, err.message);
		ck_assert_ptr_null(c);
		/* rp_verify_jwt, for other JWTs, still checks them only when present */
		ck_assert_int_eq(rp_verify_jwt(cfg, jwt, &c, &err), RP_OK);
		json_decref(c);
		c = NULL;
		free(jwt);
		free(p);
	}
}
END_TEST

START_TEST(verify_jwt_rules)
{
	struct rp_error err;
	json_t *c = NULL;
	char *t;

	/* no nonce rule, no required exp; iss and aud checked when present */
	t = es256("{\"exp\":null,\"iat\":null}");
	ck_assert_int_eq(rp_verify_jwt(cfg, t, &c, &err), RP_OK);
	json_decref(c);
	free(t);
	t = es256("{\"iss\":\"https://other\"}");
	ck_assert_int_eq(rp_verify_jwt(cfg, t, &c, &err), RP_E_ISS);
	free(t);
	t = es256("{\"exp\":1699990000}");
	ck_assert_int_eq(rp_verify_jwt(cfg, t, &c, &err), RP_E_EXPIRED);
	free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* back-channel logout tokens */

#define BCL_EVENT "{\"http://schemas.openid.net/event/backchannel-logout\":{}}"

/* A valid logout token payload for svc-a (no nonce, no acr), changed by
 * override as payload() does. Caller frees. */
static char *logout_payload(const char *override, int jti)
{
	char base[512], *p, *q;
	json_t *o, *ov;

	snprintf(base, sizeof(base), "{\"nonce\":null,\"acr\":null,\"sid\":\"sid-1\",\"jti\":\"jti-%d\","
		 "\"events\":" BCL_EVENT "}", jti);
	p = payload(base);
	if (override == NULL)
		return p;
	o = json_loads(p, 0, NULL);
	ov = json_loads(override, 0, NULL);
	ck_assert(o != NULL && ov != NULL);
	{
		const char *key;
		json_t *v;
		void *tmp;

		json_object_foreach_safe(ov, tmp, key, v) {
			if (json_is_null(v))
				json_object_del(o, key);
			else
				json_object_set(o, key, v);
		}
	}
	q = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	json_decref(ov);
	free(p);
	return q;
}

static char *logout_token(const struct tkey *k, const char *typ, const char *override, int jti)
{
	char hdr[160], *p = logout_payload(override, jti), *t;

	if (typ != NULL)
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"%s\"}", k->kid, typ);
	else
		snprintf(hdr, sizeof(hdr), "{\"alg\":\"ES256\",\"kid\":\"%s\"}", k->kid);
	t = tok_sign(k, "ES256", hdr, p);
	free(p);
	ck_assert_ptr_nonnull(t);
	return t;
}

static void expect_logout(char *token, int want)
{
	struct rp_error err;
	json_t *claims = (json_t *)1;
	int rc = rp_verify_logout_token(cfg, token, &claims, &err);

	ck_assert_msg(rc == want, "got %d (%s), want %d", rc, err.message, want);
	ck_assert_int_eq(err.code, rc);
	if (rc == RP_OK)
		ck_assert(strcmp(json_string_value(json_object_get(claims, "sid")) ?: "", "sid-1") == 0 ||
			  strcmp(json_string_value(json_object_get(claims, "sub")) ?: "", "citizen-42") == 0);
	else
		ck_assert_ptr_null(claims);
	json_decref(claims);
	free(token);
}

START_TEST(logout_token_rules)
{
	const char *keys[] = { jwk_ec, jwk_ec2 };
	char *t, *p;
	int j = 0;

	serve_keys(keys, 2);
	expect_logout(logout_token(&k_ec, "logout+jwt", NULL, ++j), RP_OK);
	expect_logout(logout_token(&k_ec, "application/logout+jwt", NULL, ++j), RP_OK);
	expect_logout(logout_token(&k_ec, NULL, NULL, ++j), RP_OK); /* no typ: judged on its claims */
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"sid\":null,\"sub\":\"citizen-42\"}", ++j), RP_OK);
	/* Forged: signed by a key of the JWKS over another payload, or by a
	 * key the provider never published under that kid. */
	t = logout_token(&k_ec, "logout+jwt", NULL, ++j);
	p = logout_payload("{\"sid\":\"sid-of-another\"}", j);
	{
		char *dot = strchr(t, '.'), *dot2 = strchr(dot + 1, '.'), *b = b64url(p, strlen(p)), *f;

		*dot = '\0';
		ck_assert(asprintf(&f, "%s.%s.%s", t, b, dot2 + 1) > 0);
		expect_logout(f, RP_E_SIGNATURE);
		free(b);
	}
	free(t);
	free(p);
	{
		struct tkey forger;

		ck_assert_int_eq(tkey_ec(&forger, "ec1", "P-256"), 0); /* the provider's kid, another key */
		expect_logout(logout_token(&forger, "logout+jwt", NULL, ++j), RP_E_SIGNATURE);
		tkey_free(&forger);
	}
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"aud\":\"svc-b\"}", ++j), RP_E_AUD);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"iss\":\"http://evil.example\"}", ++j), RP_E_ISS);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"nonce\":\"" NONCE "\"}", ++j), RP_E_NONCE);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"events\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"events\":{\"http://schemas.openid.net/event/other\":{}}}",
				   ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt",
				   "{\"events\":{\"http://schemas.openid.net/event/backchannel-logout\":true}}", ++j),
		      RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"sid\":null,\"sub\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"sid\":\"\",\"sub\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"jti\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"exp\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"iat\":null}", ++j), RP_E_MALFORMED);
	expect_logout(logout_token(&k_ec, "JWT", NULL, ++j), RP_E_MALFORMED); /* an ID token's typ */
	expect_logout(logout_token(&k_ec, "logout+jwt", "{\"exp\":1000}", ++j), RP_E_EXPIRED);
	/* Within exp, but issued longer ago than a logout token may be. */
	{
		char o[96];

		snprintf(o, sizeof(o), "{\"iat\":%lld,\"exp\":%lld}", (long long)T0 - 3600, (long long)T0 + 3600);
		expect_logout(logout_token(&k_ec, "logout+jwt", o, ++j), RP_E_EXPIRED);
	}
	/* An ID token is no logout token: its typ, or without one its nonce. */
	expect_logout(es256(NULL), RP_E_MALFORMED);
	expect_logout(es256_kid("ec1", NULL), RP_E_NONCE);
	/* Replayed: the same jti twice, even in another well-signed token. */
	expect_logout(logout_token(&k_ec, "logout+jwt", NULL, 1000), RP_OK);
	expect_logout(logout_token(&k_ec, "logout+jwt", NULL, 1000), RP_E_REPLAY);
	expect_logout(logout_token(&k_ec2, "logout+jwt", NULL, 1000), RP_E_REPLAY);
	/* Once too old to pass the iat check, a jti is forgotten. */
	fake_now = T0 + RP_LOGOUT_MAX_AGE + 120;
	expect_logout(logout_token(&k_ec, "logout+jwt", NULL, 1000), RP_E_EXPIRED);
}
END_TEST

START_TEST(logout_jti_cache_is_bounded)
{
	int i;

	/* More distinct tokens than the cache holds: each accepted once, and
	 * the newest still refused when replayed. 4,106 signatures checked:
	 * the sanitizer run only, valgrind's (RP_UNIT_LIGHT) would take minutes. */
	if (getenv("RP_UNIT_LIGHT") != NULL)
		return;
	for (i = 0; i < RP_LOGOUT_JTI_MAX + 10; i++) {
		struct rp_error err;
		char *t = logout_token(&k_ec, "logout+jwt", NULL, 5000 + i);

		ck_assert_int_eq(rp_verify_logout_token(cfg, t, NULL, &err), RP_OK);
		free(t);
	}
	expect_logout(logout_token(&k_ec, "logout+jwt", NULL, 5000 + RP_LOGOUT_JTI_MAX + 9), RP_E_REPLAY);
}
END_TEST

/* The private half of a test key as PEM, for the config setters. */
static char *private_pem(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0)
		out = strndup(data, (size_t)n);
	BIO_free(b);
	ck_assert_ptr_nonnull(out);
	return out;
}

/* The client_assertion of the last token request, its header decoded and
 * its signature checked with the public half of k for alg. */
static void check_assertion(EVP_PKEY *k, const char *alg)
{
	char *body = mockop_last_token_body(op), *a, *end, *d1, *d2, hdr[256];
	unsigned char sig[512];
	size_t hlen, slen;
	enum jose_sig_alg ja = jose_sig_alg_parse(alg);

	ck_assert_ptr_nonnull(body);
	ck_assert((a = strstr(body, "client_assertion=")) != NULL);
	a += strlen("client_assertion=");
	if ((end = strchr(a, '&')) != NULL)
		*end = '\0';
	ck_assert((d1 = strchr(a, '.')) != NULL && (d2 = strchr(d1 + 1, '.')) != NULL);
	ck_assert_int_eq(rp_b64url_decode(a, (size_t)(d1 - a), (unsigned char *)hdr, sizeof(hdr) - 1, &hlen),
			 RP_OK);
	hdr[hlen] = '\0';
	ck_assert_msg(strstr(hdr, alg) != NULL, "header %s, want %s", hdr, alg);
	ck_assert_int_eq(rp_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig), &slen), RP_OK);
	ck_assert_int_eq(jose_sig_verify(k, ja, a, (size_t)(d2 - a), sig, slen), JOSE_OK);
	/* PS256 is not RS256 under another name: the PKCS#1 v1.5 check fails. */
	if (ja == JOSE_PS256)
		ck_assert_int_ne(jose_sig_verify(k, JOSE_RS256, a, (size_t)(d2 - a), sig, slen), JOSE_OK);
	free(body);
}

/* rp_config_set_client_key_alg (1.6): PS256 with an RSA key, RS256 its
 * default, nothing the key cannot sign. */
START_TEST(client_key_ps256)
{
	struct rp_tokens t;
	struct rp_error err;
	char *rsa = private_pem(k_rsa.pkey), *ec = private_pem(k_ec.pkey);

	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "PS256"), RP_E_INVAL); /* no key yet */
	ck_assert_int_eq(rp_config_set_client_key(cfg, rsa, "rsa1"), RP_OK);
	mockop_set_token(op, 200, "application/json", token_ok);
	ck_assert_int_eq(rp_exchange_code(cfg, "code-1", "verifier-1", &t, &err), RP_OK);
	rp_tokens_release(&t);
	check_assertion(k_rsa.pkey, "RS256");
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "PS256"), RP_OK);
	ck_assert_int_eq(rp_exchange_code(cfg, "code-2", "verifier-1", &t, &err), RP_OK);
	rp_tokens_release(&t);
	check_assertion(k_rsa.pkey, "PS256");
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "ES256"), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "HS256"), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "none"), RP_E_INVAL);
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, NULL), RP_E_INVAL);
	/* A refused alg changes nothing. */
	ck_assert_int_eq(rp_exchange_code(cfg, "code-3", "verifier-1", &t, &err), RP_OK);
	rp_tokens_release(&t);
	check_assertion(k_rsa.pkey, "PS256");
	/* A new key, its own default; PS256 is no EC algorithm. */
	ck_assert_int_eq(rp_config_set_client_key(cfg, ec, "ec1"), RP_OK);
	ck_assert_int_eq(rp_config_set_client_key_alg(cfg, "PS256"), RP_E_INVAL);
	ck_assert_int_eq(rp_exchange_code(cfg, "code-4", "verifier-1", &t, &err), RP_OK);
	rp_tokens_release(&t);
	check_assertion(k_ec.pkey, "ES256");
	free(rsa);
	free(ec);
}
END_TEST

/* The payload of the last JWKS fetch's Client-Assertion, its signature
 * checked with the public half of k (ES256). */
static json_t *jwks_assertion_claims(EVP_PKEY *k)
{
	char *a = mockop_last_jwks_assertion(op), *d1, *d2, pl[1024];
	unsigned char sig[128];
	size_t plen, slen;
	json_t *p;

	ck_assert_ptr_nonnull(a);
	ck_assert((d1 = strchr(a, '.')) != NULL && (d2 = strchr(d1 + 1, '.')) != NULL);
	ck_assert_int_eq(rp_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), (unsigned char *)pl, sizeof(pl) - 1,
					  &plen), RP_OK);
	pl[plen] = '\0';
	ck_assert_int_eq(rp_b64url_decode(d2 + 1, strlen(d2 + 1), sig, sizeof(sig), &slen), RP_OK);
	ck_assert_int_eq(jose_sig_verify(k, JOSE_ES256, a, (size_t)(d2 - a), sig, slen), JOSE_OK);
	p = json_loads(pl, 0, NULL);
	ck_assert_ptr_nonnull(p);
	free(a);
	return p;
}

/* Without a secret but with a key, JWKS fetches carry a fresh client
 * assertion (aud the JWKS URL) in Client-Assertion; with a secret, Basic. */
START_TEST(jwks_assertion_without_secret)
{
	struct rp_error err;
	char redirect[128], jwks_url[160], *ec = private_pem(k_ec.pkey), *a;
	json_t *p1, *p2;

	snprintf(redirect, sizeof(redirect), "%s/cb", mockop_issuer(op));
	snprintf(jwks_url, sizeof(jwks_url), "%s/jwks", mockop_issuer(op));
	ck_assert_int_eq(rp_config_set_client_key(cfg, ec, "ec1"), RP_OK);
	expect(es256(NULL), NONCE, RP_OK); /* a secret too: Basic, as before */
	ck_assert_ptr_null(mockop_last_jwks_assertion(op));
	ck_assert_ptr_nonnull(a = mockop_last_jwks_auth(op));
	free(a);
	rp_config_free(cfg);
	cfg = rp_config_new(mockop_issuer(op), "svc-a", NULL, redirect, &err);
	ck_assert_ptr_nonnull(cfg);
	ck_assert_int_eq(rp_config_set_http_loopback(cfg, true), RP_OK);
	ck_assert_int_eq(rp_config_set_clock(cfg, test_clock, NULL), RP_OK);
	expect(es256(NULL), NONCE, RP_OK); /* neither: anonymous */
	ck_assert_ptr_null(mockop_last_jwks_auth(op));
	ck_assert_ptr_null(mockop_last_jwks_assertion(op));
	ck_assert_int_eq(rp_config_set_client_key(cfg, ec, "ec1"), RP_OK);
	fake_now += 61;
	expect(es256_kid("other", "{\"iat\":1700000061,\"exp\":1700000121}"), NONCE, RP_E_KID);
	ck_assert_ptr_null(mockop_last_jwks_auth(op));
	p1 = jwks_assertion_claims(k_ec.pkey);
	ck_assert_str_eq(json_string_value(json_object_get(p1, "iss")), "svc-a");
	ck_assert_str_eq(json_string_value(json_object_get(p1, "sub")), "svc-a");
	ck_assert_str_eq(json_string_value(json_object_get(p1, "aud")), jwks_url);
	ck_assert_int_eq(json_integer_value(json_object_get(p1, "exp")) -
			 json_integer_value(json_object_get(p1, "iat")), 60);
	fake_now += 61;
	expect(es256_kid("other", "{\"iat\":1700000122,\"exp\":1700000182}"), NONCE, RP_E_KID);
	p2 = jwks_assertion_claims(k_ec.pkey);
	ck_assert_str_ne(json_string_value(json_object_get(p1, "jti")), json_string_value(json_object_get(p2, "jti")));
	ck_assert_int_eq(mockop_jwks_fetches(op), 4);
	json_decref(p1);
	json_decref(p2);
	free(ec);
}
END_TEST

/* rp_verify_id_token_jws (1.6): the signed token back, the inner one of a
 * JWE, nothing on a failure. */
START_TEST(id_token_jws_handed_back)
{
	struct rp_error err;
	char *signed_tok = es256(NULL), *jwe = NULL, *got = (char *)1, *pem = private_pem(k_rsa.pkey);
	json_t *claims = NULL;

	ck_assert_int_eq(rp_verify_id_token_jws(cfg, signed_tok, NONCE, &claims, &got, &err), RP_OK);
	ck_assert_str_eq(got, signed_tok);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), "citizen-42");
	json_decref(claims);
	free(got);
	ck_assert_int_eq(jose_jwe_encrypt(k_rsa.pkey, JOSE_RSA_OAEP_256, "rsa1", "JWT", signed_tok,
					  strlen(signed_tok), &jwe), JOSE_OK);
	ck_assert_int_eq(rp_verify_id_token_jws(cfg, jwe, NONCE, NULL, &got, &err), RP_E_DECRYPT);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(rp_config_set_decryption_key(cfg, pem), RP_OK);
	ck_assert_int_eq(rp_verify_id_token_jws(cfg, jwe, NONCE, &claims, &got, &err), RP_OK);
	ck_assert_str_eq(got, signed_tok);
	ck_assert_ptr_nonnull(claims);
	json_decref(claims);
	free(got);
	got = (char *)1;
	ck_assert_int_eq(rp_verify_id_token_jws(cfg, jwe, "n-another-nonce-0123456789abcdef", NULL, &got, &err),
			 RP_E_NONCE);
	ck_assert_ptr_null(got);
	/* NULL for what is not wanted. */
	ck_assert_int_eq(rp_verify_id_token_jws(cfg, jwe, NONCE, NULL, NULL, &err), RP_OK);
	free(signed_tok);
	free(jwe);
	free(pem);
}
END_TEST

static Suite *rp_suite(void)
{
	Suite *s = suite_create("librp");
	TCase *tc;

	tc = tcase_create("codec");
	tcase_add_test(tc, b64url_roundtrip);
	tcase_add_test(tc, b64url_strict);
	tcase_add_test(tc, json_scan_refusals);
	tcase_add_test(tc, json_scan_accepts);
	tcase_add_test(tc, json_depth_and_members);
	tcase_add_test(tc, json_matches_jansson);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("verify");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, accepts_es256);
	tcase_add_test(tc, accepts_rs256_ps256_es384);
	tcase_add_test(tc, accepts_without_kid);
	tcase_add_test(tc, accepts_within_leeway);
	tcase_add_test(tc, claims_are_returned);
	tcase_add_test(tc, refuses_bad_signature);
	tcase_add_test(tc, refuses_signature_of_wrong_length);
	tcase_add_test(tc, refuses_alg_none);
	tcase_add_test(tc, refuses_hs256_with_public_key);
	tcase_add_test(tc, refuses_alg_not_allowed_or_not_the_keys);
	tcase_add_test(tc, refuses_alg_other_than_the_jwks_alg);
	tcase_add_test(tc, refuses_unknown_kid_with_one_refetch);
	tcase_add_test(tc, refetch_interval_is_configurable);
	tcase_add_test(tc, new_key_after_rotation);
	tcase_add_test(tc, refuses_expired);
	tcase_add_test(tc, refuses_iat_in_future);
	tcase_add_test(tc, refuses_nbf_in_future);
	tcase_add_test(tc, refuses_wrong_iss);
	tcase_add_test(tc, refuses_wrong_aud);
	tcase_add_test(tc, refuses_missing_or_wrong_nonce);
	tcase_add_test(tc, refuses_low_acr);
	tcase_add_test(tc, refuses_tampered_payload);
	tcase_add_test(tc, refuses_malformed);
	tcase_add_test(tc, escapes_in_header_and_acr);
	tcase_add_test(tc, refuses_huge_token);
	tcase_add_test(tc, many_claims);
	tcase_add_test(tc, distinct_codes_and_messages);
	tcase_add_test(tc, verify_jwt_rules);
	tcase_add_test(tc, logout_token_rules);
	tcase_add_test(tc, logout_jti_cache_is_bounded);
	suite_add_tcase(s, tc);

	tc = tcase_create("jwks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, cache_survives_jwks_down);
	tcase_add_test(tc, cache_refreshes_when_stale);
	tcase_add_test(tc, first_fetch_failure_is_rate_limited);
	tcase_add_test(tc, jwks_authenticates_the_client);
	tcase_add_test(tc, jwks_secret_stays_at_the_token_origin);
	tcase_add_test(tc, jwks_skips_unusable_keys);
	tcase_add_test(tc, interop_with_cjose);
	tcase_add_test(tc, threads_share_one_config);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, config_validation);
	tcase_add_test(tc, discovery_checks);
	tcase_add_test(tc, discovery_cached);
	tcase_add_test(tc, discovery_new_jwks_uri_drops_keys);
	tcase_add_test(tc, min_acr_refusal_changes_nothing);
	tcase_add_test(tc, discovery_down);
	tcase_add_test(tc, auth_url_generates);
	tcase_add_test(tc, auth_url_given_values);
	tcase_add_test(tc, callback_parsing);
	tcase_add_test(tc, logout_url);
	tcase_add_test(tc, exchange_basic);
	tcase_add_test(tc, exchange_post);
	tcase_add_test(tc, exchange_errors);
	tcase_add_test(tc, userinfo_json_and_jwt);
	tcase_add_test(tc, userinfo_jwt_needs_iss_and_aud);
	tcase_add_test(tc, introspect_answers_and_cache);
	tcase_add_test(tc, client_key_ps256);
	tcase_add_test(tc, jwks_assertion_without_secret);
	tcase_add_test(tc, id_token_jws_handed_back);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (tkey_ec(&k_ec, "ec1", "P-256") != 0 || tkey_rsa(&k_rsa, "rsa1", 2048) != 0 ||
	    tkey_ec(&k_ec2, "ec2", "P-256") != 0 || tkey_ec(&k_ec384, "ec384", "P-384") != 0) {
		fprintf(stderr, "rp_unit: cannot make test keys\n");
		return 2;
	}
	jwk_ec = tkey_jwk(&k_ec, NULL, "sig");
	jwk_rsa = tkey_jwk(&k_rsa, NULL, NULL);
	jwk_ec2 = tkey_jwk(&k_ec2, "ES256", "sig");
	jwk_ec384 = tkey_jwk(&k_ec384, NULL, NULL);
	sr = srunner_create(rp_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	free(jwk_ec);
	free(jwk_rsa);
	free(jwk_ec2);
	free(jwk_ec384);
	tkey_free(&k_ec);
	tkey_free(&k_rsa);
	tkey_free(&k_ec2);
	tkey_free(&k_ec384);
	return failed == 0 ? 0 : 1;
}
