/* SPDX-License-Identifier: EUPL-1.2 */
/* Key-set administration for idpctl: init, rotate, revoke, import, remove,
 * status. state.json is rewritten atomically under an exclusive lock of the
 * keys folder; every daemon sharing the folder reloads it within a second
 * (main.c polls it). Each change appends an audit line to audit.log.
 *
 * Rotation that no service notices: a key is published as "next" at least
 * min_publish_s (>= the JWKS max-age) before it signs, and rotate waits for
 * every active service to have fetched a JWKS holding it. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "util.h"
#include "jwk.h"
#include "pkcs11.h"

#define K_SEEN "jwks-seen:"
#define K_ACTIVE "client-active:"

int keys_lock_dir(const char *dir, bool wait)
{
	char p[4096];
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(p, sizeof(p), "%s/.lock", dir);
	if ((fd = open(p, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return -1;
	if (flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

void keys_unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

static void audit(const char *dir, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void audit(const char *dir, const char *fmt, ...)
{
	char p[4096], ts[32], line[1024];
	va_list ap;
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	snprintf(p, sizeof(p), "%s/audit.log", dir);
	/* Appended to the folder's own file, never through a planted link. */
	fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "a")) == NULL) {
		idp_log(LOG_ERR, "keys: %s: %s: this change is not in the audit log", p, strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		fprintf(f, "%s uid=%u %s\n", ts, (unsigned)getuid(), line);
		fclose(f);
	}
	idp_log(LOG_INFO, "keys audit: %s", line);
}

/* A key's file as state.json names it: a plain name of the keys folder as
 * keyadmin and keys.c write them ("es256-<kid>.pem"): letters, digits, '-',
 * '_' and '.', not starting with '.', ending in ".pem". Anything else ("../x",
 * "/etc/x", "state.json") would make revoke or prune unlink another file. */
static bool key_file_name_ok(const char *f)
{
	size_t n = f != NULL ? strlen(f) : 0;

	return n > 4 && n <= 128 && f[0] != '.' && strcmp(f + n - 4, ".pem") == 0 &&
	       strspn(f, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

/* Removes the private key file of a state.json entry; a key in a token
 * has none (the token keeps it: deleting it there is the operator's act). */
static void unlink_key_file(const char *dir, json_t *e)
{
	const char *f = json_string_value(json_object_get(e, "file"));
	char p[4200];

	if (f == NULL)
		return;
	snprintf(p, sizeof(p), "%s/%s", dir, f);
	unlink(p);
}

static int state_load(const char *dir, json_t **st)
{
	char p[4096];
	json_error_t e;
	json_t *k;
	size_t i;

	snprintf(p, sizeof(p), "%s/state.json", dir);
	if (access(p, F_OK) != 0) {
		*st = json_pack("{s:[]}", "keys");
		return IDP_ENOTFOUND;
	}
	*st = json_load_file(p, JSON_REJECT_DUPLICATES, &e);
	if (*st == NULL || !json_is_array(json_object_get(*st, "keys"))) {
		json_decref(*st);
		*st = NULL;
		return log_fail(IDP_EINVAL, "keys: %s: line %d: %s", p, e.line, e.text);
	}
	/* The whole state is refused, not the one entry: an edited or forged
	 * state.json is for a person to look at before any file goes. */
	json_array_foreach(json_object_get(*st, "keys"), i, k) {
		const char *f = json_string_value(json_object_get(k, "file"));
		const char *uri = json_string_value(json_object_get(k, "pkcs11_uri"));

		/* A key in a token has a URI and no file: nothing here to unlink. */
		if (f == NULL && json_object_get(k, "file") == NULL && pkcs11_uri_ok(uri))
			continue;
		if (!key_file_name_ok(f) || uri != NULL) {
			bool printable = f != NULL && strlen(f) <= 200;

			for (const unsigned char *c = (const unsigned char *)f; printable && *c; c++)
				printable = *c >= ' ' && *c < 0x7f;
			idp_log(LOG_ERR, "keys: %s: entry %zu: \"file\" %s%s%s is not a plain file name of the "
				"keys folder (like es256-<kid>.pem): refusing the whole state, nothing changed; "
				"correct state.json", p, i, printable ? "\"" : "",
				printable ? f : "(missing or unprintable)", printable ? "\"" : "");
			json_decref(*st); /* f was in it */
			*st = NULL;
			return IDP_EINVAL;
		}
	}
	return IDP_OK;
}

static int state_save(const char *dir, json_t *st)
{
	char p[4096], tmp[4200];
	char *doc = json_dumps(st, JSON_INDENT(2));
	int fd, rc = IDP_OK;
	size_t len;

	if (doc == NULL)
		return IDP_ENOMEM;
	snprintf(p, sizeof(p), "%s/state.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", p, (int)getpid());
	len = strlen(doc);
	/* Created here or not at all: never through a link planted at the
	 * name. One found there (a crash's leftover, or planted) is removed,
	 * the link itself, not what it points to, and creation tried once more;
	 * writers hold the folder's lock, so no other keyadmin races us. */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, doc, len) != (ssize_t)len || fsync(fd) != 0)
		rc = IDP_EIO;
	if (fd >= 0)
		close(fd);
	if (rc == IDP_OK && rename(tmp, p) != 0)
		rc = IDP_EIO;
	if (rc != IDP_OK) {
		idp_log(LOG_ERR, "keys: writing %s: %s", p, strerror(errno));
		unlink(tmp);
	}
	free(doc);
	return rc;
}

