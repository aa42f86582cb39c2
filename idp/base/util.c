/* SPDX-License-Identifier: EUPL-1.2 */
#include "util.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static int log_level = LOG_INFO;
static __thread struct log_capture *log_cap;

void idp_log_set_level(int level)
{
	log_level = level;
}

void idp_log(int level, const char *fmt, ...)
{
	static const char *names[] = {"error", "warn", "info", "debug"};
	char line[1024], ts[32];
	va_list ap;
	struct tm tm;
	time_t t;

	if (level > log_level)
		return;
	t = time(NULL);
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_cap != NULL) {
		struct log_capture *c = log_cap;
		int n = snprintf(c->text + c->len, sizeof(c->text) - c->len, "%d%s\n",
				 level < 0 ? 0 : level > 3 ? 3 : level, line);

		if (n > 0 && (size_t)n < sizeof(c->text) - c->len) {
			c->len += (size_t)n;
		} else if (c->len + 1 < sizeof(c->text)) { /* cut short, still one line */
			c->len = sizeof(c->text) - 1;
			c->text[c->len - 1] = '\n';
		}
		return;
	}
	/* One write per line so that lines from several threads never mix. */
	fprintf(stderr, "%s idp[%s] %s\n", ts, names[level < 0 ? 0 : level > 3 ? 3 : level], line);
}

void idp_log_capture(struct log_capture *cap)
{
	if (cap != NULL) {
		cap->len = 0;
		cap->text[0] = '\0';
	}
	log_cap = cap;
}

void idp_log_replay(const struct log_capture *cap)
{
	const char *p = cap->text, *end = cap->text + cap->len, *nl;

	for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL; p = nl + 1)
		if (nl > p)
			idp_log(*p - '0', "%.*s", (int)(nl - p - 1), p + 1);
}

bool log_repeat_failed(struct log_repeat *r, int code, const struct log_capture *cap, int64_t now,
		       unsigned interval_s, unsigned *quiet, bool *changed)
{
	bool same = r->failures > 0 && r->code == code && r->last.len == cap->len &&
		    memcmp(r->last.text, cap->text, cap->len) == 0;

	r->failures++;
	*changed = r->failures > 1 && !same;
	/* A clock set back must not silence it until the clock catches up. */
	if (same && now >= r->logged_at && now - r->logged_at < (int64_t)interval_s) {
		r->quiet++;
		*quiet = 0;
		return false;
	}
	*quiet = r->quiet;
	r->quiet = 0;
	r->code = code;
	r->last = *cap;
	r->logged_at = now;
	return true;
}

bool log_repeat_recovered(struct log_repeat *r, unsigned *failures)
{
	*failures = r->failures;
	r->failures = 0;
	r->quiet = 0;
	r->last.len = 0;
	return *failures > 0;
}

const char *idp_strerror(int code)
{
	switch (code) {
	case IDP_OK: return "success";
	case IDP_ENOMEM: return "out of memory";
	case IDP_EINVAL: return "invalid input";
	case IDP_ENOTFOUND: return "not found";
	case IDP_EDENIED: return "denied";
	case IDP_ETOOBIG: return "too big";
	case IDP_EIO: return "input/output error";
	case IDP_ESTORE: return "store unavailable";
	case IDP_EEXIST: return "already exists";
	case IDP_EUNAVAIL: return "temporarily unavailable";
	case IDP_ELIMIT: return "rate limit reached";
	}
	return "unknown error";
}

/* The buffer's results as the daemon's codes. */
static int buf_code(enum buf_result rc)
{
	return rc == BUF_OK ? IDP_OK : rc == BUF_TOO_BIG ? IDP_ETOOBIG : IDP_ENOMEM;
}

static int room(struct buf *b, size_t extra)
{
	return buf_code(buf_reserve(b, extra));
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	return buf_code(buf_append(b, data, len));
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return IDP_EINVAL;
	if ((rc = room(b, (size_t)n)) != IDP_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return IDP_OK;
}

int buf_add_html(struct buf *b, const char *s)
{
	int rc = IDP_OK;
	const char *run = s;

	for (; *s && rc == IDP_OK; s++) {
		const char *rep;

		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&#39;"; break;
		default: continue;
		}
		if ((rc = buf_add(b, run, (size_t)(s - run))) == IDP_OK)
			rc = buf_adds(b, rep);
		run = s + 1;
	}
	if (rc == IDP_OK)
		rc = buf_add(b, run, (size_t)(s - run));
	return rc;
}

/* A JSON string (RFC 8259 7): quotes, then the bytes with '"', '\\' and the
 * controls below 0x20 escaped. Refuses what is not UTF-8, as jansson's
 * json_string() does. Written here, not with jansson, for the token
 * endpoint's few flat objects: building a json_t and json_dumps() cost 11 %
 * of a client_credentials request (perf, make bench); the tests parse what
 * this writes back with jansson. */
int buf_add_json_str(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = strlen(s);
	const char *run = s, *end = s + n;
	int rc;

	if (!utf8_valid(s, n))
		return IDP_EINVAL;
	if ((rc = room(b, n + 2)) != IDP_OK)
		return rc;
	b->p[b->len++] = '"';
	for (; s < end; s++) {
		unsigned char c;
		char esc[6];
		size_t el = 2;

		/* Eight bytes at a time while none is a control, '"' or '\\'
		 * (a signed token is hundreds of plain bytes). */
		while (end - s >= 8) {
			const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
			uint64_t w, q, bs;

			memcpy(&w, s, 8);
			q = w ^ (ones * '"');
			bs = w ^ (ones * '\\');
			if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs)
				break;
			s += 8;
		}
		if (s == end)
			break;
		c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			el = 6;
		}
		if ((rc = buf_add(b, run, (size_t)(s - run))) != IDP_OK || (rc = buf_add(b, esc, el)) != IDP_OK)
			return rc;
		run = s + 1;
	}
	if ((rc = buf_add(b, run, (size_t)(end - run))) != IDP_OK)
		return rc;
	return buf_add(b, "\"", 1);
}

