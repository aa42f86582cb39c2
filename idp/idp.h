/* SPDX-License-Identifier: EUPL-1.2 */
/* The daemon's shared state: the reloadable runtime (configuration, keys,
 * templates, backends); the endpoints, and what they receive (http/http.h). */
#ifndef IDP_IDP_H
#define IDP_IDP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "http.h"
#include "idp_plugin.h"
#include "keys.h"
#include "store.h"
#include "tmpl.h"
#include "util.h"

#define IDP_VERSION "0.1.0"

struct backend {
	char *id;
	char *title;
	char *acr;                      /* the highest level this backend reaches */
	/* The level a password alone reaches ("password_acr", default acr):
	 * below acr, the citizen's second factor reaches acr (a step-up). */
	char *password_acr;
	/* "second_factor_help": who to call when the second factor is lost,
	 * a string or {"fr": ..., "en": ...}; NULL: nothing shown. */
	json_t *second_factor_help;
	char *logo;                     /* optional image URL for the choice page */
	/* Redirect backends: their "issuer", whose origin the choice page's
	 * form-action lists (Chromium applies form-action to the redirect
	 * that follows /choose). NULL for form backends. */
	char *issuer;
	const struct idp_backend *ops;
	void *inst;
	void *dl;
	/* Health (federation.c): consecutive failures and, while marked down,
	 * until when the choice page greys it out. Atomics: shared by workers. */
	int fails;
	int64_t down_until;
	/* Its own workers for its blocking calls: a backend that stops
	 * answering holds only these (fiber.h). */
	struct fiber_pool *pool;
};

struct rt_base;

/* Everything SIGHUP reloads. Requests hold a reference for their lifetime,
 * so a reload never pulls a key or a template from under a request. A change
 * of the keys folder makes a runtime with new keys that shares everything else
 * (base) with the previous one: plugins keep their instances, upstream logins
 * in progress and backend health. */
struct rt {
	int refs;
	struct rt_base *base;           /* owns cfg, tmpl, backends, discovery */
	struct config *cfg;             /* these five: borrowed from base */
	struct tmpl_set *tmpl;
	struct backend *backends;
	size_t n_backends;
	char *discovery;
	size_t discovery_len;
	struct keyset *keys;            /* this runtime's own */
};

struct daemon {
	pthread_mutex_t lock;
	struct rt *rt;
	struct store store;             /* outlives reloads: sessions survive SIGHUP */
	unsigned char csrf_key[32];
	const char *config_path;
	const char *plugin_dir;         /* --plugin-dir, overrides the configuration */
	const char *keys_dir;           /* --keys-dir, overrides the configuration */
};

extern struct daemon g_idp;

struct rt *rt_acquire(void);
void rt_release(struct rt *rt);
/* rt_build.c: builds a runtime from the configuration file (used at start
 * and on SIGHUP). */
int rt_build(const char *config_path, struct rt **out);
/* Hands rt's configuration, templates, backends and discovery document to a
 * base that the runtimes rt_with_keys makes from it share. IDP_ENOMEM: rt
 * still owns them. */
int rt_share_parts(struct rt *rt);
/* A runtime with the keys ks (taken over, also on error) and everything else
 * of cur: a change of the keys folder reloads nothing more. */
int rt_with_keys(struct rt *cur, struct keyset *ks, struct rt **out);

/* serve.c: with g_idp.rt set, opens the store, makes the CSRF key and
 * starts the HTTP loops (port_override < 0: the configured port); on error
 * nothing is left open. The daemon and the request fuzzer both start so. */
int idp_serve_start(int port_override, const char *port_file);
/* Stops the loops once their requests are answered, then the prober
 * (health_stop), then closes the store. */
void idp_serve_stop(void);

/* metrics_http.c: the Prometheus text exposition, malloc'ed (the caller's),
 * NULL on failure; and the operators' listener (metrics.listen): GET
 * /metrics and nothing else, on its own address, never on the citizens' one
 * (behind a local proxy the TCP peer says nothing of who asks). No-op when
 * metrics.listen is unset. */