static json_t *find_state(json_t *st, enum sign_alg alg, const char *state)
{
	size_t i;
	json_t *e;

	json_array_foreach(json_object_get(st, "keys"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "alg")) ?: "", alg_name(alg)) == 0 &&
		    strcmp(json_string_value(json_object_get(e, "state")) ?: "", state) == 0)
			return e;
	return NULL;
}


static void set_state(json_t *e, enum key_state s)
{
	json_object_set_new(e, "state", json_string(key_state_name(s)));
}

/* Drops retiring keys whose tokens have all expired: they left the JWKS at
 * remove_at (the daemon stops publishing them by itself); now the files go. */
static bool prune(const char *dir, json_t *st, FILE *out)
{
	json_t *arr = json_object_get(st, "keys"), *e;
	bool changed = false;

	for (size_t i = 0; i < json_array_size(arr);) {
		e = json_array_get(arr, i);
		if (strcmp(json_string_value(json_object_get(e, "state")) ?: "", "retiring") == 0 &&
		    json_integer_value(json_object_get(e, "remove_at")) <= now_s()) {
			unlink_key_file(dir, e);
			audit(dir, "remove: %s %s retiring -> removed (its tokens have expired)",
			      json_string_value(json_object_get(e, "alg")), json_string_value(json_object_get(e, "kid")));
			if (out)
				fprintf(out, "removed retired key %s\n", json_string_value(json_object_get(e, "kid")));
			json_array_remove(arr, i);
			changed = true;
			continue;
		}
		i++;
	}
	return changed;
}

/* Creates a key and appends it to st (the caller saves). */
static int add_key(const char *dir, json_t *st, enum sign_alg alg, enum key_state state, char kid[48])
{
	char sub[4200];
	json_t *tmp;
	int rc;

	/* keyset_create_key writes its own state.json: let it write into a
	 * scratch folder view by creating the key file here and merging. */
	snprintf(sub, sizeof(sub), "%s/.new", dir);
	if (mkdir(sub, 0700) != 0 && errno != EEXIST)
		return IDP_EIO;
	{
		/* A fresh private key is written there: a link planted at the
		 * name would send it to another folder. */
		struct stat sb;

		if (lstat(sub, &sb) != 0 || !S_ISDIR(sb.st_mode) || sb.st_uid != geteuid())
			return log_fail(IDP_EDENIED, "keys: %s is not a folder of ours: remove it", sub);
	}
	{
		char sp[4300];

		snprintf(sp, sizeof(sp), "%s/state.json", sub);
		unlink(sp);
	}
	if ((rc = keyset_create_key(sub, alg, state, kid)) != IDP_OK)
		return rc;
	if ((rc = state_load(sub, &tmp)) != IDP_OK)
		return rc;
	{
		json_t *e = json_array_get(json_object_get(tmp, "keys"), 0);
		char from[4400], to[4400];
		const char *file = json_string_value(json_object_get(e, "file"));

		snprintf(from, sizeof(from), "%s/%s", sub, file);
		snprintf(to, sizeof(to), "%s/%s", dir, file);
		if (rename(from, to) != 0)
			rc = IDP_EIO;
		else
			json_array_append(json_object_get(st, "keys"), e);
		snprintf(from, sizeof(from), "%s/state.json", sub);
		unlink(from);
	}
	rmdir(sub);
	json_decref(tmp);
	return rc;
}

