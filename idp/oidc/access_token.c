/* SPDX-License-Identifier: EUPL-1.2 */
/* An access token's record (access_token.h). */
#include "access_token.h"
#include "code.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An access token's record as versions before record.h wrote it (JSON, its
 * claims an object), rewritten as a record: such tokens stay valid for their
 * lifetime after an upgrade. *text is freed and replaced. */
static int legacy_record(char **text, size_t *len)
{
	json_t *j = NULL, *exp, *cid;
	char *claims = NULL;
	struct buf b;
	int rc;

	rc = store_parse_json(K_AT, *text, *len, &j); /* frees *text */
	*text = NULL;
	*len = 0;
	if (rc != IDP_OK)
		return rc;
	exp = json_object_get(j, "exp");
	cid = json_object_get(j, "client_id");
	buf_init(&b, 256 * 1024);
	if (json_is_object(json_object_get(j, "claims")))
		claims = json_dumps(json_object_get(j, "claims"), JSON_COMPACT);
	rc = claims != NULL && json_is_integer(exp) && json_is_string(cid) &&
		     record_add_int(&b, 'e', json_integer_value(exp)) == IDP_OK &&
		     record_adds(&b, 'c', json_string_value(cid)) == IDP_OK && record_adds(&b, 'a', claims) == IDP_OK
		     ? IDP_OK
		     : IDP_EINVAL;
	free_secret(claims);
	json_decref(j);
	if (rc != IDP_OK) {
		buf_release(&b);
		return rc;
	}
	*len = b.len;
	*text = buf_steal(&b);
	return *text != NULL ? IDP_OK : IDP_ENOMEM;
}

int access_token_load(const char *tok, char key[80], char **text, size_t *len, struct record *rec)
{
	char hash[65];
	long long exp;
	int rc;

	*text = NULL;
	*len = 0;
	key[0] = '\0';
	if (tok == NULL || strlen(tok) > ACCESS_TOKEN_MAX)
		return IDP_ENOTFOUND;
	sha256_hex(tok, strlen(tok), hash);
	snprintf(key, 80, K_AT "%s", hash);
	rc = store_get(&g_idp.store, key, text, len);
	if (rc != IDP_OK)
		return rc == IDP_ENOTFOUND ? rc : IDP_EIO;
	if (*len > 0 && (*text)[0] == '{' && legacy_record(text, len) != IDP_OK)
		return IDP_ENOTFOUND;
	if (*text == NULL || record_parse(*text, *len, rec) != IDP_OK || !record_int(rec, 'e', &exp) ||
	    exp <= now_s() || record_get(rec, 'a') == NULL || record_get(rec, 'c') == NULL)
		return IDP_ENOTFOUND;
	return IDP_OK;
}
