/* SPDX-License-Identifier: EUPL-1.2 */
/* /token (RFC 6749 4.1.3, OpenID Core 3.1.3): the code exchange, with
 * client_secret_basic or client_secret_post, PKCE S256 (RFC 7636) and the
 * revocation of what a code issued when it is presented twice (RFC 6749 4.1.2);
 * the refresh token grant (RFC 6749 6, OpenID Core 12; refresh.h). */
#include "audit.h"
#include "claims.h"
#include "client_auth.h"
#include "client_jwks.h"
#include "code.h"
#include "metrics.h"
#include "record.h"
#include "refresh.h"
#include "jws.h"
#include "json_bounded.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#define TOKEN_ERR(st, e, d) (metrics_count(M_TOKEN_REFUSED), http_json_error(r, st, e, d))

/* Authenticates the client at /token; on failure it has already answered. */
static const struct client *client_auth(struct req *r, enum MHD_Result *ret)
{
	const struct client *cl;
	struct client_auth_fail f;

	if (client_authenticate(r, &r->form, &cl, &f) == IDP_OK)
		return cl;
	if (f.status == 401 && f.basic)
		req_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"idp\"");
	*ret = TOKEN_ERR(f.status, f.error, f.description);
	return NULL;
}

static bool pkce_ok(const char *verifier, const char *challenge)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	char *enc;
	size_t n = strlen(verifier);
	bool ok;

	if (n < 43 || n > 128)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = verifier[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == '~'))
			return false;
	}
	sha256(verifier, n, d);
	if ((enc = b64url_encode(d, sizeof(d))) == NULL)
		return false;
	/* Both sides are an encoded SHA-256 (43 characters; the challenge's
	 * length is the client's own, no secret): compared in constant time. */
	n = strlen(enc);
	ok = n == strlen(challenge) && CRYPTO_memcmp(enc, challenge, n) == 0;
	free(enc);
	return ok;
}

/* at_hash (OpenID Core 3.1.3.6): left half of SHA-256 of the token. */
static char *at_hash(const char *at)
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	sha256(at, strlen(at), d);
	return b64url_encode(d, sizeof(d) / 2);
}

/* Claims the ID token sets itself: a claims request cannot override them. */
static bool id_token_protocol_claim(const char *k)
{
	static const char *const names[] = {"iss", "sub", "aud", "exp", "iat", "auth_time", "acr",
					    "amr", "at_hash", "sid", "nonce", "azp", "c_hash", NULL};

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(k, names[i]) == 0)
			return true;
	return false;
}

/* A code presented a second time: revoke what its first use issued. */
static void revoke_for_code(const char *code_hash)
{
	char key[80], *at = NULL, k2[80];
	size_t len;

	snprintf(key, sizeof(key), K_USED "%s", code_hash);
	if (store_take(&g_idp.store, key, &at, &len) != IDP_OK)
		return;
	snprintf(k2, sizeof(k2), K_AT "%.64s", at);
	store_del(&g_idp.store, k2);
	/* After the token's hash, the refresh token family the code may have
	 * started (none: nothing to delete). */
	if (len == 128)
		refresh_family_revoke(at + 64);
	idp_log(LOG_WARN, "token: a code was replayed; what it issued is revoked");
	metrics_count(M_CODE_REPLAYED);
	free(at);
}

/* The claims the claims parameter asked for in the ID token (a code
 * record's x): only those of a scope the client may use (filtered at
 * /authorize already; checked again against the client as configured now),
 * never one of the protocol claims the ID token sets itself. */
static int requested_id_claims(struct buf *idc, const struct client *cl, const char *x, size_t xlen)
{
	json_t *req = json_loadb(x, xlen, JSON_REJECT_DUPLICATES, NULL), *v;
	const char *k;
	int rc = json_is_object(req) ? IDP_OK : IDP_EINVAL;

	json_object_foreach(req, k, v) {
		if (rc == IDP_OK && !id_token_protocol_claim(k) && client_may_claim(cl, k) &&
		    (rc = buf_json_name(idc, false, k)) == IDP_OK)
			rc = buf_json_value(idc, v);
	}
	json_decref(req);
	return rc;
}