int keys_init(const char *dir, FILE *out)
{
	json_t *st = NULL;
	char kid[48];
	int fd, rc;

	if ((fd = keys_lock_dir(dir, true)) < 0)
		return log_fail(IDP_EIO, "keys: cannot lock %s: %s", dir, strerror(errno));
	rc = state_load(dir, &st);
	if (rc == IDP_OK && json_array_size(json_object_get(st, "keys")) > 0) {
		fprintf(out, "keys: %s/state.json exists: keys are already initialised (keys list)\n", dir);
		rc = IDP_EEXIST;
		goto out;
	}
	if (st == NULL)
		goto out;
	for (int a = ALG_ES256; a <= ALG_RS256; a++) {
		if ((rc = add_key(dir, st, (enum sign_alg)a, KEY_ACTIVE, kid)) != IDP_OK)
			goto out;
		fprintf(out, "created %s key %s (active)\n", alg_name((enum sign_alg)a), kid);
		audit(dir, "init: %s %s created active", alg_name((enum sign_alg)a), kid);
		if ((rc = add_key(dir, st, (enum sign_alg)a, KEY_NEXT, kid)) != IDP_OK)
			goto out;
		fprintf(out, "created %s key %s (next)\n", alg_name((enum sign_alg)a), kid);
		audit(dir, "init: %s %s created next", alg_name((enum sign_alg)a), kid);
	}
	rc = state_save(dir, st);
out:
	json_decref(st);
	keys_unlock_dir(fd);
	return rc;
}

static const char *fmt_time(int64_t t, char buf[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0)
		return "-";
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&tt, &tm));
	return buf;
}

/* Which active clients have not fetched a JWKS that holds kid. */
static json_t *lagging_clients(const struct config *cfg, struct store *st, const char *kid)
{
	json_t *lag = json_array();

	for (size_t i = 0; st != NULL && i < cfg->n_clients; i++) {
		char key[300], *v = NULL;
		size_t n;
		bool active, seen = false;

		snprintf(key, sizeof(key), K_ACTIVE "%s", cfg->clients[i].id);
		active = store_get(st, key, &v, &n) == IDP_OK;
		free(v);
		v = NULL;
		if (!active)
			continue;
		snprintf(key, sizeof(key), K_SEEN "%s", cfg->clients[i].id);
		if (store_get(st, key, &v, &n) == IDP_OK)
			seen = strstr(v, kid) != NULL;
		free(v);
		if (!seen)
			json_array_append_new(lag, json_string(cfg->clients[i].id));
	}
	return lag;
}

