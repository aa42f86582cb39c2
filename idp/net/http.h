/* SPDX-License-Identifier: EUPL-1.2 */
/* The HTTP layer as the endpoints see it: the request (its parameters,
 * headers, cookies, client address and language) and the replies (always
 * with the security headers). Files, from the top down:
 *   loop.c     the event loops: libmicrohttpd daemons whose requests run as fibers
 *   proxy_proto.c  the PROXY protocol header a trusted proxy sends first
 *              (listen.proxy_protocol), read by loop.c
 *   route.c    the routing table: dispatch, 404 and 405, JSON or page errors,
 *              the endpoints' metrics labels
 *   request.c  parsing what the client sent
 *   address.c  who the client is (the peer, or the client a trusted proxy names)
 *   reply.c    building what goes back
 * The endpoints (ep_*.c) call request.c and reply.c, never loop.c or route.c. */
#ifndef IDP_HTTP_H
#define IDP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "config.h"
#include "tmpl.h"
#include "util.h"

struct rt;
struct fiber;
struct conn_watch;

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
	struct conn_watch *watch; /* its connection's deadline (loop.c) */
	struct buf body;
	bool body_too_big;
	bool started;
	bool is_post;
	struct params query;
	struct params form;
	char ip[64];
	enum lang lang;
	unsigned metric;        /* the route's metrics label (route.c); 0: other */
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
	bool suspend_pending;   /* parked: its connection is suspended after MHD_run (loop.c) */
	struct req *suspend_next;
};

/* loop.c */
/* Starts the HTTP event loops (listen.threads, 0: one per core this process
 * may run on); http_stop ends them once their requests are answered. */
int http_start(const struct config *cfg, int port_override, const char *port_file);
void http_stop(void);

/* request.c */
const char *params_get(const struct params *p, const char *name);
/* Strict application/x-www-form-urlencoded parsing (each name and value
 * through codec_form_decode): IDP_EINVAL when malformed, IDP_ETOOBIG past
 * max_params. A name seen twice is kept and named in out->dup. */
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
enum lang req_lang(struct req *r, const char *ui_locales);

/* address.c */
/* The client's address: peer (the TCP peer) unless it is one of
 * listen.trusted_proxies, then the rightmost hop of xff (X-Forwarded-For) or,
 * without it, of fwd (RFC 7239 Forwarded) that is not itself a trusted proxy.
 * IDP_EINVAL (and out = peer) when the header is malformed. */
int http_client_address(const struct config *cfg, const char *peer, const char *xff, const char *fwd,
			char out[64]);

/* reply.c */
/* Takes resp as this request's reply (queued when the request ends). */
enum MHD_Result http_send(struct req *r, unsigned status, struct MHD_Response *resp);
enum MHD_Result http_reply(struct req *r, unsigned status, const char *ctype, const void *body,
			   size_t len, bool no_store);
/* text (malloc'ed, NUL-terminated) goes to the response without a copy and is
 * wiped once sent, also on error; ctype its Content-Type. */
enum MHD_Result http_reply_owned(struct req *r, unsigned status, const char *ctype, char *text, size_t len);
/* The same for JSON already written. */
enum MHD_Result http_json_text(struct req *r, unsigned status, char *text, size_t len);
enum MHD_Result http_json(struct req *r, unsigned status, const json_t *doc);
enum MHD_Result http_json_error(struct req *r, unsigned status, const char *error,
				const char *description);
enum MHD_Result http_redirect(struct req *r, const char *location);
/* Renders templates/LANG/tmpl.html with the common context (lang, issuer);
 * no-store. The page's title is the template's own. */
enum MHD_Result http_page(struct req *r, unsigned status, const char *tmpl, json_t *ctx);
/* The citizen-facing error page: a plain message, never a redirect. */
enum MHD_Result http_error_page(struct req *r, unsigned status, const char *code);
/* The stylesheet of every page (/static/style.css), cacheable. */
enum MHD_Result http_css(struct req *r);

#endif