char *metrics_render(size_t *len);
int metrics_start(const struct config *cfg);
void metrics_stop(void);

/* Endpoints. */
enum MHD_Result ep_discovery(struct req *r);
enum MHD_Result ep_jwks(struct req *r);
enum MHD_Result ep_authorize(struct req *r);
enum MHD_Result ep_login(struct req *r);
enum MHD_Result ep_consent(struct req *r);
enum MHD_Result ep_second_factor(struct req *r);
enum MHD_Result ep_token(struct req *r);
enum MHD_Result ep_userinfo(struct req *r);
enum MHD_Result ep_introspect(struct req *r);
enum MHD_Result ep_revoke(struct req *r);
enum MHD_Result ep_logout(struct req *r);
enum MHD_Result ep_account(struct req *r);
char *discovery_render(const struct config *cfg, const struct rt *rt);

/* federation.c: the choice page's answer, the upstream provider's return. */
enum MHD_Result ep_choose(struct req *r);
enum MHD_Result ep_upstream_callback(struct req *r);
/* ep_logout.c: back from an upstream provider's logout. */
enum MHD_Result ep_logout_return(struct req *r);

/* health.c */
void backend_report(struct backend *b, int rc);
bool backend_up(const struct backend *b);
/* Background prober: brings a failing backend back by itself, and writes
 * this node's heartbeat (K_NODE) to the store every HEARTBEAT_S seconds;
 * listen: "ADDRESS:PORT" as the node serves, which names it. */
void health_start(const char *listen);
/* The nodes listed in the store (idpctl status): a line each, with its
 * heartbeat's age; the count of those heard within HEARTBEAT_TTL_S. */
int nodes_print(struct store *st, FILE *out, size_t *alive);
#define K_NODE "node:"
#define K_NODES "nodes"
#define HEARTBEAT_S 5
#define HEARTBEAT_TTL_S 15
void health_stop(void);
/* Readiness (/healthz): whether the store answers now (one bounded round
 * trip; false while it is unreachable). */
bool health_store_ready(void);

/* identity.c */
/* Refuses identities whose claims are malformed (format rules of the
 * identity pivot); *why says which claim. */
bool identity_valid(const json_t *claims, const char **why);
/* "pivot:HEX", the local subject derived from the identity pivot after
 * normalising its spelling; the caller frees it. NULL: *why names the
 * missing claim. */
char *pivot_subject(const json_t *claims, const char **why);
/* The local subject of id: per backend ("backend:subject"), or from the
 * identity pivot, so the same citizen gets the same sub whichever backend
 * they use. The caller frees it. */
char *identity_local_subject(const struct config *cfg, const struct backend *b,
			     const struct idp_identity *id, const char **why);
void identity_release(struct idp_identity *id);

/* plugin.c */
int backends_load(struct rt *rt, const char *plugin_dir);
void backends_free(struct backend *b, size_t n);
/* Carries health (failures, down until) over to the backends of nrt that
 * have the same id in old: a reload does not forget a backend is down. */
void backends_keep_health(struct rt *nrt, const struct rt *old);
const struct backend *backend_find(const struct rt *rt, const char *id);
/* The backend's calls, on a worker thread while the request's fiber waits:
 * they block (a password hash, LDAP, an upstream provider over HTTP). */
int backend_login(const struct backend *b, const struct idp_login *req, struct idp_identity *out);
int backend_begin(const struct backend *b, const char *callback_url, char **url, json_t **txn);
int backend_callback(const struct backend *b, const json_t *txn, const char *query,
		     struct idp_identity *out);
int backend_logout(const struct backend *b, const json_t *data, const char *return_url,
		   const char *state, char **url);
/* The backend's second_factor (idp_plugin.h); IDP_ENOTFOUND when it has none. */
int backend_second_factor(const struct backend *b, const json_t *data, const char *code, uint64_t *counter);

#endif
