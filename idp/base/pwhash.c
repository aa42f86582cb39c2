/* SPDX-License-Identifier: EUPL-1.2 */
/* argon2id verification with libargon2, faster than its argon2id_verify.
 *
 * libargon2 asks for the hash's memory (64 MiB at RFC 9106's second
 * recommended parameters) on every call and gives it back at the end: each
 * login mapped, faulted in page by page and unmapped 16,384 pages, a fifth of
 * the hash's time in the kernel on the bench machine. Here the memory comes
 * from buffers kept between hashes, advised for huge pages (32 faults the
 * first time, none after). libargon2 wipes the memory before it hands it
 * back (its clear_internal_memory, on by default), so a kept buffer holds
 * zeros; it is also marked MADV_FREE, so the kernel may take it back if it
 * needs the memory (it then reads as zeros again). A buffer idle for a
 * minute, or beyond the most kept, is unmapped.
 *
 * libargon2 does not export its decoder of the encoded form, so the
 * canonical form ("$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", which libargon2
 * and idpctl write) is read here; anything else goes to argon2id_verify
 * itself, so the answers are libargon2's for every input. */
#include "pwhash.h"
#include "util.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <argon2.h>
#include <openssl/crypto.h>

#define KEEP_MAX 16           /* idle buffers kept at most */
#define KEEP_IDLE_MS 60000    /* an idle buffer is unmapped after this */
#define SALT_MAX 64
#define OUT_MAX 64

struct mem {
	uint8_t *p;
	size_t len;
	int64_t idle_since; /* mono_ms() */
	struct mem *next;
};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem *idle_list; /* most recently used first */
static struct mem *busy_list;

static void unmap_list(struct mem *m)
{
	while (m != NULL) {
		struct mem *next = m->next;

		munmap(m->p, m->len);
		free(m);
		m = next;
	}
}

/* Detaches (under mem_lock) the idle buffers past KEEP_MAX or idle too
 * long; the caller unmaps them outside the lock. */
static struct mem *take_stale(int64_t now)
{
	struct mem **pp = &idle_list, *stale = NULL;
	size_t n = 0;

	while (*pp != NULL) {
		struct mem *m = *pp;

		if (n >= KEEP_MAX || now - m->idle_since > KEEP_IDLE_MS) {
			*pp = m->next;
			m->next = stale;
			stale = m;
			continue;
		}
		n++;
		pp = &m->next;
	}
	return stale;
}

static int mem_get(uint8_t **out, size_t len)
{
	struct mem **pp, *m = NULL, *stale;

	pthread_mutex_lock(&mem_lock);
	for (pp = &idle_list; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->len == len) {
			m = *pp;
			*pp = m->next;
			break;
		}
	}
	if (m != NULL) {
		m->next = busy_list;
		busy_list = m;
	}
	stale = take_stale(mono_ms());
	pthread_mutex_unlock(&mem_lock);
	unmap_list(stale);
	if (m != NULL) {
		*out = m->p;
		return 0;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return -1;
	m->p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m->p == MAP_FAILED) {
		free(m);
		return -1;
	}
	m->len = len;
	(void)madvise(m->p, len, MADV_HUGEPAGE); /* a hint: refused, 4 KiB pages serve */
	pthread_mutex_lock(&mem_lock);
	m->next = busy_list;
	busy_list = m;
	pthread_mutex_unlock(&mem_lock);
	*out = m->p;
	return 0;
}

static void mem_put(uint8_t *p, size_t len)
{
	struct mem **pp, *m = NULL, *stale;

	(void)madvise(p, len, MADV_FREE); /* wiped by libargon2: the kernel may reclaim it */
	pthread_mutex_lock(&mem_lock);
	for (pp = &busy_list; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->p == p) {
			m = *pp;
			*pp = m->next;
			break;
		}
	}
	if (m != NULL) {
		m->idle_since = mono_ms();
		m->next = idle_list;
		idle_list = m;
	}
	stale = take_stale(mono_ms());
	pthread_mutex_unlock(&mem_lock);
	unmap_list(stale);
	if (m == NULL)
		munmap(p, len); /* not ours: cannot happen, but never leak 64 MiB */
}

