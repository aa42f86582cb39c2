/* SPDX-License-Identifier: EUPL-1.2 */
/* The typed getters of the configuration loader: each reports a problem
 * with the setting's path and goes on, so that one pass shows them all. */
#include "config_load.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void cfg_err(struct cctx *x, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	idp_log(LOG_ERR, "%s: %s: %s", x->file, path, msg);
	x->errors++;
}

/* Refuses keys the schema does not know: a typo must not silently disable a
 * setting. "_comment" keys are documentation. */
void cfg_check_keys(struct cctx *x, const json_t *o, const char *path, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		const char *const *a;
		bool ok = strncmp(k, "_comment", 8) == 0;

		for (a = allowed; !ok && *a; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok)
			cfg_err(x, path, "unknown setting \"%s\"", k);
	}
}

const char *cfg_str(struct cctx *x, const json_t *o, const char *path, const char *key,
		    const char *def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		cfg_err(x, path, "\"%s\" must be a non-empty string", key);
		return def;
	}
	return json_string_value(v);
}

long long cfg_int(struct cctx *x, const json_t *o, const char *path, const char *key,
		  long long def, long long min, long long max)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		cfg_err(x, path, "\"%s\" must be an integer from %lld to %lld", key, min, max);
		return def;
	}
	return json_integer_value(v);
}

bool cfg_bool(struct cctx *x, const json_t *o, const char *path, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return def;
	if (!json_is_boolean(v)) {
		cfg_err(x, path, "\"%s\" must be true or false", key);
		return def;
	}
	return json_is_true(v);
}

/* An array of non-empty strings; *n = 0 and NULL when absent. */
char **cfg_strv(struct cctx *x, const json_t *o, const char *path, const char *key, size_t *n)
{
	json_t *a = json_object_get(o, key), *v;
	char **out;
	size_t i;

	*n = 0;
	if (a == NULL)
		return NULL;
	if (!json_is_array(a)) {
		cfg_err(x, path, "\"%s\" must be an array of strings", key);
		return NULL;
	}
	if ((out = calloc(json_array_size(a) + 1, sizeof(*out))) == NULL)
		return NULL;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0) {
			cfg_err(x, path, "\"%s\"[%zu] must be a non-empty string", key, i);
			continue;
		}
		out[(*n)++] = strdup(json_string_value(v));
	}
	return out;
}

void cfg_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Only text without control bytes is copied into a log line. */
bool cfg_log_safe(const char *s)
{
	if (s == NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			return false;
	return true;
}
