#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
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

void buf_init(struct buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void buf_release(struct buf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = NULL;
	b->len = b->cap = 0;
}

static int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *np;

	if (extra > b->max || b->len > b->max - extra)
		return IDP_ETOOBIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return IDP_OK;
	ncap = b->cap ? b->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	/* No realloc: the old block may hold a secret, wipe it before freeing. */
	if ((np = malloc(ncap)) == NULL)
		return IDP_ENOMEM;
	if (b->p != NULL) {
		memcpy(np, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	} else {
		np[0] = '\0';
	}
	b->p = np;
	b->cap = ncap;
	return IDP_OK;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	int rc;

	if ((rc = buf_reserve(b, len)) != IDP_OK)
		return rc;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return IDP_OK;
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
	if ((rc = buf_reserve(b, (size_t)n)) != IDP_OK)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return IDP_OK;
}

char *buf_steal(struct buf *b)
{
	char *p = b->p;

	if (p == NULL)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
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
	if ((rc = buf_reserve(b, n + 2)) != IDP_OK)
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
	int rc;

	if ((rc = buf_reserve(b, codec_urlenc_len(s))) != IDP_OK)
		return rc;
	b->len += codec_urlenc(b->p + b->len, s);
	b->p[b->len] = '\0';
	return IDP_OK;
}

char *uri_with_params(const char *uri, const char *const *kv, size_t n)
{
	struct buf b;
	bool query = strchr(uri, '?') != NULL;
	int rc;

	buf_init(&b, 16384);
	rc = buf_adds(&b, uri);
	for (size_t i = 0; i + 1 < n && rc == IDP_OK; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		if ((rc = buf_adds(&b, query ? "&" : "?")) == IDP_OK && (rc = buf_adds(&b, kv[i])) == IDP_OK &&
		    (rc = buf_adds(&b, "=")) == IDP_OK)
			rc = buf_add_urlenc(&b, kv[i + 1]);
		query = true;
	}
	if (rc != IDP_OK) {
		buf_release(&b);
		return NULL;
	}
	return buf_steal(&b);
}

char *b64url_encode(const void *data, size_t len)
{
	size_t n = codec_b64url_len(len);
	char *out;

	if (n == SIZE_MAX || (out = malloc(n + 1)) == NULL)
		return NULL;
	codec_b64url_encode(out, data, len);
	return out;
}

int buf_add_b64url(struct buf *b, const void *data, size_t len)
{
	size_t n = codec_b64url_len(len);
	int rc;

	if (n == SIZE_MAX)
		return IDP_ETOOBIG;
	if ((rc = buf_reserve(b, n)) != IDP_OK)
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

/* Secrets come from the kernel's generator (getrandom), which is what
 * OpenSSL's own seeds from: one system call, 0.27 us on the bench machine,
 * against 0.75 us for RAND_bytes, which also checks for a fork (a getpid)
 * and takes its DRBG's lock on every call. RAND_bytes if getrandom fails. */
static bool secret_bytes(unsigned char *out, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(out + got, n - got, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return RAND_bytes(out, (int)n) == 1;
		got += (size_t)r;
	}
	return true;
}

char *rand_token(size_t nbytes)
{
	unsigned char raw[64];
	char *t;

	if (nbytes > sizeof(raw) || !secret_bytes(raw, nbytes))
		return NULL;
	t = b64url_encode(raw, nbytes);
	OPENSSL_cleanse(raw, sizeof(raw));
	return t;
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

/* Equal-time compare of secrets of any length: hash both, compare the digests. */
bool secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

	sha256(a, alen, da);
	sha256(b, blen, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
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

void wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

void free_secret(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
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

unsigned json_text_depth(const char *text, size_t len, unsigned limit)
{
	unsigned depth = 0, deepest = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (c == '\\')
				i++; /* the escaped byte cannot end the string */
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > deepest && (deepest = depth) > limit)
				return limit + 1;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--; /* unbalanced text: jansson refuses it */
		}
	}
	return deepest;
}

int json_parse_bounded(const char *text, size_t len, size_t max_len, unsigned max_depth,
		       size_t flags, json_t **out)
{
	*out = NULL;
	if (text == NULL)
		return IDP_EINVAL;
	if (len > max_len || json_text_depth(text, len, max_depth) > max_depth)
		return IDP_ETOOBIG;
	*out = json_loadb(text, len, flags, NULL);
	return *out != NULL ? IDP_OK : IDP_EINVAL;
}

/* An upper bound of the bytes jansson writes for the string s in compact
 * form (JSON_ENSURE_ASCII unset): quotes, two for '"' and '\\', six for a
 * control character. */
static size_t json_str_cost(const char *s, size_t len)
{
	size_t n = 2 + len;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20)
			n += 5;
		else if (c == '"' || c == '\\')
			n++;
	}
	return n;
}

