/* SPDX-License-Identifier: EUPL-1.2 */
/* The store contract, run against both drivers: the same tests on the memory
 * store and on a redis-server of our own (fresh directory, free loopback port,
 * stopped by PID at exit), plus what only one driver has: memory limits and
 * compactness, Redis reconnection after a restart. */
#include "store.h"
#include "fiber.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "check_main.h"
#include "fiber_jobs.h"
#include "util.h"

#define RACERS 8
#define RACE_ROUNDS 200

static struct store g_st;          /* the store under test, opened by the fixture */
static int redis_port;
static pid_t redis_pid = -1;
static int sentinel_port;
static pid_t sentinel_pid = -1;
static char redis_dir[] = "/tmp/test_store.XXXXXX";
static bool redis_dir_made;
static unsigned prefix_seq;        /* a fresh key prefix per Redis test */

/* ---- our own redis-server ---- */

static int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int fd, port = -1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

static bool redis_pings(int port)
{
	struct timeval tv = {0, 100000};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *r = NULL;
	bool ok = false;

	if (c != NULL && !c->err && redisSetTimeout(c, tv) == REDIS_OK &&
	    (r = redisCommand(c, "PING")) != NULL)
		ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
	if (r != NULL)
		freeReplyObject(r);
	if (c != NULL)
		redisFree(c);
	return ok;
}

static void server_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGTERM);
		waitpid(*pid, NULL, 0);
		*pid = -1;
	}
}

static void redis_stop(void)
{
	server_stop(&redis_pid);
}

/* Starts argv (a redis-server, or one in sentinel mode), its output in
 * redis_dir/NAME.log, and waits until it answers PING on port. */
static int server_start(const char *const argv[], const char *name, int port, pid_t *out)
{
	char logf[sizeof(redis_dir) + 32];
	pid_t parent = getpid(), pid;
	int i, fd;

	snprintf(logf, sizeof(logf), "%s/%s.log", redis_dir, name);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* If the tests die without running atexit (an ASan abort), the
		 * server must not outlive them. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		if ((fd = open(logf, O_WRONLY | O_CREAT | O_APPEND, 0600)) >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execvp(argv[0], (char *const *)argv); /* execvp does not write to them */
		_exit(127);
	}
	*out = pid;
	for (i = 0; i < 50; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			*out = -1;
			fprintf(stderr, "%s exited early, see %s\n", name, logf);
			return -1;
		}
		if (redis_pings(port))
			return 0;
		sleep_ms(100);
	}
	fprintf(stderr, "%s does not answer on port %d\n", name, port);
	server_stop(out);
	return -1;
}

static int redis_start(void)
{
	char port[16], sock[sizeof(redis_dir) + 16];
	const char *argv[] = {"redis-server", "--bind", "127.0.0.1", "--port", port, "--unixsocket", sock,
			"--unixsocketperm", "700", "--dir", redis_dir, "--save", "", "--appendonly", "no", NULL};

	snprintf(port, sizeof(port), "%d", redis_port);
	snprintf(sock, sizeof(sock), "%s/redis.sock", redis_dir);
	return server_start(argv, "redis", redis_port, &redis_pid);
}

/* One sentinel watching our redis-server as the primary "idp" (quorum 1):
 * the Sentinel mode's contract runs through it. */
static int sentinel_start(void)
{
	char conf[sizeof(redis_dir) + 16];
	const char *argv[] = {"redis-server", conf, "--sentinel", NULL};
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/sentinel.conf", redis_dir);
	if ((sentinel_port = free_port()) <= 0 || (f = fopen(conf, "w")) == NULL)
		return -1;
	fprintf(f, "bind 127.0.0.1\nport %d\ndir %s\nsentinel monitor idp 127.0.0.1 %d 1\n", sentinel_port,
		redis_dir, redis_port);
	fclose(f);
	return server_start(argv, "sentinel", sentinel_port, &sentinel_pid);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void cleanup(void)
{
	server_stop(&sentinel_pid);
	redis_stop();
	if (redis_dir_made)
		nftw(redis_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- fixtures ---- */

static json_t *redis_conf(const char *prefix)
{
	return json_pack("{s:s, s:s, s:i, s:s, s:i}", "driver", "redis", "host", "127.0.0.1",
			 "port", redis_port, "prefix", prefix, "timeout_ms", 2000);
}

static void setup_memory(void)
{
	json_t *conf = json_pack("{s:s}", "driver", "memory");

	ck_assert_int_eq(store_open(conf, &g_st), IDP_OK);
	json_decref(conf);
}

static void setup_redis(void)
{
	char prefix[48];
	json_t *conf;

	/* Each test in its own key space: no leftovers from the one before. */
	snprintf(prefix, sizeof(prefix), "t%d.%u:", (int)getpid(), ++prefix_seq);
	conf = redis_conf(prefix);
	ck_assert_int_eq(store_open(conf, &g_st), IDP_OK);
	json_decref(conf);
}

/* Sentinel mode: the first sentinel listed does not answer (a port
 * nothing listens on), the second names our redis-server. */
static void setup_sentinel(void)
{
	char prefix[48];
	json_t *conf;

	snprintf(prefix, sizeof(prefix), "s%d.%u:", (int)getpid(), ++prefix_seq);
	conf = json_pack("{s:s, s:[s,s], s:s, s:s, s:i}", "driver", "redis", "sentinels", "127.0.0.1:1",
			 "", "master_name", "idp", "prefix", prefix, "timeout_ms", 2000);
	json_array_set_new(json_object_get(conf, "sentinels"), 1, json_sprintf("127.0.0.1:%d", sentinel_port));
	ck_assert_int_eq(store_open(conf, &g_st), IDP_OK);
	json_decref(conf);
}

/* A master name no sentinel knows: open says so, it does not hang. */
START_TEST(sentinel_unknown_master)
{
	json_t *conf = json_pack("{s:s, s:[o], s:s}", "driver", "redis", "sentinels",
				 json_sprintf("127.0.0.1:%d", sentinel_port), "master_name", "nope");
	struct store s;

	ck_assert_int_eq(store_open(conf, &s), IDP_ESTORE);
	json_decref(conf);
}
END_TEST

static void teardown(void)
{
	store_close(&g_st);
}

/* ---- the contract, for both drivers ---- */

START_TEST(roundtrip_binary)
{
	static const char bin[] = {'a', '\0', 'b', '\xff', '\0', '\n', 'z'};
	char *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(store_put(&g_st, "bin", bin, sizeof(bin), 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "bin", &v, &n), IDP_OK);
	ck_assert_uint_eq(n, sizeof(bin));
	ck_assert_mem_eq(v, bin, sizeof(bin));
	ck_assert_int_eq(v[n], '\0');
	free(v);
	/* put replaces */
	ck_assert_int_eq(store_put(&g_st, "bin", "second", 6, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "bin", &v, &n), IDP_OK);
	ck_assert_uint_eq(n, 6);
	ck_assert_str_eq(v, "second");
	free(v);
	/* an empty value is a value */
	ck_assert_int_eq(store_put(&g_st, "empty", NULL, 0, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "empty", &v, &n), IDP_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(v, "");
	free(v);
}
END_TEST

START_TEST(get_missing)
{
	char *v = (char *)"x";
	size_t n = 7;

	ck_assert_int_eq(store_get(&g_st, "nobody", &v, &n), IDP_ENOTFOUND);
	ck_assert_ptr_null(v);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_take(&g_st, "nobody", &v, &n), IDP_ENOTFOUND);
	ck_assert_ptr_null(v);
}
END_TEST

START_TEST(ttl_expiry)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "short", "1", 1, 1), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "shortened", "2", 1, 100), IDP_OK);
	ck_assert_int_eq(store_expire(&g_st, "shortened", 1), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "lengthened", "3", 1, 1), IDP_OK);
	ck_assert_int_eq(store_expire(&g_st, "lengthened", 100), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "short", &v, &n), IDP_OK);
	free(v);
	sleep_ms(1100);
	ck_assert_int_eq(store_get(&g_st, "short", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_take(&g_st, "short", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_expire(&g_st, "short", 10), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "shortened", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "lengthened", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "3");
	free(v);
	/* an expired key is absent for add */
	ck_assert_int_eq(store_add(&g_st, "short", "4", 1, 60), IDP_OK);
}
END_TEST

START_TEST(add_refuses_existing)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_add(&g_st, "once", "first", 5, 60), IDP_OK);
	ck_assert_int_eq(store_add(&g_st, "once", "second", 6, 60), IDP_EEXIST);
	ck_assert_int_eq(store_get(&g_st, "once", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "first");
	free(v);
	ck_assert_int_eq(store_del(&g_st, "once"), IDP_OK);
	ck_assert_int_eq(store_add(&g_st, "once", "third", 5, 60), IDP_OK);
}
END_TEST

START_TEST(take_then_deleted)
{
	char *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(store_put(&g_st, "code", "c0de", 4, 60), IDP_OK);
	ck_assert_int_eq(store_take(&g_st, "code", &v, &n), IDP_OK);
	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(v, "c0de");
	free(v);
	v = NULL;
	ck_assert_int_eq(store_take(&g_st, "code", &v, &n), IDP_ENOTFOUND);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(store_get(&g_st, "code", &v, &n), IDP_ENOTFOUND);
}
END_TEST

START_TEST(del_missing_and_present)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_del(&g_st, "never"), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "gone", "x", 1, 60), IDP_OK);
	ck_assert_int_eq(store_del(&g_st, "gone"), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "gone", &v, &n), IDP_ENOTFOUND);
}
END_TEST

/* Threads never call ck_assert (no fork mode: its longjmp belongs to the main
 * thread); they count, the main thread checks. */
static pthread_barrier_t race_go, race_done;
static atomic_int race_wins, race_errors;
static int race_round;

static void *racer(void *arg)
{
	char want[32], *v;
	size_t n;
	int i, rc;

	(void)arg;
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race_go);
		v = NULL;
		rc = store_take(&g_st, "race", &v, &n);
		if (rc == IDP_OK) {
			snprintf(want, sizeof(want), "round-%d", race_round);
			atomic_fetch_add(&race_wins, 1);
			if (strcmp(v, want) != 0)
				atomic_fetch_add(&race_errors, 1);
		} else if (rc != IDP_ENOTFOUND) {
			atomic_fetch_add(&race_errors, 1);
		}
		free(v);
		pthread_barrier_wait(&race_done);
	}
	return NULL;
}

