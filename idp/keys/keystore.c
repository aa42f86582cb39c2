/* SPDX-License-Identifier: EUPL-1.2 */
/* The key set through the store, for nodes that share no folder: idpctl
 * publishes state.json and the key files, each private key sealed with the
 * key-encryption key (key_rotation.kek_file) so the store never holds one in
 * clear; every node polls a small version record each second and, when it
 * changed, writes the set into its own keys folder, which the folder's
 * reloader then loads as if idpctl had run on that node. */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "codec.h"
#include "pkcs11.h"
#include "util.h"

#define K_DOC "keys:set"
#define K_VERSION "keys:version"
/* Refreshed at each change; a set unchanged for a year may leave the store:
 * every node still has it in its folder. */
#define KEYSET_TTL_S (366u * 86400u)
#define KEK_LEN 32
#define NONCE_LEN 12
#define TAG_LEN 16
#define PEM_MAX (64 * 1024) /* an RSA-4096 PEM is about 3.3 KB */

/* 32 bytes, readable by the daemon's user alone (as the key files). */
static int kek_read(const char *path, unsigned char kek[KEK_LEN])
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc = IDP_OK;

	if (fd < 0)
		return log_fail(IDP_EIO, "keys: kek_file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0)
		rc = log_fail(IDP_EIO, "keys: kek_file %s: %s", path, strerror(errno));
	else if ((sb.st_mode & 077) != 0)
		rc = log_fail(IDP_EDENIED, "keys: kek_file %s is readable by group or others (mode %04o); "
			      "run: chmod 600 %s", path, (unsigned)(sb.st_mode & 07777), path);
	else if (sb.st_size != KEK_LEN || read(fd, kek, KEK_LEN) != KEK_LEN)
		rc = log_fail(IDP_EINVAL, "keys: kek_file %s must hold exactly %d random bytes "
			      "(head -c %d /dev/urandom > %s)", path, KEK_LEN, KEK_LEN, path);
	close(fd);
	return rc;
}

/* Names the key-encryption key without revealing it, so that a node can
 * tell "sealed with another KEK" from "altered in the store". */
static void kek_id(const unsigned char kek[KEK_LEN], char out[17])
{
	static const char label[] = "idp key-encryption key id";
	unsigned char md[EVP_MAX_MD_SIZE], in[sizeof(label) + KEK_LEN];
	unsigned n = 0;

	memcpy(in, label, sizeof(label));
	memcpy(in + sizeof(label), kek, KEK_LEN);
	EVP_Digest(in, sizeof(in), md, &n, EVP_sha256(), NULL);
	OPENSSL_cleanse(in, sizeof(in));
	for (int i = 0; i < 8; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* AES-256-GCM of in under kek with a random nonce and kid as associated
 * data (a sealed key moved to another kid does not open): base64url of
 * nonce, ciphertext and tag. NULL on failure. */
static char *seal(const unsigned char kek[KEK_LEN], const char *kid, const unsigned char *in, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t n = NONCE_LEN + len + TAG_LEN;
	unsigned char *raw = malloc(n);
	char *out = NULL;
	int l1 = 0, l2 = 0;

	if (c == NULL || raw == NULL || RAND_bytes(raw, NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, raw) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &l1, (const unsigned char *)kid, (int)strlen(kid)) != 1 ||
	    EVP_EncryptUpdate(c, raw + NONCE_LEN, &l1, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, raw + NONCE_LEN + l1, &l2) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1)
		goto out;
	if ((out = malloc(codec_b64url_len(n) + 1)) != NULL)
		codec_b64url_encode(out, raw, n);
out:
	EVP_CIPHER_CTX_free(c);
	if (raw != NULL)
		OPENSSL_cleanse(raw, n);
	free(raw);
	return out;
}

/* The PEM text sealed in text, NUL-terminated (the caller wipes and frees
 * it), or NULL when it does not open: wrong key, kid, or altered bytes. */
static char *unseal(const unsigned char kek[KEK_LEN], const char *kid, const char *text)
{
	size_t tl = strlen(text), cap = codec_b64url_max(tl), n = 0, len;
	unsigned char *raw = cap <= PEM_MAX + NONCE_LEN + TAG_LEN ? malloc(cap) : NULL;
	char *pem = NULL;
	EVP_CIPHER_CTX *c = NULL;
	int l1 = 0, l2 = 0;

	if (raw == NULL || codec_b64url_decode(text, tl, raw, cap, &n) != CODEC_OK || n < NONCE_LEN + TAG_LEN)
		goto out;
	len = n - NONCE_LEN - TAG_LEN;
	if ((pem = malloc(len + 1)) == NULL || (c = EVP_CIPHER_CTX_new()) == NULL ||
	    EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, kek, raw) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &l1, (const unsigned char *)kid, (int)strlen(kid)) != 1 ||
	    EVP_DecryptUpdate(c, (unsigned char *)pem, &l1, raw + NONCE_LEN, (int)len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG_LEN, raw + NONCE_LEN + len) != 1 ||
	    EVP_DecryptFinal_ex(c, (unsigned char *)pem + l1, &l2) != 1 || memchr(pem, 0, len) != NULL) {
		if (pem != NULL)
			OPENSSL_cleanse(pem, len);
		free(pem);
		pem = NULL;
		goto out;
	}
	pem[len] = 0;
