/* SPDX-License-Identifier: EUPL-1.2 */
/* The id_token_hint check (id_token_hint.h). */
#include "id_token_hint.h"
#include "json_bounded.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool jws_is_access_token(const char *jws)
{
	const char *dot = jws != NULL ? strchr(jws, '.') : NULL;
	unsigned char *dec = NULL;
	size_t len = 0;
	json_t *h;
	bool at = true; /* unreadable: treated as not an ID token */

	if (dot == NULL || b64url_decode(jws, (size_t)(dot - jws), &dec, &len) != IDP_OK)
		return true;
	if (json_parse_bounded((const char *)dec, len, len, JSON_IN_DEPTH, 0, &h) == IDP_OK) {
		const char *typ = json_string_value(json_object_get(h, "typ"));

		/* RFC 9068 2.1: at+jwt, or application/at+jwt. */
		at = typ != NULL && (strcasecmp(typ, "at+jwt") == 0 || strcasecmp(typ, "application/at+jwt") == 0);
		json_decref(h);
	}
	free(dec);
	return at;
}
