/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl: the administrator's command (keys, users of the file backend,
 * clients and their secrets, sessions, status, usage statistics). Passwords
 * and secrets are read from stdin or a prompt, never from the command line
 * (argv is visible to every local user). */
#include "ctl.h"

#include <errno.h>
#include <pwd.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

struct ctl_opts opt = {.config = "conf/demo.json", .alg = ALG_NONE};

void usage(FILE *f)
{
	fprintf(f,
		"usage: idpctl [--config FILE] COMMAND\n"
		"  keys init [--keys-dir DIR]      create an active and a next key per algorithm (ES256, RS256)\n"
		"  keys list [--keys-dir DIR]      kid, alg, state, created, activated, removed at\n"
		"  keys status                     the same, plus each service's readiness for the next keys\n"
		"  keys rotate [--alg A] [--force] next -> active -> retiring, a new next; waits for lagging services\n"
		"  keys revoke KID                 emergency: out of the JWKS at once, signing moves on\n"
		"  keys import FILE --alg A        a PEM key made elsewhere, as the next key\n"
		"  keys import --pkcs11 URI --alg A  a key in a PKCS#11 token (pkcs11:token=...;object=...), as the\n"
		"                                  next key; module and PIN: key_rotation.pkcs11_module, pkcs11_pin_file\n"
		"  keys remove KID                 a retiring key whose tokens have all expired\n"
		"  (exit status 3: refused or waiting, see the message)\n"
		"  users add USER [--users FILE] [--claims JSON]   password read from stdin or a prompt\n"
		"  users passwd USER [--users FILE]\n"
		"  (users add, passwd: --argon2 T:M_KIB:P, argon2id's cost, default 3:65536:4 (RFC 9106);\n"
		"   IDPCTL_ARGON2 in the environment otherwise)\n"
		"  users del USER [--users FILE]\n"
		"  users totp-enrol USER [--qr FILE.svg] [--force]   a TOTP second factor: prints its secret\n"
		"                                            and otpauth:// URI (--qr: as a QR code, 0600)\n"
		"         [--secret-stdin]                  the citizen's existing base32 secret, not a new one\n"
		"  users totp-remove USER\n"
		"  clients new-secret              print a new random client secret and its SHA-256\n"
		"  clients hash-secret             read a secret on stdin, print its SHA-256\n"
		"  clients list | show ID          the clients of the configuration and of its clients_file\n"
		"  clients add ID                  a client (JSON object) read from stdin, into clients_file\n"
		"  clients set ID                  fields (JSON object) read from stdin replace the client's; null removes one\n"
		"  clients remove ID\n"
		"  clients new-secret ID           a new secret printed once, its SHA-256 stored in clients_file\n"
		"  (every change is checked with the whole configuration first; the daemon reloads within a second)\n"
		"  sessions list --user U          a citizen's live sessions on every node (redis store)\n"
		"  sessions revoke --user U | --sid HASH   ends them and their access tokens\n"
		"                                  (not offline access: refresh tokens outlive sessions)\n"
		"  tokens list --user U [--client ID]     a citizen's refresh token families (offline access):\n"
		"                                  service, created, last used, expires; never a token (redis store)\n"
		"  tokens revoke --user U [--client ID]   ends them, with the access tokens they issued\n"
		"  (U: a local subject, BACKEND:SUBJECT or pivot:HEX, or a username of a file backend)\n"
		"  status                          nodes (heartbeats), the store's role, keys and readiness, backends\n"
		"  stats --from DATE --to DATE [--csv]   logins per hour, service, backend and level (redis store;\n"
		"                                  DATE: YYYY-MM-DD or YYYY-MM-DDTHH, UTC; counts under 5 not shown)\n"
		"  stats --events --from DATE --to DATE [--csv]   pages shown, answered and abandoned (choice, login, otp,\n"
		"                                  consent), consents refused, failures by cause, per hour\n"
		"  audit-hash                      read a username or subject on stdin, print its hash in audit lines\n"
		"  audit verify [FILE]             the audit chain: names a line removed, altered or out of order;\n"
		"                                  checks the signed checkpoints (FILE: the configuration's audit file)\n"
		"  receipts verify FILE [--jwks URL|FILE]   a receipt from /account, checked against the\n"
		"                                  provider's published JWKS (https URL or file), else the keys folder\n"
		"The users file defaults to the first \"file\" backend of the configuration.\n"
		"Options begin with --; a KID may begin with - (\"--\" also ends the options).\n");
}

