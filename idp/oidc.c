#include "oidc.h"
#include "metrics.h"
#include "json_bounded.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

/* Claims per scope (OpenID Core 5.4, plus the identity pivot public services
 * need: birth and identite_pivot, as FranceConnect names them). */
static const struct {
	const char *scope;
	const char *claims[16];
} scope_claims[] = {
	{"openid", {"sub", NULL}},
	{"profile", {"name", "family_name", "given_name", "middle_name", "nickname",
		     "preferred_username", "profile", "picture", "website", "gender", "birthdate",
		     "zoneinfo", "locale", "updated_at", NULL}},
	{"email", {"email", "email_verified", NULL}},
	{"address", {"address", NULL}},
	{"phone", {"phone_number", "phone_number_verified", NULL}},
	{"birth", {"birthplace", "birthcountry", NULL}},
	{"identite_pivot", {"given_name", "family_name", "birthdate", "gender", "birthplace",
			    "birthcountry", NULL}},
};
#define N_SCOPES (sizeof(scope_claims) / sizeof(scope_claims[0]))

json_t *scopes_supported(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < N_SCOPES; i++)
		json_array_append_new(a, json_string(scope_claims[i].scope));
	return a;
}

json_t *claims_supported(void)
{
	json_t *a = json_array(), *seen = json_object();
	static const char *const extra[] = {"iss", "aud", "exp", "iat", "auth_time", "nonce",
		"acr", "amr", "azp", "at_hash", "sid", NULL};

	for (size_t i = 0; i < N_SCOPES; i++)
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (json_object_get(seen, *c) == NULL) {
				json_object_set_new(seen, *c, json_true());
				json_array_append_new(a, json_string(*c));
			}
	for (const char *const *c = extra; *c; c++)
		json_array_append_new(a, json_string(*c));
	json_decref(seen);
	return a;
}

