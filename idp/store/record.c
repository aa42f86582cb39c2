/* SPDX-License-Identifier: EUPL-1.2 */
/* The grant record field list (record.h). */
#include "record.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

int record_add(struct buf *b, char tag, const char *value, size_t len)
{
	char head[32];
	size_t n;
	int rc;

	if (tag < 'a' || tag > 'z')
		return IDP_EINVAL;
	if (value == NULL)
		return IDP_OK;
	if (len > RECORD_MAX_FIELD || memchr(value, '\0', len) != NULL)
		return IDP_EINVAL;
	if (b->len == 0 && (rc = buf_add(b, RECORD_TAG, sizeof(RECORD_TAG) - 1)) != IDP_OK)
		return rc;
	head[0] = tag;
	n = 1 + fmt_u64(head + 1, len);
	head[n++] = ':';
	if ((rc = buf_add(b, head, n)) != IDP_OK || (rc = buf_add(b, value, len)) != IDP_OK)
		return rc;
	return buf_add(b, ";", 1);
}

int record_adds(struct buf *b, char tag, const char *value)
{
	return record_add(b, tag, value, value != NULL ? strlen(value) : 0);
}

int record_add_int(struct buf *b, char tag, long long value)
{
	char d[24];
	size_t n = fmt_i64(d, value);

	return record_add(b, tag, d, n);
}

int record_parse(char *text, size_t len, struct record *out)
{
	size_t i = sizeof(RECORD_TAG) - 1;

	memset(out, 0, sizeof(*out));
	if (text == NULL || len < i || memcmp(text, RECORD_TAG, i) != 0)
		return IDP_EINVAL;
	while (i < len) {
		char tag = text[i++];
		size_t n = 0, digits = 0;

		if (tag < 'a' || tag > 'z' || out->v[tag - 'a'] != NULL)
			return IDP_EINVAL;
		/* The length: 1 to 7 digits, no leading zero but "0" itself. */
		while (i < len && text[i] >= '0' && text[i] <= '9' && digits < 8) {
			n = n * 10 + (size_t)(text[i++] - '0');
			digits++;
		}
		if (digits == 0 || digits > 7 || (digits > 1 && text[i - digits] == '0') ||
		    n > RECORD_MAX_FIELD || i >= len || text[i] != ':')
			return IDP_EINVAL;
		i++;
		if (n >= len - i || text[i + n] != ';' || memchr(text + i, '\0', n) != NULL)
			return IDP_EINVAL;
		text[i + n] = '\0';
		out->v[tag - 'a'] = text + i;
		out->n[tag - 'a'] = n;
		i += n + 1;
	}
	return IDP_OK;
}

bool record_int(const struct record *r, char tag, long long *out)
{
	const char *v = record_get(r, tag);

	return v != NULL && parse_ll(v, -LLONG_MAX, LLONG_MAX, out);
}
