/* SPDX-License-Identifier: EUPL-1.2 */
/* Back-channel logout (backchannel.h): what the store records, the sweeper
 * that notices ended sessions, and the sender that POSTs logout tokens. */
#include "backchannel.h"
#include "audit.h"
#include "claims.h"
#include "jws.h"
#include "metrics.h"
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/sha.h>

/* How far back a starting node looks for buckets nobody took (every node
 * down meanwhile): sessions that ended longer ago are not notified. */
#define BCL_LOOKBACK_S 3600
/* A listed session still alive (slid by a code of a service without a
 * back-channel URI) is looked at again this much later. */
#define BCL_RECHECK_S 60
#define BCL_INFLIGHT_MAX 16
#define BCL_LOGOUT_TOKEN_TTL_S 120

static const char bcl_event[] = "http://schemas.openid.net/event/backchannel-logout";

/* ---- The store's records --------------------------------------------------- */

static int64_t bucket_of(int64_t t)
{
	return t / BCL_BUCKET_S;
}

static void bucket_op(int64_t b, const char *sid_hash, struct bcl_bufs *bb, struct store_op *op)
{
	int64_t ttl = (b + 1) * BCL_BUCKET_S - now_s() + BCL_LOOKBACK_S;

	snprintf(bb->xkey, sizeof(bb->xkey), K_BCX "%lld", (long long)b);
	snprintf(bb->sentry, sizeof(bb->sentry), "%.64s ", sid_hash);
	*op = (struct store_op){.kind = STORE_OP_APPEND, .key = bb->xkey, .val = bb->sentry,
				.len = BCL_ENTRY, .ttl_s = (unsigned)(ttl > 1 ? ttl : 1),
				.max = BCL_BUCKET_MAX * BCL_ENTRY};
}

/* Which (session, service) pairs this process has recorded lately, by a
 * SHA-256 of both, direct-mapped: a service a session returns to at each of
 * its pages' logins is recorded once, not once per code, so that the
 * session's list (whose oldest entries drop past BCL_CLIENTS_MAX) holds
 * services, not repeats. A pair that lost its slot is recorded again: a
 * repeat, harmless. */
#define BCL_SEEN 4096
static struct {
	pthread_mutex_t lock;
	unsigned char h[BCL_SEEN][32];
} bcl_seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Whether the pair was recorded by this process; note: it now is. */
static bool seen_pair(const char *sid_hash, const char *client_id, bool note)
{
	unsigned char h[32];
	char pair[64 + 1 + 130];
	size_t slot;
	bool was;

	snprintf(pair, sizeof(pair), "%.64s|%s", sid_hash, client_id);
	SHA256((const unsigned char *)pair, strlen(pair), h);
	slot = ((size_t)h[0] << 8 | h[1]) % BCL_SEEN;
	pthread_mutex_lock(&bcl_seen.lock);
	was = memcmp(bcl_seen.h[slot], h, 32) == 0;
	if (note)
		memcpy(bcl_seen.h[slot], h, 32);
	pthread_mutex_unlock(&bcl_seen.lock);
	return was;
}

void bcl_code_stored(const struct client *cl, const char *sid_hash)
{
	if (cl->backchannel_uri != NULL)
		seen_pair(sid_hash, cl->id, true);
}

size_t bcl_code_ops(const struct config *cfg, const struct client *cl, const char *sid_hash,
		    const char *sub, int64_t expires_at, struct bcl_bufs *b, struct store_op *ops)
{
	unsigned ttl = (unsigned)cfg->session_max + BCL_LOOKBACK_S;
	size_t n = 0;

	if (cl->backchannel_uri == NULL)
		return 0;
	snprintf(b->lkey, sizeof(b->lkey), K_BCL "%s", sid_hash);
	snprintf(b->skey, sizeof(b->skey), K_BCS "%s", sid_hash);
	sha256_hex(cl->id, strlen(cl->id), b->centry);
	b->centry[64] = ' ';
	b->centry[65] = '\0';
	/* Its first append outlives the session already (ttl). */
	if (!seen_pair(sid_hash, cl->id, false))
		ops[n++] = (struct store_op){.kind = STORE_OP_APPEND, .key = b->lkey, .val = b->centry,
					     .len = BCL_ENTRY, .ttl_s = ttl, .max = BCL_CLIENTS_MAX * BCL_ENTRY};
	ops[n++] = (struct store_op){.kind = STORE_OP_PUT, .key = b->skey, .val = sub, .len = strlen(sub),
				     .ttl_s = ttl};
	/* The bucket after the expected end: taken once that end has passed. */
	bucket_op(bucket_of(expires_at) + 1, sid_hash, b, &ops[n++]);
	return n;
}

