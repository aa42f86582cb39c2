/* SPDX-License-Identifier: EUPL-1.2 */
/* The authorization request (OpenID Core 3.1.2.1) as one typed struct:
 * parsed and validated once at /authorize, then carried by the login flow
 * (flow.h) and kept in the login transaction between the steps. Only
 * authz_req_encode and authz_req_decode know the stored form. */
#ifndef IDP_AUTHZ_REQ_H
#define IDP_AUTHZ_REQ_H

#include "idp.h"

/* Bounds of what a request may carry; past them it is refused, never cut. */
#define AUTHZ_STATE_MAX 1024
#define AUTHZ_NONCE_MAX 1024
#define AUTHZ_CLAIMS_MAX 4096
#define AUTHZ_ACR_VALUES_MAX 512
#define AUTHZ_LOGIN_HINT_MAX 256
#define AUTHZ_PROMPT_MAX 64
#define AUTHZ_SCOPE_MAX 1024
#define AUTHZ_UI_LOCALES_MAX 128
#define AUTHZ_IDP_HINT_MAX 64   /* and a backend's id */
#define AUTHZ_SUB_MAX 256
/* Bounds checked again when a stored request is read back. */
#define AUTHZ_URI_MAX 8192
#define AUTHZ_TEXT_MAX 4096

/* The prompt parameter's values, as bits. */
enum authz_prompt {
	PROMPT_NONE = 1u << 0,
	PROMPT_LOGIN = 1u << 1,
	PROMPT_CONSENT = 1u << 2,
	PROMPT_SELECT_ACCOUNT = 1u << 3,
};

struct authz_req {
	char *client_id;        /* a configured client */
	char *redirect_uri;     /* registered for it, exactly */
	char *state;            /* NULL: none */
	char *scope;            /* granted: the supported scopes the client may ask, canonical order */
	char *nonce;
	char *code_challenge;   /* PKCE S256, 43 base64url characters */
	char *acr_values;
	char *login_hint;
	char *want_sub;         /* claims.id_token.sub.value: the subject asked for */
	char *hint_sub;         /* the subject of id_token_hint */
	json_t *claims;         /* the claims parameter, filtered for the client; NULL: none */
	unsigned prompt;        /* enum authz_prompt bits */
	long long max_age;      /* seconds; -1: none */
	int min_acr_rank;       /* the level the client asks for (config_acr_rank); -1: none */
	enum lang lang;
	/* Filled as the login goes on. */
	char *backend;          /* the backend chosen for this login */
	char sid[65];           /* the session the consent page was shown for ("" before) */
	/* Only /authorize reads it: not kept in the transaction. */
	char *idp_hint;
};

/* Why a request was refused. page set: an error page with status (the
 * client or its redirect_uri cannot be trusted), never a redirect; else the
 * error and description go back to the redirect_uri. */
struct authz_refusal {
	unsigned status;
	const char *page;
	const char *error;
	const char *description;
	char text[96];          /* room for a description naming a parameter */
};

void authz_req_init(struct authz_req *a);
/* Frees what a holds and leaves it as authz_req_init does. */
void authz_req_release(struct authz_req *a);
/* Parses and validates the parameters of /authorize (p) into a. IDP_OK, or
 * IDP_EINVAL with *why saying how to answer (a then holds at least the
 * client, redirect_uri and state that a redirect needs, when they are good). */
int authz_req_parse(const struct rt *rt, const struct params *p, enum lang lang, struct authz_req *a,
		    struct authz_refusal *why);
/* The stored form of a (the caller owns it), and back: IDP_EINVAL when j is
 * not a request this daemon wrote, a then released. */
json_t *authz_req_encode(const struct authz_req *a);
int authz_req_decode(const json_t *j, struct authz_req *a);

/* The redirect_uri of a with error, error_description, state and iss
 * (RFC 9207); the caller frees it. NULL when out of memory. */
char *authz_req_error_uri(const struct config *cfg, const struct authz_req *a, const char *error,
			  const char *description);

static inline bool authz_prompt_has(const struct authz_req *a, enum authz_prompt p)
{
	return (a->prompt & p) != 0;
}

#endif
