/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the base helpers (util.c): base64url, UTF-8 and number
 * parsing, bounded buffers and secrets, repeated-failure logging, decimals. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "util.h"

START_TEST(t_b64url)
{
	unsigned char *out;
	size_t n;
	char *e = b64url_encode("\xfb\xff\x00", 3);

	ck_assert_str_eq(e, "-_8A");
	ck_assert_int_eq(b64url_decode(e, strlen(e), &out, &n), IDP_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(out, "\xfb\xff\x00", 3), 0);
	free(out);
	free(e);
	ck_assert_int_eq(b64url_decode("ab+/", 4, &out, &n), IDP_EINVAL);  /* not url alphabet */
	ck_assert_int_eq(b64url_decode("YQ==", 4, &out, &n), IDP_EINVAL);  /* padding */
	ck_assert_int_eq(b64url_decode("YR", 2, &out, &n), IDP_EINVAL);    /* non-canonical */
	ck_assert_int_eq(b64url_decode("Y", 1, &out, &n), IDP_EINVAL);     /* impossible length */
	ck_assert_int_eq(b64url_decode("YQ", 2, &out, &n), IDP_OK);
	ck_assert_uint_eq(n, 1);
	free(out);
}
END_TEST

START_TEST(t_utf8_numbers)
{
	long long v;

	ck_assert(utf8_valid("é€𝄞", strlen("é€𝄞")));
	ck_assert(!utf8_valid("\xc0\xaf", 2));          /* overlong */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
	ck_assert(!utf8_valid("\xe2\x82", 2));          /* truncated */
	/* The eight-bytes-at-a-time ASCII path: a NUL, a stray byte or a
	 * sequence at every offset of a long ASCII run is still seen. */
	for (size_t at = 0; at < 40; at++) {
		char b[48];

		memset(b, 'a', sizeof(b));
		ck_assert(utf8_valid(b, sizeof(b)));
		b[at] = '\0';
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "NUL at %zu accepted", at);
		b[at] = (char)0x80;
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "stray 0x80 at %zu accepted", at);
		b[at] = (char)0xC3;
		b[at + 1] = (char)0xA9;
		ck_assert_msg(utf8_valid(b, sizeof(b)), "é at %zu refused", at);
		ck_assert_msg(!utf8_valid(b, at + 1), "truncated é at %zu accepted", at);
		b[at] = (char)0xC0;
		b[at + 1] = (char)0xAF;
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "overlong at %zu accepted", at);
		b[at] = (char)0x7F;
		b[at + 1] = (char)0x01;
		ck_assert(utf8_valid(b, sizeof(b))); /* DEL and controls are UTF-8 */
	}
	ck_assert(parse_ll("42", 0, 100, &v) && v == 42);
	ck_assert(!parse_ll("42x", 0, 100, &v));
	ck_assert(!parse_ll("", 0, 100, &v));
	ck_assert(!parse_ll("-1", 0, 100, &v));
	ck_assert(!parse_ll("101", 0, 100, &v));
	ck_assert(!parse_ll("99999999999999999999", 0, 1LL << 62, &v));
	ck_assert(!parse_ll(" 1", 0, 100, &v));
}
END_TEST

