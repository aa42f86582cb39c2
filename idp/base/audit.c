/* SPDX-License-Identifier: EUPL-1.2 */
/* Audit events as JSON lines (audit.h). */
#include "audit.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* fd: -1 when off; taken for reading by each write so that a reopen never
 * closes it under a writer. */
static pthread_rwlock_t audit_lock = PTHREAD_RWLOCK_INITIALIZER;
static int audit_fd = -1;
static bool audit_prefixed;
static unsigned char audit_key[32];

int audit_open(const struct config *cfg)
{
	int fd = -1, old;

	if (cfg->audit_file != NULL) {
		fd = open(cfg->audit_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
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
		if (buf_json_member_str(&b, false, name, v) != IDP_OK || b.len + 20 > AUDIT_LINE_MAX) {
			b.len = mark;
			buf_adds(&b, ",\"truncated\":true");
			break;
		}
	}
	va_end(ap);
	if (buf_adds(&b, "}\n") == IDP_OK && b.p != NULL &&
	    write(audit_fd, b.p, b.len) != (ssize_t)b.len) {
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
