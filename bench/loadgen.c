/* SPDX-License-Identifier: EUPL-1.2 */
/* loadgen: drives the provider's multi-step flows the way browsers and
 * services do, over plain keep-alive HTTP/1.1 on loopback, one blocking
 * connection per virtual user (VU), one thread per VU.
 *
 * Modes (every one starts from real logins: /authorize, the login form, the
 * consent form; there is no back door):
 *   login  each iteration: /authorize without a session, POST /login, then
 *          the consent form when one is shown (--consent accept|refuse).
 *          Timed (-d) or counted (-n). With refuse, no code is issued: the
 *          login leaves exactly one SSO session in the store.
 *   sso    setup: each VU logs in once at --client (session cookie), then
 *          loops on the second service --client2: /authorize with the live
 *          session -> code -> /token -> /userinfo. Timed (-d) or counted
 *          (-n: a failed iteration counts too).
 *   token  setup: each VU logs in once at --client. Then per round: mint
 *          codes through /authorize with the live session for --mint-seconds
 *          (untimed), then exchange every one of them at /token as fast as
 *          possible (timed, fixed count): requests/s, p50, p99.
 *   flow   one VU, once: the full login at --client (authorize, login,
 *          consent, token, userinfo) then the SSO login at --client2, with
 *          each phase's wall-clock start and end printed (to split a Redis
 *          MONITOR capture by phase), the ID tokens printed for librp and
 *          the first access token for the introspection figure.
 *
 * --threads T: the VUs run as fibers on T threads (each VU on thread
 * id % T), every thread waiting for all of its VUs' sockets in one epoll.
 * Without it each VU is a thread sleeping in recv. A thread that is busy
 * reading one answer needs no wake-up for the next, and the load core
 * switches threads less: the Redis runs, where Redis shares the load core,
 * use it. With --spin, the threads poll their epoll (yielding the core
 * between polls) instead of sleeping in it.
 *
 * --spin: each VU waits for its answer by polling its socket (recv with
 * MSG_DONTWAIT, then sched_yield) instead of sleeping in recv. On loopback
 * the core that sends an answer also runs the receiver's wake-up: with
 * sleeping VUs, waking them cost the provider's core 11 to 18 % of its time
 * (perf, token endpoint), a cost that a client across a network never puts
 * on the server. Polling VUs keep the load core busy, so it suits runs where
 * nothing else needs that core: not the Redis runs, where Redis shares it.
 *
 * Output: lines "RESULT key=value ..." on stdout; progress on stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include "codec.h"

#define MAX_COOKIES 8
#define REQ_MAX 16384

struct opts {
	const char *mode;
	const char *host;
	int port;
	int conc;
	double duration, warmup, mint_seconds, max_seconds;
	long count, mint_max;
	int rounds;
	const char *client, *secret, *redirect;
	const char *client2, *secret2, *redirect2;
	const char *between; /* token mode: a command run between minting and exchanging */
	const char *user, *password;
	const char *scope;
	const char *consent; /* accept | refuse */
	bool spin;           /* wait for answers by polling, not sleeping */
	int threads;         /* > 0: VUs as fibers on this many threads */
};

static struct opts O = {
	.host = "127.0.0.1", .conc = 16, .duration = 3, .warmup = 0.5, .mint_seconds = 2,
	.rounds = 3, .mint_max = 2000000, .scope = "openid profile email", .consent = "accept",
};

struct cookie {
	char name[64];
	char value[256];
};

struct lat {
	float *v;
	size_t n, cap;
};

struct vu {
	int id;
	int fd;
	char *rbuf;
	size_t rcap;
	struct cookie jar[MAX_COOKIES];
	int njar;
	char verifier[64], challenge[64];
	unsigned long seq;
	/* last response */
	int status;
	char *body;
	size_t body_len;
	char location[4096];
	/* results */
	long done, errors, reconnects;
	struct lat lat, lat2;
	char first_error[256];
	/* token mode */
	char session_ok;
	/* --threads: the VU's fiber */
	ucontext_t uc;
	void *stack;
	void *(*fn)(void *);
	struct vu *next;     /* in its thread's run queue or barrier list */
	int reg_fd;          /* the descriptor registered in the thread's epoll */
	bool wait_failed;
};

/* ---- VUs as fibers (--threads) ---- */
#define FIBER_STACK (256u * 1024u)
#define STALL_S 30 /* a server silent this long fails the VUs waiting on it */

struct sched {
	ucontext_t main;
	int ep;
	int alive;           /* VUs not yet returned */
	int at_barrier;
	struct vu *runq, *runq_tail, *barrier;
	struct vu *cur;
	struct vu **vus;
	int nvus;
	double quiet_since;  /* when epoll_wait last found nothing, or 0 */
};

static __thread struct sched *t_sched;
static double now_mono(void);
static pthread_barrier_t g_bar;

static void run_later(struct sched *s, struct vu *v)
{
	v->next = NULL;
	if (s->runq_tail != NULL)
		s->runq_tail->next = v;
	else
		s->runq = v;
	s->runq_tail = v;
}

/* Parks the VU until its socket is ready for events; false if the server
 * stayed silent for STALL_S seconds. Only on a fiber. */
