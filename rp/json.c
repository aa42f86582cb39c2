/* SPDX-License-Identifier: Apache-2.0 */
/* A strict JSON scanner for token headers and claim sets.
 *
 * Why not jansson here: json_loadb() of a typical 400-byte ID token payload
 * costs 3.9 us on the machine we measured (its lexer reads one character
 * at a time through a stream and allocates every member), while an RSA-2048
 * verification costs 16 us; parsing alone would have cost a quarter of the
 * verify rate. This scanner validates the same grammar without allocating
 * (about 0.25 us for the same payload) and lets the checks read the few
 * claims they need in place. jansson still builds the json_t handed to the
 * caller when asked (rp_json_build, about 0.7 us), and parses the documents
 * off the hot path (discovery, JWKS).
 *
 * It accepts what jansson's json_loadb() accepts for an object (the unit
 * tests compare the two on mutated documents), with two deliberate
 * differences: nesting deeper than 64 is refused, and so is a name repeated
 * at the top level (two "aud" or "nonce" members would let two parsers see
 * two different tokens). Numbers follow jansson's range rules: integers past
 * 64 bits and reals past DBL_MAX are errors. */
#include "rp_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#define MAX_DEPTH 64

struct jp {
	const unsigned char *p;
	const unsigned char *end;
};

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int hex4(const unsigned char *p)
{
	int i, v = 0;

	for (i = 0; i < 4; i++) {
		unsigned char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms,
 * no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Bytes that may appear as they are inside a string: printable ASCII but
 * the quote and the backslash. */
#define PLAIN(c) ((c) >= 0x20 && (c) < 0x80 && (c) != '"' && (c) != '\\')
#define PLAIN4(c) PLAIN(c), PLAIN(c + 1), PLAIN(c + 2), PLAIN(c + 3)
#define PLAIN16(c) PLAIN4(c), PLAIN4(c + 4), PLAIN4(c + 8), PLAIN4(c + 12)
#define PLAIN64(c) PLAIN16(c), PLAIN16(c + 16), PLAIN16(c + 32), PLAIN16(c + 48)
static const bool plain[256] = { PLAIN64(0), PLAIN64(64), PLAIN64(128), PLAIN64(192) };

/* j->p is just past the opening quote; leaves it just past the closing one. */
static int scan_string(struct jp *j, bool *esc)
{
	const unsigned char *p = j->p, *end = j->end;
	int cp, lo;
	size_t n;

	*esc = false;
	for (;;) {
		/* Fast path: plain ASCII, the bulk of every token. */
		while (p < end && plain[*p])
			p++;
		if (p >= end)
			return RP_E_MALFORMED;
		if (*p == '"')
			break;
		if (*p < 0x20)
			return RP_E_MALFORMED;
		if (*p == '\\') {
			*esc = true;
			if (end - p < 2)
				return RP_E_MALFORMED;
			if (strchr("\"\\/bfnrt", p[1]) != NULL && p[1] != '\0') {
				p += 2;
				continue;
			}
			if (p[1] != 'u' || end - p < 6 || (cp = hex4(p + 2)) < 0)
				return RP_E_MALFORMED;
			/* \u0000 would cut every C string made from this one. */
			if (cp == 0 || (cp >= 0xdc00 && cp <= 0xdfff))
				return RP_E_MALFORMED;
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
				    (lo = hex4(p + 8)) < 0xdc00 || lo > 0xdfff)
					return RP_E_MALFORMED;
				p += 12;
			} else {
				p += 6;
			}
			continue;
		}
		if ((n = utf8_seq(p, end)) == 0)
			return RP_E_MALFORMED;
		p += n;
	}
	j->p = p + 1;
	return RP_OK;
}

/* Decodes a validated string body (no quotes) into out, which has room for
 * len bytes; returns the decoded length. */
