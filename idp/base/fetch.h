/* SPDX-License-Identifier: EUPL-1.2 */
#ifndef IDP_FETCH_H
#define IDP_FETCH_H
#include <stddef.h>

/* GET url with libcurl: http or https only, no redirect followed, at most
 * max bytes within timeout_ms (connecting included). IDP_OK with a 200 and
 * its body in *body (NUL-terminated, *len bytes; free() it); IDP_ETOOBIG past
 * max; IDP_EDENIED for another status (in *status); IDP_EIO when no answer
 * came (*why says why). Blocking: call it off the event loops. */
int fetch_bounded(const char *url, long timeout_ms, size_t max, char **body, size_t *len, long *status,
		  const char **why);

#endif
