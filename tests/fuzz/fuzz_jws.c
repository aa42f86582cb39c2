/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: JWS parsing and verification (id_token_hint at /authorize
 * and /logout come from anyone). The keys are made once per process. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "util.h"
#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct keyset *ks;

static void cleanup(void)
{
	keyset_free(ks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *out = NULL;
	char *s;

	if (ks == NULL) {
		char dir[] = "/tmp/idp-fuzz-keys.XXXXXX", cmd[64];

		idp_log_set_level(-1);
		if (mkdtemp(dir) == NULL || keyset_create_key(dir, ALG_ES256, KEY_ACTIVE, NULL) != IDP_OK ||
		    keyset_create_key(dir, ALG_RS256, KEY_ACTIVE, NULL) != IDP_OK ||
		    keyset_load(dir, &ks) != IDP_OK)
			abort();
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			abort();
		atexit(cleanup);
	}
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	/* Nobody holds our private keys: nothing fuzzed may ever verify. */
	if (jws_verify(ks, s, &out) == IDP_OK)
		abort();
	json_decref(out);
	free(s);
	return 0;
}
