/* SPDX-License-Identifier: EUPL-1.2 */
/* The event loops: one per thread, each its own libmicrohttpd daemon in
 * external epoll mode on the shared listening socket (under
 * listen.proxy_protocol, the loop accepts and hands the connections over),
 * its fibers and its store connection. A request runs as a fiber (fiber.h): when it parks (a
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
#include <sys/uio.h>
#include <unistd.h>

#include "fiber.h"
#include "idp.h"
#include "metrics.h"
#include "proxy_proto.h"

/* The longest a loop sleeps. At its connection limit libmicrohttpd 0.9.75
 * stops watching the listening socket and watches it again only on its next
 * run after a connection closed, and MHD_get_timeout may then say "no
 * timeout": an unbounded wait would never accept again. 100 ms lets a full
 * daemon take new connections well within a second of a slot freeing, for
 * ten idle wake-ups a second. */
#define LOOP_WAIT_MAX_MS 100

/* listen.proxy_protocol: how long a connection has to send its PROXY header
 * whole, and how many may be waiting for theirs in a loop (counted against
 * the connection limit too). A proxy writes the header with the
 * connection's first bytes: these bound what a slow or silent peer holds. */
#define PP_DEADLINE_MS 3000
#define PP_PENDING_MAX 256
/* Connections taken per wake-up of the listening socket: the loop's other
 * work is not held back by a burst. */
#define ACCEPT_BATCH 32

/* Room kept in each connection's pool for the answer's headers. */
#define HEAD_REPLY_RESERVE 4096

/* A connection's deadline to finish sending its request. libmicrohttpd's
 * connection timeout counts idle time only: a head or a body trickled a byte
 * at a time would hold a slot for ever. */
struct conn_watch {
	struct conn_watch *prev, *next;
	MHD_socket fd;
	int64_t deadline; /* mono_ms; 0 while its request is being answered */
	struct req *req;  /* the request whose head is being read, if any */
	bool answered;    /* since the last sweep (wake_if_half_closed) */
};

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

/* A connection accepted under listen.proxy_protocol, its header not yet
 * read: not libmicrohttpd's until then. */
struct pp_conn {
	struct fiber_io io; /* first: the ready callback's io is the connection */
	struct pp_conn *prev, *next;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	int64_t deadline; /* mono_ms */
};

/* One event loop per thread. */
struct loop {
	pthread_t th;
	struct MHD_Daemon *d;
	struct fiber_io mhd_io, stop_io;
	int stop_fd;
	bool stop, quiesced;
	int state; /* 0 starting, 1 running, -1 failed */
	struct conn_watch watched; /* list head of this loop's connections */
	int64_t next_sweep;
	struct req *parked; /* whose connections suspend_parked suspends */
	/* listen.proxy_protocol: the loop accepts itself (libmicrohttpd has no
	 * listening socket then) and hands each connection over once its
	 * header is read. */
	struct fiber_io accept_io; /* fd -1 when not accepting */
	bool accept_paused;        /* at the limit: not watched for now */
	int64_t accept_resume;     /* mono_ms; after a failed accept (EMFILE) */
	struct pp_conn pending;    /* list head */
	unsigned n_pending;
};

static struct {
	struct loop *loops;
	unsigned n;
	int listen_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned limit, per_ip, timeout; /* listen settings, read at start */
	size_t mem_limit;
	bool proxy_protocol;
} H = {NULL, 0, -1, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, false};

static __thread struct loop *t_loop;

/* What send_refusal writes for each status: the page's sentence, and the
 * JSON error's description (the OAuth endpoints). */
static const struct refusal {
	unsigned status;
	const char *reason, *page, *json;
} refusals[] = {
	{400, "Bad Request", "La demande est incomplète. / The request is incomplete.",
	 "the request ended before its body"},
	{413, "Content Too Large", "La demande est trop longue. / The request is too long.", "the request body is too large"},
	{414, "URI Too Long", "La demande est trop longue. / The request is too long.", "the request is too large"},
	{431, "Request Header Fields Too Large", "La demande est trop longue. / The request is too long.",
	 "the request is too large"},
	{501, "Not Implemented",
	 "Cette forme de demande n'est pas prise en charge. / This kind of request is not supported.",
	 "only chunked or Content-Length bodies are accepted"},
};

