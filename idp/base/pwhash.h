/* SPDX-License-Identifier: EUPL-1.2 */
/* argon2id password verification for the identity backends (host->
 * argon2id_verify), with libargon2 and memory kept between hashes. */
#ifndef IDP_PWHASH_H
#define IDP_PWHASH_H

#include <stddef.h>

/* Checks password against an encoded argon2id hash
 * ("$argon2id$v=19$m=M,t=T,p=P$SALT$HASH", as libargon2 and idpctl write
 * it). Same answers as libargon2's argon2id_verify: ARGON2_OK on a match,
 * ARGON2_VERIFY_MISMATCH, or another ARGON2_* error. Safe from any thread. */
int pwhash_verify(const char *encoded, const char *password, size_t len);

/* The hash memory kept for the next verification: buffers held now (idle,
 * ready) and their bytes; for the metrics and the tests. */
void pwhash_kept(size_t *buffers, size_t *bytes);

/* Gives back every idle buffer at once (tests, shutdown). */
void pwhash_release(void);

#endif
