/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of identities from backends (identity.c): the claims a
 * backend may give, and the pivot subject. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "idp.h"
#include "util.h"

START_TEST(t_identity_valid)
{
	static const char *const good[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"Dupont\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"75056\",\"birthcountry\":\"99100\",\"email\":\"m.d@example.fr\"}",
		"{\"birthdate\":\"1990-07\"}", "{\"birthdate\":\"1990\"}",
		"{\"birthcountry\":\"99134\"}", "{\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}", "{}",
		"{\"birthdate\":\"1992-02-29\"}", "{\"birthdate\":\"2000-02-29\"}", "{\"birthdate\":\"1990-12-31\"}",
		"{\"birthdate\":\"1990-04-30\"}", "{\"given_name\":\"\u00c9lo\u00efse\"}",
	};
	static const char *const bad[][2] = {
		{"{\"birthdate\":\"14/07/1990\"}", "birthdate"}, {"{\"birthdate\":\"1990-13-01\"}", "birthdate"},
		{"{\"birthdate\":\"1990-07-32\"}", "birthdate"}, {"{\"birthdate\":1990}", "birthdate"},
		{"{\"gender\":\"F\"}", "gender"}, {"{\"birthcountry\":\"99100\"}", "birthplace"},
		{"{\"birthcountry\":\"99100\",\"birthplace\":\"Paris\"}", "birthplace"},
		{"{\"birthcountry\":\"France\"}", "birthcountry"}, {"{\"given_name\":\"\"}", "given_name"},
		{"{\"email\":\"not an email\"}", "email"}, {"{\"email\":\"a@b\"}", "email"},
		/* Dates the calendar does not have. */
		{"{\"birthdate\":\"1990-02-31\"}", "birthdate"}, {"{\"birthdate\":\"1990-04-31\"}", "birthdate"},
		{"{\"birthdate\":\"1991-02-29\"}", "birthdate"}, {"{\"birthdate\":\"1900-02-29\"}", "birthdate"},
		{"{\"birthdate\":\"1990-00-10\"}", "birthdate"}, {"{\"birthdate\":\"1990-01-00\"}", "birthdate"},
	};
	const char *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *c = json_loads(good[i], 0, NULL);

		ck_assert_msg(identity_valid(c, &why), "%s refused", good[i]);
		json_decref(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c = json_loads(bad[i][0], 0, NULL);

		why = NULL;
		ck_assert_msg(!identity_valid(c, &why), "%s accepted", bad[i][0]);
		ck_assert_str_eq(why, bad[i][1]);
		json_decref(c);
	}
	{
		/* A 257-character name is refused, 256 accepted. */
		char name[258];
		json_t *c;

		memset(name, 'a', 257);
		name[257] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert(!identity_valid(c, &why));
		json_decref(c);
		name[256] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert(identity_valid(c, &why));
		json_decref(c);
	}
	{
		/* Characters, not bytes: 256 accented letters (512 bytes) pass,
		 * 257 do not; a 4-byte character counts as one. */
		char name[257 * 4 + 1];
		json_t *c;

		for (int i = 0; i < 257; i++)
			memcpy(name + 2 * i, "\xc3\xa9", 2); /* é */
		name[2 * 257] = '\0';
		c = json_pack("{s:s}", "given_name", name);
		ck_assert_msg(!identity_valid(c, &why), "257 accented letters accepted");
		ck_assert_str_eq(why, "given_name");
		json_decref(c);
		name[2 * 256] = '\0';
		c = json_pack("{s:s}", "given_name", name);
		ck_assert_msg(identity_valid(c, &why), "256 accented letters (512 bytes) refused");
		json_decref(c);
		for (int i = 0; i < 256; i++)
			memcpy(name + 4 * i, "\xf0\x9d\x90\x80", 4); /* U+1D400 */
		name[4 * 256] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert_msg(identity_valid(c, &why), "256 four-byte characters refused");
		json_decref(c);
	}
	{
		/* Invalid UTF-8 (a lone continuation byte, an overlong form, a
		 * truncated sequence) is refused; jansson would refuse to hold
		 * it, so build the object with json_stringn_nocheck. */
		static const char *const bad_utf8[] = {"Jo\x80l", "\xc0\xafx", "Ren\xc3", NULL};

		for (const char *const *b = bad_utf8; *b; b++) {
			json_t *c = json_object();

			json_object_set_new(c, "family_name", json_stringn_nocheck(*b, strlen(*b)));
			why = NULL;
			ck_assert_msg(!identity_valid(c, &why), "invalid UTF-8 #%d accepted", (int)(b - bad_utf8));
			ck_assert_str_eq(why, "family_name");
			json_decref(c);
		}
	}
}
END_TEST

/* The pivot subject does not depend on how a backend spells the names:
 * surrounding and repeated whitespace, ASCII case. It does depend on the
 * values themselves. */
START_TEST(t_pivot_subject)
{
	static const char *const same[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la Tour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\"Marianne \",\"family_name\":\"de  la\\ttour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2a004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\" marianne\",\"family_name\":\"DE LA TOUR \",\"birthdate\":\" 1990-07-14\",\"gender\":\"Female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
	};
	static const char *const other[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"Delatour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la Tour\",\"birthdate\":\"1990-07-15\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		/* Accents are kept: "Hélène" is not "Helene". */
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la T\u00f4ur\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
	};
	const char *why;
	char *ref, *s;
	json_t *c;

	c = json_loads(same[0], 0, NULL);
	ref = pivot_subject(c, &why);
	json_decref(c);
	ck_assert_ptr_nonnull(ref);
	ck_assert_int_eq(strncmp(ref, "pivot:", 6), 0);
	for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		c = json_loads(same[i], 0, NULL);
		ck_assert_ptr_nonnull(c);
		s = pivot_subject(c, &why);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strcmp(s, ref) == 0, "spelling %zu gives another subject", i);
		free(s);
		json_decref(c);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		c = json_loads(other[i], 0, NULL);
		ck_assert_ptr_nonnull(c);
		s = pivot_subject(c, &why);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strcmp(s, ref) != 0, "another citizen %zu gives the same subject", i);
		free(s);
		json_decref(c);
	}
	/* The two backends' spellings of the brief: "Marianne " and "marianne". */
	{
		json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "given_name", "Marianne ", "family_name", "Dupont",
				      "birthdate", "1990-07-14", "gender", "female", "birthcountry", "99134");
		json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s}", "given_name", "marianne", "family_name", "Dupont",
				      "birthdate", "1990-07-14", "gender", "female", "birthcountry", "99134");
		char *sa = pivot_subject(a, &why), *sb = pivot_subject(b, &why);

		ck_assert_ptr_nonnull(sa);
		ck_assert_ptr_nonnull(sb);
		ck_assert_str_eq(sa, sb);
		free(sa);
		free(sb);
		json_decref(a);
		json_decref(b);
	}
	/* A missing pivot claim is named. */
	c = json_pack("{s:s,s:s}", "given_name", "Marianne", "family_name", "Dupont");
	ck_assert_ptr_null(pivot_subject(c, &why));
	ck_assert_str_eq(why, "birthdate");
	json_decref(c);
	free(ref);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("identity", t_identity_valid, t_pivot_subject);
}
