/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the fibers (fiber.c): blocking calls offloaded to worker
 * pools that do not share workers, and park and wake. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>

#include "check_main.h"
#include "fiber_jobs.h"
#include "fiber.h"
#include "util.h"

static pthread_t loop_thread;
static atomic_int offload_on_loop;

static void slow_call(void *p)
{
	if (pthread_equal(pthread_self(), loop_thread))
		atomic_fetch_add(&offload_on_loop, 1);
	sleep_ms(50);
	(*(int *)p)++;
}

static struct fiber_pool *pool_a, *pool_b;

static void body_offload(struct fjob *j)
{
	int n = 0;

	fiber_offload_on(pool_a, slow_call, &n);
	j->rc = n == 1 ? IDP_OK : IDP_EINVAL;
}

/* Blocking calls run on the workers while their fibers wait, never on the
 * loop's thread; outside a fiber, the call runs where it is made. */
START_TEST(fiber_offload_runs_on_workers)
{
	struct fjob jobs[16];
	int n = 0;

	loop_thread = pthread_self();
	atomic_store(&offload_on_loop, 0);
	ck_assert_int_eq(fiber_workers_start(4), IDP_OK);
	ck_assert_ptr_nonnull(pool_a = fiber_pool_new());
	for (int i = 0; i < 16; i++)
		jobs[i] = (struct fjob){.i = i, .body = body_offload};
	run_fibers(jobs, 16);
	for (int i = 0; i < 16; i++)
		ck_assert_int_eq(jobs[i].rc, IDP_OK);
	ck_assert_int_eq(atomic_load(&offload_on_loop), 0);
	/* outside a fiber: runs right here */
	fiber_offload_on(pool_a, slow_call, &n);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(atomic_load(&offload_on_loop), 1);
	fiber_workers_stop();
	fiber_pool_free(pool_a);
}
END_TEST

/* Pools are bulkheads: calls that hold every worker of one pool (a backend
 * that stopped answering) leave another pool's calls running at once. Here
 * the stuck calls wait (at most 5 s) for a flag that only the other pool's
 * call sets: with one shared pool, they would time out first (checked: with
 * pool_b = pool_a this test fails). */
static atomic_int released;

static void stuck_call(void *p)
{
	for (int i = 0; i < 500 && !atomic_load(&released); i++)
		sleep_ms(10);
	*(int *)p = atomic_load(&released);
}

static void release_call(void *p)
{
	atomic_store(&released, 1);
	*(int *)p = 1;
}

static void body_bulkhead(struct fjob *j)
{
	int seen = 0;

	if (j->i < 4) {
		fiber_offload_on(pool_a, stuck_call, &seen);
	} else {
		sleep_ms(100); /* the four stuck calls hold pool a's workers by now */
		fiber_offload_on(pool_b, release_call, &seen);
	}
	j->rc = seen == 1 ? IDP_OK : IDP_EINVAL;
}

START_TEST(fiber_pools_are_separate)
{
	struct fjob jobs[5];

	atomic_store(&released, 0);
	ck_assert_int_eq(fiber_workers_start(4), IDP_OK);
	ck_assert_ptr_nonnull(pool_a = fiber_pool_new());
	ck_assert_ptr_nonnull(pool_b = fiber_pool_new());
	for (int i = 0; i < 5; i++)
		jobs[i] = (struct fjob){.i = i, .body = body_bulkhead};
	run_fibers(jobs, 5);
	for (int i = 0; i < 5; i++)
		ck_assert_msg(jobs[i].rc == IDP_OK, "job %d: the other pool's call did not run while pool a was full", i);
	fiber_workers_stop();
	fiber_pool_free(pool_a);
	fiber_pool_free(pool_b);
}
END_TEST

static int order[8], order_n;

static void body_park(struct fjob *j)
{
	static struct fiber *parked[8];

	parked[j->i] = fiber_self();
	if (j->i < 7) {
		fiber_park(); /* woken by the last one, in reverse */
	} else {
		for (int i = 6; i >= 0; i--)
			fiber_wake(parked[i]);
	}
	order[order_n++] = j->i;
	j->rc = IDP_OK;
}

/* Park and wake: fibers resume in the order they were woken; a fiber's
 * locals survive its parks. */
START_TEST(fiber_park_wake_order)
{
	struct fjob jobs[8];

	order_n = 0;
	for (int i = 0; i < 8; i++)
		jobs[i] = (struct fjob){.i = i, .body = body_park};
	run_fibers(jobs, 8);
	ck_assert_int_eq(order_n, 8);
	ck_assert_int_eq(order[0], 7);
	for (int i = 1; i < 8; i++)
		ck_assert_int_eq(order[i], 7 - i);
	ck_assert(!fiber_in());
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("fiber", fiber_offload_runs_on_workers, fiber_pools_are_separate,
			     fiber_park_wake_order);
}
