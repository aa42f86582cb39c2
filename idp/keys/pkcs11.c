/* SPDX-License-Identifier: EUPL-1.2 */
/* Keys in a PKCS#11 token through libp11's OpenSSL engine "pkcs11" (Debian:
 * libengine-pkcs11-openssl). Debian 12 ships OpenSSL 3.0 and no PKCS#11
 * provider, so the ENGINE API, deprecated in 3.0, is the only way in: its
 * deprecation warnings are silenced for this file alone (Makefile). The
 * engine is loaded on the first key that names a pkcs11_uri, never before. */
#include "pkcs11.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/engine.h>
#include <openssl/err.h>

#include "util.h"

#define URI_MAX 1024
#define PIN_MAX 256
/* Keys already taken from the token, by URI: a reload of the key set (each
 * change of state.json, and every second while it fails) does not log in
 * again for keys it has. */
#define CACHE_MAX 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ENGINE *eng;
static char *eng_module;            /* the module eng opened */
static char *cfg_module, *cfg_pin_file;
/* The digest of the last PIN the token refused: tokens lock themselves
 * after a few wrong PINs, and the daemon retries a failed load every
 * second, so a refused PIN is not presented again until the file changes. */
static unsigned char refused_pin[32];
static bool refused;
static struct {
	char *uri;
	EVP_PKEY *pkey;
} cache[CACHE_MAX];
static unsigned cache_next;

void pkcs11_configure(const char *module, const char *pin_file)
{
	pthread_mutex_lock(&lock);
	free(cfg_module);
	free(cfg_pin_file);
	cfg_module = xstrdup(module);
	cfg_pin_file = xstrdup(pin_file);
	pthread_mutex_unlock(&lock);
}

bool pkcs11_uri_ok(const char *uri)
{
	size_t n = uri != NULL ? strlen(uri) : 0;

	if (n <= 7 || n > URI_MAX || strncmp(uri, "pkcs11:", 7) != 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)uri[i] <= ' ' || (unsigned char)uri[i] >= 0x7f)
			return false;
	return true;
}

/* The PIN file: the daemon's user alone may read it (as key files); one
 * line, its newline dropped. The PIN is never logged. */
static int pin_read(const char *path, char pin[PIN_MAX + 1])
{
	struct stat sb;
	ssize_t n = -1;
	int fd, rc = IDP_OK;

	if (path == NULL)
		return log_fail(IDP_EINVAL, "keys: a key is in a PKCS#11 token but key_rotation.pkcs11_pin_file "
				"is not set");
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return log_fail(IDP_EIO, "keys: pkcs11_pin_file %s: %s", path, strerror(errno));
	if (fstat(fd, &sb) != 0)
		rc = log_fail(IDP_EIO, "keys: pkcs11_pin_file %s: %s", path, strerror(errno));
	else if ((sb.st_mode & 077) != 0)
		rc = log_fail(IDP_EDENIED, "keys: pkcs11_pin_file %s is readable by group or others (mode %04o); "
			      "run: chmod 600 %s", path, (unsigned)(sb.st_mode & 07777), path);
	else if (!S_ISREG(sb.st_mode) || sb.st_size > PIN_MAX || (n = read(fd, pin, PIN_MAX)) < 0)
		rc = log_fail(IDP_EINVAL, "keys: pkcs11_pin_file %s must be a file of one line, at most %d bytes",
			      path, PIN_MAX);
	close(fd);
	if (rc != IDP_OK)
		return rc;
	pin[n] = '\0';
	pin[strcspn(pin, "\r\n")] = '\0';
	if (pin[0] == '\0')
		return log_fail(IDP_EINVAL, "keys: pkcs11_pin_file %s is empty", path);
	return IDP_OK;
}

/* The OpenSSL errors, for the log (libp11 names the PKCS#11 return value
 * there); true when the token refused the PIN (CKR_PIN_INCORRECT ...
 * CKR_PIN_LOCKED, 0xA0-0xA4 in PKCS#11 3.0, 5.1). */
static bool last_error(char *buf, size_t len)
{
	unsigned long e;
	bool pin = false;

	snprintf(buf, len, "no detail");
	for (int i = 0; (e = ERR_get_error()) != 0; i++) {
		const char *lib = ERR_lib_error_string(e);

		bool is_pin = lib != NULL && strstr(lib, "PKCS#11") != NULL && ERR_GET_REASON(e) >= 0xA0 &&
			      ERR_GET_REASON(e) <= 0xA4;

		if (i == 0 || (is_pin && !pin))
			ERR_error_string_n(e, buf, len);
		pin = pin || is_pin;
	}
	return pin;
}

