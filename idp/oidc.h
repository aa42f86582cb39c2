/* Protocol helpers shared by the endpoints and the flow: sessions,
 * subjects, claims by scope, CSRF tokens, the store's key prefixes. The
 * login's steps are in flow.h, the request in authz_req.h, the code in
 * code.h, the pages in pages.h. */
#ifndef IDP_OIDC_H
#define IDP_OIDC_H

#include "idp.h"

/* Store key prefixes. Secrets are keyed by their SHA-256, never in clear. */
#define K_SESSION "sess:"
#define K_TXN "txn:"
/* K_CODE + code_hash(client, code): the code's record. */
#define K_CODE "code:"
/* K_CODE_AT + code hash: the record the code's access token will have (less
 * its exp), moved to K_AT by the exchange, in the round trip that takes the
 * code. */
#define K_CODE_AT "cat:"
/* A code's record begins with its session's hash (record.h: "R1;s64:"),
 * so that the exchange reaches the session in the round trip that takes
 * the code (store_op.taken_off). */
#define CODE_SID_OFF 7
#define K_USED "used:"
#define K_AT "at:"
#define K_CONSENT "consent:"
/* K_SESSION_AT + session hash: the K_AT hashes its code exchanges issued,
 * each followed by a space, so that ending the session revokes them. */
#define K_SESSION_AT "sat:"
/* The newest access tokens a session keeps track of; an older one is no
 * longer revoked with its session and lives out its own lifetime. 32: more
 * services than a citizen visits within one token lifetime, and a list
 * small enough to rewrite on every exchange (at 256, the 16 kB rewrite
 * halved a looping service's code exchanges with Redis in make bench). */
#define SESSION_AT_MAX 32
#define SESSION_AT_ENTRY 65 /* 64 hex digits and a space */

/* The SSO session of this browser, NULL when none (or expired). *sid_hash
 * receives the store key suffix. The caller owns *sess. */
json_t *session_load(struct req *r, char sid_hash[65]);
/* The same, from the process's copy when it has one (marked "cached": the
 * batch that stores a code then requires the session, and a *missing answer
 * of code_issue may mean it has ended: read it again with
 * session_load). */
json_t *session_load_cached(struct req *r, char sid_hash[65]);
void session_cache_drop(const char *sid_hash);
/* Creates a session for identity and sets the cookie; returns its record.
 * consume_key: a store record (the login transaction) deleted in the same
 * round trip; when it is already gone (a concurrent post won) no session is
 * made and *gone is set. NULL: nothing to consume. */
json_t *session_create(struct req *r, const char *backend_id, const char *acr,
		       const char *local_sub, struct idp_identity *id, char sid_hash[65],
		       const char *consume_key, bool *gone);
/* Ends the session (logout, or a new login in this browser): deletes it and
 * the access tokens issued in it, in one round trip, and drops the cookie. */
void session_destroy(struct req *r, const char *sid_hash);
/* The remaining lifetime of a session created at created: the idle timeout,
 * capped by the absolute lifetime. */
unsigned session_ttl(const struct config *cfg, int64_t created);

/* CSRF token bound to purpose, an id and a browser secret (cookie). */
void csrf_token(const char *purpose, const char *id, const char *bind, char out[44]);
bool csrf_check(const char *purpose, const char *id, const char *bind, const char *token);

/* The subject a client sees (pairwise per sector unless the client is public). */
char *subject_for(const struct config *cfg, const struct client *cl, const char *local_sub);
/* The claims of identity released for scope, plus those named in requested
 * (a "userinfo" or "id_token" member of the claims parameter). */
json_t *claims_for_scope(const json_t *identity, const char *scope, const json_t *requested);
/* What the citizen releases to a client for a request: the claims of scope
 * plus those named in claims_req's userinfo and id_token members (filtered by
 * claims_request_filter at /authorize). The consent page lists exactly this
 * and remembered consent covers exactly this. The caller owns it. */
json_t *claims_released(const json_t *identity, const char *scope, const json_t *claims_req);
/* A jansson value written as JSON text (IDP_EINVAL when v is NULL), and an
 * object's members as ,"name":value each (no comma before the first when
 * first). */
int buf_json_value(struct buf *b, const json_t *v);
int buf_json_members(struct buf *b, bool first, const json_t *obj);
/* True when some scope covers claim (an identity claim, not a protocol one). */
bool claim_of_scope(const char *claim);
/* True when claim belongs to a scope cl may use (all scopes when unrestricted). */
bool client_may_claim(const struct client *cl, const char *claim);
/* A copy of the claims parameter without the claims cl may not receive
 * (sub and acr kept: they steer the request). The caller owns it. */
json_t *claims_request_filter(const struct client *cl, const json_t *claims);
/* The hash that names code's records in the store, bound to the client it
 * is issued to: another client presenting the code finds nothing, so it can
 * neither use nor burn it. */
int code_hash(const char *client_id, const char *code, char out[65]);

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
 * credentials at all). A failed secret is logged and counted. */
int client_authenticate(struct req *r, const struct params *form, const struct client **out,
			struct client_auth_fail *f);

/* claims.id_token.acr is asked as essential (OpenID Core 5.5.1.1): a level
 * not reached is an error, never silently ignored. */
bool acr_essential(const json_t *claims);
/* True when every space-separated word of scope is a supported scope cl may use. */
bool client_scope_ok(const struct client *cl, const char *scope);
/* The sid cl sees for a session (OpenID Front/Back-Channel Logout): keyed
 * hash of the session hash and cl's sector, so that two sectors cannot link
 * a citizen by it. */
void sid_for(const struct config *cfg, const struct client *cl, const char *sid_hash, char out[65]);
/* True when the JWS header says typ at+jwt (RFC 9068) or cannot be read:
 * such a token is no id_token_hint. */
bool jws_is_access_token(const char *jws);
/* The longest id_token_hint taken (/authorize, /logout), checked before it
 * is decoded: our ID tokens are about 1 KB. */
#define ID_TOKEN_HINT_MAX 8192
bool scope_has(const char *scope, const char *word);
/* Supported scopes as a JSON array and the claims they cover. */
json_t *scopes_supported(void);
json_t *claims_supported(void);

#endif
