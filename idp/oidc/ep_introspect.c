/* SPDX-License-Identifier: EUPL-1.2 */
/* /introspect (RFC 7662): a data provider (a client with "role":
 * "data_provider") asks whether an access token a service presented to it
 * is active, and for whom. It sees only tokens carrying one of the scopes
 * it serves, and a sub pairwise for its own sector; anything else is
 * {"active":false}, so that the answer never tells that a token exists.
 * The identity pivot only to a provider serving identite_pivot.
 * With Accept: application/token-introspection+jwt, the answer is a JWT
 * signed with the active key (RFC 9701). */
#include "access_token.h"
#include "claims.h"
#include "client_auth.h"
#include "jws.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JWT_TYPE "application/token-introspection+jwt"

/* The token's scopes that dp serves, space-separated, in the token's order. */
static int served_scope(struct buf *b, const struct client *dp, const char *scope)
{
	bool first = true;
	int rc = buf_add(b, "\"", 1);

	for (const char *p = scope; rc == IDP_OK && *p;) {
		size_t n = strcspn(p, " ");
		char w[65];

		if (n > 0 && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			if (client_serves_scope(dp, w)) {
				rc = (!first && buf_add(b, " ", 1)) || buf_add(b, w, n) ? IDP_ENOMEM : IDP_OK;
				first = false;
			}
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return rc == IDP_OK ? buf_add(b, "\"", 1) : rc;
}

/* The identity pivot (FranceConnect's checktoken gives it to the data
 * providers that match a citizen by it): only for a provider serving the
 * identite_pivot scope and a token granted it, taken from the userinfo
 * answer the token's record holds (our own JSON, bounded when written). */
static int pivot_members(struct buf *b, const struct client *dp, const struct record *rec)
{
	json_t *ui, *pivot;
	int rc;

	if (!client_serves_scope(dp, "identite_pivot") || !scope_has(record_get(rec, 'o'), "identite_pivot"))
		return IDP_OK;
	ui = json_loadb(record_get(rec, 'a'), record_len(rec, 'a'), JSON_REJECT_DUPLICATES, NULL);
	pivot = json_is_object(ui) ? claims_for_scope(ui, "identite_pivot", NULL) : NULL;
	rc = pivot != NULL ? buf_json_members(b, false, pivot) : IDP_EINVAL;
	json_decref(pivot);
	json_decref(ui);
	return rc;
}

/* The answer's members for an active token of record rec, as dp sees it. */
static int active_answer(struct buf *b, const struct config *cfg, const struct client *dp, const struct record *rec)
{
	long long exp, iat;
	char *sub = subject_for(cfg, dp, record_get(rec, 'u'));
	int rc = IDP_ENOMEM;

	if (sub != NULL && record_int(rec, 'e', &exp) && buf_adds(b, "{\"active\":true") == IDP_OK &&
	    buf_json_name(b, false, "scope") == IDP_OK && served_scope(b, dp, record_get(rec, 'o')) == IDP_OK &&
	    buf_json_member_str(b, false, "client_id", record_get(rec, 'c')) == IDP_OK &&
	    buf_json_member_str(b, false, "token_type", "Bearer") == IDP_OK &&
	    buf_json_member_int(b, false, "exp", exp) == IDP_OK &&
	    (!record_int(rec, 't', &iat) || buf_json_member_int(b, false, "iat", iat) == IDP_OK) &&
	    buf_json_member_str(b, false, "sub", sub) == IDP_OK && pivot_members(b, dp, rec) == IDP_OK &&
	    buf_add(b, "}", 1) == IDP_OK)
		rc = IDP_OK;
	free(sub);
	return rc;
}

/* RFC 9701 5: the answer inside a JWT for dp, typ token-introspection+jwt. */
static enum MHD_Result jwt_answer(struct req *r, const struct client *dp, const char *answer, size_t n)
{
	const struct sign_key *sk = r->rt->keys->active[dp->id_token_alg];
	struct buf b;
	char *jwt = NULL;
	int rc;

	if (sk != NULL && !keyset_may_sign(r->rt->keys, sk))
		return http_json_error(r, 503, "temporarily_unavailable", "the signing keys are changing: retry in a second");
	buf_init(&b, 64 * 1024);
	rc = sk != NULL && buf_add(&b, "{", 1) == IDP_OK &&
		     buf_json_member_str(&b, true, "iss", r->cfg->issuer) == IDP_OK &&
		     buf_json_member_str(&b, false, "aud", dp->id) == IDP_OK &&
		     buf_json_member_int(&b, false, "iat", now_s()) == IDP_OK &&
		     buf_json_name(&b, false, "token_introspection") == IDP_OK && buf_add(&b, answer, n) == IDP_OK &&
		     buf_add(&b, "}", 1) == IDP_OK
		     ? jws_sign_typ(sk, "token-introspection+jwt", b.p, b.len, &jwt)
		     : IDP_ENOMEM;
	buf_release(&b);
	if (rc != IDP_OK)
		return http_json_error(r, 500, "server_error", NULL);
	return http_reply_owned(r, 200, JWT_TYPE, jwt, strlen(jwt));
}

/* The citizen's ledger: data provider dp learnt, of the service's token,
 * what answer b says (its served scopes, the pairwise sub). */
static void release_to_provider(const struct client *dp, const struct record *rec, const struct buf *b)
{
	struct buf s;

	buf_init(&s, 4096);
	if (served_scope(&s, dp, record_get(rec, 'o')) == IDP_OK && s.len >= 2) {
		s.p[s.len - 1] = '\0'; /* the scopes without their quotes */
		ledger_release_introspection(record_get(rec, 'u'), record_get(rec, 'c'), s.p + 1, dp->id, b->p,
					     b->len);
	}
	buf_release(&s);
}

enum MHD_Result ep_introspect(struct req *r)
{
	const char *tok, *accept = req_header(r, MHD_HTTP_HEADER_ACCEPT);
	const struct client *dp;
	struct record rec;
	struct buf b;
	char key[80], *text = NULL;
	size_t len = 0, n;
	enum MHD_Result ret;
	int rc;

	if ((dp = client_auth_token_request(r, &tok, &ret)) == NULL)
		return ret;
	if (!dp->data_provider)
		return http_json_error(r, 403, "unauthorized_client", "only a data provider may introspect tokens");
	/* token_type_hint is only a hint (RFC 7662 2.1): access tokens are
	 * the only kind there is to look up. */
	rc = access_token_load(tok, key, &text, &len, &rec);
	if (rc == IDP_EIO) {
		free(text);
		return http_json_error(r, 503, "temporarily_unavailable", "the store is not answering");
	}
	buf_init(&b, 64 * 1024);
	if (rc != IDP_OK || record_get(&rec, 'o') == NULL || record_get(&rec, 'u') == NULL ||
	    !client_serves_scope(dp, record_get(&rec, 'o')))
		rc = IDP_ENOTFOUND;
	else if ((rc = active_answer(&b, r->cfg, dp, &rec)) != IDP_OK)
		b.len = 0;
	else
		release_to_provider(dp, &rec, &b);
	if (text != NULL)
		wipe(text, len);
	free(text);
	if (rc == IDP_ENOMEM) {
		buf_release(&b);
		return http_json_error(r, 500, "server_error", NULL);
	}
	if (rc != IDP_OK && buf_adds(&b, "{\"active\":false}") != IDP_OK) {
		buf_release(&b);
		return http_json_error(r, 500, "server_error", NULL);
	}
	if (accept != NULL && strstr(accept, JWT_TYPE) != NULL) {
		ret = jwt_answer(r, dp, b.p, b.len);
		buf_release(&b);
		return ret;
	}
	n = b.len;
	return http_json_text(r, 200, buf_steal(&b), n);
}