/* The store keys of one exchange: the code's record, its access token's
 * record before (cat) and after (at) the move, and the used-code marker. */
struct exchange_keys {
	char code[80], cat[80], at[80], used[80], crel[80], rel[80];
	char rel_entry[LEDGER_ID_ENTRY + 1]; /* the release's id and a space */
};

/* prefix + a 64-character hash (the keys below are 80 bytes: room for both) */
#define KEY_OF(out, prefix, hash) \
	(memcpy((out), prefix, sizeof(prefix) - 1), memcpy((out) + sizeof(prefix) - 1, (hash), 65))

_Static_assert(sizeof(K_USED) - 1 + 65 <= 80 && sizeof(K_CODE) - 1 + 65 <= 80 &&
		       sizeof(K_CODE_RELEASE) - 1 + 65 <= 80 &&
		       sizeof(K_CODE_AT) - 1 + 65 <= 80 && sizeof(K_AT) - 1 + 65 <= 80,
	       "exchange keys fit their buffers");

static void exchange_keys(const char hash[65], const char at_h[65], struct exchange_keys *k)
{
	KEY_OF(k->code, K_CODE, hash);
	KEY_OF(k->cat, K_CODE_AT, hash);
	KEY_OF(k->at, K_AT, at_h);
	KEY_OF(k->used, K_USED, hash);
	KEY_OF(k->crel, K_CODE_RELEASE, hash);
	ledger_code_release_id(hash, k->rel_entry);
	snprintf(k->rel, sizeof(k->rel), K_RELEASE "%s", k->rel_entry);
	k->rel_entry[LEDGER_ID_LEN] = ' ';
	k->rel_entry[LEDGER_ID_ENTRY] = '\0';
}

/* What an exchange stored, or left pending, before it failed: the access
 * token's record (moved or not: it holds the citizen's claims) and the
 * code's use. The token was never handed out; its hash stays in the
 * session's list, naming nothing. Absent keys are no error. */
static void take_back(const struct exchange_keys *k)
{
	store_batch(&g_idp.store,
		    (const struct store_op[]){{.kind = STORE_OP_DEL, .key = k->at},
					      {.kind = STORE_OP_DEL, .key = k->used},
					      {.kind = STORE_OP_DEL, .key = k->cat},
					      {.kind = STORE_OP_DEL, .key = k->crel},
					      {.kind = STORE_OP_DEL, .key = k->rel}},
		    5);
}

/* The exchange's one round trip: the code's record taken (of two concurrent
 * exchanges of one code, one finds it); the code's session required (the
 * code is worth nothing after logout or expiry); the access token's record
 * moved in from the code's, with its exp; what this code issued, so that a
 * replay can revoke it; and the token's hash in the session's list, so that
 * ending the session revokes it (the newest SESSION_AT_MAX are kept: a
 * session that exchanged more codes within one token lifetime leaves its
 * oldest tokens to expire by themselves; no token is refused for it). The
 * checks of the code against the request come after, on the taken record:
 * should one fail, take_back() deletes what was stored. */
