/* SPDX-License-Identifier: EUPL-1.2 */
/* A client's public keys, inline or fetched (client_jwks.h). */
#include "client_jwks.h"
#include "fetch.h"
#include "fiber.h"
#include "json_bounded.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>


/* One fetched set per URI. Few: one per client with a jwks_uri, the oldest
 * dropped past the cap (a reload may have renamed URIs). */
#define CACHE_MAX 1024

struct entry {
	char *uri;
	struct client_key *keys;
	size_t n;
	int64_t fetched, attempted; /* now_s() of the last set, of the last try */
	struct entry *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *cache;
static size_t n_cache;
static struct fiber_pool *pool;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

static void pool_init(void)
{
	pool = fiber_pool_new();
}

static int keys_copy(const struct client_key *k, size_t n, struct client_key **out, size_t *on)
{
	struct client_key *v = n > 0 ? calloc(n, sizeof(*v)) : NULL;

	*out = NULL;
	*on = 0;
	if (n > 0 && v == NULL)
		return IDP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].kid = xstrdup(k[i].kid);
		v[i].use = xstrdup(k[i].use);
		if (EVP_PKEY_up_ref(k[i].pk) == 1)
			v[i].pk = k[i].pk;
		if ((k[i].kid && !v[i].kid) || (k[i].use && !v[i].use) || v[i].pk == NULL) {
			client_keys_free(v, n);
			return IDP_ENOMEM;
		}
	}
	*out = v;
	*on = n;
	return IDP_OK;
}

struct fetch {
	const char *uri;
	char *body;
	size_t len;
	int rc;
	struct client_key *keys;
	size_t n;
};

/* On a worker thread: GET the URI (fetch.h's limits), then its keys. */
static void fetch_run(void *arg)
{
	struct fetch *f = arg;
	long status = 0;
	json_t *doc = NULL;
	const char *why = "not a JSON object";
	int rc;

	f->rc = IDP_EUNAVAIL;
	rc = fetch_bounded(f->uri, CLIENT_JWKS_TIMEOUT_MS, CLIENT_JWKS_MAX_BYTES, &f->body, &f->len, &status, &why);
	if (rc != IDP_OK) {
		idp_log(LOG_WARN, "client jwks: %s: %s", f->uri,
		        rc == IDP_ETOOBIG ? "larger than 64 KiB" : status ? "answered an error status" : "no answer");
		return;
	}
	why = "not a JSON object";
	if (json_parse_bounded(f->body, f->len, CLIENT_JWKS_MAX_BYTES, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES,
			       &doc) != IDP_OK ||
	    client_keys_parse(doc, &f->keys, &f->n, &why) != IDP_OK) {
		idp_log(LOG_WARN, "client jwks: %s: not a usable key set (%s)", f->uri, why);
		goto out;
	}
	f->rc = IDP_OK;
out:
	json_decref(doc);
}

static struct entry *entry_find(const char *uri)
{
	for (struct entry *e = cache; e != NULL; e = e->next)
		if (strcmp(e->uri, uri) == 0)
			return e;
	return NULL;
}

/* Under the lock: the entry for uri, made when absent (the oldest dropped
 * past the cap). */
static struct entry *entry_get(const char *uri)
{
	struct entry *e = entry_find(uri), **pp;

	if (e != NULL)
		return e;
	if (n_cache >= CACHE_MAX) {
		for (pp = &cache; (*pp)->next != NULL; pp = &(*pp)->next)
			;
		client_keys_free((*pp)->keys, (*pp)->n);
		free((*pp)->uri);
		free(*pp);
		*pp = NULL;
		n_cache--;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->uri = strdup(uri)) == NULL) {
		free(e);
		return NULL;
	}
	e->next = cache;
	cache = e;
	n_cache++;
	return e;
}

int client_jwks_keys(const struct client *cl, bool refresh, struct client_key **out, size_t *n)
{
	struct fetch f = {.uri = cl->jwks_uri};
	struct entry *e;
	int64_t now = now_s();
	bool go;
	int rc;

	*out = NULL;
	*n = 0;
	if (cl->jwks_uri == NULL)
		return keys_copy(cl->keys, cl->n_keys, out, n);
	pthread_mutex_lock(&lock);
	if ((e = entry_get(cl->jwks_uri)) == NULL) {
		pthread_mutex_unlock(&lock);
		return IDP_ENOMEM;
	}
	/* One try per window whatever the outcome: a client naming unknown
	 * kids, or a URI that does not answer, costs one fetch a window. */
	go = (e->keys == NULL || now - e->fetched >= CLIENT_JWKS_TTL_S || refresh) &&
	     now - e->attempted >= (e->keys == NULL ? 1 : CLIENT_JWKS_REFETCH_S);
	if (go)
		e->attempted = now;
	pthread_mutex_unlock(&lock);
	if (go) {
		pthread_once(&pool_once, pool_init);
		if (pool != NULL)
			fiber_offload_on(pool, fetch_run, &f);
		pthread_mutex_lock(&lock);
		if (f.rc == IDP_OK && (e = entry_get(cl->jwks_uri)) != NULL) {
			client_keys_free(e->keys, e->n);
			e->keys = f.keys;
			e->n = f.n;
			e->fetched = now_s();
			f.keys = NULL;
		}
		pthread_mutex_unlock(&lock);
		client_keys_free(f.keys, f.n);
		free(f.body);
	}
	pthread_mutex_lock(&lock);
	e = entry_find(cl->jwks_uri);
	rc = e == NULL || e->keys == NULL ? IDP_EUNAVAIL : keys_copy(e->keys, e->n, out, n);
	pthread_mutex_unlock(&lock);
	return rc;
}

int client_encrypt_jwt(const struct client *cl, enum jose_enc_alg alg, const char *jws, char **out)
{
	struct client_key *k = NULL;
	const struct client_key *e;
	size_t n = 0;
	int rc;

	*out = NULL;
	if ((rc = client_jwks_keys(cl, false, &k, &n)) != IDP_OK)
		return rc;
	if ((e = client_enc_key(k, n, alg)) == NULL) {
		idp_log(LOG_WARN, "client %s: its keys hold none to encrypt to with %s", cl->id, jose_enc_alg_name(alg));
		rc = IDP_ENOTFOUND;
	} else {
		rc = jose_jwe_encrypt(e->pk, alg, e->kid, "JWT", jws, strlen(jws), out) == JOSE_OK ? IDP_OK : IDP_EINVAL;
	}
	client_keys_free(k, n);
	return rc;
}
