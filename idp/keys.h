/* Signing keys: loaded once at start or reload into EVP_PKEYs that every
 * request reuses. keys_dir holds one PEM file per key (mode 0600) and
 * state.json, the state of each key (next, active, retiring, revoked). */
#ifndef IDP_KEYS_H
#define IDP_KEYS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"

enum key_state { KEY_NEXT = 0, KEY_ACTIVE, KEY_RETIRING, KEY_REVOKED };

struct sign_key {
	char kid[48];       /* RFC 7638 thumbprint, base64url */
	enum sign_alg alg;
	enum key_state state;
	EVP_PKEY *pkey;
	json_t *jwk;        /* public JWK with kid, use, alg */
	char *file;
	int64_t created, activated, remove_at;
	char *hdr_jwt;      /* base64url of {"alg","kid","typ":"JWT"}: built once */
	char *hdr_at;       /* same with "typ":"at+jwt" (RFC 9068) */
};

struct keyset {
	struct sign_key *keys;
	size_t n;
	struct sign_key *active[3]; /* indexed by enum sign_alg */
	char *jwks;                 /* the JWKS document, rendered once */
	size_t jwks_len;
	char *dir;
};

/* Loads dir/state.json and the key files. Refuses key files readable by group
 * or others, a kid that does not match its key, and a set with no active key
 * for an algorithm that has keys. */
int keyset_load(const char *dir, struct keyset **out);
void keyset_free(struct keyset *ks);
/* Creates dir (0700) if needed, a new key of alg in state, and records it. */
int keyset_create_key(const char *dir, enum sign_alg alg, enum key_state state, char kid[48]);

const struct sign_key *keyset_find(const struct keyset *ks, const char *kid);
const char *key_state_name(enum key_state s);

/* Signs payload as a compact JWS with k. typ_at selects "at+jwt". *out is the caller's. */
int jws_sign(const struct sign_key *k, bool typ_at, const json_t *payload, char **out);
/* Verifies a compact JWS against the published keys of ks: the key named by
 * kid decides the algorithm (the header's alg must match it, never chooses).
 * *payload is the caller's. */
int jws_verify(const struct keyset *ks, const char *token, json_t **payload);

/* RFC 7638 thumbprint of a public JWK, base64url. */
int jwk_thumbprint(const json_t *jwk, char out[48]);
/* Public JWK of pkey (kty + params only). */
int jwk_from_pkey(EVP_PKEY *pkey, json_t **out);

#endif