static bool vu_wait(struct vu *v, uint32_t events)
{
	struct sched *s = t_sched;
	struct epoll_event ev = {.events = events | EPOLLONESHOT, .data.ptr = v};

	if (v->reg_fd != v->fd) {
		if (epoll_ctl(s->ep, EPOLL_CTL_ADD, v->fd, &ev) != 0 &&
		    (errno != EEXIST || epoll_ctl(s->ep, EPOLL_CTL_MOD, v->fd, &ev) != 0))
			return false;
		v->reg_fd = v->fd;
	} else if (epoll_ctl(s->ep, EPOLL_CTL_MOD, v->fd, &ev) != 0) {
		return false;
	}
	v->wait_failed = false;
	swapcontext(&v->uc, &s->main);
	return !v->wait_failed;
}

/* All VUs meet the main thread here: with fibers, a thread joins the
 * process-wide barrier once all of its VUs have reached it. */
static void vu_barrier(struct vu *v)
{
	struct sched *s = t_sched;

	if (s == NULL) {
		pthread_barrier_wait(&g_bar);
		return;
	}
	v->next = s->barrier;
	s->barrier = v;
	s->at_barrier++;
	swapcontext(&v->uc, &s->main);
}

static void fiber_start(unsigned lo, unsigned hi)
{
	struct vu *v = (struct vu *)(((uintptr_t)hi << 32) | lo);

	v->fn(v);
	t_sched->alive--;
	/* uc_link returns to the scheduler */
}

static void *sched_main(void *arg)
{
	struct sched *s = arg;
	struct epoll_event ev[64];

	t_sched = s;
	for (int i = 0; i < s->nvus; i++) {
		struct vu *v = s->vus[i];
		uintptr_t p = (uintptr_t)v;

		getcontext(&v->uc);
		v->uc.uc_stack.ss_sp = v->stack;
		v->uc.uc_stack.ss_size = FIBER_STACK;
		v->uc.uc_link = &s->main;
		makecontext(&v->uc, (void (*)(void))fiber_start, 2, (unsigned)(p & 0xffffffffu),
			    (unsigned)(p >> 32));
		run_later(s, v);
	}
	s->alive = s->nvus;
	while (s->alive > 0) {
		int n;

		while (s->runq != NULL) {
			struct vu *v = s->runq;

			if ((s->runq = v->next) == NULL)
				s->runq_tail = NULL;
			s->cur = v;
			swapcontext(&s->main, &v->uc);
			s->cur = NULL;
		}
		if (s->alive == 0)
			break;
		if (s->at_barrier == s->alive) {
			struct vu *b = s->barrier;

			pthread_barrier_wait(&g_bar);
			s->barrier = NULL;
			s->at_barrier = 0;
			while (b != NULL) {
				struct vu *next = b->next;

				run_later(s, b);
				b = next;
			}
			continue;
		}
		/* --spin: the thread polls, so that no answer has to wake it. */
		n = epoll_wait(s->ep, ev, 64, O.spin ? 0 : 1000);
		if (n == 0 && O.spin)
			sched_yield();
		for (int i = 0; i < n; i++)
			run_later(s, ev[i].data.ptr);
		if (n > 0) {
			s->quiet_since = 0;
		} else if (s->quiet_since == 0) {
			s->quiet_since = now_mono();
		} else if (now_mono() - s->quiet_since > STALL_S) {
			/* Every VU not at the barrier waits on a socket: fail them. */
			for (int i = 0; i < s->nvus; i++) {
				struct vu *v = s->vus[i], *b;

				for (b = s->barrier; b != NULL && b != v; b = b->next)
					;
				if (b == NULL && v->fd >= 0 && v->reg_fd == v->fd) {
					v->wait_failed = true;
					run_later(s, v);
				}
			}
			s->quiet_since = 0;
		}
	}
	return NULL;
}

/* ---- time ---- */
static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void lat_add(struct lat *l, double ms)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 4096;
		float *nv = realloc(l->v, nc * sizeof(*nv));

		if (nv == NULL)
			return;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = (float)ms;
}

static int fcmp(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;

	return x < y ? -1 : x > y;
}

static double pct(float *v, size_t n, double p)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i];
}

/* ---- small helpers ---- */
static void urlenc(const char *s, char *out, size_t cap)
{
	if (codec_urlenc_len(s) >= cap) {
		fprintf(stderr, "loadgen: a value is too long to send: %.40s\n", s);
		exit(2);
	}
	out[codec_urlenc(out, s)] = '\0';
}

/* The value of the hidden input NAME in an HTML page. */
static bool html_field(const char *body, const char *name, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
	if (body == NULL || (p = strstr(body, pat)) == NULL)
		return false;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

static bool json_str(const char *body, const char *name, char *out, size_t cap)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\"%s\":\"", name);
	if (body == NULL || (p = strstr(body, pat)) == NULL)
		return false;
	p += strlen(pat);
	if ((e = strchr(p, '"')) == NULL || (size_t)(e - p) >= cap)
		return false;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return true;
}

