/* The Redis store driver (hiredis 0.14.1). A hiredis context is not
 * thread-safe, so each calling thread gets its own connection, made on its
 * first command and freed when the thread exits. On a plain thread the
 * connection blocks (redisContext). On an HTTP loop thread (fiber.h) it is
 * hiredis's asynchronous context, driven by the loop's epoll through the small
 * adapter below: each fiber appends its command and parks, the loop writes what
 * the fibers appended once per turn, and hiredis hands each reply to its
 * fiber's callback, in order. A connection that fails is dropped; the command
 * is sent once more on a new one when the failure cannot have been a slow
 * server, so that the daemon rides over a Redis restart. */
#include "store.h"
#include "fiber.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <time.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "util.h"

#define HOST_MAX 255
#define PREFIX_MAX 64
#define FULLKEY_MAX (PREFIX_MAX + STORE_KEY_MAX)
#define TIMEOUT_MS_DEFAULT 2000
#define TIMEOUT_MS_MAX 600000

/* For each key, INCR, and an EXPIRE only when the counter was just created,
 * atomically and in one round trip. A counter found without a TTL (written
 * by hand, say) gets one too, or it would never expire. */
static const char incr_script[] =
	"local out = {} "
	"for i, k in ipairs(KEYS) do "
	"local v = redis.call('INCR', k) "
	"if v == 1 or redis.call('TTL', k) == -1 then "
	"redis.call('EXPIRE', k, ARGV[i]) end "
	"out[i] = v end "
	"return out";

/* store_ops.put_counted: the counter as incr_script counts it, then the SET
 * only within the limit; the count is the answer. */
static const char put_counted_script[] =
	"local v = redis.call('INCR', KEYS[1]) "
	"if v == 1 or redis.call('TTL', KEYS[1]) == -1 then "
	"redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
	"if v <= tonumber(ARGV[2]) then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4]) end "
	"return v";

/* DECR of each counter that exists and is above zero (DECR keeps the TTL):
 * never one created at -1 without a TTL. */
static const char decr_script[] =
	"for _, k in ipairs(KEYS) do "
	"if tonumber(redis.call('GET', k) or '0') > 0 then redis.call('DECR', k) end end "
	"return 0";

/* GETDEL for servers older than 6.2: a script is atomic as well. */
static const char take_script[] =
	"local v = redis.call('GET', KEYS[1]) "
	"if v then redis.call('DEL', KEYS[1]) end "
	"return v";

/* store_ops.batch: the take (an absent key stops the script), the requires
 * (an absent key stops it), the consume (a DEL that found nothing stops it),
 * the moves (an absent key stops it), then the writes in order; a script is
 * atomic. ARGV holds seven values per key: the op ('t' take, 'r' require, 'c'
 * consume, 'm' move, 'p' put, 'e' expire, 'a' append, 'd' del, 'l' del
 * listed), the value, the TTL, the longest value an append keeps, a move's
 * destination, and the offset and length of the bytes of the taken value
 * that end the key (store_op.taken_off; length 0: none). An append keeps the longer of the old and new
 * lifetimes (PTTL is -2 for an absent key, -1 for one without TTL, and a
 * trimming SET drops the TTL: PEXPIRE after either). A del listed builds its
 * keys inside the script (ARGV: the driver's prefix and the op's), as a move
 * its destination: not cluster-safe, which this driver does not claim. The
 * answer is 1 or 0 (stopped), and with a take {1 or 0, the value}. */
static const char batch_script[] =
	"local taken, K = nil, {} "
	"local function stop() if taken then return {0, taken} end return 0 end "
	"for i = 1, #KEYS do K[i] = KEYS[i] "
	"if ARGV[7*i-6] == 't' then taken = redis.call('GET', KEYS[i]) "
	"if not taken then return 0 end redis.call('DEL', KEYS[i]) end end "
	"for i = 1, #KEYS do local off, n = tonumber(ARGV[7*i-1]), tonumber(ARGV[7*i]) "
	"if n > 0 then if not taken or #taken < off + n then return stop() end "
	"local part = string.sub(taken, off + 1, off + n) "
	"if string.find(part, '[^\\32-\\126]') then return stop() end "
	"K[i] = KEYS[i] .. part end end "
	"for i = 1, #KEYS do "
	"if ARGV[7*i-6] == 'r' and redis.call('EXISTS', K[i]) == 0 then return stop() end end "
	"for i = 1, #KEYS do "
	"if ARGV[7*i-6] == 'c' and redis.call('DEL', K[i]) == 0 then return stop() end end "
	"for i = 1, #KEYS do "
	"if ARGV[7*i-6] == 'm' then local v = redis.call('GET', K[i]) "
	"if not v then return stop() end redis.call('DEL', K[i]) "
	"if #ARGV[7*i-5] + #v > 1048576 then return redis.error_reply('ETOOBIG move') end "
	"redis.call('SET', ARGV[7*i-2], ARGV[7*i-5] .. v, 'EX', ARGV[7*i-4]) end end "
	"for i = 1, #KEYS do local t, k, v = ARGV[7*i-6], K[i], ARGV[7*i-5] "
	"if t == 'p' then redis.call('SET', k, v, 'EX', ARGV[7*i-4]) "
	"elseif t == 'e' then redis.call('EXPIRE', k, ARGV[7*i-4]) "
	"elseif t == 'a' then "
	"local keep = math.max(redis.call('PTTL', k), 1000 * tonumber(ARGV[7*i-4])) "
	"local n, max = redis.call('APPEND', k, v), tonumber(ARGV[7*i-3]) "
	"if n > max then redis.call('SET', k, redis.call('GETRANGE', k, n - max, -1)) end "
	"redis.call('PEXPIRE', k, keep) "
	"elseif t == 'd' then redis.call('DEL', k) "
	"elseif t == 'l' then local list = redis.call('GET', k) "
	"if list then for w in string.gmatch(list, '[^ ]+') do redis.call('DEL', v .. w) end "
	"redis.call('DEL', k) end end end "
	"if taken then return {1, taken} end "
	"return 1";

struct rstore;

/* A fiber waiting for its reply; lives on that fiber's stack. */
struct rwait {
	struct fiber *f;
	redisReply *reply;         /* NULL: the connection failed */
	int err, err_errno;        /* then hiredis's error and errno */
	int64_t deadline;          /* CLOCK_MONOTONIC ms */
	struct rwait *next;
};

struct rconn {
	redisContext *c;           /* NULL after a failure, until the next command */
	struct rstore *st;
	struct rconn *prev, *next;
	/* A loop thread's asynchronous connection (NULL until its first command,
	 * and after a failure). */
	redisAsyncContext *ac;
	struct fiber_io io;        /* ready() finds the rconn from it */
	uint32_t events;           /* what the loop's epoll watches */
	bool want_write;           /* hiredis holds output: written before the wait */
	bool flushing;             /* inside that write */
	struct rwait *head, *tail; /* in the order of the commands: their deadlines */
	bool got_reply;            /* a reply came since the queue was last empty */
	bool timed_out;            /* the failure under way is our timeout */
	uint64_t sched;            /* the scheduler whose epoll watches ac */
	int64_t connect_after;     /* after a failed connect: not before (ms) */
};

