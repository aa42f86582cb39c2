/* SPDX-License-Identifier: EUPL-1.2 */
/* The key set: state.json and the key files read at start and reload,
 * whether a key may still sign (another node may have revoked it), and
 * new keys written for idpctl. Signing is in jws.c, JWKs in jwk.c. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "util.h"
#include "jwk.h"
#include "jws.h"
#include "pkcs11.h"

static const char *const state_names[] = {"next", "active", "retiring", "revoked"};

const char *key_state_name(enum key_state s)
{
	return (unsigned)s < 4 ? state_names[s] : "unknown";
}

static int parse_state(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* Private key files must be readable by the daemon alone (openssh's rule). */
static int check_perm(const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return log_fail(IDP_EIO, "keys: %s: %s", path, strerror(errno));
	if ((st.st_mode & 077) != 0)
		return log_fail(IDP_EDENIED, "keys: %s is readable by group or others (mode %04o); "
				"run: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
	return IDP_OK;
}

static int load_pem(const char *path, EVP_PKEY **out)
{
	FILE *f;
	int rc;

	*out = NULL;
	if ((rc = check_perm(path)) != IDP_OK)
		return rc;
	if ((f = fopen(path, "r")) == NULL)
		return log_fail(IDP_EIO, "keys: %s: %s", path, strerror(errno));
	*out = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (*out == NULL)
		return log_fail(IDP_EINVAL, "keys: %s: not a PEM private key", path);
	return IDP_OK;
}

static void key_release(struct sign_key *k)
{
	EVP_PKEY_free(k->pkey);
	json_decref(k->jwk);
	free(k->file);
	free(k->pkcs11_uri);
	free(k->hdr_jwt);
	free(k->hdr_at);
}

void keyset_free(struct keyset *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->n; i++)
		key_release(&ks->keys[i]);
	free(ks->keys);
	free(ks->jwks);
	free(ks->dir);
	if (ks->dirfd >= 0)
		close(ks->dirfd);
	free(ks);
}