static int exchange(const struct exchange_keys *k, const char *at_h, const char *family, const struct client *cl,
		    int64_t now, char **ctext, size_t *clen)
{
	char used[129], entry[SESSION_AT_ENTRY + 1], t[32];
	struct buf pre;
	int rc;

	/* The used-code marker: the access token's hash and the family a
	 * refresh token would start (revoke_for_code). */
	memcpy(used, at_h, 64);
	memcpy(used + 64, family, 65);
	memcpy(entry, at_h, SESSION_AT_ENTRY - 1);
	entry[SESSION_AT_ENTRY - 1] = ' ';
	entry[SESSION_AT_ENTRY] = '\0';
	snprintf(t, sizeof(t), "{\"t\":%lld,", (long long)now);
	buf_init(&pre, 64);
	/* exp, and iat for /introspect. */
	if (record_add_int(&pre, 'e', now + cl->access_ttl) != IDP_OK || record_add_int(&pre, 't', now) != IDP_OK) {
		buf_release(&pre);
		return IDP_ENOMEM;
	}
	rc = store_batch_take(&g_idp.store,
			      (const struct store_op[]){
				      {.kind = STORE_OP_TAKE, .key = k->code},
				      {.kind = STORE_OP_REQUIRE, .key = K_SESSION, .taken_off = CODE_SID_OFF,
				       .taken_len = 64},
				      {.kind = STORE_OP_MOVE, .key = k->cat, .to = k->at, .val = pre.p, .len = pre.len,
				       .ttl_s = cl->access_ttl},
				      {.kind = STORE_OP_PUT, .key = k->used, .val = used, .len = 128,
				       .ttl_s = cl->access_ttl},
				      {.kind = STORE_OP_APPEND, .key = K_SESSION_AT, .val = entry,
				       .len = SESSION_AT_ENTRY, .ttl_s = cl->access_ttl,
				       .max = SESSION_AT_MAX * SESSION_AT_ENTRY, .taken_off = CODE_SID_OFF,
				       .taken_len = 64},
				      /* and under the citizen and the client (ledger.h) */
				      {.kind = STORE_OP_APPEND, .key = K_AT_SC, .val = entry,
				       .len = SESSION_AT_ENTRY, .ttl_s = cl->access_ttl,
				       .max = SESSION_AT_MAX * SESSION_AT_ENTRY, .taken_off = CODE_SC_OFF,
				       .taken_len = 64},
				      /* The citizen's ledger: the release written with the
				       * code, its time now, listed under the citizen. */
				      {.kind = STORE_OP_MOVE, .key = k->crel, .to = k->rel, .val = t,
				       .len = strlen(t), .ttl_s = LEDGER_TTL_S},
				      {.kind = STORE_OP_APPEND, .key = K_RELEASES, .val = k->rel_entry,
				       .len = LEDGER_ID_ENTRY, .ttl_s = LEDGER_TTL_S,
				       .max = LEDGER_RELEASE_MAX * LEDGER_ID_ENTRY, .taken_off = CODE_SUB_OFF,
				       .taken_len = 64},
			      },
			      8, ctext, clen);
	buf_release(&pre);
	return rc;
}

/* The ID token (OpenID Core 2; 12.2 for a refresh): the claims of this
 * answer, then those of the login the record holds written (i: sub,
 * auth_time, acr, amr, sid), the nonce (NULL: none, as for a refresh), and
 * the claims the claims parameter asked for (x). *idt: the caller's.
 * IDP_EUNAVAIL: the keys are changing (retry); else IDP_OK or a failure. */
static int id_token_sign(struct req *r, const struct client *cl, int64_t now, const char *at,
			 const struct record *rec, const char *nonce, char **idt)
{
	const struct sign_key *sk = r->rt->keys->active[cl->id_token_alg];
	struct buf idc;
	char *ah = NULL;
	bool ok;

	*idt = NULL;
	if (sk == NULL || record_get(rec, 'i') == NULL || (ah = at_hash(at)) == NULL) {
		free(ah);
		return IDP_EINVAL;
	}
	buf_init(&idc, 256 * 1024);
	ok = !buf_add(&idc, "{", 1) && !buf_json_member_str(&idc, true, "iss", r->cfg->issuer) &&
	     !buf_json_member_str(&idc, false, "aud", cl->id) &&
	     !buf_json_member_int(&idc, false, "exp", now + cl->id_ttl) &&
	     !buf_json_member_int(&idc, false, "iat", now) &&
	     !buf_json_member_str(&idc, false, "at_hash", ah) && !buf_add(&idc, ",", 1) &&
	     !buf_add(&idc, record_get(rec, 'i'), record_len(rec, 'i')) &&
	     (nonce == NULL || !buf_json_member_str(&idc, false, "nonce", nonce)) &&
	     (record_get(rec, 'x') == NULL ||
	      !requested_id_claims(&idc, cl, record_get(rec, 'x'), record_len(rec, 'x'))) &&
	     !buf_add(&idc, "}", 1);
	free(ah);
	if (ok && !keyset_may_sign(r->rt->keys, sk)) {
		buf_release(&idc);
		return IDP_EUNAVAIL;
	}
	ok = ok && jws_sign_text(sk, false, idc.p, idc.len, idt) == IDP_OK;
	buf_release(&idc);
	return ok ? IDP_OK : IDP_ENOMEM;
}

