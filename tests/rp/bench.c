/* SPDX-License-Identifier: EUPL-1.2 */
/* ID-token verification rates, one thread, warm JWKS cache: librp (with and
 * without building the claims as a json_t), OpenSSL's bare verify of one
 * digest in this process (what `openssl speed` measures), and cjose 0.6.2
 * (import + verify + jansson parse of the claims, the path liboauth2 takes).
 * 512 distinct tokens per algorithm, cycled, so nothing can be served from a
 * cache of results. Prints rates; asserts nothing.
 *
 *   rp_bench [SECONDS]       (default 3 per measurement)
 * Each measurement gets SECONDS of CPU time in all, in 60 slices taken in
 * turns with the others. Output lines, machine-readable:
 *   <alg> <what> <rate>/s <median ratio to openssl_evp_verify>% */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjose/cjose.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <rp.h>

#include "mockop.h"
#include "tokens.h"

#define NTOK 512
#define NONCE "n-0123456789abcdefghijklmnopqrstuv"

static double seconds = 3;

/* CPU time of this thread, as `openssl speed` divides by CPU time (not
 * -elapsed): a machine busy with other work does not lower the rates. */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A payload shaped like a FranceConnect ID token (about 450 bytes). */
static char *payload(const char *issuer, int i)
{
	json_t *p;
	char *s, jti[32];
	json_int_t t = (json_int_t)time(NULL);

	snprintf(jti, sizeof(jti), "jti-%08d", i);
	p = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:[s], s:s, s:s, s:s, s:s}",
		      "iss", issuer, "sub",
		      "4d327dd1e427daf4d50296ab71d11f3fc6f81f51a7a26541ba23bad47f3ac5cfv1", "aud",
		      "svc-bench", "exp", t + 3600, "iat", t, "auth_time", t, "nonce", NONCE, "acr",
		      "eidas1", "jti", jti, "amr", "pwd", "at_hash", "3mOpj6uNdSkMpyqzNEXlDg",
		      "sid", "a2a9f5fe-7cfa-4b63-a3b4-3bbd2dc6e7c1", "given_name", "Marianne",
		      "family_name", "Dupont");
	s = json_dumps(p, JSON_COMPACT);
	json_decref(p);
	return s;
}

typedef int (*verify_fn)(void *arg, const char *token);

/* Verifications per second over one slice of time. */
static double rate(verify_fn fn, void *arg, char **tokens, double slice)
{
	static long next;
	double start = now(), elapsed;
	long n = 0;
	int i;

	do {
		for (i = 0; i < 32; i++, n++) {
			if (fn(arg, tokens[next++ % NTOK]) != 0) {
				fprintf(stderr, "rp_bench: a verification failed\n");
				exit(1);
			}
		}
	} while ((elapsed = now() - start) < slice);
	return (double)n / elapsed;
}

static int librp_bare(void *cfg, const char *token)
{
	return rp_verify_id_token(cfg, token, NONCE, NULL, NULL);
}

static int librp_claims(void *cfg, const char *token)
{
	json_t *claims = NULL;
	int rc = rp_verify_id_token(cfg, token, NONCE, &claims, NULL);

	json_decref(claims);
	return rc;
}

static int cjose_verify(void *jwk, const char *token)
{
	cjose_jws_t *jws = cjose_jws_import(token, strlen(token), NULL);
	uint8_t *plain;
	size_t plen;
	json_t *claims;
	int rc = -1;

	if (jws != NULL && cjose_jws_verify(jws, jwk, NULL) &&
	    cjose_jws_get_plaintext(jws, &plain, &plen, NULL) &&
	    (claims = json_loadb((const char *)plain, plen, 0, NULL)) != NULL) {
		json_decref(claims);
		rc = 0;
	}
	cjose_jws_release(jws);
	return rc;
}

/* What `openssl speed` measures: one initialised context, one digest. */
struct bare {
	EVP_PKEY_CTX *ctx;
	unsigned char dgst[32], sig[512];
	size_t slen;
};

static void bare_init(struct bare *b, EVP_PKEY *pkey, int rsa)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

	memset(b->dgst, 7, sizeof(b->dgst));
	b->slen = sizeof(b->sig);
	EVP_PKEY_sign_init(ctx);
	if (rsa)
		EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
	EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256());
	EVP_PKEY_sign(ctx, b->sig, &b->slen, b->dgst, sizeof(b->dgst));
	EVP_PKEY_CTX_free(ctx);
	b->ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	EVP_PKEY_verify_init(b->ctx);
	if (rsa)
		EVP_PKEY_CTX_set_rsa_padding(b->ctx, RSA_PKCS1_PADDING);
	EVP_PKEY_CTX_set_signature_md(b->ctx, EVP_sha256());
}

