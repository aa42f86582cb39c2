/* SPDX-License-Identifier: EUPL-1.2 */
/* Compact JWS with the keys of a key set: signing and verification. */
#ifndef IDP_JWS_H
#define IDP_JWS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "keys.h"

/* base64url of the header {"alg","kid","typ"} of k, built once per key when
 * the set is loaded. The caller frees it; NULL when out of memory. */
char *jws_header(const struct sign_key *k, const char *typ);
/* Signs payload as a compact JWS with k. typ_at selects "at+jwt". *out is the caller's. */
int jws_sign(const struct sign_key *k, bool typ_at, const json_t *payload, char **out);
/* The same with the payload JSON already written (blen bytes). */
int jws_sign_text(const struct sign_key *k, bool typ_at, const char *body, size_t blen, char **out);
/* The same with another typ in the header (RFC 9701's "token-introspection+jwt"). */
int jws_sign_typ(const struct sign_key *k, const char *typ, const char *body, size_t blen, char **out);
/* Verifies a compact JWS against the published keys of ks: the key named by
 * kid decides the algorithm (the header's alg must match it, never chooses).
 * *payload is the caller's. */
int jws_verify(const struct keyset *ks, const char *token, json_t **payload);
/* For a token jws_verify refused: IDP_OK when it is a well-formed signed
 * compact JWS whose kid ks does not hold (a key since revoked or retired),
 * with its payload, NOT verified, in *payload (the caller's); IDP_EINVAL
 * otherwise (malformed, or a key of ks: a bad signature). */
int jws_unknown_kid(const struct keyset *ks, const char *token, json_t **payload);

#endif