bool scope_has(const char *scope, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = scope; p != NULL && *p;) {
		size_t n = strcspn(p, " ");

		if (n == wl && strncmp(p, word, n) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

json_t *claims_for_scope(const json_t *identity, const char *scope, const json_t *requested)
{
	json_t *out = json_object(), *v;
	const char *k;

	for (size_t i = 1; i < N_SCOPES; i++) {
		if (!scope_has(scope, scope_claims[i].scope))
			continue;
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if ((v = json_object_get(identity, *c)) != NULL)
				json_object_set(out, *c, v);
	}
	if (json_is_object(requested)) {
		json_object_foreach((json_t *)requested, k, v) {
			json_t *iv = json_object_get(identity, k);

			(void)v;
			/* Only identity claims some scope covers: never a protocol
			 * claim (sub, acr...) a backend happened to return. */
			if (iv != NULL && claim_of_scope(k))
				json_object_set(out, k, iv);
		}
	}
	return out;
}

json_t *claims_released(const json_t *identity, const char *scope, const json_t *claims_req)
{
	json_t *out = claims_for_scope(identity, scope, json_object_get(claims_req, "userinfo"));
	json_t *idt = claims_for_scope(identity, "", json_object_get(claims_req, "id_token"));

	if (out != NULL && idt != NULL)
		json_object_update(out, idt);
	json_decref(idt);
	return out;
}

static bool client_may_scope(const struct client *cl, const char *scope)
{
	if (cl->scopes_allowed == NULL || strcmp(scope, "openid") == 0)
		return true;
	for (size_t i = 0; i < cl->n_scopes_allowed; i++)
		if (strcmp(cl->scopes_allowed[i], scope) == 0)
			return true;
	return false;
}

bool claim_of_scope(const char *claim)
{
	for (size_t i = 1; i < N_SCOPES; i++)
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (strcmp(*c, claim) == 0)
				return true;
	return false;
}

bool client_may_claim(const struct client *cl, const char *claim)
{
	for (size_t i = 1; i < N_SCOPES; i++) {
		if (!client_may_scope(cl, scope_claims[i].scope))
			continue;
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (strcmp(*c, claim) == 0)
				return true;
	}
	return false;
}

json_t *claims_request_filter(const struct client *cl, const json_t *claims)
{
	static const char *const members[] = {"userinfo", "id_token"};
	json_t *out = json_deep_copy(claims), *m, *v;
	const char *k;
	void *tmp;

	for (size_t i = 0; out != NULL && i < 2; i++) {
		if ((m = json_object_get(out, members[i])) == NULL)
			continue;
		/* sub (its value, OpenID Core 5.5.1) and acr (its values) steer
		 * the request and release nothing of the citizen's. */
		json_object_foreach_safe(m, tmp, k, v) {
			(void)v;
			if (strcmp(k, "sub") != 0 && strcmp(k, "acr") != 0 && !client_may_claim(cl, k))
				json_object_del(m, k);
		}
	}
	return out;
}

bool acr_essential(const json_t *claims)
{
	return json_is_true(json_object_get(json_object_get(json_object_get(claims, "id_token"), "acr"),
					    "essential"));
}

bool client_scope_ok(const struct client *cl, const char *scope)
{
	for (const char *p = scope; p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		bool known = false;

		if (n == 0 || n > 64)
			return false;
		for (size_t i = 0; !known && i < N_SCOPES; i++)
			if (strlen(scope_claims[i].scope) == n && strncmp(scope_claims[i].scope, p, n) == 0)
				known = client_may_scope(cl, scope_claims[i].scope);
		/* An API scope (client_credentials) exists when the client's
		 * "scopes" names it. */
		for (size_t i = 0; !known && i < cl->n_scopes_allowed; i++)
			known = strlen(cl->scopes_allowed[i]) == n && strncmp(cl->scopes_allowed[i], p, n) == 0;
		if (!known)
			return false;
		p += n;
		if (*p == ' ' && *++p == '\0')
			return false;
	}
	return true;
}

static void hmac_hex(const void *key, size_t klen, const char *msg, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];

	hmac_sha256(key, klen, msg, strlen(msg), d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(d, sizeof(d));
}

/* Pairwise (OpenID Core 8.1): a keyed hash of sector and local subject, so
 * two sectors cannot link a citizen; the key lives in the configuration. */
char *subject_for(const struct config *cfg, const struct client *cl, const char *local_sub)
{
	char out[65], *msg;

	if (asprintf(&msg, "%s|%s", cl->pairwise ? cl->sector : "public", local_sub) < 0)
		return NULL;
	hmac_hex(cfg->pairwise_secret, strlen(cfg->pairwise_secret), msg, out);
	free(msg);
	return strdup(out);
}

void sid_for(const struct config *cfg, const struct client *cl, const char *sid_hash, char out[65])
{
	char *msg;

	if (asprintf(&msg, "%s|%s", sid_hash, cl->sector ? cl->sector : cl->id) < 0) {
		out[0] = '\0';
		return;
	}
	hmac_hex(cfg->pairwise_secret, strlen(cfg->pairwise_secret), msg, out);
	free(msg);
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

bool jws_is_access_token(const char *jws)
{
	const char *dot = jws != NULL ? strchr(jws, '.') : NULL;
	unsigned char *dec = NULL;
	size_t len = 0;
	json_t *h;
	bool at = true; /* unreadable: treated as not an ID token */

	if (dot == NULL || b64url_decode(jws, (size_t)(dot - jws), &dec, &len) != IDP_OK)
		return true;
	if (json_parse_bounded((const char *)dec, len, len, JSON_IN_DEPTH, 0, &h) == IDP_OK) {
		const char *typ = json_string_value(json_object_get(h, "typ"));

		/* RFC 9068 2.1: at+jwt, or application/at+jwt. */
		at = typ != NULL && (strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0);
		json_decref(h);
	}
	free(dec);
	return at;
}

void csrf_token(const char *purpose, const char *id, const char *bind, char out[44])
{
	char *msg, hex[65];

	if (asprintf(&msg, "%s|%s|%s", purpose, id, bind ? bind : "") < 0) {
		out[0] = '\0';
		return;
	}
	hmac_hex(g_idp.csrf_key, sizeof(g_idp.csrf_key), msg, hex);
	free(msg);
	memcpy(out, hex, 43);
	out[43] = '\0';
}

bool csrf_check(const char *purpose, const char *id, const char *bind, const char *token)
{
	char want[44];

	if (token == NULL || id == NULL || bind == NULL)
		return false;
	csrf_token(purpose, id, bind, want);
	return secret_equal(want, strlen(want), token, strlen(token));
}

/* Sessions as /authorize reads them, kept in the process: SESSION_CACHE
 * slots, direct-mapped by the session's hash (a SHA-256, so evenly spread).
 * A session's record never changes once stored (only its TTL, and its
 * deletion), so a copy stays right for as long as the session lives; that it
 * still lives is checked by the batch that stores the code (a REQUIRE), in
 * the round trip it makes anyway: an SSO /authorize then makes one round
 * trip, not two. A session ended by another instance is found so there, and
 * read again from the store. The copies hold claims: wiped when replaced. */
#define SESSION_CACHE 4096

static struct {
	char sid[65];
	char *text;
	size_t len;
} scache[SESSION_CACHE];
static pthread_mutex_t scache_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t scache_slot(const char *sid)
{
	size_t v = 0;

	for (int i = 0; i < 4 && sid[i] != '\0'; i++)
		v = v * 16 + (size_t)(sid[i] >= 'a' ? sid[i] - 'a' + 10 : sid[i] - '0');
	return v % SESSION_CACHE;
}

static void scache_put(const char *sid, const char *text, size_t len)
{
	size_t i = scache_slot(sid);
	char *copy, *old;

	if (strlen(sid) != 64 || (copy = malloc(len + 1)) == NULL)
		return;
	memcpy(copy, text, len);
	copy[len] = '\0';
	pthread_mutex_lock(&scache_lock);
	old = scache[i].text;
	memcpy(scache[i].sid, sid, 65);
	scache[i].text = copy;
	scache[i].len = len;
	pthread_mutex_unlock(&scache_lock);
	free_secret(old); /* JSON text: no NUL inside, strlen is its length */
}

/* A copy of the cached text of session sid (malloc'ed), or NULL. */
static char *scache_get(const char *sid, size_t *len)
{
	size_t i = scache_slot(sid);
	char *copy = NULL;

	pthread_mutex_lock(&scache_lock);
	if (scache[i].text != NULL && strcmp(scache[i].sid, sid) == 0 &&
	    (copy = malloc(scache[i].len + 1)) != NULL) {
		memcpy(copy, scache[i].text, scache[i].len + 1);
		*len = scache[i].len;
	}
	pthread_mutex_unlock(&scache_lock);
	return copy;
}

void session_cache_drop(const char *sid)
{
	size_t i = scache_slot(sid);
	char *old = NULL;

	pthread_mutex_lock(&scache_lock);
	if (scache[i].text != NULL && strcmp(scache[i].sid, sid) == 0) {
		old = scache[i].text;
		scache[i].text = NULL;
		scache[i].sid[0] = '\0';
	}
	pthread_mutex_unlock(&scache_lock);
	free_secret(old);
}

/* Deletes session sid_hash and the access tokens issued in it (K_SESSION_AT),
 * atomically: a code exchange of this session either ran before, its token
 * listed and deleted here, or after, and finds the session gone. */
static int session_end(const char *sid_hash)
{
	char key[80], lkey[80], tag[9];
	int rc;

	session_cache_drop(sid_hash);
	snprintf(key, sizeof(key), K_SESSION "%s", sid_hash);
	snprintf(lkey, sizeof(lkey), K_SESSION_AT "%s", sid_hash);
	rc = store_batch(&g_idp.store,
			 (const struct store_op[]){
				 {.kind = STORE_OP_DEL, .key = key},
				 {.kind = STORE_OP_DEL_LISTED, .key = lkey, .val = K_AT, .len = strlen(K_AT)},
			 },
			 2);
	if (rc != IDP_OK) {
		secret_tag(sid_hash, tag);
		idp_log(LOG_ERR, "session: ending session %s failed (%s): it and its access tokens may "
				 "live until they expire", tag, idp_strerror(rc));
	}
	return rc;
}

static json_t *session_read(struct req *r, char sid_hash[65], bool use_cache)
{
	char name[64], key[80], *text = NULL;
	const char *c = req_cookie(r, cookie_name(r->cfg, "session", name));
	json_t *s = NULL;
	size_t len = 0;
	bool cached = false;
	int64_t now = now_s();

	sid_hash[0] = '\0';
	if (c == NULL || strlen(c) < 32 || strlen(c) > 64)
		return NULL;
	sha256_hex(c, strlen(c), sid_hash);
	snprintf(key, sizeof(key), K_SESSION "%s", sid_hash);
	if (use_cache && (text = scache_get(sid_hash, &len)) != NULL) {
		cached = true;
	} else {
		if (store_get(&g_idp.store, key, &text, &len) != IDP_OK)
			return NULL;
		scache_put(sid_hash, text, len);
	}
	if (store_parse_json(key, text, len, &s) != IDP_OK) /* frees text */
		return NULL;
	/* The store's TTL is the idle limit; the absolute one is checked here. */
	if (json_integer_value(json_object_get(s, "created")) + r->cfg->session_max <= now) {
		session_end(sid_hash);
		json_decref(s);
		return NULL;
	}
	/* Not stored: tells authz_complete to require the session in its batch. */
	if (cached)
		json_object_set_new(s, "cached", json_true());
	return s;
}

json_t *session_load(struct req *r, char sid_hash[65])
{
	return session_read(r, sid_hash, false);
}

json_t *session_load_cached(struct req *r, char sid_hash[65])
{
	return session_read(r, sid_hash, true);
}

/* The remaining lifetime of a session: the idle timeout, capped by the
 * absolute lifetime. */
unsigned session_ttl(const struct config *cfg, int64_t created)
{
	int64_t left = created + cfg->session_max - now_s();

	if (left < 1)
		left = 1;
	return (unsigned)(left < cfg->session_idle ? left : cfg->session_idle);
}

json_t *session_create(struct req *r, const char *backend_id, const char *acr,
		       const char *local, struct idp_identity *id, char sid_hash[65],
		       const char *consume_key, bool *gone)
{
	char *cookie = rand_token(32), key[80], *text = NULL;
	struct store_op ops[2];
	json_t *s = NULL;
	int64_t now = now_s();
	size_t len = 0, n = 0;
	int rc;

	if (gone != NULL)
		*gone = false;
	if (cookie == NULL)
		goto out;
	sha256_hex(cookie, strlen(cookie), sid_hash);
	s = json_pack("{s:s,s:s,s:O,s:s,s:[s],s:I,s:I,s:s%}", "sub", local, "backend", backend_id,
		      "claims", id->claims ? id->claims : json_object(), "acr", acr, "amr",
		      id->amr ? id->amr : "pwd", "auth_time", (json_int_t)now, "created",
		      (json_int_t)now, "sid", sid_hash, (size_t)32);
	if (s != NULL && id->session_data != NULL)
		json_object_set(s, "up", id->session_data);
	snprintf(key, sizeof(key), K_SESSION "%s", sid_hash);
	if (s == NULL || (text = store_json_text(s, &len)) == NULL) {
		rc = IDP_ENOMEM;
	} else {
		/* One round trip: the transaction consumed, the session stored. */
		if (consume_key != NULL)
			ops[n++] = (struct store_op){.kind = STORE_OP_CONSUME, .key = consume_key};
		ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = key, .val = text, .len = len,
					     .ttl_s = session_ttl(r->cfg, now)};
		rc = store_batch(&g_idp.store, ops, n);
	}
	if (rc != IDP_OK) {
		if (rc == IDP_ENOTFOUND && gone != NULL)
			*gone = true;
		json_decref(s);
		s = NULL;
		goto out;
	}
	scache_put(sid_hash, text, len);
	req_set_cookie(r, "session", cookie, -1);
	/* Not stored: tells authz_complete that the TTL was just set. */
	json_object_set_new(s, "fresh", json_true());
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	free_secret(cookie);
	return s;
}

void session_destroy(struct req *r, const char *sid_hash)
{
	if (sid_hash[0] != '\0') {
		session_end(sid_hash);
		metrics_count(M_LOGOUT);
	}
	req_set_cookie(r, "session", "", 0);
}

int buf_json_value(struct buf *b, const json_t *v)
{
	char *t;
	int rc;

	if (json_is_string(v))
		return buf_add_json_str(b, json_string_value(v));
	if (json_is_integer(v))
		return buf_printf(b, "%lld", (long long)json_integer_value(v));
	if (v == NULL)
		return IDP_EINVAL;
	/* Anything else (arrays, objects, booleans, reals), jansson writes. */
	if ((t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return IDP_ENOMEM;
	rc = buf_adds(b, t);
	free_secret(t);
	return rc;
}

int buf_json_members(struct buf *b, bool first, const json_t *obj)
{
	const char *k;
	json_t *v;
	int rc = IDP_OK;

	json_object_foreach((json_t *)obj, k, v) {
		if ((rc = buf_json_name(b, first, k)) != IDP_OK || (rc = buf_json_value(b, v)) != IDP_OK)
			return rc;
		first = false;
	}
	return rc;
}
