/* SPDX-License-Identifier: EUPL-1.2 */
/* CSRF tokens (csrf.h), keyed by the daemon's CSRF key. */
#include "csrf.h"
#include "idp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void csrf_token(const char *purpose, const char *id, const char *bind, char out[44])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	char *msg;

	if (asprintf(&msg, "%s|%s|%s", purpose, id, bind ? bind : "") < 0) {
		out[0] = '\0';
		return;
	}
	hmac_sha256(g_idp.csrf_key, sizeof(g_idp.csrf_key), msg, strlen(msg), d);
	free(msg);
	/* The first 43 hex digits of the HMAC, as the forms always carried. */
	for (int i = 0; i < 43; i++)
		out[i] = hex[i % 2 ? d[i / 2] & 15 : d[i / 2] >> 4];
	out[43] = '\0';
	OPENSSL_cleanse(d, sizeof(d));
}

bool csrf_check(const char *purpose, const char *id, const char *bind, const char *token)
{
	char want[44];

	if (token == NULL || id == NULL || bind == NULL)
		return false;
	csrf_token(purpose, id, bind, want);
	return secret_equal(want, strlen(want), token, strlen(token));
}
