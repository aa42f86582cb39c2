/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: compact JWE decryption (common/jose.c), what librp does with
 * an ID token or userinfo answer that arrives encrypted, and the JWK import
 * of its epk. Both key managements, with keys made once per process. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *rsa, *ec;

static void cleanup(void)
{
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *pt = NULL;
	size_t n = 0;
	char *cty = NULL, *s;

	if (rsa == NULL) {
		rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		if (rsa == NULL || ec == NULL)
			abort();
		atexit(cleanup);
	}
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (int i = 0; i < 2; i++) {
		/* Nothing fuzzed was encrypted to these fresh keys: it must not open. */
		if (jose_jwe_decrypt(i ? ec : rsa, s, size, 64 * 1024, &pt, &n, &cty) == JOSE_OK)
			abort();
		free(pt);
		free(cty);
	}
	free(s);
	return 0;
}