static bool query_param(const char *url, const char *name, char *out, size_t cap)
{
	const char *q = strchr(url, '?'), *p, *e;
	size_t nl = strlen(name);

	if (q == NULL)
		return false;
	for (p = q + 1; *p; p = e + (*e == '&')) {
		e = p + strcspn(p, "&");
		if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			p += nl + 1;
			if ((size_t)(e - p) >= cap)
				return false;
			memcpy(out, p, (size_t)(e - p));
			out[e - p] = '\0';
			return true;
		}
		if (*e == '\0')
			break;
	}
	return false;
}

static void vu_error(struct vu *v, const char *what)
{
	v->errors++;
	if (v->first_error[0] == '\0') {
		snprintf(v->first_error, sizeof(v->first_error), "%s: status %d: %.150s", what, v->status,
			 v->body ? v->body : "");
		for (char *p = v->first_error; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
	}
}

/* ---- cookies ---- */
static void jar_set(struct vu *v, const char *line)
{
	const char *eq = strchr(line, '='), *end;
	size_t nl, vl;
	bool del;
	int i;

	if (eq == NULL)
		return;
	nl = (size_t)(eq - line);
	end = eq + 1 + strcspn(eq + 1, ";\r\n");
	vl = (size_t)(end - eq - 1);
	if (nl == 0 || nl >= sizeof(v->jar[0].name) || vl >= sizeof(v->jar[0].value))
		return;
	del = vl == 0 || strcasestr(end, "Max-Age=0") != NULL;
	for (i = 0; i < v->njar; i++)
		if (strlen(v->jar[i].name) == nl && strncmp(v->jar[i].name, line, nl) == 0)
			break;
	if (del) {
		if (i < v->njar) {
			v->jar[i] = v->jar[v->njar - 1];
			v->njar--;
		}
		return;
	}
	if (i == v->njar) {
		if (v->njar == MAX_COOKIES)
			return;
		v->njar++;
	}
	memcpy(v->jar[i].name, line, nl);
	v->jar[i].name[nl] = '\0';
	memcpy(v->jar[i].value, eq + 1, vl);
	v->jar[i].value[vl] = '\0';
}

/* ---- HTTP ---- */
static int vu_connect(struct vu *v)
{
	struct sockaddr_in sa;
	int one = 1;

	if (v->fd >= 0)
		close(v->fd);
	v->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (t_sched != NULL ? SOCK_NONBLOCK : 0), 0);
	if (v->fd < 0)
		return -1;
	setsockopt(v->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)O.port);
	inet_pton(AF_INET, O.host, &sa.sin_addr);
	if (connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    (errno != EINPROGRESS || t_sched == NULL || !vu_wait(v, EPOLLOUT) ||
	     getsockopt(v->fd, SOL_SOCKET, SO_ERROR, &one, &(socklen_t){sizeof(one)}) != 0 || one != 0)) {
		close(v->fd);
		v->fd = -1;
		return -1;
	}
	return 0;
}