void bcl_end_op(const char *sid_hash, struct bcl_bufs *b, struct store_op *op)
{
	bucket_op(bucket_of(now_s()), sid_hash, b, op);
}

/* ---- The logout token ------------------------------------------------------ */

char *bcl_logout_token(const struct rt *rt, const struct client *cl, const char *sid_hash,
		       const char *local_sub)
{
	const struct sign_key *sk = rt->keys->active[cl->id_token_alg];
	char sid[65], *jti = rand_token(24), *sub = NULL, *text = NULL, *tok = NULL;
	int64_t now = now_s();
	json_t *p = NULL;

	if (sk == NULL || jti == NULL)
		goto out;
	sid_for(rt->cfg, cl, sid_hash, sid);
	if (local_sub != NULL && (sub = subject_for(rt->cfg, cl, local_sub)) == NULL)
		goto out;
	/* OpenID Back-Channel Logout 1.0, 2.4: no nonce, an events member
	 * naming the logout event with an empty object. */
	p = json_pack("{s:s,s:s,s:I,s:I,s:s,s:{s:{}},s:s,s:s?}", "iss", rt->cfg->issuer, "aud", cl->id,
		      "iat", (json_int_t)now, "exp", (json_int_t)(now + BCL_LOGOUT_TOKEN_TTL_S), "jti", jti,
		      "events", bcl_event, "sid", sid, "sub", sub);
	if (p == NULL || (text = json_dumps(p, JSON_COMPACT)) == NULL)
		goto out;
	if (jws_sign_typ(sk, "logout+jwt", text, strlen(text), &tok) != IDP_OK)
		tok = NULL;
out:
	json_decref(p);
	free(text);
	free_secret(sub);
	free(jti);
	return tok;
}

/* ---- The sender ------------------------------------------------------------- */

struct job {
	char client[129];
	char sid_tag[9];        /* of the session's hash, for the log and audit */
	char *uri;
	char *body;             /* logout_token=... */
	int attempts;
	int64_t due_ms;
	CURL *h;                /* in flight when not NULL */
};

static struct {
	pthread_mutex_t lock;
	struct job *q[BCL_QUEUE_MAX];
	size_t n;
	pthread_t sender, sweeper;
	bool sender_on, sweeper_on;
	volatile int stop;
	CURLM *multi;
} bc = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->uri);
	free_secret(j->body);
	free(j);
}

static void bcl_audit(const char *result, const char *client, const char *sid_tag)
{
	audit_event("backchannel_logout", NULL, "result", result, "client", client, "sid", sid_tag, NULL);
}

/* Queues a logout token for client cl; a full queue drops it. */
static void enqueue(const struct client *cl, const char *sid_hash, char *token)
{
	struct job *j = calloc(1, sizeof(*j));
	bool queued = false;

	if (j != NULL && (j->uri = strdup(cl->backchannel_uri)) != NULL &&
	    asprintf(&j->body, "logout_token=%s", token) > 0) {
		snprintf(j->client, sizeof(j->client), "%s", cl->id);
		secret_tag(sid_hash, j->sid_tag);
		j->due_ms = now_ms();
		pthread_mutex_lock(&bc.lock);
		if (bc.n < BCL_QUEUE_MAX) {
			bc.q[bc.n++] = j;
			queued = true;
		}
		pthread_mutex_unlock(&bc.lock);
	}
	free_secret(token);
	if (queued) {
		curl_multi_wakeup(bc.multi);
		return;
	}
	job_free(j);
	metrics_count(M_BCL_DROPPED);
	idp_log(LOG_WARN, "backchannel: logout token for %s dropped: the queue is full", cl->id);
	{
		char tag[9];

		secret_tag(sid_hash, tag);
		bcl_audit("dropped", cl->id, tag);
	}
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static CURL *easy_for(struct job *j)
{
	CURL *h = curl_easy_init();

	if (h == NULL)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, j->uri);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, j->body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(j->body));
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not a place to go */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)BCL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)BCL_TIMEOUT_MS);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE, 65536L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "idp-backchannel-logout");
	curl_easy_setopt(h, CURLOPT_PRIVATE, j);
	return h;
}

