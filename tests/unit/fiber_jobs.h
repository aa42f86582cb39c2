/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests that run code in fibers: jobs, each run in its own fiber on a
 * loop of the test's own, and a sleep that signals do not cut short. */
#ifndef TEST_FIBER_JOBS_H
#define TEST_FIBER_JOBS_H

#include <stdbool.h>

struct store;

/* The most jobs one run_fibers() call takes. */
#define NFIB 48

struct fjob {
	struct store *st;
	int i, rc, step;
	bool done;
	void (*body)(struct fjob *);
};

/* Runs every job's body in its own fiber, all at once, until all have ended
 * (at most 20 s); a failed test otherwise. On the caller's scheduler when it
 * has one, else on one made for the call. */
void run_fibers(struct fjob *jobs, int n);

void sleep_ms(long ms);

#endif
