/* /userinfo (OpenID Core 5.3): the Bearer token in the Authorization header
 * (GET or POST) or in a form body (RFC 6750 2.2); never in the URL. */
#include "oidc.h"

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

enum MHD_Result ep_userinfo(struct req *r)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *body_tok = r->is_post ? params_get(&r->form, "access_token") : NULL;
	const char *tok = NULL;
	char hash[65], key[80], *jwt = NULL;
	json_t *rec = NULL, *claims;
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
	if (strlen(tok) > 512)
		return bearer_error(r, 401, "invalid_token", "the access token is invalid");
	sha256_hex(tok, strlen(tok), hash);
	snprintf(key, sizeof(key), K_AT "%s", hash);
	if (store_get_json(&g_idp.store, key, &rec) != IDP_OK ||
	    json_integer_value(json_object_get(rec, "exp")) <= now_s()) {
		json_decref(rec);
		return bearer_error(r, 401, "invalid_token", "the access token is invalid or expired");
	}
	claims = json_object_get(rec, "claims");
	cl = config_client(r->cfg, json_string_value(json_object_get(rec, "client_id")));
	if (cl != NULL && cl->userinfo_alg != ALG_NONE) {
		/* Signed userinfo (as FranceConnect answers): iss and aud added. */
		const struct sign_key *sk = r->rt->keys->active[cl->userinfo_alg];

		json_object_set_new(claims, "iss", json_string(r->cfg->issuer));
		json_object_set_new(claims, "aud", json_string(cl->id));
		json_object_set_new(claims, "iat", json_integer(now_s()));
		if (sk != NULL && !keyset_may_sign(r->rt->keys, sk)) {
			json_decref(rec);
			return http_json_error(r, 503, "temporarily_unavailable",
					       "the signing keys are changing: retry in a second");
		}
		if (sk == NULL || jws_sign(sk, false, claims, &jwt) != IDP_OK) {
			json_decref(rec);
			return http_json_error(r, 500, "server_error", NULL);
		}
		ret = http_reply(r, 200, "application/jwt", jwt, strlen(jwt), true);
		free(jwt);
	} else {
		ret = http_json(r, 200, claims);
	}
	json_decref(rec);
	return ret;
}
