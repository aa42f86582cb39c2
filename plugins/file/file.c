/* SPDX-License-Identifier: EUPL-1.2 */
/* The "file" identity backend: citizens in a JSON file with argon2id
 * password hashes (libargon2), their claims and, for those enrolled, a TOTP
 * secret (RFC 6238, checked with liboath). The file is re-read when it
 * changes (idpctl users add takes effect at once), and a malformed new
 * version is refused while the previous one keeps serving. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <argon2.h>
#include <liboath/oath.h>
#include <openssl/crypto.h>

#include "idp_plugin.h"

/* TOTP as the authenticator apps make it: 6 digits, 30 s steps from the
 * epoch (RFC 6238 4), and one step either side for a clock a little off or
 * a code typed at the end of its step (RFC 6238 5.2). */
#define TOTP_DIGITS 6
#define TOTP_STEP 30
#define TOTP_WINDOW 1
/* RFC 4226 4: a shared secret of at least 128 bits (idpctl makes 160). */
#define TOTP_SECRET_MIN 16
#define TOTP_SECRET_MAX 64

struct file_inst {
	const struct idp_host *host;
	char *path;
	pthread_mutex_t lock;
	json_t *users;          /* "users" object of the file */
	struct timespec mtime;
	off_t size;
	char dummy[128];        /* hash checked for unknown users: same time */
};

/* The raw bytes of a base32 TOTP secret (malloc'ed, wiped by the caller),
 * NULL when it is not one of TOTP_SECRET_MIN to TOTP_SECRET_MAX bytes. */
static char *totp_secret(const char *b32, size_t *len)
{
	char *raw = NULL;

	*len = 0;
	if (b32 == NULL || strlen(b32) > 2 * TOTP_SECRET_MAX ||
	    oath_base32_decode(b32, strlen(b32), &raw, len) != OATH_OK)
		return NULL;
	if (*len < TOTP_SECRET_MIN || *len > TOTP_SECRET_MAX) {
		OPENSSL_cleanse(raw, *len);
		free(raw);
		return NULL;
	}
	return raw;
}

static int load(struct file_inst *fi, bool first)
{
	json_error_t e;
	json_t *root, *users, *u;
	const char *name;
	struct stat st;

	if (stat(fi->path, &st) != 0) {
		fi->host->log(0, "file: %s: %s", fi->path, strerror(errno));
		return IDP_PLUGIN_EIO;
	}
	if (!first && st.st_mtim.tv_sec == fi->mtime.tv_sec && st.st_mtim.tv_nsec == fi->mtime.tv_nsec &&
	    st.st_size == fi->size)
		return IDP_PLUGIN_OK;
	if ((st.st_mode & 077) != 0 && first)
		fi->host->log(1, "file: %s is readable by group or others: chmod 600 it", fi->path);
	root = json_load_file(fi->path, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL) {
		fi->host->log(0, "file: %s: line %d: %s", fi->path, e.line, e.text);
		return IDP_PLUGIN_EINVAL;
	}
	users = json_object_get(root, "users");
	if (!json_is_object(users)) {
		fi->host->log(0, "file: %s: \"users\" must be an object", fi->path);
		json_decref(root);
		return IDP_PLUGIN_EINVAL;
	}
	json_object_foreach(users, name, u) {
		const char *h = json_string_value(json_object_get(u, "password"));

		if (h == NULL || strncmp(h, "$argon2id$", 10) != 0 ||
		    !json_is_string(json_object_get(u, "subject")) ||
		    (json_object_get(u, "claims") && !json_is_object(json_object_get(u, "claims")))) {
			fi->host->log(0, "file: %s: user \"%.64s\" needs an argon2id \"password\", a \"subject\" "
					 "and an object \"claims\"", fi->path, name);
			json_decref(root);
			return IDP_PLUGIN_EINVAL;
		}
		if (json_object_get(u, "totp") != NULL) {
			size_t n;
			char *raw = totp_secret(json_string_value(json_object_get(u, "totp")), &n);

			if (raw == NULL) {
				fi->host->log(0, "file: %s: user \"%.64s\": \"totp\" must be a base32 secret of %d "
						 "to %d bytes (idpctl users totp-enrol)", fi->path, name,
					      TOTP_SECRET_MIN, TOTP_SECRET_MAX);
				json_decref(root);
				return IDP_PLUGIN_EINVAL;
			}
			OPENSSL_cleanse(raw, n);
			free(raw);
		}
	}
	json_incref(users);
	json_decref(root);
	json_decref(fi->users);
	fi->users = users;
	fi->mtime = st.st_mtim;
	fi->size = st.st_size;
	return IDP_PLUGIN_OK;
}

static void destroy(void *inst)
{
	struct file_inst *fi = inst;

	if (fi == NULL)
		return;
	json_decref(fi->users);
	free(fi->path);
	pthread_mutex_destroy(&fi->lock);
	free(fi);
}

