/* SPDX-License-Identifier: Apache-2.0 */
/* Secrets as the daemon and librp both handle them: made from the kernel's
 * generator, compared in equal time, wiped before they are freed. */
#ifndef IDP_COMMON_SECRET_H
#define IDP_COMMON_SECRET_H

#include <stdbool.h>
#include <stddef.h>

/* base64url (no padding) of len bytes, malloc'ed; NULL: no memory. */
char *b64url_encode(const void *data, size_t len);
/* nbytes (at most 64) of randomness, base64url-encoded; NULL on failure. */
char *rand_token(size_t nbytes);
/* Equal-time compare of secrets of any length: hash both, compare the digests. */
bool secret_equal(const void *a, size_t alen, const void *b, size_t blen);
void wipe(void *p, size_t len); /* NULL-safe */
void free_secret(char *s);      /* wipes a NUL-terminated string then frees it */

#endif
