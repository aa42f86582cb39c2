/* SPDX-License-Identifier: EUPL-1.2 */
/* The SSO session of a browser: one typed struct, its stored form written by
 * session_encode and read back only by session_decode, the process's copy
 * of recent sessions, and the session's life (created at a login, slid by
 * each code, ended by logout or a new login). */
#ifndef IDP_SESSION_H
#define IDP_SESSION_H

#include "idp.h"

/* Store key prefixes. A session is keyed by the SHA-256 of its first
 * cookie, never by the cookie itself; once its level is raised
 * (session_raise) its cookie is that hash, SESSION_COOKIE_SEP and a new
 * secret whose SHA-256 the record holds ("ck"). */
#define K_SESSION "sess:"
/* K_AT + an access token's hash: its record (access_token.c). Declared
 * here, below the code, because ending a session deletes its tokens' records. */
#define K_AT "at:"
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
/* K_SUBJECT + SHA-256 of a local subject: the hashes of the sessions made
 * for it, each followed by a space (idpctl sessions). Appended in the round
 * trip that stores the session; it lives as long as the longest-lived
 * session it names, and names ended sessions too (readers skip them). */
#define K_SUBJECT "ssub:"
/* The newest sessions of a subject it keeps: more browsers than a citizen
 * uses within a session's lifetime. */
#define SESSION_SUBJECT_MAX 32

/* The longest subject, backend id, acr or amr a session holds: what a
 * backend returns is refused past it when the session is made, so that the
 * decoder never refuses what the encoder wrote. */
#define SESSION_TEXT_MAX 4096
/* The most methods a session's amr lists. */
#define SESSION_AMR_MAX 4
/* Between the session's hash and the secret in a raised session's cookie. */
#define SESSION_COOKIE_SEP '.'

struct session {
	char sid_hash[65];  /* SHA-256 of the first cookie: the store key's suffix */
	char ck[65];        /* SHA-256 of a raised session's cookie secret; "": never raised */
	char *sub;          /* the local subject (identity_local_subject) */
	char *backend;      /* the backend that authenticated the citizen */
	char *acr;          /* the level reached */
	char *amr;          /* the authentication methods, words one space apart ("pwd otp") */
	int64_t auth_time;  /* when the citizen authenticated */
	int64_t created;    /* when the session was made (its absolute limit) */
	json_t *claims;     /* the backend's identity claims: an object, bounded when they entered */
	json_t *up;         /* the backend's session data (an upstream ID token...), NULL: none */
	/* Not stored: how this copy was obtained. */
	bool cached;        /* from the process's copy: the batch storing a code requires it */
	bool fresh;         /* made by this request: its idle lifetime was just set */
};

/* The stored form of s (JSON text, the caller wipes and frees it), the one
 * the daemon always wrote: {"sub","backend","claims","acr","amr":[methods],
 * "auth_time","created","sid":32 hex digits of sid_hash,"up"?,"ck"?}.
 * IDP_EINVAL when a field is missing or out of bounds, IDP_ETOOBIG when the
 * record would be. */
int session_encode(const struct session *s, char **text, size_t *len);
/* The one reader of that form: text (len bytes, left as it is) read as the
 * session whose key suffix is sid_hash. IDP_EINVAL (logged with a tag of the
 * key) for anything else: not JSON, too large or deep, a member missing, of
 * the wrong type or out of bounds, a "sid" naming another session. Unknown
 * members are ignored, for a newer daemon's records. *out is zeroed first
 * and on error. */
int session_decode(const char *text, size_t len, const char *sid_hash, struct session *out);
/* Frees s and what it holds, wiping the session's hash, subject, claims and
 * backend data first. NULL: nothing. */
void session_free(struct session *s);

/* The SSO session of this browser, NULL when none (or expired). The
 * caller frees it (session_free). */
struct session *session_load(struct req *r);
/* The same, from the process's copy when it has one (s->cached: the batch
 * that stores a code then requires the session, and a missing answer of
 * code_issue may mean it has ended: read it again with session_load). */
struct session *session_load_cached(struct req *r);
void session_cache_drop(const char *sid_hash);
/* Creates a session for identity id, authenticated by backend_id at acr as
 * local_sub, and sets the cookie; returns it (s->fresh), holding copies of
 * id's claims and session data. consume_key: a
 * store record (the login transaction) deleted in the same round trip; when
 * it is already gone (a concurrent post won) no session is made and *gone
 * is set. NULL: nothing to consume. */
/* client_id: the service the login is for, counted in the usage statistics
 * (session_stats_key) in the same round trip; NULL: not counted (a login
 * that goes on to its second factor is counted when session_raise raises
 * it). */
struct session *session_create(struct req *r, const char *client_id, const char *backend_id,
			       const char *acr, const char *local_sub, const struct idp_identity *id,
			       const char *consume_key, bool *gone);
/* Raises session sess to level acr with methods amr, authenticated now,
 * in place: the same record (same id, subject, claims, creation), so that
 * the citizen's list of sessions and the services it logged in to
 * (back-channel logout) keep one entry; but a new cookie, the old one no
 * longer opening it (a privilege change: a cookie stolen before it must
 * not gain the level). In one round trip: the session
 * must still exist, consume_key (the second factor's transaction, NULL:
 * none) is consumed, the record rewritten, the login counted for
 * client_id at acr (session_stats_key). Returns the raised session (the
 * caller's, s->fresh); NULL on failure, with *gone set when the session or
 * the transaction was gone (a logout, or a concurrent post, won). */
struct session *session_raise(struct req *r, const struct session *sess, const char *client_id,
			      const char *acr, const char *amr, const char *consume_key, bool *gone);
/* Usage statistics (idpctl stats): one counter per hour (UTC), service,
 * backend and level, counted in the batch that stores the session (no round
 * trip of its own), kept SESSION_STATS_TTL_S. No identifier, no address:
 * only how many. */
#define SESSION_STATS_TTL_S (35 * 86400)
/* The record of hour (seconds since the epoch / 3600); false when the names
 * do not fit a key (then nothing is counted). */
bool session_stats_key(char *buf, size_t size, int64_t hour, const char *client_id,
		       const char *backend_id, const char *acr);
/* Ends the session (logout, or a new login in this browser): deletes it and
 * the access tokens issued in it, in one round trip, and drops the cookie. */
void session_destroy(struct req *r, const char *sid_hash);
/* Without a request (idpctl, on any node's store): the live sessions of
 * local subject sub, newest last, at most SESSION_SUBJECT_MAX (*out: the
 * caller's, each freed by session_free, the array by free). */
int session_list_subject(struct store *st, const char *sub, struct session ***out, size_t *n);
/* Ends session sid_hash as logout does: it and its access tokens, in one
 * round trip. */
int session_end_in(struct store *st, const char *sid_hash);
/* Ends every live session of sub (and its access tokens) and forgets the
 * index; *ended: how many there were. */
int session_end_subject(struct store *st, const char *sub, size_t *ended);

/* The remaining lifetime of a session created at created: the idle timeout,
 * capped by the absolute lifetime. */
unsigned session_ttl(const struct config *cfg, int64_t created);

#endif