static bool write_all(struct vu *v, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(v->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && t_sched != NULL) {
			if (!vu_wait(v, EPOLLOUT))
				return false;
			continue;
		}
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

/* Reads one response; 0 on success, -1 when the connection closed before
 * any byte (a keep-alive connection the server dropped), -2 on error. */
static int read_response(struct vu *v, bool *close_after)
{
	size_t len = 0, hdr_end = 0, clen = 0;
	bool have_clen = false;
	double spin_since = 0;
	char *p;

	*close_after = false;
	v->location[0] = '\0';
	for (;;) {
		ssize_t r;

		if (len + 1 >= v->rcap) {
			size_t nc = v->rcap * 2;
			char *nb = realloc(v->rbuf, nc);

			if (nb == NULL)
				return -2;
			v->rbuf = nb;
			v->rcap = nc;
		}
		r = recv(v->fd, v->rbuf + len, v->rcap - len - 1, O.spin ? MSG_DONTWAIT : 0);
		if (r < 0 && errno == EAGAIN && t_sched != NULL) {
			if (!vu_wait(v, EPOLLIN))
				return -2;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && O.spin) {
			/* A server that stopped answering ends the VU, as a closed
			 * connection would, instead of spinning for ever. */
			if (spin_since == 0)
				spin_since = now_mono();
			else if (now_mono() - spin_since > 30)
				return -2;
			sched_yield();
			continue;
		}
		spin_since = 0;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return len == 0 ? -1 : -2;
		len += (size_t)r;
		v->rbuf[len] = '\0';
		if (hdr_end == 0 && (p = strstr(v->rbuf, "\r\n\r\n")) != NULL) {
			char *line, *save = NULL;

			hdr_end = (size_t)(p - v->rbuf) + 4;
			*p = '\0';
			if (sscanf(v->rbuf, "HTTP/1.%*d %d", &v->status) != 1)
				return -2;
			for (line = strtok_r(v->rbuf, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
				if (strncasecmp(line, "Content-Length:", 15) == 0) {
					clen = strtoul(line + 15, NULL, 10);
					have_clen = true;
				} else if (strncasecmp(line, "Connection:", 11) == 0) {
					if (strcasestr(line + 11, "close"))
						*close_after = true;
				} else if (strncasecmp(line, "Location:", 9) == 0) {
					const char *s = line + 9;

					while (*s == ' ')
						s++;
					snprintf(v->location, sizeof(v->location), "%s", s);
				} else if (strncasecmp(line, "Set-Cookie:", 11) == 0) {
					const char *s = line + 11;

					while (*s == ' ')
						s++;
					jar_set(v, s);
				}
			}
			if (!have_clen) /* only responses with a length are expected */
				*close_after = true;
		}
		if (hdr_end != 0 && have_clen && len >= hdr_end + clen) {
			v->body = v->rbuf + hdr_end;
			v->body_len = clen;
			v->body[clen] = '\0';
			return 0;
		}
	}
}

/* One request on the VU's connection; reconnects once when a kept-alive
 * connection turns out closed. Returns the status, or -1. */
static int http(struct vu *v, const char *method, const char *path, const char *hdrs,
		const char *body)
{
	char req[REQ_MAX];
	int n, cl = 0;
	size_t blen = body ? strlen(body) : 0;
	bool close_after;

	n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%s", method, path, O.host,
		     O.port, hdrs ? hdrs : "");
	if (v->njar > 0) {
		n += snprintf(req + n, sizeof(req) - (size_t)n, "Cookie: ");
		for (int i = 0; i < v->njar; i++)
			n += snprintf(req + n, sizeof(req) - (size_t)n, "%s%s=%s", i ? "; " : "",
				      v->jar[i].name, v->jar[i].value);
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	}
	if (body)
		n += snprintf(req + n, sizeof(req) - (size_t)n,
			      "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
			      blen, body);
	else
		n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
	if (n >= (int)sizeof(req))
		return -1;
	for (int attempt = 0; attempt < 2; attempt++) {
		int rc;

		if (v->fd < 0) {
			if (vu_connect(v) != 0)
				return -1;
			cl = 1;
		}
		v->body = NULL;
		v->body_len = 0;
		if (!write_all(v, req, (size_t)n)) {
			rc = -1;
		} else {
			rc = read_response(v, &close_after);
		}
		if (rc == 0) {
			if (close_after) {
				close(v->fd);
				v->fd = -1;
				v->reconnects++;
			}
			return v->status;
		}
		close(v->fd);
		v->fd = -1;
		if (rc == -2 || cl)
			return -1;
		v->reconnects++;
	}
	return -1;
}

/* ---- the flows ---- */
static void vu_pkce(struct vu *v)
{
	unsigned char r[32], d[SHA256_DIGEST_LENGTH];

	RAND_bytes(r, sizeof(r));
	codec_b64url_encode(v->verifier, r, sizeof(r));
	SHA256((unsigned char *)v->verifier, strlen(v->verifier), d);
	codec_b64url_encode(v->challenge, d, sizeof(d));
}

static char g_scope_enc[256];

/* GET /authorize for client; the status (200 page or 302 redirect). */
static int authorize(struct vu *v, const char *client, const char *redirect, char *nonce_out)
{
	char path[2048], ruri[512], nonce[64];

	urlenc(redirect, ruri, sizeof(ruri));
	snprintf(nonce, sizeof(nonce), "n-%03d-%012lu-abcdefghijklmnop", v->id, ++v->seq);
	if (nonce_out)
		strcpy(nonce_out, nonce);
	snprintf(path, sizeof(path),
		 "/authorize?response_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=s%lu"
		 "&nonce=%s&code_challenge=%s&code_challenge_method=S256",
		 client, ruri, g_scope_enc, v->seq, nonce, v->challenge);
	return http(v, "GET", path, NULL, NULL);
}

/* The consent form in the last response: post the decision. */
static int consent(struct vu *v, const char *decision)
{
	char txn[128], csrf[128], body[512];

	if (!html_field(v->body, "txn", txn, sizeof(txn)) || !html_field(v->body, "csrf", csrf, sizeof(csrf)))
		return -1;
	snprintf(body, sizeof(body), "txn=%s&csrf=%s&decision=%s", txn, csrf, decision);
	return http(v, "POST", "/consent", NULL, body);
}

/* A real login: authorize (no session), the login form, the consent form when
 * shown. On success *code gets the code (empty when consent was refused).
 * lat_login: the login POST alone (ms) into v->lat2 when timing. */
static bool full_login(struct vu *v, const char *client, const char *redirect, const char *decision,
		       char *code, size_t cap, char *nonce, bool timing)
{
	char txn[128], csrf[128], body[2048], u[256], p[512];
	double t0;
	int st;

	code[0] = '\0';
	st = authorize(v, client, redirect, nonce);
	if (st != 200) {
		if (st == 302 && query_param(v->location, "code", code, cap))
			return true; /* a session already existed */
		vu_error(v, "authorize (login form)");
		return false;
	}
	if (!html_field(v->body, "txn", txn, sizeof(txn)) || !html_field(v->body, "csrf", csrf, sizeof(csrf))) {
		vu_error(v, "login form fields");
		return false;
	}
	urlenc(O.user, u, sizeof(u));
	urlenc(O.password, p, sizeof(p));
	snprintf(body, sizeof(body), "txn=%s&csrf=%s&username=%s&password=%s", txn, csrf, u, p);
	t0 = now_mono();
	st = http(v, "POST", "/login", NULL, body);
	if (timing)
		lat_add(&v->lat2, (now_mono() - t0) * 1e3);
	if (st == 200) { /* the consent page */
		st = consent(v, decision);
		if (strcmp(decision, "refuse") == 0) {
			if (st != 303 || strstr(v->location, "error=access_denied") == NULL) {
				vu_error(v, "consent refuse");
				return false;
			}
			return true;
		}
	}
	if ((st != 303 && st != 302) || !query_param(v->location, "code", code, cap)) {
		vu_error(v, "login/consent");
		return false;
	}
	return true;
}

static bool token(struct vu *v, const char *client, const char *secret, const char *redirect,
		  const char *code, const char *verifier, char *at, size_t atcap, char *idt, size_t idtcap)
{
	char cred[512], b64[1024], hdr[1200], ruri[512], body[1024];
	int st;

	snprintf(cred, sizeof(cred), "%s:%s", client, secret);
	EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)cred, (int)strlen(cred));
	snprintf(hdr, sizeof(hdr), "Authorization: Basic %s\r\n", b64);
	urlenc(redirect, ruri, sizeof(ruri));
	snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s",
		 code, ruri, verifier);
	st = http(v, "POST", "/token", hdr, body);
	if (st != 200 || (at && !json_str(v->body, "access_token", at, atcap)) ||
	    (idt && !json_str(v->body, "id_token", idt, idtcap))) {
		vu_error(v, "token");
		return false;
	}
	return true;
}

