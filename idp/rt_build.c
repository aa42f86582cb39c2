/* SPDX-License-Identifier: EUPL-1.2 */
/* The making of a runtime, at start and on SIGHUP: the configuration and
 * its store settings, the keys, the templates, the backends and the
 * discovery document. Apart from rt.c, which every layer holds, so that what
 * a request holds never reaches up into what built it. */
#include "idp.h"
#include "pkcs11.h"

#include <stdlib.h>
#include <string.h>

int rt_build(const char *config_path, struct rt **out)
{
	struct rt *rt = calloc(1, sizeof(*rt));
	int rc;

	*out = NULL;
	if (rt == NULL)
		return IDP_ENOMEM;
	rt->refs = 1;
	if ((rc = config_load(config_path, &rt->cfg)) != IDP_OK ||
	    (rc = store_check(rt->cfg->store)) != IDP_OK)
		goto fail;
	pkcs11_configure(rt->cfg->pkcs11_module, rt->cfg->pkcs11_pin_file);
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
	if ((rc = rt_share_parts(rt)) != IDP_OK)
		goto fail;
	*out = rt;
	return IDP_OK;
fail:
	rt_release(rt); /* no base yet: frees what this build made */
	return rc;
}
