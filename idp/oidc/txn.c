/* SPDX-License-Identifier: EUPL-1.2 */
/* The login transaction and the upstream return in the store: the only
 * places their records are written and read. */
#include "txn.h"
#include "json_bounded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Store key prefixes: a login transaction, an upstream login in progress. */
#define K_TXN "txn:"
#define K_UP "up:"

void txn_key(const char *txn_id, char key[128])
{
	snprintf(key, 128, K_TXN "%s", txn_id);
}

/* A transaction at every cap of authz_req.h is about 7.5 KB with a long
 * redirect_uri; what is added later (backend, sid) fits in the rest. */
#define TXN_MAX (12 * 1024)

int txn_admit(struct req *r)
{
	char key[128];
	long long n = 0;

	/* Counted where the transaction is made: an SSO /authorize stores
	 * none, and pays no round trip for this. A store that does not answer
	 * fails the save that follows. */
	snprintf(key, sizeof(key), "rl:txn:%s", r->ip);
	if (store_incr(&g_idp.store, key, 60, &n) == IDP_OK && n > (long long)r->cfg->rl_txn_per_ip_min) {
		if (n == (long long)r->cfg->rl_txn_per_ip_min + 1)
			idp_log(LOG_WARN, "authorize: %s reached %u transactions a minute", r->ip,
				r->cfg->rl_txn_per_ip_min);
		return IDP_ELIMIT;
	}
	return IDP_OK;
}

int txn_save(struct req *r, const struct authz_req *a, char **txn_id)
{
	char key[128], counter[128], *text = NULL;
	size_t len = 0;
	long long n = 0;
	json_t *j = NULL;
	int rc;

	*txn_id = NULL;
	if ((j = authz_req_encode(a)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	if (!json_value_bounded(j, JSON_STORED_DEPTH, TXN_MAX)) {
		rc = IDP_ETOOBIG;
		goto out;
	}
	if ((text = store_json_text(j, &len)) == NULL || (*txn_id = rand_token(24)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	/* Counted against the address in the round trip that stores it (as
	 * txn_admit counts): an SSO /authorize stores none and pays nothing. */
	txn_key(*txn_id, key);
	snprintf(counter, sizeof(counter), "rl:txn:%s", r->ip);
	rc = store_put_counted(&g_idp.store, counter, 60, (long long)r->cfg->rl_txn_per_ip_min, key, text, len,
			       r->cfg->login_ttl, &n);
	if (rc == IDP_ELIMIT && n == (long long)r->cfg->rl_txn_per_ip_min + 1)
		idp_log(LOG_WARN, "authorize: %s reached %u transactions a minute", r->ip, r->cfg->rl_txn_per_ip_min);
	if (rc != IDP_OK) {
		free(*txn_id);
		*txn_id = NULL;
	}
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	json_decref(j);
	return rc;
}

int txn_take(const char *txn_id, struct authz_req *a)
{
	char key[128];
	json_t *j = NULL;
	int rc;

	authz_req_init(a);
	txn_key(txn_id, key);
	if ((rc = store_take_json(&g_idp.store, key, &j)) == IDP_OK)
		rc = authz_req_decode(j, a);
	json_decref(j);
	return rc;
}

int txn_from_text(const char *key, char *text, size_t len, struct authz_req *a)
{
	json_t *j = NULL;
	int rc;

	authz_req_init(a);
	if ((rc = store_parse_json(key, text, len, &j)) == IDP_OK)
		rc = authz_req_decode(j, a);
	json_decref(j);
	return rc;
}

static void upstream_key(const char *state, char key[128])
{
	char hash[65];

	sha256_hex(state, strlen(state), hash);
	snprintf(key, 128, K_UP "%s", hash);
}

int upstream_save(struct req *r, const struct authz_req *a, const char *backend_id, const json_t *ptxn,
		  const char *state, const char *bind_hash)
{
	char key[128];
	json_t *rec = json_pack("{s:o,s:O,s:s,s:s}", "areq", authz_req_encode(a), "ptxn", ptxn, "backend",
				backend_id, "bind", bind_hash);
	int rc;

	upstream_key(state, key);
	rc = rec == NULL ? IDP_ENOMEM : store_put_json(&g_idp.store, key, rec, r->cfg->login_ttl);
	json_decref(rec);
	return rc;
}

int upstream_take(const char *state, struct upstream_txn *u)
{
	char key[128];
	json_t *rec = NULL;
	const char *bind, *backend;
	int rc;

	memset(u, 0, sizeof(*u));
	authz_req_init(&u->areq);
	upstream_key(state, key);
	if ((rc = store_take_json(&g_idp.store, key, &rec)) != IDP_OK)
		return rc;
	bind = json_string_value(json_object_get(rec, "bind"));
	backend = json_string_value(json_object_get(rec, "backend"));
	if (bind == NULL || strlen(bind) != 64 || backend == NULL ||
	    authz_req_decode(json_object_get(rec, "areq"), &u->areq) != IDP_OK ||
	    (u->backend = strdup(backend)) == NULL) {
		rc = IDP_EINVAL;
		goto out;
	}
	memcpy(u->bind_hash, bind, 65);
	u->ptxn = json_incref(json_object_get(rec, "ptxn"));
out:
	json_decref(rec);
	if (rc != IDP_OK)
		upstream_txn_release(u);
	return rc;
}

void upstream_txn_release(struct upstream_txn *u)
{
	authz_req_release(&u->areq);
	free(u->backend);
	json_decref(u->ptxn);
	memset(u, 0, sizeof(*u));
}
