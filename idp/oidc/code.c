/* SPDX-License-Identifier: EUPL-1.2 */
#include "code.h"
#include "backchannel.h"
#include "claims.h"
#include "ledger.h"
#include "record.h"
#include "uri.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The session's methods ("pwd otp") as JSON strings, comma-separated. */
static int amr_add(struct buf *t, const char *amr)
{
	char word[SESSION_TEXT_MAX + 1];
	int rc = IDP_OK;

	for (const char *p = amr; rc == IDP_OK && *p != '\0';) {
		size_t n = strcspn(p, " ");

		snprintf(word, sizeof(word), "%.*s", (int)n, p);
		if (p != amr)
			rc = buf_add(t, ",", 1);
		if (rc == IDP_OK)
			rc = buf_add_json_str(t, word);
		p += n + (p[n] == ' ');
	}
	return rc;
}

/* The records of a code (record.h). The code's own: the request's client,
 * redirect_uri, PKCE challenge, session and scope, and, written as JSON text
 * for /token to copy, the ID token's claims of the citizen and the request
 * (i; the nonce apart, n: an ID token a refresh brings has none) and the
 * claims the claims parameter asked for in the ID token (x, an object;
 * /token filters them again against the client as configured then); with
 * offline_access, the userinfo answer (a) and local subject (u) too, for
 * the refresh token's record (refresh.h).
 * The access token's, less its exp and the record's tag (K_CODE_AT): the
 * client, the userinfo answer (a), and for /introspect the scope granted
 * (o) and the citizen's local subject (u), from which a data provider's own
 * pairwise sub is derived. */
