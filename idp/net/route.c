/* SPDX-License-Identifier: EUPL-1.2 */
/* The routing table: one line per endpoint says its path, the methods it
 * answers, its handler, whether its errors are JSON (the OAuth endpoints)
 * or a page (the citizens'), and its metrics label. Dispatch, the 405
 * answers with Allow and the labels metrics.c counts all come from it. */
#include "http_int.h"

#include <stdio.h>
#include <string.h>

#include "idp.h"
#include "metrics.h"

enum { GET = 1, POST = 2 };             /* methods, a mask; GET also answers HEAD */
enum route_match { EXACT, PREFIX };     /* PREFIX: the path and anything after it */
enum route_errors { PAGE, JSON };       /* how refusals are written (OAuth: JSON) */

struct route {
	const char *path;
	enum route_match match;
	unsigned methods;
	enum MHD_Result (*handler)(struct req *r);
	enum route_errors errors;
	const char *label;                  /* metrics: two paths of one endpoint share it */
};

static enum MHD_Result healthz(struct req *r);

static const struct route routes[] = {
	/* path                                match   methods     handler               errors label */
	{"/.well-known/openid-configuration", EXACT,  GET,        ep_discovery,         PAGE, "/.well-known/openid-configuration"},
	{"/jwks",                             EXACT,  GET,        ep_jwks,              PAGE, "/jwks"},
	{"/authorize",                        EXACT,  GET | POST, ep_authorize,         PAGE, "/authorize"},
	{"/login",                            EXACT,  POST,       ep_login,             PAGE, "/login"},
	{"/consent",                          EXACT,  POST,       ep_consent,           PAGE, "/consent"},
	{"/otp",                              EXACT,  POST,       ep_second_factor,     PAGE, "/otp"},
	{"/choose",                           EXACT,  POST,       ep_choose,            PAGE, "/choose"},
	{"/callback/",                        PREFIX, GET,        ep_upstream_callback, PAGE, "/callback"},
	{"/token",                            EXACT,  POST,       ep_token,             JSON, "/token"},
	{"/userinfo",                         EXACT,  GET | POST, ep_userinfo,          JSON, "/userinfo"},
	{"/introspect",                       EXACT,  POST,       ep_introspect,        JSON, "/introspect"},
	{"/revoke",                           EXACT,  POST,       ep_revoke,            JSON, "/revoke"},
	{"/logout",                           EXACT,  GET | POST, ep_logout,            PAGE, "/logout"},
	{"/session/end",                      EXACT,  GET | POST, ep_logout,            PAGE, "/logout"},
	{"/logout/return",                    EXACT,  GET,        ep_logout_return,     PAGE, "/logout/return"},
	{"/account",                          EXACT,  GET | POST, ep_account,           PAGE, "/account"},
	{"/static/style.css",                 EXACT,  GET,        http_css,             PAGE, "/static"},
	{"/healthz",                          EXACT,  GET,        healthz,              PAGE, "/healthz"},
};
#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

/* Each route's index in metrics.c's counters, set once before the loops start. */
static unsigned route_metric[N_ROUTES];

static enum MHD_Result healthz(struct req *r)
{
	if (!health_store_ready())
		return http_reply(r, 503, "text/plain", "store unreachable\n", 18, true);
	return http_reply(r, 200, "text/plain", "ok\n", 3, true);
}

void http_routes_init(void)
{
	for (size_t i = 0; i < N_ROUTES; i++)
		route_metric[i] = metrics_endpoint(routes[i].label);
}

/* The route of r's path, whatever the method (NULL: none); sets its label. */
static const struct route *route_find(struct req *r)
{
	const char *p = r->path;

	for (size_t i = 0; i < N_ROUTES; i++) {
		const struct route *ro = &routes[i];

		if (ro->match == EXACT ? strcmp(p, ro->path) == 0
				       : strncmp(p, ro->path, strlen(ro->path)) == 0) {
			r->metric = route_metric[i];
			return ro;
		}
	}
	return NULL;
}

static enum MHD_Result refuse(struct req *r, const struct route *ro, unsigned status, const char *what)
{
	if (ro != NULL && ro->errors == JSON)
		return http_json_error(r, status, "invalid_request", what);
	return http_error_page(r, status, status == 413 || status == 414 ? "too_big" : "bad_request");
}

/* A known path with another method: 405 with Allow (RFC 9110 15.5.6). */
static enum MHD_Result method_not_allowed(struct req *r, const struct route *ro)
{
	const char *allow = ro->methods == GET ? "GET, HEAD" : ro->methods == POST ? "POST" : "GET, HEAD, POST";
	char d[64];

	req_add_header(r, "Allow", allow);
	if (ro->errors == JSON) {
		snprintf(d, sizeof(d), "use %s", allow);
		return http_json_error(r, 405, "invalid_request", d);
	}
	return http_error_page(r, 405, "method");
}

enum MHD_Result http_dispatch(struct req *r)
{
	const struct route *ro = route_find(r);
	unsigned status, method;
	const char *why;

	if (req_parse(r, &status, &why) != IDP_OK)
		return refuse(r, ro, status, why);
	if (ro == NULL)
		return http_error_page(r, 404, "not_found");
	method = r->is_post ? POST : strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0 ? GET : 0;
	if ((ro->methods & method) == 0)
		return method_not_allowed(r, ro);
	return ro->handler(r);
}

bool http_route_json(struct req *r)
{
	const struct route *ro = route_find(r);

	return ro != NULL && ro->errors == JSON;
}

enum MHD_Result http_refuse_stopping(struct req *r)
{
	const struct route *ro = route_find(r);

	/* What is in progress is answered, nothing new starts (keep-alive
	 * clients would otherwise hold the stop off). */
	req_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (ro != NULL && ro->errors == JSON)
		return http_json_error(r, 503, "temporarily_unavailable", "the server is stopping");
	return http_error_page(r, 503, "stopping");
}