static size_t decode_string(const char *s, size_t len, char *out)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	unsigned char *o = (unsigned char *)out;
	long cp;

	while (p < end) {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		switch (p[1]) {
		case 'b':
			*o++ = '\b';
			break;
		case 'f':
			*o++ = '\f';
			break;
		case 'n':
			*o++ = '\n';
			break;
		case 'r':
			*o++ = '\r';
			break;
		case 't':
			*o++ = '\t';
			break;
		case 'u':
			cp = hex4(p + 2);
			if (cp >= 0xd800 && cp <= 0xdbff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 8) - 0xdc00);
				p += 6;
			}
			if (cp < 0x80) {
				*o++ = (unsigned char)cp;
			} else if (cp < 0x800) {
				*o++ = (unsigned char)(0xc0 | (cp >> 6));
				*o++ = (unsigned char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (unsigned char)(0xe0 | (cp >> 12));
				*o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (unsigned char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (unsigned char)(0xf0 | (cp >> 18));
				*o++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
				*o++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
				*o++ = (unsigned char)(0x80 | (cp & 0x3f));
			}
			p += 6;
			continue;
		default: /* " \ / */
			*o++ = p[1];
			break;
		}
		p += 2;
	}
	return (size_t)(o - (unsigned char *)out);
}

/* Copies a number's text to a NUL-terminated buffer for strtoll/strtod,
 * on the heap when it is long (a real may have hundreds of digits). */
static char *num_text(const char *p, size_t len, char *stack, size_t cap)
{
	char *s = len < cap ? stack : malloc(len + 1);

	if (s != NULL) {
		memcpy(s, p, len);
		s[len] = '\0';
	}
	return s;
}

static bool num_is_int(const char *p, size_t len)
{
	return memchr(p, '.', len) == NULL && memchr(p, 'e', len) == NULL &&
	       memchr(p, 'E', len) == NULL;
}

/* jansson's range rules: an integer must fit in 64 bits, a real must not
 * overflow to infinity. Short integers cannot overflow, so most numbers
 * skip the conversion. */
static int check_number(const char *p, size_t len, bool is_int, long long *iv, double *dv)
{
	char stack[64], *s, *endp;
	int rc = RP_OK;

	if (is_int && len <= 18 && iv == NULL)
		return RP_OK;
	if ((s = num_text(p, len, stack, sizeof(stack))) == NULL)
		return RP_E_NOMEM;
	errno = 0;
	if (is_int) {
		long long v = strtoll(s, &endp, 10);
		if (errno == ERANGE || *endp != '\0')
			rc = RP_E_MALFORMED;
		else if (iv != NULL)
			*iv = v;
	} else {
		double v = strtod(s, &endp);
		if (((v == HUGE_VAL || v == -HUGE_VAL) && errno == ERANGE) || *endp != '\0')
			rc = RP_E_MALFORMED;
		else if (dv != NULL)
			*dv = v;
	}
	if (s != stack)
		free(s);
	return rc;
}

static int scan_number(struct jp *j)
{
	const unsigned char *p = j->p, *end = j->end, *start = p;
	bool is_int = true;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return RP_E_MALFORMED;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	} else {
		return RP_E_MALFORMED;
	}
	if (p < end && *p == '.') {
		is_int = false;
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return RP_E_MALFORMED;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		is_int = false;
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return RP_E_MALFORMED;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	return check_number((const char *)start, (size_t)(p - start), is_int, NULL, NULL);
}

static bool literal(struct jp *j, const char *word, size_t len)
{
	if ((size_t)(j->end - j->p) < len || memcmp(j->p, word, len) != 0)
		return false;
	j->p += len;
	return true;
}