/* The token answer: access_token, its lifetime, the ID token and the
 * refresh token when there are, the scope granted. */
static enum MHD_Result token_answer(struct req *r, const struct client *cl, const char *at, const char *idt,
				    const char *rt, const char *scope)
{
	struct buf resp;
	size_t n;

	buf_init(&resp, 256 * 1024);
	if (buf_add(&resp, "{", 1) || buf_json_member_str(&resp, true, "access_token", at) ||
	    buf_json_member_str(&resp, false, "token_type", "Bearer") ||
	    buf_json_member_int(&resp, false, "expires_in", cl->access_ttl) ||
	    (idt != NULL && buf_json_member_str(&resp, false, "id_token", idt)) ||
	    (rt != NULL && buf_json_member_str(&resp, false, "refresh_token", rt)) ||
	    buf_json_member_str(&resp, false, "scope", scope) || buf_add(&resp, "}", 1)) {
		if (resp.p != NULL)
			wipe(resp.p, resp.len);
		buf_release(&resp);
		return TOKEN_ERR(500, "server_error", NULL);
	}
	n = resp.len;
	return http_json_text(r, 200, buf_steal(&resp), n);
}

/* offline_access granted to a client that may refresh: the refresh token
 * starting family, its grant read from the code's record rec (written so
 * by code.c), access token at_h listed in the family. NULL token and
 * IDP_OK: none was asked for. */
static int code_refresh_token(struct req *r, const struct client *cl, const struct record *rec,
			      const char *family, const char *at_h, char **token)
{
	struct refresh_grant g = {
		.scope = record_get(rec, 'o'), .sub = record_get(rec, 'u'),
		.idc = record_get(rec, 'i'), .idc_len = record_len(rec, 'i'),
		.x = record_get(rec, 'x'), .x_len = record_len(rec, 'x'),
		.userinfo = record_get(rec, 'a'), .userinfo_len = record_len(rec, 'a'),
	};

	*token = NULL;
	if (!cl->grant_refresh || !scope_has(g.scope, "offline_access"))
		return IDP_OK;
	if (g.sub == NULL || g.userinfo == NULL)
		return IDP_EINVAL; /* a code of an earlier version: no refresh token */
	return refresh_issue(r->cfg, cl, family, &g, at_h, token);
}

static enum MHD_Result grant_code(struct req *r, const struct client *cl)
{
	const char *code = params_get(&r->form, "code");
	const char *ruri = params_get(&r->form, "redirect_uri");
	const char *verifier = params_get(&r->form, "code_verifier");
	char hash[65], at_h[65], family[65], *at = NULL, *idt = NULL, *rt = NULL, *ctext = NULL;
	struct exchange_keys keys;
	size_t clen = 0;
	struct record rec;
	bool pending = false; /* records to take back should the exchange fail */
	int rc;
	const char *challenge, *scope;
	enum MHD_Result ret;
	int64_t now = now_s();

