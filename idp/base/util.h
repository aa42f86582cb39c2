/* SPDX-License-Identifier: EUPL-1.2 */
/* Small helpers used everywhere: logging, bounded buffers, base64url,
 * random tokens, hashing and constant-time comparison, strict number
 * parsing, clocks. Bounded JSON is in json_bounded.h, URIs in uri.h. */
#ifndef IDP_UTIL_H
#define IDP_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "buf.h"
#include "codec.h"
#include "secret.h"

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

void idp_log_set_level(int level);
void idp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs "func: message" at error level and returns code. */
#define log_fail(code, ...) (idp_log(LOG_ERR, __VA_ARGS__), (code))

/* While a capture is set, the lines this thread logs (those the level lets
 * through) are kept in it instead of written, so that a caller retrying
 * every second can tell whether it is failing the same way again. */
struct log_capture {
	char text[2048];  /* each line: its level as a digit, the message, '\n' */
	size_t len;       /* a line that does not fit is cut short */
};
void idp_log_capture(struct log_capture *cap); /* NULL: written again */
void idp_log_replay(const struct log_capture *cap); /* writes the lines kept */

/* A failure retried every second, logged its first time, whenever its text
 * changes, and otherwise once per interval with the number of attempts that
 * failed the same way unlogged meanwhile. */
struct log_repeat {
	int code;                 /* the failure last logged: its code and text */
	struct log_capture last;
	unsigned failures;        /* in a row, the first included */
	unsigned quiet;           /* failed attempts not logged since the last line */
	int64_t logged_at;
};
/* One more failed attempt, with code, that logged cap: true when it is to be
 * logged now; *quiet: the attempts not logged since the previous line;
 * *changed: it differs from them (false for the first failure). */
bool log_repeat_failed(struct log_repeat *r, int code, const struct log_capture *cap, int64_t now,
		       unsigned interval_s, unsigned *quiet, bool *changed);
/* A successful attempt: true when it ends a failure (log the recovery once);
 * *failures: how many attempts had failed in a row. */
bool log_repeat_recovered(struct log_repeat *r, unsigned *failures);

/* The bounded buffer (common/buf.h: buf_init, buf_release, buf_steal): its
 * appends here answer with the daemon's codes, IDP_ETOOBIG past its max. */
int buf_add(struct buf *b, const void *data, size_t len);
int buf_adds(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_add_html(struct buf *b, const char *s);       /* HTML-escaped */
int buf_add_urlenc(struct buf *b, const char *s);     /* RFC 3986 unreserved kept */
/* JSON output for flat objects (RFC 8259): a string with its quotes, and
 * object members ,"name":value (no comma when first). IDP_EINVAL when the
 * value is not UTF-8. */
int buf_add_json_str(struct buf *b, const char *s);
int buf_json_name(struct buf *b, bool first, const char *name); /* ,"name": */
int buf_json_member_str(struct buf *b, bool first, const char *name, const char *value);
int buf_json_member_int(struct buf *b, bool first, const char *name, long long value);

/* b64url_encode, rand_token, secret_equal, wipe, free_secret: common/secret.h. */
/* Appends base64url of data to b. */
int buf_add_b64url(struct buf *b, const void *data, size_t len);
/* Strict: rejects padding, whitespace and non-alphabet bytes. out is malloc'ed. */
int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);

/* A unique identifier, 22 base64url characters: for jti, never for secrets. */
bool unique_id(char out[23]);
/* SHA-256 with a digest fetched once: OpenSSL 3's one-shot SHA256() looks
 * the algorithm up in its provider store on every call. */
void sha256(const void *data, size_t len, unsigned char out[32]);
/* HMAC-SHA256 (RFC 2104) on the digest fetched once: OpenSSL 3's one-shot
 * HMAC() fetches its algorithms on every call. */
void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32]);
/* Lowercase hex SHA-256 of s (65 bytes buffer). */
void sha256_hex(const void *data, size_t len, char out[65]);
/* First 8 hex digits of SHA-256, for correlating secrets in logs. */
void secret_tag(const char *s, char out[9]);

/* Strict decimal parsing: whole string, no sign unless allowed, range checked. */
bool parse_ll(const char *s, long long min, long long max, long long *out);

static inline bool utf8_valid(const char *s, size_t len)
{
	return codec_utf8_valid(s, len);
}

/* The decimal digits of v (a '-' first when negative) into out, which holds
 * at least 21 bytes, NUL-terminated; returns their number. snprintf's "%llu"
 * and "%lld" answers, without its cost (formatting took 4 % of an SSO
 * login with the Redis store). */
size_t fmt_u64(char *out, uint64_t v);
size_t fmt_i64(char *out, int64_t v);
/* t as "2026-01-31T12:00:00Z" in buf, which it returns; "-" when t <= 0
 * (never set). For what idpctl prints. */
const char *fmt_time(int64_t t, char buf[32]);
int64_t now_s(void);
/* CLOCK_MONOTONIC in milliseconds: for deadlines and TTLs that a wall-clock
 * step must not move. */
int64_t mono_ms(void);
char *xstrdup(const char *s); /* NULL-safe strdup */

#endif
