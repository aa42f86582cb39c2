/* SPDX-License-Identifier: EUPL-1.2 */
/* Fibers on the C library's own primitives, one scheduler per loop thread,
 * and a small pool of worker threads for blocking calls. See fiber.h.
 * Hand-written: no Debian package offers fibers that fit inside
 * libmicrohttpd's callbacks without C++ (Boost.Context needs libstdc++:
 * 1.2 MB more of resident memory, a tenth of the daemon's idle size).
 *
 * A fiber's stack is entered once through ucontext (makecontext and
 * setcontext); every switch after that, and a kept fiber's next job, is a
 * _setjmp/_longjmp pair: swapcontext saves and restores the signal mask
 * with a system call at each switch, two to six per request (9 % of the
 * system calls of an SSO login with the Redis store). No signal handler
 * changes the mask inside a fiber, so there is nothing to save.
 * _FORTIFY_SOURCE is off in this file: its longjmp check refuses a jump to
 * another stack, which is what a switch is. */
#undef _FORTIFY_SOURCE
#include "fiber.h"

#include <errno.h>
#include <stddef.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SWITCH_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define SWITCH_FINISH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define SWITCH_START(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define SWITCH_FINISH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

/* The stack budget. The only recursion on a fiber is jansson's (parse,
 * copy, compare, dump, free: about 300 bytes a level), and it only ever
 * sees JSON bounded where it enters (json_bounded.h): JSON_IN_DEPTH (16) from
 * outside, JSON_STORED_DEPTH (32) for records read back from the store.
 * Deepest path: a 32-deep record parsed, copied, compared and dumped;
 * tests/unit/test_input.c (t_stack_budget) measures its high-water mark at
 * about 15 KiB under ASan, 304 bytes a level (9 KiB for the 28 levels above
 * a 4-deep record). Without the bounds, jansson's own limit of 2,048 levels
 * took 600 KiB to dump: the 1,750-deep "claims" that overflowed this stack.
 * What else a request keeps on its stack (the handler, OpenSSL's signing,
 * libcurl) is not recursive; 512 KiB leaves room many times over, and
 * pages are committed only when touched. */
#define STACK_SIZE (512u * 1024u)
#define GUARD_SIZE 4096u
/* Ended fibers kept per loop for reuse: as many as the requests a loop
 * usually has waiting at once (on Redis, on a backend). With 16, a load of
 * 64 connections waiting on Redis mapped, faulted in and unmapped a stack
 * per request (12 % of the provider's core in fiber_new and fiber_free). A
 * kept stack holds the pages its requests touched, typically 16-32 KiB. */
#define FIBERS_KEPT 256

struct fiber {
	ucontext_t ctx;             /* the first entry */
	jmp_buf jb;                 /* where it parked, or waits for its next job */
	char *map;                  /* guard page, then the stack */
	bool started;               /* entered once: resumed through jb */
	void *fake;                 /* AddressSanitizer's fake stack, across a park */
	/* From here on, cleared for each job (fiber_get). */
	void (*fn)(void *);
	void (*done_cb)(void *);
	void *arg;
	bool done, parked, queued;
	struct fiber *next;         /* run queue, offload completions */
};

struct sched {
	jmp_buf caller;             /* where fiber_run was called */
	struct fiber *cur;
	struct fiber *runq, *runq_tail;
	struct fiber *pool[FIBERS_KEPT]; /* ended fibers, stack and all, for reuse */
	unsigned n_pool, alive;
	int ep, efd;
	struct fiber_io efd_io;
	struct fiber_io *ios;       /* those with before_wait */
	const void *main_bottom;    /* the thread's own stack, for ASan */
	size_t main_size;
	pthread_mutex_t lock;       /* done: offloaded calls that returned */
	struct fiber *done;
	uint64_t serial;
};

static _Atomic uint64_t sched_serials;

static __thread struct sched *t_sched;

bool fiber_in(void)
{
	return t_sched != NULL && t_sched->cur != NULL;
}

