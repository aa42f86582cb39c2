/* SPDX-License-Identifier: EUPL-1.2 */
/* idp: the OpenID Connect provider daemon. */
#include "idp.h"
#include "audit.h"
#include "backchannel.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* A core dump would hold the private keys, the CSRF key, sessions and
 * tokens, and lands where the system says (a crash collector, a folder
 * others read). Off from the start, before any key is read: the soft
 * RLIMIT_CORE goes to 0 and the process becomes non-dumpable, which also
 * closes /proc/PID/mem, environ and ptrace to other processes of the same
 * user. debug.allow_core_dumps gives back the limit the daemon was started
 * with (the hard limit is never lowered, so that stays possible). */
static struct rlimit core_limit_at_start;
static bool core_limit_known;

static void core_dumps_allow(bool allow)
{
	struct rlimit lim = core_limit_at_start;

	if (!core_limit_known)
		return;
	if (!allow)
		lim.rlim_cur = 0;
	if (setrlimit(RLIMIT_CORE, &lim) != 0 || prctl(PR_SET_DUMPABLE, allow ? 1 : 0, 0, 0, 0) != 0)
		idp_log(LOG_ERR, "core dumps could not be turned %s: %s", allow ? "on" : "off", strerror(errno));
	else if (allow)
		idp_log(LOG_WARN, "debug.allow_core_dumps: a crash may write a core dump holding the private "
				  "keys and sessions (core size limit %s)",
			lim.rlim_cur == RLIM_INFINITY ? "unlimited" : lim.rlim_cur == 0 ? "0: none until raised" : "as started");
}

static void core_dumps_init(void)
{
	core_limit_known = getrlimit(RLIMIT_CORE, &core_limit_at_start) == 0;
	if (!core_limit_known)
		idp_log(LOG_ERR, "getrlimit(RLIMIT_CORE): %s; core dumps left as they are", strerror(errno));
	core_dumps_allow(false);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: idp [--config FILE] [--port N] [--port-file FILE] [--plugin-dir DIR]\n"
		   "           [--keys-dir DIR] [--check] [--version]\n"
		   "  --config FILE     configuration (default conf/demo.json)\n"
		   "  --port N          listen on port N instead of the configured one (0: any free port)\n"
		   "  --port-file FILE  write the bound port to FILE once listening\n"
		   "  --plugin-dir DIR  where identity-backend plugins are (overrides plugin_dir)\n"
		   "  --keys-dir DIR    where signing keys are (overrides keys_dir)\n"
		   "  --check           load the configuration, keys, templates and plugins, then exit\n"
		   "Signals: SIGHUP reloads configuration and keys; SIGTERM stops cleanly.\n");
}

static void rt_swap(struct rt *nrt)
{
	struct rt *old;

	pthread_mutex_lock(&g_idp.lock);
	old = g_idp.rt;
	g_idp.rt = nrt;
	pthread_mutex_unlock(&g_idp.lock);
	rt_release(old);
}

/* Set while the keys folder could not be loaded: retried every second until
 * it loads, whatever state.json's time says. */
static bool keys_retry;
/* The retries' failures: logged the first time, when the error changes, and
 * otherwise once a minute with a count, not every second. */
static struct log_repeat keys_failures;
#define KEYS_REPORT_S 60

/* Builds a new runtime and swaps it in; requests in flight keep the old one
 * until they complete. A configuration or key set that fails to load is
 * refused and the previous one keeps serving. */
static void reload(const char *why)
{
	struct rt *nrt = NULL, *cur;
	unsigned n;

	if (rt_build(g_idp.config_path, &nrt) != IDP_OK) {
		idp_log(LOG_ERR, "reload (%s): refused; still serving the previous configuration", why);
		return;
	}
	cur = rt_acquire();
	backends_keep_health(nrt, cur);
	if (nrt->cfg->allow_core_dumps != cur->cfg->allow_core_dumps)
		core_dumps_allow(nrt->cfg->allow_core_dumps);
	rt_release(cur);
	rt_swap(nrt);
	/* Reopened: the file may have been rotated (logrotate's postrotate). */
	audit_open(nrt->cfg);
	keys_retry = false;
	log_repeat_recovered(&keys_failures, &n); /* a new failure is news again */
	idp_log_set_level(nrt->cfg->log_level);
	idp_log(LOG_INFO, "reload (%s): configuration and keys reloaded", why);
}

