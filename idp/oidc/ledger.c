/* SPDX-License-Identifier: EUPL-1.2 */
/* The citizen's ledger (ledger.h). */
#include "ledger.h"
#include "claims.h"
#include "code.h"
#include "flow.h"
#include "jws.h"
#include "json_bounded.h"
#include "refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ledger_sc_hash(const char *sub, const char *client_id, char out[65])
{
	struct buf b;

	buf_init(&b, 8192);
	if (buf_printf(&b, "%s|%s", sub, client_id) != IDP_OK)
		memset(out, '0', 64), out[64] = '\0';
	else
		sha256_hex(b.p, b.len, out);
	buf_release(&b);
}

static void subject_list_key(const char *prefix, const char *sub, char key[80])
{
	char h[65];

	sha256_hex(sub, strlen(sub), h);
	snprintf(key, 80, "%s%s", prefix, h);
}

/* words cut to at most max bytes at a word boundary, into out. */
static void cut_words(const char *words, size_t max, char *out)
{
	size_t n = strlen(words);

	if (n > max) {
		n = max;
		while (n > 0 && words[n] != ' ')
			n--;
	}
	memcpy(out, words, n);
	out[n] = '\0';
}

/* The data providers (clients with "role": "data_provider") serving one of
 * scope's words, space-separated, cut to max bytes. */
static void providers_of(const struct config *cfg, const char *scope, char *out, size_t max)
{
	struct buf b;

	out[0] = '\0';
	buf_init(&b, 4096);
	for (size_t i = 0; i < cfg->n_clients; i++) {
		const struct client *cl = &cfg->clients[i];
		bool serves = false;

		for (size_t j = 0; cl->data_provider && j < cl->n_scopes_served && !serves; j++)
			serves = scope_has(scope, cl->scopes_served[j]);
		if (serves && ((b.len > 0 && buf_adds(&b, " ") != IDP_OK) || buf_adds(&b, cl->id) != IDP_OK))
			break;
	}
	if (b.p != NULL)
		cut_words(b.p, max, out);
	buf_release(&b);
}

/* entry padded to LEDGER_ENTRY bytes, a newline last; false when it does
 * not fit. */
static bool pad_entry(struct buf *b)
{
	if (b->p == NULL || b->len > LEDGER_ENTRY - 1)
		return false;
	while (b->len < LEDGER_ENTRY - 1)
		if (buf_add(b, " ", 1) != IDP_OK)
			return false;
	return buf_add(b, "\n", 1) == IDP_OK;
}

/* A list's text (*text NULL when it is absent: no error); arr: the array
 * its caller will fill (NULL: out of memory). */
static int list_get(const char *key, const json_t *arr, char **text, size_t *len)
{
	int rc;

	*text = NULL;
	*len = 0;
	if (arr == NULL)
		return IDP_ENOMEM;
	rc = store_get(&g_idp.store, key, text, len);
	return rc == IDP_ENOTFOUND ? IDP_OK : rc;
}

/* A release's members after "t": kind, service, scopes, data providers,
 * the hash of what was released, its id; and the closing brace. */
static int release_body(struct buf *b, const char *kind, const char *client_id, const char *categories,
			const char *prov, const char *released, size_t rlen, const char *id)
{
	unsigned char d[32];
	char cats[257], *h;
	int rc = IDP_ENOMEM;

	cut_words(categories != NULL ? categories : "", 256, cats);
	sha256(released, rlen, d);
	if ((h = b64url_encode(d, sizeof(d))) != NULL && buf_json_member_str(b, true, "k", kind) == IDP_OK &&
	    buf_json_member_str(b, false, "c", client_id) == IDP_OK &&
	    buf_json_member_str(b, false, "s", cats) == IDP_OK &&
	    (prov == NULL || prov[0] == '\0' || buf_json_member_str(b, false, "p", prov) == IDP_OK) &&
	    buf_json_member_str(b, false, "h", h) == IDP_OK && buf_json_member_str(b, false, "j", id) == IDP_OK &&
	    buf_adds(b, "}") == IDP_OK)
		rc = IDP_OK;
	free(h);
	return rc;
}