/* ,"name": (first: without the comma); name is a literal of ours. */
int buf_json_name(struct buf *b, bool first, const char *name)
{
	int rc;

	if ((rc = buf_add(b, ",\"" + first, first ? 1 : 2)) != IDP_OK || (rc = buf_adds(b, name)) != IDP_OK)
		return rc;
	return buf_add(b, "\":", 2);
}

int buf_json_member_str(struct buf *b, bool first, const char *name, const char *value)
{
	int rc = buf_json_name(b, first, name);

	return rc != IDP_OK ? rc : buf_add_json_str(b, value);
}

size_t fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	out[n] = '\0';
	return n;
}

size_t fmt_i64(char *out, int64_t v)
{
	if (v >= 0)
		return fmt_u64(out, (uint64_t)v);
	out[0] = '-';
	return 1 + fmt_u64(out + 1, (uint64_t)0 - (uint64_t)v); /* INT64_MIN too */
}

int buf_json_member_int(struct buf *b, bool first, const char *name, long long value)
{
	char num[24];
	int rc = buf_json_name(b, first, name);
	size_t n = fmt_i64(num, value);

	return rc != IDP_OK ? rc : buf_add(b, num, n);
}

int buf_add_urlenc(struct buf *b, const char *s)
{
	return buf_code(buf_append_urlenc(b, s));
}

int buf_add_b64url(struct buf *b, const void *data, size_t len)
{
	size_t n = codec_b64url_len(len);
	int rc;

	if (n == SIZE_MAX)
		return IDP_ETOOBIG;
	if ((rc = room(b, n)) != IDP_OK)
		return rc;
	b->len += codec_b64url_encode(b->p + b->len, data, len);
	return IDP_OK;
}

int b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	size_t cap = codec_b64url_max(slen);
	unsigned char *o;

	*out = NULL;
	*outlen = 0;
	if ((o = malloc(cap + 1)) == NULL)
		return IDP_ENOMEM;
	if (codec_b64url_decode(s, slen, o, cap, outlen) != CODEC_OK) {
		free(o);
		return IDP_EINVAL;
	}
	*out = o;
	return IDP_OK;
}

/* A JWT "jti" (RFC 7519 4.1.7): unique, not secret (the token is signed).
 * SHA-256 of a per-thread random seed and a counter, 128 bits kept: one
 * RAND_bytes per thread instead of one per token (RAND_bytes took 5 % of a
 * client_credentials request in perf). Never for secrets: those are
 * rand_token(). */
bool unique_id(char out[23])
{
	static __thread struct {
		unsigned char seed[32];
		uint64_t n;
		bool ready;
	} t;
	unsigned char in[40], md[32];

	if (!t.ready || t.n == UINT64_MAX) {
		if (RAND_bytes(t.seed, sizeof(t.seed)) != 1)
			return false;
		t.ready = true;
		t.n = 0;
	}
	memcpy(in, t.seed, 32);
	t.n++;
	memcpy(in + 32, &t.n, 8);
	sha256(in, sizeof(in), md);
	codec_b64url_encode(out, md, 16);
	wipe(in, sizeof(in));
	return true;
}

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_free(void)
{
	EVP_MD_free(sha256_md);
}

static void sha256_init(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	atexit(sha256_free);
}

void sha256(const void *data, size_t len, unsigned char out[32])
{
	pthread_once(&sha256_once, sha256_init);
	if (sha256_md == NULL || EVP_Digest(data, len, out, NULL, sha256_md, NULL) != 1)
		SHA256(data, len, out); /* fallback: same result, slower */
}

void hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, unsigned char out[32])
{
	unsigned char k[64] = {0}, pad[64], inner[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	pthread_once(&sha256_once, sha256_init);
	if (klen > sizeof(k))
		sha256(key, klen, k);
	else
		memcpy(k, key, klen);
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	if (ctx == NULL || EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, 64) != 1 ||
	    EVP_DigestUpdate(ctx, msg, mlen) != 1 || EVP_DigestFinal_ex(ctx, inner, NULL) != 1)
		goto fail;
	for (int i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	if (EVP_DigestInit_ex(ctx, sha256_md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, 64) != 1 ||
	    EVP_DigestUpdate(ctx, inner, 32) != 1 || EVP_DigestFinal_ex(ctx, out, NULL) != 1)
		goto fail;
	goto out;
fail:
	/* Never reached in practice; never leave out uninitialised. */
	memset(out, 0, 32);
	idp_log(LOG_ERR, "hmac_sha256: digest failed");
out:
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
}

void sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[SHA256_DIGEST_LENGTH];
	int i;

	sha256(data, len, d);
	for (i = 0; i < SHA256_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
}

void secret_tag(const char *s, char out[9])
{
	char h[65];

	sha256_hex(s, strlen(s), h);
	memcpy(out, h, 8);
	out[8] = '\0';
}

bool parse_ll(const char *s, long long min, long long max, long long *out)
{
	long long v = 0;
	bool neg = false;

	if (s == NULL || *s == '\0')
		return false;
	if (*s == '-') {
		neg = true;
		s++;
		if (*s == '\0')
			return false;
	}
	if (strlen(s) > 18)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

const char *fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		return "-";
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

int64_t now_s(void)
{
	return (int64_t)time(NULL);
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *xstrdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}