static void keyset_open_dir(struct keyset *ks)
{
	ks->dirfd = ks->dir != NULL ? open(ks->dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
}

static uint64_t key_serial;

static int key_setup(struct sign_key *k, const char *dir)
{
	char *path = NULL, kid[48];
	int rc;

	if (k->pkcs11_uri != NULL ? (path = strdup(k->pkcs11_uri)) == NULL : asprintf(&path, "%s/%s", dir, k->file) < 0)
		return IDP_ENOMEM;
	k->serial = __atomic_add_fetch(&key_serial, 1, __ATOMIC_RELAXED);
	rc = k->pkcs11_uri != NULL ? pkcs11_load_key(k->pkcs11_uri, &k->pkey) : load_pem(path, &k->pkey);
	if (rc == IDP_OK && (k->alg == ALG_ES256) != (EVP_PKEY_is_a(k->pkey, "EC") != 0))
		rc = log_fail(IDP_EINVAL, "keys: %s does not hold a key for %s", path, alg_name(k->alg));
	if (rc == IDP_OK && (rc = jwk_from_pkey(k->pkey, &k->jwk)) != IDP_OK)
		idp_log(LOG_ERR, "keys: %s: unsupported key (P-256 or RSA >= 2048 bits)", path);
	if (rc == IDP_OK && (rc = jwk_thumbprint(k->jwk, kid)) == IDP_OK && strcmp(kid, k->kid) != 0)
		rc = log_fail(IDP_EINVAL, "keys: %s: kid %s in state.json does not match the key (%s)",
			      path, k->kid, kid);
	if (rc == IDP_OK) {
		json_object_set_new(k->jwk, "kid", json_string(k->kid));
		json_object_set_new(k->jwk, "use", json_string("sig"));
		json_object_set_new(k->jwk, "alg", json_string(alg_name(k->alg)));
		k->hdr_jwt = jws_header(k, "JWT");
		k->hdr_at = jws_header(k, "at+jwt");
		if (k->hdr_jwt == NULL || k->hdr_at == NULL)
			rc = IDP_ENOMEM;
	}
	free(path);
	return rc;
}

static int state_read(const char *dir, json_t **out)
{
	char *path;
	json_error_t e;

	*out = NULL;
	if (asprintf(&path, "%s/state.json", dir) < 0)
		return IDP_ENOMEM;
	if (access(path, F_OK) != 0) {
		*out = json_pack("{s:[]}", "keys");
		free(path);
		return IDP_ENOTFOUND;
	}
	*out = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	if (*out == NULL || !json_is_array(json_object_get(*out, "keys"))) {
		idp_log(LOG_ERR, "keys: %s: line %d: %s", path, e.line,
			*out == NULL ? e.text : "\"keys\" must be an array");
		json_decref(*out);
		*out = NULL;
		free(path);
		return IDP_EINVAL;
	}
	free(path);
	return IDP_OK;
}

int keyset_load(const char *dir, struct keyset **out)
{
	struct keyset *ks;
	json_t *st = NULL, *arr, *e, *jwks = NULL;
	size_t i;
	int rc;

	*out = NULL;
	rc = state_read(dir, &st);
	if (rc == IDP_ENOTFOUND) {
		json_decref(st);
		return log_fail(IDP_ENOTFOUND, "keys: %s/state.json missing: create keys with `idpctl keys init`", dir);
	}
	if (rc != IDP_OK)
		return rc;
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		json_decref(st);
		return IDP_ENOMEM;
	}
	ks->dirfd = -1;
	ks->dir = strdup(dir);
	keyset_open_dir(ks);
	arr = json_object_get(st, "keys");
	ks->keys = calloc(json_array_size(arr) + 1, sizeof(*ks->keys));
	jwks = json_pack("{s:[]}", "keys");
	json_array_foreach(arr, i, e) {
		struct sign_key *k = &ks->keys[ks->n];
		const char *kid = json_string_value(json_object_get(e, "kid"));
		const char *alg = json_string_value(json_object_get(e, "alg"));
		const char *file = json_string_value(json_object_get(e, "file"));
		const char *uri = json_string_value(json_object_get(e, "pkcs11_uri"));
		int state = parse_state(json_string_value(json_object_get(e, "state")));

		/* A key is in the folder ("file") or in a token ("pkcs11_uri"), never both. */
		if (kid == NULL || strlen(kid) >= sizeof(k->kid) || alg == NULL || (file == NULL) == (uri == NULL) ||
		    state < 0 || (file != NULL && strchr(file, '/') != NULL) || (uri != NULL && !pkcs11_uri_ok(uri))) {
			rc = log_fail(IDP_EINVAL, "keys: %s/state.json: entry %zu is malformed", dir, i);
			goto out;
		}
		if (state == KEY_REVOKED)
			continue; /* never loaded, never published, never signs */
		if (state == KEY_RETIRING && json_integer_value(json_object_get(e, "remove_at")) <= now_s())
			continue; /* every token it signed has expired */
		snprintf(k->kid, sizeof(k->kid), "%s", kid);
		k->alg = strcmp(alg, "ES256") == 0 ? ALG_ES256 : strcmp(alg, "RS256") == 0 ? ALG_RS256 : ALG_NONE;
		k->state = (enum key_state)state;
		k->file = xstrdup(file);
		k->pkcs11_uri = xstrdup(uri);
		k->created = json_integer_value(json_object_get(e, "created"));
		k->activated = json_integer_value(json_object_get(e, "activated"));
		k->remove_at = json_integer_value(json_object_get(e, "remove_at"));
		ks->n++;
		if (k->alg == ALG_NONE) {
			rc = log_fail(IDP_EINVAL, "keys: %s: unsupported alg %s", kid, alg);
			goto out;
		}
		if ((rc = key_setup(k, dir)) != IDP_OK)
			goto out;
		if (k->state == KEY_ACTIVE) {
			if (ks->active[k->alg] != NULL) {
				rc = log_fail(IDP_EINVAL, "keys: two active %s keys (%s, %s)", alg,
					      ks->active[k->alg]->kid, k->kid);
				goto out;
			}
			ks->active[k->alg] = k;
		}
		json_array_append(json_object_get(jwks, "keys"), k->jwk);
	}
	for (int a = ALG_ES256; a <= ALG_RS256; a++) {
		if (ks->active[a] == NULL) {
			rc = log_fail(IDP_EINVAL, "keys: no active %s key in %s (idpctl keys init / rotate)",
				      alg_name((enum sign_alg)a), dir);
			goto out;
		}
	}
	{
		char sp[4096];
		struct stat sb;

		snprintf(sp, sizeof(sp), "%s/state.json", dir);
		if (stat(sp, &sb) == 0) {
			ks->mtime = sb.st_mtim;
			ks->size = (long long)sb.st_size;
			ks->ino = (long long)sb.st_ino;
		}
		for (i = 0; i < ks->n; i++)
			if (ks->keys[i].state == KEY_RETIRING && ks->keys[i].remove_at > 0 &&
			    (ks->next_expiry == 0 || ks->keys[i].remove_at < ks->next_expiry))
				ks->next_expiry = ks->keys[i].remove_at;
	}
	ks->jwks = json_dumps(jwks, JSON_COMPACT);
	ks->jwks_len = ks->jwks ? strlen(ks->jwks) : 0;
	*out = ks;
	ks = NULL;
	rc = IDP_OK;
out:
	json_decref(jwks);
	json_decref(st);
	keyset_free(ks);
	return rc;
}

/* What identifies one version of state.json. */
struct state_id {
	struct timespec mtime;
	long long size, ino;
};