static int create(const struct idp_host *host, const json_t *conf, void **inst)
{
	struct file_inst *fi = calloc(1, sizeof(*fi));
	const char *users = json_string_value(json_object_get(conf, "users"));
	unsigned char salt[16], pwd[16];
	int rc;

	*inst = NULL;
	if (fi == NULL)
		return IDP_PLUGIN_ENOMEM;
	fi->host = host;
	pthread_mutex_init(&fi->lock, NULL);
	if (oath_init() != OATH_OK) {
		host->log(0, "file: liboath did not start");
		destroy(fi);
		return IDP_PLUGIN_EINVAL;
	}
	if (users == NULL) {
		host->log(0, "file: \"users\" (the path of the users file) is required");
		destroy(fi);
		return IDP_PLUGIN_EINVAL;
	}
	if (users[0] == '/' || host->conf_dir == NULL)
		fi->path = strdup(users);
	else if (asprintf(&fi->path, "%s/%s", host->conf_dir, users) < 0)
		fi->path = NULL;
	if (fi->path == NULL || (rc = load(fi, true)) != IDP_PLUGIN_OK) {
		destroy(fi);
		return IDP_PLUGIN_EINVAL;
	}
	/* A hash of a random password with the usual cost, so that an unknown
	 * username takes as long to refuse as a wrong password. */
	host->random(salt, sizeof(salt));
	host->random(pwd, sizeof(pwd));
	rc = argon2id_hash_encoded(3, 1 << 16, 4, pwd, sizeof(pwd), salt, sizeof(salt), 32,
				   fi->dummy, sizeof(fi->dummy));
	OPENSSL_cleanse(pwd, sizeof(pwd));
	if (rc != ARGON2_OK) {
		host->log(0, "file: argon2: %s", argon2_error_message(rc));
		destroy(fi);
		return IDP_PLUGIN_EINVAL;
	}
	*inst = fi;
	return IDP_PLUGIN_OK;
}

static int login(void *inst, const struct idp_login *req, struct idp_identity *out)
{
	struct file_inst *fi = inst;
	json_t *u = NULL;
	char *hash = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&fi->lock);
	load(fi, false); /* a broken new file is refused; the old one serves */
	u = json_object_get(fi->users, req->username);
	if (u != NULL) {
		u = json_deep_copy(u);
		hash = strdup(json_string_value(json_object_get(u, "password")));
	}
	pthread_mutex_unlock(&fi->lock);

	rc = fi->host->argon2id_verify(hash ? hash : fi->dummy, req->password, strlen(req->password));
	if (u == NULL || hash == NULL || rc != ARGON2_OK) {
		if (rc != ARGON2_OK && rc != ARGON2_VERIFY_MISMATCH && u != NULL)
			fi->host->log(0, "file: argon2: %s", argon2_error_message(rc));
		json_decref(u);
		free(hash);
		return IDP_PLUGIN_EDENIED;
	}
	free(hash);
	out->subject = strdup(json_string_value(json_object_get(u, "subject")));
	out->claims = json_incref(json_object_get(u, "claims"));
	if (out->claims == NULL)
		out->claims = json_object();
	if (json_object_get(out->claims, "preferred_username") == NULL)
		json_object_set_new(out->claims, "preferred_username", json_string(req->username));
	out->amr = strdup("pwd");
	/* The account, for second_factor() (a step-up finds it in the session). */
	out->session_data = json_pack("{s:s}", "user", req->username);
	json_decref(u);
	return out->subject != NULL && out->session_data != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_ENOMEM;
}

static char *xdup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int second_factor(void *inst, const json_t *session_data, const char *code, uint64_t *counter)
{
	struct file_inst *fi = inst;
	const char *user = json_string_value(json_object_get(session_data, "user"));
	char *b32 = NULL, *raw = NULL;
	size_t n = 0;
	int pos, rc;

	*counter = 0;
	if (user == NULL)
		return IDP_PLUGIN_ENOTFOUND;
	pthread_mutex_lock(&fi->lock);
	load(fi, false);
	b32 = xdup(json_string_value(json_object_get(json_object_get(fi->users, user), "totp")));
	pthread_mutex_unlock(&fi->lock);
	if (b32 == NULL)
		return IDP_PLUGIN_ENOTFOUND;
	if (code == NULL) {
		rc = IDP_PLUGIN_OK;
		goto out;
	}
	if ((raw = totp_secret(b32, &n)) == NULL) {
		rc = IDP_PLUGIN_EINVAL;
		goto out;
	}
	/* Only TOTP_DIGITS digits: liboath also takes 7 and 8. */
	rc = strlen(code) == TOTP_DIGITS && strspn(code, "0123456789") == TOTP_DIGITS ?
		oath_totp_validate3(raw, n, (time_t)fi->host->now(), TOTP_STEP, 0, TOTP_WINDOW, &pos, counter, code) :
		OATH_INVALID_OTP;
	rc = rc >= 0 ? IDP_PLUGIN_OK : IDP_PLUGIN_EDENIED;
out:
	if (raw != NULL)
		OPENSSL_cleanse(raw, n);
	free(raw);
	if (b32 != NULL)
		OPENSSL_cleanse(b32, strlen(b32));
	free(b32);
	return rc;
}

IDP_EXPORT const struct idp_backend idp_backend_entry = {
	.abi = IDP_BACKEND_ABI,
	.size = sizeof(struct idp_backend),
	.name = "file",
	.create = create,
	.destroy = destroy,
	.login = login,
	.second_factor = second_factor,
};
