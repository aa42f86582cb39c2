/* SPDX-License-Identifier: EUPL-1.2 */
/* The SSO session (session.h): its stored form, the process's copy of
 * recent sessions, and its life from the login to the logout. */
#include "session.h"
#include "backchannel.h"
#include "metrics.h"
#include "json_bounded.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- The stored form ------------------------------------------------------ */

/* jansson frees without wiping: the strings of a value the session alone
 * holds (claims, an upstream token) are wiped in place first. Depth-bounded
 * like every stored record, so the recursion stays small. */
static void json_wipe(json_t *v, unsigned depth)
{
	const char *k;
	json_t *m;
	size_t i;

	if (depth > JSON_STORED_DEPTH)
		return;
	if (json_is_string(v))
		wipe((char *)json_string_value(v), json_string_length(v));
	else if (json_is_object(v))
		json_object_foreach(v, k, m) json_wipe(m, depth + 1);
	else if (json_is_array(v))
		json_array_foreach(v, i, m) json_wipe(m, depth + 1);
}

static void session_clear(struct session *s)
{
	free_secret(s->sub);
	free(s->backend);
	free(s->acr);
	free(s->amr);
	json_wipe(s->claims, 0);
	json_decref(s->claims);
	json_wipe(s->up, 0);
	json_decref(s->up);
	wipe(s, sizeof(*s));
}

void session_free(struct session *s)
{
	if (s == NULL)
		return;
	session_clear(s);
	free(s);
}

static bool text_ok(const char *t)
{
	size_t n = t != NULL ? strlen(t) : 0;

	return n > 0 && n <= SESSION_TEXT_MAX;
}

static bool hex64(const char *h)
{
	return strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64;
}

/* The bounds both the encoder and the decoder keep: what one writes, the
 * other reads. */
static bool session_valid(const struct session *s)
{
	return hex64(s->sid_hash) && (s->ck[0] == '\0' || hex64(s->ck)) && text_ok(s->sub) &&
	       text_ok(s->backend) && text_ok(s->acr) && text_ok(s->amr) &&
	       json_is_object(s->claims) && s->auth_time >= 0 && s->created >= 0;
}

/* The methods of amr ("pwd", "pwd otp": words, one space apart) as the
 * array the record and the ID token carry (OpenID Core 2). */
static json_t *amr_array(const char *amr)
{
	json_t *a = json_array();
	const char *p = amr;

	while (a != NULL && *p != '\0') {
		size_t n = strcspn(p, " ");

		if (n == 0 || json_array_size(a) == SESSION_AMR_MAX ||
		    json_array_append_new(a, json_stringn(p, n)) != 0) {
			json_decref(a);
			return NULL;
		}
		p += n + (p[n] == ' ');
	}
	return a;
}

/* The array back into words; NULL unless 1 to SESSION_AMR_MAX strings of
 * no space. */
static char *amr_words(const json_t *a)
{
	struct buf b;
	const json_t *v;
	size_t i;
	char *out = NULL;
	bool ok = json_is_array(a) && json_array_size(a) >= 1 && json_array_size(a) <= SESSION_AMR_MAX;

	buf_init(&b, SESSION_TEXT_MAX);
	json_array_foreach(a, i, v) {
		ok = ok && json_is_string(v) && json_string_length(v) > 0 &&
		     strchr(json_string_value(v), ' ') == NULL &&
		     (i == 0 || !buf_adds(&b, " ")) && !buf_adds(&b, json_string_value(v));
	}
	if (ok && b.len > 0)
		out = strndup(b.p, b.len);
	buf_release(&b);
	return out;
}

int session_encode(const struct session *s, char **text, size_t *len)
{
	json_t *j;

	*text = NULL;
	*len = 0;
	if (!session_valid(s))
		return IDP_EINVAL;
	/* "sid": half the hash, as the daemon always wrote it; the decoder
	 * checks it against the key the record was read under. */
	j = json_pack("{s:s,s:s,s:O,s:s,s:o,s:I,s:I,s:s%}", "sub", s->sub, "backend", s->backend,
		      "claims", s->claims, "acr", s->acr, "amr", amr_array(s->amr), "auth_time",
		      (json_int_t)s->auth_time, "created", (json_int_t)s->created, "sid", s->sid_hash,
		      (size_t)32);
	if (j == NULL || (s->up != NULL && json_object_set(j, "up", s->up) != 0) ||
	    (s->ck[0] != '\0' && json_object_set_new(j, "ck", json_string(s->ck)) != 0)) {
		json_decref(j);
		return IDP_ENOMEM;
	}
	*text = store_json_text(j, len);
	/* Only the members written above are wiped: claims and up are s's. */
	json_object_del(j, "claims");
	json_object_del(j, "up");
	json_wipe(j, 0);
	json_decref(j);
	return *text != NULL ? IDP_OK : IDP_ETOOBIG;
}

