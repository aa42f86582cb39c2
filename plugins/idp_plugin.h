/* SPDX-License-Identifier: EUPL-1.2 */
/* The identity-backend plugin ABI: the only daemon header a plugin includes.
 *
 * A plugin is a shared object that exports exactly one symbol:
 *
 *	IDP_EXPORT const struct idp_backend idp_backend_entry = { IDP_BACKEND_ABI,
 *		sizeof(struct idp_backend), "file", file_create, ... };
 *
 * The daemon dlopen()s it, checks abi and size, and refuses any other version
 * with a message naming both. It calls create() once per configured instance
 * (two LDAP directories are two instances of one plugin), and every other
 * call may come from several threads at once on one instance.
 *
 * A plugin links no daemon symbol: what it needs from the daemon (log, random,
 * clock) comes through struct idp_host. */
#ifndef IDP_PLUGIN_H
#define IDP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define IDP_BACKEND_ABI 4 /* bump on any change to the structs below (2: host->issuer, 3: host->argon2id_verify,
                           4: second_factor) */

#define IDP_EXPORT __attribute__((visibility("default")))

/* Return codes (same values as the daemon's enum idp_err). */
#define IDP_PLUGIN_OK 0
#define IDP_PLUGIN_ENOMEM (-1)
#define IDP_PLUGIN_EINVAL (-2)
#define IDP_PLUGIN_ENOTFOUND (-3)
#define IDP_PLUGIN_EDENIED (-4)
#define IDP_PLUGIN_EIO (-6)
#define IDP_PLUGIN_EUNAVAIL (-9)

struct idp_host {
	uint32_t abi;
	/* level: 0 error, 1 warning, 2 info, 3 debug. Never pass a secret. */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	/* Cryptographic random bytes; 0 on success. */
	int (*random)(void *buf, size_t len);
	/* Seconds since the epoch. */
	int64_t (*now)(void);
	/* The directory relative paths in the configuration are resolved from. */
	const char *conf_dir;
	/* The provider's own issuer URL: a redirect backend's callback URL is
	 * issuer + "/callback/" + its id, known from create() on. conf_dir and
	 * issuer are valid during create(): copy what the instance keeps. */
	const char *issuer;
	/* Checks a password against an encoded argon2id hash, with the same
	 * answers as libargon2's argon2id_verify (ARGON2_OK, ARGON2_VERIFY_MISMATCH,
	 * another ARGON2_* error), but with the hash's memory kept between calls
	 * (a fifth faster at 64 MiB). Any thread. */
	int (*argon2id_verify)(const char *encoded, const char *password, size_t len);
};

/* A form login (username and password typed on the provider's page). */
struct idp_login {
	const char *username; /* at most 256 bytes, valid UTF-8 */
	const char *password; /* at most 1024 bytes; the daemon wipes it after */
	const char *remote_addr;
};

/* What a backend returns on success. The daemon frees every field. */
struct idp_identity {
	char *subject;  /* stable identifier of the citizen at this backend */
	json_t *claims; /* given_name, family_name, birthdate, gender, ... */
	char *acr;      /* level reached ("eidas1"...), NULL: the backend's level */
	char *amr;      /* authentication method ("pwd", "mfa"...), NULL: "pwd" */
	/* Kept with the SSO session and handed back to logout() (an upstream
	 * ID token, say); NULL when the backend needs nothing. */
	json_t *session_data;
};

struct idp_backend {
	uint32_t abi;  /* IDP_BACKEND_ABI */
	uint32_t size; /* sizeof(struct idp_backend) */
	const char *name;
	/* conf: this instance's object from the configuration file. On error, a
	 * plugin logs what is wrong through host->log and returns EINVAL. */
	int (*create)(const struct idp_host *host, const json_t *conf, void **inst);
	void (*destroy)(void *inst);
	/* Form backends: check the credentials. EDENIED for a wrong username or
	 * password (the same answer for both), EUNAVAIL when the directory is
	 * down or slow. */
	int (*login)(void *inst, const struct idp_login *req, struct idp_identity *out);
	/* Redirect backends (an upstream provider); NULL for form backends.
	 * begin: the URL to send the browser to, and a transaction object the
	 * daemon keeps in its store and hands back to callback with the query
	 * string of the return. The transaction must hold a string "state": the
	 * state parameter sent upstream, by which the daemon finds it again. */
	int (*begin)(void *inst, const char *callback_url, char **redirect_url, json_t **txn);
	int (*callback)(void *inst, const json_t *txn, const char *query,
			struct idp_identity *out);
	/* Redirect backends: the URL that ends the citizen's session upstream,
	 * coming back to return_url with state. NULL: nothing to end there. */
	int (*logout)(void *inst, const json_t *session_data, const char *return_url,
		      const char *state, char **url);
	/* Health: 0 when the backend answers (called by a background prober
	 * while the backend is marked down). NULL: no probe. */
	int (*probe)(void *inst);
	/* Form backends with a second factor (a TOTP, RFC 6238); NULL: none.
	 * session_data: what login() returned for the citizen. code NULL:
	 * IDP_PLUGIN_OK when the citizen has a second factor, ENOTFOUND when
	 * not. Otherwise EDENIED for a wrong code, or IDP_PLUGIN_OK and
	 * *counter the time step the code was made for (the daemon refuses a
	 * step already used: codes are single use). */
	int (*second_factor)(void *inst, const json_t *session_data, const char *code, uint64_t *counter);
};

#endif
