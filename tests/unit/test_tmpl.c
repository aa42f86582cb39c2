/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the templates (tmpl.c): sections, partials, escaping,
 * languages and claim labels. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "tmpl.h"
#include "util.h"

START_TEST(t_tmpl)
{
	struct tmpl_set *t;
	struct buf b;
	json_t *ctx;
	char d[256];

	snprintf(d, sizeof(d), "%s/fr", test_tmpdir);
	mkdir(d, 0700);
	snprintf(d, sizeof(d), "%s/en", test_tmpdir);
	mkdir(d, 0700);
	test_write_file("style.css", "body{}", 0600);
	test_write_file("fr/p.html", "<p>{{name}}</p>{{#items}}[{{.}}]{{/items}}{{^none}}N{{/none}}{{#obj}}{{k}}{{/obj}}{{>q}}", 0600);
	test_write_file("fr/q.html", "Q{{name}}", 0600);
	test_write_file("en/p.html", "EN", 0600);
	test_write_file("en/q.html", "", 0600);
	ck_assert_int_eq(tmpl_load(test_tmpdir, &t), IDP_OK);
	ctx = json_pack("{s:s,s:[ss],s:{s:s}}", "name", "<script>\"x\"", "items", "a", "<b>", "obj", "k", "v&");
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_FR, "p", ctx, &b), IDP_OK);
	ck_assert_str_eq(b.p, "<p>&lt;script&gt;&quot;x&quot;</p>[a][&lt;b&gt;]Nv&amp;Q&lt;script&gt;&quot;x&quot;");
	buf_release(&b);
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_EN, "p", ctx, &b), IDP_OK);
	ck_assert_str_eq(b.p, "EN");
	buf_release(&b);
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_FR, "missing", ctx, &b), IDP_ENOTFOUND);
	buf_release(&b);
	/* No labels.json: no label, the page shows the code's own name. */
	ck_assert_ptr_null(tmpl_label(t, LANG_FR, "claim.email"));
	tmpl_free(t);
	/* Words for citizens come from LANG/labels.json; one that is not an
	 * object of strings stops the load. */
	test_write_file("fr/labels.json", "{\"claim.email\": \"Adresse électronique\"}", 0600);
	ck_assert_int_eq(tmpl_load(test_tmpdir, &t), IDP_OK);
	ck_assert_str_eq(tmpl_label(t, LANG_FR, "claim.email"), "Adresse électronique");
	ck_assert_ptr_null(tmpl_label(t, LANG_EN, "claim.email"));
	ck_assert_ptr_null(tmpl_label(t, LANG_FR, "claim.gender"));
	tmpl_free(t);
	test_write_file("en/labels.json", "{\"claim.email\": 3}", 0600);
	ck_assert_int_ne(tmpl_load(test_tmpdir, &t), IDP_OK);
	test_write_file("en/labels.json", "[\"claim.email\"]", 0600);
	ck_assert_int_ne(tmpl_load(test_tmpdir, &t), IDP_OK);
	test_unlink_file("fr/labels.json");
	test_unlink_file("en/labels.json");
	json_decref(ctx);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("tmpl", t_tmpl);
}