int keys_rotate(const struct config *cfg, const char *dir, struct store *store, enum sign_alg only,
		bool force, FILE *out)
{
	json_t *st = NULL;
	int fd, rc = IDP_OK;
	int64_t now = now_s();
	bool changed = false;

	if ((fd = keys_lock_dir(dir, true)) < 0)
		return log_fail(IDP_EIO, "keys: cannot lock %s: %s", dir, strerror(errno));
	if ((rc = state_load(dir, &st)) != IDP_OK)
		goto out;
	changed = prune(dir, st, out);
	if (store == NULL)
		fprintf(out, "note: the memory store is private to each daemon: services' readiness is "
			     "tracked with the redis store only\n");
	for (int a = ALG_ES256; a <= ALG_RS256; a++) {
		json_t *next, *active, *lag;
		const char *nkid;
		char kid[48], tb[32], tb2[32];
		int64_t published;

		if (only != ALG_NONE && (int)only != a)
			continue;
		next = find_state(st, (enum sign_alg)a, "next");
		active = find_state(st, (enum sign_alg)a, "active");
		if (next == NULL) {
			if ((rc = add_key(dir, st, (enum sign_alg)a, KEY_NEXT, kid)) != IDP_OK)
				goto out;
			changed = true;
			audit(dir, "rotate: %s %s created next (there was none)", alg_name((enum sign_alg)a), kid);
			fprintf(out, "%s: no next key: created %s; it may sign in %u s (min_publish_s)\n",
				alg_name((enum sign_alg)a), kid, cfg->min_publish);
			rc = IDP_EDENIED;
			continue;
		}
		nkid = json_string_value(json_object_get(next, "kid"));
		published = json_integer_value(json_object_get(next, "created"));
		if (!force && published + cfg->min_publish > now) {
			fprintf(out, "%s: next key %s was published at %s; it may sign from %s "
				     "(min_publish_s %u: every cached JWKS must hold it first). Use --force in an emergency.\n",
				alg_name((enum sign_alg)a), nkid, fmt_time(published, tb), fmt_time(published + cfg->min_publish, tb2),
				cfg->min_publish);
			rc = IDP_EDENIED;
			continue;
		}
		lag = lagging_clients(cfg, store, nkid);
		if (json_array_size(lag) > 0) {
			size_t i;
			json_t *c;
			bool deadline = published + cfg->rotation_deadline <= now;

			fprintf(out, "%s: %s not yet fetched a JWKS holding %s:", alg_name((enum sign_alg)a),
				json_array_size(lag) > 1 ? "these active services have" : "this active service has", nkid);
			json_array_foreach(lag, i, c)
				fprintf(out, " %s", json_string_value(c));
			fputc('\n', out);
			if (!force && !deadline) {
				fprintf(out, "%s: waiting for them (until %s, rotation_deadline_s); --force rotates now "
					     "and leaves them behind\n", alg_name((enum sign_alg)a),
					fmt_time(published + cfg->rotation_deadline, tb));
				json_decref(lag);
				rc = IDP_EDENIED;
				continue;
			}
			fprintf(out, "%s: rotating anyway (%s); left behind:", alg_name((enum sign_alg)a),
				force ? "--force" : "deadline passed");
			json_array_foreach(lag, i, c)
				fprintf(out, " %s", json_string_value(c));
			fputc('\n', out);
		}
		json_decref(lag);
		if (active != NULL) {
			set_state(active, KEY_RETIRING);
			/* Published until every token it signed has expired. */
			json_object_set_new(active, "remove_at", json_integer(now + cfg->token_max_ttl + cfg->retire_leeway));
		}
		set_state(next, KEY_ACTIVE);
		json_object_set_new(next, "activated", json_integer(now));
		if ((rc = add_key(dir, st, (enum sign_alg)a, KEY_NEXT, kid)) != IDP_OK)
			goto out;
		changed = true;
		audit(dir, "rotate: %s %s next -> active; %s active -> retiring (removed at %s); %s created next",
		      alg_name((enum sign_alg)a), nkid,
		      active ? json_string_value(json_object_get(active, "kid")) : "-",
		      fmt_time(now + cfg->token_max_ttl + cfg->retire_leeway, tb), kid);
		fprintf(out, "%s: %s now signs; %s retires at %s; new next key %s\n", alg_name((enum sign_alg)a),
			nkid, active ? json_string_value(json_object_get(active, "kid")) : "-",
			fmt_time(now + cfg->token_max_ttl + cfg->retire_leeway, tb), kid);
	}
out:
	if (changed && state_save(dir, st) != IDP_OK)
		rc = IDP_EIO;
	json_decref(st);
	keys_unlock_dir(fd);
	return rc;
}

