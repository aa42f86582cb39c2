/* SPDX-License-Identifier: EUPL-1.2 */
/* The embedded store driver: a hash table split into shards, each behind its
 * own mutex so that threads working on different keys rarely meet. A record is
 * one allocation (header, key and value together), about 30 bytes of overhead
 * plus the bucket pointer, so 100,000 sessions of 300 bytes stay near 40 MB.
 * Records expire lazily when met, and every write sweeps a few buckets of its
 * shard so that records nobody asks for again do not pile up. */
#include "store.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "util.h"

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)
#define SLOTS_MIN 64u              /* buckets per shard at start, power of two */
#define SWEEP_SLOTS 1u             /* buckets visited by each write (each record on
                                    * the way is a cache miss: one is enough, dead
                                    * records linger one pass of the table at most) */
#define MAX_RECORDS_DEFAULT 5000000LL
#define MAX_RECORDS_LIMIT 1000000000LL
#define FULL_SWEEP_MS 1000         /* at the limit, at most one full sweep a second */

struct rec {
	struct rec *next;
	int64_t expires;           /* CLOCK_MONOTONIC milliseconds */
	uint32_t hash;             /* low half of the key's hash: picks the bucket */
	uint32_t vlen;
	uint16_t klen;
	char data[];               /* key, NUL, value, NUL */
};

/* A bucket: its chain, and a lower bound of the chain's expiry times, so
 * that the sweep of each write passes a bucket with nothing expired without
 * reading its records (each a cache miss: the sweep took 2.4 % of a code
 * exchange). Raised to the exact minimum by the sweep that walks the chain;
 * lowered by every record linked or given a shorter life. */
struct slot {
	struct rec *head;
	int64_t min_exp;
};

struct shard {
	/* One cache line per shard: neighbouring locks must not share one. */
	_Alignas(64) pthread_mutex_t lock;
	struct slot *slots;
	size_t mask;               /* number of buckets - 1 */
	size_t count;              /* records linked here, expired or not */
	size_t cursor;             /* next bucket the sweep visits */
};

struct mstore {
	struct shard shards[SHARDS];
	uint8_t seed[16];          /* SipHash key: bucket choice is not guessable */
	long long max;
	atomic_llong records;      /* linked records in all shards */
	atomic_llong last_full_sweep;
	/* Batches that require a key hold it shared, batches that delete hold it
	 * alone: a token stored on the strength of a live session cannot slip
	 * in between a logout's reading of the session's token list and the
	 * session's deletion. Batches that do neither take no lock. */
	pthread_rwlock_t batch_lock;
	bool batch_lock_made;
};

enum set_mode { SET_PUT, SET_ADD };


static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static void sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

/* SipHash-1-3 with a random key: some keys embed user input (rate-limit
 * counters per login), and a predictable hash would let anyone fill one bucket
 * with thousands of records and turn every lookup into a list walk. */
