/* SPDX-License-Identifier: Apache-2.0 */
#include "secret.h"
#include "codec.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

char *b64url_encode(const void *data, size_t len)
{
	size_t n = codec_b64url_len(len);
	char *out;

	if (n == SIZE_MAX || (out = malloc(n + 1)) == NULL)
		return NULL;
	codec_b64url_encode(out, data, len);
	return out;
}

/* Secrets come from the kernel's generator (getrandom), which is what
 * OpenSSL's own seeds from: one system call, where RAND_bytes also checks
 * for a fork and takes its DRBG's lock on every call. RAND_bytes if
 * getrandom fails. */
static bool secret_bytes(unsigned char *out, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(out + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return RAND_bytes(out, (int)n) == 1;
		got += (size_t)r;
	}
	return true;
}

char *rand_token(size_t nbytes)
{
	unsigned char raw[64];
	char *t;

	if (nbytes > sizeof(raw) || !secret_bytes(raw, nbytes))
		return NULL;
	t = b64url_encode(raw, nbytes);
	OPENSSL_cleanse(raw, sizeof(raw));
	return t;
}

bool secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

	SHA256(a, alen, da);
	SHA256(b, blen, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

void wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

void free_secret(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}
