/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: whole HTTP requests through the daemon itself.
 *
 * LLVMFuzzerInitialize starts the daemon in this process the way main()
 * does (rt_build, idp_serve_start: configuration, keys, templates, the file
 * backend's plugin, the memory store, the HTTP loops on their fibers) with
 * conf/demo.json on 127.0.0.1, port 0, keys and users made in a temp folder.
 * Each input is the raw bytes of one connection: written, half-closed, and
 * the answer read to its end within a bound. A finding (abort) is:
 *   - a complete request (header block ended, declared body present) that
 *     gets no status line, or a reset, or no end within the bound (a hang);
 *   - a redirect to an absolute URI that is neither the issuer's nor
 *     registered by a client;
 *   - an answer holding the pairwise secret or private key material;
 *   - and whatever ASan/UBSan/LSan say about the daemon meanwhile.
 *
 * So that mutations reach past the request line, an input may hold
 * placeholders the target replaces with live values before sending:
 *   @TXN@ @CSRF@ @BIND@   a fresh login transaction of demo-portal: its txn,
 *                         its CSRF token, and "Cookie"-ready binding cookie
 *   @SID@                 a logged-in session's cookie (name=value)
 *   @CODE@                a fresh authorization code of demo-portal (PKCE
 *                         verifier FUZZ_VERIFIER below)
 *   @CTXN@ @CCSRF@        a consent form of demo-portal-2 for that session
 *   @AT@                  a fresh access token of demo-portal for that session
 *   @LEN@                 (last) the number of bytes after the end of the
 *                         head it is in, to the end of the input: a
 *                         Content-Length that stays true once the others
 *                         are filled in
 *
 * Environment: IDP_FUZZ_PLUGIN_DIR (default: ../plugins beside this
 * binary's folder), IDP_FUZZ_TIMEOUT_MS (default 10000), IDP_FUZZ_VERBOSE=1
 * prints each exchange. Run from the repository root. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/sha.h>

#include "idp.h"
#include "keys.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_VERIFIER "fuzz-pkce-verifier-0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGH"
#define FUZZ_USER "marianne"
#define FUZZ_PASSWORD "Marianne-2026!"
#define PORTAL_CB "http://127.0.0.1:8081/callback"
#define PORTAL2_CB "http://127.0.0.1:8082/callback"
#define RESP_KEEP (256u * 1024)

struct answer {
	char *p;        /* the first RESP_KEEP bytes, NUL-ended */
	size_t len;     /* bytes kept */
	size_t total;   /* bytes received */
	bool eof;       /* the daemon closed its side */
	bool reset;
	bool timeout;
	bool held;      /* half-closed, answered, and not closed within CLOSE_MS */
};

static struct {
	char dir[64];
	unsigned port;
	int timeout_ms;
	bool verbose;
	bool early_shutdown;
	char challenge[64];
	char *pairwise_secret;
	json_t *allowed;        /* registered redirect and post-logout URIs */
	char issuer[256];
	char sid[256];          /* "name=value" of the session cookie */
	unsigned sid_uses;
} F;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_request: %s\n", what);
	abort();
}

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int dial(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)F.port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("cannot connect to the daemon (is it still listening?)");
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

#define MAX_PIPELINED 64

/* The requests of an input, as far as they are complete: a header block
 * that ends, and the body it declares (a chunked body up to its last
 * chunk; a malformed one is owed a refusal). An incomplete request may be dropped without an answer; counting
 * stops at the first one, or at a line that is not a request line. A body
 * larger than max_body_bytes is refused once the daemon has read past the
 * limit, not from its Content-Length: a short one is incomplete. */
struct reqs {
	size_t n;                       /* complete requests */
	bool head[MAX_PIPELINED];       /* HEAD: its answer has no body */
};

/* "METHOD SP TARGET SP HTTP/": what the daemon must answer; a line that is
 * not a request at all may be dropped. */
static bool request_line_ok(const char *h)
{
	size_t m = strspn(h, "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"), t;

	if (m == 0 || h[m] != ' ')
		return false;
	t = strcspn(h + m + 1, " \r\n");
	return t > 0 && strncmp(h + m + 1 + t, " HTTP/", 6) == 0;
}

/* The end of a chunked body (RFC 9112 7.1) in b: 1 with its length in
 * *used, 0 when it is not all there, -1 when it is malformed (a size line
 * that is not hex, a size past 2^60, chunk data not followed by CRLF). */
static int chunked_end(const uint8_t *b, size_t n, size_t *used)
{
	size_t pos = 0;

	for (;;) {
		const uint8_t *eol = memmem(b + pos, n - pos, "\r\n", 2);
		unsigned long long size = 0;
		size_t i = pos, digits = 0;

		if (eol == NULL)
			return 0;
		for (; b + i < eol && strchr("0123456789abcdefABCDEF", b[i]) != NULL && b[i] != '\0'; i++, digits++)
			size = size * 16 + (unsigned long long)(b[i] <= '9' ? b[i] - '0' : (b[i] | 0x20) - 'a' + 10);
		if (digits == 0 || digits > 15 || (b + i < eol && b[i] != ';' && b[i] != ' ' && b[i] != '\t'))
			return -1;
		pos = (size_t)(eol - b) + 2;
		if (size == 0) { /* trailers, then an empty line */
			const uint8_t *e;

			if (n - pos >= 2 && b[pos] == '\r' && b[pos + 1] == '\n') {
				*used = pos + 2;
				return 1;
			}
			if ((e = memmem(b + pos, n - pos, "\r\n\r\n", 4)) == NULL)
				return 0;
			*used = (size_t)(e - b) + 4;
			return 1;
		}
		if (n - pos < size + 2)
			return 0;
		if (b[pos + size] != '\r' || b[pos + size + 1] != '\n')
			return -1;
		pos += size + 2;
	}
}

static void requests_scan(const uint8_t *d, size_t n, struct reqs *q)
{
	size_t off = 0;

	memset(q, 0, sizeof(*q));
	while (off < n && q->n < MAX_PIPELINED) {
		const uint8_t *p = d + off, *e1, *e2, *end;
		size_t left = n - off, head, body, need = 0;
		const char *cl;
		char *h;
		bool chunked;

		e1 = memmem(p, left, "\r\n\r\n", 4);
		e2 = memmem(p, left, "\n\n", 2);
		if ((e1 == NULL && e2 == NULL) || p[0] == '\r' || p[0] == '\n')
			return; /* no head, or blank lines first: left to the peer's reading */
		end = e1 == NULL ? e2 + 2 : e2 == NULL ? e1 + 4 : e1 < e2 ? e1 + 4 : e2 + 2;
		head = (size_t)(end - p);
		body = left - head;
		/* The head as a string: a NUL (which the daemon may take in a
		 * header value) read as any other byte. */
		if ((h = malloc(head + 1)) == NULL)
			die("out of memory");
		for (size_t i = 0; i < head; i++)
			h[i] = p[i] == '\0' ? '\x7f' : (char)p[i];
		h[head] = '\0';
		if (!request_line_ok(h)) {
			free(h);
			return; /* not HTTP: nothing can be owed from here on */
		}
		q->head[q->n] = strncmp(h, "HEAD ", 5) == 0;
		chunked = strcasestr(h, "\ntransfer-encoding:") != NULL && strcasestr(h, "chunked") != NULL;
		if ((cl = strcasestr(h, "\ncontent-length:")) != NULL) {
			char *num_end;
			unsigned long long v;

			cl += 16;
			while (*cl == ' ' || *cl == '\t')
				cl++;
			errno = 0;
			v = strtoull(cl, &num_end, 10);
			if (num_end != cl && errno == 0)
				need = v > SIZE_MAX ? SIZE_MAX : (size_t)v;
		}
		free(h);
		if (chunked) {
			int c = chunked_end(end, body, &need);

			if (c == 0)
				return;
			if (c < 0) { /* malformed: owed a refusal, and the end */
				q->n++;
				return;
			}
		}
		if (body < need)
			return;
		q->n++;
		off += head + need;
	}
}

/* How many final answers buf holds complete (1xx answers do not count);
 * -1 when what follows them cannot be measured (no length: up to the
 * close). */
static int answers_complete(const char *buf, size_t len, const struct reqs *q)
{
	size_t off = 0;
	int n = 0;

	while (off < len) {
		const char *p = buf + off, *end = memmem(p, len - off, "\r\n\r\n", 4), *cl;
		unsigned st;
		size_t head, body = 0;

		if (end == NULL)
			return n;
		if (strncmp(p, "HTTP/1.", 7) != 0)
			return -1;
		st = (unsigned)strtoul(p + 9, NULL, 10);
		head = (size_t)(end + 4 - p);
		if (st >= 100 && st < 200) {
			off += head;
			continue;
		}
		cl = memmem(p, head, "\r\nContent-Length: ", 18);
		if (cl == NULL)
			cl = memmem(p, head, "\r\ncontent-length: ", 18);
		if ((size_t)n < MAX_PIPELINED && !q->head[n] && st != 204 && st != 304) {
			if (cl == NULL)
				return -1;
			body = strtoul(cl + 18, NULL, 10);
		}
		if (len - off < head + body)
			return n;
		off += head + body;
		n++;
	}
	return n;
}

/* Sends len bytes on a new connection and reads until every complete
 * request has its answer, the daemon closes, or the bound passes. The
 * connection is half-closed (shutdown SHUT_WR) at once when no request is
 * complete, so that the daemon sees the end, and for every other input (an
 * odd length; all with IDP_FUZZ_EARLY_SHUTDOWN=1), as HTTP/1.0 tools and
 * some proxies do: then every request must still be answered, and the
 * connection closed within CLOSE_MS of the last answer (a->held otherwise).
 * Otherwise, as a browser keeps its connection open, only once the answers
 * came, or after HALF_CLOSE_MS without a byte (a request this target counts
 * as complete that the daemon reads as unfinished); such a connection is
 * not waited on to close, nor one that answered some requests and then
 * stays silent for QUIET_MS (a request counted that the daemon read
 * otherwise). The daemon may answer and close before it has read
 * everything (a 413): sending then stops. */
#define HALF_CLOSE_MS 5000
#define QUIET_MS 1500
#define CLOSE_MS 1000
#define OWED_NONE_MS 30
static void exchange(const void *data, size_t len, struct answer *a)
{
	int fd = dial();
	int64_t deadline = ms_now() + F.timeout_ms, last = ms_now();
	size_t sent = 0;
	bool wr_open = true, early = F.early_shutdown || (len & 1) != 0;
	int64_t all_done_at = 0;
	struct reqs q;
	int done = 0;

	requests_scan(data, len, &q);

	memset(a, 0, sizeof(*a));
	if ((a->p = malloc(RESP_KEEP + 1)) == NULL)
		die("out of memory");
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | (wr_open && sent < len ? POLLOUT : 0)};
		int64_t left = deadline - ms_now();
		char buf[16384];
		ssize_t n;

		if (wr_open && sent == len &&
		    (q.n == 0 || early || (done > 0 && (size_t)done >= q.n) ||
		     ms_now() - last >= HALF_CLOSE_MS)) {
			shutdown(fd, SHUT_WR);
			wr_open = false;
			last = ms_now();
			continue;
		}
		if (left <= 0) {
			a->timeout = true;
			break;
		}
		if (done > 0 && (size_t)done >= q.n && !wr_open) {
			if (!early)
				break;
			if (all_done_at == 0)
				all_done_at = ms_now();
			if (ms_now() - all_done_at >= CLOSE_MS) {
				a->held = true;
				break;
			}
			if (left > CLOSE_MS - (ms_now() - all_done_at))
				left = CLOSE_MS - (ms_now() - all_done_at);
		}
		if (done > 0 && ms_now() - last >= QUIET_MS)
			break;
		if (done > 0 && left > QUIET_MS)
			left = QUIET_MS;
		/* Nothing complete was sent, so nothing is owed: a daemon that
		 * would still answer (a 400) does so at once. */
		if (q.n == 0 && !wr_open && ms_now() - last >= OWED_NONE_MS)
			break;
		if (q.n == 0 && !wr_open && left > OWED_NONE_MS)
			left = OWED_NONE_MS;
		if (wr_open && sent == len && left > HALF_CLOSE_MS - (ms_now() - last))
			left = HALF_CLOSE_MS - (ms_now() - last);
		if (left < 0)
			left = 0;
		if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR)
			die("poll");
		if (wr_open && sent < len && (pfd.revents & (POLLOUT | POLLERR | POLLHUP))) {
			n = send(fd, (const char *)data + sent, len - sent, MSG_NOSIGNAL);
			if (n > 0 && (sent += (size_t)n) == len)
				last = ms_now();
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				wr_open = false; /* the daemon stopped reading: read its answer */
		}
		if (pfd.revents & (POLLIN | POLLERR | POLLHUP)) {
			n = recv(fd, buf, sizeof(buf), 0);
			if (n == 0) {
				a->eof = true;
				break;
			}
			if (n < 0 && errno == ECONNRESET) {
				a->reset = true;
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR) {
				a->reset = true;
				break;
			}
			if (n > 0) {
				size_t keep = RESP_KEEP - a->len < (size_t)n ? RESP_KEEP - a->len : (size_t)n;

				memcpy(a->p + a->len, buf, keep);
				a->len += keep;
				a->total += (size_t)n;
				last = ms_now();
				done = answers_complete(a->p, a->len, &q);
			}
		}
	}
	a->p[a->len] = '\0';
	close(fd);
}

