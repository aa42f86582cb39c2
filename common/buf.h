/* SPDX-License-Identifier: Apache-2.0 */
/* The bounded growable buffer the daemon and librp both build their texts
 * in: it refuses to grow past its maximum and wipes every block it lets go,
 * since it often holds a secret (a client secret, a token). Results are the
 * buffer's own; each side maps them to its error enum. */
#ifndef IDP_COMMON_BUF_H
#define IDP_COMMON_BUF_H

#include <stddef.h>

struct buf {
	char *p;        /* NUL-terminated once anything was appended */
	size_t len;
	size_t cap;
	size_t max;     /* an append past this fails with BUF_TOO_BIG */
};

enum buf_result { BUF_OK = 0, BUF_NOMEM = -1, BUF_TOO_BIG = -2 };

void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b); /* wipes then frees; b stays usable, empty */
/* Room for extra more bytes and a NUL after them. */
enum buf_result buf_reserve(struct buf *b, size_t extra);
enum buf_result buf_append(struct buf *b, const void *data, size_t len);
/* s percent-encoded (codec_urlenc: RFC 3986 unreserved kept). */
enum buf_result buf_append_urlenc(struct buf *b, const char *s);
/* Hands the bytes to the caller (free(); "" when nothing was appended),
 * leaves b empty. NULL only when that empty string cannot be allocated. */
char *buf_steal(struct buf *b);

#endif