bool json_value_bounded(const json_t *v, unsigned max_depth, size_t max_bytes)
{
	/* One frame per open container: the array index or object iterator. */
	struct {
		const json_t *c;
		size_t i;
		void *it;
	} st[JSON_STORED_DEPTH];
	unsigned n = 0;
	size_t bytes = 0;

	if (max_depth > JSON_STORED_DEPTH)
		max_depth = JSON_STORED_DEPTH;
	for (;;) {
		if (v != NULL) {
			bytes += 1; /* the comma before it */
			if (json_is_string(v))
				bytes += json_str_cost(json_string_value(v), json_string_length(v));
			else if (json_is_array(v) || json_is_object(v))
				bytes += 2;
			else
				bytes += 24; /* %.17g, a 64-bit integer, true, false, null */
			if (bytes > max_bytes)
				return false;
			if (json_is_array(v) || json_is_object(v)) {
				if (n == max_depth)
					return false;
				st[n].c = v;
				st[n].i = 0;
				st[n].it = json_is_object(v) ? json_object_iter((json_t *)v) : NULL;
				n++;
			}
		}
		if (n == 0)
			return true;
		/* The next value: the top container's next child, or pop it. */
		v = NULL;
		if (json_is_array(st[n - 1].c)) {
			if (st[n - 1].i < json_array_size(st[n - 1].c))
				v = json_array_get(st[n - 1].c, st[n - 1].i++);
		} else if (st[n - 1].it != NULL) {
			const char *k = json_object_iter_key(st[n - 1].it);

			bytes += json_str_cost(k, strlen(k)) + 1; /* "name": */
			v = json_object_iter_value(st[n - 1].it);
			st[n - 1].it = json_object_iter_next((json_t *)st[n - 1].c, st[n - 1].it);
		}
		if (v == NULL)
			n--;
	}
}

/* u parsed by libcurl when it is an absolute http or https URI; NULL
 * otherwise. The caller frees it with curl_url_cleanup. */
static CURLU *uri_parse(const char *u)
{
	CURLU *h = NULL;
	char *scheme = NULL;

	if (u == NULL || (h = curl_url()) == NULL)
		return NULL;
	if (curl_url_set(h, CURLUPART_URL, u, 0) != CURLUE_OK ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0)) {
		curl_url_cleanup(h);
		h = NULL;
	}
	curl_free(scheme);
	return h;
}

/* libidn2, which libcurl calls to turn a host into punycode, reads the host
 * in the charset of the thread's locale: under the "C" locale the daemon
 * runs in, every non-ASCII host would be refused. C.UTF-8 is set for that
 * one call on this thread only (uselocale), nothing else in the process. */
static locale_t utf8_locale;
static pthread_once_t utf8_locale_once = PTHREAD_ONCE_INIT;

static void utf8_locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

/* The host of a parsed URI, canonical as uri_host documents; drop_dot:
 * one trailing dot removed. NULL for a host that cannot be made ASCII. */
static char *uri_host_of(CURLU *h, bool drop_dot)
{
	char *raw = NULL, *out = NULL;
	unsigned flags = 0;
	locale_t prev = (locale_t)0;
	CURLUcode uc;
	size_t n;

#ifdef CURLU_PUNYCODE
	flags = CURLU_PUNYCODE;
	pthread_once(&utf8_locale_once, utf8_locale_init);
	if (utf8_locale != (locale_t)0)
		prev = uselocale(utf8_locale);
#endif
	uc = curl_url_get(h, CURLUPART_HOST, &raw, flags);
	if (prev != (locale_t)0)
		uselocale(prev);
	if (uc != CURLUE_OK)
		goto out;
	/* Without punycode support a non-ASCII host stays as written: refused
	 * rather than compared in a form another spelling would not match. */
	for (unsigned char *p = (unsigned char *)raw; *p != '\0'; p++) {
		if (*p <= ' ' || *p >= 0x7f)
			goto out;
		if (*p >= 'A' && *p <= 'Z')
			*p = (unsigned char)(*p - 'A' + 'a');
	}
	n = strlen(raw);
	if (raw[0] == '[' && n > 2 && n < INET6_ADDRSTRLEN + 2 && raw[n - 1] == ']') {
		/* libcurl leaves some IPv6 forms as written ([::ffff:7f00:1] and
		 * [::ffff:127.0.0.1]); glibc writes every one the RFC 5952 way. */
		char text[INET6_ADDRSTRLEN];
		struct in6_addr a6;

		memcpy(text, raw + 1, n - 2);
		text[n - 2] = '\0';
		if (inet_pton(AF_INET6, text, &a6) != 1 || inet_ntop(AF_INET6, &a6, text, sizeof(text)) == NULL)
			goto out;
		if (asprintf(&out, "[%s]", text) < 0)
			out = NULL;
		goto out;
	}
	if (drop_dot && n > 1 && raw[n - 1] == '.')
		raw[--n] = '\0';
	if (n == 0 || strcmp(raw, ".") == 0)
		goto out;
	out = strdup(raw);
out:
	curl_free(raw);
	return out;
}

