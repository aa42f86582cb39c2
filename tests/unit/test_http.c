/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the HTTP helpers: the client address behind trusted
 * proxies (http/address.c), the PROXY protocol header (proxy_proto.c) and
 * strict parameters (http/request.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config.h"
#include "http.h"
#include "proxy_proto.h"
#include "util.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* listen.trusted_proxies: only a trusted peer's forwarding headers count,
 * the rightmost untrusted hop is the client, malformed falls back to the peer. */
START_TEST(t_client_address)
{
	struct cidr px[3], bad;
	struct config cfg = {0};
	char out[64];

	ck_assert(cidr_parse("10.0.0.0/8", &px[0]));
	ck_assert(cidr_parse("127.0.0.1", &px[1]));
	ck_assert(cidr_parse("fd00::/8", &px[2]));
	ck_assert(!cidr_parse("10.0.0.0/33", &bad));
	ck_assert(!cidr_parse("10.0.0/8", &bad));
	ck_assert(!cidr_parse("fd00::/129", &bad));
	ck_assert(!cidr_parse("10.0.0.1/", &bad));
	ck_assert(!cidr_parse("example.org", &bad));
	cfg.trusted_proxies = px;
	cfg.n_trusted_proxies = 3;
	ck_assert(cidr_list_has(px, 3, "10.200.1.2"));
	ck_assert(cidr_list_has(px, 3, "::ffff:127.0.0.1"));
	ck_assert(cidr_list_has(px, 3, "fdff::1"));
	ck_assert(!cidr_list_has(px, 3, "11.0.0.1"));
	ck_assert(!cidr_list_has(px, 3, "127.0.0.2"));
	ck_assert(!cidr_list_has(px, 3, "fe00::1"));
	/* From anyone else, ignored. */
	ck_assert_int_eq(http_client_address(&cfg, "192.0.2.9", "198.51.100.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "192.0.2.9");
	/* The rightmost hop that is not a trusted proxy; what the client forged
	 * to its left is never read. */
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.1.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "198.51.100.1");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "2001:DB8::1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "2001:db8::1");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "10.0.0.5,127.0.0.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "10.0.0.5"); /* all trusted: the leftmost */
	/* Forwarded (RFC 7239), used when there is no X-Forwarded-For. */
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", NULL,
					     "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https;by=10.0.0.1", out), IDP_OK);
	ck_assert_str_eq(out, "2001:db8::7");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", NULL, "proto=https;For=198.51.100.3:80", out), IDP_OK);
	ck_assert_str_eq(out, "198.51.100.3");
	/* Malformed from a trusted proxy: the peer, and an error to log. */
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "198.51.100.1, not-an-ip", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "127.0.0.1");
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "", NULL, out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "198.51.100.1:80", NULL, out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "for=unknown", out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "for=\"[2001:db8::1\"", out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "proto=https", out), IDP_OK);
	ck_assert_str_eq(out, "127.0.0.1");
}
END_TEST