static void answer_free(struct answer *a)
{
	free(a->p);
	a->p = NULL;
}

/* The status of the first answer, 0 when it has no status line. */
static unsigned answer_status(const struct answer *a)
{
	if (a->len < 12 || strncmp(a->p, "HTTP/1.", 7) != 0 || a->p[8] != ' ')
		return 0;
	return (unsigned)strtoul(a->p + 9, NULL, 10);
}

/* The value of the first header name in the first answer's head, copied to
 * out (cap bytes); false when absent. */
static bool answer_header(const struct answer *a, const char *name, char *out, size_t cap)
{
	const char *end = strstr(a->p, "\r\n\r\n"), *l = a->p;
	size_t nl = strlen(name);

	while (l != NULL && (end == NULL || l < end)) {
		const char *eol = strstr(l, "\r\n");

		if (eol == NULL)
			break;
		if ((size_t)(eol - l) > nl + 1 && strncasecmp(l, name, nl) == 0 && l[nl] == ':') {
			const char *v = l + nl + 1;
			size_t n;

			while (*v == ' ')
				v++;
			n = (size_t)(eol - v);
			if (n >= cap)
				return false;
			memcpy(out, v, n);
			out[n] = '\0';
			return true;
		}
		l = eol + 2;
	}
	return false;
}

