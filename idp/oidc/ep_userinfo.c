/* /userinfo (OpenID Core 5.3): the Bearer token in the Authorization header
 * (GET or POST) or in a form body (RFC 6750 2.2); never in the URL. */
#include "code.h"
#include "record.h"
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
	return http_reply_owned(r, 200, "application/jwt", jwt, strlen(jwt));
}

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

enum MHD_Result ep_userinfo(struct req *r)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *body_tok = r->is_post ? params_get(&r->form, "access_token") : NULL;
	const char *tok = NULL;
	char hash[65], key[80], *text = NULL;
	size_t len = 0;
	long long exp;
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
	if (strlen(tok) > 512)
		return bearer_error(r, 401, "invalid_token", "the access token is invalid");
	sha256_hex(tok, strlen(tok), hash);
	snprintf(key, sizeof(key), K_AT "%s", hash);
	/* The access token's record (record.h), as /token wrote it. */
	if (store_get(&g_idp.store, key, &text, &len) == IDP_OK && len > 0 && text[0] == '{' &&
	    legacy_record(&text, &len) != IDP_OK)
		return bearer_error(r, 401, "invalid_token", "the access token is invalid or expired");
	if (text == NULL || record_parse(text, len, &rec) != IDP_OK ||
	    !record_int(&rec, 'e', &exp) || exp <= now_s() || record_get(&rec, 'a') == NULL) {
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
