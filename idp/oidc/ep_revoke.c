/* SPDX-License-Identifier: EUPL-1.2 */
/* /revoke (RFC 7009): a client gives back a token it holds. Only a token
 * issued to that client is revoked; the answer is 200 whatever the token
 * (unknown, expired, another client's), so that it tells nothing. */
#include "access_token.h"
#include "client_auth.h"

#include <stdlib.h>
#include <string.h>

enum MHD_Result ep_revoke(struct req *r)
{
	const char *tok;
	const struct client *cl;
	enum MHD_Result ret;
	struct record rec;
	char key[80], *text = NULL;
	size_t len = 0;
	int rc;

	if ((cl = client_auth_token_request(r, &tok, &ret)) == NULL)
		return ret;
	/* token_type_hint (RFC 7009 2.1) only orders the look-ups. Refresh
	 * tokens do not exist yet: when they do, a "refresh_token" hint looks
	 * there first, and revoking one revokes its family's access tokens. */
	rc = access_token_load(tok, key, &text, &len, &rec);
	if (rc == IDP_OK && strcmp(record_get(&rec, 'c'), cl->id) == 0) {
		char tag[9];

		rc = store_del(&g_idp.store, key);
		if (rc == IDP_ENOTFOUND)
			rc = IDP_OK;
		secret_tag(tok, tag);
		if (rc == IDP_OK)
			idp_log(LOG_INFO, "revoke: client %s revoked its access token %s", cl->id, tag);
	} else if (rc != IDP_EIO) {
		rc = IDP_OK; /* unknown, expired or another client's: nothing to do, and nothing said */
	}
	if (text != NULL)
		wipe(text, len);
	free(text);
	if (rc != IDP_OK) {
		req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		return http_json_error(r, 503, "temporarily_unavailable", "the store is not answering");
	}
	return http_reply(r, 200, "application/json", "{}", 2, true);
}
