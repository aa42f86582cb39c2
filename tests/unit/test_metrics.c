/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the metrics (metrics.c): endpoint labels and the
 * rendered counters. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "idp.h"
#include "metrics.h"
#include "util.h"

/* The endpoints' labels, given by the routing table: one index per label
 * (two paths of one endpoint share it), 0 for "other" and past the cap. */
START_TEST(t_metrics_labels)
{
	static const char *const many[] = {"/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i",
		"/j", "/k", "/l", "/m", "/n", "/o", "/p", "/q", "/r", "/s", "/t", "/u", "/v", "/w",
		"/x", "/y", "/z", "/0", "/1", "/2", "/3", "/4", "/5", "/6"};
	unsigned a = metrics_endpoint("/label-a"), b = metrics_endpoint("/label-b");
	struct rt rt = {.refs = 1}; /* no backends, no keys: only the counters */
	size_t len = 0;
	char *text;

	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(metrics_endpoint("/label-a"), a);
	ck_assert_uint_eq(metrics_endpoint("other"), 0);
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		metrics_endpoint(many[i]);
	ck_assert_uint_eq(metrics_endpoint("/past-the-cap"), 0);
	metrics_request(a, 200);
	metrics_request(b, 404);
	metrics_request(1000, 500); /* no such label: other */
	g_idp.rt = &rt;
	text = metrics_render(&len);
	g_idp.rt = NULL;
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"/label-a\",code=\"2xx\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"/label-b\",code=\"4xx\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"other\",code=\"5xx\"} 1\n"));
	ck_assert_ptr_null(strstr(text, "/past-the-cap"));
	free(text);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("metrics", t_metrics_labels);
}
