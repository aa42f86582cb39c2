/* SPDX-License-Identifier: EUPL-1.2 */
/* Audit events as JSON lines (audit.h). */
#include "audit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* fd: -1 when off (read and write: the chain reads its tail back); taken for reading by each write so that a reopen never
 * closes it under a writer. */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;
static int audit_fd = -1;
static bool audit_prefixed;
static unsigned char audit_key[32];

/* The chain of the file (audit.h): taken under chain_lock (threads) and
 * flock (processes). known_end: the file's size after this process's last
 * line; when the file has another size, another process wrote (or the file
 * was rotated) and the tail is read again. */
/* The most that seq and prev add before an event's members: the line with
 * them stays within AUDIT_LINE_MAX. */
#define CHAIN_PREFIX_MAX 112

static pthread_mutex_t chain_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long long seq;
	char prev[65];
	off_t known_end;
	unsigned since_ckpt, every, every_s;
	int64_t last_ckpt;
	char iss[512];
	audit_signer signer;
} chain = {.known_end = -1};

void audit_set_signer(audit_signer fn)
{
	pthread_mutex_lock(&chain_lock);
	chain.signer = fn;
	pthread_mutex_unlock(&chain_lock);
}

int audit_open(const struct config *cfg)
{
	int fd = -1, old;

	if (cfg->audit_file != NULL) {
		fd = open(cfg->audit_file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
		if (fd < 0) {
			idp_log(LOG_ERR, "audit: cannot open %s (%s)", cfg->audit_file, strerror(errno));
			return IDP_EIO;
		}
	} else if (cfg->audit_stderr) {
		fd = dup(STDERR_FILENO);
		if (fd < 0)
			return IDP_EIO;
	}
	pthread_rwlock_wrlock(&audit_lock);
	old = audit_fd;
	audit_fd = fd;
	audit_prefixed = cfg->audit_file == NULL;
	pthread_mutex_lock(&chain_lock);
	chain.known_end = -1; /* a reopened file: its tail is read at the next line */
	chain.every = cfg->audit_checkpoint_every ? cfg->audit_checkpoint_every : 1000;
	chain.every_s = cfg->audit_checkpoint_s ? cfg->audit_checkpoint_s : 600;
	if (chain.last_ckpt == 0)
		chain.last_ckpt = now_s();
	snprintf(chain.iss, sizeof(chain.iss), "%s", cfg->issuer ? cfg->issuer : "");
	pthread_mutex_unlock(&chain_lock);
	/* A key of its own, derived from the deployment's secret: an audit
	 * hash says nothing about the pairwise subjects services see. */
	hmac_sha256(cfg->pairwise_secret, strlen(cfg->pairwise_secret), "idp audit hash", 14, audit_key);
	pthread_rwlock_unlock(&audit_lock);
	if (old >= 0)
		close(old);
	return IDP_OK;
}

void audit_close(void)
{
	pthread_rwlock_wrlock(&audit_lock);
	if (audit_fd >= 0)
		close(audit_fd);
	audit_fd = -1;
	OPENSSL_cleanse(audit_key, sizeof(audit_key));
	pthread_rwlock_unlock(&audit_lock);
}

static void hash_with(const unsigned char key[32], const char *value, char out[33])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];

	hmac_sha256(key, 32, value, strlen(value), mac);
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[32] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
}

void audit_hash(const char *value, char out[33])
{
	pthread_rwlock_rdlock(&audit_lock);
	hash_with(audit_key, value, out);
	pthread_rwlock_unlock(&audit_lock);
}

