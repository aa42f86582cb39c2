/* SPDX-License-Identifier: EUPL-1.2 */
/* The Redis store driver (hiredis 0.14.1). A hiredis context is not
 * thread-safe, so each calling thread gets its own connection, made on its
 * first command and freed when the thread exits. On a plain thread the
 * connection blocks (redisContext). On an HTTP loop thread (fiber.h) it is
 * hiredis's asynchronous context, driven by the loop's epoll through the small
 * adapter below: each fiber appends its command and parks, the loop writes what
 * the fibers appended once per turn, and hiredis hands each reply to its
 * fiber's callback, in order. A connection that fails is dropped; the command
 * is sent once more on a new one when the failure cannot have been a slow
 * server, so that the daemon rides over a Redis restart.
 *
 * With "sentinels", a thread of the driver asks them for the primary and
 * checks its ROLE; connections follow the primary it publishes, a command
 * that may be sent again waits for the next primary within its deadline
 * (rs_command_kind), and nothing is written to a replica. */
#include "store.h"
#include "fiber.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>
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
#define RETRY_PAUSE_MS 100     /* between two attempts while sentinels name a new primary */
#define SENTINEL_POLL_MS 1000  /* sentinels are asked this often, and at once on a failure */
#define SENTINEL_TIMEOUT_MS 500 /* each sentinel, and the ROLE check, at most (or timeout_ms) */
#define WAIT_OFF_MS 5000       /* after an unacknowledged WAIT, writes go without one this long */

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
 * listed, 'n' incr), the value, the TTL, the longest value an append keeps (an
 * increment's amount), a move's
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
	"if n > max then local all = redis.call('GET', k) "
	"if #ARGV[7*i-2] > 0 then "
	"for w in string.gmatch(string.sub(all, 1, n - max), '[^ ]+') do redis.call('DEL', ARGV[7*i-2] .. w) end end "
	"redis.call('SET', k, string.sub(all, n - max + 1)) end "
	"redis.call('PEXPIRE', k, keep) "
	"elseif t == 'n' then local by = tonumber(ARGV[7*i-3]) "
	"if redis.call('INCRBY', k, by) == by then redis.call('EXPIRE', k, ARGV[7*i-4]) end "
	"elseif t == 'd' then redis.call('DEL', k) "
	"elseif t == 'l' then local list = redis.call('GET', k) "
	"if list then for w in string.gmatch(list, '[^ ]+') do redis.call('DEL', v .. w) end "
	"redis.call('DEL', k) end end end "
	"if taken then return {1, taken} end "
	"return 1";

struct rstore;

/* rwait.err beyond hiredis's codes: the connect failed before anything was
 * written; the connection's ROLE said replica. Either way nothing ran on a
 * primary, so any command may be sent again. */
#define ERR_NOT_SENT 100
#define ERR_NOT_MASTER 101

/* A fiber waiting for its reply; lives on that fiber's stack. */
struct rwait {
	struct fiber *f;
	redisReply *reply;         /* NULL: the connection failed */
	int err, err_errno;        /* then hiredis's error and errno */
	int64_t deadline;          /* CLOCK_MONOTONIC ms */
	bool nowake;               /* a WAIT follows: its reply wakes the fiber */
	long long acks;            /* then the replicas that acknowledged (-1: unknown) */
	struct rwait *gnext;       /* the writes the next WAIT covers (rconn.group) */
	struct rwait *next;
};

/* One WAIT for every write the fibers of a loop appended in one turn: WAIT
 * covers all the writes before it on its connection, so one per turn does
 * what one per write would, and the pipeline holds up once, not per write. */
struct rgroup {
	struct rwait w;            /* its place among the deadlines */
	struct rwait *members;
};

/* A fiber waiting for a new primary (sentinel mode); on its stack. */
struct rsleep {
	struct fiber *f;
	int64_t at;                /* CLOCK_MONOTONIC ms */
	struct rsleep *next;
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
	struct rwait *group;       /* writes appended this turn, waiting for a WAIT */
	bool got_reply;            /* a reply came since the queue was last empty */
	bool timed_out;            /* the failure under way is our timeout */
	uint64_t sched;            /* the scheduler whose epoll watches ac */
	int64_t connect_after;     /* after a failed connect: not before (ms) */
	unsigned gen;              /* the primary's generation it connected to */
	bool not_master;           /* ROLE said replica: every reply on it is refused */
	/* Fibers waiting for a new primary are woken from this io's
	 * before_wait (its fd, an eventfd, only gives it a place in epoll). */
	struct fiber_io sio;
	bool sio_made;
	uint64_t sio_sched;
	struct rsleep *sleepers;
};

#define SOCKET_MAX 107 /* sun_path holds 108 bytes with the NUL */
#define SENTINELS_MAX 8
#define MASTER_NAME_MAX 64
#define LABEL_MAX (HOST_MAX + 32)

struct raddr {
	char host[HOST_MAX + 1];
	int port;
	unsigned gen;              /* bumped each time sentinels name a new primary */
};

struct rstore {
	char label[LABEL_MAX + 1]; /* how log lines name the server */
	char host[HOST_MAX + 1];   /* with a socket: "unix:" and its path */
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
	/* Sentinel mode (n_sentinels > 0): the primary is what the discovery
	 * thread last checked (disc_lock guards primary and the thread's state). */
	struct raddr sentinels[SENTINELS_MAX];
	size_t n_sentinels, disc_next;
	char master_name[MASTER_NAME_MAX + 1];
	char *sentinel_password;
	struct raddr primary;
	atomic_uint gen;           /* primary.gen, read without the lock */
	pthread_mutex_t disc_lock;
	pthread_cond_t disc_cond;
	bool disc_made, disc_started, disc_stop, disc_kick;
	pthread_t disc;
	atomic_bool lost;          /* no sentinel names a reachable primary: logged once */
	/* WAIT after the writes (one per loop turn, or after each write on a
	 * plain thread): replicas to wait for (0: none), and how long. */
	long long wait_replicas, wait_ms;
	atomic_llong wait_off_until; /* replicas did not acknowledge: no WAIT until then */
	atomic_bool wait_short;      /* logged once per episode */
};

static bool printable(const char *s);

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

	idp_log(level, "store_redis: %s: %s: %s", st->label, what, why);
}