/* RACE_ROUNDS rounds: "race" is set, RACERS threads running fn race for it,
 * exactly one must win each round. */
static void race_one_winner(void *(*fn)(void *))
{
	pthread_t t[RACERS];
	char val[32];
	int i, n, bad_rounds = 0;

	pthread_barrier_init(&race_go, NULL, RACERS + 1);
	pthread_barrier_init(&race_done, NULL, RACERS + 1);
	atomic_store(&race_errors, 0);
	for (i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, fn, NULL), 0);
	for (race_round = 0; race_round < RACE_ROUNDS; race_round++) {
		n = snprintf(val, sizeof(val), "round-%d", race_round);
		if (store_put(&g_st, "race", val, (size_t)n, 60) != IDP_OK)
			bad_rounds++;
		atomic_store(&race_wins, 0);
		pthread_barrier_wait(&race_go);
		pthread_barrier_wait(&race_done);
		if (atomic_load(&race_wins) != 1)
			bad_rounds++;
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&race_go);
	pthread_barrier_destroy(&race_done);
	ck_assert_int_eq(bad_rounds, 0);
	ck_assert_int_eq(atomic_load(&race_errors), 0);
}

START_TEST(take_race_one_winner)
{
	race_one_winner(racer);
}
END_TEST

START_TEST(mget_present_and_absent)
{
	const char *keys[] = {"m1", "m-absent", "m2"};
	char *v[3];
	size_t n[3];

	ck_assert_int_eq(store_put(&g_st, "m1", "one", 3, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "m2", "t\0o", 3, 60), IDP_OK);
	ck_assert_int_eq(store_mget(&g_st, keys, 3, v, n), IDP_OK);
	ck_assert_str_eq(v[0], "one");
	ck_assert_uint_eq(n[0], 3);
	ck_assert_ptr_null(v[1]);
	ck_assert_uint_eq(n[2], 3);
	ck_assert_mem_eq(v[2], "t\0o", 3);
	free(v[0]);
	free(v[2]);
	ck_assert_int_eq(store_mget(&g_st, keys, 0, v, n), IDP_EINVAL);
	keys[1] = "bad key\n";
	ck_assert_int_eq(store_mget(&g_st, keys, 3, v, n), IDP_EINVAL);
	ck_assert_ptr_null(v[0]);
}
END_TEST

START_TEST(batch_consume_then_writes)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_CONSUME, .key = "txn"},
		{.kind = STORE_OP_PUT, .key = "sess", .val = "s1", .len = 2, .ttl_s = 60},
		{.kind = STORE_OP_EXPIRE, .key = "keep", .ttl_s = 1},
		{.kind = STORE_OP_EXPIRE, .key = "never-there", .ttl_s = 5},
	};
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "txn", "t", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "keep", "k", 1, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, ops, 4), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "txn", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "sess", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "s1");
	free(v);
	v = NULL;
	ck_assert_int_eq(store_get(&g_st, "never-there", &v, &n), IDP_ENOTFOUND);
	/* The consumed key is gone: a second batch does nothing at all. */
	ck_assert_int_eq(store_del(&g_st, "sess"), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, ops, 2), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "sess", &v, &n), IDP_ENOTFOUND);
	/* The EXPIRE shortened "keep" to one second. */
	sleep_ms(2100);
	ck_assert_int_eq(store_get(&g_st, "keep", &v, &n), IDP_ENOTFOUND);
}
END_TEST

START_TEST(batch_require)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_REQUIRE, .key = "session"},
		{.kind = STORE_OP_CONSUME, .key = "once"},
		{.kind = STORE_OP_PUT, .key = "token", .val = "t", .len = 1, .ttl_s = 60},
	};
	char *v = NULL;
	size_t n;

	/* The required key is absent: nothing consumed, nothing written. */
	ck_assert_int_eq(store_put(&g_st, "once", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, ops, 3), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "once", &v, &n), IDP_OK);
	free(v);
	v = NULL;
	ck_assert_int_eq(store_get(&g_st, "token", &v, &n), IDP_ENOTFOUND);
	/* Present: the batch runs, and leaves the required key alone. */
	ck_assert_int_eq(store_put(&g_st, "session", "s", 1, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, ops, 3), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "token", &v, &n), IDP_OK);
	free(v);
	v = NULL;
	ck_assert_int_eq(store_get(&g_st, "session", &v, &n), IDP_OK);
	free(v);
	v = NULL;
	ck_assert_int_eq(store_get(&g_st, "once", &v, &n), IDP_ENOTFOUND);
}
END_TEST

START_TEST(batch_puts_only)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_PUT, .key = "at", .val = "rec", .len = 3, .ttl_s = 60},
		{.kind = STORE_OP_PUT, .key = "used", .val = "at-hash", .len = 7, .ttl_s = 60},
	};
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_batch(&g_st, ops, 2), IDP_OK);
	ck_assert_int_eq(store_take(&g_st, "at", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "rec");
	free(v);
	ck_assert_int_eq(store_take(&g_st, "used", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "at-hash");
	free(v);
}
END_TEST

START_TEST(batch_refuses_bad_ops)
{
	struct store_op two[] = {
		{.kind = STORE_OP_CONSUME, .key = "a"},
		{.kind = STORE_OP_CONSUME, .key = "b"},
	};
	struct store_op zero_ttl[] = {
		{.kind = STORE_OP_PUT, .key = "z", .val = "v", .len = 1, .ttl_s = 0},
	};
	struct store_op bad_key[] = {
		{.kind = STORE_OP_PUT, .key = "ok", .val = "v", .len = 1, .ttl_s = 60},
		{.kind = STORE_OP_PUT, .key = "", .val = "v", .len = 1, .ttl_s = 60},
	};
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "a", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "b", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, two, 2), IDP_EINVAL);
	ck_assert_int_eq(store_get(&g_st, "a", &v, &n), IDP_OK);
	free(v);
	ck_assert_int_eq(store_batch(&g_st, zero_ttl, 1), IDP_EINVAL);
	ck_assert_int_eq(store_batch(&g_st, bad_key, 2), IDP_EINVAL);
	ck_assert_int_eq(store_get(&g_st, "ok", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_batch(&g_st, bad_key, 0), IDP_EINVAL);
	{
		const struct store_op bad[][1] = {
			{{.kind = STORE_OP_APPEND, .key = "l", .val = "abc", .len = 3, .ttl_s = 60, .max = 2}},
			{{.kind = STORE_OP_APPEND, .key = "l", .val = "", .len = 0, .ttl_s = 60, .max = 2}},
			{{.kind = STORE_OP_APPEND, .key = "l", .val = "abc", .len = 3, .ttl_s = 0, .max = 3}},
			{{.kind = STORE_OP_DEL_LISTED, .key = "l", .val = NULL, .len = 3}},
			{{.kind = STORE_OP_DEL, .key = "bad key\n"}},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			ck_assert_int_eq(store_batch(&g_st, bad[i], 1), IDP_EINVAL);
		ck_assert_int_eq(store_get(&g_st, "l", &v, &n), IDP_ENOTFOUND);
	}
}
END_TEST

static void *batch_racer(void *arg)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_CONSUME, .key = "race"},
		{.kind = STORE_OP_PUT, .key = "race-winner", .val = "w", .len = 1, .ttl_s = 60},
	};
	int i, rc;

	(void)arg;
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race_go);
		rc = store_batch(&g_st, ops, 2);
		if (rc == IDP_OK)
			atomic_fetch_add(&race_wins, 1);
		else if (rc != IDP_ENOTFOUND)
			atomic_fetch_add(&race_errors, 1);
		pthread_barrier_wait(&race_done);
	}
	return NULL;
}

START_TEST(batch_consume_race_one_winner)
{
	race_one_winner(batch_racer);
}
END_TEST

/* One APPEND op: entries of 5 bytes, at most three kept. */
static int append5(const char *key, const char *entry, unsigned ttl)
{
	const struct store_op op = {.kind = STORE_OP_APPEND, .key = key, .val = entry, .len = 5,
				    .ttl_s = ttl, .max = 15};

	return store_batch(&g_st, &op, 1);
}

static void assert_value(const char *key, const char *want)
{
	char *v = NULL;
	size_t n = 0;

	ck_assert_int_eq(store_get(&g_st, key, &v, &n), IDP_OK);
	ck_assert_uint_eq(n, strlen(want));
	ck_assert_str_eq(v, want);
	free(v);
}

START_TEST(batch_append_keeps_newest)
{
	const struct store_op with_put[] = {
		{.kind = STORE_OP_PUT, .key = "other", .val = "o", .len = 1, .ttl_s = 60},
		{.kind = STORE_OP_APPEND, .key = "list", .val = "e444 ", .len = 5, .ttl_s = 60, .max = 15},
	};

	/* An absent key starts empty. */
	ck_assert_int_eq(append5("list", "e111 ", 60), IDP_OK);
	assert_value("list", "e111 ");
	ck_assert_int_eq(append5("list", "e222 ", 60), IDP_OK);
	ck_assert_int_eq(append5("list", "e333 ", 60), IDP_OK);
	assert_value("list", "e111 e222 e333 ");
	/* Past max bytes, the oldest entries drop, whole. */
	ck_assert_int_eq(store_batch(&g_st, with_put, 2), IDP_OK);
	assert_value("list", "e222 e333 e444 ");
	ck_assert_int_eq(append5("list", "e555 ", 60), IDP_OK);
	assert_value("list", "e333 e444 e555 ");
	assert_value("other", "o");
	/* A value put by other means is appended to as well. */
	ck_assert_int_eq(store_put(&g_st, "plain", "abc", 3, 60), IDP_OK);
	ck_assert_int_eq(append5("plain", "e666 ", 60), IDP_OK);
	assert_value("plain", "abce666 ");
}
END_TEST

static void assert_absent(const char *key);

