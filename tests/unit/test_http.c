/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the HTTP helpers: the client address behind trusted
 * proxies (http/address.c) and strict parameters (http/request.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config.h"
#include "http.h"
#include "util.h"

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

Suite *test_suite(void)
{
	return TEST_SUITE_OF("http", t_client_address, t_params);
}