#define SOCKET_MAX 107 /* sun_path holds 108 bytes with the NUL */

struct rstore {
	char host[HOST_MAX + 1];   /* with a socket: "unix:" and its path (for log lines) */
	char socket[SOCKET_MAX + 1]; /* empty: TCP to host:port */
	int port;
	long long db;
	char *password;
	char prefix[PREFIX_MAX + 1];
	size_t prefix_len;
	struct timeval tv;
	pthread_key_t key;         /* this thread's struct rconn */
	bool key_made;
	pthread_mutex_t lock;      /* guards conns */
	bool lock_made;
	struct rconn *conns;       /* every thread's, so that close frees them all */
	atomic_bool down;          /* an outage is logged once, not on every call */
	atomic_bool no_getdel;     /* server older than 6.2 */
};

struct rkey {
	char s[FULLKEY_MAX + 1];
	size_t len;
};

/* Keys are printable ASCII, 1 to STORE_KEY_MAX bytes (store.h). */
static int key_check(const char *key, size_t *klen)
{
	size_t n, i;

	if (key == NULL)
		return IDP_EINVAL;
	n = strnlen(key, STORE_KEY_MAX + 1);
	if (n > STORE_KEY_MAX)
		return IDP_ETOOBIG;
	if (n == 0)
		return IDP_EINVAL;
	for (i = 0; i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return IDP_EINVAL;
	*klen = n;
	return IDP_OK;
}

static int rkey_make(const struct rstore *st, const char *key, struct rkey *k)
{
	size_t klen;
	int rc;

	if ((rc = key_check(key, &klen)) != IDP_OK)
		return rc;
	memcpy(k->s, st->prefix, st->prefix_len);
	memcpy(k->s + st->prefix_len, key, klen);
	k->len = st->prefix_len + klen;
	k->s[k->len] = '\0';
	return IDP_OK;
}

/* Replies may carry secrets (codes, sessions): wipe before freeing. hiredis
 * keeps its own transient copies in its socket buffers, which we cannot reach. */
/* Values may hold secrets: wiped, an array's elements too, before the free. */
static void reply_wipe(redisReply *r)
{
	if ((r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_ERROR) && r->str != NULL)
		OPENSSL_cleanse(r->str, r->len);
	if (r->type == REDIS_REPLY_ARRAY)
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i] != NULL)
				reply_wipe(r->element[i]);
}

static void reply_free(redisReply *r)
{
	if (r == NULL)
		return;
	reply_wipe(r);
	freeReplyObject(r);
}

static void rs_down(struct rstore *st, const char *what, const char *why)
{
	int level = atomic_exchange(&st->down, true) ? LOG_DEBUG : LOG_ERR;

	idp_log(level, "store_redis: %s:%d: %s: %s", st->host, st->port, what, why);
}

/* Redis error replies may quote the command's arguments, and keys hold codes
 * and session ids: log the text only up to the first quote (Redis 6 quotes
 * with backquotes). */
static void rs_log_error_reply(const struct rstore *st, const char *cmd, const redisReply *r)
{
	size_t n = 0;

	while (n < r->len && n < 120 && strchr("'`\"\n", r->str[n]) == NULL)
		n++;
	idp_log(LOG_ERR, "store_redis: %s:%d: %s: %.*s", st->host, st->port, cmd, (int)n, r->str);
}

static int rs_unexpected(const struct rstore *st, const char *cmd, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		rs_log_error_reply(st, cmd, r);
	else
		idp_log(LOG_ERR, "store_redis: %s:%d: %s: unexpected reply type %d", st->host,
			st->port, cmd, r->type);
	return IDP_ESTORE;
}

/* Sends one command on c and checks for an error reply; for connection setup. */
static int rs_setup_command(struct rstore *st, redisContext *c, const char *what, int argc,
			    const char **argv, const size_t *lens)
{
	redisReply *r;
	int rc = IDP_OK;

	if ((r = redisCommandArgv(c, argc, argv, lens)) == NULL) {
		rs_down(st, what, c->errstr);
		return IDP_ESTORE;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		rs_log_error_reply(st, what, r);
		rc = IDP_ESTORE;
	}
	reply_free(r);
	return rc;
}

static int rs_connect(struct rstore *st, redisContext **out)
{
	redisContext *c;
	char db[24];
	int rc = IDP_ESTORE;

	*out = NULL;
	/* A Unix socket when Redis runs on this machine: no TCP stack on the
	 * path of each round trip. */
	c = st->socket[0] != '\0' ? redisConnectUnixWithTimeout(st->socket, st->tv)
				  : redisConnectWithTimeout(st->host, st->port, st->tv);
	if (c == NULL)
		return IDP_ENOMEM;
	if (c->err) {
		rs_down(st, "connect", c->errstr);
		goto out;
	}
	if (redisSetTimeout(c, st->tv) != REDIS_OK) {
		rs_down(st, "set timeout", c->errstr);
		goto out;
	}
	/* Keep-alive: a peer that vanished without a FIN is noticed eventually. */
	if (st->socket[0] == '\0')
		redisEnableKeepAlive(c);
	if (st->password != NULL) {
		const char *argv[] = {"AUTH", st->password};
		size_t lens[] = {4, strlen(st->password)};

		if ((rc = rs_setup_command(st, c, "AUTH", 2, argv, lens)) != IDP_OK)
			goto out;
	}
	if (st->db != 0) {
		const char *argv[] = {"SELECT", db};
		size_t lens[] = {6, 0};

		lens[1] = (size_t)snprintf(db, sizeof(db), "%lld", st->db);
		if ((rc = rs_setup_command(st, c, "SELECT", 2, argv, lens)) != IDP_OK)
			goto out;
	}
	if (atomic_exchange(&st->down, false))
		idp_log(LOG_INFO, "store_redis: %s:%d: connected again", st->host, st->port);
	*out = c;
	c = NULL;
	rc = IDP_OK;
out:
	if (c != NULL)
		redisFree(c);
	return rc;
}

/* Thread exit: the thread's connection goes with it. */
static void rs_conn_destroy(void *p)
{
	struct rconn *cn = p;
	struct rstore *st = cn->st;

	pthread_mutex_lock(&st->lock);
	if (cn->prev != NULL)
		cn->prev->next = cn->next;
	else
		st->conns = cn->next;
	if (cn->next != NULL)
		cn->next->prev = cn->prev;
	pthread_mutex_unlock(&st->lock);
	if (cn->c != NULL)
		redisFree(cn->c);
	if (cn->ac != NULL) /* the loop has ended: its epoll is gone */
		redisAsyncFree(cn->ac);
	free(cn);
}

/* The calling thread's connection slot, created on its first call. */
static struct rconn *rs_conn(struct rstore *st)
{
	struct rconn *cn = pthread_getspecific(st->key);