/* A copy of string member name of j, NULL when absent or not a string. */
static char *member_dup(const json_t *j, const char *name)
{
	const json_t *v = json_object_get(j, name);

	return json_is_string(v) && json_string_length(v) <= SESSION_TEXT_MAX ? strdup(json_string_value(v))
									       : NULL;
}

int session_decode(const char *text, size_t len, const char *sid_hash, struct session *out)
{
	const json_t *sid, *amr, *at, *cr, *claims, *up, *ck;
	json_t *j = NULL;
	char tag[9];
	bool ok;

	memset(out, 0, sizeof(*out));
	if (sid_hash == NULL || strlen(sid_hash) != 64 ||
	    json_parse_bounded(text, len, STORE_JSON_MAX, JSON_STORED_DEPTH, JSON_REJECT_DUPLICATES, &j) != IDP_OK ||
	    !json_is_object(j)) {
		ok = false;
		goto out;
	}
	memcpy(out->sid_hash, sid_hash, 65);
	sid = json_object_get(j, "sid");
	amr = json_object_get(j, "amr");
	at = json_object_get(j, "auth_time");
	cr = json_object_get(j, "created");
	claims = json_object_get(j, "claims");
	up = json_object_get(j, "up");
	ck = json_object_get(j, "ck");
	out->sub = member_dup(j, "sub");
	out->backend = member_dup(j, "backend");
	out->acr = member_dup(j, "acr");
	/* The methods, in an array (OpenID Core 2, as the ID token carries it). */
	out->amr = amr_words(amr);
	ok = json_is_integer(at) && json_is_integer(cr) && json_is_object(claims) &&
	     (sid == NULL || (json_is_string(sid) && json_string_length(sid) == 32 &&
			      memcmp(json_string_value(sid), sid_hash, 32) == 0)) &&
	     (ck == NULL || (json_is_string(ck) && json_string_length(ck) == 64));
	if (ok) {
		if (ck != NULL)
			memcpy(out->ck, json_string_value(ck), 65);
		out->auth_time = (int64_t)json_integer_value(at);
		out->created = (int64_t)json_integer_value(cr);
		out->claims = json_incref((json_t *)claims);
		out->up = json_is_null(up) ? NULL : json_incref((json_t *)up);
		json_object_del(j, "claims");
		json_object_del(j, "up");
		ok = session_valid(out);
	}
out:
	json_wipe(j, 0);
	json_decref(j);
	if (ok)
		return IDP_OK;
	session_clear(out);
	secret_tag(sid_hash != NULL ? sid_hash : "", tag);
	return log_fail(IDP_EINVAL, "session: record %s is not a session this daemon wrote: ignored", tag);
}

/* ---- The process's copy ---------------------------------------------------- */

/* Sessions as /authorize reads them, kept in the process: SESSION_CACHE
 * slots, direct-mapped by the session's hash (a SHA-256, so evenly spread).
 * A session's record changes only when a second factor raises its level
 * (session_raise, which replaces its cookie; flow.c reads a copy below the
 * level asked, or one a second factor could raise, again from the store),
 * else only its TTL, and its deletion, so a copy stays right for
 * as long as the session lives; that it
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

/* ---- Its life ------------------------------------------------------------- */

/* Deletes session sid_hash and the access tokens issued in it (K_SESSION_AT),
 * atomically: a code exchange of this session either ran before, its token
 * listed and deleted here, or after, and finds the session gone. */
int session_end_in(struct store *st, const char *sid_hash)
{
	char key[80], lkey[80], tag[9];
	struct bcl_bufs bb;
	struct store_op ops[3];
	int rc;

	session_cache_drop(sid_hash);
	snprintf(key, sizeof(key), K_SESSION "%s", sid_hash);
	snprintf(lkey, sizeof(lkey), K_SESSION_AT "%s", sid_hash);
	ops[0] = (struct store_op){.kind = STORE_OP_DEL, .key = key};
	ops[1] = (struct store_op){.kind = STORE_OP_DEL_LISTED, .key = lkey, .val = K_AT, .len = strlen(K_AT)};
	/* The services it logged in to are told by a node's sweeper, also
	 * when idpctl ends the session (backchannel.h). */
	bcl_end_op(sid_hash, &bb, &ops[2]);
	rc = store_batch(st, ops, 3);
	if (rc != IDP_OK) {
		secret_tag(sid_hash, tag);
		idp_log(LOG_ERR, "session: ending session %s failed (%s): it and its access tokens may "
				 "live until they expire", tag, idp_strerror(rc));
	}
	return rc;
}