/* Redis error replies may quote the command's arguments, and keys hold codes
 * and session ids: log the text only up to the first quote (Redis 6 quotes
 * with backquotes). */
static void rs_log_error_reply(const struct rstore *st, const char *cmd, const redisReply *r)
{
	size_t n = 0;

	while (n < r->len && n < 120 && strchr("'`\"\n", r->str[n]) == NULL)
		n++;
	idp_log(LOG_ERR, "store_redis: %s: %s: %.*s", st->label, cmd, (int)n, r->str);
}

static int rs_unexpected(const struct rstore *st, const char *cmd, const redisReply *r)
{
	if (r->type == REDIS_REPLY_ERROR)
		rs_log_error_reply(st, cmd, r);
	else
		idp_log(LOG_ERR, "store_redis: %s: %s: unexpected reply type %d", st->label, cmd,
			r->type);
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

/* The server to connect to: the configured one, or in sentinel mode the
 * primary last checked (an empty host until one is). */
static void primary_get(struct rstore *st, struct raddr *a)
{
	if (st->n_sentinels == 0) {
		memcpy(a->host, st->host, sizeof(a->host));
		a->port = st->port;
		a->gen = 0;
		return;
	}
	pthread_mutex_lock(&st->disc_lock);
	*a = st->primary;
	pthread_mutex_unlock(&st->disc_lock);
}

/* Asks the discovery thread to ask the sentinels again (a connection lost,
 * a READONLY answer, a ROLE that says replica). */
static void primary_suspect(struct rstore *st)
{
	if (st->n_sentinels == 0)
		return;
	pthread_mutex_lock(&st->disc_lock);
	st->disc_kick = true;
	pthread_cond_signal(&st->disc_cond);
	pthread_mutex_unlock(&st->disc_lock);
}

/* ROLE's first element is "master" (Redis >= 2.8.12). */
static bool role_is_master(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
	       r->element[0]->type == REDIS_REPLY_STRING && r->element[0]->len == 6 &&
	       memcmp(r->element[0]->str, "master", 6) == 0;
}

/* A blocking connection to host:port (socket when host is NULL), with AUTH
 * and SELECT done. */
static int rs_connect_to(struct rstore *st, const char *host, int port, struct timeval tv,
			 redisContext **out)
{
	redisContext *c;
	char db[24];
	int rc = IDP_ESTORE;

	*out = NULL;
	/* A Unix socket when Redis runs on this machine: no TCP stack on the
	 * path of each round trip. */
	c = host == NULL ? redisConnectUnixWithTimeout(st->socket, tv) : redisConnectWithTimeout(host, port, tv);
	if (c == NULL)
		return IDP_ENOMEM;
	if (c->err) {
		rs_down(st, "connect", c->errstr);
		goto out;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK) {
		rs_down(st, "set timeout", c->errstr);
		goto out;
	}
	/* Keep-alive: a peer that vanished without a FIN is noticed eventually. */
	if (host != NULL)
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
	*out = c;
	c = NULL;
	rc = IDP_OK;
out:
	if (c != NULL)
		redisFree(c);
	return rc;
}

/* This thread's blocking connection to the server; in sentinel mode only
 * when it says it is the primary (never a write to a replica). */
static int rs_connect(struct rstore *st, redisContext **out, unsigned *gen)
{
	struct raddr a;
	redisReply *r = NULL;
	int rc;

	primary_get(st, &a);
	*gen = a.gen;
	if (st->n_sentinels > 0 && a.host[0] == '\0') {
		*out = NULL;
		return IDP_ESTORE;
	}
	if ((rc = rs_connect_to(st, st->socket[0] != '\0' ? NULL : a.host, a.port, st->tv, out)) != IDP_OK)
		return rc;
	if (st->n_sentinels > 0) {
		const char *argv[] = {"ROLE"};
		size_t lens[] = {4};

		if (!role_is_master(r = redisCommandArgv(*out, 1, argv, lens))) {
			rs_down(st, "ROLE", "not the primary");
			primary_suspect(st);
			rc = IDP_ESTORE;
			redisFree(*out);
			*out = NULL;
		}
		reply_free(r);
		if (rc != IDP_OK)
			return rc;
	}
	if (atomic_exchange(&st->down, false))
		idp_log(LOG_INFO, "store_redis: %s: connected again", st->label);
	return IDP_OK;
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
	if (cn->sio_made)
		close(cn->sio.fd);
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
	for (struct rwait *m = cn->group; m != NULL; m = m->gnext)
		fiber_wake(m->f); /* their commands had their callbacks: no WAIT will come */
	cn->group = NULL;
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
	if (reply != NULL && cn->not_master) {
		/* Run on a replica: a read may be stale, a write was refused. */
		cn->got_reply = cn->head != NULL;
		w->err = ERR_NOT_MASTER;
	} else if (reply != NULL) {
		cn->got_reply = cn->head != NULL;
		if ((w->reply = reply_move(reply)) == NULL)
			w->err = REDIS_ERR_OOM;
	} else if (!(ac->c.flags & REDIS_CONNECTED)) {
		w->err = ERR_NOT_SENT; /* the connect failed: nothing was written */
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
	if (!w->nowake)
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

/* Sentinel mode: ROLE goes after AUTH and SELECT on a new connection. A
 * server that is not the primary (the sentinels moved on since) gets none
 * of the commands queued behind it: their replies are refused (ra_reply),
 * and they wait for the next primary. */
static void ra_role_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *cn = ac->ev.data;

	(void)privdata;
	if (reply == NULL)
		return;
	if (!role_is_master(reply)) {
		cn->not_master = true;
		rs_down(cn->st, "ROLE", "not the primary");
		primary_suspect(cn->st);
	} else if (atomic_exchange(&cn->st->down, false)) {
		idp_log(LOG_INFO, "store_redis: %s: connected again", cn->st->label);
	}
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

static void wait_args(struct rstore *st, char (*nrep)[24], char (*ms)[24], const char **argv, size_t *lens);
static int64_t rs_timeout_ms(const struct rstore *st);

static void group_wake(struct rwait *m, long long acks)
{
	for (; m != NULL; m = m->gnext) {
		m->acks = acks;
		fiber_wake(m->f);
	}
}

static void ra_group_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct rconn *cn = ac->ev.data;
	struct rgroup *g = privdata;
	const redisReply *r = reply;

	rwait_unlink(cn, &g->w);
	group_wake(g->members, r != NULL && r->type == REDIS_REPLY_INTEGER ? r->integer : -1);
	free(g);
}

/* The turn's WAIT, behind the writes of cn->group. */
static void group_send(struct rstore *st, struct rconn *cn)
{
	struct rgroup *g = malloc(sizeof(*g));
	char nrep[24], ms[24];
	const char *argv[3];
	size_t lens[3];

	if (g == NULL) {
		group_wake(cn->group, -1); /* the writes are done, only unacknowledged */
		cn->group = NULL;
		return;
	}
	memset(&g->w, 0, sizeof(g->w));
	g->members = cn->group;
	cn->group = NULL;
	wait_args(st, &nrep, &ms, argv, lens);
	if (redisAsyncCommandArgv(cn->ac, ra_group_reply, g, 3, argv, lens) != REDIS_OK) {
		group_wake(g->members, -1);
		free(g);
		return;
	}
	g->w.deadline = mono_ms() + rs_timeout_ms(st) + st->wait_ms;
	if (cn->tail != NULL)
		cn->tail->next = &g->w;
	else
		cn->head = &g->w;
	cn->tail = &g->w;
}

/* Before the loop waits: the turn's WAIT, then write what the fibers
 * appended (one write for all of them), and wake up in time for the oldest
 * command's deadline. */
static int ra_before_wait(struct fiber_io *io)
{
	struct rconn *cn = io_conn(io);
	int64_t now;

	if (cn->ac != NULL && cn->group != NULL)
		group_send(cn->st, cn);
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
	struct raddr a;
	char db[24];

	/* The connect does not block the loop; a Redis that does not answer
	 * fails the first command at its deadline. After a failure, commands
	 * fail at once for a second, unless sentinels named a new primary. */
	primary_get(st, &a);
	if (mono_ms() < cn->connect_after && a.gen == cn->gen)
		return IDP_ESTORE;
	if (st->n_sentinels > 0 && a.host[0] == '\0')
		return IDP_ESTORE;
	ac = st->socket[0] != '\0' ? redisAsyncConnectUnix(st->socket) : redisAsyncConnect(a.host, a.port);
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
	cn->gen = a.gen;
	cn->not_master = false;
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
	if (st->n_sentinels > 0) {
		const char *argv[] = {"ROLE"};
		size_t lens[] = {4};

		redisAsyncCommandArgv(ac, ra_role_reply, NULL, 1, argv, lens);
	}
	return IDP_OK;
}

/* What a command does, for the choice to send it again after a failure. */
enum cmd_kind {
	CMD_READ,       /* GET, MGET, DBSIZE, PING */
	CMD_IDEMPOTENT, /* a write whose second run changes nothing more (SET, DEL, EXPIRE) */
	CMD_WRITE,      /* a second run could count twice or lose a take (INCR, GETDEL) */
};

static bool is_readonly(const redisReply *r)
{
	return r->type == REDIS_REPLY_ERROR && r->len >= 8 && strncmp(r->str, "READONLY", 8) == 0;
}

/* Whether a failed attempt may be sent again. What never ran on a primary
 * may always be (ERR_NOT_SENT, ERR_NOT_MASTER, a READONLY answer: a replica
 * refuses writes). A connection lost before any reply since it was idle
 * (worth_retry): a read or an idempotent write only, as the server may
 * have run it. After a timeout, nothing. */
static bool may_resend(enum cmd_kind kind, int err, int err_errno)
{
	if (err == ERR_NOT_SENT || err == ERR_NOT_MASTER)
		return true;
	return kind != CMD_WRITE && worth_retry(err, err_errno);
}

/* The primary this connection reached is no longer the one sentinels name,
 * or it said it is a replica. */
static bool conn_stale(struct rstore *st, const struct rconn *cn)
{
	return st->n_sentinels > 0 && (cn->not_master || cn->gen != atomic_load(&st->gen));
}

/* The WAIT after a write: on unless replicas recently did not answer it. */
static bool wait_on(struct rstore *st, enum cmd_kind kind)
{
	return st->wait_replicas > 0 && kind != CMD_READ && mono_ms() >= atomic_load(&st->wait_off_until);
}

/* WAIT's answer: fewer replicas than asked stops the WAITs for a while (one
 * slow replica must not add wait_ms to every write of the pipeline). */
static void wait_note(struct rstore *st, long long acks)
{
	if (acks >= st->wait_replicas) {
		if (atomic_exchange(&st->wait_short, false))
			idp_log(LOG_INFO, "store_redis: %s: replicas acknowledge writes again", st->label);
		return;
	}
	atomic_store(&st->wait_off_until, mono_ms() + WAIT_OFF_MS);
	if (!atomic_exchange(&st->wait_short, true))
		idp_log(LOG_WARN, "store_redis: %s: a write was not acknowledged by %lld replica(s) within %lld ms; "
			"writes go on unacknowledged (a failover now may lose them)", st->label,
			st->wait_replicas, st->wait_ms);
}

static void wait_args(struct rstore *st, char (*nrep)[24], char (*ms)[24], const char **argv, size_t *lens)
{
	argv[0] = "WAIT";
	lens[0] = 4;
	argv[1] = *nrep;
	lens[1] = fmt_u64(*nrep, (uint64_t)st->wait_replicas);
	argv[2] = *ms;
	lens[2] = fmt_u64(*ms, (uint64_t)st->wait_ms);
}

static struct rconn *sio_conn(struct fiber_io *io)
{
	return (struct rconn *)((char *)io - offsetof(struct rconn, sio));
}

/* Wakes the fibers whose wait for a new primary is over. */
static int sio_before_wait(struct fiber_io *io)
{
	struct rconn *cn = sio_conn(io);
	struct rsleep **pp = &cn->sleepers;
	int64_t now = mono_ms(), next = -1;

	while (*pp != NULL) {
		struct rsleep *s = *pp;

		if (s->at <= now) {
			*pp = s->next;
			fiber_wake(s->f);
		} else {
			if (next < 0 || s->at - now < next)
				next = s->at - now;
			pp = &s->next;
		}
	}
	return (int)next;
}

/* Parks the calling fiber for ms milliseconds without holding the loop. */
static int fiber_sleep(struct rconn *cn, int64_t ms)
{
	struct rsleep s = {.f = fiber_self(), .at = mono_ms() + ms};

	if (!cn->sio_made) {
		if ((cn->sio.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
			return IDP_ESTORE;
		cn->sio.before_wait = sio_before_wait;
		cn->sio_made = true;
		cn->sio_sched = 0;
	}
	if (cn->sio_sched != fiber_sched_serial()) {
		cn->sleepers = NULL; /* the old scheduler has ended, and its fibers */
		if (fiber_io_add(&cn->sio, 0) != IDP_OK)
			return IDP_ESTORE;
		cn->sio_sched = fiber_sched_serial();
	}
	s.next = cn->sleepers;
	cn->sleepers = &s;
	fiber_park();
	return IDP_OK;
}

/* Between two attempts in sentinel mode: ask for a new primary and wait a
 * little, within the command's deadline. false: the deadline has passed. */
static bool pause_for_primary(struct rstore *st, struct rconn *cn, int64_t end)
{
	int64_t left = end - mono_ms();

	if (st->n_sentinels == 0 || left <= 0)
		return false;
	primary_suspect(st);
	left = left < RETRY_PAUSE_MS ? left : RETRY_PAUSE_MS;
	if (fiber_in())
		return fiber_sleep(cn, left) == IDP_OK;
	usleep((useconds_t)left * 1000);
	return true;
}

static int64_t rs_timeout_ms(const struct rstore *st)
{
	int64_t t = (int64_t)st->tv.tv_sec * 1000 + st->tv.tv_usec / 1000;

	return t > 0 ? t : TIMEOUT_MS_DEFAULT;
}

/* One attempt on a loop thread, in a fiber: append (a write joins the
 * turn's WAIT), park, take the reply. */
static int ra_attempt(struct rstore *st, struct rconn *cn, enum cmd_kind kind, int argc, const char **argv,
		      const size_t *lens, redisReply **reply, int *err, int *err_errno)
{
	struct rwait w = {.f = fiber_self(), .acks = -1};
	bool waits;
	int rc;

	*err = ERR_NOT_SENT;
	*err_errno = 0;
	if (cn->ac != NULL && cn->head == NULL && (cn->sched != fiber_sched_serial() || conn_stale(st, cn)))
		redisAsyncFree(cn->ac); /* made under a scheduler that has ended, or to a past primary */
	else if (cn->ac != NULL && conn_stale(st, cn))
		return IDP_ESTORE; /* nothing more on it: it drains, then goes (ERR_NOT_SENT: wait) */
	if (cn->ac == NULL && (rc = ra_connect(st, cn)) != IDP_OK) {
		*err = st->n_sentinels > 0 ? ERR_NOT_SENT : 0; /* one Redis: fail at once */
		return rc;
	}
	/* Out of memory formatting this command: hiredis appended nothing,
	 * and the commands of the other fibers are whole; this one fails
	 * alone. (Past the formatting, a failed append sets the context's
	 * error, and the connection fails at its next write.) */
	if (redisAsyncCommandArgv(cn->ac, ra_reply, &w, argc, argv, lens) != REDIS_OK) {
		*err = 0;
		return cn->ac->c.flags & (REDIS_DISCONNECTING | REDIS_FREEING) ? IDP_ESTORE : IDP_ENOMEM;
	}
	w.deadline = mono_ms() + rs_timeout_ms(st);
	if (cn->tail != NULL)
		cn->tail->next = &w;
	else
		cn->head = &w;
	cn->tail = &w;
	if ((waits = wait_on(st, kind))) {
		w.nowake = true; /* the turn's WAIT (group_send) wakes it */
		w.gnext = cn->group;
		cn->group = &w;
	}
	fiber_park();
	if (waits && w.reply != NULL)
		wait_note(st, w.acks);
	*err = w.err;
	*err_errno = w.err_errno;
	if (w.reply == NULL)
		return w.err == REDIS_ERR_OOM ? IDP_ENOMEM : IDP_ESTORE;
	*reply = w.reply;
	return IDP_OK;
}

/* One attempt on a plain thread: the blocking connection. */
static int rc_attempt(struct rstore *st, struct rconn *cn, enum cmd_kind kind, int argc, const char **argv,
		      const size_t *lens, redisReply **reply, int *err, int *err_errno)
{
	int rc;

	*err = ERR_NOT_SENT;
	*err_errno = 0;
	if (cn->c != NULL && conn_stale(st, cn)) {
		redisFree(cn->c);
		cn->c = NULL;
	}
	if (cn->c == NULL && (rc = rs_connect(st, &cn->c, &cn->gen)) != IDP_OK) {
		*err = st->n_sentinels > 0 ? ERR_NOT_SENT : 0; /* one Redis: fail at once */
		return rc;
	}
	cn->not_master = false;
	errno = 0;
	if ((*reply = redisCommandArgv(cn->c, argc, argv, lens)) != NULL) {
		if (wait_on(st, kind) && !is_readonly(*reply)) {
			char nrep[24], ms[24];
			const char *wargv[3];
			size_t wlens[3];
			redisReply *wr;

			wait_args(st, &nrep, &ms, wargv, wlens);
			wr = redisCommandArgv(cn->c, 3, wargv, wlens);
			wait_note(st, wr != NULL && wr->type == REDIS_REPLY_INTEGER ? wr->integer : -1);
			if (wr != NULL)
				reply_free(wr);
		}
		return IDP_OK;
	}
	*err_errno = errno;
	*err = cn->c->err;
	rs_down(st, argv[0], cn->c->errstr);
	redisFree(cn->c);
	cn->c = NULL;
	return IDP_ESTORE;
}

/* Sends argv on this thread's connection (a fiber's pipelined one on a loop
 * thread). *reply is the caller's (reply_free). A connection that fails is
 * always dropped: the reply stream is out of step. What may be sent again
 * (may_resend) is sent once more on a new connection, as after a Redis
 * restart; in sentinel mode, also after a READONLY answer, and as long as the
 * command's deadline allows, while the sentinels name the next primary.
 * Never after a timeout, when the server may have run it already. */
static int rs_command_kind(struct rstore *st, enum cmd_kind kind, int argc, const char **argv,
			   const size_t *lens, redisReply **reply)
{
	struct rconn *cn;
	int64_t end = mono_ms() + rs_timeout_ms(st);
	int rc, err, err_errno;

	*reply = NULL;
	if ((cn = rs_conn(st)) == NULL)
		return IDP_ENOMEM;
	for (int attempt = 0;; attempt++) {
		rc = fiber_in() ? ra_attempt(st, cn, kind, argc, argv, lens, reply, &err, &err_errno)
				: rc_attempt(st, cn, kind, argc, argv, lens, reply, &err, &err_errno);
		if (rc == IDP_OK && st->n_sentinels > 0 && is_readonly(*reply)) {
			/* A primary demoted since we connected: the write did not run. */
			reply_free(*reply);
			*reply = NULL;
			cn->not_master = true;
			rc = IDP_ESTORE;
			err = ERR_NOT_MASTER;
		}
		if (rc != IDP_ESTORE || !may_resend(kind, err, err_errno))
			return rc;
		if (st->n_sentinels == 0 ? attempt > 0 : !pause_for_primary(st, cn, end))
			return rc;
	}
}

static int rs_command(struct rstore *st, int argc, const char **argv, const size_t *lens,
		      redisReply **reply)
{
	return rs_command_kind(st, CMD_READ, argc, argv, lens, reply);
}

static struct timeval ms_tv(int64_t ms)
{
	struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000 * 1000)};

	return tv;
}

/* Asks one sentinel for the primary of master_name, then asks the server it
 * names for its ROLE: IDP_OK when that server says it is the primary (a
 * sentinel that has not yet seen a failover names a server that is down or
 * has become a replica). Runs on the discovery thread: it may block, each
 * step bounded. */
static int sentinel_ask(struct rstore *st, const struct raddr *s, struct raddr *out)
{
	int64_t ms = rs_timeout_ms(st) < SENTINEL_TIMEOUT_MS ? rs_timeout_ms(st) : SENTINEL_TIMEOUT_MS;
	const char *argv[] = {"SENTINEL", "get-master-addr-by-name", st->master_name};
	size_t lens[] = {8, 23, strlen(st->master_name)};
	redisContext *c = redisConnectWithTimeout(s->host, s->port, ms_tv(ms));
	redisReply *r = NULL;
	const redisReply *h, *p;
	char *end;
	long port;
	int rc = IDP_ESTORE;

	if (c == NULL)
		return IDP_ENOMEM;
	if (c->err || redisSetTimeout(c, ms_tv(ms)) != REDIS_OK) {
		idp_log(LOG_DEBUG, "store_redis: sentinel %s:%d: %s", s->host, s->port, c->errstr);
		goto out;
	}
	if (st->sentinel_password != NULL) {
		const char *a[] = {"AUTH", st->sentinel_password};
		size_t l[] = {4, strlen(st->sentinel_password)};

		if (rs_setup_command(st, c, "sentinel AUTH", 2, a, l) != IDP_OK)
			goto out;
	}
	r = redisCommandArgv(c, 3, argv, lens);
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    (h = r->element[0])->type != REDIS_REPLY_STRING || (p = r->element[1])->type != REDIS_REPLY_STRING ||
	    h->len == 0 || h->len > HOST_MAX || !printable(h->str) || (port = strtol(p->str, &end, 10)) < 1 ||
	    port > 65535 || *end != '\0') {
		idp_log(LOG_DEBUG, "store_redis: sentinel %s:%d: no primary named \"%s\"", s->host, s->port,
			st->master_name);
		goto out;
	}
	memcpy(out->host, h->str, h->len + 1);
	out->port = (int)port;
	reply_free(r);
	r = NULL;
	redisFree(c);
	if ((rc = rs_connect_to(st, out->host, out->port, ms_tv(ms), &c)) != IDP_OK)
		goto out;
	{
		const char *a[] = {"ROLE"};
		size_t l[] = {4};

		rc = role_is_master(r = redisCommandArgv(c, 1, a, l)) ? IDP_OK : IDP_ESTORE;
	}
	if (rc != IDP_OK)
		idp_log(LOG_DEBUG, "store_redis: %s:%d, named by sentinel %s:%d, is not a primary", out->host,
			out->port, s->host, s->port);
out:
	reply_free(r);
	if (c != NULL)
		redisFree(c);
	return rc;
}

/* Asks the sentinels in turn, the last one that answered first, and
 * publishes the primary the first good answer names. */
static int discover(struct rstore *st)
{
	struct raddr a = {.port = 0};

	for (size_t i = 0; i < st->n_sentinels; i++) {
		size_t k = (st->disc_next + i) % st->n_sentinels;

		if (sentinel_ask(st, &st->sentinels[k], &a) != IDP_OK)
			continue;
		st->disc_next = k;
		pthread_mutex_lock(&st->disc_lock);
		if (strcmp(a.host, st->primary.host) != 0 || a.port != st->primary.port) {
			idp_log(st->primary.host[0] == '\0' ? LOG_INFO : LOG_WARN, "store_redis: %s: the primary is %s:%d%s",
				st->label, a.host, a.port, st->primary.host[0] == '\0' ? "" : " now (failover)");
			a.gen = st->primary.gen + 1;
			st->primary = a;
			atomic_store(&st->gen, a.gen);
		}
		pthread_mutex_unlock(&st->disc_lock);
		if (atomic_exchange(&st->lost, false))
			idp_log(LOG_INFO, "store_redis: %s: the sentinels name a primary again", st->label);
		return IDP_OK;
	}
	if (!atomic_exchange(&st->lost, true))
		idp_log(LOG_ERR, "store_redis: %s: none of the %zu sentinels names a primary that says it is one",
			st->label, st->n_sentinels);
	return IDP_ESTORE;
}

/* The discovery thread: asks the sentinels every SENTINEL_POLL_MS, and at
 * once when a command found the primary gone or demoted (primary_suspect),
 * at most once per RETRY_PAUSE_MS. A thread because hiredis 0.14 has no
 * Sentinel support and its blocking calls, bounded, are simplest here: the
 * loops never wait for it, they read the address it publishes. */
static void *disc_main(void *p)
{
	struct rstore *st = p;

	pthread_mutex_lock(&st->disc_lock);
	while (!st->disc_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += SENTINEL_POLL_MS / 1000;
		ts.tv_nsec += (long)(SENTINEL_POLL_MS % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!st->disc_stop && !st->disc_kick &&
		       pthread_cond_timedwait(&st->disc_cond, &st->disc_lock, &ts) == 0)
			;
		if (st->disc_stop)
			break;
		st->disc_kick = false;
		pthread_mutex_unlock(&st->disc_lock);
		discover(st);
		usleep(RETRY_PAUSE_MS * 1000);
		pthread_mutex_lock(&st->disc_lock);
	}
	pthread_mutex_unlock(&st->disc_lock);
	return NULL;
}

/* Sentinel mode at open: the lock, a first answer (or open fails), the thread. */
static int disc_start(struct rstore *st)
{
	pthread_condattr_t ca;

	if (pthread_mutex_init(&st->disc_lock, NULL) != 0)
		return IDP_ENOMEM;
	if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&st->disc_cond, &ca) != 0) {
		pthread_mutex_destroy(&st->disc_lock);
		return IDP_ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	st->disc_made = true;
	if (discover(st) != IDP_OK)
		return log_fail(IDP_ESTORE, "store_redis: no sentinel names a primary for \"%s\"", st->master_name);
	if (pthread_create(&st->disc, NULL, disc_main, st) != 0)
		return log_fail(IDP_ENOMEM, "store_redis: cannot start the sentinel thread");
	st->disc_started = true;
	return IDP_OK;
}

