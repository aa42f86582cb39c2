/* SPDX-License-Identifier: EUPL-1.2 */
/* The store: every piece of shared state (codes, sessions, tokens, consent,
 * rate-limit counters, key-set state) is a record with a TTL behind this one
 * interface. Two drivers: memory (embedded default) and redis (hiredis).
 *
 * Keys are printable ASCII of at most 256 bytes; values are opaque bytes of at
 * most 1 MiB (in practice small JSON documents). Every call is thread-safe. */
#ifndef IDP_STORE_H
#define IDP_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define STORE_KEY_MAX 256
#define STORE_VAL_MAX (1024 * 1024)
/* code_issue's batch is the largest: two REQUIREs, three PUTs (the code, its
 * access token, its release: ledger.h), an EXPIRE and three back-channel
 * writes (backchannel.h). */
#define STORE_BATCH_MAX 12

/* One write of a batch (store_ops.batch). */
enum store_op_kind {
	STORE_OP_PUT,     /* key = val for ttl_s seconds */
	STORE_OP_EXPIRE,  /* the TTL of key, when it exists (absent: not an error) */
	STORE_OP_CONSUME, /* deletes key; when it is absent the batch does nothing */
	STORE_OP_REQUIRE, /* key must exist; when it is absent the batch does nothing */
	/* Appends val to key's value (an absent key starts empty), then keeps
	 * only the last max bytes of it (max >= len: callers append entries of
	 * one width and take max a multiple of it, so whole entries drop, the
	 * oldest first). The TTL becomes ttl_s unless it was longer: a list of
	 * records lives as long as the longest-lived one it names. With to set
	 * (a key prefix), each entry dropped names a record, to followed by the
	 * entry's first word, which is deleted with it: a bounded index of
	 * grants ends the grant it forgets, rather than letting it outlive its
	 * index. Such an APPEND deletes (see batch). */
	STORE_OP_APPEND,
	STORE_OP_DEL,     /* deletes key; absent is not an error */
	/* Deletes key and, for each space-separated word of its value, the
	 * record named val (a key prefix, len bytes) followed by that word;
	 * absent: not an error. The list is read and its records deleted in
	 * the batch: one appended meanwhile is not missed. */
	STORE_OP_DEL_LISTED,
	/* Reads and deletes key before anything else (a batch has at most one
	 * TAKE or CONSUME): when it is absent nothing is done and the answer is
	 * IDP_ENOTFOUND. Its value is the caller's (store_batch_take), also when
	 * a REQUIRE or a MOVE then stops the batch. */
	STORE_OP_TAKE,
	/* Moves key's value, with val before it, to the key named by to for
	 * ttl_s seconds (key is deleted). Done after the REQUIREs and before the
	 * other writes: when key is absent, the batch stops there (IDP_ENOTFOUND;
	 * a TAKE stays done). A value that would outgrow STORE_VAL_MAX with val
	 * before it is deleted and the batch stops (IDP_ETOOBIG). */
	STORE_OP_MOVE,
	/* Counts by (one when by is 0) on key (a decimal counter, as incr;
	 * created with ttl_s, whose life an increment never extends). */
	STORE_OP_INCR,
};

struct store_op {
	enum store_op_kind kind;
	const char *key;
	const void *val;
	size_t len;
	unsigned ttl_s;
	size_t max;       /* STORE_OP_APPEND: the longest value kept, in bytes */
	const char *to;   /* STORE_OP_MOVE: where the value goes; STORE_OP_APPEND: see there */
	unsigned by;      /* STORE_OP_INCR: the amount, 0 for one */
	/* In a batch with a TAKE (not the TAKE itself): key is followed by bytes
	 * taken_off to taken_off + taken_len of the taken value (when taken_len
	 * > 0), so that one round trip reaches a record the taken one names. A
	 * taken value too short for it, or whose bytes there are not printable
	 * ASCII (as keys are), stops the batch (IDP_ENOTFOUND). */
	size_t taken_off, taken_len;
};

