/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the stored record format (record.c): what is written
 * reads back byte for byte, and what is not a record is refused whole. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "record.h"
#include "util.h"

/* A record parsed from text (copied: parsing writes into it). */
static int parse_copy(const char *text, size_t len, char **copy, struct record *rec)
{
	*copy = malloc(len + 1);
	ck_assert_ptr_nonnull(*copy);
	memcpy(*copy, text, len);
	(*copy)[len] = '\0';
	return record_parse(*copy, len, rec);
}

START_TEST(t_record)
{
	struct buf b;
	struct record rec;
	char *c;
	long long v;
	/* A value with every byte but NUL, the separators among them. */
	char all[255];

	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	buf_init(&b, 1 << 22);
	ck_assert_int_eq(record_adds(&b, 'c', "bench-es"), IDP_OK);
	ck_assert_int_eq(record_adds(&b, 'p', NULL), IDP_OK); /* absent: nothing written */
	ck_assert_int_eq(record_add(&b, 'z', all, sizeof(all)), IDP_OK);
	ck_assert_int_eq(record_add(&b, 'e', "", 0), IDP_OK);
	ck_assert_int_eq(record_add_int(&b, 'n', -1796166889LL), IDP_OK);
	ck_assert_int_eq(record_adds(&b, 'A', "x"), IDP_EINVAL);
	ck_assert_int_eq(record_add(&b, 'q', "a\0b", 3), IDP_EINVAL);
	ck_assert_int_eq(strncmp(b.p, "R1;c8:bench-es;z255:", 20), 0);
	ck_assert_int_eq(parse_copy(b.p, b.len, &c, &rec), IDP_OK);
	ck_assert_str_eq(record_get(&rec, 'c'), "bench-es");
	ck_assert_uint_eq(record_len(&rec, 'c'), 8);
	ck_assert_ptr_null(record_get(&rec, 'p'));
	ck_assert_ptr_null(record_get(&rec, '{'));
	ck_assert_uint_eq(record_len(&rec, 'z'), sizeof(all));
	ck_assert_int_eq(memcmp(record_get(&rec, 'z'), all, sizeof(all)), 0);
	ck_assert_str_eq(record_get(&rec, 'e'), "");
	ck_assert(record_int(&rec, 'n', &v));
	ck_assert_int_eq(v, -1796166889LL);
	ck_assert(!record_int(&rec, 'c', &v));
	ck_assert(!record_int(&rec, 'p', &v));
	free(c);
	buf_release(&b);

	/* What is not a record is refused, whole. */
	static const char *const bad[] = {
		"",		   /* no tag */
		"R1",		   /* short tag */
		"R2;c1:x;",	   /* another version */
		"{\"c\":\"x\"}",   /* JSON */
		"R1;c1:x",	   /* no closing ';' */
		"R1;c2:x;",	   /* length past the end */
		"R1;c0:x;",	   /* length short of the ';' */
		"R1;c:x;",	   /* no length */
		"R1;c01:x;",	   /* leading zero */
		"R1;c-1:x;",	   /* a sign */
		"R1;c99999999:x;", /* oversized */
		"R1;c1x;",	   /* no ':' */
		"R1;C1:x;",	   /* not a lowercase letter */
		"R1;c1:x;c1:y;",   /* a letter twice */
		"R1;c1:x;;",	   /* trailing junk */
		"R1;c1",	   /* cut in the length */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_copy(bad[i], strlen(bad[i]), &c, &rec) == IDP_EINVAL, "accepted: %s", bad[i]);
		free(c);
	}
	/* A NUL inside a value. */
	ck_assert_int_eq(parse_copy("R1;c3:a\0b;", 10, &c, &rec), IDP_EINVAL);
	free(c);
	ck_assert_int_eq(record_parse(NULL, 0, &rec), IDP_EINVAL);
	/* The empty record is a record. */
	ck_assert_int_eq(parse_copy("R1;", 3, &c, &rec), IDP_OK);
	ck_assert_ptr_null(record_get(&rec, 'c'));
	free(c);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("record", t_record);
}
