/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl: the administrator's command (keys, users of the file backend,
 * clients and their secrets, sessions, status, usage statistics). Passwords
 * and secrets are read from stdin or a prompt, never from the command line
 * (argv is visible to every local user). */
#include "idp.h"
#include "audit.h"
#include "session.h"

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

/* RFC 9106 4, second recommended option: argon2id, t=3, 64 MiB, 4 lanes. */
#define ARGON_T 3
#define ARGON_M (1u << 16)
#define ARGON_P 4

static const char *opt_config = "conf/demo.json";
static const char *opt_keys_dir;
static const char *opt_users;
static const char *opt_claims;
static const char *opt_user;
static const char *opt_sid;
static bool opt_force;
static const char *opt_from, *opt_to;
static bool opt_csv;
static enum sign_alg opt_alg = ALG_NONE;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: idpctl [--config FILE] COMMAND\n"
		"  keys init [--keys-dir DIR]      create an active and a next key per algorithm (ES256, RS256)\n"
		"  keys list [--keys-dir DIR]      kid, alg, state, created, activated, removed at\n"
		"  keys status                     the same, plus each service's readiness for the next keys\n"
		"  keys rotate [--alg A] [--force] next -> active -> retiring, a new next; waits for lagging services\n"
		"  keys revoke KID                 emergency: out of the JWKS at once, signing moves on\n"
		"  keys import FILE --alg A        a PEM key made elsewhere, as the next key\n"
		"  keys remove KID                 a retiring key whose tokens have all expired\n"
		"  (exit status 3: refused or waiting, see the message)\n"
		"  users add USER [--users FILE] [--claims JSON]   password read from stdin or a prompt\n"
		"  users passwd USER [--users FILE]\n"
		"  users del USER [--users FILE]\n"
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
		"  (U: a local subject, BACKEND:SUBJECT or pivot:HEX, or a username of a file backend)\n"
		"  status                          nodes (heartbeats), the store's role, keys and readiness, backends\n"
		"  stats --from DATE --to DATE [--csv]   logins per hour, service, backend and level (redis store;\n"
		"                                  DATE: YYYY-MM-DD or YYYY-MM-DDTHH, UTC; counts under 5 not shown)\n"
		"  audit-hash                      read a username or subject on stdin, print its hash in audit lines\n"
		"The users file defaults to the first \"file\" backend of the configuration.\n"
		"Options begin with --; a KID may begin with - (\"--\" also ends the options).\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
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
static void audit_admin(const struct config *cfg, const char *action, const char *kid, const char *sub,
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

static int cmd_keys(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store st = {0};
	bool have_store = false;
	const char *dir = opt_keys_dir;
	const char *cmd = argc > 0 ? argv[0] : "";
	bool changes, needs_cfg = strcmp(cmd, "rotate") == 0 || strcmp(cmd, "status") == 0 || strcmp(cmd, "revoke") == 0;
	int rc;

	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if ((dir == NULL || needs_cfg) && config_load(opt_config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt_config);
	if (dir == NULL)
		dir = cfg->keys_dir;
	/* Readiness lives in the shared store: only redis is visible from here. */
	if (cfg != NULL && ((needs_cfg && strcmp(cmd, "revoke") != 0) || cfg->kek_file != NULL) &&
	    strcmp(json_string_value(json_object_get(cfg->store, "driver")) ?: "memory", "redis") == 0) {
		if (store_open(cfg->store, &st) != IDP_OK) {
			config_free(cfg);
			return fail("the store of %s does not answer", opt_config);
		}
		have_store = true;
	}
	/* With key_rotation.kek_file the store's set is the newest: taken into
	 * the folder before a change, the change published after it. */
	changes = strcmp(cmd, "list") != 0 && strcmp(cmd, "status") != 0;
	if (have_store && changes && keys_store_pull(cfg, &st, dir) != IDP_OK) {
		rc = fail("the key set in the store cannot be taken: nothing changed");
		goto out;
	}
	if (strcmp(cmd, "init") == 0)
		rc = keys_init(dir, stdout);
	else if (strcmp(cmd, "list") == 0)
		rc = keys_status(NULL, dir, NULL, stdout);
	else if (strcmp(cmd, "status") == 0)
		rc = keys_status(cfg, dir, have_store ? &st : NULL, stdout);
	else if (strcmp(cmd, "rotate") == 0)
		rc = keys_rotate(cfg, dir, have_store ? &st : NULL, opt_alg, opt_force, stdout);
	else if (strcmp(cmd, "revoke") == 0 && argc == 2)
		rc = keys_revoke(cfg, dir, argv[1], stdout);
	else if (strcmp(cmd, "remove") == 0 && argc == 2)
		rc = keys_remove(dir, argv[1], stdout);
	else if (strcmp(cmd, "import") == 0 && argc == 2 && opt_alg != ALG_NONE)
		rc = keys_import(dir, argv[1], opt_alg, stdout);
	else {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (have_store && changes && (rc == IDP_OK || rc == IDP_EDENIED) &&
	    keys_store_publish(cfg, &st, dir) != IDP_OK)
		rc = IDP_EIO;
	if (strcmp(cmd, "rotate") == 0 || strcmp(cmd, "revoke") == 0) {
		char action[16];

		snprintf(action, sizeof(action), "keys.%s", cmd);
		audit_admin(cfg, action, argc == 2 ? argv[1] : NULL, NULL, NULL, NULL, rc);
	}
	/* Exit codes: 0 done, 3 refused or waiting (see the message), 1 error. */
	rc = rc == IDP_OK ? 0 : rc == IDP_EDENIED ? 3 : 1;
out:
	if (have_store)
		store_close(&st);
	config_free(cfg);
	return rc;
}

/* One line from stdin, or a prompt without echo when stdin is a terminal. */
static char *read_secret(const char *prompt)
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

static char *hash_password(const char *pw)
{
	unsigned char salt[16];
	char enc[128];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return NULL;
	if (argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, pw, strlen(pw), salt, sizeof(salt), 32,
				  enc, sizeof(enc)) != ARGON2_OK)
		return NULL;
	return strdup(enc);
}

static char *users_path(struct config **cfg)
{
	size_t i;
	json_t *b;

	if (opt_users != NULL)
		return strdup(opt_users);
	if (config_load(opt_config, cfg) != IDP_OK)
		return NULL;
	json_array_foreach((*cfg)->backends, i, b) {
		if (strcmp(json_string_value(json_object_get(b, "plugin")) ?: "", "file") == 0)
			return config_path(*cfg, json_string_value(json_object_get(b, "users")));
	}
	fprintf(stderr, "idpctl: %s has no \"file\" backend; give --users FILE\n", opt_config);
	return NULL;
}

static int write_users(const char *path, json_t *root)
{
	char tmp[4096];
	int fd;
	char *doc = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	size_t len;
	bool ok;

	if (doc == NULL)
		return 1;
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	len = strlen(doc);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ok = fd >= 0 && write(fd, doc, len) == (ssize_t)len && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
	if (fd >= 0)
		close(fd);
	ok = ok && rename(tmp, path) == 0;
	if (!ok) {
		fprintf(stderr, "idpctl: writing %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
	free(doc);
	return ok ? 0 : 1;
}

static int cmd_users(int argc, char **argv)
{
	struct config *cfg = NULL;
	char *path = NULL, *pw = NULL, *pw2 = NULL, *hash = NULL;
	json_t *root = NULL, *users, *u, *claims = NULL;
	json_error_t e;
	int rc = 1;
	const char *user;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	user = argv[1];
	if (strlen(user) == 0 || strlen(user) > 256 || !utf8_valid(user, strlen(user)))
		return fail("the username must be 1 to 256 characters of UTF-8");
	if ((path = users_path(&cfg)) == NULL)
		goto out;
	if (access(path, F_OK) != 0)
		root = json_pack("{s:{}}", "users");
	else if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &e)) == NULL) {
		fprintf(stderr, "idpctl: %s: line %d: %s\n", path, e.line, e.text);
		goto out;
	}
	users = json_object_get(root, "users");
	if (!json_is_object(users)) {
		fail("%s: \"users\" must be an object", path);
		goto out;
	}
	u = json_object_get(users, user);
	if (strcmp(argv[0], "del") == 0) {
		if (u == NULL) {
			fail("no user %s", user);
			goto out;
		}
		json_object_del(users, user);
		rc = write_users(path, root);
		goto out;
	}
	if (strcmp(argv[0], "add") == 0 && u != NULL) {
		fail("user %s exists (use users passwd)", user);
		goto out;
	}
	if (strcmp(argv[0], "passwd") == 0 && u == NULL) {
		fail("no user %s", user);
		goto out;
	}
	if (strcmp(argv[0], "add") != 0 && strcmp(argv[0], "passwd") != 0) {
		usage(stderr);
		rc = 2;
		goto out;
	}
	if (opt_claims != NULL) {
		claims = json_loads(opt_claims, JSON_REJECT_DUPLICATES, &e);
		if (!json_is_object(claims)) {
			fail("--claims must be a JSON object");
			goto out;
		}
	}
	pw = read_secret("New password: ");
	if (isatty(STDIN_FILENO)) {
		pw2 = read_secret("Again: ");
		if (strcmp(pw, pw2) != 0) {
			fail("the passwords differ");
			goto out;
		}
	}
	if (strlen(pw) < 10 || strlen(pw) > 1024) {
		fail("the password must be 10 to 1024 characters");
		goto out;
	}
	if ((hash = hash_password(pw)) == NULL) {
		fail("argon2 failed");
		goto out;
	}
	if (u == NULL) {
		char *sub = rand_token(16);

		u = json_pack("{s:s,s:o}", "subject", sub, "claims", claims ? json_incref(claims) : json_object());
		free(sub);
		json_object_set_new(users, user, u);
	} else if (claims != NULL) {
		json_object_set(u, "claims", claims);
	}
	json_object_set_new(u, "password", json_string(hash));
	rc = write_users(path, root);
	if (rc == 0)
		printf("%s %s in %s\n", strcmp(argv[0], "add") == 0 ? "added" : "updated", user, path);
out:
	free_secret(pw);
	free_secret(pw2);
	free(hash);
	free(path);
	json_decref(claims);
	json_decref(root);
	config_free(cfg);
	return rc;
}

/* A secret printed once; only its SHA-256 is kept. */
static int print_new_secret(char hex[65])
{
	char *secret = rand_token(32);

	if (secret == NULL)
		return fail("no randomness");
	sha256_hex(secret, strlen(secret), hex);
	printf("client_secret (give it to the service, keep it nowhere else): %s\n", secret);
	free_secret(secret);
	return 0;
}

/* A JSON object on stdin (a client or the fields to change), bounded. */
static json_t *read_json_stdin(void)
{
	static char buf[64 * 1024 + 1];
	json_error_t jerr;
	size_t len = fread(buf, 1, sizeof(buf), stdin);
	json_t *o;

	if (len == sizeof(buf)) {
		fail("the client on stdin is larger than %zu bytes", sizeof(buf) - 1);
		return NULL;
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(o)) {
		fail("stdin: line %d: a JSON object is expected%s%s", jerr.line, o ? "" : ": ", o ? "" : jerr.text);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Index of client id in a clients array, -1 when absent. */
static long client_index(const json_t *arr, const char *id)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (strcmp(json_string_value(json_object_get(v, "client_id")) ?: "", id) == 0)
			return (long)i;
	return -1;
}

/* Writes arr next to the clients file, has the whole configuration checked
 * with it exactly as the daemon will (config_load_with_clients), and only
 * then renames it over the file: a refused change leaves the file as it
 * was. The daemon notices the new file within a second and reloads. */
static int clients_commit(const struct config *cfg, json_t *arr)
{
	char tmp[4096];
	char *doc = json_dumps(arr, JSON_INDENT(2));
	struct config *check = NULL;
	struct stat st;
	size_t len;
	int fd, rc = 1;

	if (doc == NULL)
		return fail("out of memory");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", cfg->clients_file, (int)getpid());
	len = strlen(doc);
	/* Created here or not at all: never through a link planted at the name. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
	/* The old file's owner and mode, so that the daemon's user still reads
	 * it when root runs idpctl. */
	if (fd >= 0 && stat(cfg->clients_file, &st) == 0 &&
	    ((fchown(fd, st.st_uid, st.st_gid) != 0 && (st.st_uid != getuid() || st.st_gid != getgid())) ||
	     fchmod(fd, st.st_mode & 0640) != 0))
		fprintf(stderr, "idpctl: warning: %s could not get the owner and mode of %s: %s\n", tmp,
			cfg->clients_file, strerror(errno));
	if (fd < 0 || write(fd, doc, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		fail("writing %s: %s", tmp, strerror(errno));
	else if (close(fd) == 0 && (fd = -1, config_load_with_clients(opt_config, tmp, &check)) != IDP_OK)
		fail("change refused (see above); %s is unchanged", cfg->clients_file);
	else if (rename(tmp, cfg->clients_file) != 0)
		fail("renaming %s: %s", tmp, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	if (rc != 0)
		unlink(tmp);
	config_free(check);
	free(doc);
	return rc;
}

static void client_summary(const struct client *cl, const char *where)
{
	printf("%s\t%s\t%s\t%zu redirect URI%s\t%s\n", cl->id, cl->name, cl->has_secret ? "confidential" : "public",
	       cl->n_redirect_uris, cl->n_redirect_uris == 1 ? "" : "s", where);
}

static int cmd_clients(int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "", *id = argc > 1 ? argv[1] : NULL;
	struct config *cfg = NULL;
	json_error_t jerr;
	json_t *arr = NULL, *o = NULL, *cur;
	char hex[65], *secret;
	long idx;
	int rc = 1;

	if ((strcmp(cmd, "new-secret") == 0 || strcmp(cmd, "hash-secret") == 0) && argc == 1) {
		if (strcmp(cmd, "new-secret") == 0 && print_new_secret(hex) != 0)
			return 1;
		if (strcmp(cmd, "hash-secret") == 0) {
			secret = read_secret("Client secret: ");
			if (secret == NULL || strlen(secret) < 16) {
				free_secret(secret);
				return fail("a client secret must be at least 16 characters (idpctl clients new-secret)");
			}
			sha256_hex(secret, strlen(secret), hex);
			free_secret(secret);
		}
		printf("client_secret_sha256 (put it in the configuration): %s\n", hex);
		return 0;
	}
	if (!((strcmp(cmd, "list") == 0 && argc == 1) ||
	      (argc == 2 && (strcmp(cmd, "show") == 0 || strcmp(cmd, "add") == 0 || strcmp(cmd, "set") == 0 ||
			     strcmp(cmd, "remove") == 0 || strcmp(cmd, "new-secret") == 0)))) {
		usage(stderr);
		return 2;
	}
	if (config_load(opt_config, &cfg) != IDP_OK)
		return fail("%s does not load (see above): fix it first", opt_config);
	if (strcmp(cmd, "list") == 0) {
		for (size_t i = 0; i < cfg->n_clients; i++)
			client_summary(&cfg->clients[i], i < cfg->n_inline_clients ? "configuration" : "clients_file");
		rc = 0;
		goto out;
	}
	if (strcmp(cmd, "show") == 0) {
		const struct client *cl = config_client(cfg, id);

		if (cl == NULL) {
			rc = fail("no client \"%.128s\"", id);
			goto out;
		}
		client_summary(cl, cl < cfg->clients + cfg->n_inline_clients ? "configuration" : "clients_file");
		for (size_t i = 0; i < cl->n_redirect_uris; i++)
			printf("redirect_uri\t%s\n", cl->redirect_uris[i]);
		for (size_t i = 0; i < cl->n_post_logout_uris; i++)
			printf("post_logout_redirect_uri\t%s\n", cl->post_logout_uris[i]);
		for (size_t i = 0; i < cl->n_backends; i++)
			printf("backend\t%s\n", cl->backends[i]);
		for (size_t i = 0; i < cl->n_scopes_allowed; i++)
			printf("scope\t%s\n", cl->scopes_allowed[i]);
		printf("sector\t%s\nsubject_type\t%s\nprofile\t%s\n", cl->sector ?: "", cl->pairwise ? "pairwise" : "public",
		       cl->franceconnect ? "franceconnect" : "default");
		rc = 0;
		goto out;
	}
	if (cfg->clients_file == NULL) {
		rc = fail("%s has no \"clients_file\": clients in the configuration itself are edited there", opt_config);
		goto out;
	}
	if ((arr = json_load_file(cfg->clients_file, JSON_REJECT_DUPLICATES, &jerr)) == NULL || !json_is_array(arr)) {
		rc = fail("%s: not a JSON array", cfg->clients_file);
		goto out;
	}
	idx = client_index(arr, id);
	if (idx < 0 && strcmp(cmd, "add") != 0) {
		rc = fail(config_client(cfg, id) ? "client \"%.128s\" is in the configuration itself, not in the clients file"
						 : "no client \"%.128s\"", id);
		goto out;
	}
	if (strcmp(cmd, "remove") == 0) {
		json_array_remove(arr, (size_t)idx);
	} else if (strcmp(cmd, "new-secret") == 0) {
		if (print_new_secret(hex) != 0)
			goto out;
		json_object_set_new(json_array_get(arr, (size_t)idx), "client_secret_sha256", json_string(hex));
	} else {
		/* add: the whole client; set: the fields to change, null removes one. */
		if ((o = read_json_stdin()) == NULL)
			goto out;
		if (strcmp(cmd, "add") == 0) {
			if (json_object_get(o, "client_id") == NULL)
				json_object_set_new(o, "client_id", json_string(id));
			if (strcmp(json_string_value(json_object_get(o, "client_id")) ?: "", id) != 0) {
				rc = fail("\"client_id\" on stdin differs from %.128s", id);
				goto out;
			}
			json_array_append(arr, o);
		} else {
			const char *k;
			json_t *v;

			cur = json_array_get(arr, (size_t)idx);
			json_object_foreach(o, k, v) {
				if (strcmp(k, "client_id") == 0 && !json_equal(v, json_object_get(cur, k))) {
					rc = fail("a client's id does not change: add a new one and remove this one");
					goto out;
				}
				if (json_is_null(v))
					json_object_del(cur, k);
				else
					json_object_set(cur, k, v);
			}
		}
	}
	rc = clients_commit(cfg, arr);
	if (rc == 0)
		printf("%s %s in %s%s\n", cmd, id, cfg->clients_file,
		       strcmp(cmd, "new-secret") == 0 ? " (client_secret_sha256 stored)" : "");
	{
		char action[32];

		snprintf(action, sizeof(action), "clients.%s", cmd);
		audit_admin(cfg, action, NULL, NULL, NULL, id, rc == 0 ? IDP_OK : IDP_EDENIED);
	}
out:
	json_decref(o);
	json_decref(arr);
	config_free(cfg);
	return rc;
}

/* cfg's store, when other processes can see it: the memory store lives in
 * the daemon's own process, out of idpctl's reach (an admin endpoint on the
 * daemon would be a new door into it: the shared store is the way). */
static int open_shared_store(const struct config *cfg, struct store *st, const char *what)
{
	if (strcmp(json_string_value(json_object_get(cfg->store, "driver")) ?: "memory", "redis") != 0) {
		fprintf(stderr, "idpctl: %s needs the redis store: the memory store lives inside the daemon's "
				"process, out of idpctl's reach (restarting the daemon ends every session)\n", what);
		return 3;
	}
	if (store_open(cfg->store, st) != IDP_OK)
		return fail("the store of %s does not answer", opt_config);
	return 0;
}

/* The local subject --user names: as sessions hold it (BACKEND:SUBJECT or
 * pivot:HEX), or a username of a "file" backend, turned into it. */
static char *local_subject(const struct config *cfg, const char *user)
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

static const char *fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
	return buf;
}

static int cmd_sessions(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct store st = {0};
	struct session **list = NULL;
	char *sub = NULL, tag[9], at[32], cr[32];
	size_t n = 0;
	bool revoke = argc == 1 && strcmp(argv[0], "revoke") == 0;
	int rc;

	if (argc != 1 || (!revoke && strcmp(argv[0], "list") != 0) || (opt_user != NULL) == (opt_sid != NULL) ||
	    (!revoke && opt_sid != NULL)) {
		usage(stderr);
		return 2;
	}
	if (opt_sid != NULL && (strlen(opt_sid) != 64 || strspn(opt_sid, "0123456789abcdef") != 64))
		return fail("--sid takes the 64 hex digits idpctl sessions list shows");
	if (opt_user != NULL && (strlen(opt_user) == 0 || strlen(opt_user) > SESSION_TEXT_MAX))
		return fail("--user must be 1 to %d characters", SESSION_TEXT_MAX);
	if (config_load(opt_config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt_config);
	if ((rc = open_shared_store(cfg, &st, revoke ? "sessions revoke" : "sessions list")) != 0) {
		config_free(cfg);
		return rc;
	}
	if (opt_user != NULL)
		sub = local_subject(cfg, opt_user);
	if (opt_sid != NULL) {
		rc = session_end_in(&st, opt_sid);
		secret_tag(opt_sid, tag);
		if (rc == IDP_OK)
			printf("session %s ended (with its access tokens), if it was live\n", tag);
		audit_admin(cfg, "sessions.revoke", NULL, NULL, tag, NULL, rc);
	} else if (revoke) {
		rc = session_end_subject(&st, sub, &n);
		if (rc == IDP_OK)
			printf("%zu session%s ended, with their access tokens\n", n, n == 1 ? "" : "s");
		audit_admin(cfg, "sessions.revoke", NULL, sub, NULL, NULL, rc);
	} else if ((rc = session_list_subject(&st, sub, &list, &n)) == IDP_OK) {
		printf("%-64s %-8s %-12s %-10s %-20s %s\n", "session (for --sid)", "log tag", "backend", "acr",
		       "authenticated", "created");
		for (size_t i = 0; i < n; i++) {
			secret_tag(list[i]->sid_hash, tag);
			printf("%-64s %-8s %-12s %-10s %-20s %s\n", list[i]->sid_hash, tag, list[i]->backend,
			       list[i]->acr, fmt_time(list[i]->auth_time, at), fmt_time(list[i]->created, cr));
			session_free(list[i]);
		}
		free(list);
		printf("%zu live session%s\n", n, n == 1 ? "" : "s");
	}
	if (rc != IDP_OK)
		fail("the store did not answer (%s)", idp_strerror(rc));
	free_secret(sub);
	store_close(&st);
	config_free(cfg);
	return rc == IDP_OK ? 0 : 1;
}

/* What every node reports through the store: with the memory store, only
 * the keys (the rest lives inside the daemon). Exit 3 when no node is heard. */
static int cmd_status(void)
{
	struct config *cfg = NULL;
	struct store st = {0};
	char *role = NULL;
	size_t alive = 0;
	int rc;

	if (config_load(opt_config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt_config);
	if ((rc = open_shared_store(cfg, &st, "status of the nodes")) != 0) {
		printf("keys (%s):\n", cfg->keys_dir);
		keys_status(cfg, cfg->keys_dir, NULL, stdout);
		config_free(cfg);
		return rc;
	}
	rc = store_role(&st, &role);
	printf("store: %s\n", rc == IDP_OK ? role : "not answering");
	free(role);
	if (rc == IDP_OK) {
		printf("\nnodes (a heartbeat every %d s):\n", HEARTBEAT_S);
		rc = nodes_print(&st, stdout, &alive);
	}
	printf("\nkeys (%s):\n", cfg->keys_dir);
	if (keys_status(cfg, cfg->keys_dir, rc == IDP_OK ? &st : NULL, stdout) != IDP_OK && rc == IDP_OK)
		rc = IDP_EIO;
	store_close(&st);
	config_free(cfg);
	return rc != IDP_OK ? 1 : alive == 0 ? 3 : 0;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH" (UTC) as an hour since the epoch; end: the
 * last hour the day or hour covers. -1 when malformed. */
static int64_t parse_hour(const char *s, bool end)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
	bool day = rest != NULL && *rest == '\0';

	if (rest == NULL || (!day && ((rest = strptime(rest, "T%H", &tm)) == NULL || *rest != '\0')))
		return -1;
	return (int64_t)timegm(&tm) / 3600 + (end && day ? 23 : 0);
}

/* One field and its separator; in CSV quoted when it holds a separator or
 * a quote (RFC 4180). */
static void stats_field(const char *s)
{
	if (!opt_csv || strpbrk(s, ",\"\r\n") == NULL) {
		printf("%s%c", s, opt_csv ? ',' : '\t');
		return;
	}
	putchar('"');
	for (; *s; s++)
		printf(*s == '"' ? "\"\"" : "%c", *s);
	printf("\",");
}

#define STATS_MIN_COUNT 5 /* smaller counts are not shown: a few logins could name someone */

/* Logins per hour, service, backend and level between --from and --to,
 * read from the counters session_create bumps (session.h). Every
 * combination the configuration names is looked up, STORE_BATCH_MAX at a
 * time. */
static int cmd_stats(void)
{
	struct config *cfg = NULL;
	struct store st = {0};
	int64_t from = parse_hour(opt_from, false), to = parse_hour(opt_to, true);
	size_t nb, na, combos, suppressed = 0, shown = 0;
	char keys[STORE_BATCH_MAX][STORE_KEY_MAX + 1];
	const char *kp[STORE_BATCH_MAX];
	size_t idx[STORE_BATCH_MAX];
	int rc;

	if (from < 0 || to < 0 || to < from)
		return fail("stats needs --from DATE --to DATE (YYYY-MM-DD or YYYY-MM-DDTHH, UTC), from before to");
	if (to - from >= SESSION_STATS_TTL_S / 3600)
		return fail("stats covers at most %d days: older counts have expired", SESSION_STATS_TTL_S / 86400);
	if (config_load(opt_config, &cfg) != IDP_OK)
		return fail("%s does not load (see above)", opt_config);
	if ((rc = open_shared_store(cfg, &st, "stats")) != 0)
		goto out;
	nb = json_array_size(cfg->backends);
	na = json_array_size(cfg->acr_levels);
	combos = cfg->n_clients * nb * na;
	printf(opt_csv ? "hour,client,backend,acr,logins\n" : "hour (UTC)\tclient\tbackend\tacr\tlogins\n");
	for (int64_t h = from; h <= to && rc == 0; h++) {
		for (size_t c = 0; c < combos && rc == 0;) {
			char *vals[STORE_BATCH_MAX] = {0};
			size_t lens[STORE_BATCH_MAX], n = 0;

			for (; c < combos && n < STORE_BATCH_MAX; c++) {
				const char *b = json_string_value(json_object_get(json_array_get(cfg->backends, c / na % nb), "id"));

				if (b != NULL && session_stats_key(keys[n], sizeof(keys[n]), h, cfg->clients[c / (na * nb)].id, b,
								   json_string_value(json_array_get(cfg->acr_levels, c % na)) ?: "")) {
					kp[n] = keys[n];
					idx[n++] = c;
				}
			}
			if (n > 0 && store_mget(&st, kp, n, vals, lens) != IDP_OK) {
				rc = fail("the store does not answer");
				break;
			}
			for (size_t i = 0; i < n; i++) {
				size_t k = idx[i];
				time_t t = (time_t)(h * 3600);
				struct tm tm;
				char hour[24];
				long long count = 0;

				if (vals[i] != NULL && (lens[i] > 20 || strlen(vals[i]) != lens[i] ||
							!parse_ll(vals[i], 0, LLONG_MAX, &count))) {
					rc = fail("stats: %s is not a counter", kp[i]);
					free(vals[i]);
					continue;
				}
				if (vals[i] != NULL && count < STATS_MIN_COUNT)
					suppressed++;
				else if (vals[i] != NULL) {
					gmtime_r(&t, &tm);
					strftime(hour, sizeof(hour), "%Y-%m-%dT%H:00Z", &tm);
					stats_field(hour);
					stats_field(cfg->clients[k / (na * nb)].id);
					stats_field(json_string_value(json_object_get(json_array_get(cfg->backends, k / na % nb), "id")));
					stats_field(json_string_value(json_array_get(cfg->acr_levels, k % na)));
					printf("%lld\n", count);
					shown++;
				}
				free(vals[i]);
			}
		}
	}
	if (rc == 0)
		fprintf(stderr, "idpctl: %zu row(s); %zu row(s) of fewer than %d logins suppressed\n", shown, suppressed,
			STATS_MIN_COUNT);
	store_close(&st);
out:
	config_free(cfg);
	return rc;
}

/* The value on stdin, not argv: a citizen's name is not for ps to show. */
static int cmd_audit_hash(void)
{
	struct config *cfg = NULL;
	struct config off;
	char *v, h[33];

	if (config_load(opt_config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt_config);
	/* The key only: no file opened, nothing written. */
	off = *cfg;
	off.audit_file = NULL;
	off.audit_stderr = false;
	audit_open(&off);
	v = read_secret("Username or subject: ");
	audit_hash(v != NULL ? v : "", h);
	printf("%s\n", h);
	audit_close();
	free_secret(v);
	config_free(cfg);
	return 0;
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
			opt_config = argv[++i];
		else if (strcmp(a, "--keys-dir") == 0 && has)
			opt_keys_dir = argv[++i];
		else if (strcmp(a, "--users") == 0 && has)
			opt_users = argv[++i];
		else if (strcmp(a, "--claims") == 0 && has)
			opt_claims = argv[++i];
		else if (strcmp(a, "--user") == 0 && has)
			opt_user = argv[++i];
		else if (strcmp(a, "--sid") == 0 && has)
			opt_sid = argv[++i];
		else if (strcmp(a, "--from") == 0 && has)
			opt_from = argv[++i];
		else if (strcmp(a, "--to") == 0 && has)
			opt_to = argv[++i];
		else if (strcmp(a, "--csv") == 0)
			opt_csv = true;
		else if (strcmp(a, "--force") == 0)
			opt_force = true;
		else if (strcmp(a, "--alg") == 0 && has) {
			i++;
			if (strcmp(argv[i], "ES256") == 0)
				opt_alg = ALG_ES256;
			else if (strcmp(argv[i], "RS256") == 0)
				opt_alg = ALG_RS256;
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
	if (strcmp(rest[0], "users") == 0)
		return cmd_users(n - 1, rest + 1);
	if (strcmp(rest[0], "clients") == 0)
		return cmd_clients(n - 1, rest + 1);
	if (strcmp(rest[0], "status") == 0 && n == 1)
		return cmd_status();
	if (strcmp(rest[0], "sessions") == 0)
		return cmd_sessions(n - 1, rest + 1);
	if (strcmp(rest[0], "stats") == 0 && n == 1)
		return cmd_stats();
	if (strcmp(rest[0], "audit-hash") == 0 && n == 1)
		return cmd_audit_hash();
	usage(stderr);
	return 2;
}