/* "name=value" of the Set-Cookie whose name ends with suffix. */
static bool answer_cookie(const struct answer *a, const char *suffix, char *out, size_t cap)
{
	const char *l = a->p, *end = strstr(a->p, "\r\n\r\n");
	size_t sl = strlen(suffix);

	while ((l = strcasestr(l, "\r\nSet-Cookie: ")) != NULL && (end == NULL || l < end)) {
		const char *v = l + 14, *eq = strchr(v, '='), *semi = strpbrk(v, ";\r");

		l += 2;
		if (eq == NULL || semi == NULL || eq > semi || (size_t)(eq - v) < sl ||
		    strncmp(eq - sl, suffix, sl) != 0 || semi == eq + 1)
			continue;
		if ((size_t)(semi - v) >= cap)
			return false;
		memcpy(out, v, (size_t)(semi - v));
		out[semi - v] = '\0';
		return true;
	}
	return false;
}

/* The value of the hidden input name in a page. */
static bool answer_field(const struct answer *a, const char *name, char *out, size_t cap)
{
	char pat[64];
	const char *v, *q;

	snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
	if ((v = strstr(a->p, pat)) == NULL)
		return false;
	v += strlen(pat);
	if ((q = strchr(v, '"')) == NULL || (size_t)(q - v) >= cap)
		return false;
	memcpy(out, v, (size_t)(q - v));
	out[q - v] = '\0';
	return true;
}

