/* SPDX-License-Identifier: EUPL-1.2 */
/* rpverify: librp's ID-token verifications per second, warm cache, one
 * thread. The token comes from a real login on the running provider; the
 * first verification fetches discovery and the JWKS (not timed), the rest
 * run from the cache: signature, iss, aud, exp, iat, nonce.
 *
 *   rpverify ISSUER CLIENT_ID REDIRECT_URI NONCE ID_TOKEN SECONDS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rp.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct rp_error err = {0};
	struct rp_config *cfg;
	double secs, t0, el;
	long n = 0;
	int rc;

	if (argc != 7) {
		fprintf(stderr, "usage: rpverify ISSUER CLIENT_ID REDIRECT_URI NONCE ID_TOKEN SECONDS\n");
		return 2;
	}
	secs = atof(argv[6]);
	if ((cfg = rp_config_new(argv[1], argv[2], NULL, argv[3], &err)) == NULL) {
		fprintf(stderr, "rpverify: %s\n", err.message);
		return 1;
	}
	rp_config_set_http_loopback(cfg, true);
	if ((rc = rp_verify_id_token(cfg, argv[5], argv[4], NULL, &err)) != RP_OK) {
		fprintf(stderr, "rpverify: first verification: %s\n", err.message);
		rp_config_free(cfg);
		return 1;
	}
	t0 = now_s();
	do {
		for (int i = 0; i < 64; i++) {
			if ((rc = rp_verify_id_token(cfg, argv[5], argv[4], NULL, &err)) != RP_OK) {
				fprintf(stderr, "rpverify: %s\n", err.message);
				rp_config_free(cfg);
				return 1;
			}
			n++;
		}
		el = now_s() - t0;
	} while (el < secs);
	printf("RESULT rp_verify client=%s verifications=%ld seconds=%.3f rate=%.1f\n", argv[2], n, el,
	       (double)n / el);
	rp_config_free(cfg);
	return 0;
}