int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "idpctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

/* An admin action in the audit trail of cfg (nothing when it has none or
 * cfg is NULL): who ran it (the login of the uid), what, on what, and how
 * it ended. */
void audit_admin(const struct config *cfg, const char *action, const char *kid, const char *sub,
			const char *sid, const char *client, int rc)
{
	const struct passwd *pw = getpwuid(getuid());
	char uid[24];

	if (cfg == NULL || audit_open(cfg) != IDP_OK)
		return;
	snprintf(uid, sizeof(uid), "uid %u", (unsigned)getuid());
	audit_event("admin", NULL, "action", action, "actor", pw != NULL ? pw->pw_name : uid, "kid", kid,
		    "sub", sub, "sid", sid, "client", client, "result", rc == IDP_OK ? "done" : rc == IDP_EDENIED ? "refused" : "failed",
		    NULL);
	audit_close();
}

/* One line from stdin, or a prompt without echo when stdin is a terminal. */
char *read_secret(const char *prompt)
{
	char buf[1100];
	struct termios old, noecho;
	bool tty = isatty(STDIN_FILENO);
	size_t n;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		tcgetattr(STDIN_FILENO, &old);
		noecho = old;
		noecho.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSANOW, &noecho);
	}
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		buf[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSANOW, &old);
		fputc('\n', stderr);
	}
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	{
		char *s = strdup(buf);

		wipe(buf, sizeof(buf));
		return s;
	}
}

/* cfg's store, when other processes can see it: the memory store lives in
 * the daemon's own process, out of idpctl's reach (an admin endpoint on the
 * daemon would be a new door into it: the shared store is the way). */
int open_shared_store(const struct config *cfg, struct store *st, const char *what)
{
	if (strcmp(json_string_value(json_object_get(cfg->store, "driver")) ?: "memory", "redis") != 0) {
		fprintf(stderr, "idpctl: %s needs the redis store: the memory store lives inside the daemon's "
				"process, out of idpctl's reach (restarting the daemon ends every session)\n", what);
		return 3;
	}
	if (store_open(cfg->store, st) != IDP_OK)
		return fail("the store of %s does not answer", opt.config);
	return 0;
}

/* The end of a command about a citizen on the shared store: a failed store
 * said, the subject wiped, the store and configuration closed; exit code. */
int close_shared_store(int rc, char *sub, struct store *st, struct config *cfg)
{
	if (rc != IDP_OK)
		fail("the store did not answer (%s)", idp_strerror(rc));
	free_secret(sub);
	store_close(st);
	config_free(cfg);
	return rc == IDP_OK ? 0 : 1;
}

/* The local subject --user names: as sessions hold it (BACKEND:SUBJECT or
 * pivot:HEX), or a username of a "file" backend, turned into it. */
char *local_subject(const struct config *cfg, const char *user)
{
	json_t *b, *root, *u;
	size_t i;
	char *path, *out = NULL;
	const char *why = NULL;

	json_array_foreach(cfg->backends, i, b) {
		if (out != NULL || strcmp(json_string_value(json_object_get(b, "plugin")) ?: "", "file") != 0)
			continue;
		path = config_path(cfg, json_string_value(json_object_get(b, "users")));
		root = path != NULL ? json_load_file(path, JSON_REJECT_DUPLICATES, NULL) : NULL;
		u = json_object_get(json_object_get(root, "users"), user);
		if (u != NULL && cfg->sub_from_pivot)
			out = pivot_subject(json_object_get(u, "claims"), &why);
		else if (json_is_string(json_object_get(u, "subject")) &&
			 asprintf(&out, "%s:%s", json_string_value(json_object_get(b, "id")),
				  json_string_value(json_object_get(u, "subject"))) < 0)
			out = NULL;
		json_decref(root);
		free(path);
	}
	return out != NULL ? out : strdup(user);
}

