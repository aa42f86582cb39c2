/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the JSON the endpoints write by hand: flat objects
 * (util.c) and values copied from records (oidc.c); jansson reads them back. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "claims.h"
#include "util.h"

/* The token endpoint's JSON writer: what it writes, jansson reads back
 * as the same strings and numbers, whatever the bytes. */
START_TEST(t_json_writer)
{
	static const char *const hostile[] = {
		"plain", "", "quote\" back\\slash", "\x01\x1f\x7f ctl\n\r\t\b\f", "</script>",
		"\xc3\xa9l\xc3\xa8ve \xe2\x82\xac \xf0\x9f\x98\x80", "\"},\"admin\":true,\"x\":{\"",
	};
	struct buf b;
	json_t *doc, *arr;
	json_error_t je;
	unsigned char bin[300];
	char id[23], id2[23];

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(buf_add(&b, "{", 1), IDP_OK);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		char name[8];

		snprintf(name, sizeof(name), "k%zu", i);
		ck_assert_int_eq(buf_json_member_str(&b, i == 0, name, hostile[i]), IDP_OK);
	}
	ck_assert_int_eq(buf_json_member_int(&b, false, "n", -9007199254740991LL), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "}", 1), IDP_OK);
	doc = json_loads(b.p, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(doc != NULL, "%s: %s", b.p, je.text);
	ck_assert_uint_eq(json_object_size(doc), sizeof(hostile) / sizeof(hostile[0]) + 1);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		char name[8];

		snprintf(name, sizeof(name), "k%zu", i);
		ck_assert_str_eq(json_string_value(json_object_get(doc, name)), hostile[i]);
	}
	ck_assert(json_integer_value(json_object_get(doc, "n")) == -9007199254740991LL);
	json_decref(doc);
	/* Not UTF-8: refused, as json_string() refuses it. */
	ck_assert_int_eq(buf_add_json_str(&b, "\xc3("), IDP_EINVAL);
	ck_assert_int_eq(buf_add_json_str(&b, "\xed\xa0\x80"), IDP_EINVAL); /* a surrogate */
	buf_release(&b);
	/* Every control byte, one string. */
	buf_init(&b, 1 << 16);
	for (int c = 1; c < 0x20; c++)
		bin[c - 1] = (unsigned char)c;
	bin[0x1f] = 0;
	ck_assert_int_eq(buf_add(&b, "[", 1), IDP_OK);
	ck_assert_int_eq(buf_add_json_str(&b, (const char *)bin), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "]", 1), IDP_OK);
	arr = json_loads(b.p, 0, &je);
	ck_assert_msg(arr != NULL, "%s", je.text);
	ck_assert_str_eq(json_string_value(json_array_get(arr, 0)), (const char *)bin);
	json_decref(arr);
	buf_release(&b);
	/* The eight-bytes-at-a-time path: each byte that needs escaping (and
	 * some that do not: DEL, 0x80-0xff in UTF-8, the neighbours of '"' and
	 * '\\') at every offset of a long plain run comes back as it went. */
	{
		static const char *const probes[] = {"\"", "\\", "\x01", "\x1f", "\n", "\x7f", "\xc3\xa9",
						     "\x21", "\x23", "\x5b", "\x5d", " "};

		for (size_t pi = 0; pi < sizeof(probes) / sizeof(probes[0]); pi++)
			for (size_t at = 0; at < 24; at++) {
				char str[64];
				size_t pl = strlen(probes[pi]);

				memset(str, 'x', sizeof(str));
				memcpy(str + at, probes[pi], pl);
				str[at + pl + 17] = '\0';
				buf_init(&b, 1 << 16);
				ck_assert_int_eq(buf_add(&b, "[", 1), IDP_OK);
				ck_assert_int_eq(buf_add_json_str(&b, str), IDP_OK);
				ck_assert_int_eq(buf_add(&b, "]", 1), IDP_OK);
				arr = json_loadb(b.p, b.len, 0, &je);
				ck_assert_msg(arr != NULL, "probe %zu at %zu: %s", pi, at, je.text);
				ck_assert_str_eq(json_string_value(json_array_get(arr, 0)), str);
				json_decref(arr);
				buf_release(&b);
			}
	}
	/* base64url into a buffer matches b64url_encode. */
	buf_init(&b, 1 << 16);
	for (size_t n = 0; n < sizeof(bin); n++)
		bin[n] = (unsigned char)(n * 7 + 3);
	for (size_t n = 0; n < 8; n++) {
		char *e = b64url_encode(bin, 290 + n);

		b.len = 0;
		ck_assert_int_eq(buf_add_b64url(&b, bin, 290 + n), IDP_OK);
		ck_assert_str_eq(b.p, e);
		free(e);
	}
	buf_release(&b);
	/* jti: 22 base64url characters, never twice. */
	ck_assert(unique_id(id) && unique_id(id2));
	ck_assert_uint_eq(strlen(id), 22);
	ck_assert_str_ne(id, id2);
	ck_assert_uint_eq(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 22);
}
END_TEST

/* The JSON text of jansson values, as /token copies it from a record. */
START_TEST(t_json_value_text)
{
	json_t *doc = json_loads("{\"s\":\"\\u00e9\\\"\\n\",\"i\":-42,\"t\":true,\"f\":false,\"n\":null,"
				 "\"a\":[\"pwd\",1],\"o\":{\"k\":\"v\"},\"r\":1.5}", 0, NULL), *back;
	struct buf b;

	ck_assert_ptr_nonnull(doc);
	buf_init(&b, 4096);
	ck_assert_int_eq(buf_add(&b, "{", 1), IDP_OK);
	ck_assert_int_eq(buf_json_members(&b, true, doc), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "}", 1), IDP_OK);
	back = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(doc, back));
	ck_assert_int_eq(buf_json_value(&b, NULL), IDP_EINVAL);
	json_decref(back);
	json_decref(doc);
	buf_release(&b);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("json_writer", t_json_writer, t_json_value_text);
}