	if (code == NULL || strlen(code) > 256)
		return TOKEN_ERR(400, "invalid_request", "code is required");
	/* The code's records are named for the client (code_hash): the
	 * client is authenticated already, and a code presented by another one
	 * is found nowhere, so that no one but its client can spend it. */
	if ((at = rand_token(32)) == NULL || code_hash(cl->id, code, hash) != IDP_OK || !refresh_family_new(family)) {
		free_secret(at);
		return TOKEN_ERR(500, "server_error", NULL);
	}
	sha256_hex(at, strlen(at), at_h);
	exchange_keys(hash, at_h, &keys);
	rc = exchange(&keys, at_h, family, cl, now, &ctext, &clen);
	if (ctext == NULL && rc == IDP_ENOTFOUND) {
		revoke_for_code(hash);
		ret = TOKEN_ERR(400, "invalid_grant", "the code is invalid, expired or already used");
		goto out;
	}
	if (ctext == NULL) {
		ret = TOKEN_ERR(503, "temporarily_unavailable", "the store is not answering");
		goto out;
	}
	if (rc != IDP_OK && rc != IDP_ENOTFOUND) {
		/* Taken, then the store failed: the code is spent, whatever was
		 * written goes. Not "retry": the same code would not do. */
		take_back(&keys);
		ret = TOKEN_ERR(500, "server_error", "the code could not be exchanged");
		goto out;
	}
	/* From here, a failure takes back what the batch stored; stopped (the
	 * session has ended, or the code's token record expired), it stored
	 * nothing, but the token record left pending goes too. */
	pending = true;
	if (record_parse(ctext, clen, &rec) != IDP_OK || record_get(&rec, 's') != ctext + CODE_SID_OFF ||
	    record_len(&rec, 's') != 64) {
		char tag[9];

		secret_tag(hash, tag);
		idp_log(LOG_ERR, "token: the record of code %s is unreadable", tag);
		ret = TOKEN_ERR(400, "invalid_grant", "the code is invalid, expired or already used");
		goto out;
	}
	if (rc == IDP_ENOTFOUND) {
		ret = TOKEN_ERR(400, "invalid_grant", "the code has expired, or the session in which it was issued has ended");
		goto out;
	}
	if (strcmp(record_get(&rec, 'c') ?: "", cl->id) != 0) {
		ret = TOKEN_ERR(400, "invalid_grant", "the code was issued to another client");
		goto out;
	}
	if (ruri == NULL || strcmp(record_get(&rec, 'r') ?: "", ruri) != 0) {
		ret = TOKEN_ERR(400, "invalid_grant", "redirect_uri does not match the authorization request");
		goto out;
	}
	challenge = record_get(&rec, 'p');
	if (challenge != NULL && (verifier == NULL || !pkce_ok(verifier, challenge))) {
		ret = TOKEN_ERR(400, "invalid_grant", "code_verifier does not match the code_challenge");
		goto out;
	}
	if (challenge == NULL && verifier != NULL) {
		ret = TOKEN_ERR(400, "invalid_grant", "code_verifier without a code_challenge");
		goto out;
	}
	scope = record_get(&rec, 'o');
	if (scope == NULL) {
		ret = TOKEN_ERR(500, "server_error", NULL);
		goto out;
	}
	rc = id_token_sign(r, cl, now, at, &rec, record_get(&rec, 'n'), &idt);
	if (rc == IDP_EUNAVAIL) {
		ret = TOKEN_ERR(503, "temporarily_unavailable", "the signing keys are changing: retry in a second");
		goto out;
	}
	if (rc != IDP_OK || code_refresh_token(r, cl, &rec, family, at_h, &rt) != IDP_OK) {
		ret = TOKEN_ERR(500, "server_error", NULL);
		goto out;
	}
	if (cl->id_token_enc != JOSE_ENC_NONE) {
		char *jwe = NULL;

		if (client_encrypt_jwt(cl, cl->id_token_enc, idt, &jwe) != IDP_OK) {
			ret = TOKEN_ERR(500, "server_error", "the ID token could not be encrypted to the client");
			goto out;
		}
		free_secret(idt);
		idt = jwe;
	}
	keys_note_client_active(&g_idp.store, (struct client *)cl, r->cfg->active_window);
	{
		char sid[65], tag[9];

		memcpy(sid, record_get(&rec, 's'), 64);
		sid[64] = '\0';
		secret_tag(sid, tag);
		audit_event("token", r->ip, "grant", "authorization_code", "client", cl->id, "sid", tag,
			    "scope", scope, "refresh_token", rt != NULL ? "issued" : "none", NULL);
	}
	metrics_count(M_TOKEN_CODE);
	pending = false; /* handed out */
	ret = token_answer(r, cl, at, idt, rt, scope);
out:
	if (pending)
		take_back(&keys);
	wipe(ctext, clen);
	free(ctext);
	free_secret(at);
	free_secret(rt);
	free_secret(idt);
	return ret;
}

/* The scope of a refresh (RFC 6749 6): the words of granted that wanted
 * names (all of granted when wanted is NULL), in granted's order; NULL when
 * wanted names one granted does not (a refresh never widens) or is empty,
 * or on a failed allocation (*nomem). The caller's. */
