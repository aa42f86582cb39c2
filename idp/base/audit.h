/* SPDX-License-Identifier: EUPL-1.2 */
/* Audit events: one JSON object per line (README "Audit events"), written to
 * the file of "audit": {"file": PATH} or to stderr with the prefix
 * AUDIT_PREFIX, so that journald's copy can be told from the log. Each event
 * is one write(2) of a bounded line, O_APPEND, never fsync'ed: cheap enough
 * for the request path, and lines of several processes never mix. */
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

#endif
