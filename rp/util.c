/* SPDX-License-Identifier: Apache-2.0 */
/* Errors, the bounded buffer's appends with librp's codes, base64url decoding. */
#include "rp_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


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

/* The buffer's results as librp's codes. */
static int buf_code(enum buf_result rc)
{
	return rc == BUF_OK ? RP_OK : rc == BUF_TOO_BIG ? RP_E_TOO_BIG : RP_E_NOMEM;
}

int rp_buf_add(struct buf *b, const void *data, size_t len)
{
	return buf_code(buf_append(b, data, len));
}

int rp_buf_adds(struct buf *b, const char *s)
{
	return rp_buf_add(b, s, strlen(s));
}

/* Encoded in place, never through a copy: the value may be a secret
 * (client_secret_post). */
int rp_buf_add_urlenc(struct buf *b, const char *s)
{
	return buf_code(buf_append_urlenc(b, s));
}

int rp_buf_add_param(struct buf *b, const char *name, const char *value)
{
	int rc;

	if (b->len != 0 && (rc = rp_buf_add(b, "&", 1)) != RP_OK)
		return rc;
	if ((rc = rp_buf_add_urlenc(b, name)) != RP_OK || (rc = rp_buf_add(b, "=", 1)) != RP_OK)
		return rc;
	return rp_buf_add_urlenc(b, value);
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