void ledger_code_release_id(const char code_hash[65], char out[LEDGER_ID_LEN + 1])
{
	unsigned char d[32];
	char *e;
	struct buf b;

	buf_init(&b, 128);
	buf_printf(&b, "release|%s", code_hash);
	sha256(b.p != NULL ? b.p : "", b.len, d);
	buf_release(&b);
	/* 16 bytes: 22 base64url characters, as unique_id's */
	if ((e = b64url_encode(d, 16)) != NULL && strlen(e) == LEDGER_ID_LEN)
		memcpy(out, e, LEDGER_ID_LEN + 1);
	else
		memset(out, 'A', LEDGER_ID_LEN), out[LEDGER_ID_LEN] = '\0';
	free(e);
}

char *ledger_code_release(const struct config *cfg, const char code_hash[65], const char *client_id,
			  const char *scope, const char *id_claims, size_t id_len, const char *userinfo,
			  size_t ui_len, size_t *len)
{
	char id[LEDGER_ID_LEN + 1], prov[129];
	struct buf rel, b;
	char *out = NULL;

	*len = 0;
	ledger_code_release_id(code_hash, id);
	providers_of(cfg, scope, prov, 128);
	/* What the service receives: the ID token's claims of the citizen and
	 * the userinfo answer its access token opens (fixed with the code). */
	buf_init(&rel, 512 * 1024);
	buf_init(&b, 4096);
	if (buf_adds(&rel, "{\"id_token\":{") == IDP_OK && buf_add(&rel, id_claims, id_len) == IDP_OK &&
	    buf_adds(&rel, "},\"userinfo\":") == IDP_OK && buf_add(&rel, userinfo, ui_len) == IDP_OK &&
	    buf_adds(&rel, "}") == IDP_OK &&
	    release_body(&b, "token", client_id, scope, prov, rel.p, rel.len, id) == IDP_OK) {
		*len = b.len;
		out = buf_steal(&b);
	}
	buf_release(&rel);
	buf_release(&b);
	return out;
}

void ledger_release_introspection(const char *sub, const char *client_id, const char *categories,
				  const char *provider, const char *released, size_t rlen)
{
	char key[80], rkey[80], id[23], entry[LEDGER_ID_ENTRY + 1];
	struct buf b;
	int rc = IDP_ENOMEM;

	if (sub == NULL || client_id == NULL || !unique_id(id))
		return;
	subject_list_key(K_RELEASES, sub, key);
	snprintf(rkey, sizeof(rkey), K_RELEASE "%s", id);
	snprintf(entry, sizeof(entry), "%s ", id);
	buf_init(&b, 4096);
	if (buf_printf(&b, "{\"t\":%lld,", (long long)now_s()) == IDP_OK &&
	    release_body(&b, "introspection", client_id, categories, provider, released, rlen, id) == IDP_OK)
		rc = store_batch(&g_idp.store,
				 (const struct store_op[]){
					 {.kind = STORE_OP_PUT, .key = rkey, .val = b.p, .len = b.len,
					  .ttl_s = LEDGER_TTL_S},
					 {.kind = STORE_OP_APPEND, .key = key, .val = entry, .len = LEDGER_ID_ENTRY,
					  .ttl_s = LEDGER_TTL_S, .max = LEDGER_RELEASE_MAX * LEDGER_ID_ENTRY},
				 },
				 2);
	if (rc != IDP_OK)
		idp_log(LOG_WARN, "ledger: a release to %s was not recorded (%s)", provider, idp_strerror(rc));
	buf_release(&b);
}

/* One release record (text, len bytes; freed here) into arr when readable
 * and young enough. */
static void add_release(json_t *arr, char *text, size_t len, int64_t oldest)
{
	json_t *e = NULL;

	if (text != NULL && json_parse_bounded(text, len, 4096, 2, JSON_REJECT_DUPLICATES, &e) == IDP_OK &&
	    json_is_object(e) && json_is_integer(json_object_get(e, "t")) &&
	    json_integer_value(json_object_get(e, "t")) >= oldest && json_is_string(json_object_get(e, "c")))
		json_array_append(arr, e);
	json_decref(e);
	free(text);
}