/* Scans one value at j->p (no leading white space) into out. */
static int scan_value(struct jp *j, int depth, struct rp_jval *out)
{
	const unsigned char *start = j->p;
	struct rp_jval dummy;
	bool esc;
	int rc;

	if (j->p >= j->end)
		return RP_E_MALFORMED;
	switch (*j->p) {
	case '{':
	case '[': {
		unsigned char close = *j->p == '{' ? '}' : ']';
		bool obj = close == '}';

		if (depth >= MAX_DEPTH)
			return RP_E_MALFORMED;
		j->p++;
		ws(j);
		if (j->p < j->end && *j->p == close) {
			j->p++;
		} else {
			for (;;) {
				if (obj) {
					if (j->p >= j->end || *j->p != '"')
						return RP_E_MALFORMED;
					j->p++;
					if ((rc = scan_string(j, &esc)) != RP_OK)
						return rc;
					ws(j);
					if (j->p >= j->end || *j->p != ':')
						return RP_E_MALFORMED;
					j->p++;
					ws(j);
				}
				if ((rc = scan_value(j, depth + 1, &dummy)) != RP_OK)
					return rc;
				ws(j);
				if (j->p >= j->end)
					return RP_E_MALFORMED;
				if (*j->p == ',') {
					j->p++;
					ws(j);
					continue;
				}
				if (*j->p != close)
					return RP_E_MALFORMED;
				j->p++;
				break;
			}
		}
		out->type = obj ? RP_J_OBJECT : RP_J_ARRAY;
		out->p = (const char *)start;
		out->len = (size_t)(j->p - start);
		out->esc = false;
		return RP_OK;
	}
	case '"':
		j->p++;
		if ((rc = scan_string(j, &esc)) != RP_OK)
			return rc;
		out->type = RP_J_STRING;
		out->p = (const char *)start + 1;
		out->len = (size_t)(j->p - start) - 2;
		out->esc = esc;
		return RP_OK;
	case 't':
		out->type = RP_J_TRUE;
		rc = literal(j, "true", 4) ? RP_OK : RP_E_MALFORMED;
		break;
	case 'f':
		out->type = RP_J_FALSE;
		rc = literal(j, "false", 5) ? RP_OK : RP_E_MALFORMED;
		break;
	case 'n':
		out->type = RP_J_NULL;
		rc = literal(j, "null", 4) ? RP_OK : RP_E_MALFORMED;
		break;
	default:
		out->type = RP_J_NUMBER;
		rc = scan_number(j);
		break;
	}
	out->p = (const char *)start;
	out->len = (size_t)(j->p - start);
	out->esc = false;
	return rc;
}

int rp_json_scan(char *buf, size_t len, struct rp_jmember *m, size_t max, size_t *n)
{
	struct jp j = { (const unsigned char *)buf, (const unsigned char *)buf + len };
	struct rp_jmember *cur;
	size_t i, count = 0;
	char *key;
	bool esc;
	int rc;

	*n = 0;
	ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return RP_E_MALFORMED;
	j.p++;
	ws(&j);
	if (j.p < j.end && *j.p == '}') {
		j.p++;
		goto tail;
	}
	for (;;) {
		if (j.p >= j.end || *j.p != '"')
			return RP_E_MALFORMED;
		key = (char *)j.p + 1;
		j.p++;
		if ((rc = scan_string(&j, &esc)) != RP_OK)
			return rc;
		if (count == max)
			return RP_E_TOO_BIG;
		cur = &m[count];
		cur->key = key;
		cur->klen = (size_t)((const char *)j.p - key) - 1;
		if (esc) /* decoding only shrinks: do it in place */
			cur->klen = decode_string(key, cur->klen, key);
		for (i = 0; i < count; i++)
			if (m[i].klen == cur->klen && (cur->klen == 0 || m[i].key[0] == key[0]) &&
			    memcmp(m[i].key, key, cur->klen) == 0)
				return RP_E_MALFORMED;
		ws(&j);
		if (j.p >= j.end || *j.p != ':')
			return RP_E_MALFORMED;
		j.p++;
		ws(&j);
		if ((rc = scan_value(&j, 1, &cur->v)) != RP_OK)
			return rc;
		count++;
		ws(&j);
		if (j.p >= j.end)
			return RP_E_MALFORMED;
		if (*j.p == ',') {
			j.p++;
			ws(&j);
			continue;
		}
		if (*j.p != '}')
			return RP_E_MALFORMED;
		j.p++;
		break;
	}
tail:
	ws(&j);
	if (j.p != j.end)
		return RP_E_MALFORMED;
	*n = count;
	return RP_OK;
}