static int code_record(const struct config *cfg, const struct client *cl, const struct authz_req *a,
		       const struct session *sess, const char *hash, char **text, size_t *len, char **at_text,
		       size_t *at_len, char **rel_text, size_t *rel_len)
{
	const char *sid_hash = sess->sid_hash;
	const json_t *idreq = json_object_get(a->claims, "id_token");
	json_t *uinfo = NULL, *idx = NULL;
	char *idt = NULL; /* the ID token's claims of the citizen, for the release */
	char *sub = NULL, sid[65], sc[65], subh[65];
	struct buf rec, t, atr;
	int rc = IDP_ENOMEM;

	buf_init(&rec, 256 * 1024);
	buf_init(&t, 128 * 1024);
	buf_init(&atr, 128 * 1024);
	*text = *at_text = *rel_text = NULL;
	*len = *at_len = *rel_len = 0;
	if ((sub = subject_for(cfg, cl, sess->sub)) == NULL)
		goto out;
	sid_for(cfg, cl, sid_hash, sid);
	/* The session first, at CODE_SID_OFF. */
	if (strlen(sid_hash) != 64) {
		rc = IDP_EINVAL;
		goto out;
	}
	ledger_sc_hash(sess->sub, cl->id, sc);
	sha256_hex(sess->sub, strlen(sess->sub), subh);
	if ((rc = record_adds(&rec, 's', sid_hash)) != IDP_OK || (rc = record_adds(&rec, 'w', sc)) != IDP_OK ||
	    (rc = record_adds(&rec, 'v', subh)) != IDP_OK || (rc = record_adds(&rec, 'c', cl->id)) != IDP_OK ||
	    (rc = record_adds(&rec, 'r', a->redirect_uri)) != IDP_OK ||
	    (rc = record_adds(&rec, 'p', a->code_challenge)) != IDP_OK ||
	    (rc = record_adds(&rec, 'o', a->scope)) != IDP_OK)
		goto out;
	/* OpenID Core 2: what the ID token says of this login. */
	if ((rc = buf_json_member_str(&t, true, "sub", sub)) != IDP_OK ||
	    (rc = buf_json_member_int(&t, false, "auth_time", sess->auth_time)) != IDP_OK ||
	    (rc = buf_json_member_str(&t, false, "acr", sess->acr)) != IDP_OK ||
	    (rc = buf_json_name(&t, false, "amr")) != IDP_OK || (rc = buf_add(&t, "[", 1)) != IDP_OK ||
	    (rc = amr_add(&t, sess->amr)) != IDP_OK || (rc = buf_add(&t, "]", 1)) != IDP_OK ||
	    (rc = buf_json_member_str(&t, false, "sid", sid)) != IDP_OK ||
	    (rc = record_add(&rec, 'i', t.p, t.len)) != IDP_OK || (rc = record_adds(&rec, 'n', a->nonce)) != IDP_OK)
		goto out;
	if ((idt = strndup(t.p, t.len)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	if (json_is_object(idreq)) {
		rc = IDP_ENOMEM;
		if ((idx = claims_for_scope(sess->claims, "", idreq)) == NULL)
			goto out;
		t.len = 0;
		if (json_object_size(idx) > 0 &&
		    ((rc = buf_add(&t, "{", 1)) != IDP_OK || (rc = buf_json_members(&t, true, idx)) != IDP_OK ||
		     (rc = buf_add(&t, "}", 1)) != IDP_OK || (rc = record_add(&rec, 'x', t.p, t.len)) != IDP_OK))
			goto out;
	}
	/* OpenID Core 5.3.2: the userinfo answer, sub first. */
	rc = IDP_ENOMEM;
	if ((uinfo = claims_for_scope(sess->claims, a->scope, json_object_get(a->claims, "userinfo"))) == NULL)
		goto out;
	json_object_del(uinfo, "sub");
	t.len = 0;
	if ((rc = buf_add(&t, "{", 1)) != IDP_OK || (rc = buf_json_member_str(&t, true, "sub", sub)) != IDP_OK ||
	    (rc = buf_json_members(&t, false, uinfo)) != IDP_OK || (rc = buf_add(&t, "}", 1)) != IDP_OK ||
	    (rc = record_adds(&atr, 'c', cl->id)) != IDP_OK || (rc = record_add(&atr, 'a', t.p, t.len)) != IDP_OK ||
	    (rc = record_adds(&atr, 'o', a->scope)) != IDP_OK || (rc = record_adds(&atr, 'u', sess->sub)) != IDP_OK)
		goto out;
	/* offline_access: the refresh token's record, written at /token, needs
	 * the userinfo answer and the subject too (the access token's record
	 * moves without passing through /token). */
	if (scope_has(a->scope, "offline_access") &&
	    ((rc = record_add(&rec, 'a', t.p, t.len)) != IDP_OK || (rc = record_adds(&rec, 'u', sess->sub)) != IDP_OK))
		goto out;
	/* The citizen's ledger: the release the exchange will record. */
	rc = IDP_ENOMEM;
	if ((*rel_text = ledger_code_release(cfg, hash, cl->id, a->scope, idt, strlen(idt), t.p, t.len,
					     rel_len)) == NULL)
		goto out;
	/* Without its tag: the exchange's MOVE puts the tag and exp before it.
	 * (Record values hold no NUL: strdup copies it whole.) */
	if ((*at_text = strdup(atr.p + strlen(RECORD_TAG))) == NULL) {
		free(*rel_text);
		*rel_text = NULL;
		goto out;
	}
	*at_len = atr.len - strlen(RECORD_TAG);
	*len = rec.len;
	if ((*text = buf_steal(&rec)) == NULL) {
		free_secret(*at_text);
		*at_text = NULL;
		free(*rel_text);
		*rel_text = NULL;
		goto out;
	}
	rc = IDP_OK;
out:
	free(sub);
	free_secret(idt);
	json_decref(uinfo);
	json_decref(idx);
	buf_release(&t);
	buf_release(&atr);
	buf_release(&rec);
	return rc;
}

int code_issue(const struct config *cfg, const struct client *cl, const struct authz_req *a,
	       const struct session *sess, const char *consent_key, char **location)
{
	char *code = NULL, hash[65], key[80], akey[80], skey[80], rkey[80], *text = NULL, *at_text = NULL, tag[9];
	char *rel_text = NULL;
	struct store_op ops[STORE_BATCH_MAX];
	struct bcl_bufs bb;
	size_t len = 0, at_len = 0, rel_len = 0, n = 0;
	int rc;

	*location = NULL;
	if ((code = rand_token(32)) == NULL || code_hash(cl->id, code, hash) != IDP_OK) {
		rc = IDP_ENOMEM;
		goto out;
	}
	/* The code's record (record.h) carries what /token needs, already
	 * written: the ID token's claims of this citizen and request, and the
	 * userinfo answer the access token will give, with only the claims the
	 * service may receive, not the citizen's whole identity. */
	if ((rc = code_record(cfg, cl, a, sess, hash, &text, &len, &at_text, &at_len, &rel_text, &rel_len)) != IDP_OK)
		goto out;
	snprintf(key, sizeof(key), K_CODE "%s", hash);
	snprintf(akey, sizeof(akey), K_CODE_AT "%s", hash);
	snprintf(rkey, sizeof(rkey), K_CODE_RELEASE "%s", hash);
	/* A remembered consent is checked in the round trip that stores the
	 * code: without it, nothing is stored and the caller asks. */
	if (consent_key != NULL)
		ops[n++] = (struct store_op){.kind = STORE_OP_REQUIRE, .key = consent_key};
	/* A session read from the process's copy: it must still live. */
	snprintf(skey, sizeof(skey), K_SESSION "%s", sess->sid_hash);
	if (sess->cached)
		ops[n++] = (struct store_op){.kind = STORE_OP_REQUIRE, .key = skey};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = key, .val = text, .len = len,
				     .ttl_s = cl->code_ttl};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = akey, .val = at_text, .len = at_len,
				     .ttl_s = cl->code_ttl};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = rkey, .val = rel_text, .len = rel_len,
				     .ttl_s = cl->code_ttl};
	/* Sliding idle lifetime of the SSO session, in the same round trip (a
	 * session created by this very request already has it). */
	if (!sess->fresh)
		ops[n++] = (struct store_op){.kind = STORE_OP_EXPIRE, .key = skey,
					     .ttl_s = session_ttl(cfg, sess->created)};
	/* A service with a backchannel_logout_uri: the session remembers to
	 * tell it when it ends (backchannel.h), in the same round trip. */
	n += bcl_code_ops(cfg, cl, sess->sid_hash, sess->sub, now_s() + session_ttl(cfg, sess->created), &bb,
			  ops + n);
	if ((rc = store_batch(&g_idp.store, ops, n)) != IDP_OK)
		goto out;
	bcl_code_stored(cl, sess->sid_hash);
	if ((*location = uri_with_params(a->redirect_uri,
					 (const char *const[]){"code", code, "state", a->state, "iss", cfg->issuer},
					 6)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	secret_tag(code, tag);
	idp_log(LOG_DEBUG, "authorize: code %s issued to %s", tag, cl->id);
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	free_secret(at_text);
	free(rel_text);
	free_secret(code);
	return rc;
}

int code_hash(const char *client_id, const char *code, char out[65])
{
	char *msg;

	if (asprintf(&msg, "%s|%s", client_id, code) < 0) {
		out[0] = '\0';
		return IDP_ENOMEM;
	}
	sha256_hex(msg, strlen(msg), out);
	free_secret(msg);
	return IDP_OK;
}