/* A refusal written straight to the socket, where libmicrohttpd cannot
 * answer: a head too large to leave room in its pool for any answer, a
 * framing it would mishandle, a body cut off by the end of the stream. A
 * status line, a few headers and a short body, never a reset or a silent
 * close. The connection closes after it. */
static void send_refusal(MHD_socket fd, struct req *r, unsigned status)
{
	const struct refusal *f = &refusals[0];
	bool json = r != NULL && r->path != NULL && http_route_json(r);
	char head[512], body[320];
	int n, bn;

	for (size_t i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++)
		if (refusals[i].status == status)
			f = &refusals[i];
	bn = json ? snprintf(body, sizeof(body), "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}", f->json)
		  : snprintf(body, sizeof(body), "<!DOCTYPE html><html lang=\"fr\"><meta charset=\"utf-8\">"
			     "<title>Erreur</title><p>%s</p></html>\n", f->page);
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
		     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		     "Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n",
		     f->status, f->reason, json ? "application/json" : "text/html; charset=utf-8", bn);
	struct iovec iov[2] = {{head, (size_t)n}, {body, (size_t)bn}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	/* The send buffer is empty (nothing of this request was answered):
	 * these few hundred bytes go in one call, or the client is gone. */
	if (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		idp_log(LOG_DEBUG, "http: a refused request could not be answered: %s", strerror(errno));
	else
		metrics_request(r != NULL ? r->metric : 0, f->status);
}

/* The end of a request: its fiber (ended), then the request. */
static void request_end(struct req *r)
{
	if (r == NULL)
		return;
	if (r->watch != NULL)
		r->watch->req = NULL;
	if (r->suspend_pending && t_loop != NULL)
		for (struct req **pp = &t_loop->parked; *pp != NULL; pp = &(*pp)->suspend_next)
			if (*pp == r) {
				*pp = r->suspend_next;
				break;
			}
	/* A suspended connection is resumed only once its fiber has ended, and
	 * resumed, on_request frees it: a fiber left here has ended too. */
	fiber_free(r->fib);
	r->fib = NULL;
	req_free(r);
}

/* A request must arrive whole within connection_timeout_s of its connection
 * opening; on a kept-alive connection, within twice that of the previous
 * answer (the idle time libmicrohttpd allows, then the request itself). */
static void conn_watch_arm(struct MHD_Connection *conn, unsigned periods)
{
	struct conn_watch *w = conn_watch_of(conn);

	if (w != NULL)
		w->deadline = periods == 0 ? 0 : mono_ms() + (int64_t)H.timeout * 1000 * periods;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct conn_watch *w = *socket_context;
	const union MHD_ConnectionInfo *ci;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (w != NULL && w->req != NULL) {
			/* A head libmicrohttpd refused itself (its pool full) without
			 * being able to answer: it closes, nothing was sent. Where it
			 * did answer, the socket is shut for writing already and this
			 * send fails harmlessly. */
			if (!w->req->started)
				send_refusal(w->fd, w->req, w->req->url_too_long ? 414 : 431);
			request_end(w->req);
		}
		if (w != NULL) {
			w->prev->next = w->next;
			w->next->prev = w->prev;
			free(w);
		}
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (t_loop == NULL || ci == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return; /* unwatched: libmicrohttpd's idle timeout still holds */
	w->fd = ci->connect_fd;
	w->deadline = mono_ms() + (int64_t)H.timeout * 1000;
	w->next = &t_loop->watched;
	w->prev = t_loop->watched.prev;
	w->prev->next = w;
	t_loop->watched.prev = w;
	*socket_context = w;
}

/* A client that half-closed (sent its request, then shut its side for
 * writing) sends nothing more. libmicrohttpd 0.9.75 watches the socket
 * edge-triggered: an end of stream that arrived with the data woke it
 * once, with the data, and nothing wakes it again, so the connection would
 * wait out its idle timeout after the answer (or, the body cut short, its
 * deadline without a word). When nothing but the end is left to read,
 * shutting our reading side wakes it: it reads the end and closes (with a
 * 400 for a cut body, on_completed). Looked at by the sweep, not at each
 * answer: one peek per connection answered (or waiting for its body) per
 * sweep, rather than a system call more per request. What libmicrohttpd
 * had read already (pipelined requests, the rest of a body) goes first. */
static void wake_if_half_closed(struct conn_watch *w)
{
	bool body_pending = w->req != NULL && w->req->started && w->deadline != 0;
	char c;

	if ((w->answered || body_pending) && recv(w->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0)
		shutdown(w->fd, SHUT_RD);
	w->answered = false;
}

/* Ends the connections past their deadline, and wakes libmicrohttpd for
 * those whose client half-closed. shutdown, not close: the socket stays
 * libmicrohttpd's, which sees the end of the stream and closes it through
 * its usual path (callbacks, counters). */
static void conn_watch_sweep(struct loop *l)
{
	int64_t now = mono_ms();

	if (now < l->next_sweep)
		return;
	l->next_sweep = now + LOOP_WAIT_MAX_MS;
	for (struct conn_watch *w = l->watched.next; w != &l->watched; w = w->next) {
		if (w->deadline != 0 && now >= w->deadline) {
			w->deadline = 0;
			shutdown(w->fd, SHUT_RDWR);
			idp_log(LOG_DEBUG, "http: a request not received within %u s: connection closed", H.timeout);
		} else {
			wake_if_half_closed(w);
		}
	}
}

/* While a head is read, its connection is on libmicrohttpd's list of
 * connections with their own timeout, which every MHD_run visits whole; the
 * others' list is visited from the oldest, and only up to the first that is
 * still open. libmicrohttpd 0.9.75, when a head's query arguments fill the
 * connection's pool after its read buffer grew (a request line past half
 * the pool, some 200 arguments), answers twice with an error and leaves the
 * connection marked closed but not cleaned up, nor closed: on the usual
 * list, behind any older connection (an idle keep-alive one), it would wait
 * out that one's timeout without a byte. Visited, it is cleaned up at once
 * and on_connection answers (414 or 431). Back on the usual list at the
 * head's end. */
static void head_watch(struct MHD_Connection *conn, bool reading)
{
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, reading ? H.timeout + 1 : H.timeout);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *r = req_new(uri, conn);

	(void)cls;
	head_watch(conn, true);
	if (r != NULL && (r->watch = conn_watch_of(conn)) != NULL)
		r->watch->req = r;
	return r;
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

/* What the head took of the connection's pool, over-estimated: its bytes
 * (the request line, header names and values with their separators, in the
 * read buffer), a copy of the Cookie header (libmicrohttpd parses a copy),
 * and a 64-byte record per header, cookie and query argument. */
struct head_use {
	size_t bytes, values;
};

static enum MHD_Result head_use_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct head_use *u = cls;

	u->values++;
	if (kind == MHD_HEADER_KIND) {
		u->bytes += strlen(key) + 4 + (value != NULL ? strlen(value) : 0);
		if (value != NULL && strcasecmp(key, MHD_HTTP_HEADER_COOKIE) == 0)
			u->bytes += strlen(value) + 16;
	}
	return MHD_YES;
}

/* Whether the pool has HEAD_REPLY_RESERVE left for the answer's headers
 * (a page with its security headers and cookies takes under 2 KiB; a
 * redirect echoing a 7.7 KB state was seen answered at the cap too). A
 * head past that is refused with a short answer written straight
 * to the socket: libmicrohttpd 0.9.75, when an answer's headers do not fit
 * in what is left, closes the connection without a byte. */
static bool head_fits(struct req *r, struct MHD_Connection *conn)
{
	struct head_use u = {r->head_bytes + 32, 0};

	MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND, head_use_cb, &u);
	return u.bytes + 64 * u.values + HEAD_REPLY_RESERVE <= H.mem_limit;
}

/* A body framed by Content-Length or "Transfer-Encoding: chunked" only (RFC
 * 9112 6.1): libmicrohttpd 0.9.75 reads any other coding to the end of the
 * stream and then closes without a status, and a coding beside a
 * Content-Length is how requests are smuggled past a proxy. Refused at once
 * (501), the connection closed. */
static bool framing_known(struct MHD_Connection *conn)
{
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);

	return te == NULL || strcasecmp(te, "chunked") == 0;
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
		head_watch(conn, false);
		req_begin(r, conn, method);
		if (!framing_known(conn)) {
			if (r->watch != NULL)
				send_refusal(r->watch->fd, r, 501);
			return MHD_NO;
		}
		if (!head_fits(r, conn)) {
			if (r->watch != NULL)
				send_refusal(r->watch->fd, r, r->url_too_long ? 414 : 431);
			return MHD_NO; /* closes the connection */
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		req_add_body(r, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->fib != NULL) /* called again after the resume: the fiber has ended */
		return queue_reply(r);
	conn_watch_arm(conn, 0); /* received whole: no deadline while it is answered */
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
	if (t_loop == NULL) {
		MHD_suspend_connection(conn);
		return MHD_YES;
	}
	r->suspend_pending = true;
	r->suspend_next = t_loop->parked;
	t_loop->parked = r;
	return MHD_YES;
}

/* Suspends the connections of the requests parked during MHD_run, once it
 * has returned. Suspended from inside the request's last call,
 * libmicrohttpd 0.9.75 keeps what the connection waited for before
 * (input), and on resume reads the socket before it queues the answer: a
 * client that half-closed meanwhile gets its end of stream read, and the
 * connection closed without the answer. Returned from that call first, the
 * connection waits for its answer, and reads nothing more until it is sent. */
static void suspend_parked(struct loop *l)
{
	struct req *r;

	while ((r = l->parked) != NULL) {
		l->parked = r->suspend_next;
		r->suspend_next = NULL;
		r->suspend_pending = false;
		MHD_suspend_connection(r->conn);
	}
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		struct conn_watch *w = conn_watch_of(conn);

		conn_watch_arm(conn, 2);
		if (w != NULL)
			w->answered = true;
	}
	/* The stream ended (the client half-closed) after the head, before the
	 * body did (libmicrohttpd 0.9.75 ends a request so only then):
	 * it closes without a word; the client, still reading, is told why
	 * (RFC 9112 8). The socket is still open for writing here. */
	if (toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT && r != NULL && r->started && r->watch != NULL)
		send_refusal(r->watch->fd, r, r->body_too_big ? 413 : 400);
	request_end(r);
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

/* listen.proxy_protocol. The loop accepts from the listening socket itself,
 * closes at once a connection from a peer that is not a trusted proxy, and
 * reads the PROXY header of the others (proxy_proto.h) without a byte of
 * the request after it; then libmicrohttpd takes the connection with the
 * client's address, so its per-address limit, the throttling and the logs
 * all see the client. Nothing is owed before HTTP: a connection refused
 * here is closed without a word (logged at debug level, counted). */

static void peer_text(const struct sockaddr_storage *ss, char out[64])
{
	out[0] = '\0';
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, 64);
	else if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, 64);
}