int ledger_releases(const char *sub, json_t **out)
{
	char key[80], *list = NULL;
	size_t llen = 0, n;
	json_t *arr = json_array();
	int64_t oldest = now_s() - LEDGER_TTL_S;
	int rc;

	*out = NULL;
	subject_list_key(K_RELEASES, sub, key);
	if ((rc = list_get(key, arr, &list, &llen)) != IDP_OK || list == NULL) {
		*out = rc == IDP_OK ? arr : NULL;
		if (rc != IDP_OK)
			json_decref(arr);
		return rc;
	}
	/* Newest first, STORE_BATCH_MAX records a round trip. */
	n = llen / LEDGER_ID_ENTRY;
	for (size_t i = n; rc == IDP_OK && i > 0;) {
		char keys[STORE_BATCH_MAX][80], *vals[STORE_BATCH_MAX] = {0};
		const char *kp[STORE_BATCH_MAX];
		size_t lens[STORE_BATCH_MAX], k = 0;

		for (; k < STORE_BATCH_MAX && i > 0; k++, i--) {
			snprintf(keys[k], 80, K_RELEASE "%.*s", LEDGER_ID_LEN, list + (i - 1) * LEDGER_ID_ENTRY);
			kp[k] = keys[k];
		}
		if ((rc = store_mget(&g_idp.store, kp, k, vals, lens)) == IDP_OK)
			for (size_t j = 0; j < k; j++)
				add_release(arr, vals[j], lens[j], oldest);
	}
	free(list);
	if (rc != IDP_OK) {
		json_decref(arr);
		return rc;
	}
	*out = arr;
	return IDP_OK;
}

int provider_sign(const char *typ, const char *payload, size_t len, char **jws)
{
	struct rt *rt = rt_acquire();
	const struct sign_key *sk = NULL;
	int rc = IDP_EINVAL;

	*jws = NULL;
	/* RS256 first: every verifier has it. */
	for (int a = ALG_RS256; a >= ALG_ES256 && sk == NULL; a--)
		if (rt->keys->active[a] != NULL && keyset_may_sign(rt->keys, rt->keys->active[a]))
			sk = rt->keys->active[a];
	if (sk != NULL)
		rc = jws_sign_typ(sk, typ, payload, len, jws);
	rt_release(rt);
	return rc;
}

/* The words of s as a JSON array, into b. */
static int words_array(struct buf *b, const char *s)
{
	bool first = true;
	int rc = buf_adds(b, "[");

	for (const char *p = s; rc == IDP_OK && *p;) {
		size_t n = strcspn(p, " ");
		char w[257];

		if (n > 0 && n < sizeof(w)) {
			memcpy(w, p, n);
			w[n] = '\0';
			rc = (!first && buf_adds(b, ",") != IDP_OK) || buf_add_json_str(b, w) != IDP_OK ? IDP_ENOMEM
													 : IDP_OK;
			first = false;
		}
		p += n;
		while (*p == ' ')
			p++;
	}
	return rc == IDP_OK ? buf_adds(b, "]") : rc;
}

