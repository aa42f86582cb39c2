/* The event loops: one per thread, each its own libmicrohttpd daemon in
 * external epoll mode on the shared listening socket, its fibers and its
 * store connection. A request runs as a fiber (fiber.h): when it parks (a
 * store round trip, a password hash on a worker), its connection waits
 * suspended and the loop serves others. This is the top of the HTTP layer:
 * it hands each whole request to route.c. */
#include "http_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fiber.h"
#include "idp.h"

struct loop {
	pthread_t th;
	struct MHD_Daemon *d;
	struct fiber_io mhd_io, stop_io;
	int stop_fd;
	bool stop, quiesced;
	int state; /* 0 starting, 1 running, -1 failed */
};

static struct {
	struct loop *loops;
	unsigned n;
	int listen_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned limit, per_ip, timeout; /* listen settings, read at start */
	size_t mem_limit;
} H = {NULL, 0, -1, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static __thread struct loop *t_loop;

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	return req_new(uri, conn);
}

static void run_request(void *arg)
{
	struct req *r = arg;

	r->ret = http_dispatch(r);
}

/* The fiber of a suspended request ended (loop thread): back to MHD, which
 * calls on_request once more to queue the reply. */
static void request_resume(void *arg)
{
	struct req *r = arg;

	MHD_resume_connection(r->conn); /* the MHD_run after this poll takes it */
}

/* Queues the request's reply; its fiber, if any, has ended. */
static enum MHD_Result queue_reply(struct req *r)
{
	enum MHD_Result ret = r->ret;

	fiber_free(r->fib);
	r->fib = NULL;
	if (r->resp != NULL) {
		ret = MHD_queue_response(r->conn, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
	}
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL)
		return MHD_NO;
	if (!r->started) {
		/* Never queue a reply on the first call: libmicrohttpd 0.9.75 then
		 * closes the connection, and keep-alive is worth 6x under load. */
		req_begin(r, conn, method);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		req_add_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->fib != NULL) /* called again after the resume: the fiber has ended */
		return queue_reply(r);
	if (t_loop != NULL && t_loop->stop) {
		r->ret = http_refuse_stopping(r);
		return queue_reply(r);
	}
	/* Without a fiber (no memory for its stack), the request runs here. */
	if ((r->fib = fiber_new(run_request, r, request_resume)) == NULL) {
		r->ret = http_dispatch(r);
		return queue_reply(r);
	}
	if (fiber_run(r->fib))
		return queue_reply(r);
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (r == NULL)
		return;
	/* A suspended connection is resumed only once its fiber has ended, and
	 * resumed, on_request frees it: a fiber left here has ended too. */
	fiber_free(r->fib);
	r->fib = NULL;
	req_free(r);
	*req_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	idp_log(LOG_DEBUG, "http: %s", line);
}

static void mhd_ready(struct fiber_io *io, uint32_t events)
{
	(void)io;
	(void)events; /* MHD_run follows every poll */
}

static void stop_ready(struct fiber_io *io, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) >= 0 && t_loop != NULL)
		t_loop->stop = true;
}

static void loop_state(struct loop *l, int state)
{
	pthread_mutex_lock(&H.lock);
	l->state = state;
	pthread_cond_broadcast(&H.cond);
	pthread_mutex_unlock(&H.lock);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	const union MHD_DaemonInfo *di;
	int lfd;

	t_loop = l;
	/* Each daemon gets its own descriptor of the listening socket: one that
	 * closes it (a failed start, a stop) leaves the others' intact. */
	if ((lfd = fcntl(H.listen_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	if (fiber_sched_init() != IDP_OK) {
		close(lfd);
		goto fail;
	}
	/* The connection limit is per daemon: each loop gets its share (rounded
	 * up); the per-IP limit holds in each (never refusing below it). */
	l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, NULL,
				MHD_OPTION_LISTEN_SOCKET, lfd,
				MHD_OPTION_CONNECTION_LIMIT, H.limit,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, H.per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, H.timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, H.mem_limit,
				MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (l->d == NULL) {
		close(lfd);
		goto fail_sched;
	}
	l->stop_io.fd = l->stop_fd;
	l->stop_io.ready = stop_ready;
	l->mhd_io.ready = mhd_ready;
	if ((di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD)) != NULL)
		l->mhd_io.fd = di->epoll_fd;
	if (di == NULL || fiber_io_add(&l->mhd_io, EPOLLIN) != IDP_OK ||
	    fiber_io_add(&l->stop_io, EPOLLIN) != IDP_OK) {
		MHD_stop_daemon(l->d); /* closes lfd */
		goto fail_sched;
	}
	loop_state(l, 1);
	/* On stop: accept no more, answer what is in progress (a fiber waits
	 * at most the store's timeout), then close. */
	while (!l->stop || fiber_count() > 0) {
		MHD_UNSIGNED_LONG_LONG to = 0;
		int t = -1;

		if (l->stop && !l->quiesced) {
			MHD_socket q = MHD_quiesce_daemon(l->d);

			if (q != MHD_INVALID_SOCKET)
				close(q); /* our duplicate: no new connections here */
			l->quiesced = true;
		}
		if (MHD_get_timeout(l->d, &to) == MHD_YES)
			t = to > 1000 ? 1000 : (int)to;
		fiber_poll(t);
		MHD_run(l->d);
	}
	MHD_stop_daemon(l->d);
	fiber_sched_fini();
	return NULL;
fail_sched:
	fiber_sched_fini();
fail:
	loop_state(l, -1);
	return NULL;
}

static int listen_socket(const struct config *cfg, int port, unsigned *bound)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, cfg->address, &sa.sin_addr) != 1)
		return log_fail(IDP_EINVAL, "http: listen.address %s is not an IPv4 address", cfg->address);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return log_fail(IDP_EIO, "http: socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return log_fail(IDP_EIO, "http: cannot listen on %s:%d: %s", cfg->address, port, strerror(errno));
	}
	*bound = ntohs(sa.sin_port);
	H.listen_fd = fd;
	return IDP_OK;
}

