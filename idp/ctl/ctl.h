/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl's parts: the options parsed once by main (idpctl.c), the helpers
 * every command group uses, and one entry point per group (ctl_*.c). */
#ifndef IDP_CTL_H
#define IDP_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "idp.h"
#include "audit.h"
#include "session.h"

struct store;

/* The command line's options, shared by every command group. */
struct ctl_opts {
	const char *config;   /* --config, "conf/demo.json" by default */
	const char *keys_dir; /* --keys-dir */
	const char *users;    /* --users: a users file instead of the first file backend's */
	const char *claims;   /* --claims JSON */
	const char *user;     /* --user */
	const char *sid;      /* --sid */
	const char *client;   /* --client: tokens list and revoke, one service */
	const char *jwks;     /* --jwks URL|FILE: receipts verify */
	bool force;           /* --force */
	const char *pkcs11;   /* --pkcs11 URI: keys import of a key in a token */
	const char *from, *to; /* --from, --to */
	bool csv;             /* --csv */
	bool events;          /* --events: stats of pages and failures */
	enum sign_alg alg;    /* --alg, ALG_NONE when not given */
	const char *qr;       /* --qr FILE: users totp-enrol writes the QR code there (SVG) */
	bool secret_stdin;    /* --secret-stdin: users totp-enrol takes a base32 secret on stdin */
	const char *argon2;   /* --argon2 T:M_KIB:P, users add and passwd (IDPCTL_ARGON2 otherwise) */
};
extern struct ctl_opts opt;

/* The commands and options, on f (stdout for --help, stderr after a mistake). */
void usage(FILE *f);
/* "idpctl: MESSAGE" on stderr; returns 1, the exit status. */
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An admin action in the configuration's audit trail, if it has one. */
void audit_admin(const struct config *cfg, const char *action, const char *kid, const char *sub,
		 const char *sid, const char *client, int rc);
/* A secret read from stdin (or a prompt without echo on a terminal). */
char *read_secret(const char *prompt);
/* The configuration's store, refused unless nodes share it (redis). */
int open_shared_store(const struct config *cfg, struct store *st, const char *what);
/* Its end: rc said, sub wiped, st and cfg closed; 0 on success, else 1. */
int close_shared_store(int rc, char *sub, struct store *st, struct config *cfg);
/* The subject of a citizen named by username, BACKEND:SUBJECT or pivot:HEX. */
char *local_subject(const struct config *cfg, const char *user);

int cmd_keys(int argc, char **argv);     /* ctl_keys.c */
int cmd_users(int argc, char **argv);    /* ctl_users.c */
int cmd_audit_hash(void);                /* ctl_users.c */
/* The users file of --users or of the configuration's first file backend
 * (*cfg: the configuration, when it was read); written back whole, 0600,
 * by a rename. */
char *users_path(struct config **cfg);
int write_users(const char *path, json_t *root);
int cmd_totp(int argc, char **argv);     /* ctl_totp.c: users totp-enrol, totp-remove */
int cmd_clients(int argc, char **argv);  /* ctl_clients.c */
int cmd_sessions(int argc, char **argv); /* ctl_sessions.c */
int cmd_tokens(int argc, char **argv);   /* ctl_tokens.c */
int cmd_status(void);                    /* ctl_status.c */
int cmd_stats(void);                     /* ctl_status.c */
int cmd_audit(int argc, char **argv);    /* ctl_audit.c */
int cmd_receipts(int argc, char **argv); /* ctl_receipts.c */

#endif
