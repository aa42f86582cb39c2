/* The one-time authorization code (OpenID Core 3.1.2.5): its records in the
 * store, written once at /authorize for /token to use, and the redirect that
 * carries it to the service. */
#ifndef IDP_CODE_H
#define IDP_CODE_H

#include "authz_req.h"

/* Mints a code for request a and session sess (sid_hash its store key
 * suffix) and stores its records in one round trip, which also requires
 * consent_key (a remembered consent; NULL: none needed) and, for a session
 * read from the process's copy, the session itself, and slides the
 * session's idle lifetime. *location: the redirect to the client (the
 * caller's). IDP_ENOTFOUND: a required record is missing, nothing stored. */
int code_issue(const struct config *cfg, const struct client *cl, const struct authz_req *a,
	       const json_t *sess, const char *sid_hash, const char *consent_key, char **location);

#endif