	if (cn != NULL)
		return cn;
	if ((cn = calloc(1, sizeof(*cn))) == NULL)
		return NULL;
	cn->st = st;
	if (pthread_setspecific(st->key, cn) != 0) {
		free(cn);
		return NULL;
	}
	pthread_mutex_lock(&st->lock);
	cn->next = st->conns;
	if (st->conns != NULL)
		st->conns->prev = cn;
	st->conns = cn;
	pthread_mutex_unlock(&st->lock);
	return cn;
}

/* Whether a command that failed this way is sent once more on a new
 * connection: after the server closed or reset it (a Redis restart), not
 * after a timeout, when the server may have run it already (a second INCR or
 * GETDEL would be wrong). */
static bool worth_retry(int err, int err_errno)
{
	return err == REDIS_ERR_EOF ||
	       (err == REDIS_ERR_IO && err_errno != EAGAIN && err_errno != EWOULDBLOCK &&
		err_errno != ETIMEDOUT);
}

static struct rconn *io_conn(struct fiber_io *io)
{
	return (struct rconn *)((char *)io - offsetof(struct rconn, io));
}

/* The adapter: hiredis says when it wants to read or write; the loop's epoll
 * watches the socket. A write hiredis asks for outside ra_before_wait waits
 * for it (one write a turn for every fiber's command, no epoll change); only a
 * write that could not finish, or a connect in progress, watches EPOLLOUT. The
 * hooks touch the epoll only on the thread whose scheduler holds the socket:
 * a context freed at close, from another thread, just goes. */
static void ev_watch(struct rconn *cn, uint32_t events)
{
	if (events == cn->events || cn->sched != fiber_sched_serial())
		return;
	if (fiber_io_mod(&cn->io, events) == IDP_OK)
		cn->events = events;
}

static void ev_add_read(void *p)
{
	struct rconn *cn = p;

	ev_watch(cn, cn->events | EPOLLIN);
}

static void ev_del_read(void *p)
{
	struct rconn *cn = p;

	ev_watch(cn, cn->events & ~(uint32_t)EPOLLIN);
}

static void ev_add_write(void *p)
{
	struct rconn *cn = p;

	cn->want_write = true;
	if (cn->flushing || !(cn->ac->c.flags & REDIS_CONNECTED))
		ev_watch(cn, cn->events | EPOLLOUT);
}

static void ev_del_write(void *p)
{
	struct rconn *cn = p;

	cn->want_write = false;
	ev_watch(cn, cn->events & ~(uint32_t)EPOLLOUT);
}

/* The context is being freed (a failure, our timeout, the thread's end):
 * every waiting fiber has had its callback already. */
static void ev_cleanup(void *p)
{
	struct rconn *cn = p;

	if (cn->ac != NULL && (cn->ac->c.err != 0 || cn->timed_out))
		rs_down(cn->st, "pipeline", cn->timed_out ? "timed out" : cn->ac->c.errstr);
	/* A connect that failed: the next one waits a second, and meanwhile
	 * commands fail at once (a quick error page, not a connect each). */
	if (cn->ac != NULL && !(cn->ac->c.flags & REDIS_CONNECTED))
		cn->connect_after = mono_ms() + 1000;
	if (cn->sched == fiber_sched_serial())
		fiber_io_del(&cn->io);
	cn->ac = NULL;
	cn->events = 0;
	cn->want_write = cn->got_reply = cn->timed_out = false;
}

static void rwait_unlink(struct rconn *cn, struct rwait *w)
{
	struct rwait **pp = &cn->head, *prev = NULL;

	while (*pp != NULL && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = w->next;
	if (cn->tail == w)
		cn->tail = prev;
}

/* hiredis frees a reply once its callback returns: the fiber, which runs
 * later, gets the reply's contents moved into a block of its own (strings and
 * elements are handed over, the emptied shell is what hiredis frees). */
static redisReply *reply_move(redisReply *r)
{
	redisReply *m = malloc(sizeof(*m));

	if (m == NULL)
		return NULL;
	*m = *r;
	r->str = NULL;
	r->len = 0;
	r->element = NULL;
	r->elements = 0;
	return m;
}

/* A command's reply, or NULL when the connection failed (or was freed on
 * our timeout) before it came. */
static void ra_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *cn = ac->ev.data;
	struct rwait *w = privdata;

	rwait_unlink(cn, w);
	if (reply != NULL) {
		cn->got_reply = cn->head != NULL;
		if ((w->reply = reply_move(reply)) == NULL)
			w->err = REDIS_ERR_OOM;
	} else if (cn->timed_out) {
		w->err = REDIS_ERR_IO;
		w->err_errno = ETIMEDOUT;
	} else {
		/* Sent once more only when nothing came back since the queue was
		 * last empty: the connection was dead from the start (a Redis
		 * restarted while it sat idle). Once replies flowed, the server may
		 * have run what was in flight (a take, an increment): an error, not
		 * a retry. */
		w->err = cn->got_reply ? REDIS_ERR_OTHER : ac->c.err;
		w->err_errno = errno;
	}
	fiber_wake(w->f);
}

/* AUTH and SELECT go first on a new connection; a refusal is logged, and the
 * commands behind them fail on Redis's own error. */
static void ra_setup_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *cn = ac->ev.data;
	redisReply *r = reply;

	if (r != NULL && r->type == REDIS_REPLY_ERROR)
		rs_log_error_reply(cn->st, privdata, r);
	if (r != NULL)
		reply_wipe(r);
}

static void ra_ready(struct fiber_io *io, uint32_t events)
{
	struct rconn *cn = io_conn(io);

	if ((events & EPOLLOUT) && cn->ac != NULL) {
		cn->flushing = true;
		redisAsyncHandleWrite(cn->ac);
		cn->flushing = false;
	}
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) && cn->ac != NULL)
		redisAsyncHandleRead(cn->ac);
}

/* Before the loop waits: write what the fibers appended (one write for all
 * of them), and wake up in time for the oldest command's deadline. */
static int ra_before_wait(struct fiber_io *io)
{
	struct rconn *cn = io_conn(io);
	int64_t now;

	if (cn->ac != NULL && cn->want_write && !(cn->events & EPOLLOUT)) {
		cn->flushing = true;
		redisAsyncHandleWrite(cn->ac);
		cn->flushing = false;
	}
	if (cn->ac == NULL || cn->head == NULL)
		return -1;
	now = mono_ms();
	if (now >= cn->head->deadline) {
		/* A timeout: the server may have run the commands. */
		cn->timed_out = true;
		redisAsyncFree(cn->ac); /* each waiting fiber's callback, then cleanup */
		return -1;
	}
	return (int)(cn->head->deadline - now);
}

static char what_auth[] = "AUTH", what_select[] = "SELECT";