char *uri_host(const char *u)
{
	CURLU *h = uri_parse(u);
	char *host = h != NULL ? uri_host_of(h, true) : NULL;

	curl_url_cleanup(h);
	return host;
}

char *uri_origin(const char *u)
{
	CURLU *h = uri_parse(u);
	char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;

	if (h == NULL || (host = uri_host_of(h, false)) == NULL ||
	    curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
		goto out;
	/* No port part is no error: the scheme's default port (or none given). */
	if (curl_url_get(h, CURLUPART_PORT, &port, CURLU_NO_DEFAULT_PORT) != CURLUE_OK)
		port = NULL;
	if (asprintf(&out, "%s://%s%s%s", scheme, host, port != NULL ? ":" : "", port != NULL ? port : "") < 0)
		out = NULL;
out:
	curl_free(scheme);
	curl_free(port);
	free(host);
	curl_url_cleanup(h);
	return out;
}

bool uri_host_is_loopback(const char *host)
{
	struct in_addr a;

	if (host == NULL)
		return false;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0)
		return true;
	/* libcurl writes every IPv4 form (127.1, 0x7f.0.0.1) in dotted decimal. */
	return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* True when libcurl finds the part in h (an empty user "@host" counts). */
static bool uri_has(CURLU *h, CURLUPart what)
{
	char *v = NULL;
	bool has = curl_url_get(h, what, &v, 0) == CURLUE_OK;

	curl_free(v);
	return has;
}

const char *uri_problem(const char *u, bool http_loopback_only)
{
	const char *why = NULL, *rest;
	CURLU *h = NULL;
	char *host = NULL;
	size_t len = u != NULL ? strlen(u) : 0;
	bool http;

	if (len == 0)
		return "is empty";
	if (len > 2048)
		return "is longer than 2048 bytes";
	for (const unsigned char *p = (const unsigned char *)u; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f || strchr("\"<>\\", *p) != NULL)
			return "holds a control character, a space, a quote, '<', '>' or a backslash";
	if (!utf8_valid(u, len))
		return "is not UTF-8";
	/* Spelled out: libcurl also reads "https:/host" and "https:///host",
	 * which no browser sends back to match them. */
	http = strncmp(u, "http://", 7) == 0;
	rest = http ? u + 7 : strncmp(u, "https://", 8) == 0 ? u + 8 : NULL;
	if (rest == NULL || *rest == '/' || *rest == '\0')
		return "must be an absolute http or https URI (https://host/path)";
	if (strchr(u, '#') != NULL)
		return "has a fragment ('#'), which a redirect cannot carry";
	if ((h = uri_parse(u)) == NULL) {
		why = "is not a valid URI (libcurl refuses it)";
		goto out;
	}
	if (uri_has(h, CURLUPART_USER) || uri_has(h, CURLUPART_PASSWORD) ||
	    uri_has(h, CURLUPART_OPTIONS)) {
		why = "has user info ('user@' before the host)";
		goto out;
	}
	if (uri_has(h, CURLUPART_ZONEID)) {
		why = "has an IPv6 zone ('%' in the address)";
		goto out;
	}
	if ((host = uri_host_of(h, true)) == NULL) {
		why = "has a host that is not a valid name (an internationalised one must be valid IDNA)";
		goto out;
	}
	if (http && http_loopback_only && !uri_host_is_loopback(host))
		why = "uses http on a host that is not loopback: use https (the issuer is https; "
		      "http is kept for 127.0.0.0/8, [::1] and localhost, RFC 8252 7.3)";
out:
	free(host);
	curl_url_cleanup(h);
	return why;
}