static int session_end(const char *sid_hash)
{
	return session_end_in(&g_idp.store, sid_hash);
}

static void subject_key(const char *sub, char key[80])
{
	char h[65];

	sha256_hex(sub, strlen(sub), h);
	snprintf(key, 80, K_SUBJECT "%s", h);
}

int session_list_subject(struct store *st, const char *sub, struct session ***out, size_t *n)
{
	char ikey[80], *list = NULL;
	size_t llen = 0, count = 0;
	struct session **res;
	int rc;

	*out = NULL;
	*n = 0;
	subject_key(sub, ikey);
	rc = store_get(st, ikey, &list, &llen);
	if (rc == IDP_ENOTFOUND)
		return IDP_OK;
	if (rc != IDP_OK)
		return rc;
	if ((res = calloc(SESSION_SUBJECT_MAX, sizeof(*res))) == NULL) {
		free(list);
		return IDP_ENOMEM;
	}
	/* Entries of SESSION_AT_ENTRY bytes, read STORE_BATCH_MAX at a time;
	 * a session listed twice (never, but the list is the store's) once. */
	for (size_t off = 0; rc == IDP_OK && off + SESSION_AT_ENTRY <= llen;) {
		char keys[STORE_BATCH_MAX][80], *vals[STORE_BATCH_MAX] = {0};
		const char *kp[STORE_BATCH_MAX];
		size_t lens[STORE_BATCH_MAX], k = 0;

		for (; k < STORE_BATCH_MAX && off + SESSION_AT_ENTRY <= llen; off += SESSION_AT_ENTRY) {
			snprintf(keys[k], 80, K_SESSION "%.64s", list + off);
			kp[k] = keys[k];
			k++;
		}
		if ((rc = store_mget(st, kp, k, vals, lens)) != IDP_OK)
			break;
		for (size_t i = 0; i < k; i++) {
			struct session *s = vals[i] != NULL ? calloc(1, sizeof(*s)) : NULL;
			bool dup = false;

			for (size_t j = 0; s != NULL && j < count; j++)
				dup = dup || strcmp(res[j]->sid_hash, keys[i] + strlen(K_SESSION)) == 0;
			if (s != NULL && !dup && count < SESSION_SUBJECT_MAX &&
			    session_decode(vals[i], lens[i], keys[i] + strlen(K_SESSION), s) == IDP_OK &&
			    strcmp(s->sub, sub) == 0)
				res[count++] = s;
			else if (s != NULL && s->sub != NULL)
				session_free(s);
			else
				free(s);
			if (vals[i] != NULL)
				wipe(vals[i], lens[i]);
			free(vals[i]);
		}
	}
	free(list);
	if (rc != IDP_OK) {
		for (size_t i = 0; i < count; i++)
			session_free(res[i]);
		free(res);
		return rc;
	}
	*out = res;
	*n = count;
	return IDP_OK;
}

int session_end_subject(struct store *st, const char *sub, size_t *ended)
{
	struct session **list;
	char ikey[80];
	size_t n;
	int rc, first = IDP_OK;

	*ended = 0;
	if ((rc = session_list_subject(st, sub, &list, &n)) != IDP_OK)
		return rc;
	for (size_t i = 0; i < n; i++) {
		if ((rc = session_end_in(st, list[i]->sid_hash)) == IDP_OK)
			(*ended)++;
		else if (first == IDP_OK)
			first = rc;
		session_free(list[i]);
	}
	free(list);
	subject_key(sub, ikey);
	if (first == IDP_OK)
		first = store_del(st, ikey);
	return first;
}

/* The session's hash from cookie c into sid, and the hash of its secret
 * into ck ("" for a session's first cookie); false: not a cookie this
 * provider sets. */
static bool cookie_parse(const char *c, char sid[65], char ck[65])
{
	size_t n = c != NULL ? strlen(c) : 0;

	ck[0] = '\0';
	if (n >= 32 && n <= 64) {
		sha256_hex(c, n, sid);
		return true;
	}
	if (n < 64 + 1 + 32 || n > 64 + 1 + 64 || c[64] != SESSION_COOKIE_SEP)
		return false;
	memcpy(sid, c, 64);
	sid[64] = '\0';
	sha256_hex(c + 65, n - 65, ck);
	return hex64(sid);
}