static void disc_stop(struct rstore *st)
{
	if (!st->disc_made)
		return;
	if (st->disc_started) {
		pthread_mutex_lock(&st->disc_lock);
		st->disc_stop = true;
		pthread_cond_signal(&st->disc_cond);
		pthread_mutex_unlock(&st->disc_lock);
		pthread_join(st->disc, NULL);
	}
	pthread_cond_destroy(&st->disc_cond);
	pthread_mutex_destroy(&st->disc_lock);
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
static int rs_eval(struct rstore *st, enum cmd_kind kind, const char *script, size_t slen, const char *sha,
		   int argc, const char **argv, size_t *lens, redisReply **reply)
{
	int rc;

	pthread_once(&sha_once, shas_init);
	argv[0] = "EVALSHA";
	lens[0] = 7;
	argv[1] = sha;
	lens[1] = 40;
	rc = rs_command_kind(st, kind, argc, argv, lens, reply);
	if (rc != IDP_OK || (*reply)->type != REDIS_REPLY_ERROR || (*reply)->len < 8 ||
	    strncmp((*reply)->str, "NOSCRIPT", 8) != 0)
		return rc;
	reply_free(*reply);
	*reply = NULL;
	argv[0] = "EVAL";
	lens[0] = 4;
	argv[1] = script;
	lens[1] = slen;
	return rs_command_kind(st, kind, argc, argv, lens, reply);
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
	/* SET NX sent twice would find its own first write: not idempotent. */
	if ((rc = rs_command_kind(st, nx ? CMD_WRITE : CMD_IDEMPOTENT, argc, argv, lens, &r)) != IDP_OK)
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
		rc = rs_command_kind(st, CMD_WRITE, 4, argv, lens, &r);
	} else {
		const char *argv[] = {cmd, k.s};
		size_t lens[] = {strlen(cmd), k.len};

		rc = rs_command_kind(st, take ? CMD_WRITE : CMD_READ, 2, argv, lens, &r);
		if (rc == IDP_OK && take && is_unknown_command(r)) {
			idp_log(LOG_WARN, "store_redis: %s: no GETDEL (Redis < 6.2), using a script",
				st->label);
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

		if ((rc = rs_command_kind(st, CMD_IDEMPOTENT, 2, argv, lens, &r)) != IDP_OK)
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
	    (rc = rs_eval(st, CMD_WRITE, incr_script, sizeof(incr_script) - 1, incr_sha, a.argc, a.argv, a.lens, &r)) != IDP_OK)
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
	if ((rc = rs_eval(st, CMD_WRITE, put_counted_script, sizeof(put_counted_script) - 1, put_counted_sha, argc, argv,
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
	    (rc = rs_eval(st, CMD_WRITE, decr_script, sizeof(decr_script) - 1, decr_sha, a.argc, a.argv, a.lens, &r)) != IDP_OK)
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
		if ((rc = rs_command_kind(st, CMD_IDEMPOTENT, 3, argv, lens, &r)) != IDP_OK)
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

	if ((unsigned)t > STORE_OP_INCR ||
	    ((t == STORE_OP_PUT || t == STORE_OP_EXPIRE || t == STORE_OP_APPEND || t == STORE_OP_MOVE ||
	      t == STORE_OP_INCR) &&
	     op->ttl_s == 0) ||
	    ((t == STORE_OP_PUT || t == STORE_OP_DEL_LISTED || t == STORE_OP_MOVE) && op->val == NULL &&
	     op->len > 0) ||
	    (t == STORE_OP_APPEND && (op->val == NULL || op->len == 0 || op->max < op->len)) ||
	    (t == STORE_OP_MOVE && op->to == NULL) || (t == STORE_OP_INCR && op->len > 0) ||
	    ((t == STORE_OP_CONSUME || t == STORE_OP_TAKE) && ++*consumes > 1))
		return IDP_EINVAL;
	if (((t == STORE_OP_PUT || t == STORE_OP_MOVE) && op->len > STORE_VAL_MAX) ||
	    (t == STORE_OP_APPEND && (op->max > STORE_VAL_MAX || (op->to != NULL && strlen(op->to) > STORE_KEY_MAX))) ||
	    (t == STORE_OP_DEL_LISTED && op->len > STORE_KEY_MAX))
		return IDP_ETOOBIG;
	return IDP_OK;
}

/* A batch of puts, expires and deletes (required keys or not) ends in the
 * same state when run twice; a take, a consume, an append, a move or an
 * increment does not. */
static enum cmd_kind batch_kind(const struct store_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (ops[i].kind == STORE_OP_TAKE || ops[i].kind == STORE_OP_CONSUME ||
		    ops[i].kind == STORE_OP_APPEND || ops[i].kind == STORE_OP_MOVE || ops[i].kind == STORE_OP_INCR)
			return CMD_WRITE;
	return CMD_IDEMPOTENT;
}

static int rs_batch(void *p, const struct store_op *ops, size_t n, char **taken, size_t *tlen)
{
	static const char kind[] = {[STORE_OP_PUT] = 'p', [STORE_OP_EXPIRE] = 'e',
				    [STORE_OP_CONSUME] = 'c', [STORE_OP_REQUIRE] = 'r',
				    [STORE_OP_APPEND] = 'a', [STORE_OP_DEL] = 'd',
				    [STORE_OP_DEL_LISTED] = 'l', [STORE_OP_TAKE] = 't',
				    [STORE_OP_MOVE] = 'm', [STORE_OP_INCR] = 'n'};
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
		arg_add(argv, lens, &argc, max[i],
			fmt_u64(max[i], t != STORE_OP_INCR ? ops[i].max : ops[i].by > 0 ? ops[i].by : 1));
		if (t == STORE_OP_MOVE) {
			arg_add(argv, lens, &argc, to[i].s, to[i].len);
		} else if (t == STORE_OP_APPEND && ops[i].to != NULL) {
			/* The prefix of the records its dropped entries name, the driver's first. */
			size_t tl = strlen(ops[i].to);

			memcpy(listed[i], st->prefix, st->prefix_len);
			memcpy(listed[i] + st->prefix_len, ops[i].to, tl);
			arg_add(argv, lens, &argc, listed[i], st->prefix_len + tl);
		} else {
			arg_add(argv, lens, &argc, "", 0);
		}
		arg_add(argv, lens, &argc, off[i], fmt_u64(off[i], ops[i].taken_off));
		arg_add(argv, lens, &argc, tn[i], fmt_u64(tn[i], ops[i].taken_len));
	}
	if ((rc = rs_eval(st, batch_kind(ops, n), batch_script, sizeof(batch_script) - 1, batch_sha, argc, argv,
			  lens, &r)) != IDP_OK)
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

static int rs_ping(void *p)
{
	struct rstore *st = p;
	const char *argv[] = {"PING"};
	size_t lens[] = {4};
	redisReply *r = NULL;
	int rc;

	if ((rc = rs_command(st, 1, argv, lens, &r)) == IDP_OK &&
	    (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "PONG") != 0))
		rc = rs_unexpected(st, "PING", r);
	reply_free(r);
	return rc == IDP_OK ? IDP_OK : IDP_ESTORE;
}

/* Every thread that used the store must be done with it: a thread exiting
 * during close would race with it for its connection. */
static void rs_close(void *p)
{
	struct rstore *st = p;
	struct rconn *cn, *next;

	if (st == NULL)
		return;
	disc_stop(st);
	if (st->key_made)
		pthread_key_delete(st->key); /* no destructor runs after this */
	for (cn = st->conns; cn != NULL; cn = next) {
		next = cn->next;
		if (cn->c != NULL)
			redisFree(cn->c);
		if (cn->ac != NULL)
			redisAsyncFree(cn->ac);
		if (cn->sio_made)
			close(cn->sio.fd);
		free(cn);
	}
	if (st->lock_made)
		pthread_mutex_destroy(&st->lock);
	free_secret(st->password);
	free_secret(st->sentinel_password);
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

/* "sentinels": ["host:port", ...] ("[v6]:port" too). */
static int conf_sentinels(const json_t *v, struct rstore *st)
{
	size_t i;
	const json_t *e;

	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > SENTINELS_MAX)
		return log_fail(IDP_EINVAL, "store_redis: \"sentinels\" must be a list of 1 to %d \"host:port\"",
				SENTINELS_MAX);
	json_array_foreach(v, i, e) {
		const char *s = json_string_value(e), *colon = s != NULL ? strrchr(s, ':') : NULL, *h = s;
		struct raddr *a = &st->sentinels[i];
		size_t hlen;
		char *end;
		long port;

		if (colon == NULL || !printable(s))
			goto bad;
		hlen = (size_t)(colon - s);
		if (s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') {
			h++;
			hlen -= 2;
		}
		port = strtol(colon + 1, &end, 10);
		if (hlen == 0 || hlen > HOST_MAX || colon[1] == '\0' || *end != '\0' || port < 1 || port > 65535)
			goto bad;
		memcpy(a->host, h, hlen);
		a->host[hlen] = '\0';
		a->port = (int)port;
		continue;
bad:
		return log_fail(IDP_EINVAL, "store_redis: \"sentinels\"[%zu] must be \"host:port\" (port 1 to 65535)", i);
	}
	st->n_sentinels = json_array_size(v);
	return IDP_OK;
}

static int conf_read(const json_t *conf, struct rstore *st)
{
	long long port = 6379, timeout = TIMEOUT_MS_DEFAULT;

	st->wait_ms = 100;
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
			} else if (strcmp(k, "sentinels") == 0) {
				rc = conf_sentinels(v, st);
			} else if (strcmp(k, "master_name") == 0) {
				if (s == NULL || *s == '\0' || strlen(s) > MASTER_NAME_MAX || !printable(s) || strchr(s, ' ') != NULL)
					return log_fail(IDP_EINVAL, "store_redis: \"master_name\" must be a name of 1 to %d printable characters",
							MASTER_NAME_MAX);
				memcpy(st->master_name, s, strlen(s) + 1);
			} else if (strcmp(k, "sentinel_password") == 0) {
				if (s == NULL || *s == '\0')
					return log_fail(IDP_EINVAL, "store_redis: \"sentinel_password\" must be a non-empty string");
				free_secret(st->sentinel_password);
				if ((st->sentinel_password = strdup(s)) == NULL)
					return IDP_ENOMEM;
			} else if (strcmp(k, "wait_replicas") == 0) {
				rc = conf_int(v, "wait_replicas", 0, 16, &st->wait_replicas);
			} else if (strcmp(k, "wait_timeout_ms") == 0) {
				rc = conf_int(v, "wait_timeout_ms", 1, 10000, &st->wait_ms);
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
	if (st->n_sentinels > 0 && (tcp || st->socket[0] != '\0'))
		return log_fail(IDP_EINVAL, "store_redis: with \"sentinels\", the sentinels name the server: no \"host\", \"port\" or \"socket\"");
	if ((st->n_sentinels > 0) != (st->master_name[0] != '\0'))
		return log_fail(IDP_EINVAL, "store_redis: \"sentinels\" and \"master_name\" go together");
	if (st->sentinel_password != NULL && st->n_sentinels == 0)
		return log_fail(IDP_EINVAL, "store_redis: \"sentinel_password\" without \"sentinels\"");
	st->port = (int)port;
	if (st->socket[0] != '\0') {
		snprintf(st->host, sizeof(st->host), "unix:%s", st->socket);
		st->port = 0;
	}
	if (st->n_sentinels > 0)
		snprintf(st->label, sizeof(st->label), "primary \"%s\"", st->master_name);
	else
		snprintf(st->label, sizeof(st->label), st->port > 0 ? "%s:%d" : "%s", st->host, st->port);
	st->prefix_len = strlen(st->prefix);
	st->tv.tv_sec = (time_t)(timeout / 1000);
	st->tv.tv_usec = (suseconds_t)(timeout % 1000 * 1000);
	return IDP_OK;
}

int store_redis_check(const json_t *conf)
{
	struct rstore *st = calloc(1, sizeof(*st));
	int rc;

	if (st == NULL)
		return IDP_ENOMEM;
	rc = conf_read(conf, st);
	free_secret(st->password);
	free_secret(st->sentinel_password);
	free(st);
	return rc;
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
	unsigned gen;
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
	if (st->n_sentinels > 0 && (rc = disc_start(st)) != IDP_OK)
		goto out;
	if ((rc = rs_connect(st, &c, &gen)) != IDP_OK) {
		/* rs_connect logged why; open always says which server it tried. */
		rc = log_fail(IDP_ESTORE, "store_redis: cannot use Redis at %s", st->label);
		goto out;
	}
	if ((r = redisCommandArgv(c, 1, argv, lens)) == NULL || r->type != REDIS_REPLY_STATUS ||
	    strcmp(r->str, "PONG") != 0) {
		rc = log_fail(IDP_ESTORE, "store_redis: %s does not answer PING: %s", st->label,
			      r == NULL ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
		goto out;
	}
	/* The checked connection serves the opening thread from now on. */
	if ((cn = rs_conn(st)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	cn->c = c;
	cn->gen = gen;
	c = NULL;
	idp_log(LOG_INFO, "store_redis: using %s db %lld, prefix \"%s\"", st->label, st->db, st->prefix);
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
	.fetch = rs_fetch,
	.del = rs_del,
	.incr = rs_incr,
	.put_counted = rs_put_counted,
	.decr = rs_decr,
	.expire = rs_expire,
	.mget = rs_mget,
	.batch = rs_batch,
	.count = rs_count,
	.ping = rs_ping,
	.role = rs_role,
};
