/* SPDX-License-Identifier: Apache-2.0 */
#include "buf.h"
#include "codec.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

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

enum buf_result buf_reserve(struct buf *b, size_t extra)
{
	size_t need, ncap;
	char *np;

	if (extra > b->max || b->len > b->max - extra)
		return BUF_TOO_BIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return BUF_OK;
	ncap = b->cap ? b->cap : 1024;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max + 1)
		ncap = b->max + 1;
	/* No realloc: the old block may hold a secret, wipe it before freeing. */
	if ((np = malloc(ncap)) == NULL)
		return BUF_NOMEM;
	if (b->p != NULL) {
		memcpy(np, b->p, b->len + 1);
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	} else {
		np[0] = '\0';
	}
	b->p = np;
	b->cap = ncap;
	return BUF_OK;
}

enum buf_result buf_append(struct buf *b, const void *data, size_t len)
{
	enum buf_result rc;

	if ((rc = buf_reserve(b, len)) != BUF_OK)
		return rc;
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
	b->p[b->len] = '\0';
	return BUF_OK;
}

enum buf_result buf_append_urlenc(struct buf *b, const char *s)
{
	enum buf_result rc;

	if ((rc = buf_reserve(b, codec_urlenc_len(s))) != BUF_OK)
		return rc;
	b->len += codec_urlenc(b->p + b->len, s);
	b->p[b->len] = '\0';
	return BUF_OK;
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
