/* SPDX-License-Identifier: EUPL-1.2 */
/* Signing keys: loaded once at start or reload into EVP_PKEYs that every
 * request reuses. keys_dir holds one PEM file per key (mode 0600) and
 * state.json, the state of each key (next, active, retiring, revoked); a
 * key kept in a PKCS#11 token is named there by its URI instead of a file.
 * Signing with them is in jws.h, their public JWKs in jwk.h. */
#ifndef IDP_KEYS_H
#define IDP_KEYS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <stdio.h>
#include <sys/types.h>

#include "config.h"
#include "store.h"

enum key_state { KEY_NEXT = 0, KEY_ACTIVE, KEY_RETIRING, KEY_REVOKED };

struct sign_key {
	char kid[48];       /* RFC 7638 thumbprint, base64url */
	enum sign_alg alg;
	enum key_state state;
	EVP_PKEY *pkey;
	json_t *jwk;        /* public JWK with kid, use, alg */
	char *file;         /* in the keys folder; NULL for a key in a token */
	char *pkcs11_uri;   /* the key in a PKCS#11 token (pkcs11.h); NULL for a file */
	int64_t created, activated, remove_at;
	char *hdr_jwt;      /* base64url of {"alg","kid","typ":"JWT"}: built once */
	char *hdr_at;       /* same with "typ":"at+jwt" (RFC 9068) */
	uint64_t serial;    /* unique per loaded key: the per-thread signer cache's key */
};

struct keyset {
	struct sign_key *keys;
	size_t n;
	struct sign_key *active[3]; /* indexed by enum sign_alg */
	char *jwks;                 /* the JWKS document, rendered once */
	size_t jwks_len;
	char *dir;
	/* dir opened O_PATH, for the fstatat() of every signature (no walk of
	 * the path each time); -1 when not open (keyset_may_sign stats the path). */
	int dirfd;
	/* What keyset_changed() compares: state.json as loaded, and the first
	 * moment a retiring key must leave the JWKS. */
	struct timespec mtime;
	long long size, ino;
	int64_t next_expiry;
};

/* True when dir/state.json changed since ks was loaded, or a retiring key
 * of ks has reached its removal time: the daemon then reloads. */
bool keyset_changed(const struct keyset *ks);
/* When dir/state.json cannot be loaded as a whole (a key file unreadable,
 * say): a copy of ks without every key that state.json revokes or no longer
 * lists, so that a revocation takes effect on a node all the same. *dropped:
 * how many keys of ks the copy lacks. *out is the caller's. */
int keyset_without_revoked(const struct keyset *ks, struct keyset **out, size_t *dropped);

/* Loads dir/state.json and the key files. Refuses key files readable by group
 * or others, a kid that does not match its key, and a set with no active key
 * for an algorithm that has keys. */
int keyset_load(const char *dir, struct keyset **out);
void keyset_free(struct keyset *ks);
/* Creates dir (0700) if needed, a new key of alg in state, and records it. */
int keyset_create_key(const char *dir, enum sign_alg alg, enum key_state state, char kid[48]);

/* Administration (idpctl), each under an exclusive lock of dir and with an
 * audit line in dir/audit.log. Messages for the operator go to out. */
int keys_init(const char *dir, FILE *out);
/* Promotes next to active and active to retiring, for alg or both (ALG_NONE);
 * waits (IDP_EAGAIN... returns IDP_EDENIED) while active clients have not
 * fetched a JWKS holding the next key, unless force or the deadline passed. */
int keys_rotate(const struct config *cfg, const char *dir, struct store *st, enum sign_alg alg,
		bool force, FILE *out);
int keys_revoke(const struct config *cfg, const char *dir, const char *kid, FILE *out);
int keys_import(const char *dir, const char *pem_path, enum sign_alg alg, FILE *out);
/* Adds the key of a PKCS#11 token named by uri as the next key of alg; the
 * module and PIN come from cfg (key_rotation.pkcs11_module, pkcs11_pin_file). */
int keys_import_pkcs11(const struct config *cfg, const char *dir, const char *uri, enum sign_alg alg, FILE *out);
int keys_remove(const char *dir, const char *kid, FILE *out);
int keys_status(const struct config *cfg, const char *dir, struct store *st, FILE *out);
/* Records which keys a client's JWKS fetch saw / that a client got a token. */
void keys_note_jwks_fetch(struct store *st, const struct keyset *ks, const char *client_id);
void keys_note_client_active(struct store *st, struct client *cl, unsigned window);

/* The keys folder's exclusive lock (idpctl, and the store's copy below):
 * the fd to give back to keys_unlock_dir, -1 when not taken (without wait:
 * another holds it). */
int keys_lock_dir(const char *dir, bool wait);
/* Writes path (data, a NUL-terminated text) through a temporary file and a
 * rename, created with mode. */
int keys_write_file_atomic(const char *path, const char *data, mode_t mode);
void keys_unlock_dir(int fd);

/* The key set through the store (key_rotation.kek_file set, redis store):
 * state.json and every key file, each sealed with the key-encryption key
 * (AES-256-GCM, the kid as associated data), so that no private key is in
 * the store in clear. keys_store_publish writes dir's set to the store
 * (idpctl, after a change); keys_store_pull writes the store's set into dir
 * when its version changed (every second on each node, and idpctl before a
 * change), refusing all of it when one sealed key does not open. Both do
 * nothing when cfg->kek_file is NULL. */
int keys_store_publish(const struct config *cfg, struct store *st, const char *dir);
int keys_store_pull(const struct config *cfg, struct store *st, const char *dir);

const struct sign_key *keyset_find(const struct keyset *ks, const char *kid);
/* The entry of kid in a parsed state.json (borrowed), NULL when absent. */
json_t *keys_state_entry(json_t *st, const char *kid);
const char *key_state_name(enum key_state s);

/* False when state.json, changed since ks was loaded, says k is revoked or
 * gone: in the second before this node's poller reloads, a key another node
 * revoked must not sign. One stat() when nothing changed. */
bool keyset_may_sign(const struct keyset *ks, const struct sign_key *k);

#endif
