/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl users: the accounts of a "file" backend (add, passwd, del), and
 * audit-hash, which hashes a username the way audit lines do. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <argon2.h>
#include <openssl/rand.h>

/* RFC 9106 4, second recommended option: argon2id, t=3, 64 MiB, 4 lanes. */
#define ARGON_T 3
#define ARGON_M (1u << 16)
#define ARGON_P 4

/* The cost of the next hash: RFC 9106's, or "T:M_KIB:P" from --argon2 or
 * IDPCTL_ARGON2 (a host with less memory, or a test's users file where
 * hundreds of logins would spend their time in argon2). The confirmation
 * says when a hash is cheaper than the default (cheaper to guess). */
static int argon_cost(uint32_t *t, uint32_t *m, uint32_t *p)
{
	const char *v = opt.argon2 != NULL ? opt.argon2 : getenv("IDPCTL_ARGON2");
	unsigned long a, b, c;
	int end = 0;

	*t = ARGON_T;
	*m = ARGON_M;
	*p = ARGON_P;
	if (v == NULL || *v == '\0')
		return 0;
	if (sscanf(v, "%9lu:%9lu:%3lu%n", &a, &b, &c, &end) != 3 || v[end] != '\0' || a < 1 ||
	    c < 1 || c > 64 || b < 8 * c || b > (1ul << 22))
		return fail("--argon2 (or IDPCTL_ARGON2) must be T:M_KIB:P, T >= 1, 1 <= P <= 64, "
			    "8 P <= M_KIB <= 4194304 (4 GiB)");
	*t = (uint32_t)a;
	*m = (uint32_t)b;
	*p = (uint32_t)c;
	return 0;
}

static char *hash_password(const char *pw, uint32_t t, uint32_t m, uint32_t p)
{
	unsigned char salt[16];
	char enc[128];

	if (RAND_bytes(salt, sizeof(salt)) != 1)
		return NULL;
	if (argon2id_hash_encoded(t, m, p, pw, strlen(pw), salt, sizeof(salt), 32, enc, sizeof(enc)) !=
	    ARGON2_OK)
		return NULL;
	return strdup(enc);
}

char *users_path(struct config **cfg)
{
	size_t i;
	json_t *b;

	if (opt.users != NULL)
		return strdup(opt.users);
	if (config_load(opt.config, cfg) != IDP_OK)
		return NULL;
	json_array_foreach((*cfg)->backends, i, b) {
		if (strcmp(json_string_value(json_object_get(b, "plugin")) ?: "", "file") == 0)
			return config_path(*cfg, json_string_value(json_object_get(b, "users")));
	}
	fprintf(stderr, "idpctl: %s has no \"file\" backend; give --users FILE\n", opt.config);
	return NULL;
}

int write_users(const char *path, json_t *root)
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

int cmd_users(int argc, char **argv)
{
	struct config *cfg = NULL;
	char *path = NULL, *pw = NULL, *pw2 = NULL, *hash = NULL;
	json_t *root = NULL, *users, *u, *claims = NULL;
	json_error_t e;
	int rc = 1;
	const char *user;
	uint32_t t, m, p;

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
	if (argon_cost(&t, &m, &p) != 0)
		goto out;
	if (opt.claims != NULL) {
		claims = json_loads(opt.claims, JSON_REJECT_DUPLICATES, &e);
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
	if ((hash = hash_password(pw, t, m, p)) == NULL) {
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
		printf("%s %s in %s%s\n", strcmp(argv[0], "add") == 0 ? "added" : "updated", user, path,
		       t < ARGON_T || m < ARGON_M ? " (argon2id below RFC 9106's cost: for tests only)" : "");
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

/* The value on stdin, not argv: a citizen's name is not for ps to show. */
int cmd_audit_hash(void)
{
	struct config *cfg = NULL;
	struct config off;
	char *v, h[33];

	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
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
