/* SPDX-License-Identifier: EUPL-1.2 */
/* Refresh tokens and their families (refresh.h). */
#include "refresh.h"
#include "code.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest access tokens a family lists (revoked with it); an older one
 * lives out its own lifetime, as a session's do (session.h). */
#define REFRESH_AT_MAX 32
#define REFRESH_AT_ENTRY 65 /* 64 hex digits and a space */

_Static_assert(sizeof(K_RT_USED) - 1 + 64 < 80 && sizeof(K_RT_FAMILY) - 1 + 64 < 80 &&
		       sizeof(K_RT_AT) - 1 + 64 < 80 && sizeof(K_RT_SC) - 1 + 64 < 80 &&
		       sizeof(K_AT_SC) - 1 + 64 < 80,
	       "refresh keys fit their buffers");
_Static_assert(REFRESH_AT_ENTRY == SESSION_AT_ENTRY, "the access tokens' lists have one width");

/* The family's record (refresh.h: K_RT_FAMILY). */
static int family_record(struct buf *b, const char *client, const char *sub, long long created, long long used,
			 long long abs_exp)
{
	if (record_adds(b, 'c', client) != IDP_OK || record_adds(b, 'u', sub) != IDP_OK ||
	    record_add_int(b, 't', created) != IDP_OK || record_add_int(b, 'l', used) != IDP_OK ||
	    record_add_int(b, 'e', abs_exp) != IDP_OK)
		return IDP_ENOMEM;
	return IDP_OK;
}

static void sc_key(const char *prefix, const char *sub, const char *client, char key[80])
{
	char sc[65];

	ledger_sc_hash(sub, client, sc);
	snprintf(key, 80, "%s%s", prefix, sc);
}

bool refresh_family_new(char family[65])
{
	char *r = rand_token(32);

	if (r == NULL)
		return false;
	sha256_hex(r, strlen(r), family);
	free_secret(r);
	return true;
}

/* A refresh token's time to live: idle, but never past its family's end. */
static unsigned rt_ttl(const struct config *cfg, long long abs_exp, int64_t now)
{
	long long left = abs_exp - now;

	return left < (long long)cfg->refresh_idle_ttl ? (unsigned)left : cfg->refresh_idle_ttl;
}

/* A new token and the name of its record. */
static int new_token(const struct client *cl, char **token, char key[80])
{
	char hash[65];

	if ((*token = rand_token(32)) == NULL || code_hash(cl->id, *token, hash) != IDP_OK) {
		free_secret(*token);
		*token = NULL;
		return IDP_ENOMEM;
	}
	snprintf(key, 80, K_RT "%s", hash);
	return IDP_OK;
}

int refresh_issue(const struct config *cfg, const struct client *cl, const char family[65],
		  const struct refresh_grant *g, const char *at_h, char **token)
{
	char key[80], fkey[80], akey[80], skey[80], entry[REFRESH_AT_ENTRY], fentry[REFRESH_SC_ENTRY];
	int64_t now = now_s();
	long long abs_exp = now + cfg->refresh_abs_ttl;
	struct buf rec, fam;
	int rc;

	*token = NULL;
	if ((rc = new_token(cl, token, key)) != IDP_OK)
		return rc;
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
	sc_key(K_RT_SC, g->sub, cl->id, skey);
	memcpy(entry, at_h, 64);
	entry[64] = ' ';
	memcpy(fentry, family, 64);
	fentry[64] = ' ';
	buf_init(&rec, 256 * 1024);
	buf_init(&fam, 4096);
	if ((rc = record_adds(&rec, 'f', family)) != IDP_OK || (rc = record_adds(&rec, 'c', cl->id)) != IDP_OK ||
	    (rc = record_add_int(&rec, 'e', abs_exp)) != IDP_OK || (rc = record_adds(&rec, 'o', g->scope)) != IDP_OK ||
	    (rc = record_adds(&rec, 'u', g->sub)) != IDP_OK ||
	    (rc = record_add(&rec, 'i', g->idc, g->idc_len)) != IDP_OK ||
	    (rc = record_add(&rec, 'x', g->x, g->x_len)) != IDP_OK ||
	    (rc = record_add(&rec, 'a', g->userinfo, g->userinfo_len)) != IDP_OK ||
	    (rc = record_add_int(&rec, 'n', now)) != IDP_OK ||
	    (rc = family_record(&fam, cl->id, g->sub, now, 0, abs_exp)) != IDP_OK)
		goto out;
	rc = store_batch(&g_idp.store,
			 (const struct store_op[]){
				 {.kind = STORE_OP_PUT, .key = fkey, .val = fam.p, .len = fam.len,
				  .ttl_s = cfg->refresh_abs_ttl},
				 {.kind = STORE_OP_PUT, .key = key, .val = rec.p, .len = rec.len,
				  .ttl_s = rt_ttl(cfg, abs_exp, now)},
				 {.kind = STORE_OP_APPEND, .key = akey, .val = entry, .len = sizeof(entry),
				  .ttl_s = cl->access_ttl, .max = REFRESH_AT_MAX * REFRESH_AT_ENTRY},
				 /* the family under the citizen and the client; one
				  * that drops out of the index ends (refresh.h) */
				 {.kind = STORE_OP_APPEND, .key = skey, .val = fentry, .len = sizeof(fentry),
				  .ttl_s = cfg->refresh_abs_ttl, .max = REFRESH_SC_MAX * REFRESH_SC_ENTRY,
				  .to = K_RT_FAMILY},
			 },
			 4);
out:
	if (rec.p != NULL)
		wipe(rec.p, rec.len);
	buf_release(&rec);
	buf_release(&fam);
	if (rc != IDP_OK) {
		free_secret(*token);
		*token = NULL;
	}
	return rc;
}