static bool userinfo(struct vu *v, const char *at)
{
	char hdr[700];

	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s\r\n", at);
	if (http(v, "GET", "/userinfo", hdr, NULL) != 200 || strstr(v->body, "\"sub\"") == NULL) {
		vu_error(v, "userinfo");
		return false;
	}
	return true;
}

/* ---- run control ---- */
static atomic_int g_phase;          /* 0 warm-up, 1 measuring, 2 stop */
static atomic_long g_left;           /* counted modes: iterations left */

struct code_item {
	char code[64];
	const char *verifier;
};
static struct code_item *g_codes;
static atomic_long g_ncodes, g_next;
static long g_codes_cap;
static double g_t0;

static void *run_login(void *arg)
{
	struct vu *v = arg;
	char code[128];

	vu_barrier(v);
	for (;;) {
		int ph = atomic_load(&g_phase);
		double t0;
		bool ok;

		if (ph == 2)
			break;
		if (O.count > 0 && atomic_fetch_sub(&g_left, 1) <= 0)
			break;
		v->njar = 0; /* a new browser each time: no session */
		vu_pkce(v);
		t0 = now_mono();
		ok = full_login(v, O.client, O.redirect, O.consent, code, sizeof(code), NULL, ph == 1);
		if (ok && ph == 1 && (O.count > 0 || atomic_load(&g_phase) == 1)) {
			v->done++;
			lat_add(&v->lat, (now_mono() - t0) * 1e3);
		}
	}
	return NULL;
}

static void *run_sso(void *arg)
{
	struct vu *v = arg;
	char code[128], at[512];

	vu_pkce(v);
	/* Setup: a real login at the first service; accept consent at the
	 * second once (remembered for the citizen afterwards). */
	if (!full_login(v, O.client, O.redirect, "accept", code, sizeof(code), NULL, false))
		goto wait;
	v->session_ok = 1;
wait:
	vu_barrier(v);
	while (v->session_ok) {
		int ph = atomic_load(&g_phase);
		double t0 = now_mono();
		int st;

		if (ph == 2)
			break;
		if (O.count > 0 && atomic_fetch_sub(&g_left, 1) <= 0)
			break;
		st = authorize(v, O.client2, O.redirect2, NULL);
		if (st == 200 && strstr(v->body, "name=\"decision\"") != NULL)
			st = consent(v, "accept");
		if ((st != 302 && st != 303) || !query_param(v->location, "code", code, sizeof(code))) {
			vu_error(v, "sso authorize");
			if (st == 200) /* the session is gone: log in again */
				full_login(v, O.client, O.redirect, "accept", code, sizeof(code), NULL, false);
			continue;
		}
		if (!token(v, O.client2, O.secret2, O.redirect2, code, v->verifier, at, sizeof(at), NULL, 0))
			continue;
		if (!userinfo(v, at))
			continue;
		if (ph == 1 && (O.count > 0 || atomic_load(&g_phase) == 1)) {
			v->done++;
			lat_add(&v->lat, (now_mono() - t0) * 1e3);
		}
	}
	return NULL;
}

static void *run_token(void *arg)
{
	struct vu *v = arg;
	char code[128];

	vu_pkce(v);
	if (full_login(v, O.client, O.redirect, "accept", code, sizeof(code), NULL, false))
		v->session_ok = 1;
	for (int round = 0; round < O.rounds; round++) {
		vu_barrier(v); /* mint */
		while (v->session_ok && atomic_load(&g_phase) == 0) {
			int st = authorize(v, O.client, O.redirect, NULL);
			long i;

			if ((st != 302 && st != 303) || !query_param(v->location, "code", code, sizeof(code)) ||
			    strlen(code) >= sizeof(g_codes[0].code)) {
				vu_error(v, "mint authorize");
				continue;
			}
			if ((i = atomic_fetch_add(&g_ncodes, 1)) >= g_codes_cap)
				break;
			strcpy(g_codes[i].code, code);
			g_codes[i].verifier = v->verifier;
		}
		vu_barrier(v); /* minted */
		vu_barrier(v); /* exchange */
		for (;;) {
			long i = atomic_fetch_add(&g_next, 1);
			double t0;

			if (i >= atomic_load(&g_ncodes) || i >= g_codes_cap)
				break;
			t0 = now_mono();
			if (token(v, O.client, O.secret, O.redirect, g_codes[i].code, g_codes[i].verifier, NULL, 0,
				  NULL, 0)) {
				v->done++;
				lat_add(&v->lat, (now_mono() - t0) * 1e3);
			}
		}
		vu_barrier(v); /* exchanged */
	}
	return NULL;
}

