/* SPDX-License-Identifier: EUPL-1.2 */
/* The fiber jobs of the unit tests (fiber_jobs.h). */
#include "fiber_jobs.h"

#include <errno.h>
#include <time.h>

#include <check.h>

#include "fiber.h"
#include "util.h"

void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void fjob_run(void *p)
{
	struct fjob *j = p;

	j->body(j);
}

static void fjob_done(void *p)
{
	((struct fjob *)p)->done = true;
}

void run_fibers(struct fjob *jobs, int n)
{
	struct fiber *f[NFIB];
	struct timespec t0, t;
	int left = n;
	bool own = fiber_sched_serial() == 0; /* else the caller's, kept */

	ck_assert_int_le(n, NFIB);
	if (own)
		ck_assert_int_eq(fiber_sched_init(), IDP_OK);
	for (int i = 0; i < n; i++) {
		jobs[i].done = false;
		ck_assert_ptr_nonnull(f[i] = fiber_new(fjob_run, &jobs[i], fjob_done));
		if (fiber_run(f[i]))
			jobs[i].done = true;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		left = 0;
		for (int i = 0; i < n; i++)
			left += !jobs[i].done;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (left == 0 || t.tv_sec - t0.tv_sec > 20)
			break;
		fiber_poll(100);
	}
	ck_assert_int_eq(left, 0);
	for (int i = 0; i < n; i++)
		fiber_free(f[i]);
	ck_assert_uint_eq(fiber_count(), 0);
	if (own)
		fiber_sched_fini();
}
