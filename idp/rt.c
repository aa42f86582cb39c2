/* The reloadable runtime and its reference counting. */
#include "idp.h"

#include <stdlib.h>
#include <string.h>

struct daemon g_idp = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct rt *rt_acquire(void)
{
	struct rt *rt;

	pthread_mutex_lock(&g_idp.lock);
	rt = g_idp.rt;
	rt->refs++;
	pthread_mutex_unlock(&g_idp.lock);
	return rt;
}

static void rt_free(struct rt *rt)
{
	if (rt == NULL)
		return;
	backends_free(rt);
	keyset_free(rt->keys);
	tmpl_free(rt->tmpl);
	free(rt->discovery);
	config_free(rt->cfg);
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
	int rc;

	*out = NULL;
	if (rt == NULL)
		return IDP_ENOMEM;
	rt->refs = 1;
	if ((rc = config_load(config_path, &rt->cfg)) != IDP_OK)
		goto fail;
	if ((rc = keyset_load(g_idp.keys_dir ? g_idp.keys_dir : rt->cfg->keys_dir, &rt->keys)) != IDP_OK)
		goto fail;
	if ((rc = tmpl_load(rt->cfg->templates_dir, &rt->tmpl)) != IDP_OK)
		goto fail;
	if ((rc = backends_load(rt, g_idp.plugin_dir ? g_idp.plugin_dir : rt->cfg->plugin_dir)) != IDP_OK)
		goto fail;
	if ((rt->discovery = discovery_render(rt->cfg, rt)) == NULL) {
		rc = IDP_ENOMEM;
		goto fail;
	}
	rt->discovery_len = strlen(rt->discovery);
	*out = rt;
	return IDP_OK;
fail:
	rt_free(rt);
	return rc;
}