static uint64_t key_hash(const uint8_t seed[16], const char *key, size_t len)
{
	const uint8_t *in = (const uint8_t *)key;
	uint64_t k0 = le64(seed), k1 = le64(seed + 8), m, b = (uint64_t)len << 56;
	uint64_t v[4] = {0x736f6d6570736575ULL ^ k0, 0x646f72616e646f6dULL ^ k1,
			 0x6c7967656e657261ULL ^ k0, 0x7465646279746573ULL ^ k1};
	size_t i, j;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(in + i);
		v[3] ^= m;
		sipround(v);
		v[0] ^= m;
	}
	for (j = 0; i + j < len; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v[3] ^= b;
	sipround(v);
	v[0] ^= b;
	v[2] ^= 0xff;
	sipround(v);
	sipround(v);
	sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Keys are printable ASCII, 1 to STORE_KEY_MAX bytes (store.h). */
static int key_check(const char *key, size_t *klen)
{
	size_t n, i;

	if (key == NULL)
		return IDP_EINVAL;
	n = strnlen(key, STORE_KEY_MAX + 1);
	if (n > STORE_KEY_MAX)
		return IDP_ETOOBIG;
	if (n == 0)
		return IDP_EINVAL;
	for (i = 0; i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return IDP_EINVAL;
	*klen = n;
	return IDP_OK;
}

static int val_check(const void *val, size_t len, unsigned ttl_s)
{
	if (len > STORE_VAL_MAX)
		return IDP_ETOOBIG;
	if ((val == NULL && len > 0) || ttl_s == 0)
		return IDP_EINVAL;
	return IDP_OK;
}

static size_t rec_size(const struct rec *r)
{
	return offsetof(struct rec, data) + r->klen + 1 + r->vlen + 1;
}

/* A record whose value is a (alen bytes) then b (blen bytes). */
static struct rec *rec_new2(const char *key, size_t klen, uint32_t hash, const void *a,
			    size_t alen, const void *b, size_t blen, int64_t expires)
{
	struct rec *r;

	if ((r = malloc(offsetof(struct rec, data) + klen + 1 + alen + blen + 1)) == NULL)
		return NULL;
	r->next = NULL;
	r->expires = expires;
	r->hash = hash;
	r->klen = (uint16_t)klen;
	r->vlen = (uint32_t)(alen + blen);
	memcpy(r->data, key, klen);
	r->data[klen] = '\0';
	if (alen > 0)
		memcpy(r->data + klen + 1, a, alen);
	if (blen > 0)
		memcpy(r->data + klen + 1 + alen, b, blen);
	r->data[klen + 1 + alen + blen] = '\0';
	return r;
}

static struct rec *rec_new(const char *key, size_t klen, uint32_t hash, const void *val,
			   size_t vlen, int64_t expires)
{
	return rec_new2(key, klen, hash, val, vlen, NULL, 0, expires);
}

/* Values are codes, tokens and sessions, and some keys embed them too: wipe
 * the whole record, not only the value. */
static void rec_free(struct rec *r)
{
	if (r != NULL) {
		OPENSSL_cleanse(r, rec_size(r));
		free(r);
	}
}

static const char *rec_val(const struct rec *r)
{
	return r->data + r->klen + 1;
}

/* A malloc'ed, NUL-terminated copy of the value, for the caller. */
static int rec_copy_val(const struct rec *r, char **val, size_t *len)
{
	char *v;

	if ((v = malloc((size_t)r->vlen + 1)) == NULL)
		return IDP_ENOMEM;
	memcpy(v, rec_val(r), (size_t)r->vlen + 1);
	*val = v;
	if (len != NULL)
		*len = r->vlen;
	return IDP_OK;
}

static struct shard *shard_of(struct mstore *m, uint64_t h)
{
	return &m->shards[h >> (64 - SHARD_BITS)];
}

/* The link that points to key's record (live or expired), or NULL. */
static struct rec **slot_find(struct shard *sh, uint32_t h, const char *key, size_t klen)
{
	struct rec **pp;

	for (pp = &sh->slots[h & sh->mask].head; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == klen && memcmp((*pp)->data, key, klen) == 0)
			return pp;
	return NULL;
}

static void unlink_free(struct mstore *m, struct shard *sh, struct rec **pp)
{
	struct rec *r = *pp;

	*pp = r->next;
	sh->count--;
	atomic_fetch_sub(&m->records, 1);
	rec_free(r);
}

/* The link to key's live record, or NULL; an expired one is freed on the way. */
static struct rec **live_find(struct mstore *m, struct shard *sh, uint32_t h, const char *key,
			      size_t klen, int64_t now)
{
	struct rec **pp = slot_find(sh, h, key, klen);

	if (pp != NULL && (*pp)->expires <= now) {
		unlink_free(m, sh, pp);
		pp = NULL;
	}
	return pp;
}

/* Record r, linked, got the expiry time it now has (shard locked). */
static void slot_note(struct shard *sh, const struct rec *r)
{
	struct slot *b = &sh->slots[r->hash & sh->mask];

	if (r->expires < b->min_exp)
		b->min_exp = r->expires;
}

/* Links r at the head of its bucket (shard locked). */
static void slot_link(struct shard *sh, struct rec *r)
{
	struct slot *b = &sh->slots[r->hash & sh->mask];

	r->next = b->head;
	b->head = r;
	slot_note(sh, r);
}

/* Frees the expired records of the next nslots buckets (shard locked). */
static void sweep(struct mstore *m, struct shard *sh, size_t nslots, int64_t now)
{
	struct rec **pp;
	size_t i;

	for (i = 0; i < nslots; i++) {
		struct slot *b = &sh->slots[sh->cursor++ & sh->mask];
		int64_t min = INT64_MAX;

		if (b->min_exp > now)
			continue; /* nothing in this chain has expired */
		pp = &b->head;
		while (*pp != NULL) {
			if ((*pp)->expires <= now) {
				unlink_free(m, sh, pp);
			} else {
				if ((*pp)->expires < min)
					min = (*pp)->expires;
				pp = &(*pp)->next;
			}
		}
		b->min_exp = min;
	}
}

/* n buckets, empty; NULL when out of memory. */
static struct slot *slots_new(size_t n)
{
	struct slot *slots = malloc(n * sizeof(*slots));

	for (size_t i = 0; slots != NULL && i < n; i++)
		slots[i] = (struct slot){NULL, INT64_MAX};
	return slots;
}

/* Doubles the buckets of a shard past one record per bucket. A failed
 * allocation is not an error: chains just get longer until the next try. */
static void grow(struct mstore *m, struct shard *sh, int64_t now)
{
	struct slot *slots, *old = sh->slots;
	struct rec *r, *next;
	size_t n = sh->mask + 1, i;

	if (sh->count <= n || n > SIZE_MAX / 2 / sizeof(*slots))
		return;
	if ((slots = slots_new(n * 2)) == NULL)
		return;
	sh->slots = slots;
	sh->mask = n * 2 - 1;
	for (i = 0; i < n; i++) {
		for (r = old[i].head; r != NULL; r = next) {
			next = r->next;
			if (r->expires <= now) {
				/* Every record is visited anyway: drop the dead. */
				sh->count--;
				atomic_fetch_sub(&m->records, 1);
				rec_free(r);
				continue;
			}
			slot_link(sh, r);
		}
	}
	free(old);
}

/* Counts one more record against max_records; false at the limit. */
static bool reserve(struct mstore *m)
{
	if (atomic_fetch_add(&m->records, 1) < m->max)
		return true;
	atomic_fetch_sub(&m->records, 1);
	return false;
}

/* At the limit, expired records not yet swept still count: sweep every shard,
 * at most once a second so that a flood of writes at the limit cannot turn each
 * of them into a full scan. Must be called with no shard locked. True if it
 * swept, so that the caller tries once more. */
static bool full_sweep(struct mstore *m)
{
	int64_t now = mono_ms();
	long long last = atomic_load(&m->last_full_sweep);
	unsigned i;

	if (now - last < FULL_SWEEP_MS ||
	    !atomic_compare_exchange_strong(&m->last_full_sweep, &last, now))
		return false;
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &m->shards[i];

		pthread_mutex_lock(&sh->lock);
		sweep(m, sh, sh->mask + 1, now);
		pthread_mutex_unlock(&sh->lock);
	}
	return true;
}

/* Links *nr under its key (shard locked). On IDP_OK the record is the
 * table's and *nr is NULL; otherwise it stays the caller's. */
static int set_locked(struct mstore *m, struct shard *sh, struct rec **nr, enum set_mode mode,
		      int64_t now)
{
	struct rec *r = *nr, **pp, *old;

	sweep(m, sh, SWEEP_SLOTS, now);
	pp = live_find(m, sh, r->hash, r->data, r->klen, now);
	if (pp != NULL) {
		if (mode == SET_ADD)
			return IDP_EEXIST;
		old = *pp;
		r->next = old->next;
		*pp = r;
		slot_note(sh, r);
		rec_free(old);
		*nr = NULL;
		return IDP_OK;
	}
	if (!reserve(m))
		return IDP_ETOOBIG;
	slot_link(sh, r);
	sh->count++;
	*nr = NULL;
	grow(m, sh, now);
	return IDP_OK;
}

/* Links nr, built outside the lock (copying a large value must not stall
 * the shard), under its key in shard sh; the record is the table's on
 * IDP_OK, freed otherwise. */
static int put_rec(struct mstore *m, struct shard *sh, struct rec *nr, unsigned ttl_s, enum set_mode mode)
{
	int rc, tries;

	for (tries = 0;; tries++) {
		int64_t now = mono_ms();

		nr->expires = now + (int64_t)ttl_s * 1000;
		pthread_mutex_lock(&sh->lock);
		rc = set_locked(m, sh, &nr, mode, now);
		pthread_mutex_unlock(&sh->lock);
		if (rc != IDP_ETOOBIG || tries > 0 || !full_sweep(m))
			break;
	}
	rec_free(nr);
	return rc;
}

static int mem_set(void *p, const char *key, const void *val, size_t len, unsigned ttl_s,
		   enum set_mode mode)
{
	struct mstore *m = p;
	struct rec *nr;
	uint64_t h;
	size_t klen;
	int rc;

	if ((rc = key_check(key, &klen)) != IDP_OK || (rc = val_check(val, len, ttl_s)) != IDP_OK)
		return rc;
	h = key_hash(m->seed, key, klen);
	if ((nr = rec_new(key, klen, (uint32_t)h, val, len, 0)) == NULL)
		return IDP_ENOMEM;
	return put_rec(m, shard_of(m, h), nr, ttl_s, mode);
}

static int mem_put(void *p, const char *key, const void *val, size_t len, unsigned ttl_s)
{
	return mem_set(p, key, val, len, ttl_s, SET_PUT);
}

static int mem_add(void *p, const char *key, const void *val, size_t len, unsigned ttl_s)
{
	return mem_set(p, key, val, len, ttl_s, SET_ADD);
}

enum fetch_mode { FETCH_COPY, FETCH_TAKE, FETCH_EXISTS };

/* Key's live record: copied into *val (FETCH_COPY), unlinked and handed
 * to *taken (FETCH_TAKE: of concurrent takers, one finds it), or only
 * looked for (FETCH_EXISTS). */
static int fetch_rec(struct mstore *m, const char *key, enum fetch_mode mode, char **val, size_t *len,
		     struct rec **taken)
{
	struct shard *sh;
	struct rec **pp;
	uint64_t h;
	size_t klen;
	int rc = IDP_OK;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	h = key_hash(m->seed, key, klen);
	sh = shard_of(m, h);
	pthread_mutex_lock(&sh->lock);
	pp = live_find(m, sh, (uint32_t)h, key, klen, mono_ms());
	if (pp == NULL) {
		rc = IDP_ENOTFOUND;
	} else if (mode == FETCH_TAKE) {
		*taken = *pp;
		*pp = (*taken)->next;
		sh->count--;
		atomic_fetch_sub(&m->records, 1);
	} else if (mode == FETCH_COPY) {
		rc = rec_copy_val(*pp, val, len);
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

static int mem_fetch(void *p, const char *key, char **val, size_t *len, bool take)
{
	struct rec *r = NULL;
	int rc;

	*val = NULL;
	if (len != NULL)
		*len = 0;
	rc = fetch_rec(p, key, take ? FETCH_TAKE : FETCH_COPY, val, len, &r);
	if (r != NULL) {
		/* Should the copy fail, the record is gone all the same: for a
		 * one-time code, lost beats usable twice. */
		rc = rec_copy_val(r, val, len);
		rec_free(r);
	}
	return rc;
}

static int mem_del(void *p, const char *key)
{
	struct mstore *m = p;
	struct shard *sh;
	struct rec **pp;
	uint64_t h;
	size_t klen;
	int rc;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	h = key_hash(m->seed, key, klen);
	sh = shard_of(m, h);
	pthread_mutex_lock(&sh->lock);
	if ((pp = slot_find(sh, (uint32_t)h, key, klen)) != NULL)
		unlink_free(m, sh, pp);
	pthread_mutex_unlock(&sh->lock);
	return IDP_OK;
}

/* Counters are stored as decimal text, as Redis does, so that get reads them. */
static int incr_locked(struct mstore *m, struct shard *sh, uint32_t h, const char *key,
		       size_t klen, unsigned ttl_s, long long by, int64_t now, long long *out)
{
	struct rec **pp, *r, *old;
	char num[24];
	long long v;
	int n;

	sweep(m, sh, SWEEP_SLOTS, now);
	pp = live_find(m, sh, h, key, klen, now);
	if (pp == NULL) {
		if (!reserve(m))
			return IDP_ETOOBIG;
		n = snprintf(num, sizeof(num), "%lld", by);
		if ((r = rec_new(key, klen, h, num, (size_t)n, now + (int64_t)ttl_s * 1000)) == NULL) {
			atomic_fetch_sub(&m->records, 1);
			return IDP_ENOMEM;
		}
		slot_link(sh, r);
		sh->count++;
		grow(m, sh, now);
		*out = by;
		return IDP_OK;
	}
	old = *pp;
	/* The length check first: parse_ll() would stop at a NUL inside the value. */
	if (old->vlen > 20 || strlen(rec_val(old)) != old->vlen ||
	    !parse_ll(rec_val(old), LLONG_MIN, LLONG_MAX, &v))
		return IDP_EINVAL;
	if (v > LLONG_MAX - by)
		return IDP_ETOOBIG;
	n = snprintf(num, sizeof(num), "%lld", v + by);
	if ((uint32_t)n == old->vlen) {
		/* Same width: rewrite the digits in place, no allocation. */
		memcpy(old->data + old->klen + 1, num, (size_t)n);
	} else {
		/* The expiry is copied: increments never extend a counter's life. */
		if ((r = rec_new(key, klen, h, num, (size_t)n, old->expires)) == NULL)
			return IDP_ENOMEM;
		r->next = old->next;
		*pp = r;
		rec_free(old);
	}
	*out = v + 1;
	return IDP_OK;
}

static int mem_incr1(void *p, const char *key, unsigned ttl_s, long long by, long long *out)
{
	struct mstore *m = p;
	struct shard *sh;
	uint64_t h;
	size_t klen;
	long long v = 0;
	int rc, tries;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		goto out;
	if (ttl_s == 0) {
		rc = IDP_EINVAL;
		goto out;
	}
	h = key_hash(m->seed, key, klen);
	sh = shard_of(m, h);
	for (tries = 0;; tries++) {
		pthread_mutex_lock(&sh->lock);
		rc = incr_locked(m, sh, (uint32_t)h, key, klen, ttl_s, by, mono_ms(), &v);
		pthread_mutex_unlock(&sh->lock);
		if (rc != IDP_ETOOBIG || tries > 0 || !full_sweep(m))
			break;
	}
out:
	if (out != NULL)
		*out = rc == IDP_OK ? v : 0;
	return rc;
}

static int mem_incr(void *p, const char *const *keys, const unsigned *ttls, size_t n, long long *out)
{
	int rc = n >= 1 && n <= STORE_BATCH_MAX ? IDP_OK : IDP_EINVAL;

	for (size_t i = 0; i < n; i++)
		out[i] = 0;
	for (size_t i = 0; rc == IDP_OK && i < n; i++)
		rc = mem_incr1(p, keys[i], ttls[i], 1, &out[i]);
	return rc;
}

/* Two steps, each atomic: the count decides, so at most limit writes go
 * through per window however many arrive at once. */
static int mem_put_counted(void *p, const char *counter, unsigned counter_ttl_s, long long limit,
			   const char *key, const void *val, size_t len, unsigned ttl_s, long long *count)
{
	size_t klen;
	int rc;

	*count = 0;
	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	if (ttl_s == 0 || len > STORE_VAL_MAX)
		return ttl_s == 0 ? IDP_EINVAL : IDP_ETOOBIG;
	if ((rc = mem_incr1(p, counter, counter_ttl_s, 1, count)) != IDP_OK)
		return rc;
	if (*count > limit)
		return IDP_ELIMIT;
	return mem_put(p, key, val, len, ttl_s);
}

static int mem_decr1(void *p, const char *key)
{
	struct mstore *m = p;
	struct shard *sh;
	struct rec **pp, *old;
	uint64_t h;
	size_t klen;
	long long v;
	int rc;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	h = key_hash(m->seed, key, klen);
	sh = shard_of(m, h);
	pthread_mutex_lock(&sh->lock);
	pp = live_find(m, sh, (uint32_t)h, key, klen, mono_ms());
	if (pp != NULL) {
		old = *pp;
		if (old->vlen > 20 || strlen(rec_val(old)) != old->vlen ||
		    !parse_ll(rec_val(old), LLONG_MIN, LLONG_MAX, &v)) {
			rc = IDP_EINVAL;
		} else if (v > 0) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%lld", v - 1);

			if ((uint32_t)n == old->vlen) {
				memcpy(old->data + old->klen + 1, num, (size_t)n);
			} else {
				struct rec *r = rec_new(key, klen, (uint32_t)h, num, (size_t)n, old->expires);

				if (r == NULL) {
					rc = IDP_ENOMEM;
				} else {
					r->next = old->next;
					*pp = r;
					rec_free(old);
				}
			}
		}
	}
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

static int mem_decr(void *p, const char *const *keys, size_t n)
{
	int rc = n >= 1 && n <= STORE_BATCH_MAX ? IDP_OK : IDP_EINVAL;

	for (size_t i = 0; rc == IDP_OK && i < n; i++)
		rc = mem_decr1(p, keys[i]);
	return rc;
}

static int mem_expire(void *p, const char *key, unsigned ttl_s)
{
	struct mstore *m = p;
	struct shard *sh;
	struct rec **pp;
	int64_t now;
	uint64_t h;
	size_t klen;
	int rc;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	if (ttl_s == 0)
		return IDP_EINVAL;
	h = key_hash(m->seed, key, klen);
	sh = shard_of(m, h);
	pthread_mutex_lock(&sh->lock);
	now = mono_ms();
	if ((pp = live_find(m, sh, (uint32_t)h, key, klen, now)) != NULL) {
		(*pp)->expires = now + (int64_t)ttl_s * 1000;
		slot_note(sh, *pp);
	} else
		rc = IDP_ENOTFOUND;
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

/* STORE_OP_APPEND (shard locked): the new record, old value and val with
 * only the last max bytes kept, and the longer of the two lifetimes. With
 * dropped, *dropped gets the bytes that fell off the front (malloc'ed, NUL
 * terminated; NULL when none did), for the caller to delete what they name
 * once the shard is unlocked. */
static int append_locked(struct mstore *m, struct shard *sh, uint32_t h, const char *key,
			 size_t klen, const void *val, size_t len, unsigned ttl_s, size_t max,
			 int64_t now, char **dropped)
{
	struct rec **pp = live_find(m, sh, h, key, klen, now), *nr;
	size_t olen = pp != NULL ? (*pp)->vlen : 0, keep = olen + len < max ? olen + len : max;
	size_t from_old = keep > len ? keep - len : 0;
	int64_t expires = now + (int64_t)ttl_s * 1000;
	int rc;

	if (pp != NULL && (*pp)->expires > expires)
		expires = (*pp)->expires;
	nr = rec_new2(key, klen, h, from_old > 0 ? rec_val(*pp) + olen - from_old : NULL, from_old,
		      (const char *)val + len - (keep - from_old), keep - from_old, expires);
	if (nr == NULL)
		return IDP_ENOMEM;
	/* max >= len: what drops is the front of the old value. */
	if (dropped != NULL && olen > from_old) {
		if ((*dropped = malloc(olen - from_old + 1)) == NULL) {
			rec_free(nr);
			return IDP_ENOMEM;
		}
		memcpy(*dropped, rec_val(*pp), olen - from_old);
		(*dropped)[olen - from_old] = '\0';
	}
	rc = set_locked(m, sh, &nr, SET_PUT, now);
	rec_free(nr);
	return rc;
}

static void val_free(char *v, size_t len);

static int mem_append(void *p, const struct store_op *op)
{
	struct mstore *m = p;
	struct shard *sh;
	uint64_t h;
	size_t klen;
	char *dropped = NULL;
	int rc, tries;

	if ((rc = key_check(op->key, &klen)) != IDP_OK)
		return rc;
	h = key_hash(m->seed, op->key, klen);
	sh = shard_of(m, h);
	for (tries = 0;; tries++) {
		val_free(dropped, dropped != NULL ? strlen(dropped) : 0);
		dropped = NULL;
		pthread_mutex_lock(&sh->lock);
		rc = append_locked(m, sh, (uint32_t)h, op->key, klen, op->val, op->len, op->ttl_s,
				   op->max, mono_ms(), op->to != NULL ? &dropped : NULL);
		pthread_mutex_unlock(&sh->lock);
		if (rc != IDP_ETOOBIG || tries > 0 || !full_sweep(m))
			break;
	}
	/* The records the dropped entries name (store.h), each by its first word. */
	if (rc == IDP_OK && dropped != NULL) {
		size_t plen = strlen(op->to), wlen;
		char rkey[STORE_KEY_MAX + 1];

		for (const char *w = dropped; *w; w += wlen) {
			w += strspn(w, " ");
			wlen = strcspn(w, " ");
			if (wlen == 0 || plen + wlen > STORE_KEY_MAX)
				continue;
			memcpy(rkey, op->to, plen);
			memcpy(rkey + plen, w, wlen);
			rkey[plen + wlen] = '\0';
			if (key_check(rkey, &klen) == IDP_OK)
				mem_del(p, rkey);
		}
	}
	val_free(dropped, dropped != NULL ? strlen(dropped) : 0);
	return rc;
}

/* Includes expired records that no access or sweep has met yet. */
static void val_free(char *v, size_t len)
{
	if (v != NULL) {
		wipe(v, len);
		free(v);
	}
}

/* Checks every op before the first write: a batch refused for a bad op
 * has changed nothing. */
static int batch_check(const struct store_op *ops, size_t n)
{
	size_t i, klen, consumes = 0, takes = 0;
	int rc;

	if (n == 0 || n > STORE_BATCH_MAX)
		return IDP_EINVAL;
	for (i = 0; i < n; i++)
		takes += ops[i].kind == STORE_OP_TAKE;
	for (i = 0; i < n; i++) {
		if ((rc = key_check(ops[i].key, &klen)) != IDP_OK)
			return rc;
		if (ops[i].taken_len > 0 &&
		    (takes == 0 || ops[i].kind == STORE_OP_TAKE || ops[i].taken_len > STORE_KEY_MAX - klen ||
		     ops[i].taken_off > STORE_VAL_MAX))
			return IDP_EINVAL;
		switch (ops[i].kind) {
		case STORE_OP_PUT:
			if ((rc = val_check(ops[i].val, ops[i].len, ops[i].ttl_s)) != IDP_OK)
				return rc;
			break;
		case STORE_OP_INCR:
			if (ops[i].ttl_s == 0 || ops[i].len > 0)
				return IDP_EINVAL;
			break;
		case STORE_OP_EXPIRE:
			if (ops[i].ttl_s == 0)
				return IDP_EINVAL;
			break;
		case STORE_OP_CONSUME:
		case STORE_OP_TAKE:
			consumes++;
			break;
		case STORE_OP_MOVE:
			if (ops[i].ttl_s == 0 || (ops[i].val == NULL && ops[i].len > 0) || ops[i].to == NULL)
				return IDP_EINVAL;
			if ((rc = key_check(ops[i].to, &klen)) != IDP_OK)
				return rc;
			if (ops[i].len > STORE_VAL_MAX)
				return IDP_ETOOBIG;
			break;
		case STORE_OP_APPEND:
			if ((rc = val_check(ops[i].val, ops[i].len, ops[i].ttl_s)) != IDP_OK)
				return rc;
			if (ops[i].len == 0 || ops[i].max < ops[i].len)
				return IDP_EINVAL;
			if (ops[i].max > STORE_VAL_MAX || (ops[i].to != NULL && strlen(ops[i].to) > STORE_KEY_MAX))
				return IDP_ETOOBIG;
			break;
		case STORE_OP_DEL_LISTED:
			if (ops[i].len > STORE_KEY_MAX)
				return IDP_ETOOBIG;
			if (ops[i].val == NULL && ops[i].len > 0)
				return IDP_EINVAL;
			break;
		case STORE_OP_REQUIRE:
		case STORE_OP_DEL:
			break;
		default:
			return IDP_EINVAL;
		}
	}
	return consumes <= 1 ? IDP_OK : IDP_EINVAL;
}

/* STORE_OP_DEL_LISTED: the list goes first (take), then what it names. */
static int mem_del_listed(void *p, const struct store_op *op)
{
	char *list, *w, *end, key[STORE_KEY_MAX + 1];
	size_t len, wlen, klen;
	int rc;

	if ((rc = mem_fetch(p, op->key, &list, &len, true)) != IDP_OK)
		return rc == IDP_ENOTFOUND ? IDP_OK : rc;
	for (w = list, end = list + len; w < end; w += wlen + 1) {
		wlen = strcspn(w, " "); /* list[len] is a NUL: stops at the end too */
		if (wlen == 0 || op->len + wlen > STORE_KEY_MAX)
			continue; /* names no record we could have stored */
		if (op->len > 0)
			memcpy(key, op->val, op->len);
		memcpy(key + op->len, w, wlen);
		key[op->len + wlen] = '\0';
		if (key_check(key, &klen) == IDP_OK)
			mem_del(p, key);
	}
	val_free(list, len);
	wipe(key, sizeof(key));
	return IDP_OK;
}

/* STORE_OP_MOVE: key's value, after val, to op->to; IDP_ENOTFOUND when key is
 * absent. The old key goes first (take): of two moves, one finds it. */
static int mem_move(void *p, const struct store_op *op)
{
	struct mstore *m = p;
	struct rec *r = NULL, *nr = NULL;
	uint64_t h;
	size_t klen;
	int rc;

	if ((rc = key_check(op->to, &klen)) != IDP_OK || (rc = val_check(op->val, op->len, op->ttl_s)) != IDP_OK ||
	    (rc = fetch_rec(m, op->key, FETCH_TAKE, NULL, NULL, &r)) != IDP_OK)
		return rc;
	/* The new record straight from the taken one: no copy in between. */
	h = key_hash(m->seed, op->to, klen);
	if (r->vlen > STORE_VAL_MAX - op->len)
		rc = IDP_ETOOBIG;
	else if ((nr = rec_new2(op->to, klen, (uint32_t)h, op->val, op->len, rec_val(r), r->vlen, 0)) == NULL)
		rc = IDP_ENOMEM;
	rec_free(r);
	return rc == IDP_OK ? put_rec(m, shard_of(m, h), nr, op->ttl_s, SET_PUT) : rc;
}

/* The take goes first, then the requires are read, then the consume goes,
 * through take (of two takers, one finds the key), then the moves; the
 * writes follow. Not isolated as the redis script is: readers may see the
 * consumed key gone before the writes land, and a required key deleted
 * meanwhile by a call outside a batch does not stop them, as between
 * separate calls (batches that delete are kept apart by mem_batch's lock). */
static int batch_run(void *p, const struct store_op *in, size_t n, char **taken, size_t *tlen)
{
	struct store_op ops[STORE_BATCH_MAX];
	char keys[STORE_BATCH_MAX][STORE_KEY_MAX + 1];
	size_t i, len, tl = 0;
	char *v;
	int rc;

	memcpy(ops, in, n * sizeof(*ops));
	for (i = 0; i < n; i++) {
		if (ops[i].kind != STORE_OP_TAKE)
			continue;
		if (taken == NULL)
			return IDP_EINVAL;
		if ((rc = mem_fetch(p, ops[i].key, taken, &tl, true)) != IDP_OK)
			return rc;
		if (tlen != NULL)
			*tlen = tl;
	}
	/* Keys that end with bytes of the taken value (store_op.taken_off). */
	for (i = 0; i < n; i++) {
		size_t kl = strlen(ops[i].key);

		if (ops[i].taken_len == 0)
			continue;
		if (ops[i].taken_off > tl || ops[i].taken_len > tl - ops[i].taken_off)
			return IDP_ENOTFOUND;
		/* Printable bytes only, as in every key (a NUL would cut it short):
		 * anything else names no record, as in the redis driver. */
		for (size_t j = 0; j < ops[i].taken_len; j++) {
			unsigned char c = (unsigned char)(*taken)[ops[i].taken_off + j];

			if (c < 0x20 || c > 0x7e)
				return IDP_ENOTFOUND;
		}
		memcpy(keys[i], ops[i].key, kl);
		memcpy(keys[i] + kl, *taken + ops[i].taken_off, ops[i].taken_len);
		keys[i][kl + ops[i].taken_len] = '\0';
		if ((rc = key_check(keys[i], &len)) != IDP_OK)
			return IDP_ENOTFOUND; /* names no record we could have stored */
		ops[i].key = keys[i];
	}
	for (i = 0; i < n; i++) {
		if (ops[i].kind != STORE_OP_REQUIRE)
			continue;
		if ((rc = fetch_rec(p, ops[i].key, FETCH_EXISTS, NULL, NULL, NULL)) != IDP_OK)
			return rc;
	}
	for (i = 0; i < n; i++) {
		if (ops[i].kind != STORE_OP_CONSUME)
			continue;
		if ((rc = mem_fetch(p, ops[i].key, &v, &len, true)) != IDP_OK)
			return rc;
		val_free(v, len);
	}
	for (i = 0; i < n; i++)
		if (ops[i].kind == STORE_OP_MOVE && (rc = mem_move(p, &ops[i])) != IDP_OK)
			return rc;
	for (i = 0; i < n; i++) {
		switch (ops[i].kind) {
		case STORE_OP_PUT:
			rc = mem_put(p, ops[i].key, ops[i].val, ops[i].len, ops[i].ttl_s);
			break;
		case STORE_OP_EXPIRE:
			if ((rc = mem_expire(p, ops[i].key, ops[i].ttl_s)) == IDP_ENOTFOUND)
				rc = IDP_OK;
			break;
		case STORE_OP_APPEND:
			rc = mem_append(p, &ops[i]);
			break;
		case STORE_OP_DEL:
			rc = mem_del(p, ops[i].key);
			break;
		case STORE_OP_INCR: {
			long long n_now;

			rc = mem_incr1(p, ops[i].key, ops[i].ttl_s, ops[i].by > 0 ? ops[i].by : 1, &n_now);
			break;
		}
		case STORE_OP_DEL_LISTED:
			rc = mem_del_listed(p, &ops[i]);
			break;
		default:
			continue;
		}
		if (rc != IDP_OK)
			return rc;
	}
	return IDP_OK;
}

/* The lock a batch holds (struct mstore's batch_lock): alone when it deletes,
 * shared when it requires, none otherwise. */
static int mem_batch(void *p, const struct store_op *ops, size_t n, char **taken, size_t *tlen)
{
	struct mstore *m = p;
	bool del = false, req = false;
	size_t i;
	int rc;

	if (taken != NULL) {
		*taken = NULL;
		if (tlen != NULL)
			*tlen = 0;
	}
	if ((rc = batch_check(ops, n)) != IDP_OK)
		return rc;
	for (i = 0; i < n; i++) {
		del |= ops[i].kind == STORE_OP_DEL || ops[i].kind == STORE_OP_DEL_LISTED ||
		       (ops[i].kind == STORE_OP_APPEND && ops[i].to != NULL);
		req |= ops[i].kind == STORE_OP_REQUIRE || ops[i].kind == STORE_OP_TAKE;
	}
	if (del)
		pthread_rwlock_wrlock(&m->batch_lock);
	else if (req)
		pthread_rwlock_rdlock(&m->batch_lock);
	rc = batch_run(p, ops, n, taken, tlen);
	if (del || req)
		pthread_rwlock_unlock(&m->batch_lock);
	return rc;
}

static int mem_mget(void *p, const char *const *keys, size_t n, char **vals, size_t *lens)
{
	size_t i;
	int rc = IDP_OK;

	for (i = 0; i < n; i++) {
		vals[i] = NULL;
		lens[i] = 0;
	}
	if (n == 0 || n > STORE_BATCH_MAX)
		return IDP_EINVAL;
	for (i = 0; i < n && rc == IDP_OK; i++)
		if ((rc = mem_fetch(p, keys[i], &vals[i], &lens[i], false)) == IDP_ENOTFOUND)
			rc = IDP_OK;
	if (rc != IDP_OK)
		for (i = 0; i < n; i++) {
			val_free(vals[i], lens[i]);
			vals[i] = NULL;
		}
	return rc;
}

static long long mem_count(void *p)
{
	struct mstore *m = p;

	return atomic_load(&m->records);
}

/* In the process: it answers while the process does. */
static int mem_ping(void *p)
{
	(void)p;
	return IDP_OK;
}

static void mem_close(void *p)
{
	struct mstore *m = p;
	struct rec *r, *next;
	unsigned i;
	size_t j;

	if (m == NULL)
		return;
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &m->shards[i];

		if (sh->slots == NULL)
			continue;
		for (j = 0; j <= sh->mask; j++) {
			for (r = sh->slots[j].head; r != NULL; r = next) {
				next = r->next;
				rec_free(r);
			}
		}
		free(sh->slots);
		pthread_mutex_destroy(&sh->lock);
	}
	if (m->batch_lock_made)
		pthread_rwlock_destroy(&m->batch_lock);
	OPENSSL_cleanse(m->seed, sizeof(m->seed));
	free(m);
}

static int conf_read(const json_t *conf, long long *max)
{
	const char *k;
	json_t *v;

	*max = MAX_RECORDS_DEFAULT;
	if (conf == NULL)
		return IDP_OK;
	/* Unknown keys are refused: a misspelt limit must not silently fall back
	 * to its default. */
	json_object_foreach((json_t *)conf, k, v) {
		if (strcmp(k, "driver") == 0)
			continue;
		if (strcmp(k, "max_records") != 0)
			return log_fail(IDP_EINVAL, "store_memory: unknown setting \"%.64s\" in \"store\"", k);
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > MAX_RECORDS_LIMIT)
			return log_fail(IDP_EINVAL, "store_memory: \"max_records\" must be an integer from 1 to %lld",
					MAX_RECORDS_LIMIT);
		*max = json_integer_value(v);
	}
	return IDP_OK;
}

static int mem_open(const json_t *conf, void **st)
{
	struct mstore *m = NULL;
	pthread_rwlockattr_t attr;
	long long max;
	unsigned i;
	int rc;

	*st = NULL;
	if ((rc = conf_read(conf, &max)) != IDP_OK)
		goto out;
	/* aligned_alloc: calloc would not honour the shards' cache-line alignment. */
	if ((m = aligned_alloc(_Alignof(struct mstore), sizeof(*m))) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	memset(m, 0, sizeof(*m));
	m->max = max;
	atomic_init(&m->records, 0);
	atomic_init(&m->last_full_sweep, mono_ms() - FULL_SWEEP_MS);
	if (RAND_bytes(m->seed, sizeof(m->seed)) != 1) {
		rc = log_fail(IDP_EIO, "store_memory: RAND_bytes failed");
		goto out;
	}
	/* Writers first: a logout must not wait behind a stream of token
	 * exchanges (glibc's default lets readers overtake a waiting writer). */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	rc = pthread_rwlock_init(&m->batch_lock, &attr) == 0 ? IDP_OK : IDP_ENOMEM;
	pthread_rwlockattr_destroy(&attr);
	if (rc != IDP_OK)
		goto out;
	m->batch_lock_made = true;
	for (i = 0; i < SHARDS; i++) {
		struct shard *sh = &m->shards[i];

		if ((sh->slots = slots_new(SLOTS_MIN)) == NULL) {
			rc = IDP_ENOMEM;
			goto out;
		}
		sh->mask = SLOTS_MIN - 1;
		pthread_mutex_init(&sh->lock, NULL);
	}
	*st = m;
	m = NULL;
	idp_log(LOG_DEBUG, "store_memory: open, max_records %lld", max);
out:
	mem_close(m);
	return rc;
}

static int mem_role(void *p, char **text)
{
	(void)p;
	*text = strdup("memory: inside one daemon's process, seen by no other node nor by idpctl");
	return *text != NULL ? IDP_OK : IDP_ENOMEM;
}

const struct store_ops store_memory = {
	.name = "memory",
	.open = mem_open,
	.close = mem_close,
	.put = mem_put,
	.add = mem_add,
	.fetch = mem_fetch,
	.del = mem_del,
	.incr = mem_incr,
	.put_counted = mem_put_counted,
	.decr = mem_decr,
	.expire = mem_expire,
	.mget = mem_mget,
	.batch = mem_batch,
	.count = mem_count,
	.ping = mem_ping,
	.role = mem_role,
};