/* Starts the jobs that are due, up to BCL_INFLIGHT_MAX at once. */
static void start_due(void)
{
	int64_t now = now_ms();
	size_t inflight = 0;

	pthread_mutex_lock(&bc.lock);
	for (size_t i = 0; i < bc.n; i++)
		inflight += bc.q[i]->h != NULL;
	for (size_t i = 0; i < bc.n && inflight < BCL_INFLIGHT_MAX; i++) {
		struct job *j = bc.q[i];

		if (j->h != NULL || j->due_ms > now)
			continue;
		if ((j->h = easy_for(j)) == NULL)
			continue;
		j->attempts++;
		curl_multi_add_handle(bc.multi, j->h);
		inflight++;
	}
	pthread_mutex_unlock(&bc.lock);
}

static void job_remove(struct job *j)
{
	pthread_mutex_lock(&bc.lock);
	for (size_t i = 0; i < bc.n; i++)
		if (bc.q[i] == j) {
			bc.q[i] = bc.q[--bc.n];
			break;
		}
	pthread_mutex_unlock(&bc.lock);
	job_free(j);
}

/* One answer (or failure) of a job in flight. 200 (or 204, which some
 * frameworks substitute, spec 2.8) is done; a network error, a timeout or
 * a 5xx is retried with backoff (1 s, 2 s) up to BCL_ATTEMPTS; anything
 * else (4xx: the service refused the token, 3xx) is final. */
static void finished(CURL *h, CURLcode res)
{
	struct job *j = NULL;
	long status = 0;
	bool retry;

	curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&j);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(bc.multi, h);
	curl_easy_cleanup(h);
	if (j == NULL)
		return;
	j->h = NULL;
	if (res == CURLE_OK && (status == 200 || status == 204)) {
		metrics_count(M_BCL_SENT);
		idp_log(LOG_INFO, "backchannel: logout token of session %s delivered to %s", j->sid_tag, j->client);
		job_remove(j);
		return;
	}
	retry = (res != CURLE_OK || status >= 500) && j->attempts < BCL_ATTEMPTS;
	idp_log(LOG_INFO, "backchannel: attempt %d for %s failed (%s, HTTP %ld)%s", j->attempts, j->client,
		curl_easy_strerror(res), status, retry ? ": retrying" : ": given up");
	if (retry) {
		pthread_mutex_lock(&bc.lock);
		j->due_ms = now_ms() + 1000LL * (1LL << (j->attempts - 1));
		pthread_mutex_unlock(&bc.lock);
		return;
	}
	metrics_count(M_BCL_FAILED);
	bcl_audit("failed", j->client, j->sid_tag);
	job_remove(j);
}

static void *sender_main(void *arg)
{
	(void)arg;
	while (!bc.stop) {
		CURLMsg *m;
		int running, left;

		start_due();
		curl_multi_perform(bc.multi, &running);
		while ((m = curl_multi_info_read(bc.multi, &left)) != NULL)
			if (m->msg == CURLMSG_DONE)
				finished(m->easy_handle, m->data.result);
		curl_multi_poll(bc.multi, NULL, 0, 200, NULL);
	}
	return NULL;
}

/* Drops every waiting job whose URI is no longer the client's registered
 * one (a reload since it was queued changed or removed it), once a sweep. */
