/* SPDX-License-Identifier: EUPL-1.2 */
/* The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and
 * 2) that a trusted proxy sends first on each connection to name the client
 * it forwards (listen.proxy_protocol). A pure parser: loop.c peeks at the
 * connection's first bytes, asks this, and reads exactly what it consumed. */
#ifndef IDP_PROXY_PROTO_H
#define IDP_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Version 1: a line of at most 107 bytes, CRLF included (the spec's bound). */
#define PP_V1_MAX 107
/* Version 2: a 16-byte head and its length field's bytes (addresses and
 * TLVs). The field may say 65535; an address block with the few TLVs a
 * proxy adds (ALPN, authority, TLS details, a CRC) fits in far less. */
#define PP_V2_LEN_MAX 1024
/* The most bytes any accepted header takes: what a caller peeks at. */
#define PP_HEADER_MAX (16 + PP_V2_LEN_MAX)

enum pp_result {
	PP_NEED_MORE, /* a valid beginning: wait for the rest */
	PP_BAD,       /* not a header, or one refused: close the connection */
	PP_DONE,      /* a whole header: see struct pp_header */
};

struct pp_header {
	size_t consumed; /* its bytes: what to read before the HTTP request */
	/* v1 UNKNOWN, v2 LOCAL (a proxy's health check), v2 UNSPEC or UNIX:
	 * no client address; the connection's own peer stands. */
	bool keep_peer;
	struct sockaddr_storage addr; /* the client's (AF_INET, AF_INET6) */
	socklen_t addrlen;
};

/* Parses the first len bytes of a connection; out means something only
 * after PP_DONE. A version 1 line or a version 2 length past the bounds
 * above is PP_BAD as soon as that shows, whatever follows. */
enum pp_result pp_parse(const unsigned char *b, size_t len, struct pp_header *out);

#endif
