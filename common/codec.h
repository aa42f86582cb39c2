/* SPDX-License-Identifier: Apache-2.0 */
/* The encodings the daemon, librp and the bench tools all speak: base64url,
 * percent-encoding, form decoding, hex digits and UTF-8 validation. One
 * implementation each, compiled into each of them (no allocation policy, no
 * error enum of either side: callers map the results to their own). */
#ifndef IDP_COMMON_CODEC_H
#define IDP_COMMON_CODEC_H

#include <stdbool.h>
#include <stddef.h>

/* The value of a hexadecimal digit, or -1. */
int codec_hexval(int c);

/* base64url without padding (RFC 4648 5). The text of n bytes is
 * codec_b64url_len(n) characters; codec_b64url_encode writes them and a NUL
 * at out and returns their number. SIZE_MAX: n is too large to encode. */
size_t codec_b64url_len(size_t n);
size_t codec_b64url_encode(char *out, const void *in, size_t n);

/* Strict decoding: the alphabet only (no padding, no white space), and the
 * unused low bits of the last character zero, so that a value has one text.
 * At most codec_b64url_max(len) bytes to out. */
enum codec_result { CODEC_OK = 0, CODEC_MALFORMED = -1, CODEC_TOO_BIG = -2 };
size_t codec_b64url_max(size_t len);
enum codec_result codec_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap,
				      size_t *outlen);

/* Percent-encoding of everything but RFC 3986's unreserved characters: the
 * text of s is codec_urlenc_len(s) characters; codec_urlenc writes them
 * (no NUL) and returns their number. */
size_t codec_urlenc_len(const char *s);
size_t codec_urlenc(char *out, const char *s);

/* application/x-www-form-urlencoded decoding into a fresh NUL-ended string
 * (malloc): '+' is a space; a '%' not followed by two hex digits, an encoded
 * or raw NUL, or a result that is not UTF-8 gives NULL (refused, never
 * repaired). */
char *codec_form_decode(const char *s, size_t len);

/* Well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF) without NUL. */
bool codec_utf8_valid(const char *s, size_t len);

#endif