struct store_ops {
	const char *name;
	/* conf: the "store" object of the configuration (driver-specific keys). */
	int (*open)(const json_t *conf, void **st);
	void (*close)(void *st);
	/* Sets key to val for ttl_s seconds (ttl_s >= 1), replacing any value. */
	int (*put)(void *st, const char *key, const void *val, size_t len, unsigned ttl_s);
	/* Sets key only if absent: IDP_EEXIST when it is present. */
	int (*add)(void *st, const char *key, const void *val, size_t len, unsigned ttl_s);
	/* Reads key (store_get), or with take reads and deletes it atomically
	 * (store_take: of two concurrent takes, exactly one gets the value).
	 * *val is malloc'ed, NUL-terminated, the caller's. IDP_ENOTFOUND when
	 * absent or expired. */
	int (*fetch)(void *st, const char *key, char **val, size_t *len, bool take);
	/* IDP_OK whether or not the key existed. */
	int (*del)(void *st, const char *key);
	/* Increments n integer counters (1 <= n <= STORE_BATCH_MAX) in one round
	 * trip, each atomically (not the n together): keys[i] is created at 1
	 * with ttls[i] when absent (the TTL is not extended by later
	 * increments); out[i] gets its new value. On an error, counters before
	 * the failing one may have counted. */
	int (*incr)(void *st, const char *const *keys, const unsigned *ttls, size_t n, long long *out);
	/* Gives back one increment of n counters (1 <= n <= STORE_BATCH_MAX) in
	 * one round trip: decrements each existing one, never below zero, its
	 * TTL unchanged; an absent or expired key stays absent (a give-back
	 * never opens a window). */
	int (*decr)(void *st, const char *const *keys, size_t n);
	/* Counts one against counter (as incr: created at 1 with counter_ttl_s
	 * when absent), then sets key to val for ttl_s only when the count is at
	 * most limit (IDP_ELIMIT otherwise, nothing set), in one round trip:
	 * a rate-limited write costs what the write costs. *count gets the
	 * count (0 on an error). */
	int (*put_counted)(void *st, const char *counter, unsigned counter_ttl_s, long long limit,
			   const char *key, const void *val, size_t len, unsigned ttl_s, long long *count);
	/* Changes the TTL of an existing key: IDP_ENOTFOUND when absent. */
	int (*expire)(void *st, const char *key, unsigned ttl_s);
	/* Gets n keys (n <= STORE_BATCH_MAX) in one round trip: vals[i] is
	 * malloc'ed and the caller's, or NULL when keys[i] is absent. */
	int (*mget)(void *st, const char *const *keys, size_t n, char **vals, size_t *lens);
	/* Runs n ops (n <= STORE_BATCH_MAX, at most one CONSUME or TAKE) in one
	 * round trip. A TAKE goes first (see above). The REQUIREs are checked
	 * next, then the CONSUME is done, then the MOVEs: when
	 * one of their keys is absent nothing else is done and the answer is
	 * IDP_ENOTFOUND; of two batches consuming one key, exactly one goes on.
	 * Then the other ops, in order. A batch that deletes (DEL, DEL_LISTED,
	 * an APPEND with to) and one that requires never interleave: the second either ran before
	 * the first or finds its required key gone.
	 * With a TAKE, *taken gets its value (malloc'ed, NUL-terminated, the
	 * caller's; NULL when the key was absent); taken may be NULL otherwise.
	 */
	int (*batch)(void *st, const struct store_op *ops, size_t n, char **taken, size_t *tlen);
	/* Number of live records (for metrics and tests); may be approximate. */
	long long (*count)(void *st);
	/* Whether the store answers now, at the cost of one bounded round trip
	 * that touches no data (Redis: PING): IDP_OK, else IDP_ESTORE. For
	 * /healthz, which a load balancer calls every few seconds per node. */
	int (*ping)(void *st);
	/* One line on the store's role for idpctl status (redis: ROLE, the
	 * primary and its replicas or the replica and its primary). *text is
	 * malloc'ed, the caller's. */
	int (*role)(void *st, char **text);
};