static int bare_verify(void *arg, const char *token)
{
	struct bare *b = arg;

	(void)token;
	return EVP_PKEY_verify(b->ctx, b->sig, b->slen, b->dgst, sizeof(b->dgst)) == 1 ? 0 : -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define ROUNDS 60
#define KINDS 4

/* The four measurements take turns in short slices (60 each). Each reports
 * its rate over all its slices, and its median ratio to OpenSSL's rate in
 * the same round: a busy machine slows neighbouring slices alike, so the
 * ratio holds where the rates wander. */
static void run(const char *alg, struct tkey *key, struct rp_config *cfg, const char *issuer)
{
	static const char *const names[KINDS] = { "openssl_evp_verify", "librp_verify",
						  "librp_verify_claims_json",
						  "cjose_verify_claims_json" };
	char *tokens[NTOK], *p, *jwk_json;
	double rates[KINDS][ROUNDS], ratios[KINDS][ROUNDS], sum[KINDS] = { 0 };
	verify_fn fns[KINDS] = { bare_verify, librp_bare, librp_claims, cjose_verify };
	void *args[KINDS];
	struct bare bare;
	cjose_jwk_t *jwk;
	int i, k;

	for (i = 0; i < NTOK; i++) {
		p = payload(issuer, i);
		tokens[i] = tok_sign(key, alg, NULL, p);
		free(p);
		if (tokens[i] == NULL)
			exit(1);
	}
	if (rp_verify_id_token(cfg, tokens[0], NONCE, NULL, NULL) != RP_OK) /* warm the cache */
		exit(1);
	bare_init(&bare, key->pkey, alg[0] == 'R');
	jwk_json = tkey_jwk(key, NULL, NULL);
	jwk = cjose_jwk_import(jwk_json, strlen(jwk_json), NULL);
	args[0] = &bare;
	args[1] = args[2] = cfg;
	args[3] = jwk;
	printf("%s token_bytes %zu\n", alg, strlen(tokens[0]));
	for (i = 0; i < ROUNDS; i++) {
		for (k = 0; k < KINDS; k++) {
			rates[k][i] = rate(fns[k], args[k], tokens, seconds / ROUNDS);
			sum[k] += rates[k][i]; /* equal CPU time per slice */
		}
		for (k = 0; k < KINDS; k++)
			ratios[k][i] = rates[k][i] / rates[0][i];
	}
	for (k = 0; k < KINDS; k++) {
		qsort(ratios[k], ROUNDS, sizeof(double), cmp_double);
		printf("%s %s %.0f/s %.1f%%\n", alg, names[k], sum[k] / ROUNDS,
		       100 * ratios[k][ROUNDS / 2]);
	}
	fflush(stdout);
	EVP_PKEY_CTX_free(bare.ctx);
	cjose_jwk_release(jwk);
	free(jwk_json);
	for (i = 0; i < NTOK; i++)
		free(tokens[i]);
}

int main(int argc, char **argv)
{
	struct tkey ec, rsa;
	struct mockop *op;
	struct rp_config *cfg;
	struct rp_error err;
	char *jwks[2], *set, redirect[128];

	if (argc > 1 && (seconds = atof(argv[1])) <= 0)
		seconds = 3;
	if (tkey_ec(&ec, "ec1", "P-256") != 0 || tkey_rsa(&rsa, "rsa1", 2048) != 0 ||
	    (op = mockop_start()) == NULL)
		return 1;
	jwks[0] = tkey_jwk(&ec, NULL, "sig");
	jwks[1] = tkey_jwk(&rsa, NULL, "sig");
	set = jwks_of((const char *const *)jwks, 2);
	mockop_set_jwks(op, set);
	snprintf(redirect, sizeof(redirect), "%s/cb", mockop_issuer(op));
	if ((cfg = rp_config_new(mockop_issuer(op), "svc-bench", "x", redirect, &err)) == NULL)
		return 1;
	rp_config_set_http_loopback(cfg, true);
	run("ES256", &ec, cfg, mockop_issuer(op));
	run("RS256", &rsa, cfg, mockop_issuer(op));
	rp_config_free(cfg);
	mockop_free(op);
	free(set);
	free(jwks[0]);
	free(jwks[1]);
	tkey_free(&ec);
	tkey_free(&rsa);
	return 0;
}