int ledger_receipt(const struct config *cfg, const char *sub, const char *jti, char **jws)
{
	json_t *list = NULL, *e, *found = NULL;
	size_t i;
	struct buf b;
	int rc;

	*jws = NULL;
	if ((rc = ledger_releases(sub, &list)) != IDP_OK)
		return rc;
	json_array_foreach(list, i, e) {
		if (json_is_string(json_object_get(e, "j")) &&
		    strcmp(json_string_value(json_object_get(e, "j")), jti) == 0) {
			found = e;
			break;
		}
	}
	rc = IDP_ENOTFOUND;
	buf_init(&b, 8192);
	if (found != NULL) {
		const char *p = json_string_value(json_object_get(found, "p"));
		const char *s = json_string_value(json_object_get(found, "s"));
		const char *c = json_string_value(json_object_get(found, "c"));
		const struct client *cl = config_client(cfg, c);

		rc = IDP_ENOMEM;
		if (buf_adds(&b, "{") == IDP_OK && buf_json_member_str(&b, true, "iss", cfg->issuer) == IDP_OK &&
		    buf_json_member_str(&b, false, "sub", sub) == IDP_OK &&
		    buf_json_member_int(&b, false, "iat", json_integer_value(json_object_get(found, "t"))) == IDP_OK &&
		    buf_json_member_str(&b, false, "jti", jti) == IDP_OK &&
		    buf_json_member_str(&b, false, "service", c) == IDP_OK &&
		    (cl == NULL || cl->name == NULL || buf_json_member_str(&b, false, "service_name", cl->name) == IDP_OK) &&
		    buf_json_member_str(&b, false, "release", json_string_value(json_object_get(found, "k")) ?: "") == IDP_OK &&
		    buf_json_name(&b, false, "categories") == IDP_OK && words_array(&b, s ? s : "") == IDP_OK &&
		    (p == NULL || (buf_json_name(&b, false, "data_provider") == IDP_OK && words_array(&b, p) == IDP_OK)) &&
		    buf_json_member_str(&b, false, "sha256", json_string_value(json_object_get(found, "h")) ?: "") == IDP_OK &&
		    buf_adds(&b, "}") == IDP_OK)
			rc = provider_sign(RECEIPT_TYP, b.p, b.len, jws);
	}
	buf_release(&b);
	json_decref(list);
	return rc;
}

/* The entries of the list at key, newest first, each an object (older than
 * LEDGER_TTL_S or unreadable: left out). */
static int read_entries(const char *key, json_t **out)
{
	char *text = NULL;
	size_t len = 0;
	json_t *arr = json_array();
	int64_t oldest = now_s() - LEDGER_TTL_S;
	int rc;

	*out = NULL;
	if ((rc = list_get(key, arr, &text, &len)) != IDP_OK || text == NULL) {
		*out = rc == IDP_OK ? arr : NULL;
		if (rc != IDP_OK)
			json_decref(arr);
		return rc;
	}
	for (size_t off = len / LEDGER_ENTRY * LEDGER_ENTRY; off >= LEDGER_ENTRY; off -= LEDGER_ENTRY) {
		json_t *e = NULL;

		if (json_parse_bounded(text + off - LEDGER_ENTRY, LEDGER_ENTRY, LEDGER_ENTRY, 2,
				       JSON_REJECT_DUPLICATES, &e) != IDP_OK)
			continue;
		if (!json_is_object(e) || !json_is_integer(json_object_get(e, "t")) ||
		    json_integer_value(json_object_get(e, "t")) < oldest ||
		    !json_is_string(json_object_get(e, "c"))) {
			json_decref(e);
			continue;
		}
		json_array_append_new(arr, e);
	}
	free(text);
	*out = arr;
	return IDP_OK;
}

int ledger_consent_remember(const char *sub, const char *client_id, const char *ckey, const json_t *released)
{
	char key[80], names[257];
	const char *k;
	json_t *v;
	struct buf b, n;
	int rc = IDP_ENOMEM;

	subject_list_key(K_CONSENTS, sub, key);
	buf_init(&b, LEDGER_ENTRY);
	buf_init(&n, 64 * 1024);
	json_object_foreach((json_t *)released, k, v) {
		(void)v;
		if ((n.len > 0 && buf_adds(&n, " ") != IDP_OK) || buf_adds(&n, k) != IDP_OK)
			break;
	}
	cut_words(n.p != NULL ? n.p : "", 256, names);
	if (strncmp(ckey, K_CONSENT, strlen(K_CONSENT)) == 0 && buf_adds(&b, "{") == IDP_OK &&
	    buf_json_member_int(&b, true, "t", now_s()) == IDP_OK &&
	    buf_json_member_str(&b, false, "k", ckey + strlen(K_CONSENT)) == IDP_OK &&
	    buf_json_member_str(&b, false, "c", client_id) == IDP_OK &&
	    buf_json_member_str(&b, false, "n", names) == IDP_OK && buf_adds(&b, "}") == IDP_OK && pad_entry(&b))
		rc = store_batch(&g_idp.store,
				 (const struct store_op[]){
					 {.kind = STORE_OP_PUT, .key = ckey, .val = "1", .len = 1, .ttl_s = 365 * 86400},
					 {.kind = STORE_OP_APPEND, .key = key, .val = b.p, .len = LEDGER_ENTRY,
					  .ttl_s = LEDGER_TTL_S, .max = LEDGER_CONSENT_MAX * LEDGER_ENTRY},
				 },
				 2);
	else
		rc = store_put(&g_idp.store, ckey, "1", 1, 365 * 86400); /* remembered, not listed */
	buf_release(&b);
	buf_release(&n);
	return rc;
}