/* An APPEND with to: the entries that drop end the records they name
 * (the refresh families' index, refresh.h), and only those. */
START_TEST(batch_append_ends_dropped)
{
	const char *names[] = {"g:e111", "g:e222", "g:e333", "g:e444", "g:e555"};
	const char *entries[] = {"e111 ", "e222 ", "e333 ", "e444 ", "e555 "};

	for (size_t i = 0; i < 5; i++) {
		const struct store_op ops[] = {
			{.kind = STORE_OP_PUT, .key = names[i], .val = "1", .len = 1, .ttl_s = 60},
			{.kind = STORE_OP_APPEND, .key = "idx", .val = entries[i], .len = 5, .ttl_s = 60,
			 .max = 15, .to = "g:"},
		};

		ck_assert_int_eq(store_batch(&g_st, ops, 2), IDP_OK);
	}
	assert_value("idx", "e333 e444 e555 ");
	assert_absent("g:e111");
	assert_absent("g:e222");
	assert_value("g:e333", "1");
	assert_value("g:e555", "1");
	/* Without to, a drop deletes nothing. */
	ck_assert_int_eq(append5("idx", "e666 ", 60), IDP_OK);
	assert_value("g:e333", "1");
}
END_TEST

START_TEST(batch_append_ttl_never_shortens)
{
	char *v = NULL;
	size_t n;

	/* A later append with a shorter TTL leaves the longer one. */
	ck_assert_int_eq(append5("long", "e111 ", 100), IDP_OK);
	ck_assert_int_eq(append5("long", "e222 ", 1), IDP_OK);
	/* So does one that trims. */
	ck_assert_int_eq(append5("trimmed", "e111 ", 100), IDP_OK);
	ck_assert_int_eq(append5("trimmed", "e222 ", 100), IDP_OK);
	ck_assert_int_eq(append5("trimmed", "e333 ", 100), IDP_OK);
	ck_assert_int_eq(append5("trimmed", "e444 ", 1), IDP_OK);
	/* A longer one extends a record put for a second; a new list gets its TTL. */
	ck_assert_int_eq(store_put(&g_st, "extended", "x", 1, 1), IDP_OK);
	ck_assert_int_eq(append5("extended", "e111 ", 100), IDP_OK);
	ck_assert_int_eq(append5("short", "e111 ", 1), IDP_OK);
	sleep_ms(1100);
	assert_value("long", "e111 e222 ");
	assert_value("trimmed", "e222 e333 e444 ");
	assert_value("extended", "xe111 ");
	ck_assert_int_eq(store_get(&g_st, "short", &v, &n), IDP_ENOTFOUND);
}
END_TEST

/* The code exchange's batch: the code taken, its session required and its
 * list appended to through bytes of the taken value, a record moved. */
static int take_batch(char **taken, size_t *tlen)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_TAKE, .key = "code"},
		{.kind = STORE_OP_REQUIRE, .key = "sess:", .taken_off = 3, .taken_len = 3},
		{.kind = STORE_OP_MOVE, .key = "cat", .to = "at", .val = "P:", .len = 2, .ttl_s = 60},
		{.kind = STORE_OP_PUT, .key = "used", .val = "u", .len = 1, .ttl_s = 60},
		{.kind = STORE_OP_APPEND, .key = "list:", .val = "e1 ", .len = 3, .ttl_s = 60, .max = 30,
		 .taken_off = 3, .taken_len = 3},
	};

	return store_batch_take(&g_st, ops, 5, taken, tlen);
}

static void assert_absent(const char *key)
{
	char *v = NULL;
	size_t n;

	ck_assert_msg(store_get(&g_st, key, &v, &n) == IDP_ENOTFOUND, "%s is present", key);
}

START_TEST(batch_take_move)
{
	char *t = NULL;
	size_t tl = 0;

	/* Everything there: the value comes back, every write is done. */
	ck_assert_int_eq(store_put(&g_st, "code", "s3:abc;rest", 11, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "cat", "tail", 4, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "sess:abc", "s", 1, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_OK);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(tl, 11);
	ck_assert_str_eq(t, "s3:abc;rest");
	free(t);
	assert_absent("code");
	assert_absent("cat");
	assert_value("at", "P:tail");
	assert_value("used", "u");
	assert_value("list:abc", "e1 ");
	assert_value("sess:abc", "s");
	/* Taken once: the second batch finds nothing and does nothing. */
	store_del(&g_st, "used");
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_null(t);
	assert_absent("used");

	/* The session is gone: the code is taken all the same (one use), its
	 * value comes back, nothing else is done. */
	store_del(&g_st, "at");
	ck_assert_int_eq(store_put(&g_st, "code", "s3:xyz", 6, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "cat", "tail", 4, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_nonnull(t);
	ck_assert_str_eq(t, "s3:xyz");
	free(t);
	assert_absent("code");
	assert_value("cat", "tail");
	assert_absent("at");
	assert_absent("used");
	assert_absent("list:xyz");

	/* The moved record is gone: the batch stops at the move. */
	store_del(&g_st, "cat");
	ck_assert_int_eq(store_put(&g_st, "code", "s3:abc", 6, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_nonnull(t);
	free(t);
	assert_absent("at");
	assert_absent("used");

	/* A taken value too short to name the session: stopped. */
	ck_assert_int_eq(store_put(&g_st, "code", "s3:a", 4, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "cat", "tail", 4, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_nonnull(t);
	free(t);
	assert_absent("at");
	assert_value("cat", "tail");

	/* Taken bytes that are no key's (a control byte, a NUL): stopped, in
	 * both drivers alike; nothing is written under a truncated key. */
	ck_assert_int_eq(store_put(&g_st, "sess:a", "s", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "code", "s3:a\001c", 6, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_nonnull(t);
	free(t);
	ck_assert_int_eq(store_put(&g_st, "code", "s3:a\0c", 6, 60), IDP_OK);
	ck_assert_int_eq(take_batch(&t, &tl), IDP_ENOTFOUND);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_eq(tl, 6);
	free(t);
	assert_absent("at");
	assert_absent("list:a");
	assert_value("cat", "tail");

	/* Refused before anything is done. */
	{
		const struct store_op bad[][2] = {
			/* a key from the taken value, without a take */
			{{.kind = STORE_OP_REQUIRE, .key = "sess:", .taken_off = 0, .taken_len = 3},
			 {.kind = STORE_OP_DEL, .key = "cat"}},
			/* a take and a consume */
			{{.kind = STORE_OP_TAKE, .key = "cat"}, {.kind = STORE_OP_CONSUME, .key = "cat"}},
			/* a take whose key comes from itself */
			{{.kind = STORE_OP_TAKE, .key = "cat", .taken_len = 2}, {.kind = STORE_OP_DEL, .key = "x"}},
			/* a move without destination, or without TTL */
			{{.kind = STORE_OP_MOVE, .key = "cat", .ttl_s = 60}, {.kind = STORE_OP_DEL, .key = "x"}},
			{{.kind = STORE_OP_MOVE, .key = "cat", .to = "at"}, {.kind = STORE_OP_DEL, .key = "x"}},
			{{.kind = STORE_OP_MOVE, .key = "cat", .to = "bad key\n", .ttl_s = 60},
			 {.kind = STORE_OP_DEL, .key = "x"}},
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ck_assert_msg(store_batch_take(&g_st, bad[i], 2, &t, &tl) == IDP_EINVAL, "bad batch %zu", i);
			ck_assert_ptr_null(t);
		}
		/* A take whose value nobody would receive. */
		ck_assert_int_eq(store_batch(&g_st, bad[1], 1), IDP_EINVAL);
		assert_value("cat", "tail");
	}
}
END_TEST

static void *take_racer(void *arg)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_TAKE, .key = "race"},
		{.kind = STORE_OP_PUT, .key = "race-winner", .val = "w", .len = 1, .ttl_s = 60},
	};
	char *t;
	size_t tl;
	int i, rc;

	(void)arg;
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race_go);
		rc = store_batch_take(&g_st, ops, 2, &t, &tl);
		if (rc == IDP_OK && t != NULL && strncmp(t, "round-", 6) == 0)
			atomic_fetch_add(&race_wins, 1);
		else if (rc != IDP_ENOTFOUND || t != NULL)
			atomic_fetch_add(&race_errors, 1);
		free(t);
		pthread_barrier_wait(&race_done);
	}
	return NULL;
}

START_TEST(batch_take_race_one_winner)
{
	race_one_winner(take_racer);
}
END_TEST

START_TEST(batch_del_and_del_listed)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_DEL, .key = "sess"},
		{.kind = STORE_OP_DEL_LISTED, .key = "list", .val = "at:", .len = 3},
	};
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "sess", "s", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "at:t1", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "at:t2", "2", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "at:t3", "3", 1, 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "t1", "not listed with this prefix", 27, 60), IDP_OK);
	/* t9 names nothing (expired, say): not an error. */
	ck_assert_int_eq(store_put(&g_st, "list", "t1 t9 t2 ", 9, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, ops, 2), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "sess", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "list", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "at:t1", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_get(&g_st, "at:t2", &v, &n), IDP_ENOTFOUND);
	assert_value("at:t3", "3");
	assert_value("t1", "not listed with this prefix");
	/* Everything absent: still IDP_OK, and nothing else is touched. */
	ck_assert_int_eq(store_batch(&g_st, ops, 2), IDP_OK);
	assert_value("at:t3", "3");
	/* The list an APPEND made, deleted with what it names. */
	ck_assert_int_eq(append5("list", "t3xx ", 60), IDP_OK);
	ck_assert_int_eq(store_put(&g_st, "at:t3xx", "4", 1, 60), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, &ops[1], 1), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "at:t3xx", &v, &n), IDP_ENOTFOUND);
	assert_value("at:t3", "3");
}
END_TEST

/* Round by round: a session, RACERS - 1 threads exchanging a code in it (a
 * batch that requires it, stores a token and lists it), one thread ending it
 * (a batch that deletes it and what it lists). Whatever the order, no token
 * of the round may outlive the round: listed and deleted, or never stored. */
/* An exchange as /token does it: its code taken, the session reached and
 * its list appended to through the code's value (store_op.taken_off). */