static int family_revoke_in(struct store *st, const char *family)
{
	char fkey[80], akey[80];

	if (strlen(family) != 64)
		return IDP_EINVAL;
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
	return store_batch(st,
			   (const struct store_op[]){
				   {.kind = STORE_OP_DEL, .key = fkey},
				   {.kind = STORE_OP_DEL_LISTED, .key = akey, .val = K_AT, .len = strlen(K_AT)},
			   },
			   2);
}

int refresh_family_revoke(const char *family)
{
	return family_revoke_in(&g_idp.store, family);
}

/* A token already rotated away, presented again (hash: its record's
 * name): its family ends. true when it was one. */
static bool reuse_detected(const char *hash)
{
	char key[80], *fam = NULL;
	size_t len = 0;
	bool found = false;

	snprintf(key, sizeof(key), K_RT_USED "%s", hash);
	if (store_get(&g_idp.store, key, &fam, &len) == IDP_OK && len == 64) {
		char tag[9];

		found = true;
		refresh_family_revoke(fam);
		secret_tag(fam, tag);
		idp_log(LOG_WARN, "refresh: a refresh token was used twice; its family %s is revoked", tag);
	}
	free(fam);
	return found;
}

int refresh_load(const struct client *cl, const char *tok, char hash[65], char **raw, size_t *raw_len,
		 char **text, struct record *rec, bool *reused)
{
	char key[80];
	long long exp;
	int rc;

	*raw = *text = NULL;
	*raw_len = 0;
	*reused = false;
	hash[0] = '\0';
	if (tok == NULL || strlen(tok) > REFRESH_TOKEN_MAX || code_hash(cl->id, tok, hash) != IDP_OK)
		return IDP_ENOTFOUND;
	snprintf(key, sizeof(key), K_RT "%s", hash);
	rc = store_get(&g_idp.store, key, raw, raw_len);
	if (rc == IDP_ENOTFOUND) {
		*reused = reuse_detected(hash);
		return rc;
	}
	if (rc != IDP_OK)
		return IDP_EIO;
	if ((*text = malloc(*raw_len + 1)) == NULL)
		return IDP_ENOMEM;
	memcpy(*text, *raw, *raw_len + 1);
	if (record_parse(*text, *raw_len, rec) != IDP_OK || record_len(rec, 'f') != 64 ||
	    strcmp(record_get(rec, 'c') ?: "", cl->id) != 0 || !record_int(rec, 'e', &exp) || exp <= now_s() ||
	    record_get(rec, 'o') == NULL || record_get(rec, 'u') == NULL || record_get(rec, 'i') == NULL ||
	    record_get(rec, 'a') == NULL)
		return IDP_ENOTFOUND;
	return IDP_OK;
}

