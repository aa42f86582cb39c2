/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of bounded input: the depth and size of JSON from outside,
 * checked before jansson recurses over it (util.h), and the fiber stack
 * budget of the deepest JSON work allowed (fiber.c). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "fiber.h"
#include "store.h"
#include "util.h"
#include "json_bounded.h"

/* n nested arrays around inner ("" for none): "[[...inner...]]". */
static char *nested(unsigned n, const char *inner)
{
	size_t il = strlen(inner);
	char *s = malloc(2 * (size_t)n + il + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, '[', n);
	memcpy(s + n, inner, il);
	memset(s + n + il, ']', n);
	s[2 * (size_t)n + il] = '\0';
	return s;
}

/* n nested objects {"a":{"a":...}} built without recursion. */
static json_t *nested_value(unsigned n)
{
	json_t *v = json_integer(1);

	for (unsigned i = 0; i < n; i++) {
		json_t *o = json_object();

		ck_assert_int_eq(json_object_set_new(o, "a", v), 0);
		v = o;
	}
	return v;
}

START_TEST(t_text_depth)
{
	ck_assert_uint_eq(json_text_depth("1", 1, 16), 0);
	ck_assert_uint_eq(json_text_depth("[]", 2, 16), 1);
	ck_assert_uint_eq(json_text_depth("{\"a\":[1,{}]}", 12, 16), 3);
	ck_assert_uint_eq(json_text_depth("[[],[],[]]", 10, 16), 2);
	/* Brackets inside strings do not count, escaped quotes do not end them. */
	ck_assert_uint_eq(json_text_depth("[\"[[[{{{\"]", 10, 16), 1);
	ck_assert_uint_eq(json_text_depth("[\"\\\"[[[\"]", 9, 16), 1);
	/* An escaped backslash does end an escape: the quote after it closes. */
	ck_assert_uint_eq(json_text_depth("[\"\\\\\",[[]]]", 11, 16), 3);
	ck_assert_uint_eq(json_text_depth("[\"\\u005b\"]", 10, 16), 1);
	/* Counting stops past the limit. */
	ck_assert_uint_eq(json_text_depth("[[[[[]]]]]", 10, 3), 4);
	/* Unbalanced closers never underflow. */
	ck_assert_uint_eq(json_text_depth("]]]][", 5, 16), 1);
}
END_TEST