static void *exchange_racer(void *arg)
{
	char at[32], code[32], cat[32], entry[8], *t;
	size_t tl;
	int i, id = (int)(intptr_t)arg;

	snprintf(entry, sizeof(entry), "%04d ", id);
	snprintf(at, sizeof(at), "at:%04d", id);
	snprintf(code, sizeof(code), "code:%04d", id);
	snprintf(cat, sizeof(cat), "cat:%04d", id);
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race_go);
		{
			const struct store_op ops[] = {
				{.kind = STORE_OP_TAKE, .key = code},
				{.kind = STORE_OP_REQUIRE, .key = "sess", .taken_off = 0, .taken_len = 0},
				{.kind = STORE_OP_MOVE, .key = cat, .to = at, .val = "", .len = 0, .ttl_s = 60},
				{.kind = STORE_OP_APPEND, .key = "sess-", .val = entry, .len = 5, .ttl_s = 60,
				 .max = 5 * RACERS, .taken_off = 0, .taken_len = 2},
			};
			int rc = store_batch_take(&g_st, ops, 4, &t, &tl);

			if (rc != IDP_OK && rc != IDP_ENOTFOUND)
				atomic_fetch_add(&race_errors, 1);
			free(t);
		}
		pthread_barrier_wait(&race_done);
	}
	return NULL;
}

static void *logout_racer(void *arg)
{
	const struct store_op ops[] = {
		{.kind = STORE_OP_DEL, .key = "sess"},
		{.kind = STORE_OP_DEL_LISTED, .key = "sess-at", .val = "at:", .len = 3},
	};
	int i;

	(void)arg;
	for (i = 0; i < RACE_ROUNDS; i++) {
		pthread_barrier_wait(&race_go);
		if (store_batch(&g_st, ops, 2) != IDP_OK)
			atomic_fetch_add(&race_errors, 1);
		pthread_barrier_wait(&race_done);
	}
	return NULL;
}

START_TEST(batch_logout_race_leaves_no_token)
{
	pthread_t t[RACERS];
	char at[32], *v = NULL;
	size_t n;
	int i, left = 0;

	pthread_barrier_init(&race_go, NULL, RACERS + 1);
	pthread_barrier_init(&race_done, NULL, RACERS + 1);
	atomic_store(&race_errors, 0);
	ck_assert_int_eq(pthread_create(&t[0], NULL, logout_racer, NULL), 0);
	for (i = 1; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, exchange_racer, (void *)(intptr_t)i), 0);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		if (store_put(&g_st, "sess", "s", 1, 60) != IDP_OK)
			left++;
		for (i = 1; i < RACERS; i++) {
			char k[32];

			/* The code's value names the session's list: "at". */
			snprintf(k, sizeof(k), "code:%04d", i);
			store_put(&g_st, k, "at", 2, 60);
			snprintf(k, sizeof(k), "cat:%04d", i);
			store_put(&g_st, k, "t", 1, 60);
		}
		pthread_barrier_wait(&race_go);
		pthread_barrier_wait(&race_done);
		for (i = 1; i < RACERS; i++) {
			snprintf(at, sizeof(at), "at:%04d", i);
			if (store_get(&g_st, at, &v, &n) == IDP_OK) {
				left++;
				free(v);
				store_del(&g_st, at);
			}
		}
		store_del(&g_st, "sess-at");
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&race_go);
	pthread_barrier_destroy(&race_done);
	ck_assert_int_eq(atomic_load(&race_errors), 0);
	ck_assert_int_eq(left, 0);
}
END_TEST

START_TEST(incr_creates_and_counts)
{
	long long v = -1;
	char *s = NULL;
	size_t n;

	ck_assert_int_eq(store_incr(&g_st, "hits", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 1);
	ck_assert_int_eq(store_incr(&g_st, "hits", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(store_incr(&g_st, "hits", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 3);
	ck_assert_int_eq(store_get(&g_st, "hits", &s, &n), IDP_OK);
	ck_assert_str_eq(s, "3");
	free(s);
	/* 9 -> 10 changes the width of the stored digits */
	ck_assert_int_eq(store_put(&g_st, "hits", "9", 1, 60), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "hits", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(store_put(&g_st, "text", "abc", 3, 60), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "text", 60, &v), IDP_EINVAL);
	/* digits, then a NUL and more: not a number either */
	ck_assert_int_eq(store_put(&g_st, "text", "5\0abc", 5, 60), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "text", 60, &v), IDP_EINVAL);
}
END_TEST

static void *incr_worker(void *arg)
{
	long long v;
	int i;

	(void)arg;
	for (i = 0; i < 100; i++)
		if (store_incr(&g_st, "shared", 60, &v) != IDP_OK)
			atomic_fetch_add(&race_errors, 1);
	return NULL;
}

START_TEST(incr_concurrent)
{
	pthread_t t[RACERS];
	long long v = 0;
	int i;

	atomic_store(&race_errors, 0);
	for (i = 0; i < RACERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, incr_worker, NULL), 0);
	for (i = 0; i < RACERS; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(atomic_load(&race_errors), 0);
	ck_assert_int_eq(store_incr(&g_st, "shared", 60, &v), IDP_OK);
	ck_assert_int_eq(v, RACERS * 100 + 1);
}
END_TEST

/* A counted write: within the limit each write lands and the count goes up;
 * past it nothing is written (IDP_ELIMIT), while the count still goes up. */
START_TEST(put_counted_limits)
{
	long long n = -1;
	char key[16], *v = NULL;
	size_t len;

	for (int i = 1; i <= 4; i++) {
		snprintf(key, sizeof(key), "pc%d", i);
		ck_assert_int_eq(store_put_counted(&g_st, "pc-count", 60, 3, key, "v", 1, 60, &n),
				 i <= 3 ? IDP_OK : IDP_ELIMIT);
		ck_assert_int_eq(n, i);
		ck_assert_int_eq(store_get(&g_st, key, &v, &len), i <= 3 ? IDP_OK : IDP_ENOTFOUND);
		if (i <= 3)
			ck_assert_str_eq(v, "v");
		free(v);
		v = NULL;
	}
	ck_assert_int_eq(store_put_counted(&g_st, "pc-count", 0, 3, "pcx", "v", 1, 60, &n), IDP_EINVAL);
	ck_assert_int_eq(store_put_counted(&g_st, "pc-count", 60, 3, "bad key\n", "v", 1, 60, &n), IDP_EINVAL);
}
END_TEST

START_TEST(decr_gives_back)
{
	long long v = 0;
	char *s = NULL;
	size_t n;

	/* absent: stays absent (a give-back opens no window) */
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "giveback", &s, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_incr(&g_st, "giveback", 60, &v), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "giveback", 60, &v), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "giveback", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 2);
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	/* never below zero */
	ck_assert_int_eq(store_get(&g_st, "giveback", &s, &n), IDP_OK);
	ck_assert_str_eq(s, "0");
	free(s);
	/* 10 -> 9 changes the width of the stored digits */
	ck_assert_int_eq(store_put(&g_st, "giveback", "10", 2, 60), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "giveback"), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "giveback", 60, &v), IDP_OK);
	ck_assert_int_eq(v, 10);
	ck_assert_int_eq(store_put(&g_st, "text", "abc", 3, 60), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "text"), IDP_EINVAL);
}
END_TEST

START_TEST(incr_decr_several)
{
	const char *keys[3] = {"multi-a", "multi-b", "multi-a"};
	const unsigned ttls[3] = {60, 60, 60};
	long long v[3] = {0, 0, 0};

	ck_assert_int_eq(store_incr_n(&g_st, keys, ttls, 2, v), IDP_OK);
	ck_assert_int_eq(v[0], 1);
	ck_assert_int_eq(v[1], 1);
	/* one key twice in a call counts twice */
	ck_assert_int_eq(store_incr_n(&g_st, keys, ttls, 3, v), IDP_OK);
	ck_assert_int_eq(v[0], 2);
	ck_assert_int_eq(v[1], 2);
	ck_assert_int_eq(v[2], 3);
	ck_assert_int_eq(store_decr_n(&g_st, keys, 2), IDP_OK);
	ck_assert_int_eq(store_incr_n(&g_st, keys, ttls, 2, v), IDP_OK);
	ck_assert_int_eq(v[0], 3);
	ck_assert_int_eq(v[1], 2);
	ck_assert_int_eq(store_incr_n(&g_st, keys, ttls, 0, v), IDP_EINVAL);
	ck_assert_int_eq(store_decr_n(&g_st, keys, 0), IDP_EINVAL);
}
END_TEST

START_TEST(decr_ttl_kept)
{
	long long v = 0;
	char *s = NULL;
	size_t n;

	ck_assert_int_eq(store_incr(&g_st, "dwindow", 1, &v), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "dwindow", 1, &v), IDP_OK);
	ck_assert_int_eq(store_decr(&g_st, "dwindow"), IDP_OK);
	sleep_ms(1200);
	/* the window ended on time: the give-back did not extend it */
	ck_assert_int_eq(store_get(&g_st, "dwindow", &s, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_decr(&g_st, "dwindow"), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "dwindow", &s, &n), IDP_ENOTFOUND);
}
END_TEST

START_TEST(incr_ttl_not_extended)
{
	long long v = 0;

	ck_assert_int_eq(store_incr(&g_st, "window", 1, &v), IDP_OK);
	ck_assert_int_eq(v, 1);
	sleep_ms(600);
	/* a longer ttl on a later increment changes nothing either */
	ck_assert_int_eq(store_incr(&g_st, "window", 100, &v), IDP_OK);
	ck_assert_int_eq(v, 2);
	sleep_ms(600);
	/* 1.2 s after creation: the 1 s window is over, a new one starts */
	ck_assert_int_eq(store_incr(&g_st, "window", 1, &v), IDP_OK);
	ck_assert_int_eq(v, 1);
}
END_TEST

/* STORE_OP_INCR counts in a batch as incr does alone (or by .by): created at 1 with its
 * TTL, which later increments do not extend; a value that is not a counter
 * stops the batch with an error. */
