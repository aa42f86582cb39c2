/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl sessions: a citizen's live sessions, listed or ended, on every
 * node of a shared store. */
#include "ctl.h"

#include <stdio.h>
#include <string.h>

int cmd_sessions(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store st = {0};
	struct session **list = NULL;
	char *sub = NULL, tag[9], at[32], cr[32];
	size_t n = 0;
	bool revoke = argc == 1 && strcmp(argv[0], "revoke") == 0;
	int rc;

	if (argc != 1 || (!revoke && strcmp(argv[0], "list") != 0) || (opt.user != NULL) == (opt.sid != NULL) ||
	    (!revoke && opt.sid != NULL)) {
		usage(stderr);
		return 2;
	}
	if (opt.sid != NULL && (strlen(opt.sid) != 64 || strspn(opt.sid, "0123456789abcdef") != 64))
		return fail("--sid takes the 64 hex digits idpctl sessions list shows");
	if (opt.user != NULL && (strlen(opt.user) == 0 || strlen(opt.user) > SESSION_TEXT_MAX))
		return fail("--user must be 1 to %d characters", SESSION_TEXT_MAX);
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	if ((rc = open_shared_store(cfg, &st, revoke ? "sessions revoke" : "sessions list")) != 0) {
		config_free(cfg);
		return rc;
	}
	if (opt.user != NULL)
		sub = local_subject(cfg, opt.user);
	if (opt.sid != NULL) {
		rc = session_end_in(&st, opt.sid);
		secret_tag(opt.sid, tag);
		if (rc == IDP_OK)
			printf("session %s ended (with its access tokens), if it was live\n", tag);
		audit_admin(cfg, "sessions.revoke", NULL, NULL, tag, NULL, rc);
	} else if (revoke) {
		rc = session_end_subject(&st, sub, &n);
		if (rc == IDP_OK)
			printf("%zu session%s ended, with their access tokens\n", n, n == 1 ? "" : "s");
		audit_admin(cfg, "sessions.revoke", NULL, sub, NULL, NULL, rc);
	} else if ((rc = session_list_subject(&st, sub, &list, &n)) == IDP_OK) {
		printf("%-64s %-8s %-12s %-10s %-20s %s\n", "session (for --sid)", "log tag", "backend", "acr",
		       "authenticated", "created");
		for (size_t i = 0; i < n; i++) {
			secret_tag(list[i]->sid_hash, tag);
			printf("%-64s %-8s %-12s %-10s %-20s %s\n", list[i]->sid_hash, tag, list[i]->backend,
			       list[i]->acr, fmt_time(list[i]->auth_time, at), fmt_time(list[i]->created, cr));
			session_free(list[i]);
		}
		free(list);
		printf("%zu live session%s\n", n, n == 1 ? "" : "s");
	}
	return close_shared_store(rc, sub, &st, cfg);
}
