/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl clients: the registered services of the clients file and their
 * secrets; every change is checked with the whole configuration first. */
#include "ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

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
	else if (close(fd) == 0 && (fd = -1, config_load_with_clients(opt.config, tmp, &check)) != IDP_OK)
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

int cmd_clients(int argc, char **argv)
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
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("%s does not load (see above): fix it first", opt.config);
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
		rc = fail("%s has no \"clients_file\": clients in the configuration itself are edited there", opt.config);
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
