/* SPDX-License-Identifier: EUPL-1.2 */
/* The login transaction: the validated request kept in the store between
 * the steps of a login (login form, choice page, consent page, upstream
 * provider), single-use, for login_ttl seconds. */
#ifndef IDP_TXN_H
#define IDP_TXN_H

#include "authz_req.h"

/* The store key of transaction txn_id (at most 64 characters). */
#define TXN_ID_MAX 64
void txn_key(const char *txn_id, char key[128]);
/* Counts a transaction about to be made against the client address:
 * IDP_ELIMIT past rate_limits.transactions_per_ip_per_minute. txn_save
 * calls it; a path storing a transaction otherwise calls it first. */
int txn_admit(struct req *r);
/* Saves a under a fresh transaction id (*txn_id is the caller's), counted
 * as txn_admit counts in the same round trip (IDP_ELIMIT past the limit);
 * IDP_ETOOBIG past the transaction's cap. */
int txn_save(struct req *r, const struct authz_req *a, char **txn_id);
/* Takes (reads and deletes) transaction txn_id into a. */
int txn_take(const char *txn_id, struct authz_req *a);
/* Reads a transaction fetched as text (store_mget), then wipes and frees
 * the text. */
int txn_from_text(const char *key, char *text, size_t len, struct authz_req *a);

/* The return from an upstream provider, found by the state it sends back:
 * the request, the backend, the plugin's own transaction and a hash of the
 * browser-binding cookie. */
struct upstream_txn {
	struct authz_req areq;
	char *backend;
	json_t *ptxn;
	char bind_hash[65];
};
int upstream_save(struct req *r, const struct authz_req *a, const char *backend_id, const json_t *ptxn,
		  const char *state, const char *bind_hash);
/* Takes the record of state (single use: a replayed callback finds none). */
int upstream_take(const char *state, struct upstream_txn *u);
void upstream_txn_release(struct upstream_txn *u);

#endif
