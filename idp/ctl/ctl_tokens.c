/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl tokens: a citizen's refresh token families (offline access,
 * refresh.h), listed or ended, on every node of a shared store. Sessions
 * have their own command: offline access outlives them by design. */
#include "ctl.h"
#include "refresh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_tokens(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store st = {0};
	struct refresh_family *list = NULL;
	char *sub = NULL, tag[9], cr[32], us[32], ex[32];
	size_t n = 0;
	bool revoke = argc == 1 && strcmp(argv[0], "revoke") == 0;
	int rc;

	if (argc != 1 || (!revoke && strcmp(argv[0], "list") != 0) || opt.user == NULL) {
		usage(stderr);
		return 2;
	}
	if (strlen(opt.user) == 0 || strlen(opt.user) > SESSION_TEXT_MAX)
		return fail("--user must be 1 to %d characters", SESSION_TEXT_MAX);
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	if (opt.client != NULL && config_client(cfg, opt.client) == NULL) {
		config_free(cfg);
		return fail("no client %.64s in the configuration", opt.client);
	}
	if ((rc = open_shared_store(cfg, &st, revoke ? "tokens revoke" : "tokens list")) != 0) {
		config_free(cfg);
		return rc;
	}
	if ((sub = local_subject(cfg, opt.user)) == NULL)
		rc = IDP_ENOMEM;
	else if (revoke) {
		rc = refresh_families_end(&st, cfg, sub, opt.client, &n);
		if (rc == IDP_OK)
			printf("%zu refresh token famil%s ended, with the access tokens they issued\n", n,
			       n == 1 ? "y" : "ies");
		audit_admin(cfg, "tokens.revoke", NULL, sub, NULL, opt.client, rc);
	} else if ((rc = refresh_families(&st, cfg, sub, opt.client, &list, &n)) == IDP_OK) {
		printf("%-8s %-24s %-20s %-20s %s\n", "family", "service", "created", "last used", "expires");
		for (size_t i = 0; i < n; i++) {
			secret_tag(list[i].family, tag);
			printf("%-8s %-24s %-20s %-20s %s\n", tag, list[i].client,
			       list[i].created > 0 ? fmt_time(list[i].created, cr) : "?",
			       list[i].used > 0 ? fmt_time(list[i].used, us) : "never",
			       fmt_time(list[i].expires, ex));
		}
		free(list);
		printf("%zu live refresh token famil%s\n", n, n == 1 ? "y" : "ies");
	}
	return close_shared_store(rc, sub, &st, cfg);
}
