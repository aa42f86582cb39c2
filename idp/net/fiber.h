/* SPDX-License-Identifier: EUPL-1.2 */
/* Fibers: the requests of one HTTP event loop (http/loop.c) run as cooperative
 * fibers on that loop's thread. A fiber parks while it waits for the store
 * (store_redis.c pipelines the commands of all the fibers of a loop on one
 * connection) or for a blocking call run on a worker thread (fiber_offload_on),
 * and the loop serves other requests meanwhile: no thread per waiting request,
 * no thread switch for each store round trip (a fiber switch is a
 * _setjmp/_longjmp pair: a few registers, no system call).
 *
 * A fiber never parks while it holds a lock, and nothing a fiber keeps in a
 * thread-local variable may be relied on across a park: another fiber of the
 * same thread may run in between. */
#ifndef IDP_FIBER_H
#define IDP_FIBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fiber;

/* Something the loop's epoll watches: a store connection, the MHD daemon. */
struct fiber_io {
	int fd;
	/* The fd is ready (EPOLLIN, EPOLLOUT, EPOLLERR, EPOLLHUP). */
	void (*ready)(struct fiber_io *io, uint32_t events);
	/* Before each wait: flush what is queued; the milliseconds until the
	 * next deadline of this io, or -1 for none. NULL: nothing to do. */
	int (*before_wait)(struct fiber_io *io);
	struct fiber_io *next; /* the scheduler's list (before_wait) */
};

/* This thread becomes a loop thread: its scheduler and epoll. */
int fiber_sched_init(void);
void fiber_sched_fini(void);
/* This thread's scheduler, as a number never given to another (0: none):
 * what was registered with an earlier scheduler's epoll is not in this one. */
uint64_t fiber_sched_serial(void);
/* True on a loop thread, inside a fiber. */
bool fiber_in(void);
/* The running fiber, or NULL. */
struct fiber *fiber_self(void);

/* A fiber that will run fn(arg); done(arg) is called on the loop thread when
 * it ends after having parked (not when fiber_run sees it end). */
struct fiber *fiber_new(void (*fn)(void *), void *arg, void (*done)(void *));
/* Runs f until it parks or ends; true when it ended. */
bool fiber_run(struct fiber *f);
void fiber_free(struct fiber *f);
/* The most of f's stack its jobs ever used, in bytes (the deepest byte
 * written, counted from the top): what tests measure the budget with. */
size_t fiber_stack_peak(const struct fiber *f);
/* Parks the calling fiber until fiber_wake. */
void fiber_park(void);
/* Makes f runnable (loop thread only). */
void fiber_wake(struct fiber *f);
/* Fibers alive on this thread (created, not freed). */
unsigned fiber_count(void);

/* Runs the runnable fibers; waits at most timeout_ms (-1: no bound) for the
 * watched fds, and runs their ready callbacks. */
void fiber_poll(int timeout_ms);
int fiber_io_add(struct fiber_io *io, uint32_t events);
int fiber_io_mod(struct fiber_io *io, uint32_t events);
void fiber_io_del(struct fiber_io *io);

/* Runs fn(arg) on a worker thread of pool p while the calling fiber is
 * parked, for the calls that block (a password hash, LDAP, an upstream
 * provider). Outside a fiber, or if no worker can take it, fn(arg) runs
 * right here. A pool starts its threads at its first job;
 * fiber_workers_start(n) sets how many (0 until then, or after
 * fiber_workers_stop: jobs run in place). fiber_pool_free joins the
 * threads: no job may be queued or running. */
struct fiber_pool;
struct fiber_pool *fiber_pool_new(void);
void fiber_pool_free(struct fiber_pool *p);
void fiber_offload_on(struct fiber_pool *p, void (*fn)(void *), void *arg);
int fiber_workers_start(unsigned n);
void fiber_workers_stop(void);

#endif