START_TEST(t_buf_secret)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_adds(&b, "12345678"), IDP_OK);
	ck_assert_int_eq(buf_adds(&b, "9"), IDP_ETOOBIG);
	ck_assert_str_eq(b.p, "12345678");
	buf_release(&b);
	buf_init(&b, 100);
	buf_add_html(&b, "<a href=\"x\">&'</a>");
	ck_assert_str_eq(b.p, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
	buf_release(&b);
	buf_init(&b, 100);
	buf_add_urlenc(&b, "a b&c=é~");
	ck_assert_str_eq(b.p, "a%20b%26c%3D%C3%A9~");
	buf_release(&b);
	{
		/* RFC 4231 test cases 2 and 6 (a key longer than the block). */
		unsigned char mac[32], key[131];
		char hex[65];
		hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
		memset(key, 0xaa, sizeof(key));
		hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First", 54, mac);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		ck_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	}
	ck_assert(secret_equal("abc", 3, "abc", 3));
	ck_assert(!secret_equal("abc", 3, "abd", 3));
	ck_assert(!secret_equal("abc", 3, "abcd", 4));
}
END_TEST

/* What a retried failure logs: its first time, a changed text, then once per
 * interval with the count of the attempts kept quiet; the recovery once. */
START_TEST(t_log_repeat)
{
	struct log_repeat r = {0};
	struct log_capture a, b;
	unsigned quiet = 99, failures = 99;
	bool changed = true;

	idp_log_set_level(LOG_INFO);
	idp_log_capture(&a);
	idp_log(LOG_ERR, "keys: %s is readable by others", "k.pem");
	idp_log(LOG_DEBUG, "not kept: above the level");
	idp_log_capture(&b);
	idp_log(LOG_ERR, "keys: state.json: line %d", 3);
	idp_log_capture(NULL);
	idp_log_set_level(-1);
	ck_assert_str_eq(a.text, "0keys: k.pem is readable by others\n");
	ck_assert_uint_eq(a.len, strlen(a.text));
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1000, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 0);
	ck_assert(!changed);
	for (int t = 1001; t < 1060; t++)
		ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, t, 60, &quiet, &changed), false);
	/* A minute after the last line: again, with the count. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1060, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 59);
	ck_assert(!changed);
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1061, 60, &quiet, &changed), false);
	/* Another text, or the same text with another code: at once. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EINVAL, &b, 1062, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 1);
	ck_assert(changed);
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &b, 1063, 60, &quiet, &changed), true);
	ck_assert(changed);
	/* A clock set back does not silence it. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &b, 10, 60, &quiet, &changed), true);
	ck_assert_int_eq(log_repeat_recovered(&r, &failures), true);
	ck_assert_uint_eq(failures, 65);
	ck_assert_int_eq(log_repeat_recovered(&r, &failures), false);
	/* After a recovery, the same failure is news again. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EINVAL, &b, 11, 60, &quiet, &changed), true);
	ck_assert(!changed);
	/* A capture that overflows keeps whole lines, the last cut short. */
	idp_log_set_level(LOG_INFO);
	idp_log_capture(&a);
	for (int i = 0; i < 40; i++)
		idp_log(LOG_ERR, "%0100d", i);
	idp_log_capture(NULL);
	idp_log_set_level(-1);
	ck_assert_uint_eq(a.len, sizeof(a.text) - 1);
	ck_assert_int_eq(a.text[a.len - 1], '\n');
	ck_assert_uint_eq(strlen(a.text), a.len);
}
END_TEST

/* fmt_u64 / fmt_i64 write what snprintf writes, at the edges and between. */
START_TEST(t_fmt_decimal)
{
	const uint64_t u[] = {0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u, 999999999999999999u,
			      1000000000000000000u, 9999999999999999999u, 10000000000000000000u, UINT64_MAX};
	const int64_t v[] = {0, -1, 1, -9, -10, 10, INT32_MIN, INT32_MAX, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	char got[24], want[24];
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		snprintf(want, sizeof(want), "%llu", (unsigned long long)u[i]);
		ck_assert_uint_eq(fmt_u64(got, u[i]), strlen(want));
		ck_assert_str_eq(got, want);
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		ck_assert_uint_eq(fmt_i64(got, v[i]), strlen(want));
		ck_assert_str_eq(got, want);
	}
	for (int i = 0; i < 10000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t w = x >> (i % 64);

		snprintf(want, sizeof(want), "%llu", (unsigned long long)w);
		ck_assert_uint_eq(fmt_u64(got, w), strlen(want));
		ck_assert_str_eq(got, want);
		snprintf(want, sizeof(want), "%lld", (long long)(int64_t)w);
		ck_assert_uint_eq(fmt_i64(got, (int64_t)w), strlen(want));
		ck_assert_str_eq(got, want);
	}
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("util", t_b64url, t_utf8_numbers, t_buf_secret, t_log_repeat,
			     t_fmt_decimal);
}
