/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, bounded buffers, base64url, randomness and secret handling. */
#include "rp_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

static const char *const rp_messages[] = {
	[0] = "success",
	[-RP_E_NOMEM] = "out of memory",
	[-RP_E_INVAL] = "invalid argument",
	[-RP_E_MALFORMED] = "malformed input",
	[-RP_E_TOO_BIG] = "input too big",
	[-RP_E_ALG] = "signature algorithm not allowed",
	[-RP_E_KID] = "no key for this token",
	[-RP_E_SIGNATURE] = "bad signature",
	[-RP_E_EXPIRED] = "token expired",
	[-RP_E_IAT_FUTURE] = "token issued in the future",
	[-RP_E_NOT_YET_VALID] = "token not yet valid",
	[-RP_E_ISS] = "wrong issuer",
	[-RP_E_AUD] = "wrong audience",
	[-RP_E_AZP] = "wrong authorized party",
	[-RP_E_NONCE] = "wrong nonce",
	[-RP_E_ACR] = "authentication level too low",
	[-RP_E_SUB] = "subject mismatch",
	[-RP_E_STATE] = "wrong state",
	[-RP_E_PROVIDER_ERROR] = "the provider returned an error",
	[-RP_E_NETWORK] = "provider unreachable",
	[-RP_E_HTTP] = "unexpected HTTP status",
	[-RP_E_DISCOVERY] = "unusable discovery document",
	[-RP_E_JWKS] = "unusable JWKS",
	[-RP_E_INSECURE] = "insecure URL refused",
	[-RP_E_ALG_NONE] = "unsigned token (alg none) refused",
	[-RP_E_ALG_KEY_MISMATCH] = "signature algorithm is not the key's",
	[-RP_E_BASE64] = "token part is not base64url",
	[-RP_E_DECRYPT] = "encrypted token not decrypted",
	[-RP_E_REPLAY] = "token already used",
};

const char *rp_strerror(int code)
{
	if (code > 0 || -code >= (int)(sizeof(rp_messages) / sizeof(rp_messages[0])) ||
	    rp_messages[-code] == NULL)
		return "unknown error";
	return rp_messages[-code];
}

void rp_err_clear(struct rp_error *err)
{
	if (err == NULL)
		return;
	err->code = RP_OK;
	err->oauth_error[0] = '\0';
	err->message[0] = '\0';
}

int rp_fail(struct rp_error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return code;
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

/* Provider-supplied text (error_description, kid, iss) ends up in log
 * lines: keep printable ASCII so it can neither forge lines nor smuggle
 * terminal escapes. */
void rp_sanitize(char *dst, size_t cap, const char *src, size_t len)
{
	size_t i, j = 0;

	if (cap == 0)
		return;
	for (i = 0; i < len && src[i] != '\0' && j + 1 < cap; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[j++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (i < len && src[i] != '\0' && j >= 3 && cap > 4) {
		dst[j - 3] = dst[j - 2] = dst[j - 1] = '.';
	}
	dst[j] = '\0';
}

void rp_buf_init(struct rp_buf *b, size_t max)
{
	b->p = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void rp_buf_release(struct rp_buf *b)
{
	if (b->p != NULL) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	rp_buf_init(b, b->max);
}

int rp_buf_add(struct rp_buf *b, const void *data, size_t len)
{
	size_t need, cap;
	char *p;

	if (len > b->max || b->len > b->max - len)
		return RP_E_TOO_BIG;
	need = b->len + len + 1;
	if (need > b->cap) {
		cap = b->cap != 0 ? b->cap : 256;
		while (cap < need)
			cap *= 2;
		/* Grow by copy, not realloc: the old block may hold a secret
		 * that realloc would leave behind unwiped. */
		if ((p = malloc(cap)) == NULL)
			return RP_E_NOMEM;
		if (b->p != NULL) {
			memcpy(p, b->p, b->len);
			OPENSSL_cleanse(b->p, b->cap);
			free(b->p);
		}
		b->p = p;
		b->cap = cap;
	}
	if (len != 0)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return RP_OK;
}

int rp_buf_adds(struct rp_buf *b, const char *s)
{
	return rp_buf_add(b, s, strlen(s));
}

int rp_buf_add_urlenc(struct rp_buf *b, const char *s)
{
	size_t n = codec_urlenc_len(s);
	char *tmp = malloc(n + 1);
	int rc;

	if (tmp == NULL)
		return RP_E_NOMEM;
	codec_urlenc(tmp, s);
	rc = rp_buf_add(b, tmp, n);
	OPENSSL_cleanse(tmp, n + 1); /* may be a secret (client_secret_post) */
	free(tmp);
	return rc;
}

int rp_buf_add_param(struct rp_buf *b, const char *name, const char *value)
{
	int rc;

	if (b->len != 0 && (rc = rp_buf_add(b, "&", 1)) != RP_OK)
		return rc;
	if ((rc = rp_buf_add_urlenc(b, name)) != RP_OK || (rc = rp_buf_add(b, "=", 1)) != RP_OK)
		return rc;
	return rp_buf_add_urlenc(b, value);
}

char *rp_buf_steal(struct rp_buf *b)
{
	char *p = b->p;

	if (p == NULL)
		p = calloc(1, 1);
	b->p = NULL;
	b->len = b->cap = 0;
	return p;
}

int rp_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap,
		     size_t *outlen)
{
	switch (codec_b64url_decode(s, len, out, cap, outlen)) {
	case CODEC_OK:
		return RP_OK;
	case CODEC_TOO_BIG:
		return RP_E_TOO_BIG;
	default:
		return RP_E_MALFORMED;
	}
}

char *rp_b64url_encode(const void *data, size_t len)
{
	size_t n = codec_b64url_len(len);
	char *out;

	if (n == SIZE_MAX || (out = malloc(n + 1)) == NULL)
		return NULL;
	codec_b64url_encode(out, data, len);
	return out;
}

char *rp_rand_token(size_t nbytes)
{
	unsigned char raw[64];
	char *s;

	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		return NULL;
	s = rp_b64url_encode(raw, nbytes);
	OPENSSL_cleanse(raw, sizeof(raw));
	return s;
}

/* Equal-time compare of secrets of any length: hash both, compare digests. */
bool rp_secret_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];

	SHA256(a, alen, da);
	SHA256(b, blen, db);
	return CRYPTO_memcmp(da, db, sizeof(da)) == 0;
}

void rp_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

void rp_free_secret(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

char *rp_strndup(const char *s, size_t len)
{
	char *d;

	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

bool rp_printable(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}
