/* SPDX-License-Identifier: EUPL-1.2 */
/* The one-time authorization code (OpenID Core 3.1.2.5): its records in the
 * store, written once at /authorize for /token to use, and the redirect that
 * carries it to the service. */
#ifndef IDP_CODE_H
#define IDP_CODE_H

#include "authz_req.h"
#include "record.h"
#include "session.h"

/* Store key prefixes. Secrets are keyed by their SHA-256, never in clear.
 * K_CODE + code_hash(client, code): the code's record. */
#define K_CODE "code:"
/* K_CODE_AT + code hash: the record the code's access token will have (less
 * its exp), moved to K_AT by the exchange, in the round trip that takes the
 * code. */
#define K_CODE_AT "cat:"
/* A code's record begins with its session's hash (record.h: "R1;s64:"),
 * so that the exchange reaches the session in the round trip that takes
 * the code (store_op.taken_off): the offset of those 64 hex digits. */
#define CODE_SID_OFF (sizeof(RECORD_TAG) - 1 + sizeof("s64:") - 1)
/* Next, ledger_sc_hash of the citizen and the client (ledger.h), so that
 * the exchange lists its access token under them (K_AT_SC) in the same
 * round trip: withdrawing the consent revokes it. */
#define CODE_SC_OFF (CODE_SID_OFF + 64 + sizeof(";w64:") - 1)
/* Then the SHA-256 of the citizen's local subject: the exchange lists its
 * release (ledger.h: K_RELEASES) in the same round trip. */
#define CODE_SUB_OFF (CODE_SC_OFF + 64 + sizeof(";v64:") - 1)
/* K_USED + code hash: a code already exchanged (its replay revokes the
 * tokens). K_AT (session.h) + token hash: an access token's record. */
#define K_USED "used:"

/* The hash that names code's records in the store, bound to the client it
 * is issued to: another client presenting the code finds nothing, so it can
 * neither use nor burn it. */
int code_hash(const char *client_id, const char *code, char out[65]);

/* Mints a code for request a and session sess and stores its records in one round trip, which also requires
 * consent_key (a remembered consent; NULL: none needed) and, for a session
 * read from the process's copy, the session itself, and slides the
 * session's idle lifetime. *location: the redirect to the client (the
 * caller's). IDP_ENOTFOUND: a required record is missing, nothing stored. */
int code_issue(const struct config *cfg, const struct client *cl, const struct authz_req *a,
	       const struct session *sess, const char *consent_key, char **location);

#endif
