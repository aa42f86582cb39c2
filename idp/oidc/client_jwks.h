/* SPDX-License-Identifier: EUPL-1.2 */
/* The public keys of a client: its inline "jwks", or the set its "jwks_uri"
 * serves, fetched with libcurl on a worker thread (the request's fiber
 * parks meanwhile), bounded in size and time, kept five minutes, and
 * fetched again before that only when a signature names a key the set
 * lacks, at most once every 10 s per URI. */
#ifndef IDP_CLIENT_JWKS_H
#define IDP_CLIENT_JWKS_H

#include "idp.h"

#define CLIENT_JWKS_MAX_BYTES (64 * 1024) /* a JWKS document fetched */
#define CLIENT_JWKS_TTL_S 300
#define CLIENT_JWKS_REFETCH_S 10
#define CLIENT_JWKS_TIMEOUT_MS 3000

/* The keys of cl for this request: *out is a copy (the keys themselves are
 * reference-counted), the caller's (client_keys_free). refresh: the caller
 * looked for a kid the last copy lacked; a jwks_uri is then fetched again
 * unless it was within CLIENT_JWKS_REFETCH_S. IDP_EUNAVAIL: never fetched
 * (the URI does not answer, or answers no valid set). */
int client_jwks_keys(const struct client *cl, bool refresh, struct client_key **out, size_t *n);

/* A signed token made a nested JWT (OpenID Core 10.2): jws encrypted with
 * alg and A256GCM to the client's encryption key, cty "JWT". *out is the
 * caller's. IDP_ENOTFOUND: the client's keys hold none for alg. */
int client_encrypt_jwt(const struct client *cl, enum jose_enc_alg alg, const char *jws, char **out);

#endif