static struct answer get(const char *target, const char *cookie)
{
	struct answer a;
	char *req = NULL;
	int n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%sConnection: close\r\n\r\n", target,
			 cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "");

	if (n < 0)
		die("out of memory");
	exchange(req, (size_t)n, &a);
	free(req);
	return a;
}

static struct answer post(const char *path, const char *cookie, const char *body)
{
	struct answer a;
	char *req = NULL;
	int n = asprintf(&req, "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s%s%s"
			       "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n"
			       "Connection: close\r\n\r\n%s",
			 path, cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "",
			 strlen(body), body);

	if (n < 0)
		die("out of memory");
	exchange(req, (size_t)n, &a);
	free(req);
	return a;
}

static void authorize_target(char *out, size_t cap, const char *client, const char *cb)
{
	snprintf(out, cap, "/authorize?response_type=code&client_id=%s&redirect_uri=%s&scope=openid%%20profile%%20email"
		 "&state=st4te&nonce=n0nce-0123456789abcdefghij&code_challenge=%s&code_challenge_method=S256",
		 client, cb, F.challenge);
}

/* A fresh login transaction of demo-portal. */
struct txn {
	char txn[128], csrf[128], bind[256];
};

static bool txn_new(struct txn *t)
{
	char target[512];
	struct answer a;
	bool ok;

	authorize_target(target, sizeof(target), "demo-portal", PORTAL_CB);
	a = get(target, NULL);
	ok = answer_status(&a) == 200 && answer_field(&a, "txn", t->txn, sizeof(t->txn)) &&
	     answer_field(&a, "csrf", t->csrf, sizeof(t->csrf)) && answer_cookie(&a, "_b", t->bind, sizeof(t->bind));
	answer_free(&a);
	return ok;
}

