/* SPDX-License-Identifier: EUPL-1.2 */
/* Backend health: consecutive EUNAVAIL answers mark a backend down for a
 * while, during which the choice page greys it out; a background prober (or
 * the next success) brings it back. */
#include "idp.h"
#include "usage.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HEALTH_FAILS 3        /* consecutive failures that mark a backend down */
#define HEALTH_DOWN_S 30      /* how long it stays greyed out before a retry */

/* Health: consecutive EUNAVAIL answers mark a backend down for a while; the
 * prober (or the next success) brings it back. */
void backend_report(struct backend *b, int rc)
{
	if (rc == IDP_EUNAVAIL) {
		int n = __atomic_add_fetch(&b->fails, 1, __ATOMIC_RELAXED);

		if (n >= HEALTH_FAILS) {
			__atomic_store_n(&b->down_until, now_s() + HEALTH_DOWN_S, __ATOMIC_RELAXED);
			if (n == HEALTH_FAILS)
				idp_log(LOG_WARN, "backend %s: %d failures in a row; shown as unavailable", b->id, n);
		}
	} else if (rc == IDP_OK) {
		if (__atomic_exchange_n(&b->fails, 0, __ATOMIC_RELAXED) >= HEALTH_FAILS)
			idp_log(LOG_INFO, "backend %s: answering again", b->id);
		__atomic_store_n(&b->down_until, 0, __ATOMIC_RELAXED);
	}
}

bool backend_up(const struct backend *b)
{
	return __atomic_load_n(&b->down_until, __ATOMIC_RELAXED) <= now_s();
}

/* ---- Heartbeat ------------------------------------------------------------ */

/* A node is named by a hash of its host and listening address: the same
 * after a restart, so the list of nodes does not grow with restarts. */
#define NODE_ID_LEN 16
#define NODES_MAX 64
#define NODES_TTL_S 86400

static char node_listen[300], node_id[NODE_ID_LEN + 1], node_host[256];
static int64_t node_started;

static void node_init(const char *listen)
{
	char h[65], both[600];

	if (gethostname(node_host, sizeof(node_host) - 1) != 0)
		strcpy(node_host, "?");
	snprintf(node_listen, sizeof(node_listen), "%s", listen);
	snprintf(both, sizeof(both), "%s %s", node_host, node_listen);
	sha256_hex(both, strlen(both), h);
	memcpy(node_id, h, NODE_ID_LEN);
	node_started = now_s();
}

/* On the prober's thread, never on a loop: the store's timeout bounds it. */
static void heartbeat(void)
{
	struct rt *rt = rt_acquire();
	json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:{}}", "id", node_id, "host", node_host, "listen",
			      node_listen, "version", IDP_VERSION, "pid", (json_int_t)getpid(), "started",
			      (json_int_t)node_started, "beat", (json_int_t)now_s(), "backends");
	char key[64], entry[NODE_ID_LEN + 2], *list = NULL;
	size_t len = 0;

	for (size_t i = 0; j != NULL && i < rt->n_backends; i++)
		json_object_set_new(json_object_get(j, "backends"), rt->backends[i].id,
				    json_string(backend_up(&rt->backends[i]) ? "up" : "down"));
	rt_release(rt);
	snprintf(key, sizeof(key), K_NODE "%s", node_id);
	if (j == NULL || store_put_json(&g_idp.store, key, j, HEARTBEAT_TTL_S) != IDP_OK) {
		json_decref(j);
		return;
	}
	json_decref(j);
	/* Listed once: read first, so that the list holds each node once. */
	snprintf(entry, sizeof(entry), "%s ", node_id);
	if (store_get(&g_idp.store, K_NODES, &list, &len) == IDP_ENOTFOUND || (list != NULL && !strstr(list, entry)))
		store_batch(&g_idp.store,
			    (const struct store_op[]){{.kind = STORE_OP_APPEND, .key = K_NODES, .val = entry,
						       .len = NODE_ID_LEN + 1, .ttl_s = NODES_TTL_S,
						       .max = NODES_MAX * (NODE_ID_LEN + 1)}},
			    1);
	free(list);
}