START_TEST(t_params)
{
	struct params p;

	ck_assert_int_eq(params_parse("a=1&b=x+y%21&c=", 15, 8, &p), IDP_OK);
	ck_assert_str_eq(params_get(&p, "a"), "1");
	ck_assert_str_eq(params_get(&p, "b"), "x y!");
	ck_assert_ptr_null(params_get(&p, "c")); /* empty = omitted (RFC 6749 3.1) */
	ck_assert_ptr_null(p.dup);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=1&a=2", 7, 8, &p), IDP_OK);
	ck_assert_str_eq(p.dup, "a");
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%zz", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%4", 4, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%00", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%C3%28", 8, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%C3%A9", 8, 8, &p), IDP_OK);
	ck_assert_str_eq(params_get(&p, "a"), "é");
	params_clear(&p);
	ck_assert_int_eq(params_parse("=1", 2, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a&b&c", 5, 2, &p), IDP_ETOOBIG);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a\0b=1", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
}
END_TEST

/* pp_parse on a whole string s (its length without the NUL). */
static enum pp_result pp_str(const char *s, size_t n, struct pp_header *h)
{
	return pp_parse((const unsigned char *)s, n, h);
}

/* The client address of a PP_DONE, as text. */
static const char *pp_addr(const struct pp_header *h, char out[64], unsigned *port)
{
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&h->addr;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&h->addr;

	if (h->addr.ss_family == AF_INET) {
		inet_ntop(AF_INET, &a4->sin_addr, out, 64);
		*port = ntohs(a4->sin_port);
	} else {
		inet_ntop(AF_INET6, &a6->sin6_addr, out, 64);
		*port = ntohs(a6->sin6_port);
	}
	return out;
}

/* A v2 header: signature, version and command, family, length, body. */
static size_t pp_v2(unsigned char *b, unsigned ver_cmd, unsigned fam, const unsigned char *body, size_t n,
		    unsigned announced)
{
	memcpy(b, "\r\n\r\n\0\r\nQUIT\n", 12);
	b[12] = (unsigned char)ver_cmd;
	b[13] = (unsigned char)fam;
	b[14] = (unsigned char)(announced >> 8);
	b[15] = (unsigned char)announced;
	memcpy(b + 16, body, n);
	return 16 + n;
}

/* listen.proxy_protocol: versions 1 and 2, whole, in pieces, hostile. */
START_TEST(t_proxy_header)
{
	static const char v1[] = "PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\n";
	static const char v1_6[] = "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n";
	unsigned char b[PP_HEADER_MAX + 64], body[PP_V2_LEN_MAX + 8];
	struct pp_header h;
	char a[64];
	unsigned port;
	size_t n;

	/* v1: what it consumed is the line, never the request after it. */
	ck_assert_int_eq(pp_str(v1, sizeof(v1) - 1, &h), PP_DONE);
	ck_assert_uint_eq(h.consumed, 45);
	ck_assert(!h.keep_peer);
	ck_assert_str_eq(pp_addr(&h, a, &port), "192.0.2.7");
	ck_assert_uint_eq(port, 56324);
	/* Every shorter prefix of it asks for more. */
	for (size_t i = 0; i < 45; i++)
		ck_assert_int_eq(pp_str(v1, i, &h), PP_NEED_MORE);
	ck_assert_int_eq(pp_str(v1_6, sizeof(v1_6) - 1, &h), PP_DONE);
	ck_assert_str_eq(pp_addr(&h, a, &port), "2001:db8::7");
	ck_assert_uint_eq(port, 65535);
	ck_assert_int_eq(pp_str("PROXY UNKNOWN\r\n", 15, &h), PP_DONE);
	ck_assert(h.keep_peer);
	ck_assert_uint_eq(h.consumed, 15);
	ck_assert_int_eq(pp_str("PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\nGET", 38, &h), PP_DONE);
	ck_assert(h.keep_peer);
	ck_assert_uint_eq(h.consumed, 35);
	/* Refused: not a header, a wrong family, field or separator. */
	ck_assert_int_eq(pp_str("GET / HTTP/1.1\r\n", 16, &h), PP_BAD);
	ck_assert_int_eq(pp_str("G", 1, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXX", 5, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\n", 44, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\rX", 45, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n", 41, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n", 38, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.07 198.51.100.1 1 2\r\n", 40, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 65536 2\r\n", 43, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 01 2\r\n", 40, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 -1 2\r\n", 40, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7  198.51.100.1 1 2\r\n", 40, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 1 2 3\r\n", 41, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7 198.51.100.1 1\r\n", 37, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY UDP4 192.0.2.7 198.51.100.1 1 2\r\n", 39, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY UNKNOWNX\r\n", 16, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 192.0.2.7\t198.51.100.1 1 2\r\n", 39, &h), PP_BAD);
	ck_assert_int_eq(pp_str("PROXY TCP4 1.2.3.4\0", 19, &h), PP_BAD);
	/* 107 bytes at most, CRLF included: the longest line passes, one
	 * byte more is refused once 107 bytes came without an end. */
	memset(b, 'x', sizeof(b));
	memcpy(b, "PROXY UNKNOWN ", 14);
	memcpy(b + 105, "\r\n", 2);
	ck_assert_int_eq(pp_parse(b, 107, &h), PP_DONE);
	ck_assert_uint_eq(h.consumed, 107);
	memset(b + 105, 'x', 2);
	memcpy(b + 106, "\r\n", 2);
	ck_assert_int_eq(pp_parse(b, 106, &h), PP_NEED_MORE);
	ck_assert_int_eq(pp_parse(b, 107, &h), PP_BAD);
	ck_assert_int_eq(pp_parse(b, 108, &h), PP_BAD);

	/* v2, TCP over IPv4 with a TLV (skipped), then the request. */
	memcpy(body, "\xc0\x00\x02\x07\xc6\x33\x64\x01\xdc\x04\x01\xbb", 12);
	memcpy(body + 12, "\x04\x00\x02" "ab", 5); /* PP2_TYPE_NOOP */
	n = pp_v2(b, 0x21, 0x11, body, 17, 17);
	memcpy(b + n, "GET / HTTP/1.1\r\n", 16);
	ck_assert_int_eq(pp_parse(b, n + 16, &h), PP_DONE);
	ck_assert_uint_eq(h.consumed, n);
	ck_assert(!h.keep_peer);
	ck_assert_str_eq(pp_addr(&h, a, &port), "192.0.2.7");
	ck_assert_uint_eq(port, 56324);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(pp_parse(b, i, &h), PP_NEED_MORE);
	/* A TLV running past the announced length, a short address block. */
	n = pp_v2(b, 0x21, 0x11, body, 17, 16);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_BAD);
	n = pp_v2(b, 0x21, 0x11, body, 11, 11);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_BAD);
	/* IPv6. */
	memset(body, 0, 36);
	memcpy(body, "\x20\x01\x0d\xb8", 4);
	body[15] = 7;
	body[32] = 0x12;
	body[33] = 0x34;
	n = pp_v2(b, 0x21, 0x21, body, 36, 36);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert_str_eq(pp_addr(&h, a, &port), "2001:db8::7");
	ck_assert_uint_eq(port, 0x1234);
	/* LOCAL (a health check), UNSPEC, UNIX: the peer's own address. */
	n = pp_v2(b, 0x20, 0x00, body, 0, 0);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert(h.keep_peer);
	ck_assert_uint_eq(h.consumed, 16);
	n = pp_v2(b, 0x20, 0x11, body, 12, 12);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert(h.keep_peer);
	n = pp_v2(b, 0x21, 0x00, body, 0, 0);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert(h.keep_peer);
	memset(body, 0, 216);
	n = pp_v2(b, 0x21, 0x31, body, 216, 216);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert(h.keep_peer);
	/* A wrong version, command or family; a length past the bound is
	 * refused from the head alone, before its body could arrive. */
	n = pp_v2(b, 0x11, 0x11, body, 12, 12);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_BAD);
	n = pp_v2(b, 0x22, 0x11, body, 12, 12);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_BAD);
	n = pp_v2(b, 0x21, 0x41, body, 12, 12);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_BAD);
	n = pp_v2(b, 0x21, 0x11, body, 0, 65535);
	ck_assert_int_eq(pp_parse(b, 16, &h), PP_BAD);
	n = pp_v2(b, 0x21, 0x11, body, 0, PP_V2_LEN_MAX + 1);
	ck_assert_int_eq(pp_parse(b, 16, &h), PP_BAD);
	memset(body, 0, sizeof(body));
	body[12] = 4; /* a NOOP TLV filling the rest */
	body[13] = (PP_V2_LEN_MAX - 15) >> 8;
	body[14] = (PP_V2_LEN_MAX - 15) & 0xff;
	n = pp_v2(b, 0x21, 0x11, body, PP_V2_LEN_MAX, PP_V2_LEN_MAX);
	ck_assert_int_eq(pp_parse(b, n, &h), PP_DONE);
	ck_assert_uint_eq(h.consumed, PP_HEADER_MAX);
	/* A broken signature. */
	n = pp_v2(b, 0x21, 0x11, body, 12, 12);
	b[7] = 'q';
	ck_assert_int_eq(pp_parse(b, 8, &h), PP_BAD);
	ck_assert_int_eq(pp_parse(b, 7, &h), PP_NEED_MORE);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("http", t_client_address, t_params, t_proxy_header);
}
