/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of password hashes (pwhash.c): libargon2's own answers,
 * on several threads at once. */
#include <check.h>
#include <argon2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "pwhash.h"
#include "util.h"

/* pwhash_verify gives libargon2's own answer for every string: canonical
 * hashes (fast path, kept memory) and everything it does not read itself
 * (handed to argon2id_verify). */
static void same_as_library(const char *enc, const char *pw)
{
	int want = argon2id_verify(enc, pw, strlen(pw));
	int got = pwhash_verify(enc, pw, strlen(pw));

	ck_assert_msg(got == want, "%s: pwhash %d (%s), libargon2 %d (%s)", enc, got, argon2_error_message(got), want,
		      argon2_error_message(want));
}

static void edit(char *out, size_t cap, const char *enc, const char *from, const char *to)
{
	const char *at = strstr(enc, from);

	ck_assert_ptr_nonnull(at);
	snprintf(out, cap, "%.*s%s%s", (int)(at - enc), enc, to, at + strlen(from));
}

START_TEST(t_pwhash_same_answers)
{
	const char *pw = "Motdepasse-2026!";
	unsigned char salt[40];
	char enc[256], v[320], saltpart[128];
	const char *sp, *hp;
	size_t kept_n, kept_b;

	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 37 + 11);
	/* Parameters, salt and digest lengths the fast path reads. */
	const unsigned params[][5] = {{1, 8, 1, 16, 32}, {2, 64, 2, 16, 32}, {1, 256, 4, 8, 4}, {3, 32, 1, 40, 64},
				      {1, 16, 2, 9, 17}};
	for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
		const unsigned *q = params[k];

		ck_assert_int_eq(argon2id_hash_encoded(q[0], q[1], q[2], pw, strlen(pw), salt, q[3], q[4], enc,
						       sizeof(enc)), ARGON2_OK);
		ck_assert_int_eq(pwhash_verify(enc, pw, strlen(pw)), ARGON2_OK);
		ck_assert_int_eq(pwhash_verify(enc, "Motdepasse-2026?", 16), ARGON2_VERIFY_MISMATCH);
		ck_assert_int_eq(pwhash_verify(enc, pw, strlen(pw) - 1), ARGON2_VERIFY_MISMATCH);
		ck_assert_int_eq(pwhash_verify(enc, "", 0), ARGON2_VERIFY_MISMATCH);
		same_as_library(enc, pw);
		same_as_library(enc, "wrong");
	}
	/* The memory stayed for the next hash, and goes when asked. */
	pwhash_kept(&kept_n, &kept_b);
	ck_assert_uint_ge(kept_n, 1);
	ck_assert_uint_ge(kept_b, 8 * 1024);
	pwhash_release();
	pwhash_kept(&kept_n, &kept_b);
	ck_assert_uint_eq(kept_n, 0);
	ck_assert_uint_eq(kept_b, 0);

	/* Variants of one canonical hash: each answered as libargon2 answers. */
	ck_assert_int_eq(argon2id_hash_encoded(1, 16, 1, pw, strlen(pw), salt, 16, 32, enc, sizeof(enc)), ARGON2_OK);
	sp = strrchr(enc, '$');
	ck_assert_ptr_nonnull(sp);
	hp = sp + 1;
	sp = enc + strlen("$argon2id$v=19$m=16,t=1,p=1$");
	snprintf(saltpart, sizeof(saltpart), "%.*s", (int)(hp - 1 - sp), sp);
	const char *edits[][2] = {
		{"m=16", "m=016"}, {"m=16", "m=17"}, {"m=16", "m=4"}, {"m=16", "m="}, {"m=16", "m=99999999999"},
		{"t=1", "t=0"}, {"t=1", "t=01"}, {"t=1", "t=2"}, {"p=1", "p=0"}, {"p=1", "p=2"}, {"p=1", "p=-1"},
		{"v=19$", ""}, {"v=19", "v=16"}, {"v=19", "v=20"}, {"$argon2id$", "$argon2i$"}, {"$argon2id$", "$argon2d$"},
		{"$argon2id$", "argon2id$"}, {",t=1", ""}, {",t=1,p=1", ",p=1,t=1"}, {"m=16,", "m=16 ,"},
		{"m=16", "m=+16"}, {"p=1$", "p=1,x=2$"}, {saltpart, ""}, {"$", "$$"},
	};
	for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
		edit(v, sizeof(v), enc, edits[k][0], edits[k][1]);
		same_as_library(v, pw);
	}
	/* The salt and digest parts: padding, the other alphabet, a stray
	 * character, non-canonical trailing bits, cut short, too short. */
	const char *tails[] = {"=", "==", "-", "_", "*", " ", "\n"};
	for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
		snprintf(v, sizeof(v), "%s%s", enc, tails[k]);
		same_as_library(v, pw);
		snprintf(v, sizeof(v), "%.*s%s%s", (int)(hp - 1 - enc), enc, tails[k], hp - 1);
		same_as_library(v, pw);
	}
	for (size_t cut = 1; cut < strlen(enc); cut += 3) {
		snprintf(v, sizeof(v), "%.*s", (int)cut, enc);
		same_as_library(v, pw);
	}
	snprintf(v, sizeof(v), "%s", enc);
	v[strlen(v) - 1] = v[strlen(v) - 1] == 'A' ? 'B' : 'A'; /* last digit: trailing bits or a wrong digest */
	same_as_library(v, pw);
	snprintf(v, sizeof(v), "%.*sAAAAAA", (int)(hp - enc), enc); /* a 4-byte-short digest (fallback) */
	same_as_library(v, pw);
	same_as_library("", pw);
	same_as_library("$argon2id$v=19$m=16,t=1,p=1$$", pw);
	ck_assert_int_ne(pwhash_verify(NULL, pw, 1), ARGON2_OK);
	ck_assert_int_ne(pwhash_verify(enc, NULL, 0), ARGON2_OK);
	pwhash_release();
}
END_TEST

struct pw_job {
	const char *enc, *pw;
	int rc;
};

static void *pw_thread(void *arg)
{
	struct pw_job *j = arg;

	for (int i = 0; i < 8 && j->rc == ARGON2_OK; i++)
		j->rc = pwhash_verify(j->enc, j->pw, strlen(j->pw));
	return NULL;
}

/* Hashes at once on several threads, two sizes of memory: every one right
 * (no two share a buffer), and the buffers kept are bounded. */
START_TEST(t_pwhash_threads)
{
	unsigned char salt[16] = {7};
	char enc[2][256];
	struct pw_job jobs[6];
	pthread_t th[6];
	size_t n, b;

	ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, "un", 2, salt, sizeof(salt), 32, enc[0], sizeof(enc[0])),
			 ARGON2_OK);
	ck_assert_int_eq(argon2id_hash_encoded(1, 128, 2, "deux", 4, salt, sizeof(salt), 32, enc[1], sizeof(enc[1])),
			 ARGON2_OK);
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct pw_job){enc[i % 2], i % 2 ? "deux" : "un", ARGON2_OK};
		ck_assert_int_eq(pthread_create(&th[i], NULL, pw_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(jobs[i].rc, ARGON2_OK);
	}
	ck_assert_int_eq(pwhash_verify(enc[0], "deux", 4), ARGON2_VERIFY_MISMATCH);
	pwhash_kept(&n, &b);
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_le(n, 6);
	ck_assert_uint_le(b, 6 * 128 * 1024);
	pwhash_release();
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("pwhash", t_pwhash_same_answers, t_pwhash_threads);
}
