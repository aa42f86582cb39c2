/* Backend health: consecutive EUNAVAIL answers mark a backend down for a
 * while, during which the choice page greys it out; a background prober (or
 * the next success) brings it back. */
#include "idp.h"

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

static pthread_t prober;
static volatile int prober_stop;
static bool prober_started;

static void *prober_main(void *arg)
{
	(void)arg;
	while (!prober_stop) {
		struct rt *rt = rt_acquire();

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
		for (int t = 0; t < 20 && !prober_stop; t++)
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

void health_start(void)
{
	prober_started = pthread_create(&prober, NULL, prober_main, NULL) == 0;
}

void health_stop(void)
{
	prober_stop = 1;
	if (prober_started)
		pthread_join(prober, NULL);
}