/* False when dir/state.json cannot be stat'ed (being replaced, or gone).
 * With dirfd (>= 0), through the open directory. */
static bool state_file_id(const char *dir, int dirfd, struct state_id *id)
{
	char sp[4096];
	struct stat sb;

	if (dirfd >= 0) {
		if (fstatat(dirfd, "state.json", &sb, 0) != 0)
			return false;
	} else {
		snprintf(sp, sizeof(sp), "%s/state.json", dir);
		if (stat(sp, &sb) != 0)
			return false;
	}
	id->mtime = sb.st_mtim;
	id->size = (long long)sb.st_size;
	id->ino = (long long)sb.st_ino;
	return true;
}

static bool state_id_eq(const struct state_id *a, const struct state_id *b)
{
	return a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->size == b->size && a->ino == b->ino;
}

/* True when dir/state.json is not the file ks was loaded from; false too
 * when it cannot be read (keep what we have). */
static bool state_file_changed(const struct keyset *ks)
{
	struct state_id now, loaded = {ks->mtime, ks->size, ks->ino};

	return state_file_id(ks->dir, -1, &now) && !state_id_eq(&now, &loaded);
}

bool keyset_changed(const struct keyset *ks)
{
	if (ks->next_expiry > 0 && ks->next_expiry <= now_s())
		return true;
	return state_file_changed(ks);
}

/* state_read for the callers that run while keyset_load fails (each
 * signature, each retry of the poller): the poller's report of keyset_load's
 * failure says what is wrong with the file, once, not once per call. */
static int state_read_quiet(const char *dir, json_t **out)
{
	struct log_capture quiet;
	int rc;

	idp_log_capture(&quiet);
	rc = state_read(dir, out);
	idp_log_capture(NULL);
	return rc;
}

bool keyset_may_sign(const struct keyset *ks, const struct sign_key *k)
{
	/* This thread's last answer for a changed state.json: until the poller
	 * reloads, the file is read once per thread and version, not once per
	 * signature. */
	static __thread struct {
		uint64_t serial;
		struct state_id id;
		bool ok;
	} seen;
	struct state_id now, loaded = {ks->mtime, ks->size, ks->ino};
	json_t *st = NULL;
	const char *s;
	bool ok = true;

	if (!state_file_id(ks->dir, ks->dirfd, &now) || state_id_eq(&now, &loaded))
		return true; /* unchanged, or being replaced: what was loaded holds */
	if (seen.serial == k->serial && state_id_eq(&seen.id, &now))
		return seen.ok;
	/* Unreadable: what was loaded holds, and the poller retries. */
	if (state_read_quiet(ks->dir, &st) == IDP_OK) {
		s = json_string_value(json_object_get(keys_state_entry(st, k->kid), "state"));
		ok = s != NULL && strcmp(s, key_state_name(KEY_REVOKED)) != 0;
	}
	json_decref(st);
	seen.serial = k->serial;
	seen.id = now;
	seen.ok = ok;
	if (!ok)
		idp_log(LOG_WARN, "keys: %s was revoked or removed since this node loaded it: not signing",
			k->kid);
	return ok;
}

json_t *keys_state_entry(json_t *st, const char *kid)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(st, "keys"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "kid")) ?: "", kid) == 0)
			return e;
	return NULL;
}

static int key_copy(struct sign_key *to, const struct sign_key *from)
{
	*to = *from; /* same serial: the same EVP_PKEY, so a cached signer stays right */
	to->pkey = NULL;
	to->jwk = NULL;
	to->file = to->pkcs11_uri = to->hdr_jwt = to->hdr_at = NULL;
	if (EVP_PKEY_up_ref(from->pkey) != 1)
		return IDP_ENOMEM;
	to->pkey = from->pkey;
	/* A deep copy: the two sets may be freed by two threads at once. */
	to->jwk = json_deep_copy(from->jwk);
	to->file = xstrdup(from->file);
	to->pkcs11_uri = xstrdup(from->pkcs11_uri);
	to->hdr_jwt = xstrdup(from->hdr_jwt);
	to->hdr_at = xstrdup(from->hdr_at);
	if (to->jwk == NULL || (to->file == NULL) != (from->file == NULL) ||
	    (to->pkcs11_uri == NULL) != (from->pkcs11_uri == NULL) || to->hdr_jwt == NULL || to->hdr_at == NULL)
		return IDP_ENOMEM;
	return IDP_OK;
}