static void drop_unregistered(void)
{
	struct job *gone[BCL_QUEUE_MAX];
	struct rt *rt = rt_acquire();
	size_t n = 0;

	pthread_mutex_lock(&bc.lock);
	for (size_t i = 0; i < bc.n;) {
		const struct client *cl = bc.q[i]->h == NULL ? config_client(rt->cfg, bc.q[i]->client) : NULL;

		if (bc.q[i]->h == NULL &&
		    (cl == NULL || cl->backchannel_uri == NULL || strcmp(cl->backchannel_uri, bc.q[i]->uri) != 0)) {
			gone[n++] = bc.q[i];
			bc.q[i] = bc.q[--bc.n];
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&bc.lock);
	rt_release(rt);
	for (size_t i = 0; i < n; i++) {
		idp_log(LOG_WARN, "backchannel: %s no longer registers that URI: its logout token is not sent",
			gone[i]->client);
		metrics_count(M_BCL_FAILED);
		bcl_audit("failed", gone[i]->client, gone[i]->sid_tag);
		job_free(gone[i]);
	}
}

/* ---- The sweeper ------------------------------------------------------------ */

/* Session sid_hash is gone: take what it recorded (one node gets it) and
 * queue a logout token for each service it logged in to. */
static void session_gone(const char *sid_hash)
{
	char key[80], *list = NULL, *sub = NULL, done[BCL_CLIENTS_MAX][65];
	size_t llen = 0, slen = 0, nd = 0;
	struct rt *rt;

	snprintf(key, sizeof(key), K_BCL "%s", sid_hash);
	if (store_take(&g_idp.store, key, &list, &llen) != IDP_OK)
		return;
	snprintf(key, sizeof(key), K_BCS "%s", sid_hash);
	if (store_take(&g_idp.store, key, &sub, &slen) != IDP_OK)
		sub = NULL;
	rt = rt_acquire();
	for (size_t off = 0; off + BCL_ENTRY <= llen && nd < BCL_CLIENTS_MAX; off += BCL_ENTRY) {
		bool seen = false;

		for (size_t i = 0; i < nd; i++)
			seen = seen || memcmp(done[i], list + off, 64) == 0;
		if (seen)
			continue;
		memcpy(done[nd], list + off, 64);
		done[nd++][64] = '\0';
		for (size_t c = 0; c < rt->cfg->n_clients; c++) {
			const struct client *cl = &rt->cfg->clients[c];
			char h[65];
			char *tok;

			sha256_hex(cl->id, strlen(cl->id), h);
			if (memcmp(h, list + off, 64) != 0 || cl->backchannel_uri == NULL)
				continue;
			if ((tok = bcl_logout_token(rt, cl, sid_hash, sub)) != NULL)
				enqueue(cl, sid_hash, tok);
			else
				idp_log(LOG_ERR, "backchannel: no logout token could be signed for %s", cl->id);
		}
	}
	rt_release(rt);
	free(list);
	free_secret(sub);
}

static int cmp_sid(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

/* Which of the records prefix + sids[i] (k of them) exist: present[i]. */
static int mget_prefixed(const char *prefix, const char *const *sids, size_t k, bool *present)
{
	char keys[STORE_BATCH_MAX][80], *vals[STORE_BATCH_MAX] = {0};
	const char *kp[STORE_BATCH_MAX] = {0};
	size_t lens[STORE_BATCH_MAX];
	int rc;

	for (size_t i = 0; i < k; i++) {
		snprintf(keys[i], 80, "%s%.64s", prefix, sids[i]);
		kp[i] = keys[i];
	}
	if ((rc = store_mget(&g_idp.store, kp, k, vals, lens)) != IDP_OK)
		return rc;
	for (size_t i = 0; i < k; i++) {
		present[i] = vals[i] != NULL;
		if (vals[i] != NULL)
			wipe(vals[i], lens[i]);
		free(vals[i]);
	}
	return IDP_OK;
}

/* Looks at the sessions listed in one taken bucket, 8 at a time: first
 * whether any service is to be told (most sessions have none: one round
 * trip), then, for those, whether the session still lives. */
static void sweep_list(char *list, size_t len)
{
	size_t n = len / BCL_ENTRY;

	qsort(list, n, BCL_ENTRY, cmp_sid);
	for (size_t i = 0; i < n && !bc.stop;) {
		const char *sids[STORE_BATCH_MAX], *told[STORE_BATCH_MAX];
		bool has[STORE_BATCH_MAX], alive[STORE_BATCH_MAX];
		size_t k = 0, t = 0;

		for (; i < n && k < STORE_BATCH_MAX; i++) {
			const char *sid = list + i * BCL_ENTRY;

			if (i > 0 && memcmp(sid, sid - BCL_ENTRY, 64) == 0)
				continue; /* listed twice */
			if (strspn(sid, "0123456789abcdef") < 64)
				continue;
			sids[k++] = sid;
		}
		/* The store not answering: these sessions' end is missed. */
		if (k == 0 || mget_prefixed(K_BCL, sids, k, has) != IDP_OK)
			continue;
		for (size_t s = 0; s < k; s++)
			if (has[s])
				told[t++] = sids[s];
		if (t == 0 || mget_prefixed(K_SESSION, told, t, alive) != IDP_OK)
			continue;
		for (size_t s = 0; s < t; s++) {
			char sid[65];

			memcpy(sid, told[s], 64);
			sid[64] = '\0';
			if (alive[s]) {
				struct bcl_bufs bb;
				struct store_op op;

				bucket_op(bucket_of(now_s() + BCL_RECHECK_S), sid, &bb, &op);
				store_batch(&g_idp.store, &op, 1);
			} else {
				session_gone(sid);
			}
		}
	}
}

static void *sweeper_main(void *arg)
{
	int64_t next = bucket_of(now_s() - BCL_LOOKBACK_S);

	(void)arg;
	while (!bc.stop) {
		int64_t cur = bucket_of(now_s());

		/* Every bucket up to the current one, which is taken again
		 * next time (ended sessions go there now). */
		for (int64_t b = next; b <= cur && !bc.stop; b++) {
			char key[80], *list = NULL;
			size_t len = 0;

			snprintf(key, sizeof(key), K_BCX "%lld", (long long)b);
			if (store_take(&g_idp.store, key, &list, &len) == IDP_OK) {
				if (len == BCL_BUCKET_MAX * BCL_ENTRY) {
					metrics_count(M_BCL_DROPPED);
					idp_log(LOG_WARN, "backchannel: bucket %lld was full: sessions listed "
							  "before its oldest entry are not notified", (long long)b);
				}
				sweep_list(list, len);
				free(list);
			}
		}
		next = cur;
		drop_unregistered();
		for (int t = 0; t < 4 && !bc.stop; t++)
			usleep(250000);
	}
	return NULL;
}

int backchannel_start(void)
{
	if ((bc.multi = curl_multi_init()) == NULL)
		return IDP_ENOMEM;
	bc.sender_on = pthread_create(&bc.sender, NULL, sender_main, NULL) == 0;
	bc.sweeper_on = pthread_create(&bc.sweeper, NULL, sweeper_main, NULL) == 0;
	if (!bc.sender_on || !bc.sweeper_on)
		idp_log(LOG_ERR, "backchannel: a thread could not start: logout tokens are not sent");
	return IDP_OK;
}

void backchannel_stop(void)
{
	bc.stop = 1;
	if (bc.multi != NULL)
		curl_multi_wakeup(bc.multi);
	if (bc.sweeper_on)
		pthread_join(bc.sweeper, NULL);
	if (bc.sender_on)
		pthread_join(bc.sender, NULL);
	bc.sweeper_on = bc.sender_on = false;
	for (size_t i = 0; i < bc.n; i++) {
		if (bc.q[i]->h != NULL) {
			curl_multi_remove_handle(bc.multi, bc.q[i]->h);
			curl_easy_cleanup(bc.q[i]->h);
		}
		job_free(bc.q[i]);
	}
	bc.n = 0;
	if (bc.multi != NULL)
		curl_multi_cleanup(bc.multi);
	bc.multi = NULL;
}