static struct session *session_read(struct req *r, bool use_cache)
{
	char name[64], sid[65], ck[65], key[80], *text = NULL;
	const char *c = req_cookie(r, cookie_name(r->cfg, "session", name));
	struct session *s = NULL;
	size_t len = 0;
	bool cached = false;
	int rc;

	if (!cookie_parse(c, sid, ck))
		return NULL;
	snprintf(key, sizeof(key), K_SESSION "%s", sid);
	if (use_cache && (text = scache_get(sid, &len)) != NULL) {
		cached = true;
	} else {
		if (store_get(&g_idp.store, key, &text, &len) != IDP_OK)
			return NULL;
		scache_put(sid, text, len);
	}
	if ((s = malloc(sizeof(*s))) == NULL)
		rc = IDP_ENOMEM;
	else
		rc = session_decode(text, len, sid, s);
	wipe(text, len);
	free(text);
	if (rc != IDP_OK) {
		session_cache_drop(sid);
		free(s);
		return NULL;
	}
	/* Only the session's latest cookie opens it: a raised session's first
	 * cookie no longer does. A copy older than a raise on another node is
	 * read again from the store. */
	if (!secret_equal(s->ck, strlen(s->ck), ck, strlen(ck))) {
		session_free(s);
		return cached ? session_read(r, false) : NULL;
	}
	/* The store's TTL is the idle limit; the absolute one is checked here. */
	if (s->created + r->cfg->session_max <= now_s()) {
		session_end(sid);
		session_free(s);
		return NULL;
	}
	s->cached = cached;
	return s;
}

struct session *session_load(struct req *r)
{
	return session_read(r, false);
}

struct session *session_load_cached(struct req *r)
{
	return session_read(r, true);
}

unsigned session_ttl(const struct config *cfg, int64_t created)
{
	int64_t left = created + cfg->session_max - now_s();

	if (left < 1)
		left = 1;
	return (unsigned)(left < cfg->session_idle ? left : cfg->session_idle);
}

bool session_stats_key(char *buf, size_t size, int64_t hour, const char *client_id,
		       const char *backend_id, const char *acr)
{
	time_t t = (time_t)(hour * 3600);
	struct tm tm;
	char h[16];
	int n;

	if (gmtime_r(&t, &tm) == NULL || strftime(h, sizeof(h), "%Y%m%d%H", &tm) == 0)
		return false;
	n = snprintf(buf, size, "stats:%s:login:%s:%s:%s", h, client_id, backend_id, acr);
	return n > 0 && (size_t)n < size && (size_t)n <= STORE_KEY_MAX - 32; /* room for the driver's prefix */
}