static void phase(const char *name, double t0)
{
	printf("PHASE %s %.6f %.6f\n", name, t0, now_real());
	fflush(stdout);
	usleep(300000); /* a quiet gap between phases in a MONITOR capture */
}

static int run_flow(void)
{
	struct vu vv = {.id = 0, .fd = -1}, *v = &vv;
	char code[128], at[512], idt[4096], nonce[64], txn[128], csrf[128], body[2048], u[256], p[512];
	double t0;
	int st;

	v->rcap = 65536;
	v->rbuf = malloc(v->rcap);
	vu_pkce(v);
	usleep(300000);
	t0 = now_real();
	st = authorize(v, O.client, O.redirect, nonce);
	if (st != 200 || !html_field(v->body, "txn", txn, sizeof(txn)) ||
	    !html_field(v->body, "csrf", csrf, sizeof(csrf))) {
		vu_error(v, "flow authorize");
		goto fail;
	}
	phase("authorize", t0);
	urlenc(O.user, u, sizeof(u));
	urlenc(O.password, p, sizeof(p));
	snprintf(body, sizeof(body), "txn=%s&csrf=%s&username=%s&password=%s", txn, csrf, u, p);
	t0 = now_real();
	st = http(v, "POST", "/login", NULL, body);
	phase("login", t0);
	if (st == 200) {
		t0 = now_real();
		st = consent(v, "accept");
		phase("consent", t0);
	}
	if ((st != 303 && st != 302) || !query_param(v->location, "code", code, sizeof(code))) {
		vu_error(v, "flow login");
		goto fail;
	}
	t0 = now_real();
	if (!token(v, O.client, O.secret, O.redirect, code, v->verifier, at, sizeof(at), idt, sizeof(idt)))
		goto fail;
	phase("token", t0);
	printf("IDTOKEN %s %s %s\n", O.client, nonce, idt);
	printf("ACCESSTOKEN %s %s\n", O.client, at);
	t0 = now_real();
	if (!userinfo(v, at))
		goto fail;
	phase("userinfo", t0);
	if (O.client2 != NULL) {
		t0 = now_real();
		st = authorize(v, O.client2, O.redirect2, nonce);
		if (st == 200) {
			phase("sso_authorize", t0);
			t0 = now_real();
			st = consent(v, "accept");
			phase("sso_consent", t0);
		} else {
			phase("sso_authorize", t0);
		}
		if ((st != 302 && st != 303) || !query_param(v->location, "code", code, sizeof(code))) {
			vu_error(v, "flow sso authorize");
			goto fail;
		}
		t0 = now_real();
		if (!token(v, O.client2, O.secret2, O.redirect2, code, v->verifier, at, sizeof(at), idt, sizeof(idt)))
			goto fail;
		phase("sso_token", t0);
		printf("IDTOKEN %s %s %s\n", O.client2, nonce, idt);
		t0 = now_real();
		if (!userinfo(v, at))
			goto fail;
		phase("sso_userinfo", t0);
	}
	printf("RESULT mode=flow ok=1\n");
	return 0;
fail:
	fprintf(stderr, "loadgen: flow failed: %s\n", v->first_error);
	printf("RESULT mode=flow ok=0\n");
	return 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: loadgen MODE -p PORT [-c CONC] [-d SECONDS] [-n COUNT] [-w WARMUP]\n"
		"         --client ID --secret S --redirect URI [--client2 ID --secret2 S --redirect2 URI]\n"
		"         --user NAME --password PW [--consent accept|refuse] [--scope S]\n"
		"         [--mint-seconds S] [--mint-max N] [--rounds N] [--max-seconds S]\n"
		"         [--spin | --threads T] [--between CMD]\n"
		"  MODE: login | sso | token | flow (see the comment at the top of loadgen.c)\n");
	exit(2);
}