/* Logs FUZZ_USER in for demo-portal (consent accepted): F.sid. */
static bool session_new(void)
{
	struct txn t;
	struct answer a;
	char body[1024], cookies[600], ctxn[128], ccsrf[128];
	bool ok;

	if (!txn_new(&t))
		return false;
	snprintf(body, sizeof(body), "txn=%s&csrf=%s&username=" FUZZ_USER "&password=Marianne-2026%%21", t.txn, t.csrf);
	a = post("/login", t.bind, body);
	ok = answer_cookie(&a, "_session", F.sid, sizeof(F.sid));
	if (ok && answer_status(&a) == 200 && answer_field(&a, "txn", ctxn, sizeof(ctxn)) &&
	    answer_field(&a, "csrf", ccsrf, sizeof(ccsrf))) {
		answer_free(&a);
		snprintf(cookies, sizeof(cookies), "%s; %s", t.bind, F.sid);
		snprintf(body, sizeof(body), "txn=%s&csrf=%s&decision=accept", ctxn, ccsrf);
		a = post("/consent", cookies, body);
		ok = answer_status(&a) == 302 || answer_status(&a) == 303;
	}
	answer_free(&a);
	F.sid_uses = 0;
	return ok;
}

/* A fresh code of demo-portal for the session; a new session when the one
 * held no longer gives codes (an input logged it out). */
static bool code_new(char *code, size_t cap)
{
	char target[512], loc[2048];
	const char *c;

	authorize_target(target, sizeof(target), "demo-portal", PORTAL_CB);
	for (int attempt = 0; attempt < 2; attempt++) {
		struct answer a = get(target, F.sid);
		bool ok = answer_header(&a, "Location", loc, sizeof(loc)) && (c = strstr(loc, "code=")) != NULL;

		answer_free(&a);
		if (ok) {
			size_t n = strcspn(c + 5, "&#");

			if (n >= cap)
				return false;
			memcpy(code, c + 5, n);
			code[n] = '\0';
			return true;
		}
		if (!session_new())
			return false;
	}
	return false;
}

static bool consent_form(char *ctxn, size_t tcap, char *ccsrf, size_t ccap)
{
	char target[512];
	struct answer a;
	bool ok;

	/* prompt=consent: an input may have given demo-portal-2 its consent. */
	authorize_target(target, sizeof(target), "demo-portal-2", PORTAL2_CB);
	strncat(target, "&prompt=consent", sizeof(target) - strlen(target) - 1);
	a = get(target, F.sid);
	ok = answer_status(&a) == 200 && answer_field(&a, "txn", ctxn, tcap) && answer_field(&a, "csrf", ccsrf, ccap);
	answer_free(&a);
	return ok;
}

/* A fresh access token of demo-portal: a code exchanged at /token. */
static bool access_token_new(char *at, size_t cap)
{
	char code[256], body[1024];
	const char *v, *q;
	struct answer a;
	bool ok = false;

	if (!code_new(code, sizeof(code)))
		return false;
	snprintf(body, sizeof(body), "grant_type=authorization_code&code=%s&redirect_uri=%s&code_verifier=%s"
		 "&client_id=demo-portal&client_secret=demo-portal-secret", code, PORTAL_CB, FUZZ_VERIFIER);
	a = post("/token", NULL, body);
	if ((v = strstr(a.p, "\"access_token\":\"")) != NULL && (q = strchr(v + 16, '"')) != NULL &&
	    (size_t)(q - v - 16) < cap) {
		memcpy(at, v + 16, (size_t)(q - v - 16));
		at[q - v - 16] = '\0';
		ok = true;
	}
	answer_free(&a);
	return ok;
}

static bool has(const uint8_t *d, size_t n, const char *s)
{
	return memmem(d, n, s, strlen(s)) != NULL;
}

