/* SPDX-License-Identifier: EUPL-1.2 */
/* /userinfo (OpenID Core 5.3): the Bearer token in the Authorization header
 * (GET or POST) or in a form body (RFC 6750 2.2); never in the URL. */
#include "access_token.h"
#include "client_jwks.h"
#include "jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum MHD_Result bearer_error(struct req *r, unsigned status, const char *error,
				    const char *desc)
{
	char h[256];

	if (error != NULL)
		snprintf(h, sizeof(h), "Bearer realm=\"idp\", error=\"%s\", error_description=\"%s\"",
			 error, desc);
	else
		snprintf(h, sizeof(h), "Bearer realm=\"idp\"");
	req_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, h);
	return http_json_error(r, status, error ? error : "invalid_request", desc);
}

/* The userinfo answer signed (as FranceConnect answers): iss, aud and iat
 * written before the claims of the access token's record (an object). */
static enum MHD_Result signed_answer(struct req *r, const struct client *cl, const char *claims, size_t n)
{
	const struct sign_key *sk = r->rt->keys->active[cl->userinfo_alg];
	struct buf b;
	char *jwt = NULL;

	if (sk != NULL && !keyset_may_sign(r->rt->keys, sk))
		return http_json_error(r, 503, "temporarily_unavailable",
				       "the signing keys are changing: retry in a second");
	buf_init(&b, 256 * 1024);
	/* claims is an object that begins with its "sub" member. */
	if (sk == NULL || n < 2 || claims[0] != '{' || buf_add(&b, "{", 1) ||
	    buf_json_member_str(&b, true, "iss", r->cfg->issuer) || buf_json_member_str(&b, false, "aud", cl->id) ||
	    buf_json_member_int(&b, false, "iat", now_s()) || (n > 2 && buf_add(&b, ",", 1)) ||
	    buf_add(&b, claims + 1, n - 1) || jws_sign_text(sk, false, b.p, b.len, &jwt) != IDP_OK) {
		buf_release(&b);
		return http_json_error(r, 500, "server_error", NULL);
	}
	buf_release(&b);
	if (cl->userinfo_enc != JOSE_ENC_NONE) {
		char *jwe = NULL;

		if (client_encrypt_jwt(cl, cl->userinfo_enc, jwt, &jwe) != IDP_OK) {
			free_secret(jwt);
			return http_json_error(r, 500, "server_error", "the answer could not be encrypted to the client");
		}
		free_secret(jwt);
		jwt = jwe;
	}
	return http_reply_owned(r, 200, "application/jwt", jwt, strlen(jwt));
}

enum MHD_Result ep_userinfo(struct req *r)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *body_tok = r->is_post ? params_get(&r->form, "access_token") : NULL;
	const char *tok = NULL;
	char key[80], *text = NULL;
	size_t len = 0;
	struct record rec;
	const struct client *cl;
	enum MHD_Result ret;

	if (params_get(&r->query, "access_token") != NULL)
		return bearer_error(r, 400, "invalid_request", "access tokens do not belong in the URL");
	if (r->form.dup != NULL)
		return bearer_error(r, 400, "invalid_request", "a parameter is repeated");
	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		tok = auth + 7;
	if (tok != NULL && body_tok != NULL)
		return bearer_error(r, 400, "invalid_request", "one token, one method");
	if (tok == NULL)
		tok = body_tok;
	if (tok == NULL)
		return bearer_error(r, 401, NULL, "an access token is required");
	if (access_token_load(tok, key, &text, &len, &rec) != IDP_OK) {
		if (text != NULL)
			wipe(text, len);
		free(text);
		return bearer_error(r, 401, "invalid_token", "the access token is invalid or expired");
	}
	cl = config_client(r->cfg, record_get(&rec, 'c'));
	if (cl != NULL && cl->userinfo_alg != ALG_NONE) {
		ret = signed_answer(r, cl, record_get(&rec, 'a'), record_len(&rec, 'a'));
	} else {
		size_t n = record_len(&rec, 'a');
		char *body = malloc(n + 1);

		if (body != NULL) {
			memcpy(body, record_get(&rec, 'a'), n + 1);
			ret = http_json_text(r, 200, body, n);
		} else {
			ret = http_json_error(r, 500, "server_error", NULL);
		}
	}
	wipe(text, len);
	free(text);
	return ret;
}
