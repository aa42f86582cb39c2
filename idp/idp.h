/* The daemon's shared state: the reloadable runtime (configuration, keys,
 * templates, backends) and the request context every endpoint receives. */
#ifndef IDP_IDP_H
#define IDP_IDP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "idp_plugin.h"
#include "keys.h"
#include "store.h"
#include "tmpl.h"
#include "util.h"

#define IDP_VERSION "0.1.0"

struct backend {
	char *id;
	char *title;
	char *acr;                      /* level this backend reaches */
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
/* Builds a runtime from the configuration file (used at start and on SIGHUP). */
int rt_build(const char *config_path, struct rt **out);
/* A runtime with the keys ks (taken over, also on error) and everything else
 * of cur: a change of the keys folder reloads nothing more. */
int rt_with_keys(struct rt *cur, struct keyset *ks, struct rt **out);

/* Parsed application/x-www-form-urlencoded or query parameters. */
struct param {
	char *name;
	char *value;
};
struct params {
	struct param *v;
	size_t n;
	const char *dup;  /* the first parameter seen twice, NULL if none */
};

struct hdr {
	char *name, *value;
};

struct req {
	struct MHD_Connection *conn;
	struct rt *rt;
	const struct config *cfg;
	const char *method;
	char *path;             /* without the query */
	char *raw_query;        /* NULL when there is none */
	bool url_too_long;
	size_t head_bytes;      /* the request line's URI, for the pool budget */
	struct conn_watch *watch; /* its connection's deadline (http.c) */
	struct buf body;
	bool body_too_big;
	bool started;
	bool is_post;
	struct params query;
	struct params form;
	bool params_bad;        /* malformed encoding, NUL, bad UTF-8, too many */
	char ip[64];
	enum lang lang;
	struct hdr hdrs[8];
	size_t n_hdrs;
	char *csp_extra;        /* origin added to form-action (redirect target) */
	/* A return from another site, maybe the answer to its form (an upstream
	 * provider's login or logout): http_redirect goes on to a third origin
	 * by a page, since that site's form-action cannot list it. */
	bool from_foreign_form;
	char bind_fresh[64];    /* a binding cookie made by this request */
	/* The reply, queued once the request's fiber has ended (http_send). */
	struct MHD_Response *resp;
	unsigned status;
	enum MHD_Result ret;
	struct fiber *fib;      /* set while the request's fiber is parked */
};

/* serve.c: with g_idp.rt set, opens the store, makes the CSRF key and
 * starts the HTTP loops (port_override < 0: the configured port); on error
 * nothing is left open. The daemon and the request fuzzer both start so. */
int idp_serve_start(int port_override, const char *port_file);
/* Stops the loops once their requests are answered, then closes the store. */
void idp_serve_stop(void);

/* http.c */
/* Starts the HTTP event loops (listen.threads, 0: one per core this process
 * may run on); http_stop ends them once their requests are answered. */
int http_start(const struct config *cfg, int port_override, const char *port_file);
void http_stop(void);
/* The client's address: peer (the TCP peer) unless it is one of
 * listen.trusted_proxies, then the rightmost hop of xff (X-Forwarded-For) or,
 * without it, of fwd (RFC 7239 Forwarded) that is not itself a trusted proxy.
 * IDP_EINVAL (and out = peer) when the header is malformed. */
int http_client_address(const struct config *cfg, const char *peer, const char *xff, const char *fwd,
			char out[64]);
/* Takes resp as this request's reply (queued when the request ends). */
enum MHD_Result http_send(struct req *r, unsigned status, struct MHD_Response *resp);
/* Strict application/x-www-form-urlencoded decoding; NULL when malformed. */
char *form_decode(const char *s, size_t len);
const char *params_get(const struct params *p, const char *name);
int params_parse(const char *s, size_t len, size_t max_params, struct params *out);
void params_clear(struct params *p);
const char *req_header(struct req *r, const char *name);
const char *req_cookie(struct req *r, const char *name);
/* The parameters of this request: the query for GET, the form body for POST. */
const struct params *req_params(struct req *r);
void req_add_header(struct req *r, const char *name, const char *value);
/* Adds a cookie (HttpOnly, SameSite=Lax, Path=/; Secure and __Host- when the
 * issuer is https). max_age < 0: a session cookie; 0: deletes it. */
void req_set_cookie(struct req *r, const char *name, const char *value, long max_age);
const char *cookie_name(const struct config *cfg, const char *base, char out[64]);
enum MHD_Result http_reply(struct req *r, unsigned status, const char *ctype, const void *body,
			   size_t len, bool no_store);
enum MHD_Result http_json(struct req *r, unsigned status, const json_t *doc);
/* The same with the JSON already written: text (malloc'ed, NUL-ended) is
 * the response's from now on, wiped and freed once sent, also on error. */
/* text (malloc'ed, NUL-terminated) goes to the response without a copy and is
 * wiped once sent; ctype its Content-Type. */
enum MHD_Result http_reply_owned(struct req *r, unsigned status, const char *ctype, char *text, size_t len);
enum MHD_Result http_json_text(struct req *r, unsigned status, char *text, size_t len);
enum MHD_Result http_json_error(struct req *r, unsigned status, const char *error,
				const char *description);
enum MHD_Result http_redirect(struct req *r, const char *location);
/* Renders a page with the common context (lang, issuer); no-store. */
enum MHD_Result http_page(struct req *r, unsigned status, const char *tmpl, json_t *ctx);
/* The citizen-facing error page: a plain message, never a redirect. */
enum MHD_Result http_error_page(struct req *r, unsigned status, const char *code);
enum lang req_lang(struct req *r, const char *ui_locales);

/* Endpoints. */
enum MHD_Result ep_discovery(struct req *r);
enum MHD_Result ep_jwks(struct req *r);
enum MHD_Result ep_authorize(struct req *r);
enum MHD_Result ep_login(struct req *r);
enum MHD_Result ep_consent(struct req *r);
enum MHD_Result ep_token(struct req *r);
enum MHD_Result ep_userinfo(struct req *r);
enum MHD_Result ep_logout(struct req *r);
char *discovery_render(const struct config *cfg, const struct rt *rt);

/* federation.c: the choice page's answer, the upstream provider's return. */
enum MHD_Result ep_choose(struct req *r);
enum MHD_Result ep_upstream_callback(struct req *r);
/* ep_logout.c: back from an upstream provider's logout. */
enum MHD_Result ep_logout_return(struct req *r);

/* health.c */
void backend_report(struct backend *b, int rc);
bool backend_up(const struct backend *b);
/* Background prober: brings a failing backend back by itself. */
void health_start(void);
void health_stop(void);

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

#endif
