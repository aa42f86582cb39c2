/* SPDX-License-Identifier: EUPL-1.2 */
/* An access token's record, found by the token's hash (session.h: K_AT): the
 * one lookup /userinfo, /introspect and /revoke share. */
#ifndef IDP_ACCESS_TOKEN_H
#define IDP_ACCESS_TOKEN_H

#include "idp.h"
#include "record.h"

/* The longest token accepted from outside: ours are 43 characters. */
#define ACCESS_TOKEN_MAX 512

/* Reads the record of access token tok into *rec (record.h; its values live
 * in *text, the caller's: wipe and free it, also on failure). IDP_OK: a
 * record naming its client and userinfo answer, not expired; key (80 bytes)
 * receives its store key. IDP_ENOTFOUND: unknown, expired, unreadable or
 * oversized; IDP_EIO: the store did not answer. Records written as JSON by
 * earlier versions are read too. */
int access_token_load(const char *tok, char key[80], char **text, size_t *len, struct record *rec);

#endif