struct session *session_create(struct req *r, const char *client_id, const char *backend_id,
			       const char *acr, const char *local, const struct idp_identity *id,
			       const char *consume_key, bool *gone)
{
	char *cookie = rand_token(32), key[80], ikey[80], entry[SESSION_AT_ENTRY + 1], *text = NULL;
	char skey[STORE_KEY_MAX + 1];
	struct session *s = calloc(1, sizeof(*s));
	struct store_op ops[4];
	size_t len = 0, n = 0;
	int rc;

	if (gone != NULL)
		*gone = false;
	if (cookie == NULL || s == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	sha256_hex(cookie, strlen(cookie), s->sid_hash);
	s->sub = xstrdup(local);
	s->backend = xstrdup(backend_id);
	s->acr = xstrdup(acr);
	s->amr = xstrdup(id->amr ? id->amr : "pwd");
	s->auth_time = s->created = now_s();
	/* Copies: a backend may share its values with its own tables (the file
	 * backend's users), and session_free wipes the session's. */
	s->claims = id->claims != NULL ? json_deep_copy(id->claims) : json_object();
	if (id->session_data != NULL && !json_is_null(id->session_data) &&
	    (s->up = json_deep_copy(id->session_data)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	/* Out of memory above leaves a field NULL: the encoder refuses it. */
	if ((rc = session_encode(s, &text, &len)) != IDP_OK) {
		idp_log(LOG_ERR, "session: not created (%s): a field missing or out of bounds",
			idp_strerror(rc));
		goto out;
	}
	snprintf(key, sizeof(key), K_SESSION "%s", s->sid_hash);
	/* One round trip: the transaction consumed, the session stored, and
	 * listed under its subject for idpctl sessions (for as long as the
	 * session may slide: its absolute lifetime). */
	subject_key(s->sub, ikey);
	snprintf(entry, sizeof(entry), "%s ", s->sid_hash);
	if (consume_key != NULL)
		ops[n++] = (struct store_op){.kind = STORE_OP_CONSUME, .key = consume_key};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = key, .val = text, .len = len,
				     .ttl_s = session_ttl(r->cfg, s->created)};
	ops[n++] = (struct store_op){.kind = STORE_OP_APPEND, .key = ikey, .val = entry,
				     .len = SESSION_AT_ENTRY, .ttl_s = r->cfg->session_max,
				     .max = SESSION_SUBJECT_MAX * SESSION_AT_ENTRY};
	if (client_id != NULL &&
	    session_stats_key(skey, sizeof(skey), s->created / 3600, client_id, backend_id, acr))
		ops[n++] = (struct store_op){.kind = STORE_OP_INCR, .key = skey, .ttl_s = SESSION_STATS_TTL_S};
	if ((rc = store_batch(&g_idp.store, ops, n)) != IDP_OK) {
		if (rc == IDP_ENOTFOUND && gone != NULL)
			*gone = true;
		goto out;
	}
	scache_put(s->sid_hash, text, len);
	req_set_cookie(r, "session", cookie, -1);
	s->fresh = true;
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	free_secret(cookie);
	if (rc != IDP_OK) {
		session_free(s);
		s = NULL;
	}
	return s;
}

struct session *session_raise(struct req *r, const struct session *sess, const char *client_id,
			      const char *acr, const char *amr, const char *consume_key, bool *gone)
{
	struct session next = *sess, *s = calloc(1, sizeof(*s));
	char key[80], skey[STORE_KEY_MAX + 1], *text = NULL, *secret = rand_token(32), *cookie = NULL;
	struct store_op ops[4];
	size_t len = 0, n = 0;
	int rc = IDP_ENOMEM;

	*gone = false;
	/* The same session (id, subject, claims, creation) at the new level,
	 * authenticated now. Its absolute lifetime still runs from its
	 * creation. */
	next.acr = (char *)acr;
	next.amr = (char *)amr;
	next.auth_time = now_s();
	/* A new cookie, the session's hash and a new secret, whose hash the
	 * rewritten record holds: the old cookie stops opening it in the same
	 * write that raises it, while the store key, and with it the sid, the
	 * back-channel records, access tokens and index entry, stay the same. */
	if (s == NULL || secret == NULL ||
	    asprintf(&cookie, "%s%c%s", sess->sid_hash, SESSION_COOKIE_SEP, secret) < 0) {
		cookie = NULL;
		goto out;
	}
	sha256_hex(secret, strlen(secret), next.ck);
	if ((rc = session_encode(&next, &text, &len)) != IDP_OK)
		goto out;
	snprintf(key, sizeof(key), K_SESSION "%s", sess->sid_hash);
	/* One round trip: the session must still be there (a logout meanwhile
	 * wins, never half-undone), the transaction is consumed, the record
	 * rewritten. Already listed under its subject: not appended again. */
	ops[n++] = (struct store_op){.kind = STORE_OP_REQUIRE, .key = key};
	if (consume_key != NULL)
		ops[n++] = (struct store_op){.kind = STORE_OP_CONSUME, .key = consume_key};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = key, .val = text, .len = len,
				     .ttl_s = session_ttl(r->cfg, sess->created)};
	if (session_stats_key(skey, sizeof(skey), next.auth_time / 3600, client_id, sess->backend, acr))
		ops[n++] = (struct store_op){.kind = STORE_OP_INCR, .key = skey, .ttl_s = SESSION_STATS_TTL_S};
	if ((rc = store_batch(&g_idp.store, ops, n)) != IDP_OK) {
		*gone = rc == IDP_ENOTFOUND;
		goto out;
	}
	scache_put(sess->sid_hash, text, len);
	req_set_cookie(r, "session", cookie, -1);
	if ((rc = session_decode(text, len, sess->sid_hash, s)) == IDP_OK)
		s->fresh = true;
out:
	if (text != NULL)
		wipe(text, len);
	free(text);
	free_secret(secret);
	free_secret(cookie);
	wipe(next.ck, sizeof(next.ck));
	if (rc != IDP_OK) {
		if (s != NULL && s->sub != NULL)
			session_free(s);
		else
			free(s);
		s = NULL;
	}
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
