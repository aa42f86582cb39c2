/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: the grant record reader (record.h) the token and userinfo
 * endpoints apply to what the store holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct record rec;
	struct buf b;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (record_parse(s, size, &rec) == IDP_OK) {
		/* What parses writes back to the same fields, and reads again. */
		struct record again;

		buf_init(&b, 1 << 22);
		for (char t = 'a'; t <= 'z'; t++) {
			const char *v = record_get(&rec, t);

			if (v != NULL && (strlen(v) != record_len(&rec, t) ||
					  record_add(&b, t, v, record_len(&rec, t)) != IDP_OK))
				abort();
		}
		if (b.len > 0 && record_parse(b.p, b.len, &again) != IDP_OK)
			abort();
		buf_release(&b);
	}
	free(s);
	return 0;
}