int ledger_consents(const char *sub, json_t **out)
{
	char key[80];
	json_t *all = NULL, *res, *e;
	size_t i;
	int rc;

	*out = NULL;
	subject_list_key(K_CONSENTS, sub, key);
	if ((rc = read_entries(key, &all)) != IDP_OK)
		return rc;
	/* A consent given again is listed once, as its newest entry. */
	res = json_array();
	json_array_foreach(all, i, e) {
		const char *k = json_string_value(json_object_get(e, "k"));
		bool seen = false;
		size_t j;
		json_t *f;

		json_array_foreach(res, j, f) seen = seen || strcmp(json_string_value(json_object_get(f, "k")), k) == 0;
		if (k != NULL && strlen(k) == 64 && !seen)
			json_array_append(res, e);
	}
	json_decref(all);
	*out = res;
	return res != NULL ? IDP_OK : IDP_ENOMEM;
}

int ledger_consent_withdraw(const char *sub, const char *khex, char client[128])
{
	char key[80], ckey[80], akey[80], rkey[80], sc[65];
	json_t *list = NULL, *e;
	struct buf keep;
	size_t i;
	bool found = false;
	int rc;

	client[0] = '\0';
	if (strlen(khex) != 64 || strspn(khex, "0123456789abcdef") != 64)
		return IDP_ENOTFOUND;
	subject_list_key(K_CONSENTS, sub, key);
	if ((rc = read_entries(key, &list)) != IDP_OK)
		return rc;
	/* The entries kept, oldest first as the list is. */
	buf_init(&keep, LEDGER_CONSENT_MAX * LEDGER_ENTRY);
	for (i = json_array_size(list); i-- > 0;) {
		const char *k, *c;

		e = json_array_get(list, i);
		k = json_string_value(json_object_get(e, "k"));
		c = json_string_value(json_object_get(e, "c"));
		if (k != NULL && strcmp(k, khex) == 0) {
			if (c != NULL && strlen(c) < 128)
				snprintf(client, 128, "%s", c);
			found = client[0] != '\0';
			continue;
		}
		{
			char *t = json_dumps(e, JSON_COMPACT);
			size_t mark = keep.len;

			if (t == NULL || buf_adds(&keep, t) != IDP_OK || !pad_entry(&keep))
				keep.len = mark;
			free(t);
		}
	}
	json_decref(list);
	if (!found) {
		buf_release(&keep);
		return IDP_ENOTFOUND;
	}
	snprintf(ckey, sizeof(ckey), K_CONSENT "%s", khex);
	ledger_sc_hash(sub, client, sc);
	snprintf(akey, sizeof(akey), K_AT_SC "%s", sc);
	snprintf(rkey, sizeof(rkey), K_RT_SC "%s", sc);
	/* The consent, the tokens its service holds for this citizen (its
	 * access tokens, those its refresh tokens issued among them, and its
	 * refresh families: offline access ends too), and the list rewritten
	 * without it, in one round trip. */
	rc = store_batch(&g_idp.store,
			 (const struct store_op[]){
				 {.kind = STORE_OP_DEL, .key = ckey},
				 {.kind = STORE_OP_DEL_LISTED, .key = akey, .val = K_AT, .len = strlen(K_AT)},
				 {.kind = STORE_OP_DEL_LISTED, .key = rkey, .val = K_RT_FAMILY,
				  .len = strlen(K_RT_FAMILY)},
				 keep.len > 0 ? (struct store_op){.kind = STORE_OP_PUT, .key = key, .val = keep.p,
								  .len = keep.len, .ttl_s = LEDGER_TTL_S}
					      : (struct store_op){.kind = STORE_OP_DEL, .key = key},
			 },
			 4);
	buf_release(&keep);
	return rc;
}
