/* SPDX-License-Identifier: EUPL-1.2 */
/* Between the files of the HTTP layer only (http.h says who is who). */
#ifndef IDP_HTTP_INT_H
#define IDP_HTTP_INT_H

#include "http.h"

/* route.c, called by loop.c. */
/* Gives the endpoints' metrics labels to metrics.c; before the first request. */
void http_routes_init(void);
/* Answers r: refuses what request.c finds malformed, else its route's handler. */
enum MHD_Result http_dispatch(struct req *r);
/* The answer while stopping: 503, in the route's language (JSON or page). */
enum MHD_Result http_refuse_stopping(struct req *r);
/* Looks r's route up, which sets its metrics label (r->metric); true when
 * that route writes its errors in JSON (the OAuth endpoints). */
bool http_route_json(struct req *r);

/* request.c, called by loop.c (the request's life) and route.c (parsing). */
/* A request from its URI (libmicrohttpd's URI log callback); NULL without memory. */
struct req *req_new(const char *uri, struct MHD_Connection *conn);
/* Its headers have arrived: method, client address, language. */
void req_begin(struct req *r, struct MHD_Connection *conn, const char *method);
/* A piece of its body; past listen.max_body the body is dropped and refused. */
void req_add_body(struct req *r, const char *data, size_t len);
/* The query and form parameters; on error *status and *why say what to answer. */
int req_parse(struct req *r, unsigned *status, const char **why);
/* Frees r, wiping what may be secret (parameters, Location, the query). */
void req_free(struct req *r);

/* address.c, called by req_begin: r->ip, the peer or the client a trusted
 * proxy names (malformed headers: the peer, logged at debug). */
void req_set_ip(struct req *r, struct MHD_Connection *conn);

#endif