static void summary(const char *mode, struct vu *vus, double elapsed, const char *extra)
{
	long done = 0, errors = 0, rec = 0;
	size_t n = 0, n2 = 0;
	float *all, *all2;
	const char *ferr = NULL;

	for (int i = 0; i < O.conc; i++) {
		done += vus[i].done;
		errors += vus[i].errors;
		rec += vus[i].reconnects;
		n += vus[i].lat.n;
		n2 += vus[i].lat2.n;
		if (ferr == NULL && vus[i].first_error[0])
			ferr = vus[i].first_error;
	}
	all = malloc((n + 1) * sizeof(*all));
	all2 = malloc((n2 + 1) * sizeof(*all2));
	n = n2 = 0;
	for (int i = 0; i < O.conc; i++) {
		memcpy(all + n, vus[i].lat.v, vus[i].lat.n * sizeof(*all));
		n += vus[i].lat.n;
		memcpy(all2 + n2, vus[i].lat2.v, vus[i].lat2.n * sizeof(*all2));
		n2 += vus[i].lat2.n;
		vus[i].lat.n = vus[i].lat2.n = 0;
		vus[i].done = 0;
	}
	qsort(all, n, sizeof(*all), fcmp);
	qsort(all2, n2, sizeof(*all2), fcmp);
	printf("RESULT mode=%s conc=%d done=%ld seconds=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f errors=%ld "
	       "reconnects=%ld%s",
	       mode, O.conc, done, elapsed, elapsed > 0 ? (double)done / elapsed : 0, pct(all, n, 0.5),
	       pct(all, n, 0.99), errors, rec, extra ? extra : "");
	if (n2)
		printf(" step_p50_ms=%.2f step_p99_ms=%.2f", pct(all2, n2, 0.5), pct(all2, n2, 0.99));
	printf("\n");
	if (ferr)
		fprintf(stderr, "loadgen: %ld errors; first: %s\n", errors, ferr);
	fflush(stdout);
	free(all);
	free(all2);
	for (int i = 0; i < O.conc; i++) {
		vus[i].errors = 0;
		vus[i].first_error[0] = '\0';
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"client", 1, 0, 1}, {"secret", 1, 0, 2}, {"redirect", 1, 0, 3},
		{"client2", 1, 0, 4}, {"secret2", 1, 0, 5}, {"redirect2", 1, 0, 6},
		{"user", 1, 0, 7}, {"password", 1, 0, 8}, {"consent", 1, 0, 9},
		{"scope", 1, 0, 10}, {"mint-seconds", 1, 0, 11}, {"rounds", 1, 0, 12},
		{"host", 1, 0, 13}, {"mint-max", 1, 0, 14}, {"max-seconds", 1, 0, 15},
		{"spin", 0, 0, 16}, {"threads", 1, 0, 17}, {"between", 1, 0, 18},
		{0, 0, 0, 0}};
	struct vu *vus;
	pthread_t *th;
	void *(*fn)(void *);
	int c, nth;

	if (argc < 2)
		usage();
	O.mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "p:c:d:n:w:", lo, NULL)) != -1) {
		switch (c) {
		case 'p': O.port = atoi(optarg); break;
		case 'c': O.conc = atoi(optarg); break;
		case 'd': O.duration = atof(optarg); break;
		case 'n': O.count = atol(optarg); break;
		case 'w': O.warmup = atof(optarg); break;
		case 1: O.client = optarg; break;
		case 2: O.secret = optarg; break;
		case 3: O.redirect = optarg; break;
		case 4: O.client2 = optarg; break;
		case 5: O.secret2 = optarg; break;
		case 6: O.redirect2 = optarg; break;
		case 7: O.user = optarg; break;
		case 8: O.password = optarg; break;
		case 9: O.consent = optarg; break;
		case 10: O.scope = optarg; break;
		case 11: O.mint_seconds = atof(optarg); break;
		case 12: O.rounds = atoi(optarg); break;
		case 13: O.host = optarg; break;
		case 14: O.mint_max = atol(optarg); break;
		case 15: O.max_seconds = atof(optarg); break;
		case 16: O.spin = true; break;
		case 17: O.threads = atoi(optarg); break;
		case 18: O.between = optarg; break;
		default: usage();
		}
	}
	if (O.port <= 0 || O.conc <= 0 || O.client == NULL || O.redirect == NULL || O.user == NULL ||
	    O.password == NULL || O.threads < 0)
		usage();
	if (O.threads > O.conc)
		O.threads = O.conc;
	urlenc(O.scope, g_scope_enc, sizeof(g_scope_enc));
	if (strcmp(O.mode, "flow") == 0)
		return run_flow();
	if (strcmp(O.mode, "login") == 0)
		fn = run_login;
	else if (strcmp(O.mode, "sso") == 0 && O.client2 && O.secret2 && O.redirect2)
		fn = run_sso;
	else if (strcmp(O.mode, "token") == 0 && O.secret)
		fn = run_token;
	else
		usage();

	vus = calloc((size_t)O.conc, sizeof(*vus));
	th = calloc((size_t)O.conc, sizeof(*th));
	nth = O.threads > 0 ? O.threads : O.conc;
	pthread_barrier_init(&g_bar, NULL, (unsigned)nth + 1);
	atomic_store(&g_left, O.count);
	if (fn == run_token) {
		g_codes_cap = O.mint_max > 0 && O.mint_max < 2000000 ? O.mint_max : 2000000;
		g_codes = calloc((size_t)g_codes_cap, sizeof(*g_codes));
	}
	for (int i = 0; i < O.conc; i++) {
		vus[i].id = i;
		vus[i].fd = -1;
		vus[i].rcap = 65536;
		vus[i].rbuf = malloc(vus[i].rcap);
		vus[i].reg_fd = -1;
		vus[i].fn = fn;
		if (O.threads == 0)
			pthread_create(&th[i], NULL, fn, &vus[i]);
		else if ((vus[i].stack = malloc(FIBER_STACK)) == NULL) {
			fprintf(stderr, "loadgen: out of memory\n");
			return 1;
		}
	}
	if (O.threads > 0) {
		struct sched *sc = calloc((size_t)nth, sizeof(*sc));

		for (int t = 0; t < nth; t++) {
			sc[t].vus = calloc((size_t)O.conc / (size_t)nth + 1, sizeof(struct vu *));
			if ((sc[t].ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
				perror("loadgen: epoll_create1");
				return 1;
			}
		}
		for (int i = 0; i < O.conc; i++)
			sc[i % nth].vus[sc[i % nth].nvus++] = &vus[i];
		for (int t = 0; t < nth; t++)
			pthread_create(&th[t], NULL, sched_main, &sc[t]);
	}
	if (fn == run_token) {
		double rates[64], p50s[64], p99s[64];
		int nr = 0;

		for (int round = 0; round < O.rounds; round++) {
			double t0;
			long ncodes;

			atomic_store(&g_ncodes, 0);
			atomic_store(&g_next, 0);
			atomic_store(&g_phase, 0);
			pthread_barrier_wait(&g_bar); /* mint */
			/* Mint for mint_seconds, or until the cap is reached. */
			for (double m0 = now_mono(); now_mono() - m0 < O.mint_seconds &&
						    atomic_load(&g_ncodes) < g_codes_cap;)
				usleep(20000);
			atomic_store(&g_phase, 1);
			pthread_barrier_wait(&g_bar); /* minted */
			ncodes = atomic_load(&g_ncodes);
			if (ncodes > g_codes_cap)
				ncodes = g_codes_cap;
			atomic_store(&g_ncodes, ncodes);
			fprintf(stderr, "loadgen: round %d: %ld codes minted through /authorize\n", round + 1, ncodes);
			/* bench/instructions.sh counts the exchanges apart from the
			 * minting: its command closes the daemon's count here. */
			if (O.between && system(O.between) != 0)
				fprintf(stderr, "loadgen: --between command failed: %s\n", O.between);
			t0 = now_mono();
			pthread_barrier_wait(&g_bar); /* exchange */
			pthread_barrier_wait(&g_bar); /* exchanged */
			{
				double el = now_mono() - t0;
				char extra[64];
				size_t n = 0;
				float *all;
				long done = 0;

				for (int i = 0; i < O.conc; i++) {
					n += vus[i].lat.n;
					done += vus[i].done;
				}
				all = malloc((n + 1) * sizeof(*all));
				n = 0;
				for (int i = 0; i < O.conc; i++) {
					memcpy(all + n, vus[i].lat.v, vus[i].lat.n * sizeof(*all));
					n += vus[i].lat.n;
				}
				qsort(all, n, sizeof(*all), fcmp);
				if (nr < 64) {
					rates[nr] = el > 0 ? (double)done / el : 0;
					p50s[nr] = pct(all, n, 0.5);
					p99s[nr] = pct(all, n, 0.99);
					nr++;
				}
				free(all);
				snprintf(extra, sizeof(extra), " round=%d minted=%ld", round + 1, ncodes);
				summary("token", vus, el, extra);
			}
		}
		for (int i = 0; i < nth; i++)
			pthread_join(th[i], NULL);
		if (nr > 0) {
			/* The median round by rate, with its own latencies. */
			int idx[64];

			for (int i = 0; i < nr; i++)
				idx[i] = i;
			for (int i = 0; i < nr; i++)
				for (int j = i + 1; j < nr; j++)
					if (rates[idx[j]] < rates[idx[i]]) {
						int t = idx[i];
						idx[i] = idx[j];
						idx[j] = t;
					}
			printf("RESULT mode=token_median rate=%.1f p50_ms=%.2f p99_ms=%.2f rounds=%d\n",
			       rates[idx[nr / 2]], p50s[idx[nr / 2]], p99s[idx[nr / 2]], nr);
		}
		return 0;
	}
	/* Timed or counted modes. A counted run measures from the start. */
	if (O.count > 0) {
		atomic_store(&g_phase, 1);
		g_t0 = now_mono();
	}
	pthread_barrier_wait(&g_bar);
	{
		double t0, el;

		if (O.count > 0) {
			/* Counted: until done, or --max-seconds (a bound on the run). */
			t0 = g_t0;
			while (O.max_seconds > 0 && atomic_load(&g_left) > 0 && now_mono() - t0 < O.max_seconds)
				usleep(50000);
			if (O.max_seconds > 0 && atomic_load(&g_left) > 0)
				atomic_store(&g_phase, 2);
			for (int i = 0; i < nth; i++)
				pthread_join(th[i], NULL);
			el = now_mono() - t0;
		} else {
			usleep((useconds_t)(O.warmup * 1e6));
			atomic_store(&g_phase, 1);
			t0 = now_mono();
			usleep((useconds_t)(O.duration * 1e6));
			atomic_store(&g_phase, 2);
			el = now_mono() - t0;
			for (int i = 0; i < nth; i++)
				pthread_join(th[i], NULL);
		}
		summary(O.mode, vus, el, NULL);
	}
	return 0;
}
