/* SPDX-License-Identifier: EUPL-1.2 */
/* The main() of the unit tests: one scratch folder, the suite run in this
 * process (the fixtures and the fibers live here), the folder removed, and
 * failure when any test failed or none ran. Built into an archive linked
 * after the test, so a test with a main() of its own keeps it. */
#include "check_main.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

char test_tmpdir[64];

void test_write_file(const char *name, const char *text, mode_t mode)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", test_tmpdir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

void test_unlink_file(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", test_tmpdir, name);
	unlink(p);
}

Suite *test_suite_of(const char *name, const TTest *const *tests, size_t n)
{
	Suite *s = suite_create(name);
	TCase *tc = tcase_create(name);

	for (size_t i = 0; i < n; i++)
		tcase_add_test(tc, tests[i]);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	SRunner *sr;
	Suite *s;
	int failed, run;

	snprintf(test_tmpdir, sizeof(test_tmpdir), "/tmp/idp-unit.XXXXXX");
	if (mkdtemp(test_tmpdir) == NULL) {
		perror("mkdtemp");
		return EXIT_FAILURE;
	}
	idp_log_set_level(-1); /* a test that reads the log sets its own level */
	if ((s = test_suite()) == NULL) {
		nftw(test_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
		return EXIT_FAILURE;
	}
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	run = srunner_ntests_run(sr);
	srunner_free(sr);
	if (nftw(test_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		perror(test_tmpdir);
		return EXIT_FAILURE;
	}
	return failed == 0 && run > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
