/* SPDX-License-Identifier: EUPL-1.2 */
/* Refresh tokens (RFC 6749 6, OpenID Core 11 and 12): issued with
 * offline_access only, to confidential clients (every client here has a
 * secret), rotated at each use (RFC 9700 4.14.2). The tokens of one login
 * form a family: the family's record must exist for any of them to be used,
 * so deleting it ends them all at once, and with it the access tokens the
 * family issued (listed beside it). A token presented after its rotation
 * ends its family: either its client or a thief holds a copy.
 *
 * Their records outlive the SSO session: offline access is meant to go on
 * while the citizen is away (OpenID Core 11), so logout and idpctl
 * sessions revoke leave them; /revoke ends a family, and so do the
 * citizen's withdrawal of the service's consent on /account
 * (ledger_consent_withdraw) and idpctl tokens revoke, through the index of
 * families by citizen and service (K_RT_SC). */
#ifndef IDP_REFRESH_H
#define IDP_REFRESH_H

#include "idp.h"
#include "record.h"

/* K_RT + code_hash(client, token) (code.h): a refresh token's record, named
 * for its client like a code, so that another client presenting it finds
 * nothing and can neither use nor burn it. Its fields (record.h): family
 * (f, 64 hex digits), client (c), absolute expiry of the family (e), scope
 * granted (o), local subject (u), the ID token's claims of the login (i,
 * JSON members without the nonce) and those the claims parameter asked for
 * in it (x), the userinfo answer (a). */
#define K_RT "rt:"
/* K_RT_USED + the same hash: a token rotated away; its value is the family. */
#define K_RT_USED "rtu:"
/* K_RT_FAMILY + family: the family is alive while this record is. Its
 * fields: client (c), local subject (u), created (t), last used (l),
 * absolute expiry (e); rewritten at each rotation. */
#define K_RT_FAMILY "rtf:"
/* K_RT_AT + family: the K_AT hashes the family issued, each and a space. */
#define K_RT_AT "rta:"
/* K_RT_SC + ledger_sc_hash(subject, client): the families a client holds
 * for a citizen, each 64 hex digits and a space, written in the round trip
 * that starts the family, living as long as the longest of them. The
 * newest REFRESH_SC_MAX are kept; an older one is ended as it drops out
 * (store.h, APPEND with to) rather than refused: a service that logs the
 * citizen in again keeps offline access with its newest grants, and no
 * family outlives its entry, so a withdrawal reaches them all. */
#define K_RT_SC "rtsc:"
#define REFRESH_SC_MAX 8
#define REFRESH_SC_ENTRY 65
/* The longest refresh token accepted from outside: ours are 43 characters. */
#define REFRESH_TOKEN_MAX 512

/* What a new family starts from (the code's record): the fields above. */
struct refresh_grant {
	const char *scope, *sub, *idc, *x, *userinfo;
	size_t idc_len, x_len, userinfo_len;
};

/* A new family id (64 hex digits, random). false: no randomness. */
bool refresh_family_new(char family[65]);

/* Starts family (refresh_family_new) for client cl: stores a new refresh
 * token for grant g, lists access token at_h (K_AT hash) in the family and
 * the family under the citizen and the client (K_RT_SC), in one round
 * trip. *token: the refresh token (the caller's; free_secret). */
int refresh_issue(const struct config *cfg, const struct client *cl, const char family[65],
		  const struct refresh_grant *g, const char *at_h, char **token);

/* Reads the record of refresh token tok presented by client cl. *raw: its
 * text as stored (the caller's: wipe and free), *text a copy parsed into
 * *rec (the caller's too); hash receives the token's hash. IDP_ENOTFOUND:
 * unknown, expired or of another client; a token rotated away also ends its
 * family (*reused set). IDP_EIO: the store did not answer. */
int refresh_load(const struct client *cl, const char *tok, char hash[65], char **raw, size_t *raw_len,
		 char **text, struct record *rec, bool *reused);

/* Rotates the token whose hash is old_hash (its record raw, raw_len, and
 * parsed, grant, from refresh_load): in one round trip the old one is
 * consumed (of two concurrent uses, one goes on), the family must still
 * live, the old one is marked used, the new token's record (the same
 * grant) and the new access token's record (at_key, at_rec, at_ttl) are
 * stored, the access token listed in the family and under the citizen and
 * the client (ledger.h: K_AT_SC, which a withdrawal ends), the family's
 * last use noted. IDP_ENOTFOUND: used meanwhile (its family is then ended:
 * *reused) or the family has ended. *token: the new refresh token (the
 * caller's). */
int refresh_rotate(const struct config *cfg, const char old_hash[65], const char *raw, size_t raw_len,
		   const struct record *grant, const struct client *cl, const char *at_key, const char *at_h,
		   const char *at_rec, size_t at_len, char **token, bool *reused);

/* Ends family: its refresh tokens and the access tokens it listed. */
int refresh_family_revoke(const char *family);

/* A live family, as /account and idpctl tokens show it: never a token. */
struct refresh_family {
	char family[65];
	char client[128];
	long long created, used, expires; /* used: 0 when never refreshed */
};

/* The live families of citizen sub (local subject) at client, or at every
 * client that may refresh when client is NULL, from the index (K_RT_SC):
 * *out (the caller's, free) holds *n of them. A few round trips: the
 * clients' lists, then the families, STORE_BATCH_MAX a trip. */
int refresh_families(struct store *st, const struct config *cfg, const char *sub, const char *client,
		     struct refresh_family **out, size_t *n);

/* Ends the families refresh_families finds (*n: how many were live), with
 * the access tokens they issued, and their index. */
int refresh_families_end(struct store *st, const struct config *cfg, const char *sub, const char *client,
			 size_t *n);

/* /revoke: ends the family of refresh token tok of client cl (also when
 * tok was rotated away). IDP_ENOTFOUND: no refresh token of cl. */
int refresh_revoke(const struct client *cl, const char *tok);

#endif
