/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl's key-set administration against a hostile keys folder: a link
 * planted at the name state.json is written through, and a state.json that
 * names files outside the folder. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "config.h"
#include "keys.h"
#include "util.h"

static char dir[128];     /* the keys folder, test_tmpdir/keys */
static char victim[128];  /* a file beside it, test_tmpdir/victim */

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static char *slurp(const char *path)
{
	static char text[65536];
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return NULL;
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* A fresh keys folder holding only state.json with one key entry. */
static void fresh_state(const char *file, const char *state, long long remove_at)
{
	char p[256], cmd[300], text[1024];

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -m 700 %s", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	put(victim, "not a key\n");
	snprintf(text, sizeof(text), "{\"keys\": [{\"kid\": \"k1\", \"alg\": \"ES256\", \"file\": \"%s\", "
		 "\"state\": \"%s\", \"created\": 1, \"activated\": 0, \"remove_at\": %lld}]}",
		 file, state, remove_at);
	snprintf(p, sizeof(p), "%s/state.json", dir);
	put(p, text);
}

/* A link at the temporary name is not followed: the file it points to is
 * unchanged, and state.json ends up a regular file of ours. */
START_TEST(t_tmp_symlink_not_followed)
{
	char tmp[256], p[256], cmd[300];
	struct stat sb;
	char *st;

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -m 700 %s", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	put(victim, "not a key\n");
	snprintf(tmp, sizeof(tmp), "%s/state.json.tmp.%d", dir, (int)getpid());
	ck_assert_int_eq(symlink(victim, tmp), 0);
	ck_assert_int_eq(keys_init(dir, stdout), IDP_OK);
	ck_assert_str_eq(slurp(victim), "not a key\n");
	snprintf(p, sizeof(p), "%s/state.json", dir);
	ck_assert_int_eq(lstat(p, &sb), 0);
	ck_assert_msg(S_ISREG(sb.st_mode), "state.json is not a regular file");
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	st = slurp(p);
	ck_assert_ptr_nonnull(st);
	ck_assert_ptr_nonnull(strstr(st, "\"active\""));
	ck_assert_int_eq(lstat(tmp, &sb), -1); /* the planted link is gone, not renamed into place */
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

/* The audit log and the scratch folder of new keys are not followed
 * through links either: no line appended elsewhere, no key written there. */
START_TEST(t_audit_and_scratch_links)
{
	char p[256], cmd[700], elsewhere[256];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -m 700 %s", dir, dir);
	ck_assert_int_eq(system(cmd), 0);
	put(victim, "not a key\n");
	snprintf(p, sizeof(p), "%s/audit.log", dir);
	ck_assert_int_eq(symlink(victim, p), 0);
	ck_assert_int_eq(keys_init(dir, stdout), IDP_OK);
	ck_assert_str_eq(slurp(victim), "not a key\n");

	snprintf(cmd, sizeof(cmd), "rm -rf %s %s/elsewhere && mkdir -m 700 %s %s/elsewhere", dir, test_tmpdir,
		 dir, test_tmpdir);
	ck_assert_int_eq(system(cmd), 0);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", test_tmpdir);
	snprintf(p, sizeof(p), "%s/.new", dir);
	ck_assert_int_eq(symlink(elsewhere, p), 0);
	ck_assert_int_ne(keys_init(dir, stdout), IDP_OK);
	d = opendir(elsewhere);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(n, 0);
}
END_TEST

/* Entries naming files outside the folder: the whole state is refused,
 * with a message that says which entry and why, and nothing is removed. */
static void assert_refused(const char *file, int (*op)(void))
{
	char p[256], before[4096];
	struct log_capture cap = {.len = 0};
	int rc;

	fresh_state(file, op == NULL ? "retiring" : "next", 1);
	snprintf(p, sizeof(p), "%s/state.json", dir);
	snprintf(before, sizeof(before), "%s", slurp(p));
	idp_log_capture(&cap);
	rc = op != NULL ? op() : keys_remove(dir, "k1", stdout);
	idp_log_capture(NULL);
	ck_assert_msg(rc != IDP_OK, "a state.json naming %s was accepted", file);
	ck_assert_msg(slurp(victim) != NULL, "%s was removed", victim);
	ck_assert_str_eq(slurp(p), before); /* state.json untouched */
	cap.text[cap.len < sizeof(cap.text) ? cap.len : sizeof(cap.text) - 1] = '\0';
	ck_assert_msg(strstr(cap.text, "plain file name") != NULL, "message: %s", cap.text);
}

static int revoke_k1(void)
{
	return keys_revoke(NULL, dir, "k1", stdout);
}

START_TEST(t_state_names_outside)
{
	char abs[256];

	snprintf(abs, sizeof(abs), "%s", victim);
	assert_refused("../victim", revoke_k1);   /* revoke removes a key's file */
	assert_refused("../victim", NULL);        /* remove prunes retiring keys */
	assert_refused(abs, revoke_k1);
	assert_refused(abs, NULL);
	assert_refused("..", revoke_k1);
	assert_refused(".", revoke_k1);
	assert_refused("", revoke_k1);
	assert_refused("sub/../../victim", revoke_k1);
	assert_refused("state.json", revoke_k1);  /* not a key file */
	assert_refused(".lock", revoke_k1);
}
END_TEST

/* The plain names keyadmin and the daemon write are still accepted, and
 * their files removed. */
START_TEST(t_state_plain_name_ok)
{
	char p[256];
	struct stat sb;

	fresh_state("es256-AbC_d-0123456789.pem", "next", 0);
	snprintf(p, sizeof(p), "%s/es256-AbC_d-0123456789.pem", dir);
	put(p, "key");
	ck_assert_int_eq(revoke_k1(), IDP_OK);
	ck_assert_int_eq(stat(p, &sb), -1);
	ck_assert_ptr_nonnull(slurp(victim));
}
END_TEST

Suite *test_suite(void)
{
	snprintf(dir, sizeof(dir), "%s/keys", test_tmpdir);
	snprintf(victim, sizeof(victim), "%s/victim", test_tmpdir);
	idp_log_set_level(LOG_ERR);
	return TEST_SUITE_OF("keyadmin", t_tmp_symlink_not_followed, t_audit_and_scratch_links,
			     t_state_names_outside, t_state_plain_name_ok);
}