int keyset_without_revoked(const struct keyset *ks, struct keyset **out, size_t *dropped)
{
	struct keyset *nks = NULL;
	json_t *st = NULL, *jwks = NULL;
	int rc;

	*out = NULL;
	*dropped = 0;
	if ((rc = state_read_quiet(ks->dir, &st)) != IDP_OK)
		goto out; /* unreadable: nothing says which key to drop */
	if ((nks = calloc(1, sizeof(*nks))) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	nks->dirfd = -1;
	if ((nks->keys = calloc(ks->n + 1, sizeof(*nks->keys))) == NULL || (nks->dir = strdup(ks->dir)) == NULL ||
	    (jwks = json_pack("{s:[]}", "keys")) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	keyset_open_dir(nks);
	nks->mtime = ks->mtime;
	nks->size = ks->size;
	nks->ino = ks->ino;
	nks->next_expiry = ks->next_expiry;
	for (size_t i = 0; i < ks->n; i++) {
		const struct sign_key *k = &ks->keys[i];
		json_t *e = keys_state_entry(st, k->kid);
		const char *s = json_string_value(json_object_get(e, "state"));

		if (s == NULL || strcmp(s, key_state_name(KEY_REVOKED)) == 0) {
			(*dropped)++;
			continue;
		}
		/* Counted before the copy: key_release() must see whatever it holds. */
		if ((rc = key_copy(&nks->keys[nks->n++], k)) != IDP_OK)
			goto out;
		if (ks->active[k->alg] == k)
			nks->active[k->alg] = &nks->keys[nks->n - 1];
		json_array_append(json_object_get(jwks, "keys"), nks->keys[nks->n - 1].jwk);
	}
	if ((nks->jwks = json_dumps(jwks, JSON_COMPACT)) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	nks->jwks_len = strlen(nks->jwks);
	*out = nks;
	nks = NULL;
	rc = IDP_OK;
out:
	json_decref(jwks);
	json_decref(st);
	keyset_free(nks);
	return rc;
}

const struct sign_key *keyset_find(const struct keyset *ks, const char *kid)
{
	for (size_t i = 0; kid != NULL && i < ks->n; i++)
		if (strcmp(ks->keys[i].kid, kid) == 0)
			return &ks->keys[i];
	return NULL;
}

int keys_write_file_atomic(const char *path, const char *data, mode_t mode)
{
	char *tmp;
	int fd, rc = IDP_OK;
	size_t len = strlen(data);

	if (asprintf(&tmp, "%s.tmp.%d", path, (int)getpid()) < 0)
		return IDP_ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		rc = IDP_EIO;
	if (fd >= 0)
		close(fd);
	if (rc == IDP_OK && rename(tmp, path) != 0)
		rc = IDP_EIO;
	if (rc != IDP_OK) {
		idp_log(LOG_ERR, "keys: writing %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return rc;
}

int keyset_create_key(const char *dir, enum sign_alg alg, enum key_state state, char kid_out[48])
{
	EVP_PKEY *pkey = NULL;
	json_t *st = NULL, *jwk = NULL;
	char kid[48], *file = NULL, *path = NULL, *spath = NULL, *doc = NULL;
	FILE *f = NULL;
	int fd, rc;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return log_fail(IDP_EIO, "keys: mkdir %s: %s", dir, strerror(errno));
	rc = state_read(dir, &st);
	if (rc != IDP_OK && rc != IDP_ENOTFOUND)
		return rc;
	pkey = alg == ALG_ES256 ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	if (pkey == NULL) {
		rc = log_fail(IDP_EINVAL, "keys: key generation failed");
		goto out;
	}
	if ((rc = jwk_from_pkey(pkey, &jwk)) != IDP_OK || (rc = jwk_thumbprint(jwk, kid)) != IDP_OK)
		goto out;
	if (asprintf(&file, "%s-%.16s.pem", alg == ALG_ES256 ? "es256" : "rs256", kid) < 0 ||
	    asprintf(&path, "%s/%s", dir, file) < 0 || asprintf(&spath, "%s/state.json", dir) < 0) {
		rc = IDP_ENOMEM;
		goto out;
	}
	/* 0600 from birth: the key is never readable by others, not even briefly. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		rc = log_fail(IDP_EIO, "keys: %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if (!PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		rc = log_fail(IDP_EIO, "keys: writing %s failed", path);
		goto out;
	}
	json_array_append_new(json_object_get(st, "keys"),
			      json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "kid", kid, "alg", alg_name(alg),
					"file", file, "state", key_state_name(state), "created",
					(json_int_t)now_s(), "activated",
					(json_int_t)(state == KEY_ACTIVE ? now_s() : 0)));
	doc = json_dumps(st, JSON_INDENT(2));
	if (doc == NULL || (rc = keys_write_file_atomic(spath, doc, 0600)) != IDP_OK)
		goto out;
	if (kid_out != NULL)
		memcpy(kid_out, kid, 48);
	rc = IDP_OK;
out:
	if (f != NULL)
		fclose(f);
	EVP_PKEY_free(pkey);
	json_decref(jwk);
	json_decref(st);
	free(file);
	free(path);
	free(spath);
	free(doc);
	return rc;
}