out:
	EVP_CIPHER_CTX_free(c);
	if (raw != NULL)
		OPENSSL_cleanse(raw, cap);
	free(raw);
	return pem;
}

static bool store_shared(const struct config *cfg, struct store *st)
{
	return cfg != NULL && cfg->kek_file != NULL && st != NULL && st->ops == &store_redis;
}

/* A key file's whole text, bounded; NULL when absent or unreadable. */
static char *file_text(const char *dir, const char *file)
{
	char p[4400], *buf;
	int fd;
	ssize_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	if ((fd = open(p, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return NULL;
	if ((buf = malloc(PEM_MAX + 1)) != NULL && (n = read(fd, buf, PEM_MAX + 1)) > 0 && n <= PEM_MAX) {
		buf[n] = 0;
	} else if (buf != NULL) {
		OPENSSL_cleanse(buf, PEM_MAX + 1);
		free(buf);
		buf = NULL;
	}
	close(fd);
	return buf;
}

int keys_store_publish(const struct config *cfg, struct store *st, const char *dir)
{
	unsigned char kek[KEK_LEN];
	char kid_of_kek[17], sp[4200], *version = NULL;
	json_t *state = NULL, *sealed = NULL, *doc = NULL, *e;
	json_error_t err;
	size_t i;
	int fd, rc;

	if (!store_shared(cfg, st))
		return IDP_OK;
	if ((rc = kek_read(cfg->kek_file, kek)) != IDP_OK)
		return rc;
	kek_id(kek, kid_of_kek);
	if ((fd = keys_lock_dir(dir, true)) < 0) {
		OPENSSL_cleanse(kek, sizeof(kek));
		return log_fail(IDP_EIO, "keys: cannot lock %s: %s", dir, strerror(errno));
	}
	snprintf(sp, sizeof(sp), "%s/state.json", dir);
	if ((state = json_load_file(sp, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		rc = log_fail(IDP_EINVAL, "keys: %s: %s: nothing published to the store", sp, err.text);
		goto out;
	}
	sealed = json_object();
	json_array_foreach(json_object_get(state, "keys"), i, e) {
		const char *kid = json_string_value(json_object_get(e, "kid"));
		const char *file = json_string_value(json_object_get(e, "file"));
		char *pem, *s;

		if (kid != NULL && file == NULL && json_object_get(e, "pkcs11_uri") != NULL) {
			/* Its private key never leaves the token: the state names the
			 * URI, and each node must reach the same token. */
			idp_log(LOG_INFO, "keys: %s is in a PKCS#11 token: published by its URI, not sealed", kid);
			continue;
		}
		if (kid == NULL || file == NULL || strchr(file, '/') != NULL)
			continue;
		if ((pem = file_text(dir, file)) == NULL)
			continue; /* a revoked key's file is gone: its entry says enough */
		s = seal(kek, kid, (const unsigned char *)pem, strlen(pem));
		free_secret(pem);
		if (s == NULL) {
			rc = log_fail(IDP_ENOMEM, "keys: sealing %s failed: nothing published to the store", kid);
			goto out;
		}
		json_object_set_new(sealed, kid, json_string(s));
		free(s);
	}
	version = rand_token(12);
	doc = json_pack("{s:s,s:s,s:O,s:O}", "version", version ?: "", "kek_id", kid_of_kek, "state", state,
			"sealed", sealed);
	/* The set first, then its version: a node that sees the version finds
	 * the set it names (or a newer one). */
	if (version == NULL || doc == NULL || (rc = store_put_json(st, K_DOC, doc, KEYSET_TTL_S)) != IDP_OK ||
	    (rc = store_put(st, K_VERSION, version, strlen(version), KEYSET_TTL_S)) != IDP_OK) {
		rc = log_fail(rc != IDP_OK ? rc : IDP_ENOMEM, "keys: publishing the key set to the store failed: "
			      "other nodes do not have this change yet; run the command again");
		goto out;
	}
	idp_log(LOG_INFO, "keys: key set %s published to the store (%zu sealed keys)", version,
		json_object_size(sealed));
	rc = IDP_OK;
out:
	keys_unlock_dir(fd);
	OPENSSL_cleanse(kek, sizeof(kek));
	free(version);
	json_decref(doc);
	json_decref(sealed);
	json_decref(state);
	return rc;
}

/* Writes every key file of the set then state.json, under the folder's
 * lock. IDP_EUNAVAIL when idpctl holds the lock: the next poll retries. */
static int write_set(const char *dir, json_t *state, json_t *pems)
{
	const char *file;
	json_t *pem, *old = NULL, *e;
	json_error_t err;
	char p[4400], *doc;
	size_t i;
	int fd, rc = IDP_OK;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return log_fail(IDP_EIO, "keys: mkdir %s: %s", dir, strerror(errno));
	if ((fd = keys_lock_dir(dir, false)) < 0)
		return IDP_EUNAVAIL;
	json_object_foreach(pems, file, pem) {
		snprintf(p, sizeof(p), "%s/%s", dir, file);
		if ((rc = keys_write_file_atomic(p, json_string_value(pem), 0600)) != IDP_OK)
			goto out;
	}
	snprintf(p, sizeof(p), "%s/state.json", dir);
	if ((doc = json_dumps(state, JSON_INDENT(2))) == NULL) {
		rc = IDP_ENOMEM;
		goto out;
	}
	old = json_load_file(p, JSON_REJECT_DUPLICATES, &err);
	rc = keys_write_file_atomic(p, doc, 0600);
	free(doc);
	/* Key files the new set no longer names (pruned or revoked on the node
	 * that changed it) leave this node's folder too, once state.json no
	 * longer names them. */
	json_array_foreach(rc == IDP_OK ? json_object_get(old, "keys") : NULL, i, e) {
		const char *f = json_string_value(json_object_get(e, "file"));
		json_t *now = keys_state_entry(state, json_string_value(json_object_get(e, "kid")) ?: "");
		const char *s = json_string_value(json_object_get(now, "state"));

		if (f == NULL || f[0] == '.' || strchr(f, '/') != NULL || json_object_get(pems, f) != NULL ||
		    (s != NULL && strcmp(s, key_state_name(KEY_REVOKED)) != 0))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, f);
		unlink(p);
	}
out:
	json_decref(old);
	keys_unlock_dir(fd);
	return rc;
}

/* Opens every sealed key of doc into pems (file name -> PEM text). */
static int open_set(const char *kek_file, json_t *doc, json_t *pems)
{
	unsigned char kek[KEK_LEN];
	char ours[17];
	const char *theirs = json_string_value(json_object_get(doc, "kek_id")) ?: "?";
	json_t *sealed = json_object_get(doc, "sealed"), *e;
	size_t i;
	int rc;

	if ((rc = kek_read(kek_file, kek)) != IDP_OK)
		return rc;
	kek_id(kek, ours);
	if (strcmp(ours, theirs) != 0) {
		rc = log_fail(IDP_EDENIED, "keys: the key set in the store is sealed with another key-encryption "
			      "key (id %.16s; kek_file %s has id %s): refused, this node keeps its keys",
			      theirs, kek_file, ours);
		goto out;
	}
	json_array_foreach(json_object_get(json_object_get(doc, "state"), "keys"), i, e) {
		const char *kid = json_string_value(json_object_get(e, "kid"));
		const char *file = json_string_value(json_object_get(e, "file"));
		const char *s = json_string_value(json_object_get(sealed, kid ?: ""));
		char *pem;

		/* A key in a PKCS#11 token travels as its URI alone: every node
		 * reaches the same token, and no private key is sealed for it. */
		if (kid != NULL && file == NULL && s == NULL && pkcs11_uri_ok(json_string_value(json_object_get(e, "pkcs11_uri"))))
			continue;
		if (kid == NULL || file == NULL || file[0] == '.' || strchr(file, '/') != NULL) {
			rc = log_fail(IDP_EINVAL, "keys: the key set in the store has a malformed entry %zu: "
				      "refused, this node keeps its keys", i);
			goto out;
		}
		if (s == NULL)
			continue;
		if ((pem = unseal(kek, kid, s)) == NULL) {
			rc = log_fail(IDP_EDENIED, "keys: the sealed key %s in the store does not open (its GCM tag "
				      "fails: altered in the store): refused, this node keeps its keys", kid);
			goto out;
		}
		json_object_set_new(pems, file, json_string(pem));
		free_secret(pem);
	}
out:
	OPENSSL_cleanse(kek, sizeof(kek));
	return rc;
}

int keys_store_pull(const struct config *cfg, struct store *st, const char *dir)
{
	/* The version this process last wrote or refused: one GET a second
	 * while nothing changes, one report per refused version. */
	static char applied[64];
	char *version = NULL;
	size_t len = 0;
	json_t *doc = NULL, *pems = NULL;
	int rc;

	if (!store_shared(cfg, st))
		return IDP_OK;
	if ((rc = store_get(st, K_VERSION, &version, &len)) != IDP_OK || len >= sizeof(applied) ||
	    strcmp(version, applied) == 0) {
		free(version);
		return rc == IDP_ENOTFOUND ? IDP_OK : rc;
	}
	if ((rc = store_get_json(st, K_DOC, &doc)) != IDP_OK ||
	    !json_is_array(json_object_get(json_object_get(doc, "state"), "keys")) ||
	    !json_is_object(json_object_get(doc, "sealed"))) {
		rc = log_fail(rc != IDP_OK ? rc : IDP_EINVAL, "keys: the key set %s in the store cannot be read: "
			      "this node keeps its keys", version);
		goto done;
	}
	pems = json_object();
	if ((rc = open_set(cfg->kek_file, doc, pems)) != IDP_OK)
		goto done;
	if ((rc = write_set(dir, json_object_get(doc, "state"), pems)) == IDP_EUNAVAIL)
		goto out; /* not done: retried at the next poll */
	if (rc == IDP_OK)
		idp_log(LOG_INFO, "keys: key set %s from the store written to %s", version, dir);
done:
	snprintf(applied, sizeof(applied), "%s", version);
out:
	if (pems != NULL) {
		/* The PEM texts are secrets: wiped before jansson frees them. */
		const char *f;
		json_t *v;

		json_object_foreach(pems, f, v)
			OPENSSL_cleanse((char *)json_string_value(v), json_string_length(v));
	}
	json_decref(pems);
	json_decref(doc);
	free(version);
	return rc;
}
