/* SPDX-License-Identifier: EUPL-1.2 */
/* Bounded JSON: depth counted without recursion before jansson parses or
 * writes, because jansson recurses once per level on a fiber's stack. */
#include "json_bounded.h"

#include <string.h>

#include "err.h"

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
