/* SPDX-License-Identifier: EUPL-1.2 */
/* The main() every unit test shares (check_main.c): a test file gives its
 * suite and, when it needs files, uses the scratch folder made for it. */
#ifndef TEST_CHECK_MAIN_H
#define TEST_CHECK_MAIN_H

#include <stddef.h>
#include <sys/types.h>

#include <check.h>

/* The test file's suite, built once the scratch folder exists. NULL when the
 * test cannot run (a fixture did not start): the binary fails. */
Suite *test_suite(void);

/* A suite of one case, both called name, holding the tests (START_TEST
 * names), each given 60 s. */
Suite *test_suite_of(const char *name, const TTest *const *tests, size_t n);
#define TEST_SUITE_OF(name, ...)                                                                   \
	test_suite_of(name, (const TTest *const[]){__VA_ARGS__},                                    \
		      sizeof((const TTest *const[]){__VA_ARGS__}) / sizeof(const TTest *))

/* A fresh folder under /tmp, removed with what it holds after the run. */
extern char test_tmpdir[64];
/* Writes text to name inside test_tmpdir with mode (a failed test when it
 * cannot); removes name from it. */
void test_write_file(const char *name, const char *text, mode_t mode);
void test_unlink_file(const char *name);

#endif