extern const struct store_ops store_memory;
extern const struct store_ops store_redis;
/* Checks the redis driver's settings (conf: the "store" object) without
 * connecting: configuration load (and idp --check) reports them. */
int store_redis_check(const json_t *conf);

/* A store handle: the driver and its instance. */
struct store {
	const struct store_ops *ops;
	void *st;
};

/* Checks the settings of the driver conf names, without connecting (the
 * configuration's load does not know the drivers: rt_build asks, so that
 * idp --check and a reload report them). */
int store_check(const json_t *conf);
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
	return s->ops->fetch(s->st, k, v, n, false);
}
static inline int store_take(struct store *s, const char *k, char **v, size_t *n)
{
	return s->ops->fetch(s->st, k, v, n, true);
}
static inline int store_del(struct store *s, const char *k)
{
	return s->ops->del(s->st, k);
}
static inline int store_incr(struct store *s, const char *k, unsigned ttl, long long *out)
{
	long long v = 0;
	int rc = s->ops->incr(s->st, &k, &ttl, 1, &v);

	if (out != NULL)
		*out = v;
	return rc;
}
static inline int store_incr_n(struct store *s, const char *const *k, const unsigned *ttls, size_t n,
			       long long *out)
{
	return s->ops->incr(s->st, k, ttls, n, out);
}
static inline int store_decr(struct store *s, const char *k)
{
	return s->ops->decr(s->st, &k, 1);
}
static inline int store_decr_n(struct store *s, const char *const *k, size_t n)
{
	return s->ops->decr(s->st, k, n);
}
static inline int store_put_counted(struct store *s, const char *counter, unsigned counter_ttl,
				    long long limit, const char *k, const void *v, size_t n, unsigned ttl,
				    long long *count)
{
	return s->ops->put_counted(s->st, counter, counter_ttl, limit, k, v, n, ttl, count);
}
static inline int store_expire(struct store *s, const char *k, unsigned ttl)
{
	return s->ops->expire(s->st, k, ttl);
}

static inline int store_mget(struct store *s, const char *const *k, size_t n, char **v, size_t *l)
{
	return s->ops->mget(s->st, k, n, v, l);
}
static inline int store_role(struct store *s, char **text)
{
	return s->ops->role(s->st, text);
}
static inline int store_batch(struct store *s, const struct store_op *ops, size_t n)
{
	return s->ops->batch(s->st, ops, n, NULL, NULL);
}
static inline int store_batch_take(struct store *s, const struct store_op *ops, size_t n, char **taken,
				   size_t *tlen)
{
	return s->ops->batch(s->st, ops, n, taken, tlen);
}

/* JSON helpers: put a json_t (serialised compactly), get one back (parsed).
 * Both sides bound what jansson recurses over (json_bounded.h): a record nested
 * deeper than JSON_STORED_DEPTH or longer than STORE_JSON_MAX is neither
 * written (IDP_ETOOBIG) nor parsed (IDP_EINVAL, as for a record not JSON),
 * so a store someone else can write to cannot overflow a fiber's stack. A
 * session with its claims is a few KB. */
#define STORE_JSON_MAX (1024 * 1024)
int store_put_json(struct store *s, const char *key, const json_t *v, unsigned ttl);
int store_get_json(struct store *s, const char *key, json_t **out);
int store_take_json(struct store *s, const char *key, json_t **out);
/* The text a PUT op of a batch stores for v (compact JSON): malloc'ed, the
 * caller's; wipe it after use (records hold secrets). NULL on failure. */
char *store_json_text(const json_t *v, size_t *len);
/* Parses a record's text (from store_mget), then wipes and frees it. */
int store_parse_json(const char *key, char *text, size_t len, json_t **out);

#endif
