/* SPDX-License-Identifier: EUPL-1.2 */
/* OpenID Connect Back-Channel Logout 1.0: when an SSO session ends (logout,
 * idpctl sessions revoke, expiry), each service it logged in to that
 * registered a backchannel_logout_uri gets a signed logout token, POSTed
 * off the request path by a sender thread with bounded retries.
 *
 * The store remembers, per session, the services to tell (K_BCL) and the
 * local subject (K_BCS), and lists sessions to look at in time buckets
 * (K_BCX): a session's expected end when a code is issued, now when it is
 * ended. The sweeper (one thread per node) takes each bucket whose time has
 * come; a listed session that is gone has its K_BCL taken (atomically: one
 * node of several sends), one still alive is listed again for later. */
#ifndef IDP_BACKCHANNEL_H
#define IDP_BACKCHANNEL_H

#include "idp.h"
#include "store.h"

#define K_BCL "bcl:"    /* + session hash: the SHA-256 of each client id, each followed by a space */
#define K_BCS "bcs:"    /* + session hash: the local subject (for the pairwise sub) */
#define K_BCX "bcx:"    /* + bucket number: session hashes to look at, each followed by a space */
#define BCL_BUCKET_S 10
/* Services told per session: more than a citizen visits in one session. */
#define BCL_CLIENTS_MAX 64
/* Sessions one bucket lists; past it the oldest entries drop (counted as
 * dropped when noticed: a session then ends without its notices). */
#define BCL_BUCKET_MAX 8192
#define BCL_ENTRY 65 /* 64 hex digits and a space */
/* Queued logout tokens (sent, waiting for a retry or in flight); a full
 * queue drops the newest (counted, audited). */
#define BCL_QUEUE_MAX 1024
#define BCL_ATTEMPTS 3
#define BCL_TIMEOUT_MS 2000

/* The writes that record, in code_issue's batch, that session sess_hash
 * (local subject sub) logged in to cl, and list the session in the bucket of
 * expires_at: at most 3 ops into ops (bufs: storage that must outlive the
 * batch). Returns how many ops were written (0: cl has no
 * backchannel_logout_uri). */
struct bcl_bufs {
	char lkey[80], skey[80], xkey[80], centry[BCL_ENTRY + 1], sentry[BCL_ENTRY + 1];
};
size_t bcl_code_ops(const struct config *cfg, const struct client *cl, const char *sid_hash,
		    const char *sub, int64_t expires_at, struct bcl_bufs *b, struct store_op *ops);
/* After that batch is stored: the pair needs no new append from this
 * process (a service a session returns to at each login is listed once,
 * not once per code: the list's oldest entries drop past BCL_CLIENTS_MAX). */
void bcl_code_stored(const struct client *cl, const char *sid_hash);
/* The write that lists ended session sid_hash in the current bucket (in the
 * batch that ends it; one op into op). */
void bcl_end_op(const char *sid_hash, struct bcl_bufs *b, struct store_op *op);

/* Start and stop the sweeper and the sender (the daemon only). */
int backchannel_start(void);
void backchannel_stop(void);

/* The logout token for cl (the caller's, NULL on error): iss, aud, iat, exp,
 * jti, events, sid (of this client) and sub when sub is not NULL; typ
 * logout+jwt, signed with the key of cl's id_token_signed_response_alg. */
char *bcl_logout_token(const struct rt *rt, const struct client *cl, const char *sid_hash,
		       const char *local_sub);

#endif
