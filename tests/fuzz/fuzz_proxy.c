/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: the PROXY protocol header (listen.proxy_protocol), the first
 * bytes of every connection from a trusted proxy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pp_header h, again;
	enum pp_result r = pp_parse(data, size, &h);

	if (r != PP_DONE)
		return 0;
	/* A header is whole within its bounds and within what was given, its
	 * address one the daemon can hand on; parsed alone it is the same. */
	if (h.consumed == 0 || h.consumed > size || h.consumed > PP_HEADER_MAX)
		abort();
	if (!h.keep_peer && !(h.addr.ss_family == AF_INET && h.addrlen == sizeof(struct sockaddr_in)) &&
	    !(h.addr.ss_family == AF_INET6 && h.addrlen == sizeof(struct sockaddr_in6)))
		abort();
	if (pp_parse(data, h.consumed, &again) != PP_DONE || again.consumed != h.consumed ||
	    again.keep_peer != h.keep_peer || (!h.keep_peer && memcmp(&again.addr, &h.addr, h.addrlen) != 0))
		abort();
	/* Every prefix of it asks for more, never refuses. */
	for (size_t i = 0; i < h.consumed; i++)
		if (pp_parse(data, i, &again) != PP_NEED_MORE)
			abort();
	return 0;
}
