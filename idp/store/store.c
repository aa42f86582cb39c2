/* SPDX-License-Identifier: EUPL-1.2 */
/* Driver choice and the JSON helpers shared by every store user. */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "util.h"
#include "json_bounded.h"

int store_check(const json_t *conf)
{
	const json_t *d = conf != NULL ? json_object_get(conf, "driver") : NULL;

	if (json_is_string(d) && strcmp(json_string_value(d), "redis") == 0 && store_redis_check(conf) != IDP_OK)
		return log_fail(IDP_EINVAL, "store: the Redis settings are not valid (the line above says why)");
	return IDP_OK;
}

int store_open(const json_t *conf, struct store *out)
{
	static const struct store_ops *const drivers[] = {&store_memory, &store_redis};
	const char *name = "memory";
	const json_t *d = NULL;
	void *st = NULL;
	size_t i;
	int rc;

	out->ops = NULL;
	out->st = NULL;
	if (conf != NULL && !json_is_object(conf))
		return log_fail(IDP_EINVAL, "store_open: \"store\" must be an object");
	if (conf != NULL)
		d = json_object_get(conf, "driver");
	if (d != NULL) {
		if (!json_is_string(d))
			return log_fail(IDP_EINVAL, "store_open: \"driver\" must be a string");
		name = json_string_value(d);
	}
	for (i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++) {
		if (strcmp(name, drivers[i]->name) != 0)
			continue;
		if ((rc = drivers[i]->open(conf, &st)) != IDP_OK)
			return log_fail(rc, "store_open: driver \"%s\": %s", name, idp_strerror(rc));
		out->ops = drivers[i];
		out->st = st;
		return IDP_OK;
	}
	return log_fail(IDP_EINVAL, "store_open: unknown driver \"%.64s\" (expected \"memory\" or \"redis\")",
			name);
}

void store_close(struct store *s)
{
	if (s == NULL || s->ops == NULL)
		return;
	s->ops->close(s->st);
	s->ops = NULL;
	s->st = NULL;
}

char *store_json_text(const json_t *v, size_t *len)
{
	char *text;

	/* ENCODE_ANY: a record may be a bare string or number, not only an
	 * object. json_dumps recurses: the depth is checked first. */
	if (v == NULL || !json_value_bounded(v, JSON_STORED_DEPTH, STORE_JSON_MAX) ||
	    (text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return NULL;
	*len = strlen(text);
	return text;
}

int store_put_json(struct store *s, const char *key, const json_t *v, unsigned ttl)
{
	char *text;
	size_t len;
	int rc;

	if (v == NULL)
		return IDP_EINVAL;
	if (!json_value_bounded(v, JSON_STORED_DEPTH, STORE_JSON_MAX))
		return log_fail(IDP_ETOOBIG, "store_put_json: the record is too deep or too large");
	if ((text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return IDP_ENOMEM;
	len = strlen(text);
	rc = store_put(s, key, text, len, ttl);
	OPENSSL_cleanse(text, len); /* sessions and codes: secrets */
	free(text);
	return rc;
}

/* Parses a record fetched as text, then wipes and frees the text. */
int store_parse_json(const char *key, char *text, size_t len, json_t **out)
{
	char tag[9];
	int rc;

	/* No JSON_ALLOW_NUL: a "\u0000" inside a string would cut it short for
	 * every reader using json_string_value(). */
	rc = json_parse_bounded(text, len, STORE_JSON_MAX, JSON_STORED_DEPTH,
				JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, out);
	if (rc != IDP_OK) {
		/* Keys may embed codes or session ids: log a tag of the key, not it. */
		secret_tag(key, tag);
		rc = log_fail(IDP_EINVAL, "store_get_json: record %s is %s", tag,
			      rc == IDP_ETOOBIG ? "too deep or too large" : "not JSON");
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

int store_get_json(struct store *s, const char *key, json_t **out)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = store_get(s, key, &text, &len)) != IDP_OK)
		return rc;
	return store_parse_json(key, text, len, out);
}

int store_take_json(struct store *s, const char *key, json_t **out)
{
	char *text;
	size_t len;
	int rc;

	*out = NULL;
	if ((rc = store_take(s, key, &text, &len)) != IDP_OK)
		return rc;
	return store_parse_json(key, text, len, out);
}
