/* SPDX-License-Identifier: EUPL-1.2 */
/* What the configuration's loaders share (config.c, config_clients.c): the
 * loading context and the typed getters that report every problem. Not for
 * use outside the configuration loader. */
#ifndef IDP_CONFIG_LOAD_H
#define IDP_CONFIG_LOAD_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"

/* A loading context collects every problem before refusing, so an operator
 * fixes a file in one pass. */
struct cctx {
	const char *file;
	int errors;
};

void cfg_err(struct cctx *x, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void cfg_check_keys(struct cctx *x, const json_t *o, const char *path, const char *const *allowed);
const char *cfg_str(struct cctx *x, const json_t *o, const char *path, const char *key,
		    const char *def);
long long cfg_int(struct cctx *x, const json_t *o, const char *path, const char *key,
		  long long def, long long min, long long max);
bool cfg_bool(struct cctx *x, const json_t *o, const char *path, const char *key, bool def);
char **cfg_strv(struct cctx *x, const json_t *o, const char *path, const char *key, size_t *n);
void cfg_strv_free(char **v);
bool cfg_log_safe(const char *s);

/* config_clients.c */
void load_clients(struct cctx *x, struct config *c, json_t *root, const char *override);
void client_release(struct client *cl);

#endif