int main(int argc, char **argv)
{
	char *rest[8];
	int n = 0;

	bool opts = true;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;

		/* A kid is base64url and may begin with '-': only words beginning
		 * with "--" (and -h) are options, and "--" ends them. */
		if (!opts || strncmp(a, "--", 2) != 0) {
			if (opts && strcmp(a, "-h") == 0) {
				usage(stdout);
				return 0;
			}
			if (n == 8) {
				fprintf(stderr, "idpctl: too many arguments\n");
				usage(stderr);
				return 2;
			}
			rest[n++] = argv[i];
		} else if (strcmp(a, "--") == 0)
			opts = false;
		else if (strcmp(a, "--config") == 0 && has)
			opt.config = argv[++i];
		else if (strcmp(a, "--keys-dir") == 0 && has)
			opt.keys_dir = argv[++i];
		else if (strcmp(a, "--users") == 0 && has)
			opt.users = argv[++i];
		else if (strcmp(a, "--claims") == 0 && has)
			opt.claims = argv[++i];
		else if (strcmp(a, "--user") == 0 && has)
			opt.user = argv[++i];
		else if (strcmp(a, "--sid") == 0 && has)
			opt.sid = argv[++i];
		else if (strcmp(a, "--client") == 0 && has)
			opt.client = argv[++i];
		else if (strcmp(a, "--jwks") == 0 && has)
			opt.jwks = argv[++i];
		else if (strcmp(a, "--from") == 0 && has)
			opt.from = argv[++i];
		else if (strcmp(a, "--to") == 0 && has)
			opt.to = argv[++i];
		else if (strcmp(a, "--qr") == 0 && has)
			opt.qr = argv[++i];
		else if (strcmp(a, "--argon2") == 0 && has)
			opt.argon2 = argv[++i];
		else if (strcmp(a, "--csv") == 0)
			opt.csv = true;
		else if (strcmp(a, "--events") == 0)
			opt.events = true;
		else if (strcmp(a, "--force") == 0)
			opt.force = true;
		else if (strcmp(a, "--secret-stdin") == 0)
			opt.secret_stdin = true;
		else if (strcmp(a, "--pkcs11") == 0 && has)
			opt.pkcs11 = argv[++i];
		else if (strcmp(a, "--alg") == 0 && has) {
			i++;
			if (strcmp(argv[i], "ES256") == 0)
				opt.alg = ALG_ES256;
			else if (strcmp(argv[i], "RS256") == 0)
				opt.alg = ALG_RS256;
			else
				return fail("--alg must be ES256 or RS256");
		}
		else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "idpctl: unknown or incomplete argument \"%.64s\"\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (n == 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(rest[0], "keys") == 0)
		return cmd_keys(n - 1, rest + 1);
	if (strcmp(rest[0], "users") == 0 && n > 1 && strncmp(rest[1], "totp-", 5) == 0)
		return cmd_totp(n - 1, rest + 1);
	if (strcmp(rest[0], "users") == 0)
		return cmd_users(n - 1, rest + 1);
	if (strcmp(rest[0], "clients") == 0)
		return cmd_clients(n - 1, rest + 1);
	if (strcmp(rest[0], "status") == 0 && n == 1)
		return cmd_status();
	if (strcmp(rest[0], "sessions") == 0)
		return cmd_sessions(n - 1, rest + 1);
	if (strcmp(rest[0], "tokens") == 0)
		return cmd_tokens(n - 1, rest + 1);
	if (strcmp(rest[0], "stats") == 0 && n == 1)
		return cmd_stats();
	if (strcmp(rest[0], "audit-hash") == 0 && n == 1)
		return cmd_audit_hash();
	if (strcmp(rest[0], "audit") == 0)
		return cmd_audit(n - 1, rest + 1);
	if (strcmp(rest[0], "receipts") == 0)
		return cmd_receipts(n - 1, rest + 1);
	usage(stderr);
	return 2;
}