void pwhash_kept(size_t *buffers, size_t *bytes)
{
	size_t n = 0, b = 0;

	pthread_mutex_lock(&mem_lock);
	for (struct mem *m = idle_list; m != NULL; m = m->next) {
		n++;
		b += m->len;
	}
	pthread_mutex_unlock(&mem_lock);
	*buffers = n;
	*bytes = b;
}

void pwhash_release(void)
{
	struct mem *all;

	pthread_mutex_lock(&mem_lock);
	all = idle_list;
	idle_list = NULL;
	pthread_mutex_unlock(&mem_lock);
	unmap_list(all);
}

/* A decimal number of at most 10 digits without a leading zero, up to
 * UINT32_MAX, ending at stop; advances *s past stop. */
static bool read_u32(const char **s, char stop, uint32_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	size_t n = 0;

	while (*p >= '0' && *p <= '9') {
		if (++n > 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (n == 0 || (n > 1 && **s == '0') || v > UINT32_MAX || *p != stop)
		return false;
	*out = (uint32_t)v;
	*s = p + 1;
	return true;
}

/* Skips the literal lit at *s. */
static bool skip(const char **s, const char *lit)
{
	size_t n = strlen(lit);

	if (strncmp(*s, lit, n) != 0)
		return false;
	*s += n;
	return true;
}

/* Standard base64 without padding (the PHC string's alphabet), decoded
 * through the base64url decoder: the two alphabets differ in two letters. */
static bool read_b64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
	char url[(OUT_MAX > SALT_MAX ? OUT_MAX : SALT_MAX) * 4 / 3 + 4];
	unsigned char *raw;
	size_t rawlen;

	if (n == 0 || n >= sizeof(url))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '-' || c == '_')
			return false;
		url[i] = c == '+' ? '-' : c == '/' ? '_' : c;
	}
	if (b64url_decode(url, n, &raw, &rawlen) != IDP_OK)
		return false;
	if (rawlen > cap) {
		free(raw);
		return false;
	}
	memcpy(out, raw, rawlen);
	*outlen = rawlen;
	free(raw);
	return true;
}

int pwhash_verify(const char *encoded, const char *password, size_t len)
{
	static const char head[] = "$argon2id$v=19$m=";
	uint8_t salt[SALT_MAX], want[OUT_MAX], got[OUT_MAX];
	size_t saltlen, wantlen;
	uint32_t m, t, p;
	const char *s = encoded, *dollar;
	argon2_context ctx;
	int rc;

	if (encoded == NULL || password == NULL)
		return ARGON2_DECODING_FAIL;
	if (len > UINT32_MAX)
		return ARGON2_PWD_TOO_LONG;
	if (strncmp(s, head, sizeof(head) - 1) != 0)
		return argon2id_verify(encoded, password, len);
	s += sizeof(head) - 1;
	if (!read_u32(&s, ',', &m) || !skip(&s, "t=") || !read_u32(&s, ',', &t) || !skip(&s, "p=") ||
	    !read_u32(&s, '$', &p) || (dollar = strchr(s, '$')) == NULL ||
	    !read_b64(s, (size_t)(dollar - s), salt, sizeof(salt), &saltlen) ||
	    !read_b64(dollar + 1, strlen(dollar + 1), want, sizeof(want), &wantlen) ||
	    wantlen < ARGON2_MIN_OUTLEN || saltlen < ARGON2_MIN_SALT_LENGTH)
		return argon2id_verify(encoded, password, len); /* not the canonical form */

	memset(&ctx, 0, sizeof(ctx));
	ctx.out = got;
	ctx.outlen = (uint32_t)wantlen;
	ctx.pwd = (uint8_t *)(uintptr_t)password; /* read only: no clear-password flag */
	ctx.pwdlen = (uint32_t)len;
	ctx.salt = salt;
	ctx.saltlen = (uint32_t)saltlen;
	ctx.t_cost = t;
	ctx.m_cost = m;
	ctx.lanes = p;
	ctx.threads = p; /* as argon2id_verify: a thread per lane */
	ctx.version = ARGON2_VERSION_13;
	ctx.allocate_cbk = mem_get;
	ctx.free_cbk = mem_put;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2id_verify_ctx(&ctx, (const char *)want); /* compares in constant time */
	OPENSSL_cleanse(got, sizeof(got));
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}
