/* SPDX-License-Identifier: EUPL-1.2 */
/* /revoke (RFC 7009): a client gives back a token it holds. Only a token
 * issued to that client is revoked; the answer is 200 whatever the token
 * (unknown, expired, another client's), so that it tells nothing. A refresh
 * token ends its whole family, with the access tokens the family issued
 * (refresh.h); an access token ends alone (RFC 7009 2.1 leaves its refresh
 * token to the server: it stays). */
#include "access_token.h"
#include "client_auth.h"
#include "refresh.h"

#include <stdlib.h>
#include <string.h>

/* A refresh token of cl: its family ends (logged). */
static int revoke_refresh(const struct client *cl, const char *tok)
{
	int rc = refresh_revoke(cl, tok);

	if (rc == IDP_OK) {
		char tag[9];

		secret_tag(tok, tag);
		idp_log(LOG_INFO, "revoke: client %s revoked its refresh token %s and its family", cl->id, tag);
	}
	return rc;
}

enum MHD_Result ep_revoke(struct req *r)
{
	const char *tok, *hint;
	const struct client *cl;
	enum MHD_Result ret;
	struct record rec;
	char key[80], *text = NULL;
	size_t len = 0;
	int rc;

	if ((cl = client_auth_token_request(r, &tok, &ret)) == NULL)
		return ret;
	/* token_type_hint (RFC 7009 2.1) only orders the look-ups. */
	hint = params_get(&r->form, "token_type_hint");
	if (hint != NULL && strcmp(hint, "refresh_token") == 0 && (rc = revoke_refresh(cl, tok)) != IDP_ENOTFOUND)
		goto answer;
	rc = access_token_load(tok, key, &text, &len, &rec);
	if (rc == IDP_ENOTFOUND && (hint == NULL || strcmp(hint, "refresh_token") != 0)) {
		rc = revoke_refresh(cl, tok);
	} else if (rc == IDP_OK && strcmp(record_get(&rec, 'c'), cl->id) == 0) {
		char tag[9];

		rc = store_del(&g_idp.store, key);
		if (rc == IDP_ENOTFOUND)
			rc = IDP_OK;
		secret_tag(tok, tag);
		if (rc == IDP_OK)
			idp_log(LOG_INFO, "revoke: client %s revoked its access token %s", cl->id, tag);
	}
answer:
	if (rc != IDP_EIO)
		rc = IDP_OK; /* unknown, expired or another client's: nothing to do, and nothing said */
	if (text != NULL)
		wipe(text, len);
	free(text);
	if (rc != IDP_OK) {
		req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return http_json_error(r, 503, "temporarily_unavailable", "the store is not answering");
	}
	return http_reply(r, 200, "application/json", "{}", 2, true);
}