int refresh_rotate(const struct config *cfg, const char old_hash[65], const char *raw, size_t raw_len,
		   const struct record *grant, const struct client *cl, const char *at_key, const char *at_h,
		   const char *at_rec, size_t at_len, char **token, bool *reused)
{
	char okey[80], ukey[80], key[80], fkey[80], akey[80], skey[80], entry[REFRESH_AT_ENTRY];
	const char *family = record_get(grant, 'f'), *sub = record_get(grant, 'u');
	int64_t now = now_s();
	long long abs_exp = 0, created = 0;
	struct buf fam;
	int rc;

	*token = NULL;
	*reused = false;
	if (!record_int(grant, 'e', &abs_exp) || abs_exp <= now || family == NULL || sub == NULL)
		return IDP_ENOTFOUND;
	record_int(grant, 'n', &created); /* absent in a record of an earlier version: 0 */
	buf_init(&fam, 4096);
	if (family_record(&fam, cl->id, sub, created, now, abs_exp) != IDP_OK) {
		buf_release(&fam);
		return IDP_ENOMEM;
	}
	if ((rc = new_token(cl, token, key)) != IDP_OK) {
		buf_release(&fam);
		return rc;
	}
	snprintf(okey, sizeof(okey), K_RT "%s", old_hash);
	snprintf(ukey, sizeof(ukey), K_RT_USED "%s", old_hash);
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
	sc_key(K_AT_SC, sub, cl->id, skey);
	memcpy(entry, at_h, 64);
	entry[64] = ' ';
	rc = store_batch(&g_idp.store,
			 (const struct store_op[]){
				 {.kind = STORE_OP_CONSUME, .key = okey},
				 {.kind = STORE_OP_REQUIRE, .key = fkey},
				 {.kind = STORE_OP_PUT, .key = ukey, .val = family, .len = 64,
				  .ttl_s = (unsigned)(abs_exp - now)},
				 {.kind = STORE_OP_PUT, .key = key, .val = raw, .len = raw_len,
				  .ttl_s = rt_ttl(cfg, abs_exp, now)},
				 {.kind = STORE_OP_PUT, .key = at_key, .val = at_rec, .len = at_len,
				  .ttl_s = cl->access_ttl},
				 {.kind = STORE_OP_APPEND, .key = akey, .val = entry, .len = sizeof(entry),
				  .ttl_s = cl->access_ttl, .max = REFRESH_AT_MAX * REFRESH_AT_ENTRY},
				 /* its last use, for /account and idpctl tokens list */
				 {.kind = STORE_OP_PUT, .key = fkey, .val = fam.p, .len = fam.len,
				  .ttl_s = (unsigned)(abs_exp - now)},
				 /* the access token under the citizen and the client,
				  * as the code exchange lists its own (ledger.h) */
				 {.kind = STORE_OP_APPEND, .key = skey, .val = entry, .len = sizeof(entry),
				  .ttl_s = cl->access_ttl, .max = SESSION_AT_MAX * SESSION_AT_ENTRY},
			 },
			 8);
	buf_release(&fam);
	/* Consumed by a concurrent use of the same token: a reuse too. */
	if (rc == IDP_ENOTFOUND)
		*reused = reuse_detected(old_hash);
	if (rc != IDP_OK) {
		free_secret(*token);
		*token = NULL;
	}
	return rc;
}

int refresh_revoke(const struct client *cl, const char *tok)
{
	char hash[65], key[80], *fam = NULL;
	size_t len = 0;
	int rc;

	if (tok == NULL || strlen(tok) > REFRESH_TOKEN_MAX || code_hash(cl->id, tok, hash) != IDP_OK)
		return IDP_ENOTFOUND;
	snprintf(key, sizeof(key), K_RT "%s", hash);
	rc = store_get(&g_idp.store, key, &fam, &len);
	if (rc == IDP_OK) {
		struct record rec;

		/* The family is the record's first field. */
		rc = record_parse(fam, len, &rec) == IDP_OK && record_len(&rec, 'f') == 64
			     ? refresh_family_revoke(record_get(&rec, 'f'))
			     : IDP_ENOTFOUND;
		if (rc == IDP_OK)
			store_del(&g_idp.store, key);
	} else if (rc == IDP_ENOTFOUND) {
		/* Rotated away: its family ends as a reuse would end it. */
		snprintf(key, sizeof(key), K_RT_USED "%s", hash);
		rc = store_get(&g_idp.store, key, &fam, &len);
		if (rc == IDP_OK)
			rc = len == 64 ? refresh_family_revoke(fam) : IDP_ENOTFOUND;
	}
	if (fam != NULL)
		wipe(fam, len);
	free(fam);
	return rc == IDP_ENOTFOUND || rc == IDP_OK ? rc : IDP_EIO;
}

/* The families a list names (64 hex digits and a space each), appended to
 * ids (*n of them, room for max). */
static void list_families(const char *list, size_t len, char (*ids)[65], size_t *n, size_t max)
{
	for (size_t off = 0; off + REFRESH_SC_ENTRY <= len && *n < max; off += REFRESH_SC_ENTRY) {
		if (strspn(list + off, "0123456789abcdef") < 64 || list[off + 64] != ' ')
			continue;
		memcpy(ids[*n], list + off, 64);
		ids[(*n)++][64] = '\0';
	}
}