START_TEST(batch_incr_counts)
{
	const struct store_op bump[] = {
		{.kind = STORE_OP_PUT, .key = "bi-rec", .val = "r", .len = 1, .ttl_s = 60},
		{.kind = STORE_OP_INCR, .key = "bi-count", .ttl_s = 1},
	};
	const struct store_op bad[][1] = {
		{{.kind = STORE_OP_INCR, .key = "bi-count", .ttl_s = 0}},
		{{.kind = STORE_OP_INCR, .key = "bi-count", .val = "x", .len = 1, .ttl_s = 60}},
	};
	long long v = 0;
	char *val = NULL;
	size_t n;

	ck_assert_int_eq(store_batch(&g_st, bump, 2), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, bump + 1, 1), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "bi-count", &val, &n), IDP_OK);
	ck_assert_str_eq(val, "2");
	free(val);
	/* by: an amount, on a new counter and on an existing one */
	ck_assert_int_eq(store_batch(&g_st, (const struct store_op[]){{.kind = STORE_OP_INCR, .key = "bi-by",
									.ttl_s = 60, .by = 40}}, 1), IDP_OK);
	ck_assert_int_eq(store_batch(&g_st, (const struct store_op[]){{.kind = STORE_OP_INCR, .key = "bi-by",
									.ttl_s = 60, .by = 2}}, 1), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "bi-by", &val, &n), IDP_OK);
	ck_assert_str_eq(val, "42");
	free(val);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(store_batch(&g_st, bad[i], 1), IDP_EINVAL);
	ck_assert_int_eq(store_incr(&g_st, "bi-count", 100, &v), IDP_OK);
	ck_assert_int_eq(v, 3);
	sleep_ms(1200);
	ck_assert_int_eq(store_get(&g_st, "bi-count", &val, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_put(&g_st, "bi-text", "abc", 3, 60), IDP_OK);
	ck_assert_int_ne(store_batch(&g_st, (const struct store_op[]){{.kind = STORE_OP_INCR, .key = "bi-text", .ttl_s = 60}}, 1),
			 IDP_OK);
}
END_TEST

START_TEST(expire_missing)
{
	ck_assert_int_eq(store_expire(&g_st, "nobody", 10), IDP_ENOTFOUND);
	ck_assert_int_eq(store_put(&g_st, "somebody", "x", 1, 10), IDP_OK);
	ck_assert_int_eq(store_expire(&g_st, "somebody", 20), IDP_OK);
}
END_TEST

START_TEST(json_helpers)
{
	json_t *in, *out = NULL;

	in = json_pack("{s:s, s:I, s:[s,s], s:{s:b}, s:s}", "sub", "alice", "auth_time",
		       (json_int_t)1700000000, "amr", "pwd", "otp", "flags", "consent", 1,
		       "name", "Élodie \"Ô\" <x>");
	ck_assert_ptr_nonnull(in);
	ck_assert_int_eq(store_put_json(&g_st, "sess", in, 60), IDP_OK);
	ck_assert_int_eq(store_get_json(&g_st, "sess", &out), IDP_OK);
	ck_assert(json_equal(in, out));
	json_decref(out);
	out = NULL;
	ck_assert_int_eq(store_take_json(&g_st, "sess", &out), IDP_OK);
	ck_assert(json_equal(in, out));
	json_decref(out);
	out = NULL;
	ck_assert_int_eq(store_get_json(&g_st, "sess", &out), IDP_ENOTFOUND);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(store_take_json(&g_st, "sess", &out), IDP_ENOTFOUND);
	json_decref(in);
	/* bare values round-trip too */
	in = json_string("just a string");
	ck_assert_int_eq(store_put_json(&g_st, "bare", in, 60), IDP_OK);
	ck_assert_int_eq(store_get_json(&g_st, "bare", &out), IDP_OK);
	ck_assert(json_equal(in, out));
	json_decref(out);
	json_decref(in);
	/* compact: no spaces after separators */
	{
		char *v = NULL;
		size_t n;

		in = json_pack("{s:i}", "a", 1);
		ck_assert_int_eq(store_put_json(&g_st, "compact", in, 60), IDP_OK);
		json_decref(in);
		ck_assert_int_eq(store_get(&g_st, "compact", &v, &n), IDP_OK);
		ck_assert_str_eq(v, "{\"a\":1}");
		free(v);
	}
	ck_assert_int_eq(store_put_json(&g_st, "null", NULL, 60), IDP_EINVAL);
}
END_TEST

START_TEST(json_get_not_json)
{
	json_t *out = NULL;

	ck_assert_int_eq(store_put(&g_st, "raw", "{not json", 9, 60), IDP_OK);
	ck_assert_int_eq(store_get_json(&g_st, "raw", &out), IDP_EINVAL);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(store_put(&g_st, "nul", "\"a\0b\"", 5, 60), IDP_OK);
	ck_assert_int_eq(store_get_json(&g_st, "nul", &out), IDP_EINVAL);
	ck_assert_ptr_null(out);
}
END_TEST

START_TEST(oversize_key_refused)
{
	char key[STORE_KEY_MAX + 2], *v = NULL;
	long long c;
	size_t n;

	memset(key, 'k', STORE_KEY_MAX + 1);
	key[STORE_KEY_MAX + 1] = '\0';
	ck_assert_int_eq(store_put(&g_st, key, "x", 1, 60), IDP_ETOOBIG);
	ck_assert_int_eq(store_add(&g_st, key, "x", 1, 60), IDP_ETOOBIG);
	ck_assert_int_eq(store_get(&g_st, key, &v, &n), IDP_ETOOBIG);
	ck_assert_int_eq(store_take(&g_st, key, &v, &n), IDP_ETOOBIG);
	ck_assert_int_eq(store_del(&g_st, key), IDP_ETOOBIG);
	ck_assert_int_eq(store_incr(&g_st, key, 60, &c), IDP_ETOOBIG);
	ck_assert_int_eq(store_expire(&g_st, key, 60), IDP_ETOOBIG);
	ck_assert_ptr_null(v);
	/* exactly at the limit is fine */
	key[STORE_KEY_MAX] = '\0';
	ck_assert_int_eq(store_put(&g_st, key, "x", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, key, &v, &n), IDP_OK);
	free(v);
}
END_TEST

START_TEST(bad_key_refused)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "", "x", 1, 60), IDP_EINVAL);
	ck_assert_int_eq(store_put(&g_st, "new\nline", "x", 1, 60), IDP_EINVAL);
	ck_assert_int_eq(store_put(&g_st, "\xc3\xa9t\xc3\xa9", "x", 1, 60), IDP_EINVAL);
	ck_assert_int_eq(store_get(&g_st, "tab\there", &v, &n), IDP_EINVAL);
	ck_assert_int_eq(store_put(&g_st, NULL, "x", 1, 60), IDP_EINVAL);
}
END_TEST

START_TEST(oversize_value_refused)
{
	char *big = calloc(1, STORE_VAL_MAX + 1), *v = NULL;
	size_t n = 0;

	ck_assert_ptr_nonnull(big);
	ck_assert_int_eq(store_put(&g_st, "big", big, STORE_VAL_MAX + 1, 60), IDP_ETOOBIG);
	ck_assert_int_eq(store_add(&g_st, "big", big, STORE_VAL_MAX + 1, 60), IDP_ETOOBIG);
	ck_assert_int_eq(store_put(&g_st, "big", big, STORE_VAL_MAX, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "big", &v, &n), IDP_OK);
	ck_assert_uint_eq(n, STORE_VAL_MAX);
	free(v);
	free(big);
}
END_TEST

START_TEST(zero_ttl_refused)
{
	long long c;

	ck_assert_int_eq(store_put(&g_st, "zero", "x", 1, 0), IDP_EINVAL);
	ck_assert_int_eq(store_add(&g_st, "zero", "x", 1, 0), IDP_EINVAL);
	ck_assert_int_eq(store_incr(&g_st, "zero", 0, &c), IDP_EINVAL);
	ck_assert_int_eq(store_put(&g_st, "zero", "x", 1, 60), IDP_OK);
	ck_assert_int_eq(store_expire(&g_st, "zero", 0), IDP_EINVAL);
}
END_TEST

/* ---- memory only ---- */

START_TEST(memory_max_records)
{
	json_t *conf = json_pack("{s:s, s:i}", "driver", "memory", "max_records", 3);
	struct store s;
	long long c;

	ck_assert_int_eq(store_open(conf, &s), IDP_OK);
	json_decref(conf);
	ck_assert_int_eq(store_put(&s, "a", "1", 1, 100), IDP_OK);
	ck_assert_int_eq(store_put(&s, "b", "2", 1, 100), IDP_OK);
	ck_assert_int_eq(store_add(&s, "c", "3", 1, 100), IDP_OK);
	ck_assert_int_eq(store_put(&s, "d", "4", 1, 100), IDP_ETOOBIG);
	ck_assert_int_eq(store_add(&s, "d", "4", 1, 100), IDP_ETOOBIG);
	ck_assert_int_eq(store_incr(&s, "d", 100, &c), IDP_ETOOBIG);
	ck_assert_int_eq(s.ops->count(s.st), 3);
	/* replacing is not growing */
	ck_assert_int_eq(store_put(&s, "a", "5", 1, 100), IDP_OK);
	ck_assert_int_eq(store_del(&s, "a"), IDP_OK);
	ck_assert_int_eq(store_put(&s, "d", "4", 1, 100), IDP_OK);
	/* expired records do not hold places, even before a sweep met them */
	ck_assert_int_eq(store_del(&s, "b"), IDP_OK);
	ck_assert_int_eq(store_del(&s, "c"), IDP_OK);
	ck_assert_int_eq(store_del(&s, "d"), IDP_OK);
	ck_assert_int_eq(store_put(&s, "x", "1", 1, 1), IDP_OK);
	ck_assert_int_eq(store_put(&s, "y", "1", 1, 1), IDP_OK);
	ck_assert_int_eq(store_put(&s, "z", "1", 1, 1), IDP_OK);
	sleep_ms(1100);
	ck_assert_int_eq(store_put(&s, "w", "1", 1, 100), IDP_OK);
	store_close(&s);
}
END_TEST

