/* SPDX-License-Identifier: EUPL-1.2 */
/* The reloadable runtime and its reference counting. */
#include "idp.h"
#include "pkcs11.h"

#include <stdlib.h>
#include <string.h>

struct daemon g_idp = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* What one reading of the configuration made: kept by every runtime that
 * differs from it only by its keys. refs is under g_idp.lock like rt->refs. */
struct rt_base {
	int refs;
	struct config *cfg;
	struct tmpl_set *tmpl;
	struct backend *backends;
	size_t n_backends;
	char *discovery;
};

struct rt *rt_acquire(void)
{
	struct rt *rt;

	pthread_mutex_lock(&g_idp.lock);
	rt = g_idp.rt;
	rt->refs++;
	pthread_mutex_unlock(&g_idp.lock);
	return rt;
}

static void parts_free(struct config *cfg, struct tmpl_set *tmpl, struct backend *backends,
		       size_t n_backends, char *discovery)
{
	backends_free(backends, n_backends);
	tmpl_free(tmpl);
	free(discovery);
	config_free(cfg);
}

static void base_release(struct rt_base *base)
{
	bool last;

	if (base == NULL)
		return;
	pthread_mutex_lock(&g_idp.lock);
	last = --base->refs == 0;
	pthread_mutex_unlock(&g_idp.lock);
	if (!last)
		return;
	parts_free(base->cfg, base->tmpl, base->backends, base->n_backends, base->discovery);
	free(base);
}

static void rt_free(struct rt *rt)
{
	if (rt == NULL)
		return;
	keyset_free(rt->keys);
	if (rt->base != NULL)
		base_release(rt->base);
	else /* a build that failed half-way: it owns what it made */
		parts_free(rt->cfg, rt->tmpl, rt->backends, rt->n_backends, rt->discovery);
	free(rt);
}

void rt_release(struct rt *rt)
{
	bool last;

	if (rt == NULL)
		return;
	pthread_mutex_lock(&g_idp.lock);
	last = --rt->refs == 0;
	pthread_mutex_unlock(&g_idp.lock);
	if (last)
		rt_free(rt);
}

int rt_build(const char *config_path, struct rt **out)
{
	struct rt *rt = calloc(1, sizeof(*rt));
	struct rt_base *base = NULL;
	int rc;

	*out = NULL;
	if (rt == NULL)
		return IDP_ENOMEM;
	rt->refs = 1;
	if ((rc = config_load(config_path, &rt->cfg)) != IDP_OK)
		goto fail;
	pkcs11_configure(rt->cfg->pkcs11_module, rt->cfg->pkcs11_pin_file);
	if ((rc = keyset_load(g_idp.keys_dir ? g_idp.keys_dir : rt->cfg->keys_dir, &rt->keys)) != IDP_OK)
		goto fail;
	if ((rc = tmpl_load(rt->cfg->templates_dir, &rt->tmpl)) != IDP_OK)
		goto fail;
	if ((rc = backends_load(rt, g_idp.plugin_dir ? g_idp.plugin_dir : rt->cfg->plugin_dir)) != IDP_OK)
		goto fail;
	if ((rt->discovery = discovery_render(rt->cfg, rt)) == NULL ||
	    (base = calloc(1, sizeof(*base))) == NULL) {
		rc = IDP_ENOMEM;
		goto fail;
	}
	rt->discovery_len = strlen(rt->discovery);
	base->refs = 1;
	base->cfg = rt->cfg;
	base->tmpl = rt->tmpl;
	base->backends = rt->backends;
	base->n_backends = rt->n_backends;
	base->discovery = rt->discovery;
	rt->base = base;
	*out = rt;
	return IDP_OK;
fail:
	rt_free(rt);
	return rc;
}

int rt_with_keys(struct rt *cur, struct keyset *ks, struct rt **out)
{
	struct rt *rt;

	*out = NULL;
	if ((rt = calloc(1, sizeof(*rt))) == NULL) {
		keyset_free(ks);
		return IDP_ENOMEM;
	}
	*rt = *cur;
	rt->refs = 1;
	rt->keys = ks;
	pthread_mutex_lock(&g_idp.lock);
	rt->base->refs++;
	pthread_mutex_unlock(&g_idp.lock);
	*out = rt;
	return IDP_OK;
}