const struct rp_jval *rp_json_get(const struct rp_jmember *m, size_t n, const char *key)
{
	size_t i, klen = strlen(key);

	for (i = 0; i < n; i++)
		if (m[i].klen == klen && memcmp(m[i].key, key, klen) == 0)
			return &m[i].v;
	return NULL;
}

bool rp_json_array_next(const struct rp_jval *arr, const char **pos, struct rp_jval *out)
{
	struct jp j;

	if (arr->type != RP_J_ARRAY)
		return false;
	j.p = (const unsigned char *)(*pos != NULL ? *pos : arr->p + 1);
	j.end = (const unsigned char *)arr->p + arr->len;
	ws(&j);
	if (j.p < j.end && *j.p == ',') {
		j.p++;
		ws(&j);
	}
	if (j.p >= j.end || *j.p == ']')
		return false;
	/* The span was validated when scanned: this cannot fail. */
	if (scan_value(&j, 1, out) != RP_OK)
		return false;
	*pos = (const char *)j.p;
	return true;
}

/* consttime: the bytes are compared in constant time (the nonce). Lengths
 * are not secret: ours is public knowledge (43 characters). Not hashed as
 * secret_equal() does: the one-shot SHA256() fetches the algorithm on
 * every call in OpenSSL 3, a measurable share of a verification. */
static bool bytes_eq(const char *a, size_t alen, const char *b, size_t blen, bool consttime)
{
	if (alen != blen)
		return false;
	if (consttime)
		return CRYPTO_memcmp(a, b, alen) == 0;
	return memcmp(a, b, alen) == 0;
}

bool rp_json_str_eq(const struct rp_jval *v, const char *s, bool consttime)
{
	char stack[256], *d;
	size_t dlen, slen = strlen(s);
	bool eq;

	if (v == NULL || v->type != RP_J_STRING)
		return false;
	if (!v->esc)
		return bytes_eq(v->p, v->len, s, slen, consttime);
	if ((d = v->len <= sizeof(stack) ? stack : malloc(v->len)) == NULL)
		return false;
	dlen = decode_string(v->p, v->len, d);
	eq = bytes_eq(d, dlen, s, slen, consttime);
	OPENSSL_cleanse(d, dlen);
	if (d != stack)
		free(d);
	return eq;
}

bool rp_json_str_copy(const struct rp_jval *v, char *out, size_t cap, size_t *outlen)
{
	size_t dlen;

	/* Decoding never lengthens a string: len + 1 bytes always suffice. */
	if (v == NULL || v->type != RP_J_STRING || v->len >= cap)
		return false;
	if (v->esc) {
		dlen = decode_string(v->p, v->len, out);
	} else {
		memcpy(out, v->p, v->len);
		dlen = v->len;
	}
	out[dlen] = '\0';
	*outlen = dlen;
	return true;
}

char *rp_json_str_dup(const struct rp_jval *v)
{
	char *d;
	size_t dlen;

	if (v == NULL || v->type != RP_J_STRING)
		return NULL;
	if ((d = malloc(v->len + 1)) == NULL)
		return NULL;
	if (v->esc) {
		dlen = decode_string(v->p, v->len, d);
	} else {
		memcpy(d, v->p, v->len);
		dlen = v->len;
	}
	d[dlen] = '\0';
	return d;
}