START_TEST(memory_bad_conf)
{
	json_t *conf;
	struct store s;

	conf = json_pack("{s:s, s:i}", "driver", "memory", "max_records", 0);
	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	ck_assert_ptr_null(s.ops);
	json_decref(conf);
	conf = json_pack("{s:s, s:s}", "driver", "memory", "max_records", "10");
	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	json_decref(conf);
	conf = json_pack("{s:s, s:i}", "driver", "memory", "max_record", 10);
	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	json_decref(conf);
}
END_TEST

/* Expired records nobody reads again are reclaimed by the writes' sweep. */
START_TEST(memory_sweep_reclaims)
{
	char key[32];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "old-%d", i);
		ck_assert_int_eq(store_put(&g_st, key, "x", 1, 1), IDP_OK);
	}
	ck_assert_int_eq(g_st.ops->count(g_st.st), 1000);
	sleep_ms(1100);
	for (i = 0; i < 10000; i++) {
		snprintf(key, sizeof(key), "new-%d", i);
		ck_assert_int_eq(store_put(&g_st, key, "y", 1, 100), IDP_OK);
	}
	ck_assert_int_eq(g_st.ops->count(g_st.st), 10000);
}
END_TEST

/* The sweep passes buckets whose lower bound of expiry times is still in the
 * future: a record whose life was shortened (EXPIRE, or replaced by one with
 * a shorter TTL) must lower its bucket's bound, or it would never be swept.
 * The writes here replace keys only (no bucket is added, no growth, which
 * would visit everything anyway), enough of them to pass every bucket. */
START_TEST(memory_sweep_shortened)
{
	char key[32];
	int i;

	for (i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "long-%d", i);
		ck_assert_int_eq(store_put(&g_st, key, "x", 1, 100), IDP_OK);
	}
	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "long-%d", i);
		ck_assert_int_eq(store_expire(&g_st, key, 1), IDP_OK);
	}
	for (i = 500; i < 1000; i++) {
		snprintf(key, sizeof(key), "long-%d", i);
		ck_assert_int_eq(store_put(&g_st, key, "z", 1, 1), IDP_OK);
	}
	ck_assert_int_eq(g_st.ops->count(g_st.st), 2000);
	sleep_ms(1100);
	for (i = 0; i < 40000; i++) {
		snprintf(key, sizeof(key), "long-%d", 1000 + i % 1000);
		ck_assert_int_eq(store_put(&g_st, key, "y", 1, 100), IDP_OK);
	}
	ck_assert_int_eq(g_st.ops->count(g_st.st), 1000);
}
END_TEST

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* 100,000 sessions of ~300-byte JSON must cost under 100 MB of RSS. Under
 * AddressSanitizer, red zones, shadow memory and the quarantine of the blocks
 * earlier tests freed come on top (about +50 MB here): the budget is doubled
 * so that the test still catches a per-record overhead gone wrong. */
#if defined(__SANITIZE_ADDRESS__)
#define COMPACT_BUDGET_KB (200 * 1024L)
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COMPACT_BUDGET_KB (200 * 1024L)
#endif
#endif
#ifndef COMPACT_BUDGET_KB
#define COMPACT_BUDGET_KB (100 * 1024L)
#endif

START_TEST(memory_compact)
{
	char key[64], val[320];
	long before, after;
	int i, n;
	char *v = NULL;
	size_t len;

	before = rss_kb();
	ck_assert_int_gt(before, 0);
	for (i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "session:%08d-0123456789abcdef0123456789", i);
		n = snprintf(val, sizeof(val),
			     "{\"sub\":\"user%08d\",\"auth_time\":1700000000,\"acr\":\"eidas2\","
			     "\"amr\":[\"pwd\",\"otp\"],\"clients\":[\"https://rp.example.gouv.fr\","
			     "\"https://other.example.gouv.fr\"],\"csrf\":\"c2VjcmV0LWNzcmYtdG9rZW4tMDEyMzQ1\","
			     "\"nonce\":\"bm9uY2UtMDEyMzQ1Njc4OWFiY2RlZg\",\"idle\":1800,\"max\":43200,"
			     "\"ip\":\"192.0.2.1\",\"ua\":\"Mozilla/5.0 (X11; Linux x86_64)\"}",
			     i);
		ck_assert_int_lt(n, (int)sizeof(val));
		ck_assert_int_eq(store_put(&g_st, key, val, (size_t)n, 3600), IDP_OK);
	}
	after = rss_kb();
	ck_assert_int_eq(g_st.ops->count(g_st.st), 100000);
	ck_assert_int_eq(store_get(&g_st, "session:00054321-0123456789abcdef0123456789", &v, &len),
			 IDP_OK);
	ck_assert_ptr_nonnull(strstr(v, "user00054321"));
	free(v);
	fprintf(stderr, "memory_compact: %ld kB for 100000 records\n", after - before);
	ck_assert_int_lt(after - before, COMPACT_BUDGET_KB);
}
END_TEST

/* ---- redis only ---- */

START_TEST(redis_reconnect)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "before", "1", 1, 60), IDP_OK);
	redis_stop();
	/* during the outage: a clean error, no crash, no hang */
	ck_assert_int_eq(store_put(&g_st, "during", "1", 1, 60), IDP_ESTORE);
	ck_assert_int_eq(store_get(&g_st, "during", &v, &n), IDP_ESTORE);
	ck_assert_int_eq(redis_start(), 0);
	/* the same handle works again, from the first command on */
	ck_assert_int_eq(store_put(&g_st, "after", "2", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "after", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "2");
	free(v);
	/* the server restarted empty (--save ''), and that is what we see */
	ck_assert_int_eq(store_get(&g_st, "before", &v, &n), IDP_ENOTFOUND);
}
END_TEST

/* A restart while the connection sits idle: the first command after it must
 * succeed, on the transparent second try. */
START_TEST(redis_restart_while_idle)
{
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_put(&g_st, "k", "1", 1, 60), IDP_OK);
	redis_stop();
	ck_assert_int_eq(redis_start(), 0);
	ck_assert_int_eq(store_put(&g_st, "k", "2", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "k", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "2");
	free(v);
}
END_TEST