static int ra_connect(struct rstore *st, struct rconn *cn)
{
	redisAsyncContext *ac;
	char db[24];

	/* The connect does not block the loop; a Redis that does not answer
	 * fails the first command at its deadline. After a failure, commands
	 * fail at once for a second. */
	if (mono_ms() < cn->connect_after)
		return IDP_ESTORE;
	ac = st->socket[0] != '\0' ? redisAsyncConnectUnix(st->socket) : redisAsyncConnect(st->host, st->port);
	if (ac == NULL)
		return IDP_ENOMEM;
	if (ac->err) {
		rs_down(st, "connect", ac->errstr);
		redisAsyncFree(ac);
		cn->connect_after = mono_ms() + 1000;
		return IDP_ESTORE;
	}
	cn->io.fd = ac->c.fd;
	cn->io.ready = ra_ready;
	cn->io.before_wait = ra_before_wait;
	cn->events = EPOLLIN | EPOLLOUT; /* the connect completes on EPOLLOUT */
	if (fiber_io_add(&cn->io, cn->events) != IDP_OK) {
		redisAsyncFree(ac); /* no hooks set yet: nothing else to undo */
		cn->events = 0;
		return IDP_ESTORE;
	}
	if (st->socket[0] == '\0')
		redisEnableKeepAlive(&ac->c);
	cn->sched = fiber_sched_serial();
	cn->ac = ac;
	ac->ev.data = cn;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	if (st->password != NULL) {
		const char *argv[] = {"AUTH", st->password};
		size_t lens[] = {4, strlen(st->password)};

		redisAsyncCommandArgv(ac, ra_setup_reply, what_auth, 2, argv, lens);
	}
	if (st->db != 0) {
		const char *argv[] = {"SELECT", db};
		size_t lens[] = {6, 0};

		lens[1] = (size_t)snprintf(db, sizeof(db), "%lld", st->db);
		redisAsyncCommandArgv(ac, ra_setup_reply, what_select, 2, argv, lens);
	}
	return IDP_OK;
}

/* rs_command on a loop thread, in a fiber: append, park, take the reply. */
static int rs_command_fiber(struct rstore *st, struct rconn *cn, int argc, const char **argv,
			    const size_t *lens, redisReply **reply)
{
	int rc = IDP_ESTORE;
	int64_t timeout = (int64_t)st->tv.tv_sec * 1000 + st->tv.tv_usec / 1000;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct rwait w = {.f = fiber_self()};

		if (cn->ac != NULL && cn->sched != fiber_sched_serial() && cn->head == NULL)
			redisAsyncFree(cn->ac); /* made under a scheduler that has ended */
		if (cn->ac == NULL && (rc = ra_connect(st, cn)) != IDP_OK)
			break;
		/* Out of memory formatting this command: hiredis appended nothing,
		 * and the commands of the other fibers are whole; this one fails
		 * alone. (Past the formatting, a failed append sets the context's
		 * error, and the connection fails at its next write.) */
		if (redisAsyncCommandArgv(cn->ac, ra_reply, &w, argc, argv, lens) != REDIS_OK) {
			rc = cn->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING) ? IDP_ESTORE : IDP_ENOMEM;
			break;
		}
		w.deadline = mono_ms() + (timeout > 0 ? timeout : TIMEOUT_MS_DEFAULT);
		if (cn->tail != NULL)
			cn->tail->next = &w;
		else
			cn->head = &w;
		cn->tail = &w;
		fiber_park();
		if (w.reply != NULL) {
			*reply = w.reply;
			return IDP_OK;
		}
		rc = w.err == REDIS_ERR_OOM ? IDP_ENOMEM : IDP_ESTORE;
		if (!worth_retry(w.err, w.err_errno))
			break;
	}
	return rc;
}

/* Sends argv on this thread's connection. *reply is the caller's (reply_free).
 * A connection that fails is always dropped: the reply stream is out of step.
 * The command is sent once more on a new connection when the old one was
 * closed or reset, as after a Redis restart; not after a timeout, when the
 * server may have run it already (a second INCR or GETDEL would be wrong). */
static int rs_command(struct rstore *st, int argc, const char **argv, const size_t *lens,
		      redisReply **reply)
{
	struct rconn *cn;
	int rc = IDP_ESTORE, attempt, err, saved_errno;

	*reply = NULL;
	if ((cn = rs_conn(st)) == NULL)
		return IDP_ENOMEM;
	if (fiber_in())
		return rs_command_fiber(st, cn, argc, argv, lens, reply);
	for (attempt = 0; attempt < 2; attempt++) {
		if (cn->c == NULL && (rc = rs_connect(st, &cn->c)) != IDP_OK)
			break;
		errno = 0;
		if ((*reply = redisCommandArgv(cn->c, argc, argv, lens)) != NULL) {
			rc = IDP_OK;
			break;
		}
		saved_errno = errno;
		err = cn->c->err;
		rs_down(st, argv[0], cn->c->errstr);
		redisFree(cn->c);
		cn->c = NULL;
		rc = IDP_ESTORE;
		if (!worth_retry(err, saved_errno))
			break;
	}
	return rc;
}

/* The SHA-1 of each script, computed once. */
static char batch_sha[41], incr_sha[41], decr_sha[41], put_counted_sha[41];
static pthread_once_t sha_once = PTHREAD_ONCE_INIT;

static void sha1_hex(const char *script, size_t len, char out[41])
{
	unsigned char md[20];

	SHA1((const unsigned char *)script, len, md);
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void shas_init(void)
{
	sha1_hex(batch_script, sizeof(batch_script) - 1, batch_sha);
	sha1_hex(incr_script, sizeof(incr_script) - 1, incr_sha);
	sha1_hex(decr_script, sizeof(decr_script) - 1, decr_sha);
	sha1_hex(put_counted_script, sizeof(put_counted_script) - 1, put_counted_sha);
}

/* A script by its SHA-1 (EVALSHA), so that each call sends neither the
 * script's text nor makes Redis hash it again; on NOSCRIPT (a Redis that
 * restarted or flushed its script cache) once more with EVAL: the script
 * did not run, so sending it again is safe. argv[0] and argv[1] are set
 * here. */
static int rs_eval(struct rstore *st, const char *script, size_t slen, const char *sha, int argc,
		   const char **argv, size_t *lens, redisReply **reply)
{
	int rc;

	pthread_once(&sha_once, shas_init);
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = sha;
	lens[1] = 40;
	rc = rs_command(st, argc, argv, lens, reply);
	if (rc != IDP_OK || (*reply)->type != REDIS_REPLY_ERROR || (*reply)->len < 8 ||
	    strncmp((*reply)->str, "NOSCRIPT", 8) != 0)
		return rc;
	reply_free(*reply);
	*reply = NULL;
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = script;
	lens[1] = slen;
	return rs_command(st, argc, argv, lens, reply);
}

static void arg_add(const char **argv, size_t *lens, int *argc, const void *p, size_t n)
{
	argv[*argc] = p;
	lens[*argc] = n;
	(*argc)++;
}

static int rs_set(void *p, const char *key, const void *val, size_t len, unsigned ttl_s,
		  bool nx)
{
	struct rstore *st = p;
	struct rkey k;
	redisReply *r = NULL;
	char ttl[24];
	const char *argv[6];
	size_t lens[6];
	int rc, argc = 0;

	if ((rc = rkey_make(st, key, &k)) != IDP_OK)
		goto out;
	if (len > STORE_VAL_MAX) {
		rc = IDP_ETOOBIG;
		goto out;
	}
	if ((val == NULL && len > 0) || ttl_s == 0) {
		rc = IDP_EINVAL;
		goto out;
	}
	arg_add(argv, lens, &argc, "SET", 3);
	arg_add(argv, lens, &argc, k.s, k.len);
	/* Never a NULL pointer, even for an empty value: hiredis memcpy()s it. */
	arg_add(argv, lens, &argc, val != NULL ? val : "", len);
	if (nx)
		arg_add(argv, lens, &argc, "NX", 2);
	arg_add(argv, lens, &argc, "EX", 2);
	arg_add(argv, lens, &argc, ttl, fmt_u64(ttl, ttl_s));
	if ((rc = rs_command(st, argc, argv, lens, &r)) != IDP_OK)
		goto out;
	if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0)
		rc = IDP_OK;
	else if (r->type == REDIS_REPLY_NIL && nx)
		rc = IDP_EEXIST;
	else
		rc = rs_unexpected(st, "SET", r);
out:
	reply_free(r);
	return rc;
}

