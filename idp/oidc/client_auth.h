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

/* The longest client assertion decoded (like id_token_hint's bound). */
#define CLIENT_ASSERTION_MAX 8192

/* private_key_jwt (RFC 7523 2.2 and 3, OpenID Core 9): token, a JWS the
 * client signed with one of its keys, iss = sub = its client_id (pid, the
 * form's client_id, when not NULL), aud this provider (its issuer, or its
 * URL for the endpoint ep, "/token" or "/jwks"), exp at most 5
 * minutes ahead, its jti used once (kept in the store). IDP_OK and *out;
 * else *why says what failed, for the log only (the answer is
 * invalid_client whatever it is). Apart for tests/fuzz/fuzz_client_assertion.c. */
int client_assertion_check(const struct config *cfg, const char *token, const char *pid, const char *ep,
			   const struct client **out, const char **why);

/* A GET has no form for client_assertion: at /jwks the assertion rides in
 * this header alone, its type fixed to jwt-bearer. No standard names one;
 * Authorization: Bearer would read as an access token. */
#define CLIENT_ASSERTION_HEADER "Client-Assertion"

/* The client a /jwks fetch authenticates as: HTTP Basic with its secret, or
 * a private_key_jwt assertion (aud the issuer or the /jwks URL) in
 * CLIENT_ASSERTION_HEADER; not both. NULL when anonymous or refused (logged
 * and counted): the keys are public, so the caller serves them anyway. */
const struct client *client_jwks_fetcher(struct req *r);

/* What /introspect and /revoke check first: each parameter once, no token
 * or secret in the URL, the client authenticated (a 401 to HTTP Basic
 * names the Basic scheme, RFC 6749 5.2), a "token" parameter. NULL: *ret
 * is the refusal, already answered; else *tok is the token. */
const struct client *client_auth_token_request(struct req *r, const char **tok, enum MHD_Result *ret);

#endif