/* Takes p off the loop's watch and list; its descriptor stays open. */
static void pp_unlink(struct loop *l, struct pp_conn *p)
{
	fiber_io_del(&p->io);
	p->prev->next = p->next;
	p->next->prev = p->prev;
	l->n_pending--;
}

static void pp_refuse(struct loop *l, struct pp_conn *p, enum metric m, const char *why)
{
	char peer[64];

	peer_text(&p->peer, peer);
	idp_log(LOG_DEBUG, "http: PROXY protocol: %s from %s: connection closed", why, peer);
	metrics_count(m);
	pp_unlink(l, p);
	close(p->io.fd);
	free(p);
}

static void pp_ready(struct fiber_io *io, uint32_t events)
{
	struct pp_conn *p = (struct pp_conn *)io;
	struct loop *l = t_loop;
	unsigned char b[PP_HEADER_MAX];
	const struct sockaddr *sa;
	struct pp_header h;
	enum pp_result res;
	socklen_t sl;
	ssize_t n;
	int fd = io->fd;
	bool ended = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;

	/* Peeked, not read: the header's length shows only once it is there. */
	n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) && !ended)
		return;
	if (n <= 0) {
		pp_refuse(l, p, M_PP_INVALID, "closed before a header");
		return;
	}
	res = pp_parse(b, (size_t)n, &h);
	if (res == PP_NEED_MORE && !ended)
		return; /* edge-triggered: woken again when more arrives */
	if (res != PP_DONE) {
		pp_refuse(l, p, M_PP_INVALID, res == PP_BAD ? "no valid header" : "closed inside its header");
		return;
	}
	/* Exactly the header: what follows it is the request, libmicrohttpd's. */
	if (recv(fd, b, h.consumed, MSG_DONTWAIT) != (ssize_t)h.consumed) {
		pp_refuse(l, p, M_PP_INVALID, "a header that could not be read");
		return;
	}
	sa = (const struct sockaddr *)(h.keep_peer ? &p->peer : &h.addr);
	sl = h.keep_peer ? p->peerlen : h.addrlen;
	pp_unlink(l, p);
	/* libmicrohttpd closes the socket when it refuses it (its per-address
	 * limit for this client, no memory). */
	if (MHD_add_connection(l->d, fd, sa, sl) != MHD_YES)
		idp_log(LOG_DEBUG, "http: a proxied connection refused by libmicrohttpd: %s", strerror(errno));
	free(p);
}

