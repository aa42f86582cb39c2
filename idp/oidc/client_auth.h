/* SPDX-License-Identifier: EUPL-1.2 */
/* How a client proves who it is (RFC 6749 2.3.1): HTTP Basic or
 * client_secret_post, against the SHA-256 of its registered secret. /token
 * requires it; discovery's probe accepts Basic. */
#ifndef IDP_CLIENT_AUTH_H
#define IDP_CLIENT_AUTH_H

#include "idp.h"

/* Why client_authenticate refused: the answer /token gives (basic: the
 * request used HTTP Basic, so a 401 names the Basic scheme). */
struct client_auth_fail {
	unsigned status;
	const char *error, *description;
	bool basic;
};

/* The client a request authenticates as: HTTP Basic, or, with form,
 * client_secret_post, as the client registered for /token. Answers nothing:
 * IDP_OK and *out, else *f says why (IDP_ENOTFOUND: no credentials at all).
 * A failed secret is logged and counted. */
int client_authenticate(struct req *r, const struct params *form, const struct client **out,
			struct client_auth_fail *f);

/* private_key_jwt (RFC 7523 2.2 and 3, OpenID Core 9): token, a JWS the
 * client signed with one of its keys, iss = sub = its client_id (pid, the
 * form's client_id, when not NULL), aud this provider, exp at most 5
 * minutes ahead, its jti used once (kept in the store). IDP_OK and *out;
 * else *why says what failed, for the log only (the answer is
 * invalid_client whatever it is). Apart for tests/fuzz/fuzz_client_assertion.c. */
int client_assertion_check(const struct config *cfg, const char *token, const char *pid,
			   const struct client **out, const char **why);

/* What /introspect and /revoke check first: each parameter once, no token
 * or secret in the URL, the client authenticated (a 401 to HTTP Basic
 * names the Basic scheme, RFC 6749 5.2), a "token" parameter. NULL: *ret
 * is the refusal, already answered; else *tok is the token. */
const struct client *client_auth_token_request(struct req *r, const char **tok, enum MHD_Result *ret);

#endif