static char *narrow_scope(const char *granted, const char *wanted, bool *nomem)
{
	struct buf b;

	*nomem = false;
	if (wanted == NULL)
		wanted = granted;
	if (strlen(wanted) > AUTHZ_SCOPE_MAX || strspn(wanted, " ") == strlen(wanted))
		return NULL;
	for (const char *p = wanted; *p;) {
		size_t n = strcspn(p, " ");
		char w[65];

		if (n > 0) {
			if (n >= sizeof(w))
				return NULL;
			memcpy(w, p, n);
			w[n] = '\0';
			if (!scope_has(granted, w))
				return NULL;
		}
		p += n;
		p += strspn(p, " ");
	}
	buf_init(&b, AUTHZ_SCOPE_MAX + 1);
	for (const char *p = granted; *p;) {
		size_t n = strcspn(p, " ");
		char w[65];

		if (n > 0 && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			if (scope_has(wanted, w) && ((b.len > 0 && buf_adds(&b, " ")) || buf_adds(&b, w))) {
				buf_release(&b);
				*nomem = true;
				return NULL;
			}
		}
		p += n;
		p += strspn(p, " ");
	}
	return buf_steal(&b);
}

/* The userinfo answer of a refresh's access token: the grant's (ui, n
 * bytes) when the scope is the one granted, else only the claims of the
 * narrower scope (those a claims parameter added go too). The caller's. */
static char *narrow_userinfo(const char *ui, size_t n, const char *granted, const char *scope, size_t *len)
{
	json_t *all = NULL, *kept = NULL;
	struct buf b;
	char *out = NULL;

	*len = 0;
	if (strcmp(granted, scope) == 0) {
		if ((out = malloc(n + 1)) != NULL) {
			memcpy(out, ui, n + 1);
			*len = n;
		}
		return out;
	}
	if (json_parse_bounded(ui, n, n, JSON_STORED_DEPTH, JSON_REJECT_DUPLICATES, &all) != IDP_OK ||
	    !json_is_string(json_object_get(all, "sub")) || (kept = claims_for_scope(all, scope, NULL)) == NULL) {
		json_decref(all);
		return NULL;
	}
	json_object_del(kept, "sub");
	buf_init(&b, n + 64);
	if (buf_add(&b, "{", 1) == IDP_OK &&
	    buf_json_member_str(&b, true, "sub", json_string_value(json_object_get(all, "sub"))) == IDP_OK &&
	    buf_json_members(&b, false, kept) == IDP_OK && buf_add(&b, "}", 1) == IDP_OK) {
		*len = b.len;
		out = buf_steal(&b);
	} else {
		buf_release(&b);
	}
	json_decref(all);
	json_decref(kept);
	return out;
}

/* refresh_token (RFC 6749 6, OpenID Core 12): the client's own token,
 * rotated (refresh.h), a new access token for the same or a narrower scope,
 * a new ID token when the scope has openid (OpenID Core 12.2, without
 * nonce). A token presented after its rotation ends its family. */
static enum MHD_Result grant_refresh(struct req *r, const struct client *cl)
{
	const char *tok = params_get(&r->form, "refresh_token");
	char hash[65], at_h[65], akey[80], *raw = NULL, *text = NULL, *at = NULL, *idt = NULL, *rt = NULL;
	char *scope = NULL, *ui = NULL;
	size_t raw_len = 0, ui_len = 0;
	struct record rec;
	struct buf atr;
	bool reused = false, nomem;
	int64_t now = now_s();
	enum MHD_Result ret;
	int rc;