int keys_revoke(const struct config *cfg, const char *dir, const char *kid, FILE *out)
{
	json_t *st = NULL, *e, *next;
	int fd, rc;
	enum sign_alg alg;
	char nk[48];

	(void)cfg;
	if ((fd = keys_lock_dir(dir, true)) < 0)
		return log_fail(IDP_EIO, "keys: cannot lock %s: %s", dir, strerror(errno));
	if ((rc = state_load(dir, &st)) != IDP_OK)
		goto out;
	if ((e = keys_state_entry(st, kid)) == NULL) {
		fprintf(out, "no key %s (keys list)\n", kid);
		rc = IDP_ENOTFOUND;
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(e, "state")) ?: "", "revoked") == 0) {
		fprintf(out, "key %s is already revoked\n", kid);
		rc = IDP_EEXIST;
		goto out;
	}
	alg = strcmp(json_string_value(json_object_get(e, "alg")) ?: "", "ES256") == 0 ? ALG_ES256 : ALG_RS256;
	if (strcmp(json_string_value(json_object_get(e, "state")), "active") == 0) {
		/* Signing moves at once: to the published next key when there is
		 * one (services may already hold it), else to a fresh key. */
		set_state(e, KEY_REVOKED);
		next = find_state(st, alg, "next");
		if (next != NULL) {
			set_state(next, KEY_ACTIVE);
			json_object_set_new(next, "activated", json_integer(now_s()));
			fprintf(out, "%s: %s now signs\n", alg_name(alg), json_string_value(json_object_get(next, "kid")));
			audit(dir, "revoke: %s %s next -> active", alg_name(alg), json_string_value(json_object_get(next, "kid")));
		} else {
			if ((rc = add_key(dir, st, alg, KEY_ACTIVE, nk)) != IDP_OK)
				goto out;
			fprintf(out, "%s: fresh key %s now signs\n", alg_name(alg), nk);
			audit(dir, "revoke: %s %s created active", alg_name(alg), nk);
		}
		if ((rc = add_key(dir, st, alg, KEY_NEXT, nk)) != IDP_OK)
			goto out;
		audit(dir, "revoke: %s %s created next", alg_name(alg), nk);
	} else {
		set_state(e, KEY_REVOKED);
	}
	json_object_set_new(e, "revoked_at", json_integer(now_s()));
	/* The private key is useless now and dangerous: remove it. */
	unlink_key_file(dir, e);
	audit(dir, "revoke: %s %s revoked; removed from the JWKS at once", alg_name(alg), kid);
	fprintf(out, "revoked %s: it leaves the JWKS within a second on every node\n", kid);
	if (json_object_get(e, "pkcs11_uri") != NULL)
		fprintf(out, "the key is still in its token (%s): delete it there\n",
			json_string_value(json_object_get(e, "pkcs11_uri")));
	rc = state_save(dir, st);
out:
	json_decref(st);
	keys_unlock_dir(fd);
	return rc;
}

int keys_remove(const char *dir, const char *kid, FILE *out)
{
	json_t *st = NULL, *e;
	int fd, rc;
	char tb[32];

	if ((fd = keys_lock_dir(dir, true)) < 0)
		return log_fail(IDP_EIO, "keys: cannot lock %s: %s", dir, strerror(errno));
	if ((rc = state_load(dir, &st)) != IDP_OK)
		goto out;
	if ((e = keys_state_entry(st, kid)) == NULL) {
		fprintf(out, "no key %s\n", kid);
		rc = IDP_ENOTFOUND;
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(e, "state")) ?: "", "retiring") != 0 ||
	    json_integer_value(json_object_get(e, "remove_at")) > now_s()) {
		fprintf(out, "refused: %s is %s%s%s; only a retiring key whose tokens have all expired is "
			     "removed (use keys revoke in an emergency)\n", kid,
			json_string_value(json_object_get(e, "state")),
			json_object_get(e, "remove_at") ? ", its tokens are valid until " : "",
			json_object_get(e, "remove_at") ? fmt_time(json_integer_value(json_object_get(e, "remove_at")), tb) : "");
		rc = IDP_EDENIED;
		goto out;
	}
	prune(dir, st, out);
	rc = state_save(dir, st);
out:
	json_decref(st);
	keys_unlock_dir(fd);
	return rc;
}

/* Adds pk as the next key of alg: its PEM written to the folder, or, with
 * uri, the token's URI recorded in its place. from names the source for
 * the audit line. */
