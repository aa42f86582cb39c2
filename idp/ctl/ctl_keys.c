/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl keys: the signing keys' life cycle (init, list, status, rotate,
 * revoke, import, remove), on the keys folder or through the store. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

int cmd_keys(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store st = {0};
	bool have_store = false;
	const char *dir = opt.keys_dir;
	const char *cmd = argc > 0 ? argv[0] : "";
	/* import --pkcs11 needs the module and PIN file of the configuration. */
	bool changes, needs_cfg = strcmp(cmd, "rotate") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "revoke") == 0 ||
			      (strcmp(cmd, "import") == 0 && opt.pkcs11 != NULL);
	int rc;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if ((dir == NULL || needs_cfg) && config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	if (dir == NULL)
		dir = cfg->keys_dir;
	/* Readiness lives in the shared store: only redis is visible from here. */
	if (cfg != NULL && ((needs_cfg && strcmp(cmd, "revoke") != 0) || cfg->kek_file != NULL) &&
	    strcmp(json_string_value(json_object_get(cfg->store, "driver")) ?: "memory", "redis") == 0) {
		if (store_open(cfg->store, &st) != IDP_OK) {
			config_free(cfg);
			return fail("the store of %s does not answer", opt.config);
		}
		have_store = true;
	}
	/* With key_rotation.kek_file the store's set is the newest: taken into
	 * the folder before a change, the change published after it. */
	changes = strcmp(cmd, "list") != 0 && strcmp(cmd, "status") != 0;
	if (have_store && changes && keys_store_pull(cfg, &st, dir) != IDP_OK) {
		rc = fail("the key set in the store cannot be taken: nothing changed");
		goto out;
	}
	if (strcmp(cmd, "init") == 0)
		rc = keys_init(dir, stdout);
	else if (strcmp(cmd, "list") == 0)
		rc = keys_status(NULL, dir, NULL, stdout);
	else if (strcmp(cmd, "status") == 0)
		rc = keys_status(cfg, dir, have_store ? &st : NULL, stdout);
	else if (strcmp(cmd, "rotate") == 0)
		rc = keys_rotate(cfg, dir, have_store ? &st : NULL, opt.alg, opt.force, stdout);
	else if (strcmp(cmd, "revoke") == 0 && argc == 2)
		rc = keys_revoke(cfg, dir, argv[1], stdout);
	else if (strcmp(cmd, "remove") == 0 && argc == 2)
		rc = keys_remove(dir, argv[1], stdout);
	else if (strcmp(cmd, "import") == 0 && argc == 1 && opt.pkcs11 != NULL && opt.alg != ALG_NONE)
		rc = keys_import_pkcs11(cfg, dir, opt.pkcs11, opt.alg, stdout);
	else if (strcmp(cmd, "import") == 0 && argc == 2 && opt.pkcs11 == NULL && opt.alg != ALG_NONE)
		rc = keys_import(dir, argv[1], opt.alg, stdout);
	else {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (have_store && changes && (rc == IDP_OK || rc == IDP_EDENIED) &&
	    keys_store_publish(cfg, &st, dir) != IDP_OK)
		rc = IDP_EIO;
	if (strcmp(cmd, "rotate") == 0 || strcmp(cmd, "revoke") == 0) {
		char action[16];

		snprintf(action, sizeof(action), "keys.%s", cmd);
		audit_admin(cfg, action, argc == 2 ? argv[1] : NULL, NULL, NULL, NULL, rc);
	}
	/* Exit codes: 0 done, 3 refused or waiting (see the message), 1 error. */
	rc = rc == IDP_OK ? 0 : rc == IDP_EDENIED ? 3 : 1;
out:
	if (have_store)
		store_close(&st);
	config_free(cfg);
	return rc;
}
