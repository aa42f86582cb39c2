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
 * sessions revoke leave them; /revoke ends a family. */
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
/* K_RT_FAMILY + family: the family is alive while this record is. */
#define K_RT_FAMILY "rtf:"
/* K_RT_AT + family: the K_AT hashes the family issued, each and a space. */
#define K_RT_AT "rta:"
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
 * token for grant g and lists access token at_h (K_AT hash) in the family,
 * in one round trip. *token: the refresh token (the caller's; free_secret). */
int refresh_issue(const struct config *cfg, const struct client *cl, const char family[65],
		  const struct refresh_grant *g, const char *at_h, char **token);

/* Reads the record of refresh token tok presented by client cl. *raw: its
 * text as stored (the caller's: wipe and free), *text a copy parsed into
 * *rec (the caller's too); hash receives the token's hash. IDP_ENOTFOUND:
 * unknown, expired or of another client; a token rotated away also ends its
 * family (*reused set). IDP_EIO: the store did not answer. */
int refresh_load(const struct client *cl, const char *tok, char hash[65], char **raw, size_t *raw_len,
		 char **text, struct record *rec, bool *reused);

/* Rotates the token whose hash is old_hash (its record raw, raw_len, from
 * refresh_load; family and abs_exp read from it): in one round trip the old
 * one is consumed (of two concurrent uses, one goes on), the family must
 * still live, the old one is marked used, the new token's record (the same
 * grant) and the new access token's record (at_key, at_rec, at_ttl) are
 * stored and the access token listed in the family. IDP_ENOTFOUND: used
 * meanwhile (its family is then ended: *reused) or the family has ended.
 * *token: the new refresh token (the caller's). */
int refresh_rotate(const struct config *cfg, const char old_hash[65], const char *raw, size_t raw_len,
		   const char *family, long long abs_exp, const struct client *cl, const char *at_key,
		   const char *at_h, const char *at_rec, size_t at_len, char **token, bool *reused);

/* Ends family: its refresh tokens and the access tokens it listed. */
int refresh_family_revoke(const char *family);

/* /revoke: ends the family of refresh token tok of client cl (also when
 * tok was rotated away). IDP_ENOTFOUND: no refresh token of cl. */
int refresh_revoke(const struct client *cl, const char *tok);

#endif