/* Replaces every occurrence of key in *buf (*len bytes, malloc'ed). */
static void substitute(uint8_t **buf, size_t *len, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);
	uint8_t *p;

	while ((p = memmem(*buf, *len, key, kl)) != NULL) {
		size_t off = (size_t)(p - *buf);
		uint8_t *nb = malloc(*len - kl + vl + 1); /* NUL-ended, as the input's copy */

		if (nb == NULL)
			die("out of memory");
		memcpy(nb, *buf, off);
		memcpy(nb + off, val, vl);
		memcpy(nb + off + vl, *buf + off + kl, *len - off - kl);
		nb[*len - kl + vl] = '\0';
		free(*buf);
		*buf = nb;
		*len = *len - kl + vl;
	}
}

static void fill_lengths(uint8_t **buf, size_t *len)
{
	uint8_t *p;

	/* The last one first: each counts the bytes after it as they will be
	 * sent, with the later ones filled in. */
	while ((p = memmem(*buf, *len, "@LEN@", 5)) != NULL) {
		uint8_t *next;
		size_t off, rest;

		while ((next = memmem(p + 5, *len - (size_t)(p + 5 - *buf), "@LEN@", 5)) != NULL)
			p = next;
		off = (size_t)(p - *buf);
		rest = *len - off - 5;
		const uint8_t *e1 = memmem(p, rest + 5, "\r\n\r\n", 4), *e2 = memmem(p, rest + 5, "\n\n", 2);
		const uint8_t *end = e1 == NULL ? (e2 == NULL ? NULL : e2 + 2)
				     : e2 == NULL ? e1 + 4 : e1 < e2 ? e1 + 4 : e2 + 2;
		char num[24];

		/* The number replaces the token, so it counts from after it. */
		snprintf(num, sizeof(num), "%zu", end == NULL ? 0 : (size_t)(*buf + *len - end));
		memcpy(p, "@len@", 5); /* this one only */
		substitute(buf, len, "@len@", num);
	}
}

/* Fills the placeholders; false when the live values could not be had (the
 * daemon refusing the target's own well-formed requests is a finding). */
static void fill(uint8_t **buf, size_t *len)
{
	bool sess = has(*buf, *len, "@SID@") || has(*buf, *len, "@CODE@") || has(*buf, *len, "@CTXN@") ||
		    has(*buf, *len, "@CCSRF@") || has(*buf, *len, "@AT@");

	if (has(*buf, *len, "@TXN@") || has(*buf, *len, "@CSRF@") || has(*buf, *len, "@BIND@")) {
		struct txn t;

		if (!txn_new(&t))
			die("GET /authorize for demo-portal gave no login form");
		substitute(buf, len, "@TXN@", t.txn);
		substitute(buf, len, "@CSRF@", t.csrf);
		substitute(buf, len, "@BIND@", t.bind);
	}
	if (sess) {
		char code[256], ctxn[128], ccsrf[128];

		/* A code is asked for every time: it also tells that the session
		 * still lives (an input may have logged it out). */
		if (!code_new(code, sizeof(code)))
			die("a logged-in session gave no authorization code");
		substitute(buf, len, "@CODE@", code);
		if (has(*buf, *len, "@CTXN@") || has(*buf, *len, "@CCSRF@")) {
			if (!consent_form(ctxn, sizeof(ctxn), ccsrf, sizeof(ccsrf)))
				die("a logged-in session gave no consent form for demo-portal-2");
			substitute(buf, len, "@CTXN@", ctxn);
			substitute(buf, len, "@CCSRF@", ccsrf);
		}
		if (has(*buf, *len, "@AT@")) {
			char at[4096];

			if (!access_token_new(at, sizeof(at)))
				die("a code of demo-portal could not be exchanged for an access token");
			substitute(buf, len, "@AT@", at);
		}
		substitute(buf, len, "@SID@", F.sid);
	}
	fill_lengths(buf, len);
}

/* A redirect goes to the issuer, a relative path, or a registered URI. */
static bool location_allowed(const char *loc)
{
	size_t il = strlen(F.issuer), i;
	json_t *u;

	if (loc[0] == '/' && loc[1] != '/' && loc[1] != '\\')
		return true;
	if (strncmp(loc, F.issuer, il) == 0 && (loc[il] == '/' || loc[il] == '?' || loc[il] == '\0'))
		return true;
	json_array_foreach(F.allowed, i, u) {
		size_t ul = json_string_length(u);

		if (strncmp(loc, json_string_value(u), ul) == 0 &&
		    (loc[ul] == '\0' || loc[ul] == '?' || loc[ul] == '#'))
			return true;
	}
	return false;
}