START_TEST(redis_prefix_isolates)
{
	json_t *conf = redis_conf("other:");
	struct store s;
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_open(conf, &s), IDP_OK);
	json_decref(conf);
	ck_assert_int_eq(store_put(&g_st, "mine", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&s, "mine", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_ge(s.ops->count(s.st), 1);
	store_close(&s);
}
END_TEST

/* One command on a connection of the test's own, after AUTH if password. */
static bool redis_raw(const char *password, int argc, const char **argv)
{
	const char *auth[] = {"AUTH", password};
	struct timeval tv = {1, 0};
	redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
	redisReply *r = NULL;
	bool ok = false;

	if (c == NULL || c->err)
		goto out;
	if (password != NULL) {
		if ((r = redisCommandArgv(c, 2, auth, NULL)) == NULL || r->type == REDIS_REPLY_ERROR)
			goto out;
		freeReplyObject(r);
	}
	if ((r = redisCommandArgv(c, argc, argv, NULL)) != NULL)
		ok = r->type != REDIS_REPLY_ERROR;
out:
	if (r != NULL)
		freeReplyObject(r);
	if (c != NULL)
		redisFree(c);
	return ok;
}

/* Scripts go by their SHA-1 (EVALSHA); a Redis whose script cache was
 * flushed (or that restarted) gets the script's text again, and the batch
 * or counter runs once. */
START_TEST(redis_script_cache_flushed)
{
	const char *flush[] = {"SCRIPT", "FLUSH"};
	const struct store_op put = {.kind = STORE_OP_PUT, .key = "sf", .val = "v1", .len = 2, .ttl_s = 60};
	const struct store_op put2 = {.kind = STORE_OP_PUT, .key = "sf2", .val = "v2", .len = 2, .ttl_s = 60};
	long long n = 0;

	ck_assert_int_eq(store_batch(&g_st, &put, 1), IDP_OK);
	ck_assert_int_eq(store_incr(&g_st, "sfc", 60, &n), IDP_OK);
	ck_assert_int_eq(n, 1);
	ck_assert(redis_raw(NULL, 2, flush));
	ck_assert_int_eq(store_batch(&g_st, &put2, 1), IDP_OK);
	assert_value("sf", "v1");
	assert_value("sf2", "v2");
	ck_assert_int_eq(store_incr(&g_st, "sfc", 60, &n), IDP_OK);
	ck_assert_int_eq(n, 2); /* once, not twice */
}
END_TEST

START_TEST(redis_auth)
{
	const char *set_pw[] = {"CONFIG", "SET", "requirepass", "s3cret"};
	const char *unset_pw[] = {"CONFIG", "SET", "requirepass", ""};
	json_t *conf = redis_conf("auth:");
	struct store s;
	char *v = NULL;
	size_t n;

	json_object_set_new(conf, "password", json_string("s3cret"));
	/* no password on the server yet: AUTH is refused, and so is open */
	ck_assert_int_eq(store_open(conf, &s), IDP_ESTORE);
	ck_assert(redis_raw(NULL, 4, set_pw));
	ck_assert_int_eq(store_open(conf, &s), IDP_OK);
	ck_assert_int_eq(store_put(&s, "k", "v", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&s, "k", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "v");
	free(v);
	store_close(&s);
	json_object_set_new(conf, "password", json_string("wrong"));
	ck_assert_int_eq(store_open(conf, &s), IDP_ESTORE);
	json_decref(conf);
	/* the server as the other tests expect it */
	ck_assert(redis_raw("s3cret", 4, unset_pw));
}
END_TEST

START_TEST(redis_db_isolates)
{
	json_t *conf = redis_conf("same:");
	struct store s0, s1;
	char *v = NULL;
	size_t n;

	ck_assert_int_eq(store_open(conf, &s0), IDP_OK);
	json_object_set_new(conf, "db", json_integer(1));
	ck_assert_int_eq(store_open(conf, &s1), IDP_OK);
	json_decref(conf);
	ck_assert_int_eq(store_put(&s0, "k", "0", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&s1, "k", &v, &n), IDP_ENOTFOUND);
	ck_assert_int_eq(store_put(&s1, "k", "1", 1, 60), IDP_OK);
	ck_assert_int_eq(store_get(&s0, "k", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "0");
	free(v);
	store_close(&s0);
	store_close(&s1);
}
END_TEST

/* Redis on this machine, over its Unix socket: the same server as over TCP. */
START_TEST(redis_unix_socket)
{
	char sock[sizeof(redis_dir) + 16];
	json_t *conf = redis_conf("sock:");
	struct store tcp, unix_s;
	char *v = NULL;
	size_t n;

	snprintf(sock, sizeof(sock), "%s/redis.sock", redis_dir);
	ck_assert_int_eq(store_open(conf, &tcp), IDP_OK);
	json_decref(conf);
	conf = json_pack("{s:s, s:s, s:s}", "driver", "redis", "socket", sock, "prefix", "sock:");
	ck_assert_int_eq(store_open(conf, &unix_s), IDP_OK);
	json_decref(conf);
	ck_assert_int_eq(store_put(&unix_s, "k", "via-socket", 10, 60), IDP_OK);
	ck_assert_int_eq(store_get(&tcp, "k", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "via-socket");
	free(v);
	v = NULL;
	ck_assert_int_eq(store_batch(&unix_s, (const struct store_op[]){{.kind = STORE_OP_CONSUME, .key = "k"}}, 1),
			 IDP_OK);
	ck_assert_int_eq(store_get(&tcp, "k", &v, &n), IDP_ENOTFOUND);
	store_close(&unix_s);
	store_close(&tcp);
	/* A socket nobody listens on: refused at open, like an unreachable port. */
	conf = json_pack("{s:s, s:s, s:i}", "driver", "redis", "socket", "/nonexistent/redis.sock", "timeout_ms", 300);
	ck_assert_int_eq(store_open(conf, &unix_s), IDP_ESTORE);
	json_decref(conf);
}
END_TEST

START_TEST(redis_unreachable)
{
	json_t *conf;
	struct store s;
	int port = free_port();

	ck_assert_int_gt(port, 0);
	conf = json_pack("{s:s, s:i, s:i}", "driver", "redis", "port", port, "timeout_ms", 500);
	ck_assert_int_eq(store_open(conf, &s), IDP_ESTORE);
	ck_assert_ptr_null(s.ops);
	json_decref(conf);
}
END_TEST

START_TEST(redis_bad_conf)
{
	static const char *const bad[] = {
		"{\"driver\":\"redis\",\"port\":\"6379\"}",
		"{\"driver\":\"redis\",\"port\":70000}",
		"{\"driver\":\"redis\",\"host\":\"\"}",
		"{\"driver\":\"redis\",\"db\":-1}",
		"{\"driver\":\"redis\",\"timeout_ms\":0}",
		"{\"driver\":\"redis\",\"password\":\"\"}",
		"{\"driver\":\"redis\",\"prefix\":\"a\\nb\"}",
		"{\"driver\":\"redis\",\"hots\":\"127.0.0.1\"}",
		"{\"driver\":\"redis\",\"socket\":\"redis.sock\"}",
		"{\"driver\":\"redis\",\"socket\":\"\"}",
		"{\"driver\":\"redis\",\"socket\":\"/run/redis.sock\",\"port\":6379}",
		"{\"driver\":\"redis\",\"socket\":\"/run/redis.sock\",\"host\":\"127.0.0.1\"}",
		"{\"driver\":\"redis\",\"sentinels\":[\"127.0.0.1:26379\"]}",
		"{\"driver\":\"redis\",\"master_name\":\"idp\"}",
		"{\"driver\":\"redis\",\"sentinels\":[],\"master_name\":\"idp\"}",
		"{\"driver\":\"redis\",\"sentinels\":[\"127.0.0.1\"],\"master_name\":\"idp\"}",
		"{\"driver\":\"redis\",\"sentinels\":[\"127.0.0.1:0\"],\"master_name\":\"idp\"}",
		"{\"driver\":\"redis\",\"sentinels\":[\"127.0.0.1:26379\"],\"master_name\":\"a b\"}",
		"{\"driver\":\"redis\",\"sentinels\":[\"127.0.0.1:26379\"],\"master_name\":\"idp\",\"port\":6379}",
		"{\"driver\":\"redis\",\"sentinel_password\":\"x\"}",
		"{\"driver\":\"redis\",\"wait_replicas\":-1}",
		"{\"driver\":\"redis\",\"wait_timeout_ms\":0}",
	};
	struct store s;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *conf = json_loads(bad[i], 0, NULL);

		ck_assert_ptr_nonnull(conf);
		ck_assert_msg(store_open(conf, &s) == IDP_EINVAL, "accepted %s", bad[i]);
		json_decref(conf);
	}
}
END_TEST

/* ---- store_open ---- */

START_TEST(open_default_is_memory)
{
	struct store s;
	json_t *conf = json_object();

	ck_assert_int_eq(store_open(NULL, &s), IDP_OK);
	ck_assert_str_eq(s.ops->name, "memory");
	store_close(&s);
	ck_assert_ptr_null(s.ops);
	store_close(&s); /* twice is harmless */
	ck_assert_int_eq(store_open(conf, &s), IDP_OK);
	ck_assert_str_eq(s.ops->name, "memory");
	store_close(&s);
	json_decref(conf);
}
END_TEST

START_TEST(open_unknown_driver)
{
	struct store s;
	json_t *conf = json_pack("{s:s}", "driver", "memcached");

	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	ck_assert_ptr_null(s.ops);
	json_decref(conf);
	conf = json_pack("{s:i}", "driver", 1);
	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	json_decref(conf);
	conf = json_string("memory");
	ck_assert_int_eq(store_open(conf, &s), IDP_EINVAL);
	json_decref(conf);
}
END_TEST

static void add_contract(TCase *tc)
{
	tcase_add_test(tc, roundtrip_binary);
	tcase_add_test(tc, get_missing);
	tcase_add_test(tc, ttl_expiry);
	tcase_add_test(tc, add_refuses_existing);
	tcase_add_test(tc, take_then_deleted);
	tcase_add_test(tc, del_missing_and_present);
	tcase_add_test(tc, take_race_one_winner);
	tcase_add_test(tc, mget_present_and_absent);
	tcase_add_test(tc, batch_consume_then_writes);
	tcase_add_test(tc, batch_puts_only);
	tcase_add_test(tc, batch_incr_counts);
	tcase_add_test(tc, batch_require);
	tcase_add_test(tc, batch_refuses_bad_ops);
	tcase_add_test(tc, batch_consume_race_one_winner);
	tcase_add_test(tc, batch_append_keeps_newest);
	tcase_add_test(tc, batch_append_ttl_never_shortens);
	tcase_add_test(tc, batch_append_ends_dropped);
	tcase_add_test(tc, batch_take_move);
	tcase_add_test(tc, batch_take_race_one_winner);
	tcase_add_test(tc, batch_del_and_del_listed);
	tcase_add_test(tc, batch_logout_race_leaves_no_token);
	tcase_add_test(tc, incr_creates_and_counts);
	tcase_add_test(tc, incr_concurrent);
	tcase_add_test(tc, incr_ttl_not_extended);
	tcase_add_test(tc, decr_gives_back);
	tcase_add_test(tc, put_counted_limits);
	tcase_add_test(tc, incr_decr_several);
	tcase_add_test(tc, decr_ttl_kept);
	tcase_add_test(tc, expire_missing);
	tcase_add_test(tc, json_helpers);
	tcase_add_test(tc, json_get_not_json);
	tcase_add_test(tc, oversize_key_refused);
	tcase_add_test(tc, bad_key_refused);
	tcase_add_test(tc, oversize_value_refused);
	tcase_add_test(tc, zero_ttl_refused);
}

/* ---- the pipelined path: store calls from fibers on a loop of our own ---- */

static void body_put_get(struct fjob *j)
{
	char key[32], val[32], *v = NULL;
	size_t n = 0;

	snprintf(key, sizeof(key), "f%d", j->i);
	snprintf(val, sizeof(val), "value-%d-%d", j->i, j->step);
	if ((j->rc = store_put(j->st, key, val, strlen(val), 60)) != IDP_OK)
		return;
	if ((j->rc = store_get(j->st, key, &v, &n)) != IDP_OK)
		return;
	if (n != strlen(val) || memcmp(v, val, n) != 0)
		j->rc = IDP_EINVAL;
	free(v);
}

/* Many fibers at once: their commands share one connection, and each gets
 * its own answers, in order. */
START_TEST(redis_fibers_pipelined)
{
	struct fjob jobs[NFIB];
	char key[32], want[32], *v = NULL;
	size_t n;

	for (int i = 0; i < NFIB; i++)
		jobs[i] = (struct fjob){.st = &g_st, .i = i, .step = 1, .body = body_put_get};
	run_fibers(jobs, NFIB);
	for (int i = 0; i < NFIB; i++) {
		ck_assert_int_eq(jobs[i].rc, IDP_OK);
		/* seen the same from a plain thread's own connection */
		snprintf(key, sizeof(key), "f%d", i);
		snprintf(want, sizeof(want), "value-%d-1", i);
		ck_assert_int_eq(store_get(&g_st, key, &v, &n), IDP_OK);
		ck_assert_str_eq(v, want);
		free(v);
	}
}
END_TEST

static void body_take(struct fjob *j)
{
	char *v = NULL;
	size_t n;

	j->rc = store_take(j->st, "once", &v, &n);
	free(v);
}

/* Fibers racing to take one key on one pipelined connection: one wins. */
START_TEST(redis_fibers_take_once)
{
	struct fjob jobs[NFIB];
	int won = 0;

	ck_assert_int_eq(store_put(&g_st, "once", "x", 1, 60), IDP_OK);
	for (int i = 0; i < NFIB; i++)
		jobs[i] = (struct fjob){.st = &g_st, .i = i, .body = body_take};
	run_fibers(jobs, NFIB);
	for (int i = 0; i < NFIB; i++) {
		ck_assert(jobs[i].rc == IDP_OK || jobs[i].rc == IDP_ENOTFOUND);
		won += jobs[i].rc == IDP_OK;
	}
	ck_assert_int_eq(won, 1);
}
END_TEST

/* Eight fibers putting and reading back their own keys on st. */
static void jobs_init(struct fjob *jobs, struct store *st)
{
	for (int i = 0; i < 8; i++)
		jobs[i] = (struct fjob){.st = st, .i = i, .step = 1, .body = body_put_get};
}

/* One round of the eight, under the caller's scheduler: each must end in rc. */
static void round_expect(struct fjob *jobs, int rc)
{
	for (int i = 0; i < 8; i++)
		jobs[i].step++;
	run_fibers(jobs, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(jobs[i].rc, rc);
}

/* A Redis restart between two rounds: the pipelined connection is dead, and
 * each fiber's command goes through on the transparent second try (one
 * scheduler for both rounds, as on a loop thread). */
START_TEST(redis_fibers_restart)
{
	struct fjob jobs[8];

	jobs_init(jobs, &g_st);
	ck_assert_int_eq(fiber_sched_init(), IDP_OK);
	round_expect(jobs, IDP_OK);
	redis_stop();
	ck_assert_int_eq(redis_start(), 0);
	round_expect(jobs, IDP_OK);
	fiber_sched_fini();
}
END_TEST

/* The loop's asynchronous connection sends AUTH and SELECT before the fibers'
 * commands: with a password and db 1, fibers read and write db 1 (not db 0,
 * where the blocking store writes the same key), and a wrong password fails
 * every fiber's command with the store's error, not a hang. */
START_TEST(redis_fibers_auth_db)
{
	const char *set_pw[] = {"CONFIG", "SET", "requirepass", "s3cret"};
	const char *unset_pw[] = {"CONFIG", "SET", "requirepass", ""};
	json_t *conf = redis_conf("fad:");
	struct store s0, s1;
	struct fjob jobs[8];
	char *v = NULL;
	size_t n;

	ck_assert(redis_raw(NULL, 4, set_pw));
	json_object_set_new(conf, "password", json_string("s3cret"));
	ck_assert_int_eq(store_open(conf, &s0), IDP_OK);
	json_object_set_new(conf, "db", json_integer(1));
	ck_assert_int_eq(store_open(conf, &s1), IDP_OK);
	ck_assert_int_eq(store_put(&s0, "f0", "db0", 3, 60), IDP_OK);
	jobs_init(jobs, &s1);
	run_fibers(jobs, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(jobs[i].rc, IDP_OK);
	ck_assert_int_eq(store_get(&s0, "f0", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "db0"); /* the fibers wrote f0 in db 1 */
	free(v);
	v = NULL;
	ck_assert_int_eq(store_get(&s1, "f0", &v, &n), IDP_OK);
	ck_assert_str_eq(v, "value-0-1");
	free(v);
	store_close(&s1);
	/* The password changes under the open store: its fibers' new
	 * connection is refused, and each command fails. */
	json_object_set_new(conf, "password", json_string("s3cret"));
	ck_assert_int_eq(store_open(conf, &s1), IDP_OK);
	ck_assert(redis_raw("s3cret", 4, unset_pw));
	const char *set_other[] = {"CONFIG", "SET", "requirepass", "other"};
	ck_assert(redis_raw(NULL, 4, set_other));
	jobs_init(jobs, &s1);
	run_fibers(jobs, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(jobs[i].rc, IDP_ESTORE);
	ck_assert(redis_raw("other", 4, unset_pw));
	store_close(&s1);
	store_close(&s0);
	json_decref(conf);
}
END_TEST

static char *g_big;             /* STORE_VAL_MAX bytes */

static void body_put_oom(struct fjob *j)
{
	j->rc = store_put(j->st, "oom", g_big, STORE_VAL_MAX, 60);
}

/* One fiber's command cannot be formatted for want of memory while the
 * others' sit in the same connection's buffer: that one fails with
 * IDP_ENOMEM, the others are answered (not failed with it: hiredis's error
 * flag would fail them all), nothing of the failed command reached Redis,
 * and the connection goes on serving.
 * The shortage is ASan's allocation cap: tests/run-all.sh runs this case
 * alone with ASAN_OPTIONS max_allocation_size_mb=1 and
 * allocator_may_return_null=1, so hiredis's buffer for a SET of a value of
 * STORE_VAL_MAX (1 MiB, the largest the store takes) cannot be allocated. */
START_TEST(redis_fibers_oom_fails_one)
{
	const char *opts = getenv("ASAN_OPTIONS");
	struct fjob jobs[8];
	char *v = NULL;
	size_t n;

	ck_assert_msg(opts != NULL && strstr(opts, "max_allocation_size_mb=1") != NULL &&
		      strstr(opts, "allocator_may_return_null=1") != NULL,
		      "run with ASAN_OPTIONS max_allocation_size_mb=1:allocator_may_return_null=1");
	ck_assert_ptr_nonnull(g_big = malloc(STORE_VAL_MAX));
	memset(g_big, 'b', STORE_VAL_MAX);
	jobs_init(jobs, &g_st);
	jobs[3].body = body_put_oom;
	run_fibers(jobs, 8);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(jobs[i].rc, i == 3 ? IDP_ENOMEM : IDP_OK);
	ck_assert_int_eq(store_get(&g_st, "oom", &v, &n), IDP_ENOTFOUND);
	jobs[3].body = body_put_get;
	round_expect(jobs, IDP_OK);
	free(g_big);
	g_big = NULL;
}
END_TEST

/* A server that stops answering: the fibers get an error once the timeout
 * has passed (not a hang, not a retry), and the next round, once it answers
 * again, succeeds on a new connection. */
START_TEST(redis_fibers_hung)
{
	json_t *conf = json_pack("{s:s, s:s, s:i, s:s, s:i}", "driver", "redis", "host", "127.0.0.1",
				 "port", redis_port, "prefix", "hung:", "timeout_ms", 300);
	struct store s;
	struct fjob jobs[8];

	ck_assert_int_eq(store_open(conf, &s), IDP_OK);
	json_decref(conf);
	jobs_init(jobs, &s);
	ck_assert_int_eq(fiber_sched_init(), IDP_OK);
	round_expect(jobs, IDP_OK);
	ck_assert_int_eq(kill(redis_pid, SIGSTOP), 0);
	run_fibers(jobs, 8);
	ck_assert_int_eq(kill(redis_pid, SIGCONT), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(jobs[i].rc, IDP_ESTORE);
	sleep_ms(200);
	round_expect(jobs, IDP_OK);
	fiber_sched_fini();
	store_close(&s);
}
END_TEST

/* Redis stopped: each fiber gets an error, none hangs; after the first
 * refused connect the others fail at once (no connect each). Once it is back
 * (and the second of back-off has passed), the next round succeeds. */
START_TEST(redis_fibers_unreachable)
{
	struct fjob jobs[8];

	jobs_init(jobs, &g_st);
	ck_assert_int_eq(fiber_sched_init(), IDP_OK);
	round_expect(jobs, IDP_OK);
	redis_stop();
	round_expect(jobs, IDP_ESTORE);
	ck_assert_int_eq(redis_start(), 0);
	sleep_ms(1100);
	round_expect(jobs, IDP_OK);
	fiber_sched_fini();
}
END_TEST

/* A test case that runs the whole contract on the store setup opens. */
static TCase *contract_case(const char *name, void (*setup)(void))
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	add_contract(tc);
	return tc;
}

Suite *test_suite(void)
{
	Suite *s;
	TCase *tc;

	/* What the store logs is part of what some tests check. */
	idp_log_set_level(LOG_INFO);
	/* A dead server's socket must give an error, not kill the tests. */
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(redis_dir) == NULL) {
		perror("mkdtemp");
		return NULL;
	}
	redis_dir_made = true;
	atexit(cleanup);
	if ((redis_port = free_port()) <= 0 || redis_start() != 0 || sentinel_start() != 0) {
		fprintf(stderr, "test_store: cannot start redis-server and its sentinel\n");
		return NULL;
	}
	/* check_main runs it without fork: the redis-server and its fixture
	 * live in this one process. */
	s = suite_create("store");

	tc = tcase_create("open");
	tcase_add_test(tc, open_default_is_memory);
	tcase_add_test(tc, open_unknown_driver);
	suite_add_tcase(s, tc);

	tc = contract_case("memory", setup_memory);
	tcase_add_test(tc, memory_max_records);
	tcase_add_test(tc, memory_bad_conf);
	tcase_add_test(tc, memory_sweep_reclaims);
	tcase_add_test(tc, memory_sweep_shortened);
	tcase_add_test(tc, memory_compact);
	suite_add_tcase(s, tc);

	tc = contract_case("redis", setup_redis);
	tcase_add_test(tc, redis_prefix_isolates);
	tcase_add_test(tc, redis_db_isolates);
	tcase_add_test(tc, redis_script_cache_flushed);
	tcase_add_test(tc, redis_auth);
	tcase_add_test(tc, redis_unix_socket);
	tcase_add_test(tc, redis_unreachable);
	tcase_add_test(tc, redis_bad_conf);
	tcase_add_test(tc, redis_reconnect);
	tcase_add_test(tc, redis_restart_while_idle);
	tcase_add_test(tc, redis_fibers_pipelined);
	tcase_add_test(tc, redis_fibers_take_once);
	tcase_add_test(tc, redis_fibers_restart);
	tcase_add_test(tc, redis_fibers_auth_db);
	tcase_add_test(tc, redis_fibers_hung);
	tcase_add_test(tc, redis_fibers_unreachable);
	suite_add_tcase(s, tc);

	tc = contract_case("sentinel", setup_sentinel);
	tcase_add_test(tc, sentinel_unknown_master);
	suite_add_tcase(s, tc);

#ifdef __SANITIZE_ADDRESS__
	/* Run apart, with its own ASAN_OPTIONS (tests/run-all.sh). */
	if (getenv("IDP_TEST_REDIS_OOM") != NULL) {
		tc = tcase_create("redis_oom");
		tcase_set_timeout(tc, 60);
		tcase_add_checked_fixture(tc, setup_redis, teardown);
		tcase_add_test(tc, redis_fibers_oom_fails_one);
		suite_add_tcase(s, tc);
	}
#endif

	return s;
}