START_TEST(t_parse_limits)
{
	json_t *v = NULL;
	char *s;

	/* At the limit: parsed; one more: refused before jansson. */
	s = nested(JSON_IN_DEPTH, "1");
	ck_assert_int_eq(json_parse_bounded(s, strlen(s), 4096, JSON_IN_DEPTH, 0, &v), IDP_OK);
	ck_assert(json_is_array(v));
	json_decref(v);
	free(s);
	s = nested(JSON_IN_DEPTH + 1, "1");
	ck_assert_int_eq(json_parse_bounded(s, strlen(s), 4096, JSON_IN_DEPTH, 0, &v), IDP_ETOOBIG);
	ck_assert_ptr_null(v);
	free(s);
	/* A string full of brackets at the limit is still at the limit. */
	s = nested(JSON_IN_DEPTH, "\"[[[[{{{{ \\\" ]]]] \\\\\"");
	ck_assert_int_eq(json_parse_bounded(s, strlen(s), 4096, JSON_IN_DEPTH, 0, &v), IDP_OK);
	json_decref(v);
	free(s);
	/* The size is checked first, and bad JSON is jansson's to refuse. */
	ck_assert_int_eq(json_parse_bounded("[1, 2]", 6, 5, JSON_IN_DEPTH, 0, &v), IDP_ETOOBIG);
	ck_assert_int_eq(json_parse_bounded("[1, 2", 5, 64, JSON_IN_DEPTH, 0, &v), IDP_EINVAL);
	ck_assert_int_eq(json_parse_bounded("{\"a\":1,\"a\":2}", 13, 64, JSON_IN_DEPTH,
					    JSON_REJECT_DUPLICATES, &v), IDP_EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(json_parse_bounded("{\"a\":\"x\\u005d\"}", 15, 64, 1, 0, &v), IDP_OK);
	ck_assert_str_eq(json_string_value(json_object_get(v, "a")), "x]");
	json_decref(v);
}
END_TEST

/* 100,000 levels on a 64 KiB thread stack: a parser that recursed per level
 * (jansson takes over 100 bytes a level) would overflow it. */
static void *deep_on_small_stack(void *arg)
{
	json_t *v = NULL;
	char *s = nested(100000, "");

	(void)arg;
	ck_assert_uint_eq(strlen(s), 200000);
	ck_assert_int_eq(json_parse_bounded(s, strlen(s), 1 << 20, JSON_IN_DEPTH, 0, &v), IDP_ETOOBIG);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(json_parse_bounded(s, strlen(s), 1 << 20, JSON_STORED_DEPTH, 0, &v),
			 IDP_ETOOBIG);
	free(s);
	return NULL;
}

START_TEST(t_parse_far_past)
{
	pthread_attr_t a;
	pthread_t th;

	pthread_attr_init(&a);
	ck_assert_int_eq(pthread_attr_setstacksize(&a, 64 * 1024), 0);
	ck_assert_int_eq(pthread_create(&th, &a, deep_on_small_stack, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	pthread_attr_destroy(&a);
}
END_TEST

START_TEST(t_value_bounded)
{
	json_t *v = nested_value(JSON_IN_DEPTH);
	static const char *const docs[] = {"{\"a\":\"\\u0001\\u0002\\\"\\\\x\",\"\\n\":[1.5e300,-9223372036854775807,true,null]}",
		"[\"\\u00e9t\\u00e9\",{},[],\"\"]", "\"\\u001f\"", "1234567890123456789"};

	ck_assert(json_value_bounded(v, JSON_IN_DEPTH, 4096));
	ck_assert(!json_value_bounded(v, JSON_IN_DEPTH - 1, 4096));
	json_decref(v);
	v = nested_value(JSON_IN_DEPTH + 1);
	ck_assert(!json_value_bounded(v, JSON_IN_DEPTH, 4096));
	json_decref(v);
	/* Past JSON_STORED_DEPTH whatever the caller asks, far past included. */
	v = nested_value(5000);
	ck_assert(!json_value_bounded(v, 100000, 1 << 30));
	json_decref(v);
	ck_assert(json_value_bounded(NULL, 1, 0));
	/* The size counted is never below what json_dumps writes. */
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		char *t;

		v = json_loads(docs[i], JSON_DECODE_ANY, NULL);
		ck_assert_ptr_nonnull(v);
		t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		ck_assert(!json_value_bounded(v, JSON_IN_DEPTH, strlen(t) - 1));
		ck_assert(json_value_bounded(v, JSON_IN_DEPTH, 4 * strlen(t) + 64));
		free(t);
		json_decref(v);
	}
}
END_TEST

START_TEST(t_store_records)
{
	json_t *v = NULL;
	size_t len;
	char *s, *t;

	/* A record at JSON_STORED_DEPTH reads back; one level more does not,
	 * and is not written either. */
	s = nested(JSON_STORED_DEPTH, "1");
	ck_assert_int_eq(store_parse_json("k", strdup(s), strlen(s), &v), IDP_OK);
	t = store_json_text(v, &len);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, s);
	free(t);
	json_decref(v);
	free(s);
	s = nested(JSON_STORED_DEPTH + 1, "1");
	ck_assert_int_eq(store_parse_json("k", strdup(s), strlen(s), &v), IDP_EINVAL);
	ck_assert_ptr_null(v);
	free(s);
	v = nested_value(JSON_STORED_DEPTH + 1);
	ck_assert_ptr_null(store_json_text(v, &len));
	json_decref(v);
}
END_TEST

/* The deepest JSON work a fiber does, at the limits: a record read back at
 * JSON_STORED_DEPTH (parse), copied, compared, written again (the
 * transaction's claims are copied and dumped so), and freed. */
struct budget_job {
	unsigned depth;
	bool ok;
};

static void budget_run(void *arg)
{
	struct budget_job *j = arg;
	char *s = nested(j->depth, "{\"given_name\":{\"essential\":true,\"values\":[\"a\",\"b\"]}}");
	json_t *v = NULL, *c;
	char *t;
	size_t len;

	j->ok = store_parse_json("k", s, strlen(s), &v) == IDP_OK; /* frees s */
	c = json_deep_copy(v);
	t = store_json_text(c, &len);
	j->ok = j->ok && t != NULL && json_equal(v, c);
	free(t);
	json_decref(c);
	json_decref(v);
}

/* *f stays alive (the caller frees it): a freed fiber's stack would be
 * reused by the next measure, its high-water mark with it. */
static size_t budget_measure(unsigned depth, struct fiber **f)
{
	struct budget_job j = {depth, false};

	*f = fiber_new(budget_run, &j, NULL);
	ck_assert_ptr_nonnull(*f);
	ck_assert(fiber_run(*f));
	ck_assert(j.ok);
	return fiber_stack_peak(*f);
}

START_TEST(t_stack_budget)
{
	struct fiber *f1, *f2;
	size_t at4, at32;

	ck_assert_int_eq(fiber_sched_init(), IDP_OK);
	/* The claims request inside adds three levels. */
	at4 = budget_measure(1, &f1);
	at32 = budget_measure(JSON_STORED_DEPTH - 3, &f2);
	fiber_free(f1);
	fiber_free(f2);
	printf("stack budget: JSON work 4 deep %zu bytes, %d deep %zu bytes (%zu a level)\n", at4,
	       JSON_STORED_DEPTH, at32, (at32 - at4) / (JSON_STORED_DEPTH - 4));
	/* fiber.c's budget: the deepest JSON path in a quarter of the stack. */
	ck_assert_uint_lt(at32, 128 * 1024);
	ck_assert_uint_gt(at32, at4);
	fiber_sched_fini();
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("input", t_text_depth, t_parse_limits, t_parse_far_past,
			     t_value_bounded, t_store_records, t_stack_budget);
}
