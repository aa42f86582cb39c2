/* SPDX-License-Identifier: EUPL-1.2 */
/* Refresh tokens and their families (refresh.h). */
#include "refresh.h"
#include "code.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The newest access tokens a family lists (revoked with it); an older one
 * lives out its own lifetime, as a session's do (session.h). */
#define REFRESH_AT_MAX 32
#define REFRESH_AT_ENTRY 65 /* 64 hex digits and a space */

_Static_assert(sizeof(K_RT_USED) - 1 + 64 < 80 && sizeof(K_RT_FAMILY) - 1 + 64 < 80 &&
		       sizeof(K_RT_AT) - 1 + 64 < 80,
	       "refresh keys fit their buffers");

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
	char key[80], fkey[80], akey[80], entry[REFRESH_AT_ENTRY];
	int64_t now = now_s();
	long long abs_exp = now + cfg->refresh_abs_ttl;
	struct buf rec;
	int rc;

	*token = NULL;
	if ((rc = new_token(cl, token, key)) != IDP_OK)
		return rc;
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
	memcpy(entry, at_h, 64);
	entry[64] = ' ';
	buf_init(&rec, 256 * 1024);
	if ((rc = record_adds(&rec, 'f', family)) != IDP_OK || (rc = record_adds(&rec, 'c', cl->id)) != IDP_OK ||
	    (rc = record_add_int(&rec, 'e', abs_exp)) != IDP_OK || (rc = record_adds(&rec, 'o', g->scope)) != IDP_OK ||
	    (rc = record_adds(&rec, 'u', g->sub)) != IDP_OK ||
	    (rc = record_add(&rec, 'i', g->idc, g->idc_len)) != IDP_OK ||
	    (rc = record_add(&rec, 'x', g->x, g->x_len)) != IDP_OK ||
	    (rc = record_add(&rec, 'a', g->userinfo, g->userinfo_len)) != IDP_OK)
		goto out;
	rc = store_batch(&g_idp.store,
			 (const struct store_op[]){
				 {.kind = STORE_OP_PUT, .key = fkey, .val = "1", .len = 1, .ttl_s = cfg->refresh_abs_ttl},
				 {.kind = STORE_OP_PUT, .key = key, .val = rec.p, .len = rec.len,
				  .ttl_s = rt_ttl(cfg, abs_exp, now)},
				 {.kind = STORE_OP_APPEND, .key = akey, .val = entry, .len = sizeof(entry),
				  .ttl_s = cl->access_ttl, .max = REFRESH_AT_MAX * REFRESH_AT_ENTRY},
			 },
			 3);
out:
	if (rec.p != NULL)
		wipe(rec.p, rec.len);
	buf_release(&rec);
	if (rc != IDP_OK) {
		free_secret(*token);
		*token = NULL;
	}
	return rc;
}

int refresh_family_revoke(const char *family)
{
	char fkey[80], akey[80];

	if (strlen(family) != 64)
		return IDP_EINVAL;
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
	return store_batch(&g_idp.store,
			   (const struct store_op[]){
				   {.kind = STORE_OP_DEL, .key = fkey},
				   {.kind = STORE_OP_DEL_LISTED, .key = akey, .val = K_AT, .len = strlen(K_AT)},
			   },
			   2);
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
		   const char *family, long long abs_exp, const struct client *cl, const char *at_key,
		   const char *at_h, const char *at_rec, size_t at_len, char **token, bool *reused)
{
	char okey[80], ukey[80], key[80], fkey[80], akey[80], entry[REFRESH_AT_ENTRY];
	int64_t now = now_s();
	int rc;

	*token = NULL;
	*reused = false;
	if (abs_exp <= now)
		return IDP_ENOTFOUND;
	if ((rc = new_token(cl, token, key)) != IDP_OK)
		return rc;
	snprintf(okey, sizeof(okey), K_RT "%s", old_hash);
	snprintf(ukey, sizeof(ukey), K_RT_USED "%s", old_hash);
	snprintf(fkey, sizeof(fkey), K_RT_FAMILY "%s", family);
	snprintf(akey, sizeof(akey), K_RT_AT "%s", family);
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
			 },
			 6);
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
