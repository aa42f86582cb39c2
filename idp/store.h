/* The store: every piece of shared state (codes, sessions, tokens, consent,
 * rate-limit counters, key-set state) is a record with a TTL behind this one
 * interface. Two drivers: memory (embedded default) and redis (hiredis).
 *
 * Keys are printable ASCII of at most 256 bytes; values are opaque bytes of at
 * most 1 MiB (in practice small JSON documents). Every call is thread-safe. */
#ifndef IDP_STORE_H
#define IDP_STORE_H

#include <stddef.h>

#include <jansson.h>

#define STORE_KEY_MAX 256
#define STORE_VAL_MAX (1024 * 1024)

struct store_ops {
	const char *name;
	/* conf: the "store" object of the configuration (driver-specific keys). */
	int (*open)(const json_t *conf, void **st);
	void (*close)(void *st);
	/* Sets key to val for ttl_s seconds (ttl_s >= 1), replacing any value. */
	int (*put)(void *st, const char *key, const void *val, size_t len, unsigned ttl_s);
	/* Sets key only if absent: IDP_EEXIST when it is present. */
	int (*add)(void *st, const char *key, const void *val, size_t len, unsigned ttl_s);
	/* *val is malloc'ed, NUL-terminated, the caller's. IDP_ENOTFOUND when absent
	 * or expired. */
	int (*get)(void *st, const char *key, char **val, size_t *len);
	/* Atomic get-and-delete: of two concurrent takes, exactly one gets the value. */
	int (*take)(void *st, const char *key, char **val, size_t *len);
	/* IDP_OK whether or not the key existed. */
	int (*del)(void *st, const char *key);
	/* Increments an integer counter; creates it at 1 with ttl_s when absent
	 * (the TTL is not extended by later increments). */
	int (*incr)(void *st, const char *key, unsigned ttl_s, long long *out);
	/* Changes the TTL of an existing key: IDP_ENOTFOUND when absent. */
	int (*expire)(void *st, const char *key, unsigned ttl_s);
	/* Number of live records (for metrics and tests); may be approximate. */
	long long (*count)(void *st);
};

extern const struct store_ops store_memory;
extern const struct store_ops store_redis;

/* A store handle: the driver and its instance. */
struct store {
	const struct store_ops *ops;
	void *st;
};

/* Opens the driver named by conf's "driver" ("memory" when conf is NULL or has
 * no driver). */
int store_open(const json_t *conf, struct store *out);
void store_close(struct store *s);

static inline int store_put(struct store *s, const char *k, const void *v, size_t n, unsigned ttl)
{
	return s->ops->put(s->st, k, v, n, ttl);
}
static inline int store_add(struct store *s, const char *k, const void *v, size_t n, unsigned ttl)
{
	return s->ops->add(s->st, k, v, n, ttl);
}
static inline int store_get(struct store *s, const char *k, char **v, size_t *n)
{
	return s->ops->get(s->st, k, v, n);
}
static inline int store_take(struct store *s, const char *k, char **v, size_t *n)
{
	return s->ops->take(s->st, k, v, n);
}
static inline int store_del(struct store *s, const char *k)
{
	return s->ops->del(s->st, k);
}
static inline int store_incr(struct store *s, const char *k, unsigned ttl, long long *out)
{
	return s->ops->incr(s->st, k, ttl, out);
}
static inline int store_expire(struct store *s, const char *k, unsigned ttl)
{
	return s->ops->expire(s->st, k, ttl);
}

/* JSON helpers: put a json_t (serialised compactly), get one back (parsed). */
int store_put_json(struct store *s, const char *key, const json_t *v, unsigned ttl);
int store_get_json(struct store *s, const char *key, json_t **out);
int store_take_json(struct store *s, const char *key, json_t **out);

#endif
