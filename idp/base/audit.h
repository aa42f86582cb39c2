/* SPDX-License-Identifier: EUPL-1.2 */
/* Audit events: one JSON object per line (README "Audit events"), written to
 * the file of "audit": {"file": PATH} or to stderr with the prefix
 * AUDIT_PREFIX, so that journald's copy can be told from the log. Each event
 * is one write(2) of a bounded line, O_APPEND, never fsync'ed: cheap enough
 * for the request path, and lines of several processes never mix.
 *
 * The file's lines are a chain (README "The audit chain"): each begins with
 * {"seq":N,"prev":"<SHA-256 hex of the previous line's bytes>", read back
 * from the file's tail under an exclusive flock, so that the daemon and
 * idpctl writing to one file keep one chain, across restarts too. Every
 * audit.checkpoint_every events, or at the first event audit.checkpoint_s
 * after the last checkpoint, a process with a signer adds an
 * "event":"checkpoint" line whose "jws" signs {"iss","seq","prev"} of that
 * line. Lines on stderr are not chained (journald has its own order). */
#ifndef IDP_AUDIT_H
#define IDP_AUDIT_H

#include "config.h"

#define AUDIT_PREFIX "IDP-AUDIT "
/* The longest line written; a longer event is cut to its first members and
 * marked "truncated": true. */
#define AUDIT_LINE_MAX 2048
/* The longest value of a member; longer ones are cut at a UTF-8 boundary. */
#define AUDIT_VALUE_MAX 256

/* Opens (or, on SIGHUP, reopens for log rotation) what cfg->audit names;
 * nothing when the configuration has no "audit". The keyed hash of
 * usernames and subjects takes its key from pairwise_secret. */
int audit_open(const struct config *cfg);
void audit_close(void);
/* Writes event with the members that follow as name, value pairs of
 * strings, ended by NULL; a NULL value leaves its member out. The values
 * of "user" and "sub" are written as their keyed hash, never as given;
 * ip: the client's address (NULL: none). */
void audit_event(const char *event, const char *ip, ...) __attribute__((sentinel));
/* The keyed hash audit lines carry for a username or subject (32 hex
 * digits), so that an operator can find a citizen's lines. */
void audit_hash(const char *value, char out[33]);
/* Signs payload (JSON, len bytes) as a compact JWS in *jws (malloc'ed, the
 * caller's). Called with the audit's locks held: it must not write an
 * audit event. */
typedef int (*audit_signer)(const char *payload, size_t len, char **jws);
/* The checkpoints' signer (the daemon's active key); NULL: no checkpoints. */
void audit_set_signer(audit_signer fn);

#endif