static int import_entry(const char *dir, EVP_PKEY *pk, enum sign_alg alg, const char *uri, const char *from,
			FILE *out)
{
	FILE *f;
	json_t *st = NULL, *jwk = NULL, *e;
	char kid[48], file[80], p[4096];
	int fd, lfd, rc;

	if ((alg == ALG_ES256) != (EVP_PKEY_is_a(pk, "EC") != 0) || jwk_from_pkey(pk, &jwk) != IDP_OK ||
	    jwk_thumbprint(jwk, kid) != IDP_OK) {
		json_decref(jwk);
		return log_fail(IDP_EINVAL, "keys import: %s is not a %s key (P-256, or RSA >= 2048 bits)",
				from, alg_name(alg));
	}
	json_decref(jwk);
	if ((lfd = keys_lock_dir(dir, true)) < 0)
		return log_fail(IDP_EIO, "keys: cannot lock %s", dir);
	rc = state_load(dir, &st);
	if (st == NULL)
		goto out;
	if (keys_state_entry(st, kid) != NULL) {
		fprintf(out, "key %s is already in the set\n", kid);
		rc = IDP_EEXIST;
		goto out;
	}
	/* Imported keys start as next: published before they may sign. */
	e = json_pack("{s:s,s:s,s:s,s:I,s:I}", "kid", kid, "alg", alg_name(alg), "state", "next", "created",
		      (json_int_t)now_s(), "activated", (json_int_t)0);
	if (e == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	json_array_append_new(json_object_get(st, "keys"), e);
	if (uri != NULL) {
		json_object_set_new(e, "pkcs11_uri", json_string(uri));
	} else {
		snprintf(file, sizeof(file), "%s-%.16s.pem", alg == ALG_ES256 ? "es256" : "rs256", kid);
		snprintf(p, sizeof(p), "%s/%s", dir, file);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
			rc = log_fail(IDP_EIO, "keys import: %s: %s", p, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		if (!PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 ||
		    fsync(fileno(f)) != 0) {
			fclose(f);
			rc = log_fail(IDP_EIO, "keys import: writing %s failed", p);
			goto out;
		}
		fclose(f);
		json_object_set_new(e, "file", json_string(file));
	}
	{
		/* At most one next key per algorithm: an older one is dropped. */
		json_t *arr = json_object_get(st, "keys");

		for (size_t i = 0; i + 1 < json_array_size(arr);) {
			e = json_array_get(arr, i);
			if (strcmp(json_string_value(json_object_get(e, "state")), "next") == 0 &&
			    strcmp(json_string_value(json_object_get(e, "alg")), alg_name(alg)) == 0) {
				unlink_key_file(dir, e);
				audit(dir, "import: %s %s (next) replaced", alg_name(alg), json_string_value(json_object_get(e, "kid")));
				json_array_remove(arr, i);
				continue;
			}
			i++;
		}
	}
	audit(dir, "import: %s %s imported as next from %s", alg_name(alg), kid, from);
	fprintf(out, "imported %s key %s as next\n", alg_name(alg), kid);
	rc = state_save(dir, st);
out:
	json_decref(st);
	keys_unlock_dir(lfd);
	return rc;
}

int keys_import(const char *dir, const char *pem_path, enum sign_alg alg, FILE *out)
{
	FILE *f;
	EVP_PKEY *pk;
	int rc;
	struct stat sb;

	if ((f = fopen(pem_path, "r")) == NULL || fstat(fileno(f), &sb) != 0) {
		rc = log_fail(IDP_EIO, "keys import: %s: %s", pem_path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return rc;
	}
	/* The daemon refuses a private key others may read (check_perm in
	 * keys.c): one that was readable may have been copied, so import
	 * refuses it too rather than make it a signing key. The mode is the
	 * opened file's, not one a rename could change after a stat. */
	if (!S_ISREG(sb.st_mode) || (sb.st_mode & 077) != 0) {
		fclose(f);
		if (!S_ISREG(sb.st_mode))
			return log_fail(IDP_EINVAL, "keys import: %s is not a regular file", pem_path);
		return log_fail(IDP_EDENIED, "keys import: %s is readable by group or others (mode %04o); "
				"the daemon refuses such private keys: check who may have read it, then "
				"run: chmod 600 %s", pem_path, (unsigned)(sb.st_mode & 07777), pem_path);
	}
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL)
		return log_fail(IDP_EINVAL, "keys import: %s is not an unencrypted PEM private key", pem_path);
	rc = import_entry(dir, pk, alg, NULL, pem_path, out);
	EVP_PKEY_free(pk);
	return rc;
}

int keys_import_pkcs11(const struct config *cfg, const char *dir, const char *uri, enum sign_alg alg, FILE *out)
{
	EVP_PKEY *pk;
	int rc;

	/* Loaded as the daemon will load it: what cannot be used is refused now. */
	pkcs11_configure(cfg->pkcs11_module, cfg->pkcs11_pin_file);
	if ((rc = pkcs11_load_key(uri, &pk)) != IDP_OK)
		return rc;
	rc = import_entry(dir, pk, alg, uri, uri, out);
	EVP_PKEY_free(pk);
	return rc;
}

int keys_status(const struct config *cfg, const char *dir, struct store *store, FILE *out)
{
	json_t *st = NULL;
	size_t i;
	json_t *e;
	char a[32], b[32], c[32];
	int rc;

	if ((rc = state_load(dir, &st)) != IDP_OK) {
		json_decref(st);
		return rc;
	}
	fprintf(out, "%-44s %-6s %-9s %-20s %-20s %s\n", "kid", "alg", "state", "created", "activated", "removed at");
	json_array_foreach(json_object_get(st, "keys"), i, e) {
		fprintf(out, "%-44s %-6s %-9s %-20s %-20s %s\n", json_string_value(json_object_get(e, "kid")),
			json_string_value(json_object_get(e, "alg")), json_string_value(json_object_get(e, "state")),
			fmt_time(json_integer_value(json_object_get(e, "created")), a),
			fmt_time(json_integer_value(json_object_get(e, "activated")), b),
			fmt_time(json_integer_value(json_object_get(e, "remove_at")), c));
	}
	if (cfg != NULL && store != NULL) {
		fprintf(out, "\nreadiness of services for the next keys:\n");
		for (size_t k = 0; k < cfg->n_clients; k++) {
			char key[300], *act = NULL, *seen = NULL;
			size_t n;
			const char *id = cfg->clients[k].id;

			snprintf(key, sizeof(key), K_ACTIVE "%s", id);
			store_get(store, key, &act, &n);
			snprintf(key, sizeof(key), K_SEEN "%s", id);
			store_get(store, key, &seen, &n);
			fprintf(out, "  %-24s %-8s", id, act ? "active" : "inactive");
			for (int al = ALG_ES256; al <= ALG_RS256; al++) {
				json_t *nx = find_state(st, (enum sign_alg)al, "next");
				const char *nk = nx ? json_string_value(json_object_get(nx, "kid")) : NULL;

				if (nk != NULL)
					fprintf(out, " %s:%s", alg_name((enum sign_alg)al),
						seen && strstr(seen, nk) ? "ready" : "not-ready");
			}
			fputc('\n', out);
			free(act);
			free(seen);
		}
	}
	json_decref(st);
	return IDP_OK;
}

void keys_note_jwks_fetch(struct store *st, const struct keyset *ks, const char *client_id)
{
	char key[300];
	struct buf b;

	buf_init(&b, 8192);
	for (size_t i = 0; i < ks->n; i++) {
		buf_adds(&b, ks->keys[i].kid);
		buf_adds(&b, " ");
	}
	snprintf(key, sizeof(key), K_SEEN "%s", client_id);
	if (b.p != NULL)
		store_put(st, key, b.p, b.len, 90 * 86400);
	buf_release(&b);
}

void keys_note_client_active(struct store *st, struct client *cl, unsigned window)
{
	int64_t now = now_s(), last = __atomic_load_n(&cl->active_marked, __ATOMIC_RELAXED);
	char key[300], val[24];

	/* One store write a minute per client at most: not one per token. */
	if (now - last < 60 || !__atomic_compare_exchange_n(&cl->active_marked, &last, now, false,
							    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	snprintf(key, sizeof(key), K_ACTIVE "%s", cl->id);
	snprintf(val, sizeof(val), "%lld", (long long)now);
	store_put(st, key, val, strlen(val), window);
}
