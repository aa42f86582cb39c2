/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: the strict form/query parser every endpoint relies on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct params p;
	char *s = malloc(size + 1);

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (params_parse(s, size, 64, &p) == IDP_OK) {
		for (size_t i = 0; i < p.n; i++) {
			/* Every value that comes out is NUL-free UTF-8. */
			if (!utf8_valid(p.v[i].value, strlen(p.v[i].value)) || p.v[i].name[0] == '\0')
				abort();
			(void)params_get(&p, p.v[i].name);
		}
	}
	params_clear(&p);
	free(s);
	return 0;
}