uint64_t fiber_sched_serial(void)
{
	return t_sched != NULL ? t_sched->serial : 0;
}

struct fiber *fiber_self(void)
{
	return t_sched != NULL ? t_sched->cur : NULL;
}

unsigned fiber_count(void)
{
	return t_sched != NULL ? t_sched->alive : 0;
}

static void efd_ready(struct fiber_io *io, uint32_t events)
{
	struct sched *s = t_sched;
	struct fiber *f, *next;
	uint64_t n;

	(void)events;
	(void)io;
	if (read(s->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&s->lock);
	f = s->done;
	s->done = NULL;
	pthread_mutex_unlock(&s->lock);
	for (; f != NULL; f = next) {
		next = f->next;
		fiber_wake(f);
	}
}

int fiber_sched_init(void)
{
	struct sched *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return IDP_ENOMEM;
	s->ep = epoll_create1(EPOLL_CLOEXEC);
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&s->lock, NULL);
	s->serial = ++sched_serials;
	t_sched = s;
	s->efd_io.fd = s->efd;
	s->efd_io.ready = efd_ready;
	if (s->ep < 0 || s->efd < 0 || fiber_io_add(&s->efd_io, EPOLLIN) != IDP_OK) {
		fiber_sched_fini();
		return IDP_EIO;
	}
	return IDP_OK;
}