/* A live family of sub from its record (text: freed here), into out. */
static bool family_read(char *text, size_t len, const char *family, const char *sub, int64_t now,
			struct refresh_family *out)
{
	struct record rec;
	bool ok = false;

	if (text != NULL && record_parse(text, len, &rec) == IDP_OK && record_get(&rec, 'c') != NULL &&
	    record_len(&rec, 'c') < sizeof(out->client) && strcmp(record_get(&rec, 'u') ?: "", sub) == 0 &&
	    record_int(&rec, 't', &out->created) && record_int(&rec, 'l', &out->used) &&
	    record_int(&rec, 'e', &out->expires) && out->expires > now) {
		memcpy(out->family, family, 65);
		memcpy(out->client, record_get(&rec, 'c'), record_len(&rec, 'c') + 1);
		ok = true;
	}
	if (text != NULL)
		wipe(text, len);
	free(text);
	return ok;
}

int refresh_families(struct store *st, const struct config *cfg, const char *sub, const char *client,
		     struct refresh_family **out, size_t *n)
{
	size_t nc = client != NULL ? 1 : cfg->n_clients, max = nc * REFRESH_SC_MAX, nids = 0, i;
	char (*ids)[65] = NULL;
	int64_t now = now_s();
	int rc = IDP_OK;

	*out = NULL;
	*n = 0;
	if (max == 0)
		return IDP_OK;
	if ((ids = calloc(max, sizeof(*ids))) == NULL || (*out = calloc(max, sizeof(**out))) == NULL) {
		free(ids);
		return IDP_ENOMEM;
	}
	/* The clients' lists, STORE_BATCH_MAX a round trip. */
	for (i = 0; rc == IDP_OK && i < nc;) {
		char keys[STORE_BATCH_MAX][80], *vals[STORE_BATCH_MAX] = {0};
		const char *kp[STORE_BATCH_MAX];
		size_t lens[STORE_BATCH_MAX], k = 0;

		for (; k < STORE_BATCH_MAX && i < nc; i++) {
			const struct client *cl = client != NULL ? NULL : &cfg->clients[i];

			if (cl != NULL && !cl->grant_refresh)
				continue;
			sc_key(K_RT_SC, sub, cl != NULL ? cl->id : client, keys[k]);
			kp[k] = keys[k];
			k++;
		}
		if (k > 0 && (rc = store_mget(st, kp, k, vals, lens)) == IDP_OK)
			for (size_t j = 0; j < k; j++) {
				if (vals[j] != NULL)
					list_families(vals[j], lens[j], ids, &nids, max);
				free(vals[j]);
			}
	}
	/* Then the families themselves. */
	for (i = 0; rc == IDP_OK && i < nids;) {
		char keys[STORE_BATCH_MAX][80], *vals[STORE_BATCH_MAX] = {0};
		const char *kp[STORE_BATCH_MAX];
		size_t lens[STORE_BATCH_MAX], k = 0, first = i;

		for (; k < STORE_BATCH_MAX && i < nids; k++, i++) {
			snprintf(keys[k], 80, K_RT_FAMILY "%s", ids[i]);
			kp[k] = keys[k];
		}
		if ((rc = store_mget(st, kp, k, vals, lens)) == IDP_OK)
			for (size_t j = 0; j < k; j++)
				if (family_read(vals[j], lens[j], ids[first + j], sub, now, &(*out)[*n]))
					(*n)++;
	}
	free(ids);
	if (rc != IDP_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int refresh_families_end(struct store *st, const struct config *cfg, const char *sub, const char *client,
			 size_t *n)
{
	struct refresh_family *list = NULL;
	int rc;

	*n = 0;
	if ((rc = refresh_families(st, cfg, sub, client, &list, n)) != IDP_OK)
		return rc;
	/* The index first, each list with the families it names in one round
	 * trip (one started meanwhile ends too); then each family's access
	 * tokens, which the index does not name. */
	for (size_t i = 0; rc == IDP_OK && i < (client != NULL ? 1 : cfg->n_clients); i++) {
		const struct client *cl = client != NULL ? NULL : &cfg->clients[i];
		char key[80];

		if (cl != NULL && !cl->grant_refresh)
			continue;
		sc_key(K_RT_SC, sub, cl != NULL ? cl->id : client, key);
		rc = store_batch(st,
				 (const struct store_op[]){{.kind = STORE_OP_DEL_LISTED, .key = key,
							    .val = K_RT_FAMILY, .len = strlen(K_RT_FAMILY)}},
				 1);
	}
	for (size_t i = 0; rc == IDP_OK && i < *n; i++)
		rc = family_revoke_in(st, list[i].family);
	free(list);
	return rc;
}
