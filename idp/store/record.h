/* SPDX-License-Identifier: EUPL-1.2 */
/* Records of the short-lived grants (authorization codes, access tokens), as
 * held in the store: fields named by one lowercase letter, each written
 * "<letter><decimal length>:<bytes>;" after the tag "R1;". No library
 * writes such a field list; it is a few lines, and it spares the token and
 * userinfo endpoints a JSON parse of their record on every request (jansson
 * took 8.6 us for a 600-byte code record, a tenth of a code exchange). The
 * values that are JSON (the claims) are kept as JSON text, already written,
 * and copied into the answers as they are.
 *
 * record_parse works in place: each value is NUL-terminated where its ';'
 * stood, so the record's values live as long as the text. */
#ifndef IDP_RECORD_H
#define IDP_RECORD_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define RECORD_TAG "R1;"
#define RECORD_MAX_FIELD (1u << 20)

struct record {
	const char *v[26]; /* by letter; NULL when absent */
	size_t n[26];
};

/* Appends one field; the first field of a record starts it. NULL value:
 * nothing (an absent field). IDP_EINVAL for a tag that is not a-z. */
int record_add(struct buf *b, char tag, const char *value, size_t len);
int record_adds(struct buf *b, char tag, const char *value);
int record_add_int(struct buf *b, char tag, long long value);

/* Reads text (len bytes, modified in place). IDP_EINVAL for anything that
 * is not such a record: a missing tag, a bad or oversized length, a field
 * running past the end, a letter seen twice, a NUL inside a value. */
int record_parse(char *text, size_t len, struct record *out);
static inline const char *record_get(const struct record *r, char tag)
{
	return tag >= 'a' && tag <= 'z' ? r->v[tag - 'a'] : NULL;
}
static inline size_t record_len(const struct record *r, char tag)
{
	return tag >= 'a' && tag <= 'z' ? r->n[tag - 'a'] : 0;
}
/* A decimal field, strict; false when absent or not a number. */
bool record_int(const struct record *r, char tag, long long *out);

#endif