/* The clients file (idpctl clients) was replaced: the whole configuration is
 * reloaded, as SIGHUP does. A version that was refused is tried once, not
 * every second: the next change tries again. */
static bool clients_file_changed(const struct config *cfg)
{
	static struct file_stamp tried;
	struct file_stamp now;

	if (cfg->clients_file == NULL)
		return false;
	file_stamp_get(cfg->clients_file, &now);
	if (file_stamp_equal(&now, &cfg->clients_stamp) || file_stamp_equal(&now, &tried))
		return false;
	tried = now;
	return true;
}

/* The keys folder changed (idpctl on this node or another, or a retiring key
 * reached its removal time): the keys alone are reloaded. The configuration
 * file is not re-read (it may be half-edited: that is SIGHUP's business), and
 * the backends keep their instances, so upstream logins in progress and
 * backend health survive a rotation. When the keys cannot be loaded, the node
 * keeps its keys minus those state.json revokes: a revoked key never signs
 * again, whatever else is wrong. */
static void reload_keys(void)
{
	struct rt *cur = rt_acquire(), *nrt = NULL;
	struct keyset *ks = NULL;
	struct log_capture cap;
	size_t dropped = 0;
	unsigned n = 0;
	bool changed, recovered = false;
	char again[80] = "";
	int rc;

	/* What keyset_load says is held back until we know it is news. */
	idp_log_capture(&cap);
	rc = keyset_load(cur->keys->dir, &ks);
	idp_log_capture(NULL);
	if (rc == IDP_OK) {
		recovered = log_repeat_recovered(&keys_failures, &n);
		keys_retry = false;
	} else {
		if (log_repeat_failed(&keys_failures, rc, &cap, now_s(), KEYS_REPORT_S, &n, &changed)) {
			if (n > 0)
				snprintf(again, sizeof(again), changed ? " (after %u more of the previous refusal)"
								       : " (repeated %u times)", n);
			idp_log_replay(&cap);
			idp_log(LOG_ERR, "keys: reloading %s refused (%s); retrying every second%s",
				cur->keys->dir, idp_strerror(rc), again);
		}
		keys_retry = true;
		if (keyset_without_revoked(cur->keys, &ks, &dropped) != IDP_OK || dropped == 0) {
			keyset_free(ks);
			rt_release(cur);
			return;
		}
		idp_log(LOG_WARN, "keys: %zu key(s) revoked or withdrawn in %s/state.json no longer published nor used",
			dropped, cur->keys->dir);
	}
	rc = rt_with_keys(cur, ks, &nrt);
	rt_release(cur);
	if (rc != IDP_OK) {
		keys_retry = true;
		return;
	}
	rt_swap(nrt);
	if (recovered)
		idp_log(LOG_INFO, "keys: %s loads again after %u failed attempt%s; keys reloaded",
			nrt->keys->dir, n, n == 1 ? "" : "s");
	else if (!keys_retry)
		idp_log(LOG_INFO, "reload (keys changed): keys reloaded");
}

/* Automatic rotation (key_rotation.auto_rotate_days): checked every ten seconds;
 * one node of a deployment does it (a lock in the shared store), with the
 * same rules as idpctl keys rotate: it waits for lagging services. */
static void auto_rotate(void)
{
	struct rt *rt = rt_acquire();
	const struct config *cfg = rt->cfg;
	bool due = false;
	int64_t now = now_s();

	for (int a = ALG_ES256; cfg->auto_rotate_days > 0 && a <= ALG_RS256; a++) {
		const struct sign_key *k = rt->keys->active[a];

		if (k != NULL && k->activated + (int64_t)cfg->auto_rotate_days * 86400 <= now)
			due = true;
	}
	if (due && store_add(&g_idp.store, "keys:auto-rotate", "1", 1, 300) == IDP_OK) {
		bool redis = strcmp(json_string_value(json_object_get(cfg->store, "driver")) ?: "memory", "redis") == 0;

		idp_log(LOG_INFO, "keys: automatic rotation due (every %u days)", cfg->auto_rotate_days);
		int rc = keys_rotate(cfg, rt->keys->dir, redis ? &g_idp.store : NULL, ALG_NONE, false, stderr);

		/* Without a shared folder, the other nodes get it through the store. */
		if ((rc == IDP_OK || rc == IDP_EDENIED) && keys_store_publish(cfg, &g_idp.store, rt->keys->dir) != IDP_OK)
			rc = IDP_EIO;

		audit_event("admin", NULL, "action", "keys.rotate", "actor", "auto_rotate_days", "result",
			    rc == IDP_OK ? "done" : "refused", NULL);
		if (rc != IDP_OK)
			store_del(&g_idp.store, "keys:auto-rotate"); /* retry later */
	}
	rt_release(rt);
}