/* value cut to AUDIT_VALUE_MAX bytes without splitting a UTF-8 sequence. */
static void cut(const char *value, char out[AUDIT_VALUE_MAX + 1])
{
	size_t n = strlen(value);

	if (n > AUDIT_VALUE_MAX) {
		n = AUDIT_VALUE_MAX;
		while (n > 0 && ((unsigned char)value[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, value, n);
	out[n] = '\0';
}

/* The seq and hash of the file's last line, read back from its tail (size
 * bytes): a line is at most AUDIT_LINE_MAX bytes. An empty file (just
 * rotated) continues the chain this process knew; a line without "seq" (written before
 * the chain existed) counts as seq 0. */
static void chain_read_tail(int fd, off_t size)
{
	char tail[AUDIT_LINE_MAX + 2], *start, *end;
	off_t from = size > (off_t)sizeof(tail) ? size - (off_t)sizeof(tail) : 0;
	ssize_t n;

	if (size == 0)
		return;
	n = pread(fd, tail, (size_t)(size - from), from);
	if (n <= 0)
		return;
	end = tail + n;
	/* The last complete line (a torn last write is left out of it). */
	while (end > tail && end[-1] != '\n')
		end--;
	if (end == tail)
		return;
	start = end - 1;
	while (start > tail && start[-1] != '\n')
		start--;
	sha256_hex(start, (size_t)(end - start), chain.prev);
	chain.seq = 0;
	if (strncmp(start, "{\"seq\":", 7) == 0) {
		char *e;
		long long v = strtoll(start + 7, &e, 10);

		if (e != start + 7 && v > 0)
			chain.seq = v;
	}
}

/* Writes one line of the chain: body is the event's object without its
 * opening brace ("\"ts\":...}\n"); the line gets seq and prev before it. */
static int chain_write(int fd, const char *body, size_t blen)
{
	struct buf b;
	int rc = IDP_EIO;

	buf_init(&b, AUDIT_LINE_MAX + 128);
	if (buf_printf(&b, "{\"seq\":%lld,\"prev\":\"%s\",", chain.seq + 1, chain.prev) == IDP_OK &&
	    buf_add(&b, body, blen) == IDP_OK && b.p != NULL &&
	    write(fd, b.p, b.len) == (ssize_t)b.len) {
		chain.seq++;
		sha256_hex(b.p, b.len, chain.prev);
		if (chain.known_end >= 0)
			chain.known_end += (off_t)b.len;
		rc = IDP_OK;
	}
	buf_release(&b);
	return rc;
}

/* A checkpoint: a line whose "jws" signs {"iss","seq","prev"} of itself, so
 * that whoever holds the public keys can tell the chain up to it was
 * written by the provider. */
static void chain_checkpoint(int fd, const char *ts)
{
	char *jws = NULL;
	struct buf p, b;

	buf_init(&p, 1024);
	buf_init(&b, AUDIT_LINE_MAX);
	if (buf_adds(&p, "{") == IDP_OK && buf_json_member_str(&p, true, "iss", chain.iss) == IDP_OK &&
	    buf_printf(&p, ",\"seq\":%lld,\"prev\":\"%s\"}", chain.seq + 1, chain.prev) == IDP_OK &&
	    chain.signer(p.p, p.len, &jws) == IDP_OK &&
	    buf_json_member_str(&b, true, "ts", ts) == IDP_OK &&
	    buf_json_member_str(&b, false, "event", "checkpoint") == IDP_OK &&
	    buf_json_member_str(&b, false, "jws", jws) == IDP_OK && buf_adds(&b, "}\n") == IDP_OK &&
	    chain_write(fd, b.p, b.len) == IDP_OK) {
		chain.since_ckpt = 0;
		chain.last_ckpt = now_s();
	}
	free(jws);
	buf_release(&p);
	buf_release(&b);
}

/* The line in b (a whole object and its newline) added to the chain of
 * fd, under both locks; false when it could not be written. */
static bool chain_append(int fd, const struct buf *b, const char *ts)
{
	struct stat st;
	bool ok = false;

	pthread_mutex_lock(&chain_lock);
	if (flock(fd, LOCK_EX) != 0)
		goto out;
	if (fstat(fd, &st) == 0 && st.st_size != chain.known_end) {
		chain_read_tail(fd, st.st_size);
		chain.known_end = st.st_size;
	}
	ok = chain_write(fd, b->p + 1, b->len - 1) == IDP_OK;
	if (ok && chain.signer != NULL &&
	    (++chain.since_ckpt >= chain.every || now_s() - chain.last_ckpt >= (int64_t)chain.every_s))
		chain_checkpoint(fd, ts);
	flock(fd, LOCK_UN);
out:
	pthread_mutex_unlock(&chain_lock);
	return ok;
}

void audit_event(const char *event, const char *ip, ...)
{
	char ts[40], v[AUDIT_VALUE_MAX + 1], h[33];
	struct timeval tv;
	struct tm tm;
	struct buf b;
	const char *name, *value;
	size_t mark;
	va_list ap;

	pthread_rwlock_rdlock(&audit_lock);
	if (audit_fd < 0) {
		pthread_rwlock_unlock(&audit_lock);
		return;
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, 24, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03dZ", (int)(tv.tv_usec / 1000));
	buf_init(&b, AUDIT_LINE_MAX);
	if (audit_prefixed)
		buf_adds(&b, AUDIT_PREFIX);
	buf_adds(&b, "{");
	buf_json_member_str(&b, true, "ts", ts);
	buf_json_member_str(&b, false, "event", event);
	if (ip != NULL && ip[0] != '\0')
		buf_json_member_str(&b, false, "ip", ip);
	va_start(ap, ip);
	while ((name = va_arg(ap, const char *)) != NULL) {
		value = va_arg(ap, const char *);
		if (value == NULL)
			continue;
		if (strcmp(name, "user") == 0 || strcmp(name, "sub") == 0) {
			hash_with(audit_key, value, h);
			value = h;
		}
		cut(value, v);
		mark = b.len;
		/* A member that would not fit (or is not UTF-8) is left out,
		 * and the line says so. */
		if (buf_json_member_str(&b, false, name, v) != IDP_OK || b.len + 20 + CHAIN_PREFIX_MAX > AUDIT_LINE_MAX) {
			b.len = mark;
			buf_adds(&b, ",\"truncated\":true");
			break;
		}
	}
	va_end(ap);
	if (buf_adds(&b, "}\n") == IDP_OK && b.p != NULL &&
	    (audit_prefixed ? write(audit_fd, b.p, b.len) != (ssize_t)b.len : !chain_append(audit_fd, &b, ts))) {
		static int64_t last;
		int64_t now = now_s();

		if (__atomic_exchange_n(&last, now, __ATOMIC_RELAXED) != now) { /* a line a second at most */
			idp_log(LOG_ERR, "audit: an event could not be written (%s)", strerror(errno));
		}
	}
	pthread_rwlock_unlock(&audit_lock);
	buf_release(&b);
	wipe(v, sizeof(v));
}