bool rp_json_time(const struct rp_jval *v, int64_t *out)
{
	const int64_t max = (int64_t)1 << 53; /* exact in a double */
	int64_t t = 0;
	double d;
	size_t i;

	if (v == NULL || v->type != RP_J_NUMBER || v->p[0] == '-')
		return false;
	if (v->len <= 15 && num_is_int(v->p, v->len)) {
		for (i = 0; i < v->len; i++)
			t = t * 10 + (v->p[i] - '0');
		*out = t;
		return true;
	}
	/* NumericDate may be fractional: keep the whole seconds. */
	if (check_number(v->p, v->len, false, NULL, &d) != RP_OK || !(d >= 0) || d >= (double)max)
		return false;
	*out = (int64_t)d; /* d >= 0: truncation is floor */
	return true;
}

static json_t *build_value(const struct rp_jval *v);

static json_t *build_string(const char *p, size_t len, bool esc)
{
	json_t *s;
	char *d;

	if (!esc)
		return json_stringn_nocheck(p, len);
	if ((d = malloc(len)) == NULL && len != 0)
		return NULL;
	s = json_stringn_nocheck(d, decode_string(p, len, d));
	free(d);
	return s;
}

static json_t *build_object(const struct rp_jval *v)
{
	struct jp j = { (const unsigned char *)v->p + 1, (const unsigned char *)v->p + v->len };
	struct rp_jval kv, val;
	json_t *obj, *child;
	char stack[128], *key;
	size_t klen;

	if ((obj = json_object()) == NULL)
		return NULL;
	for (;;) {
		ws(&j);
		if (j.p < j.end && *j.p == ',') {
			j.p++;
			ws(&j);
		}
		if (j.p >= j.end || *j.p == '}')
			break;
		if (scan_value(&j, 1, &kv) != RP_OK || kv.type != RP_J_STRING)
			goto fail;
		ws(&j);
		j.p++; /* ':' */
		ws(&j);
		if (scan_value(&j, 1, &val) != RP_OK)
			goto fail;
		key = kv.len <= sizeof(stack) ? stack : malloc(kv.len);
		if (key == NULL)
			goto fail;
		if (kv.esc) {
			klen = decode_string(kv.p, kv.len, key);
		} else {
			memcpy(key, kv.p, kv.len);
			klen = kv.len;
		}
		child = build_value(&val);
		/* Nested duplicates: the last one wins, as in jansson. */
		if (child == NULL || json_object_setn_new_nocheck(obj, key, klen, child) != 0) {
			if (key != stack)
				free(key);
			goto fail;
		}
		if (key != stack)
			free(key);
	}
	return obj;
fail:
	json_decref(obj);
	return NULL;
}

static json_t *build_value(const struct rp_jval *v)
{
	const char *pos = NULL;
	struct rp_jval el;
	json_t *arr, *child;
	long long iv;
	double dv;

	switch (v->type) {
	case RP_J_STRING:
		return build_string(v->p, v->len, v->esc);
	case RP_J_NUMBER:
		if (num_is_int(v->p, v->len)) {
			if (check_number(v->p, v->len, true, &iv, NULL) != RP_OK)
				return NULL;
			return json_integer(iv);
		}
		if (check_number(v->p, v->len, false, NULL, &dv) != RP_OK)
			return NULL;
		return json_real(dv);
	case RP_J_TRUE:
		return json_true();
	case RP_J_FALSE:
		return json_false();
	case RP_J_NULL:
		return json_null();
	case RP_J_OBJECT:
		return build_object(v);
	case RP_J_ARRAY:
		if ((arr = json_array()) == NULL)
			return NULL;
		while (rp_json_array_next(v, &pos, &el)) {
			if ((child = build_value(&el)) == NULL ||
			    json_array_append_new(arr, child) != 0) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	}
	return NULL;
}

json_t *rp_json_build(const struct rp_jmember *m, size_t n)
{
	json_t *obj, *child;
	size_t i;

	if ((obj = json_object()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((child = build_value(&m[i].v)) == NULL ||
		    json_object_setn_new_nocheck(obj, m[i].key, m[i].klen, child) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}