static int rs_put(void *p, const char *key, const void *val, size_t len, unsigned ttl_s)
{
	return rs_set(p, key, val, len, ttl_s, false);
}

static int rs_add(void *p, const char *key, const void *val, size_t len, unsigned ttl_s)
{
	return rs_set(p, key, val, len, ttl_s, true);
}

static bool is_unknown_command(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 19 &&
	       strncmp(r->str, "ERR unknown command", 19) == 0;
}

static int rs_fetch(void *p, const char *key, char **val, size_t *len, bool take)
{
	struct rstore *st = p;
	struct rkey k;
	redisReply *r = NULL;
	const char *cmd = take ? "GETDEL" : "GET";
	char *v;
	int rc;

	*val = NULL;
	if (len != NULL)
		*len = 0;
	if ((rc = rkey_make(st, key, &k)) != IDP_OK)
		goto out;
	if (take && atomic_load(&st->no_getdel)) {
		const char *argv[] = {"EVAL", take_script, "1", k.s};
		size_t lens[] = {4, sizeof(take_script) - 1, 1, k.len};

		cmd = "EVAL take";
		rc = rs_command(st, 4, argv, lens, &r);
	} else {
		const char *argv[] = {cmd, k.s};
		size_t lens[] = {strlen(cmd), k.len};

		rc = rs_command(st, 2, argv, lens, &r);
		if (rc == IDP_OK && take && is_unknown_command(r)) {
			idp_log(LOG_WARN, "store_redis: %s:%d: no GETDEL (Redis < 6.2), using a script",
				st->host, st->port);
			atomic_store(&st->no_getdel, true);
			reply_free(r);
			r = NULL;
			rc = rs_fetch(p, key, val, len, take);
			goto out;
		}
	}
	if (rc != IDP_OK)
		goto out;
	if (r->type == REDIS_REPLY_NIL) {
		rc = IDP_ENOTFOUND;
	} else if (r->type != REDIS_REPLY_STRING) {
		rc = rs_unexpected(st, cmd, r);
	} else if ((v = malloc(r->len + 1)) == NULL) {
		rc = IDP_ENOMEM;
	} else {
		memcpy(v, r->str, r->len);
		v[r->len] = '\0';
		*val = v;
		if (len != NULL)
			*len = r->len;
	}
out:
	reply_free(r);
	return rc;
}

static int rs_get(void *p, const char *key, char **val, size_t *len)
{
	return rs_fetch(p, key, val, len, false);
}

static int rs_take(void *p, const char *key, char **val, size_t *len)
{
	return rs_fetch(p, key, val, len, true);
}

static int rs_del(void *p, const char *key)
{
	struct rstore *st = p;
	struct rkey k;
	redisReply *r = NULL;
	int rc;

	if ((rc = rkey_make(st, key, &k)) != IDP_OK)
		goto out;
	{
		const char *argv[] = {"DEL", k.s};
		size_t lens[] = {3, k.len};

		if ((rc = rs_command(st, 2, argv, lens, &r)) != IDP_OK)
			goto out;
	}
	if (r->type != REDIS_REPLY_INTEGER)
		rc = rs_unexpected(st, "DEL", r);
out:
	reply_free(r);
	return rc;
}

/* The argument vector of a counter script: EVALSHA, sha, numkeys, the n
 * keys, then ttls when given. */
struct counter_args {
	struct rkey k[STORE_BATCH_MAX];
	char nkeys[24], ttl[STORE_BATCH_MAX][24];
	const char *argv[3 + 2 * STORE_BATCH_MAX];
	size_t lens[3 + 2 * STORE_BATCH_MAX];
	int argc;
};

static int counter_args(struct rstore *st, const char *const *keys, const unsigned *ttls, size_t n,
			struct counter_args *a)
{
	int rc;

	if (n < 1 || n > STORE_BATCH_MAX)
		return IDP_EINVAL;
	a->argc = 2;
	arg_add(a->argv, a->lens, &a->argc, a->nkeys, fmt_u64(a->nkeys, n));
	for (size_t i = 0; i < n; i++) {
		if ((rc = rkey_make(st, keys[i], &a->k[i])) != IDP_OK)
			return rc;
		arg_add(a->argv, a->lens, &a->argc, a->k[i].s, a->k[i].len);
	}
	for (size_t i = 0; ttls != NULL && i < n; i++) {
		if (ttls[i] == 0)
			return IDP_EINVAL;
		arg_add(a->argv, a->lens, &a->argc, a->ttl[i], fmt_u64(a->ttl[i], ttls[i]));
	}
	return IDP_OK;
}

/* A script error about a value that is no counter: the caller's mistake. */
static bool not_a_counter(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->str != NULL &&
	       (strstr(r->str, "not an integer") != NULL || strstr(r->str, "compare") != NULL);
}

static int rs_incr(void *p, const char *const *keys, const unsigned *ttls, size_t n, long long *out)
{
	struct rstore *st = p;
	struct counter_args a;
	redisReply *r = NULL;
	int rc;

	for (size_t i = 0; i < n && i < STORE_BATCH_MAX; i++)
		out[i] = 0;
	if ((rc = counter_args(st, keys, ttls, n, &a)) != IDP_OK ||
	    (rc = rs_eval(st, incr_script, sizeof(incr_script) - 1, incr_sha, a.argc, a.argv, a.lens, &r)) != IDP_OK)
		goto out;
	if (r->type == REDIS_REPLY_ARRAY && r->elements == n) {
		for (size_t i = 0; i < n; i++) {
			if (r->element[i]->type != REDIS_REPLY_INTEGER) {
				rc = rs_unexpected(st, "EVAL incr", r);
				goto out;
			}
			out[i] = r->element[i]->integer;
		}
	} else if (not_a_counter(r)) {
		rc = IDP_EINVAL;
	} else {
		rc = rs_unexpected(st, "EVAL incr", r);
	}
out:
	reply_free(r);
	return rc;
}