/* Connections open or waiting for their header stay under the loop's share
 * of the connection limit: at it, new ones wait in the kernel's queue. */
static bool pp_room(struct loop *l)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	unsigned open = di != NULL ? di->num_connections : 0;

	return l->n_pending < PP_PENDING_MAX && open + l->n_pending < H.limit;
}

static void accept_pause(struct loop *l, int64_t until)
{
	if (!l->accept_paused && fiber_io_mod(&l->accept_io, 0) == IDP_OK)
		l->accept_paused = true;
	l->accept_resume = until;
}

/* The trusted proxies of the configuration in force: a SIGHUP that adds
 * or removes one applies to the next connection, as for X-Forwarded-For. */
static bool peer_trusted(const char *peer)
{
	struct rt *rt = rt_acquire();
	bool yes = cidr_list_has(rt->cfg->trusted_proxies, rt->cfg->n_trusted_proxies, peer);

	rt_release(rt);
	return yes;
}

static void accept_ready(struct fiber_io *io, uint32_t events)
{
	struct loop *l = t_loop;

	(void)events;
	for (unsigned i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct pp_conn *p;
		char peer[64];
		int fd;

		if (!pp_room(l)) {
			accept_pause(l, 0);
			return;
		}
		if ((fd = accept4(io->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			if (errno == ECONNABORTED || errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* Out of descriptors or memory: the socket stays
				 * ready, so not watched for a moment. */
				idp_log(LOG_DEBUG, "http: accept: %s", strerror(errno));
				accept_pause(l, mono_ms() + LOOP_WAIT_MAX_MS);
			}
			return;
		}
		peer_text(&ss, peer);
		if (!peer_trusted(peer)) {
			idp_log(LOG_DEBUG, "http: PROXY protocol: a connection from %s, not a trusted proxy: closed", peer);
			metrics_count(M_PP_UNTRUSTED);
			close(fd);
			continue;
		}
		if ((p = calloc(1, sizeof(*p))) == NULL) {
			close(fd);
			continue;
		}
		p->io.fd = fd;
		p->io.ready = pp_ready;
		p->peer = ss;
		p->peerlen = sl;
		p->deadline = mono_ms() + PP_DEADLINE_MS;
		/* Edge-triggered: a peek leaves the bytes there, level-triggered
		 * would wake the loop for them again and again. */
		if (fiber_io_add(&p->io, EPOLLIN | EPOLLRDHUP | EPOLLET) != IDP_OK) {
			close(fd);
			free(p);
			continue;
		}
		p->next = &l->pending;
		p->prev = l->pending.prev;
		p->prev->next = p;
		l->pending.prev = p;
		l->n_pending++;
	}
}

/* Each loop turn: the headers past their deadline (the list is in accept
 * order, so in deadline order), and the listening socket watched again
 * once there is room. */
static void pp_sweep(struct loop *l)
{
	int64_t now = mono_ms();

	while (l->pending.next != &l->pending && l->pending.next->deadline <= now)
		pp_refuse(l, l->pending.next, M_PP_TIMEOUT, "no whole header within the deadline");
	if (l->accept_paused && now >= l->accept_resume && pp_room(l) &&
	    fiber_io_mod(&l->accept_io, EPOLLIN) == IDP_OK)
		l->accept_paused = false;
}

/* No more connections: the listening descriptor and those still waiting for
 * their header are closed. */
static void pp_stop(struct loop *l)
{
	if (l->accept_io.fd >= 0) {
		fiber_io_del(&l->accept_io);
		close(l->accept_io.fd);
		l->accept_io.fd = -1;
	}
	while (l->pending.next != &l->pending) {
		struct pp_conn *p = l->pending.next;

		pp_unlink(l, p);
		close(p->io.fd);
		free(p);
	}
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
	l->watched.next = l->watched.prev = &l->watched;
	l->pending.next = l->pending.prev = &l->pending;
	l->accept_io.fd = -1;
	/* Each daemon gets its own descriptor of the listening socket: one that
	 * closes it (a failed start, a stop) leaves the others' intact. */
	if ((lfd = fcntl(H.listen_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	if (fiber_sched_init() != IDP_OK) {
		close(lfd);
		goto fail;
	}
	/* The connection limit is per daemon: each loop gets its share (rounded
	 * up); the per-IP limit holds in each (never refusing below it). Under
	 * listen.proxy_protocol the loop keeps the listening socket (accept_ready):
	 * libmicrohttpd has none. */
	struct MHD_OptionItem listen_opt[] = {
		{H.proxy_protocol ? MHD_OPTION_END : MHD_OPTION_LISTEN_SOCKET, lfd, NULL},
		{MHD_OPTION_END, 0, NULL},
	};
	l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
					(H.proxy_protocol ? MHD_USE_NO_LISTEN_SOCKET : 0),
				0, NULL, NULL, on_request, NULL,
				MHD_OPTION_ARRAY, listen_opt,
				MHD_OPTION_CONNECTION_LIMIT, H.limit,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, H.per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, H.timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, H.mem_limit,
				MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (l->d == NULL) {
		close(lfd);
		goto fail_sched;
	}
	l->stop_io.fd = l->stop_fd;
	l->stop_io.ready = stop_ready;
	l->mhd_io.ready = mhd_ready;
	l->accept_io.ready = accept_ready;
	if ((di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD)) != NULL)
		l->mhd_io.fd = di->epoll_fd;
	if (di == NULL || fiber_io_add(&l->mhd_io, EPOLLIN) != IDP_OK ||
	    fiber_io_add(&l->stop_io, EPOLLIN) != IDP_OK ||
	    (H.proxy_protocol && (l->accept_io.fd = lfd, fiber_io_add(&l->accept_io, EPOLLIN)) != IDP_OK)) {
		MHD_stop_daemon(l->d); /* closes lfd, unless it is the loop's */
		if (H.proxy_protocol)
			close(lfd);
		goto fail_sched;
	}
	loop_state(l, 1);
	/* On stop: accept no more, answer what is in progress (a fiber waits
	 * at most the store's timeout), then close. */
	while (!l->stop || fiber_count() > 0) {
		MHD_UNSIGNED_LONG_LONG to = 0;
		int t = LOOP_WAIT_MAX_MS;

		if (l->stop && !l->quiesced) {
			MHD_socket q = H.proxy_protocol ? MHD_INVALID_SOCKET : MHD_quiesce_daemon(l->d);

			if (q != MHD_INVALID_SOCKET)
				close(q); /* our duplicate: no new connections here */
			pp_stop(l);
			l->quiesced = true;
		}
		if (MHD_get_timeout(l->d, &to) == MHD_YES && to < LOOP_WAIT_MAX_MS)
			t = (int)to;
		fiber_poll(t);
		MHD_run(l->d);
		suspend_parked(l);
		conn_watch_sweep(l);
		if (l->accept_io.fd >= 0)
			pp_sweep(l);
	}
	pp_stop(l);
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
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, cfg->address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, cfg->address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof(*s6);
	} else {
		return log_fail(IDP_EINVAL, "http: listen.address %s is not an IPv4 or IPv6 address", cfg->address);
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return log_fail(IDP_EIO, "http: socket: %s", strerror(errno));
	/* One listener, one family: "::" takes IPv6 only, whatever the
	 * system's bindv6only, so a client's address is never an IPv4-mapped
	 * one and "0.0.0.0" on another daemon cannot collide with it. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return log_fail(IDP_EIO, "http: cannot listen on %s%s%s:%d: %s", ss.ss_family == AF_INET6 ? "[" : "",
				cfg->address, ss.ss_family == AF_INET6 ? "]" : "", port, strerror(errno));
	}
	*bound = ntohs(ss.ss_family == AF_INET6 ? s6->sin6_port : s4->sin_port);
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
	/* The mode is read at start (it decides who owns the listening
	 * socket); the proxies allowed to use it follow each reload. */
	H.proxy_protocol = cfg->proxy_protocol;
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
	idp_log(LOG_INFO, "listening on http://%s:%u (%u threads%s)", cfg->address, port, threads,
		H.proxy_protocol ? ", PROXY protocol from the trusted proxies" : "");
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
