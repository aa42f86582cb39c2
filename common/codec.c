/* SPDX-License-Identifier: Apache-2.0 */
/* The shared encodings (codec.h). Hand-written: each is a few lines that
 * OpenSSL and libcurl only offer with another alphabet (EVP_EncodeBlock is
 * base64 with padding), another strictness (curl_easy_unescape repairs and
 * accepts NUL), or an allocation per call on paths measured hot (the ID
 * token's base64url, JWS verification in librp). */
#include "codec.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int codec_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static const char b64url_alpha[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t codec_b64url_len(size_t n)
{
	if (n > (SIZE_MAX - 4) / 4 * 3)
		return SIZE_MAX;
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t codec_b64url_encode(char *out, const void *data, size_t n)
{
	const unsigned char *in = data;
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64url_alpha[v >> 18];
		out[o++] = b64url_alpha[v >> 12 & 63];
		out[o++] = b64url_alpha[v >> 6 & 63];
		out[o++] = b64url_alpha[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = b64url_alpha[v >> 18];
		out[o++] = b64url_alpha[v >> 12 & 63];
	} else if (n - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64url_alpha[v >> 18];
		out[o++] = b64url_alpha[v >> 12 & 63];
		out[o++] = b64url_alpha[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

/* Decoding tables, one per position in a quad, the 6-bit value already
 * shifted into place and bit 31 set for bytes outside the alphabet: a quad
 * is four loads and three ORs, one test for validity (librp verifies tokens
 * at the rate of OpenSSL's own verify). */
#define B64V(c)                                                                       \
	((c) >= 'A' && (c) <= 'Z' ? (c) - 'A' :                                       \
	 (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 :                                  \
	 (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 :                                  \
	 (c) == '-' ? 62 : (c) == '_' ? 63 : -1)
#define B64E(c, shift) (B64V(c) < 0 ? 0x80000000u : (uint32_t)B64V(c) << (shift))
#define B64R4(c, s) B64E(c, s), B64E(c + 1, s), B64E(c + 2, s), B64E(c + 3, s)
#define B64R16(c, s) B64R4(c, s), B64R4(c + 4, s), B64R4(c + 8, s), B64R4(c + 12, s)
#define B64R64(c, s) B64R16(c, s), B64R16(c + 16, s), B64R16(c + 32, s), B64R16(c + 48, s)
#define B64TABLE(s) { B64R64(0, s), B64R64(64, s), B64R64(128, s), B64R64(192, s) }
static const uint32_t b64d[4][256] = { B64TABLE(18), B64TABLE(12), B64TABLE(6), B64TABLE(0) };

size_t codec_b64url_max(size_t len)
{
	return len / 4 * 3 + (len % 4 > 1 ? len % 4 - 1 : 0);
}

enum codec_result codec_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap,
				      size_t *outlen)
{
	const unsigned char *in = (const unsigned char *)s;
	size_t i, o = 0, rem = len % 4;
	uint32_t acc;

	*outlen = 0;
	if (rem == 1)
		return CODEC_MALFORMED;
	if (codec_b64url_max(len) > cap)
		return CODEC_TOO_BIG;
	for (i = 0; i + 4 <= len; i += 4) {
		acc = b64d[0][in[i]] | b64d[1][in[i + 1]] | b64d[2][in[i + 2]] | b64d[3][in[i + 3]];
		if (acc & 0x80000000u)
			return CODEC_MALFORMED;
		out[o++] = (unsigned char)(acc >> 16);
		out[o++] = (unsigned char)(acc >> 8);
		out[o++] = (unsigned char)acc;
	}
	if (rem != 0) {
		acc = b64d[0][in[i]] | b64d[1][in[i + 1]] | (rem == 3 ? b64d[2][in[i + 2]] : 0);
		if (acc & 0x80000000u)
			return CODEC_MALFORMED;
		if ((rem == 2 && (acc & 0xffff) != 0) || (rem == 3 && (acc & 0xff) != 0))
			return CODEC_MALFORMED;
		out[o++] = (unsigned char)(acc >> 16);
		if (rem == 3)
			out[o++] = (unsigned char)(acc >> 8);
	}
	*outlen = o;
	return CODEC_OK;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

size_t codec_urlenc_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += unreserved((unsigned char)*s) ? 1 : 3;
	return n;
}

size_t codec_urlenc(char *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	return o;
}

char *codec_form_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t o = 0;
	int hi, lo;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			if (i + 2 >= len || (hi = codec_hexval((unsigned char)s[i + 1])) < 0 ||
			    (lo = codec_hexval((unsigned char)s[i + 2])) < 0 || (hi == 0 && lo == 0))
				goto bad;
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			goto bad;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (codec_utf8_valid(out, o))
		return out;
bad:
	/* What was decoded may be a password: wiped before the free. */
	explicit_bzero(out, len + 1);
	free(out);
	return NULL;
}

bool codec_utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c;
		size_t n;
		uint32_t cp;

		/* ASCII without NUL, eight bytes at a time (tokens, ids, URLs:
		 * nearly everything the provider writes into JSON). */
		while (i + 8 <= len) {
			uint64_t w;

			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080u) != 0 ||
			    ((w - 0x0101010101010101u) & ~w & 0x8080808080808080u) != 0)
				break;
			i += 8;
		}
		if (i == len)
			break;
		c = s[i];
		if (c == 0)
			return false;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}