static int rs_put_counted(void *p, const char *counter, unsigned counter_ttl_s, long long limit,
			  const char *key, const void *val, size_t len, unsigned ttl_s, long long *count)
{
	struct rstore *st = p;
	struct rkey ck, k;
	char nkeys[] = "2", cttl[24], lim[24], ttl[24];
	const char *argv[9];
	size_t lens[9];
	int argc = 2, rc;
	redisReply *r = NULL;

	*count = 0;
	if (counter_ttl_s == 0 || ttl_s == 0 || limit < 0)
		return IDP_EINVAL;
	if (len > STORE_VAL_MAX)
		return IDP_ETOOBIG;
	if ((rc = rkey_make(st, counter, &ck)) != IDP_OK || (rc = rkey_make(st, key, &k)) != IDP_OK)
		return rc;
	arg_add(argv, lens, &argc, nkeys, 1);
	arg_add(argv, lens, &argc, ck.s, ck.len);
	arg_add(argv, lens, &argc, k.s, k.len);
	arg_add(argv, lens, &argc, cttl, fmt_u64(cttl, counter_ttl_s));
	arg_add(argv, lens, &argc, lim, fmt_u64(lim, (uint64_t)limit));
	arg_add(argv, lens, &argc, val, len);
	arg_add(argv, lens, &argc, ttl, fmt_u64(ttl, ttl_s));
	if ((rc = rs_eval(st, put_counted_script, sizeof(put_counted_script) - 1, put_counted_sha, argc, argv,
			  lens, &r)) != IDP_OK)
		goto out;
	if (r->type == REDIS_REPLY_INTEGER) {
		*count = r->integer;
		rc = *count > limit ? IDP_ELIMIT : IDP_OK;
	} else if (not_a_counter(r)) {
		rc = IDP_EINVAL;
	} else {
		rc = rs_unexpected(st, "EVAL put_counted", r);
	}
out:
	reply_free(r);
	return rc;
}

static int rs_decr(void *p, const char *const *keys, size_t n)
{
	struct rstore *st = p;
	struct counter_args a;
	redisReply *r = NULL;
	int rc;

	if ((rc = counter_args(st, keys, NULL, n, &a)) != IDP_OK ||
	    (rc = rs_eval(st, decr_script, sizeof(decr_script) - 1, decr_sha, a.argc, a.argv, a.lens, &r)) != IDP_OK)
		goto out;
	if (not_a_counter(r))
		rc = IDP_EINVAL;
	else if (r->type != REDIS_REPLY_INTEGER)
		rc = rs_unexpected(st, "EVAL decr", r);
out:
	reply_free(r);
	return rc;
}

static int rs_expire(void *p, const char *key, unsigned ttl_s)
{
	struct rstore *st = p;
	struct rkey k;
	redisReply *r = NULL;
	char ttl[24];
	int rc;

	if ((rc = rkey_make(st, key, &k)) != IDP_OK)
		goto out;
	if (ttl_s == 0) {
		rc = IDP_EINVAL;
		goto out;
	}
	{
		const char *argv[] = {"EXPIRE", k.s, ttl};
		size_t lens[] = {6, k.len, 0};

		lens[2] = fmt_u64(ttl, ttl_s);
		if ((rc = rs_command(st, 3, argv, lens, &r)) != IDP_OK)
			goto out;
	}
	if (r->type != REDIS_REPLY_INTEGER)
		rc = rs_unexpected(st, "EXPIRE", r);
	else if (r->integer == 0)
		rc = IDP_ENOTFOUND;
out:
	reply_free(r);
	return rc;
}

static int rs_mget(void *p, const char *const *keys, size_t n, char **vals, size_t *lens)
{
	struct rstore *st = p;
	struct rkey k[STORE_BATCH_MAX];
	const char *argv[STORE_BATCH_MAX + 1] = {"MGET"};
	size_t alen[STORE_BATCH_MAX + 1] = {4}, i;
	redisReply *r = NULL;
	int rc = IDP_OK;

	for (i = 0; i < n && i < STORE_BATCH_MAX; i++) {
		vals[i] = NULL;
		lens[i] = 0;
	}
	if (n == 0 || n > STORE_BATCH_MAX)
		return IDP_EINVAL;
	for (i = 0; i < n; i++) {
		if ((rc = rkey_make(st, keys[i], &k[i])) != IDP_OK)
			return rc;
		argv[i + 1] = k[i].s;
		alen[i + 1] = k[i].len;
	}
	if ((rc = rs_command(st, (int)n + 1, argv, alen, &r)) != IDP_OK)
		goto out;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
		rc = rs_unexpected(st, "MGET", r);
		goto out;
	}
	for (i = 0; i < n && rc == IDP_OK; i++) {
		const redisReply *e = r->element[i];

		if (e->type == REDIS_REPLY_NIL)
			continue;
		if (e->type != REDIS_REPLY_STRING)
			rc = rs_unexpected(st, "MGET", r);
		else if ((vals[i] = malloc(e->len + 1)) == NULL)
			rc = IDP_ENOMEM;
		else {
			memcpy(vals[i], e->str, e->len);
			vals[i][e->len] = '\0';
			lens[i] = e->len;
		}
	}
	if (rc != IDP_OK)
		for (i = 0; i < n; i++) {
			if (vals[i] != NULL)
				OPENSSL_cleanse(vals[i], lens[i]);
			free(vals[i]);
			vals[i] = NULL;
		}
out:
	reply_free(r);
	return rc;
}

/* The checks of store_memory's batch_check, op by op. */
static int batch_op_check(const struct store_op *op, size_t *consumes)
{
	enum store_op_kind t = op->kind;

	if ((unsigned)t > STORE_OP_MOVE ||
	    ((t == STORE_OP_PUT || t == STORE_OP_EXPIRE || t == STORE_OP_APPEND || t == STORE_OP_MOVE) &&
	     op->ttl_s == 0) ||
	    ((t == STORE_OP_PUT || t == STORE_OP_DEL_LISTED || t == STORE_OP_MOVE) && op->val == NULL &&
	     op->len > 0) ||
	    (t == STORE_OP_APPEND && (op->val == NULL || op->len == 0 || op->max < op->len)) ||
	    (t == STORE_OP_MOVE && op->to == NULL) ||
	    ((t == STORE_OP_CONSUME || t == STORE_OP_TAKE) && ++*consumes > 1))
		return IDP_EINVAL;
	if (((t == STORE_OP_PUT || t == STORE_OP_MOVE) && op->len > STORE_VAL_MAX) ||
	    (t == STORE_OP_APPEND && op->max > STORE_VAL_MAX) ||
	    (t == STORE_OP_DEL_LISTED && op->len > STORE_KEY_MAX))
		return IDP_ETOOBIG;
	return IDP_OK;
}