static const char *ago(int64_t s, char buf[32])
{
	if (s >= 86400)
		snprintf(buf, 32, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
	else
		snprintf(buf, 32, "%lldh%02lldm%02llds", (long long)(s / 3600), (long long)(s % 3600 / 60),
			 (long long)(s % 60));
	return buf;
}

int nodes_print(struct store *st, FILE *out, size_t *alive)
{
	char *list = NULL, key[64], up[32];
	size_t len = 0, silent = 0;
	int64_t now = now_s();
	int rc;

	*alive = 0;
	rc = store_get(st, K_NODES, &list, &len);
	if (rc != IDP_OK && rc != IDP_ENOTFOUND)
		return rc;
	fprintf(out, "%-16s %-24s %-22s %-8s %-8s %-10s %-9s %s\n", "node", "host", "listen", "version", "pid",
		"uptime", "heartbeat", "backends");
	for (size_t off = 0; list != NULL && off + NODE_ID_LEN + 1 <= len; off += NODE_ID_LEN + 1) {
		json_t *j = NULL, *b;
		const char *k;
		json_t *v;

		snprintf(key, sizeof(key), K_NODE "%.*s", NODE_ID_LEN, list + off);
		if (store_get_json(st, key, &j) != IDP_OK || !json_is_object(j)) {
			silent++;
			json_decref(j);
			continue;
		}
		(*alive)++;
		fprintf(out, "%-16.16s %-24.24s %-22.64s %-8.16s %-8lld %-10s %2llds ago ", list + off,
			json_string_value(json_object_get(j, "host")) ?: "?",
			json_string_value(json_object_get(j, "listen")) ?: "?",
			json_string_value(json_object_get(j, "version")) ?: "?",
			(long long)json_integer_value(json_object_get(j, "pid")),
			ago(now - json_integer_value(json_object_get(j, "started")), up),
			(long long)(now - json_integer_value(json_object_get(j, "beat"))));
		b = json_object_get(j, "backends");
		json_object_foreach(b, k, v) fprintf(out, " %.64s:%.8s", k, json_string_value(v) ?: "?");
		fputc('\n', out);
		json_decref(j);
	}
	free(list);
	fprintf(out, "%zu node%s heard within %d s", *alive, *alive == 1 ? "" : "s", HEARTBEAT_TTL_S);
	if (silent > 0)
		fprintf(out, "; %zu silent for longer (stopped, or cut off from the store)", silent);
	fputc('\n', out);
	return IDP_OK;
}

/* ---- Backends' prober ------------------------------------------------------ */

static pthread_t prober;
static volatile int prober_stop;
static bool prober_started;

static void *prober_main(void *arg)
{
	(void)arg;
	while (!prober_stop) {
		struct rt *rt;

		heartbeat();
		usage_flush(&g_idp.store);
		rt = rt_acquire();

		for (size_t i = 0; i < rt->n_backends && !prober_stop; i++) {
			struct backend *b = &rt->backends[i];

			if (__atomic_load_n(&b->fails, __ATOMIC_RELAXED) < HEALTH_FAILS || b->ops->probe == NULL)
				continue;
			if (b->ops->probe(b->inst) == 0)
				backend_report(b, IDP_OK);
			else
				__atomic_store_n(&b->down_until, now_s() + HEALTH_DOWN_S, __ATOMIC_RELAXED);
		}
		rt_release(rt);
		for (int t = 0; t < HEARTBEAT_S * 4 && !prober_stop; t++)
			usleep(250000);
	}
	return NULL;
}

/* A node whose store does not answer cannot serve a login: the load
 * balancer's check on /healthz takes it out of rotation meanwhile. DBSIZE
 * for Redis (O(1)), a counter for the memory store. */
bool health_store_ready(void)
{
	return g_idp.store.ops != NULL && g_idp.store.ops->count(g_idp.store.st) >= 0;
}

void health_start(const char *listen)
{
	node_init(listen);
	prober_started = pthread_create(&prober, NULL, prober_main, NULL) == 0;
}

void health_stop(void)
{
	char key[64];

	prober_stop = 1;
	if (prober_started)
		pthread_join(prober, NULL);
	usage_flush(&g_idp.store); /* what was counted since the last beat */
	/* A node stopped on purpose leaves the status at once. */
	snprintf(key, sizeof(key), K_NODE "%s", node_id);
	if (node_id[0] != '\0')
		store_del(&g_idp.store, key);
}