int main(int argc, char **argv)
{
	const char *config = "conf/demo.json", *port_file = NULL;
	long long port = -1;
	bool check = false;
	struct rt *rt = NULL;
	sigset_t set;
	unsigned long ticks = 0;
	int sig, rc;

	core_dumps_init();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		if (strcmp(a, "--config") == 0 && has)
			config = argv[++i];
		else if (strcmp(a, "--port") == 0 && has) {
			if (!parse_ll(argv[++i], 0, 65535, &port)) {
				fprintf(stderr, "idp: --port must be a number from 0 to 65535\n");
				return 2;
			}
		} else if (strcmp(a, "--port-file") == 0 && has)
			port_file = argv[++i];
		else if (strcmp(a, "--plugin-dir") == 0 && has)
			g_idp.plugin_dir = argv[++i];
		else if (strcmp(a, "--keys-dir") == 0 && has)
			g_idp.keys_dir = argv[++i];
		else if (strcmp(a, "--check") == 0)
			check = true;
		else if (strcmp(a, "--version") == 0) {
			printf("idp %s\n", IDP_VERSION);
			return 0;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "idp: unknown or incomplete argument \"%.64s\"\n", a);
			usage(stderr);
			return 2;
		}
	}
	g_idp.config_path = config;
	/* libldap (the ldap backend) would read ldap.conf, ~/.ldaprc and LDAP*
	 * variables: the backend's own settings are the only ones that count. */
	setenv("LDAPNOINIT", "1", 1);

	/* Signals go to this thread only: the HTTP threads inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = rt_build(config, &rt)) != IDP_OK) {
		fprintf(stderr, "idp: %s: cannot start (%s); see the messages above\n", config, idp_strerror(rc));
		return 1;
	}
	idp_log_set_level(rt->cfg->log_level);
	if (rt->cfg->allow_core_dumps && !check)
		core_dumps_allow(true);
	if (check) {
		printf("idp: %s is valid\n", config);
		rt_release(rt);
		return 0;
	}
	if (rt->cfg->demo)
		idp_log(LOG_WARN, "running with the DEMO configuration and its published secrets: "
				  "never expose it beyond this machine");
	g_idp.rt = rt;
	if (idp_serve_start((int)port, port_file) != IDP_OK) {
		rt_release(rt);
		return 1;
	}
	{
		char listen[300];

		bool v6 = strchr(rt->cfg->address, ':') != NULL; /* "[::1]:8080", as in a URL */

		snprintf(listen, sizeof(listen), "%s%s%s:%lld", v6 ? "[" : "", rt->cfg->address, v6 ? "]" : "",
			 port >= 0 ? port : (long long)rt->cfg->port);
		health_start(listen);
	}
	backchannel_start();
	idp_log(LOG_INFO, "issuer %s ready", rt->cfg->issuer);
	for (;;) {
		/* Wake every second to follow key changes made by idpctl on this
		 * or another node (a shared keys folder): the bound on how long a
		 * node keeps signing with a key that was rotated or revoked. */
		struct timespec tick = {1, 0};

		sig = sigtimedwait(&set, NULL, &tick);
		if (sig < 0 && ++ticks % 10 == 0)
			auto_rotate();
		if (sig < 0) {
			struct rt *cur = rt_acquire();
			bool changed;

			/* Nodes without a shared folder: the store's key set, when it
			 * changed, is written into this node's folder first. */
			keys_store_pull(cur->cfg, &g_idp.store, cur->keys->dir);
			changed = keyset_changed(cur->keys);

			bool clients = clients_file_changed(cur->cfg);

			rt_release(cur);
			if (clients)
				reload("clients file changed");
			else if (changed || keys_retry)
				reload_keys();
			continue;
		}
		if (sig == SIGHUP) {
			reload("SIGHUP");
			continue;
		}
		break;
	}
	idp_log(LOG_INFO, "stopping");
	idp_serve_stop(); /* health_stop too, once the loops are stopped */
	rt_release(g_idp.rt);
	return 0;
}