	buf_init(&atr, 256 * 1024);
	if (!cl->grant_refresh) {
		ret = TOKEN_ERR(400, "unauthorized_client", "this client may not use refresh tokens");
		goto out;
	}
	if (tok == NULL) {
		ret = TOKEN_ERR(400, "invalid_request", "refresh_token is required");
		goto out;
	}
	rc = refresh_load(cl, tok, hash, &raw, &raw_len, &text, &rec, &reused);
	if (rc == IDP_EIO || rc == IDP_ENOMEM) {
		ret = TOKEN_ERR(503, "temporarily_unavailable", "the store is not answering");
		goto out;
	}
	if (rc != IDP_OK)
		goto invalid;
	if ((scope = narrow_scope(record_get(&rec, 'o'), params_get(&r->form, "scope"), &nomem)) == NULL) {
		ret = nomem ? TOKEN_ERR(500, "server_error", NULL)
			    : TOKEN_ERR(400, "invalid_scope", "a refresh may only narrow the scope granted");
		goto out;
	}
	if ((ui = narrow_userinfo(record_get(&rec, 'a'), record_len(&rec, 'a'), record_get(&rec, 'o'), scope,
				  &ui_len)) == NULL ||
	    (at = rand_token(32)) == NULL) {
		ret = TOKEN_ERR(500, "server_error", NULL);
		goto out;
	}
	sha256_hex(at, strlen(at), at_h);
	snprintf(akey, sizeof(akey), K_AT "%s", at_h);
	/* The access token's record, as an exchange writes it (code.c). */
	if (record_add_int(&atr, 'e', now + cl->access_ttl) != IDP_OK || record_add_int(&atr, 't', now) != IDP_OK ||
	    record_adds(&atr, 'c', cl->id) != IDP_OK || record_add(&atr, 'a', ui, ui_len) != IDP_OK ||
	    record_adds(&atr, 'o', scope) != IDP_OK || record_adds(&atr, 'u', record_get(&rec, 'u')) != IDP_OK) {
		ret = TOKEN_ERR(500, "server_error", NULL);
		goto out;
	}
	/* Signed before the rotation: a failure here leaves the old token usable. */
	if (scope_has(scope, "openid") && (rc = id_token_sign(r, cl, now, at, &rec, NULL, &idt)) != IDP_OK) {
		ret = rc == IDP_EUNAVAIL
			      ? TOKEN_ERR(503, "temporarily_unavailable", "the signing keys are changing: retry in a second")
			      : TOKEN_ERR(500, "server_error", NULL);
		goto out;
	}
	rc = refresh_rotate(r->cfg, hash, raw, raw_len, &rec, cl, akey, at_h, atr.p, atr.len, &rt, &reused);
	if (rc == IDP_ENOTFOUND)
		goto invalid;
	if (rc != IDP_OK) {
		ret = TOKEN_ERR(503, "temporarily_unavailable", "the store is not answering");
		goto out;
	}
	{
		char tag[9];

		secret_tag(record_get(&rec, 'f'), tag);
		audit_event("token", r->ip, "grant", "refresh_token", "client", cl->id, "family", tag, "scope", scope,
			    NULL);
	}
	metrics_count(M_TOKEN_REFRESH);
	ret = token_answer(r, cl, at, idt, rt, scope);
	goto out;
invalid:
	if (reused) {
		metrics_count(M_REFRESH_REUSED);
		audit_event("token", r->ip, "grant", "refresh_token", "client", cl->id, "result", "reused", NULL);
	}
	ret = TOKEN_ERR(400, "invalid_grant", reused ? "the refresh token was already used: its family is revoked"
						     : "the refresh token is invalid, expired or revoked");
out:
	if (raw != NULL)
		wipe(raw, raw_len);
	free(raw);
	if (text != NULL)
		wipe(text, raw_len);
	free(text);
	if (atr.p != NULL)
		wipe(atr.p, atr.len);
	buf_release(&atr);
	if (ui != NULL)
		wipe(ui, ui_len);
	free(ui);
	free(scope);
	free_secret(at);
	free_secret(idt);
	free_secret(rt);
	return ret;
}

/* RFC 8707 2: a resource is an absolute URI without fragment; here http or
 * https, by the rule registered URIs follow (not libcurl's parser: linking
 * libcurl into the daemon for this one check loads some twenty libraries,
 * about 2 MB of resident memory at idle, as make bench showed). */
static bool resource_ok(const char *res)
{
	return uri_acceptable(res);
}

/* client_credentials (RFC 6749 4.4): a service calling an API on its own
 * behalf receives a JWT access token (RFC 9068), audience-restricted. */
static enum MHD_Result grant_cc(struct req *r, const struct client *cl)
{
	const char *scope = params_get(&r->form, "scope");
	const char *resource = params_get(&r->form, "resource");
	const struct sign_key *sk = r->rt->keys->active[cl->id_token_alg];
	char jti[23], *tok = NULL;
	struct buf c, resp;
	int64_t now = now_s();
	size_t len;
	bool ok;