static int engine_open(const char *module)
{
	char err[256];
	ENGINE *e;

	if (eng != NULL) {
		if (strcmp(eng_module, module) != 0)
			idp_log(LOG_WARN, "keys: key_rotation.pkcs11_module changed to %s: the process keeps %s "
				"until it restarts", module, eng_module);
		return IDP_OK;
	}
	ENGINE_load_builtin_engines();
	if ((e = ENGINE_by_id("pkcs11")) == NULL) {
		ERR_clear_error();
		return log_fail(IDP_EUNAVAIL, "keys: OpenSSL's pkcs11 engine cannot be loaded (Debian package "
				"libengine-pkcs11-openssl): keys in a PKCS#11 token cannot be used");
	}
	if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) || !ENGINE_init(e)) {
		last_error(err, sizeof(err));
		ENGINE_free(e);
		return log_fail(IDP_EUNAVAIL, "keys: the PKCS#11 module %s cannot be opened (%s)", module, err);
	}
	ENGINE_free(e); /* ENGINE_init holds its own reference */
	eng = e;
	eng_module = xstrdup(module);
	return IDP_OK;
}

int pkcs11_load_key(const char *uri, EVP_PKEY **out)
{
	char pin[PIN_MAX + 1], err[256];
	unsigned char md[32];
	const char *module;
	EVP_PKEY *pk;
	int rc;

	*out = NULL;
	if (!pkcs11_uri_ok(uri))
		return log_fail(IDP_EINVAL, "keys: a pkcs11_uri must be a \"pkcs11:\" URI of at most %d printable "
				"characters", URI_MAX);
	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < CACHE_MAX; i++)
		if (cache[i].uri != NULL && strcmp(cache[i].uri, uri) == 0 && EVP_PKEY_up_ref(cache[i].pkey) == 1) {
			*out = cache[i].pkey;
			rc = IDP_OK;
			goto unlock;
		}
	module = cfg_module != NULL ? cfg_module : "/usr/lib/softhsm/libsofthsm2.so";
	if ((rc = pin_read(cfg_pin_file, pin)) != IDP_OK)
		goto out;
	sha256(pin, strlen(pin), md);
	if (refused && memcmp(md, refused_pin, sizeof(md)) == 0) {
		rc = log_fail(IDP_EDENIED, "keys: the token refused the PIN of %s: it is not presented again "
			      "until that file changes (tokens lock after a few wrong PINs)", cfg_pin_file);
		goto out;
	}
	if ((rc = engine_open(module)) != IDP_OK)
		goto out;
	/* libp11 keeps its own copy to log in with; ours is wiped below. */
	if (!ENGINE_ctrl_cmd_string(eng, "PIN", pin, 0)) {
		rc = log_fail(IDP_EINVAL, "keys: the pkcs11 engine refused the PIN setting");
		goto out;
	}
	pk = ENGINE_load_private_key(eng, uri, NULL, NULL);
	if (pk == NULL) {
		if (last_error(err, sizeof(err))) {
			memcpy(refused_pin, md, sizeof(md));
			refused = true;
			rc = log_fail(IDP_EDENIED, "keys: the PKCS#11 token refused the PIN of %s (%s): key %s not "
				      "loaded", cfg_pin_file, err, uri);
		} else {
			rc = log_fail(IDP_EUNAVAIL, "keys: key %s cannot be loaded from the PKCS#11 token "
				      "(module %s): token absent, or no such key (%s)", uri, module, err);
		}
		goto out;
	}
	refused = false;
	free(cache[cache_next].uri);
	EVP_PKEY_free(cache[cache_next].pkey);
	cache[cache_next].uri = xstrdup(uri);
	cache[cache_next].pkey = pk;
	cache_next = (cache_next + 1) % CACHE_MAX;
	if (EVP_PKEY_up_ref(pk) != 1) {
		rc = IDP_ENOMEM;
		goto out;
	}
	*out = pk;
	rc = IDP_OK;
out:
	wipe(pin, sizeof(pin));
	wipe(md, sizeof(md));
unlock:
	pthread_mutex_unlock(&lock);
	return rc;
}