void fiber_sched_fini(void)
{
	struct sched *s = t_sched;

	if (s == NULL)
		return;
	for (unsigned i = 0; i < s->n_pool; i++) {
		munmap(s->pool[i]->map, STACK_SIZE + GUARD_SIZE);
		free(s->pool[i]);
	}
	if (s->ep >= 0)
		close(s->ep);
	if (s->efd >= 0)
		close(s->efd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	t_sched = NULL;
}

/* The end of f's job: back to the scheduler, until f is taken from the pool
 * for its next job (fiber_run). Apart from trampoline, whose locals would
 * not survive the jump. */
static __attribute__((noinline)) void job_ended(struct sched *s, struct fiber *f)
{
	SWITCH_START(&f->fake, s->main_bottom, s->main_size);
	if (_setjmp(f->jb) == 0)
		_longjmp(s->caller, 1);
	SWITCH_FINISH(f->fake, &t_sched->main_bottom, &t_sched->main_size);
}

/* A fiber's life: each job of the fibers kept in the pool runs here in turn,
 * on the same stack, until the stack is unmapped. */
static void trampoline(void)
{
	struct sched *s = t_sched;

	SWITCH_FINISH(NULL, &s->main_bottom, &s->main_size);
	for (;;) {
		struct fiber *f = t_sched->cur;

		f->fn(f->arg);
		f->done = true;
		job_ended(t_sched, f);
	}
}

/* Apart: getcontext returns twice, which would clobber fiber_new's locals. */
static __attribute__((noinline)) int ctx_get(struct fiber *f)
{
	return getcontext(&f->ctx);
}

/* A fiber of the pool, or a new one with its stack; not yet started. */
static struct fiber *fiber_get(struct sched *s)
{
	struct fiber *f;

	if (s->n_pool > 0) {
		f = s->pool[--s->n_pool];
		/* Started: it waits in trampoline for this job. */
		memset(&f->fn, 0, sizeof(*f) - offsetof(struct fiber, fn));
		return f;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->map = mmap(NULL, STACK_SIZE + GUARD_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (f->map == MAP_FAILED || mprotect(f->map, GUARD_SIZE, PROT_NONE) != 0 || ctx_get(f) != 0) {
		if (f->map != MAP_FAILED)
			munmap(f->map, STACK_SIZE + GUARD_SIZE);
		free(f);
		return NULL;
	}
	return f;
}

struct fiber *fiber_new(void (*fn)(void *), void *arg, void (*done)(void *))
{
	struct sched *s = t_sched;
	struct fiber *f;

	if (s == NULL || (f = fiber_get(s)) == NULL)
		return NULL;
	if (!f->started) {
		f->ctx.uc_stack.ss_sp = f->map + GUARD_SIZE;
		f->ctx.uc_stack.ss_size = STACK_SIZE;
		f->ctx.uc_link = NULL;
		makecontext(&f->ctx, trampoline, 0);
	}
	f->fn = fn;
	f->arg = arg;
	f->done_cb = done;
	s->alive++;
	return f;
}

void fiber_free(struct fiber *f)
{
	struct sched *s = t_sched;

	if (f == NULL)
		return;
	if (s != NULL)
		s->alive--;
	if (s != NULL && s->n_pool < FIBERS_KEPT && f->done) {
		s->pool[s->n_pool++] = f;
		return;
	}
	munmap(f->map, STACK_SIZE + GUARD_SIZE);
	free(f);
}

/* Not instrumented: it reads the whole stack, the parts ASan poisoned for
 * frames long returned included. */
#if defined(__SANITIZE_ADDRESS__)
__attribute__((no_sanitize_address))
#endif
size_t fiber_stack_peak(const struct fiber *f)
{
	const unsigned char *p = (const unsigned char *)f->map + GUARD_SIZE;
	size_t i = 0;

	/* The stack grows down from the top of the map, whose pages are zero
	 * until written (reading them commits nothing but the zero page). */
	while (i < STACK_SIZE && p[i] == 0)
		i++;
	return STACK_SIZE - i;
}

bool fiber_run(struct fiber *f)
{
	struct sched *s = t_sched;
	void *fake = NULL;

	f->parked = false;
	s->cur = f;
	SWITCH_START(&fake, f->map + GUARD_SIZE, STACK_SIZE);
	if (_setjmp(s->caller) == 0) {
		if (f->started)
			_longjmp(f->jb, 1);
		f->started = true;
		setcontext(&f->ctx); /* the first entry: trampoline */
	}
	SWITCH_FINISH(fake, NULL, NULL);
	s->cur = NULL;
	return f->done;
}

void fiber_park(void)
{
	struct sched *s = t_sched;
	struct fiber *f = s->cur;

	f->parked = true;
	SWITCH_START(&f->fake, s->main_bottom, s->main_size);
	if (_setjmp(f->jb) == 0)
		_longjmp(s->caller, 1);
	SWITCH_FINISH(f->fake, &s->main_bottom, &s->main_size);
}

void fiber_wake(struct fiber *f)
{
	struct sched *s = t_sched;

	if (f->queued || !f->parked)
		return;
	f->queued = true;
	f->next = NULL;
	if (s->runq_tail != NULL)
		s->runq_tail->next = f;
	else
		s->runq = f;
	s->runq_tail = f;
}

static void run_ready(struct sched *s)
{
	struct fiber *f;

	while ((f = s->runq) != NULL) {
		s->runq = f->next;
		if (s->runq == NULL)
			s->runq_tail = NULL;
		f->queued = false;
		if (fiber_run(f) && f->done_cb != NULL)
			f->done_cb(f->arg);
	}
}

int fiber_io_add(struct fiber_io *io, uint32_t events)
{
	struct sched *s = t_sched;
	struct epoll_event ev = {.events = events, .data.ptr = io};

	if (s == NULL || epoll_ctl(s->ep, EPOLL_CTL_ADD, io->fd, &ev) != 0)
		return IDP_EIO;
	if (io->before_wait != NULL) {
		io->next = s->ios;
		s->ios = io;
	}
	return IDP_OK;
}

int fiber_io_mod(struct fiber_io *io, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = io};

	return epoll_ctl(t_sched->ep, EPOLL_CTL_MOD, io->fd, &ev) == 0 ? IDP_OK : IDP_EIO;
}

void fiber_io_del(struct fiber_io *io)
{
	struct sched *s = t_sched;

	if (s == NULL)
		return;
	epoll_ctl(s->ep, EPOLL_CTL_DEL, io->fd, NULL);
	for (struct fiber_io **pp = &s->ios; *pp != NULL; pp = &(*pp)->next)
		if (*pp == io) {
			*pp = io->next;
			break;
		}
}

void fiber_poll(int timeout_ms)
{
	struct sched *s = t_sched;
	struct epoll_event ev[64];
	int n, t;

	run_ready(s);
	for (struct fiber_io *io = s->ios, *next; io != NULL; io = next) {
		next = io->next; /* before_wait may remove io */
		if ((t = io->before_wait(io)) >= 0 && (timeout_ms < 0 || t < timeout_ms))
			timeout_ms = t;
	}
	if (s->runq != NULL)
		timeout_ms = 0; /* a before_wait woke a fiber (a failed flush) */
	n = epoll_wait(s->ep, ev, 64, timeout_ms);
	for (int i = 0; i < n; i++) {
		struct fiber_io *io = ev[i].data.ptr;

		io->ready(io, ev[i].events);
	}
	run_ready(s);
}

/* Worker pools: one per identity backend (a slow LDAP server occupies its
 * own workers, never those of the file backend), each started at its first
 * job with the number of threads fiber_workers_start() set. */
struct job {
	void (*fn)(void *);
	void *arg;
	struct fiber *f;
	struct sched *s;
	struct job *next;
};

struct fiber_pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *head, *tail;
	pthread_t *th;
	unsigned n;
	bool stop;
};

static atomic_uint pool_threads; /* threads per pool; 0: jobs run in place */

static void *worker(void *arg)
{
	struct fiber_pool *p = arg;
	struct job *j;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->head == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if ((j = p->head) == NULL) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		p->head = j->next;
		if (p->head == NULL)
			p->tail = NULL;
		pthread_mutex_unlock(&p->lock);
		j->fn(j->arg);
		/* The job lives on the parked fiber's stack, and the fiber may
		 * run again as soon as the loop can take it from done: everything
		 * is read first, and the loop is woken before the lock is let go. */
		struct sched *s = j->s;
		struct fiber *f = j->f;

		pthread_mutex_lock(&s->lock);
		f->next = s->done;
		s->done = f;
		if (write(s->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			idp_log(LOG_ERR, "fiber: cannot wake a loop: %s", strerror(errno));
		pthread_mutex_unlock(&s->lock);
	}
}

struct fiber_pool *fiber_pool_new(void)
{
	struct fiber_pool *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	return p;
}

void fiber_pool_free(struct fiber_pool *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n; i++)
		pthread_join(p->th[i], NULL);
	free(p->th);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* Pool locked: its threads, at the first job. */
static void pool_start(struct fiber_pool *p)
{
	unsigned want = atomic_load(&pool_threads);

	if (p->th != NULL || want == 0 || (p->th = calloc(want, sizeof(*p->th))) == NULL)
		return;
	for (p->n = 0; p->n < want; p->n++)
		if (pthread_create(&p->th[p->n], NULL, worker, p) != 0)
			break;
	if (p->n == 0)
		idp_log(LOG_ERR, "fiber: cannot start a backend's workers: its calls run on the loop");
}

int fiber_workers_start(unsigned n)
{
	atomic_store(&pool_threads, n);
	return n > 0 ? IDP_OK : IDP_EINVAL;
}

void fiber_workers_stop(void)
{
	/* Pools already started keep their threads until freed; later jobs
	 * run in place. */
	atomic_store(&pool_threads, 0);
}

void fiber_offload_on(struct fiber_pool *p, void (*fn)(void *), void *arg)
{
	struct sched *s = t_sched;
	struct job j = {fn, arg, NULL, s, NULL};
	bool queued = false;

	if (!fiber_in() || p == NULL) {
		fn(arg);
		return;
	}
	j.f = s->cur;
	pthread_mutex_lock(&p->lock);
	pool_start(p);
	if (!p->stop && p->n > 0) {
		if (p->tail != NULL)
			p->tail->next = &j;
		else
			p->head = &j;
		p->tail = &j;
		pthread_cond_signal(&p->cond);
		queued = true;
	}
	pthread_mutex_unlock(&p->lock);
	if (!queued) {
		fn(arg);
		return;
	}
	fiber_park();
}