static void report(const char *why, const uint8_t *d, size_t n, const struct answer *a)
{
	fprintf(stderr, "fuzz_request: FINDING: %s\n  request (%zu bytes): %.300s\n  answer (%zu bytes%s%s%s): %.300s\n",
		why, n, (const char *)d, a->total, a->eof ? ", closed" : "", a->reset ? ", reset" : "",
		a->timeout ? ", timed out" : "", a->p);
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size + 1);
	size_t len = size;
	struct answer a;
	struct reqs q;
	char loc[4096];
	unsigned st;
	int64_t t0;

	if (buf == NULL)
		die("out of memory");
	memcpy(buf, data, size);
	buf[size] = '\0';
	fill(&buf, &len);
	t0 = ms_now();
	exchange(buf, len, &a);
	st = answer_status(&a);
	requests_scan(buf, len, &q);
	if (F.verbose)
		fprintf(stderr, "fuzz_request: %zu bytes, %zu requests -> %u (%zu bytes%s%s%s, %lld ms)\n", len, q.n, st,
			a.total,
			a.eof ? ", closed" : "", a.reset ? ", reset" : "", a.timeout ? ", timed out" : "",
			(long long)(ms_now() - t0));
	if (a.timeout && q.n > 0)
		report("no end of the answer within the bound (a hang)", buf, len, &a);
	if (a.held)
		report("a half-closed connection left open after its answers", buf, len, &a);
	if (q.n > 0 && st == 0)
		report(a.reset ? "a complete request got a reset, not a status" : "a complete request got no status line",
		       buf, len, &a);
	if (st >= 300 && st < 400 && answer_header(&a, "Location", loc, sizeof(loc)) && !location_allowed(loc))
		report("a redirect to an unregistered URI", buf, len, &a);
	/* (What the input holds itself may be echoed, as a typed user name.) */
	if ((strstr(a.p, F.pairwise_secret) != NULL && !has(buf, len, F.pairwise_secret)) ||
	    (strstr(a.p, "PRIVATE KEY") != NULL && !has(buf, len, "PRIVATE KEY")))
		report("an answer holds a secret", buf, len, &a);
	answer_free(&a);
	free(buf);
	return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fuzz_fini(void)
{
	if (g_idp.rt == NULL)
		return;
	idp_serve_stop();
	rt_release(g_idp.rt);
	g_idp.rt = NULL;
	json_decref(F.allowed);
	free(F.pairwise_secret);
	nftw(F.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* users.json with FUZZ_USER; a cheap argon2id cost: the target measures the
 * daemon, not the hash (unknown users still cost the plugin's own dummy). */
static void write_users(const char *path)
{
	static const char *const claims = "{\"given_name\":\"Marianne\",\"family_name\":\"Dupont\","
		"\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"75056\",\"birthcountry\":\"99100\","
		"\"email\":\"marianne.dupont@example.fr\",\"email_verified\":true,\"phone_number\":\"+33612345678\"}";
	unsigned char salt[16] = "fuzz-salt-012345";
	char enc[256];
	json_t *root;

	if (argon2id_hash_encoded(1, 1024, 1, FUZZ_PASSWORD, strlen(FUZZ_PASSWORD), salt, sizeof(salt), 32, enc,
				  sizeof(enc)) != ARGON2_OK)
		die("argon2id");
	root = json_pack("{s:{s:{s:s,s:s,s:o}}}", "users", FUZZ_USER, "password", enc, "subject", "fuzz-marianne",
			 "claims", json_loads(claims, 0, NULL));
	/* The plugin refuses a users file others may read, as for the keys. */
	if (root == NULL || json_dump_file(root, path, 0) != 0 || chmod(path, 0600) != 0)
		die("cannot write users.json");
	json_decref(root);
}

static void write_config(const char *path, const char *plugin_dir)
{
	json_t *c = json_load_file("conf/demo.json", 0, NULL), *b, *cl;
	char tdir[4096], users[128], keys[128];
	size_t i;

	if (c == NULL || realpath("templates", tdir) == NULL)
		die("run from the repository root: conf/demo.json and templates/ not found");
	snprintf(users, sizeof(users), "%s/users.json", F.dir);
	snprintf(keys, sizeof(keys), "%s/keys", F.dir);
	/* The demo with its file backend alone (the upstream one would call
	 * :8090), errors only in the log, and login throttling out of the
	 * way: every input comes from 127.0.0.1, and the target's own logins
	 * must not be locked out by the inputs' wrong passwords. */
	b = json_array_get(json_object_get(c, "backends"), 0);
	json_object_set_new(b, "users", json_string(users));
	json_object_set_new(c, "backends", json_pack("[O]", b));
	json_object_set_new(c, "keys_dir", json_string(keys));
	json_object_set_new(c, "templates_dir", json_string(tdir));
	json_object_set_new(c, "plugin_dir", json_string(plugin_dir));
	json_object_set_new(c, "log_level", json_string(F.verbose ? "info" : "error"));
	json_object_set_new(c, "rate_limits", json_pack("{s:i,s:i}", "login_failures_per_ip_per_minute", 1000000,
							"login_failures_per_user_per_15min", 1000000));
	/* Transactions live the shortest allowed: a long run stores many. */
	json_object_set_new(json_object_get(c, "session"), "login_form_ttl_s", json_integer(60));
	snprintf(F.issuer, sizeof(F.issuer), "%s", json_string_value(json_object_get(c, "issuer")));
	F.pairwise_secret = strdup(json_string_value(json_object_get(c, "pairwise_secret")));
	F.allowed = json_array();
	json_array_foreach(json_object_get(c, "clients"), i, cl) {
		json_array_extend(F.allowed, json_object_get(cl, "redirect_uris"));
		json_array_extend(F.allowed, json_object_get(cl, "post_logout_redirect_uris"));
	}
	if (json_dump_file(c, path, JSON_INDENT(1)) != 0)
		die("cannot write the configuration");
	json_decref(c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char conf[128], keys[128], users[128], port_file[128], exe[4096], plugins[4096];
	const char *pd = getenv("IDP_FUZZ_PLUGIN_DIR"), *to = getenv("IDP_FUZZ_TIMEOUT_MS");
	unsigned char h[SHA256_DIGEST_LENGTH];
	char *ch;
	struct rt *rt = NULL;
	FILE *f, *devnull;
	ssize_t n;

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	setenv("LDAPNOINIT", "1", 1);
	F.verbose = getenv("IDP_FUZZ_VERBOSE") != NULL;
	F.early_shutdown = getenv("IDP_FUZZ_EARLY_SHUTDOWN") != NULL;
	F.timeout_ms = to != NULL ? atoi(to) : 10000;
	if (F.timeout_ms <= 0)
		F.timeout_ms = 10000;
	if (pd == NULL) {
		/* build-san/tests/fuzz_request: the plugins are in build-san/plugins. */
		if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) <= 0)
			die("readlink /proc/self/exe");
		exe[n] = '\0';
		snprintf(plugins, sizeof(plugins), "%s/../plugins", dirname(exe));
		snprintf(exe, sizeof(exe), "%s", plugins);
		pd = exe;
	}
	/* The configuration resolves relative paths from its own folder. */
	if (realpath(pd, plugins) == NULL)
		die("the plugin folder does not exist (IDP_FUZZ_PLUGIN_DIR)");
	pd = plugins;
	snprintf(F.dir, sizeof(F.dir), "/tmp/idp-fuzz.XXXXXX");
	if (mkdtemp(F.dir) == NULL)
		die("mkdtemp");
	snprintf(conf, sizeof(conf), "%s/idp.json", F.dir);
	snprintf(keys, sizeof(keys), "%s/keys", F.dir);
	snprintf(users, sizeof(users), "%s/users.json", F.dir);
	snprintf(port_file, sizeof(port_file), "%s/port", F.dir);
	if ((devnull = fopen("/dev/null", "w")) == NULL || keys_init(keys, devnull) != IDP_OK)
		die("keys init");
	fclose(devnull);
	write_users(users);
	write_config(conf, pd);
	SHA256((const unsigned char *)FUZZ_VERIFIER, strlen(FUZZ_VERIFIER), h);
	if ((ch = b64url_encode(h, sizeof(h))) == NULL)
		die("out of memory");
	snprintf(F.challenge, sizeof(F.challenge), "%s", ch);
	free(ch);

	/* As main() does. */
	g_idp.config_path = conf;
	if (rt_build(conf, &rt) != IDP_OK)
		die("the demo configuration does not load (see above)");
	idp_log_set_level(rt->cfg->log_level);
	g_idp.rt = rt;
	if (idp_serve_start(0, port_file) != IDP_OK)
		die("the daemon does not start");
	atexit(fuzz_fini);
	if ((f = fopen(port_file, "r")) == NULL || fscanf(f, "%u", &F.port) != 1)
		die("no port file");
	fclose(f);
	if (!session_new())
		die("the demo login does not work: no session to fuzz with");
	return 0;
}
