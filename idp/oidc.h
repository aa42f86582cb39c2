/* What the endpoints share that belongs to no module of its own: the login
 * transaction's key prefix, the id_token_hint check that /authorize and
 * /logout both make, and the client authentication of /token that
 * discovery's probe reuses. Sessions are in session.h, claims in claims.h,
 * the code and its tokens' keys in code.h, CSRF tokens in csrf.h. */
#ifndef IDP_OIDC_H
#define IDP_OIDC_H

#include "idp.h"

/* Store key prefix of the login transactions (txn.h). */
#define K_TXN "txn:"

/* The longest id_token_hint taken (/authorize, /logout), checked before it
 * is decoded: our ID tokens are about 1 KB. */
#define ID_TOKEN_HINT_MAX 8192
/* True when the JWS header says typ at+jwt (RFC 9068) or cannot be read:
 * such a token is no id_token_hint. */
bool jws_is_access_token(const char *jws);

/* Why client_authenticate refused: the answer /token gives (basic: the
 * request used HTTP Basic, so a 401 names the Basic scheme). */
struct client_auth_fail {
	unsigned status;
	const char *error, *description;
	bool basic;
};

/* The client a request authenticates as (RFC 6749 2.3.1): HTTP Basic, or,
 * with form, client_secret_post, as the client registered for /token.
 * Answers nothing: IDP_OK and *out, else *f says why (IDP_ENOTFOUND: no
 * credentials at all). A failed secret is logged and counted. Defined in
 * ep_token.c. */
int client_authenticate(struct req *r, const struct params *form, const struct client **out,
			struct client_auth_fail *f);

#endif