static int rs_batch(void *p, const struct store_op *ops, size_t n, char **taken, size_t *tlen)
{
	static const char kind[] = {[STORE_OP_PUT] = 'p', [STORE_OP_EXPIRE] = 'e',
				    [STORE_OP_CONSUME] = 'c', [STORE_OP_REQUIRE] = 'r',
				    [STORE_OP_APPEND] = 'a', [STORE_OP_DEL] = 'd',
				    [STORE_OP_DEL_LISTED] = 'l', [STORE_OP_TAKE] = 't',
				    [STORE_OP_MOVE] = 'm'};
	struct rstore *st = p;
	struct rkey k[STORE_BATCH_MAX], to[STORE_BATCH_MAX];
	bool takes = false;
	char ttl[STORE_BATCH_MAX][24], max[STORE_BATCH_MAX][24], nk[8], off[STORE_BATCH_MAX][24],
		tn[STORE_BATCH_MAX][24];
	char listed[STORE_BATCH_MAX][FULLKEY_MAX + 1];
	const char *argv[3 + 8 * STORE_BATCH_MAX];
	size_t lens[3 + 8 * STORE_BATCH_MAX], i, consumes = 0;
	redisReply *r = NULL;
	int rc, argc = 0;

	if (taken != NULL) {
		*taken = NULL;
		if (tlen != NULL)
			*tlen = 0;
	}
	if (n == 0 || n > STORE_BATCH_MAX)
		return IDP_EINVAL;
	arg_add(argv, lens, &argc, NULL, 0); /* EVALSHA and the script's SHA-1: rs_eval */
	arg_add(argv, lens, &argc, NULL, 0);
	arg_add(argv, lens, &argc, nk, (size_t)snprintf(nk, sizeof(nk), "%zu", n));
	for (i = 0; i < n; i++) {
		if ((rc = rkey_make(st, ops[i].key, &k[i])) != IDP_OK ||
		    (rc = batch_op_check(&ops[i], &consumes)) != IDP_OK ||
		    (ops[i].kind == STORE_OP_MOVE && (rc = rkey_make(st, ops[i].to, &to[i])) != IDP_OK))
			return rc;
		takes |= ops[i].kind == STORE_OP_TAKE;
		arg_add(argv, lens, &argc, k[i].s, k[i].len);
	}
	if (takes && taken == NULL)
		return IDP_EINVAL;
	for (i = 0; i < n; i++)
		if (ops[i].taken_len > 0 && (!takes || ops[i].kind == STORE_OP_TAKE ||
					     ops[i].taken_len > STORE_KEY_MAX - strlen(ops[i].key) ||
					     ops[i].taken_off > STORE_VAL_MAX))
			return IDP_EINVAL;
	for (i = 0; i < n; i++) {
		enum store_op_kind t = ops[i].kind;
		bool has_val = t == STORE_OP_PUT || t == STORE_OP_APPEND || t == STORE_OP_MOVE;

		arg_add(argv, lens, &argc, &kind[t], 1);
		if (t == STORE_OP_DEL_LISTED) {
			/* The records it names carry the driver's prefix too. */
			memcpy(listed[i], st->prefix, st->prefix_len);
			if (ops[i].len > 0)
				memcpy(listed[i] + st->prefix_len, ops[i].val, ops[i].len);
			arg_add(argv, lens, &argc, listed[i], st->prefix_len + ops[i].len);
		} else {
			/* Never a NULL pointer: hiredis memcpy()s it. */
			arg_add(argv, lens, &argc, has_val && ops[i].val != NULL ? ops[i].val : "",
				has_val ? ops[i].len : 0);
		}
		arg_add(argv, lens, &argc, ttl[i], fmt_u64(ttl[i], ops[i].ttl_s));
		arg_add(argv, lens, &argc, max[i], fmt_u64(max[i], ops[i].max));
		if (t == STORE_OP_MOVE)
			arg_add(argv, lens, &argc, to[i].s, to[i].len);
		else
			arg_add(argv, lens, &argc, "", 0);
		arg_add(argv, lens, &argc, off[i], fmt_u64(off[i], ops[i].taken_off));
		arg_add(argv, lens, &argc, tn[i], fmt_u64(tn[i], ops[i].taken_len));
	}
	if ((rc = rs_eval(st, batch_script, sizeof(batch_script) - 1, batch_sha, argc, argv, lens, &r)) != IDP_OK)
		goto out;
	if (r->type == REDIS_REPLY_INTEGER && (r->integer == 0 || !takes)) {
		/* Nothing taken: the take's key was absent (or there is none). */
		rc = r->integer == 0 ? IDP_ENOTFOUND : IDP_OK;
	} else if (takes && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		   r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_STRING) {
		if ((*taken = malloc(r->element[1]->len + 1)) == NULL) {
			rc = IDP_ENOMEM;
			goto out;
		}
		memcpy(*taken, r->element[1]->str, r->element[1]->len);
		(*taken)[r->element[1]->len] = '\0';
		if (tlen != NULL)
			*tlen = r->element[1]->len;
		rc = r->element[0]->integer == 0 ? IDP_ENOTFOUND : IDP_OK;
	} else if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "ETOOBIG move") != NULL) {
		rc = IDP_ETOOBIG; /* a moved value past STORE_VAL_MAX, as the memory driver says */
	} else {
		rc = rs_unexpected(st, "EVAL batch", r);
	}
out:
	reply_free(r);
	return rc;
}

/* DBSIZE: every key of the database, ours or not; -1 when Redis is down. */
static long long rs_count(void *p)
{
	struct rstore *st = p;
	const char *argv[] = {"DBSIZE"};
	size_t lens[] = {6};
	redisReply *r = NULL;
	long long n = -1;

	if (rs_command(st, 1, argv, lens, &r) == IDP_OK) {
		if (r->type == REDIS_REPLY_INTEGER)
			n = r->integer;
		else
			rs_unexpected(st, "DBSIZE", r);
	}
	reply_free(r);
	return n;
}

/* Every thread that used the store must be done with it: a thread exiting
 * during close would race with it for its connection. */