	if (!cl->grant_cc)
		return TOKEN_ERR(400, "unauthorized_client", "this client may not use client_credentials");
	/* Sign only what the client may ask: its own scopes, and an audience
	 * that is a URI (never, say, another client's id). */
	if (scope != NULL && !client_scope_ok(cl, scope))
		return TOKEN_ERR(400, "invalid_scope", "a requested scope is unknown or not allowed to this client");
	if (resource != NULL && !resource_ok(resource))
		return TOKEN_ERR(400, "invalid_target", "resource must be an absolute http(s) URI without fragment");
	if (sk != NULL && !keyset_may_sign(r->rt->keys, sk))
		return TOKEN_ERR(503, "temporarily_unavailable", "the signing keys are changing: retry in a second");
	/* The claims of RFC 9068 2.2, written as text: a flat object. */
	buf_init(&c, 64 * 1024);
	ok = sk != NULL && unique_id(jti) &&
	     !buf_add(&c, "{", 1) && !buf_json_member_str(&c, true, "iss", r->cfg->issuer) &&
	     !buf_json_member_str(&c, false, "sub", cl->id) &&
	     !buf_json_member_str(&c, false, "aud", resource ? resource : r->cfg->issuer) &&
	     !buf_json_member_str(&c, false, "client_id", cl->id) &&
	     !buf_json_member_int(&c, false, "exp", now + cl->access_ttl) &&
	     !buf_json_member_int(&c, false, "iat", now) && !buf_json_member_str(&c, false, "jti", jti) &&
	     !buf_json_member_str(&c, false, "scope", scope ? scope : "") && !buf_add(&c, "}", 1) &&
	     jws_sign_text(sk, true, c.p, c.len, &tok) == IDP_OK;
	buf_release(&c);
	buf_init(&resp, 64 * 1024);
	ok = ok && !buf_add(&resp, "{", 1) && !buf_json_member_str(&resp, true, "access_token", tok) &&
	     !buf_json_member_str(&resp, false, "token_type", "Bearer") &&
	     !buf_json_member_int(&resp, false, "expires_in", cl->access_ttl) &&
	     (scope == NULL || !buf_json_member_str(&resp, false, "scope", scope)) && !buf_add(&resp, "}", 1);
	free_secret(tok);
	if (!ok) {
		buf_release(&resp);
		return TOKEN_ERR(500, "server_error", NULL);
	}
	keys_note_client_active(&g_idp.store, (struct client *)cl, r->cfg->active_window);
	audit_event("token", r->ip, "grant", "client_credentials", "client", cl->id, "scope", scope, NULL);
	metrics_count(M_TOKEN_CC);
	len = resp.len;
	return http_json_text(r, 200, buf_steal(&resp), len);
}

enum MHD_Result ep_token(struct req *r)
{
	const char *gt;
	const struct client *cl;
	enum MHD_Result ret = MHD_NO;

	if (r->form.dup != NULL)
		return TOKEN_ERR(400, "invalid_request", "a parameter is repeated");
	if (r->raw_query != NULL && strstr(r->raw_query, "client_secret") != NULL)
		return TOKEN_ERR(400, "invalid_request", "credentials do not belong in the URL");
	if ((cl = client_auth(r, &ret)) == NULL)
		return ret;
	gt = params_get(&r->form, "grant_type");
	if (gt == NULL)
		return TOKEN_ERR(400, "invalid_request", "grant_type is required");
	if (strcmp(gt, "authorization_code") == 0) {
		if (!cl->grant_code)
			return TOKEN_ERR(400, "unauthorized_client", "this client may not use this grant");
		return grant_code(r, cl);
	}
	if (strcmp(gt, "client_credentials") == 0)
		return grant_cc(r, cl);
	if (strcmp(gt, "refresh_token") == 0)
		return grant_refresh(r, cl);
	return TOKEN_ERR(400, "unsupported_grant_type",
			 "supported: authorization_code, client_credentials, refresh_token");
}