int http_start(const struct config *cfg, int port_override, const char *port_file)
{
	unsigned threads = cfg->threads, port, started = 0;
	cpu_set_t cpus;
	int rc;

	http_routes_init();
	/* One loop per core this process may run on (taskset, cgroups), not
	 * per core of the machine: a loop never waits, its fibers do. */
	if (threads == 0)
		threads = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 0
				  ? (unsigned)CPU_COUNT(&cpus) : 1;
	if ((rc = listen_socket(cfg, port_override >= 0 ? port_override : cfg->port, &port)) != IDP_OK)
		return rc;
	/* The blocking calls (password hashes, LDAP, upstream providers) run
	 * on workers, each backend on its own: two per loop, at least four. */
	if ((H.loops = calloc(threads, sizeof(*H.loops))) == NULL ||
	    fiber_workers_start(threads * 2 > 4 ? threads * 2 : 4) != IDP_OK) {
		free(H.loops);
		H.loops = NULL;
		close(H.listen_fd);
		H.listen_fd = -1;
		return log_fail(IDP_ENOMEM, "http: cannot start the workers");
	}
	H.n = threads;
	H.limit = (cfg->connection_limit + threads - 1) / threads;
	H.per_ip = cfg->per_ip_limit;
	H.timeout = cfg->connection_timeout;
	/* Each connection's pool holds the request head and the reply's
	 * headers; libmicrohttpd zeroes all of it after every request (with
	 * 32 KiB over max_url, 3 % of the core in SSO logins). */
	H.mem_limit = (size_t)(cfg->max_url + 16384);
	for (unsigned i = 0; i < threads; i++) {
		struct loop *l = &H.loops[i];

		if ((l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    pthread_create(&l->th, NULL, loop_main, l) != 0) {
			if (l->stop_fd >= 0)
				close(l->stop_fd);
			l->stop_fd = -1;
			break;
		}
		pthread_mutex_lock(&H.lock);
		while (l->state == 0)
			pthread_cond_wait(&H.cond, &H.lock);
		pthread_mutex_unlock(&H.lock);
		if (l->state < 0) {
			pthread_join(l->th, NULL);
			close(l->stop_fd);
			l->stop_fd = -1;
			break;
		}
		started++;
	}
	if (started < threads) {
		H.n = started;
		http_stop();
		return log_fail(IDP_EIO, "http: cannot start the event loops on %s:%u", cfg->address, port);
	}
	if (port_file != NULL) {
		FILE *f = fopen(port_file, "w");

		if (f != NULL) {
			fprintf(f, "%u\n", port);
			fclose(f);
		}
	}
	idp_log(LOG_INFO, "listening on http://%s:%u (%u threads)", cfg->address, port, threads);
	return IDP_OK;
}

void http_stop(void)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < H.n; i++)
		if (write(H.loops[i].stop_fd, &one, sizeof(one)) < 0)
			idp_log(LOG_ERR, "http: cannot stop a loop: %s", strerror(errno));
	for (unsigned i = 0; i < H.n; i++) {
		pthread_join(H.loops[i].th, NULL);
		close(H.loops[i].stop_fd);
	}
	fiber_workers_stop();
	free(H.loops);
	H.loops = NULL;
	H.n = 0;
	if (H.listen_fd >= 0)
		close(H.listen_fd);
	H.listen_fd = -1;
}
