/* SPDX-License-Identifier: EUPL-1.2 */
/* jwtsign: what signing an ID token costs two ways, on one thread, with the
 * same key and the same claims:
 *   - jws_sign(), the provider's signer: the key parsed once into an
 *     EVP_PKEY at start, a per-thread EVP_PKEY_CTX reused;
 *   - libjwt 1.10's jwt_encode_str(), which takes the PEM bytes and parses
 *     them again on every call.
 * The faster one is what the token endpoint uses (idp/keys/keys.c).
 * With a PKCS#11 URI and PIN file, the same jws_sign() with the ES256 key
 * in a token (SoftHSM2), on one thread and on THREADS at once (libp11
 * serialises a token's sessions), beside the in-memory key on THREADS.
 *
 *   jwtsign KEYS_DIR SECONDS [PKCS11_URI PIN_FILE THREADS]
 * prints "RESULT cached_es256=N libjwt_es256=N cached_rs256=N libjwt_rs256=N"
 * and then "pkcs11_es256=N pkcs11_es256_mt=N cached_es256_mt=N"
 * (signatures per second). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h>

#include "keys.h"
#include "util.h"
#include "jws.h"
#include "pkcs11.h"

static const char claims[] =
	"{\"iss\":\"http://127.0.0.1:8080\",\"sub\":\"7bdd19e0f1b0c5d2a4e3f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f7a8b9\","
	"\"aud\":\"bench-es\",\"exp\":1796150000,\"iat\":1796149400,\"auth_time\":1796149390,"
	"\"acr\":\"eidas1\",\"amr\":[\"pwd\"],\"at_hash\":\"x4Qv2Ry1c0dO3m5x2yJ8Lw\","
	"\"nonce\":\"n-0123456789abcdefghijkl\"}";

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double rate_cached(const struct sign_key *k, const json_t *payload, double secs)
{
	double t0 = mono(), t;
	long n = 0;
	char *out;

	do {
		for (int i = 0; i < 20; i++, n++) {
			if (jws_sign(k, false, payload, &out) != IDP_OK)
				return -1;
			free(out);
		}
		t = mono() - t0;
	} while (t < secs);
	return (double)n / t;
}

static double rate_libjwt(const char *dir, const char *pem_file, jwt_alg_t alg, double secs)
{
	char path[4096];
	FILE *f;
	unsigned char pem[16384];
	size_t len;
	double t0, t;
	long n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, pem_file);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	len = fread(pem, 1, sizeof(pem), f);
	fclose(f);
	t0 = mono();
	do {
		for (int i = 0; i < 20; i++, n++) {
			jwt_t *jwt = NULL;
			char *out;

			if (jwt_new(&jwt) != 0 || jwt_add_grants_json(jwt, claims) != 0 ||
			    jwt_set_alg(jwt, alg, pem, (int)len) != 0 || (out = jwt_encode_str(jwt)) == NULL) {
				jwt_free(jwt);
				return -1;
			}
			free(out);
			jwt_free(jwt);
		}
		t = mono() - t0;
	} while (t < secs);
	wipe(pem, sizeof(pem));
	return (double)n / t;
}

struct mt {
	const struct sign_key *k;
	const json_t *payload;
	double secs, rate;
};

static void *mt_run(void *p)
{
	struct mt *m = p;

	m->rate = rate_cached(m->k, m->payload, m->secs);
	return NULL;
}

/* The sum of the rates of n threads signing with k at once; -1 on error. */
static double rate_threads(const struct sign_key *k, const json_t *payload, double secs, int n)
{
	pthread_t th[64];
	struct mt m[64];
	double sum = 0;

	for (int i = 0; i < n; i++) {
		m[i] = (struct mt){k, payload, secs, -1};
		if (pthread_create(&th[i], NULL, mt_run, &m[i]) != 0)
			return -1;
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < n; i++) {
		if (m[i].rate < 0)
			return -1;
		sum += m[i].rate;
	}
	return sum;
}

/* The ES256 key of a token as keys.c would load it, outside any key set. */
static int pkcs11_bench(const char *uri, const char *pin_file, int threads, const struct sign_key *mem,
			const json_t *payload, double secs)
{
	struct sign_key k = {.alg = ALG_ES256, .kid = "bench-pkcs11", .serial = UINT64_MAX};

	pkcs11_configure(NULL, pin_file);
	if (pkcs11_load_key(uri, &k.pkey) != IDP_OK || (k.hdr_jwt = jws_header(&k, "JWT")) == NULL) {
		EVP_PKEY_free(k.pkey);
		return 1;
	}
	printf("RESULT pkcs11_es256=%.0f pkcs11_es256_mt=%.0f cached_es256_mt=%.0f\n",
	       rate_cached(&k, payload, secs), rate_threads(&k, payload, secs, threads),
	       rate_threads(mem, payload, secs, threads));
	free(k.hdr_jwt);
	EVP_PKEY_free(k.pkey);
	return 0;
}

int main(int argc, char **argv)
{
	struct keyset *ks = NULL;
	json_t *payload;
	double secs;

	if ((argc != 3 && argc != 6) || (secs = atof(argv[2])) <= 0 || (argc == 6 && (atoi(argv[5]) < 1 || atoi(argv[5]) > 64))) {
		fprintf(stderr, "usage: jwtsign KEYS_DIR SECONDS [PKCS11_URI PIN_FILE THREADS(1-64)]\n");
		return 2;
	}
	if (keyset_load(argv[1], &ks) != IDP_OK || ks->active[ALG_ES256] == NULL ||
	    ks->active[ALG_RS256] == NULL || (payload = json_loads(claims, 0, NULL)) == NULL) {
		fprintf(stderr, "jwtsign: no active ES256 and RS256 keys in %s\n", argv[1]);
		return 1;
	}
	printf("RESULT cached_es256=%.0f libjwt_es256=%.0f cached_rs256=%.0f libjwt_rs256=%.0f\n",
	       rate_cached(ks->active[ALG_ES256], payload, secs),
	       rate_libjwt(argv[1], ks->active[ALG_ES256]->file, JWT_ALG_ES256, secs),
	       rate_cached(ks->active[ALG_RS256], payload, secs),
	       rate_libjwt(argv[1], ks->active[ALG_RS256]->file, JWT_ALG_RS256, secs));
	if (argc == 6 && pkcs11_bench(argv[3], argv[4], atoi(argv[5]), ks->active[ALG_ES256], payload, secs) != 0)
		fprintf(stderr, "jwtsign: the PKCS#11 key %s cannot sign\n", argv[3]);
	json_decref(payload);
	keyset_free(ks);
	return 0;
}