static void rs_close(void *p)
{
	struct rstore *st = p;
	struct rconn *cn, *next;

	if (st == NULL)
		return;
	if (st->key_made)
		pthread_key_delete(st->key); /* no destructor runs after this */
	for (cn = st->conns; cn != NULL; cn = next) {
		next = cn->next;
		if (cn->c != NULL)
			redisFree(cn->c);
		if (cn->ac != NULL)
			redisAsyncFree(cn->ac);
		free(cn);
	}
	if (st->lock_made)
		pthread_mutex_destroy(&st->lock);
	free_secret(st->password);
	free(st);
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

static int conf_int(const json_t *v, const char *name, long long min, long long max,
		    long long *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return log_fail(IDP_EINVAL, "store_redis: \"%s\" must be an integer from %lld to %lld",
				name, min, max);
	*out = json_integer_value(v);
	return IDP_OK;
}

static int conf_read(const json_t *conf, struct rstore *st)
{
	long long port = 6379, timeout = TIMEOUT_MS_DEFAULT;
	const char *k, *s;
	json_t *v;
	int rc = IDP_OK;
	bool tcp = false;

	snprintf(st->host, sizeof(st->host), "%s", "127.0.0.1");
	snprintf(st->prefix, sizeof(st->prefix), "%s", "idp:");
	if (conf != NULL) {
		json_object_foreach((json_t *)conf, k, v) {
			s = json_string_value(v);
			if (strcmp(k, "driver") == 0) {
				continue;
			} else if (strcmp(k, "host") == 0) {
				if (s == NULL || *s == '\0' || strlen(s) > HOST_MAX || !printable(s))
					return log_fail(IDP_EINVAL, "store_redis: \"host\" must be a host name or address");
				memcpy(st->host, s, strlen(s) + 1);
				tcp = true;
			} else if (strcmp(k, "port") == 0) {
				rc = conf_int(v, "port", 1, 65535, &port);
				tcp = true;
			} else if (strcmp(k, "socket") == 0) {
				if (s == NULL || s[0] != '/' || strlen(s) > SOCKET_MAX || !printable(s))
					return log_fail(IDP_EINVAL, "store_redis: \"socket\" must be an absolute path of at most %d bytes",
							SOCKET_MAX);
				memcpy(st->socket, s, strlen(s) + 1);
			} else if (strcmp(k, "db") == 0) {
				rc = conf_int(v, "db", 0, INT_MAX, &st->db);
			} else if (strcmp(k, "timeout_ms") == 0) {
				rc = conf_int(v, "timeout_ms", 1, TIMEOUT_MS_MAX, &timeout);
			} else if (strcmp(k, "password") == 0) {
				if (s == NULL || *s == '\0')
					return log_fail(IDP_EINVAL, "store_redis: \"password\" must be a non-empty string");
				free_secret(st->password);
				if ((st->password = strdup(s)) == NULL)
					return IDP_ENOMEM;
			} else if (strcmp(k, "prefix") == 0) {
				if (s == NULL || strlen(s) > PREFIX_MAX || !printable(s))
					return log_fail(IDP_EINVAL, "store_redis: \"prefix\" must be printable ASCII of at most %d bytes",
							PREFIX_MAX);
				memcpy(st->prefix, s, strlen(s) + 1);
			} else {
				/* A misspelt setting must not silently fall back to its default. */
				return log_fail(IDP_EINVAL, "store_redis: unknown setting \"%.64s\" in \"store\"", k);
			}
			if (rc != IDP_OK)
				return rc;
		}
	}
	if (tcp && st->socket[0] != '\0')
		return log_fail(IDP_EINVAL, "store_redis: \"socket\" or \"host\"/\"port\", not both");
	st->port = (int)port;
	if (st->socket[0] != '\0') {
		snprintf(st->host, sizeof(st->host), "unix:%s", st->socket);
		st->port = 0;
	}
	st->prefix_len = strlen(st->prefix);
	st->tv.tv_sec = (time_t)(timeout / 1000);
	st->tv.tv_usec = (suseconds_t)(timeout % 1000 * 1000);
	return IDP_OK;
}

static int rs_open(const json_t *conf, void **out)
{
	struct rstore *st;
	struct rconn *cn;
	struct sigaction sa;
	redisContext *c = NULL;
	redisReply *r = NULL;
	const char *argv[] = {"PING"};
	size_t lens[] = {4};
	int rc;

	*out = NULL;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return IDP_ENOMEM;
	if ((rc = conf_read(conf, st)) != IDP_OK)
		goto out;
	/* hiredis writes with write(): a server gone away would kill the whole
	 * daemon with SIGPIPE. Ignore it unless the program chose otherwise. */
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	if (pthread_mutex_init(&st->lock, NULL) != 0) {
		rc = IDP_ENOMEM;
		goto out;
	}
	st->lock_made = true;
	if (pthread_key_create(&st->key, rs_conn_destroy) != 0) {
		rc = log_fail(IDP_ENOMEM, "store_redis: pthread_key_create failed");
		goto out;
	}
	st->key_made = true;
	if ((rc = rs_connect(st, &c)) != IDP_OK) {
		/* rs_connect logged why; open always says which server it tried. */
		rc = log_fail(IDP_ESTORE, "store_redis: cannot use Redis at %s:%d", st->host, st->port);
		goto out;
	}
	if ((r = redisCommandArgv(c, 1, argv, lens)) == NULL || r->type != REDIS_REPLY_STATUS ||
	    strcmp(r->str, "PONG") != 0) {
		rc = log_fail(IDP_ESTORE, "store_redis: %s:%d does not answer PING: %s", st->host,
			      st->port, r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto out;
	}
	/* The checked connection serves the opening thread from now on. */
	if ((cn = rs_conn(st)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	cn->c = c;
	c = NULL;
	idp_log(LOG_INFO, "store_redis: using %s:%d db %lld, prefix \"%s\"", st->host, st->port,
		st->db, st->prefix);
	*out = st;
	st = NULL;
out:
	reply_free(r);
	if (c != NULL)
		redisFree(c);
	rs_close(st);
	return rc;
}

/* ROLE (Redis 2.8.12 on): ["master", offset, [[ip, port, offset]...]] or
 * ["slave", ip, port, state, offset]; anything else is shown by its name. */
static int rs_role(void *p, char **text)
{
	struct rstore *st = p;
	const char *argv[] = {"ROLE"};
	size_t lens[] = {4};
	redisReply *r = NULL, *e;
	struct buf b;
	int rc;

	*text = NULL;
	if ((rc = rs_command(st, 1, argv, lens, &r)) != IDP_OK)
		return rc;
	buf_init(&b, 4096);
	if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0]->type != REDIS_REPLY_STRING) {
		rc = rs_unexpected(st, "ROLE", r);
	} else if (strcmp(r->element[0]->str, "master") == 0 && r->elements >= 3 &&
		   r->element[2]->type == REDIS_REPLY_ARRAY) {
		buf_printf(&b, "redis primary, offset %lld, %zu replica%s", r->element[1]->integer,
			   r->element[2]->elements, r->element[2]->elements == 1 ? "" : "s");
		for (size_t i = 0; i < r->element[2]->elements && i < 16; i++) {
			e = r->element[2]->element[i];
			if (e->type == REDIS_REPLY_ARRAY && e->elements >= 3 && e->element[0]->type == REDIS_REPLY_STRING &&
			    e->element[1]->type == REDIS_REPLY_STRING && e->element[2]->type == REDIS_REPLY_STRING)
				buf_printf(&b, "%s %.64s:%.8s at %.20s", i == 0 ? ":" : ",", e->element[0]->str,
					   e->element[1]->str, e->element[2]->str);
		}
	} else if (strcmp(r->element[0]->str, "slave") == 0 && r->elements >= 4 &&
		   r->element[1]->type == REDIS_REPLY_STRING && r->element[3]->type == REDIS_REPLY_STRING) {
		buf_printf(&b, "redis replica of %.64s:%lld (%.32s): the daemon would refuse to write here",
			   r->element[1]->str, r->element[2]->integer, r->element[3]->str);
	} else {
		buf_printf(&b, "redis %.32s", r->element[0]->str);
	}
	reply_free(r);
	if (rc == IDP_OK && (*text = buf_steal(&b)) == NULL)
		rc = IDP_ENOMEM;
	buf_release(&b);
	return rc;
}

const struct store_ops store_redis = {
	.name = "redis",
	.open = rs_open,
	.close = rs_close,
	.put = rs_put,
	.add = rs_add,
	.get = rs_get,
	.take = rs_take,
	.del = rs_del,
	.incr = rs_incr,
	.put_counted = rs_put_counted,
	.decr = rs_decr,
	.expire = rs_expire,
	.mget = rs_mget,
	.batch = rs_batch,
	.count = rs_count,
	.role = rs_role,
};
