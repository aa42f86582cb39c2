/* SPDX-License-Identifier: EUPL-1.2 */
/* The configuration: one JSON file read with jansson. Every error names the
 * file, the line (syntax errors) or the JSON path (value errors) and the
 * problem; the daemon refuses to start on any of them. */
#ifndef IDP_CONFIG_H
#define IDP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "jose.h"

enum sign_alg { ALG_NONE = 0, ALG_ES256 = 1, ALG_RS256 = 2 };

/* key_rotation.min_publish_s must exceed jwks_max_age_s by this much: nodes
 * poll the keys folder every second (main.c), so a new key reaches a node's
 * JWKS up to a second after it was written. */
#define KEYS_POLL_SLACK_S 2

/* A public key of a client (its "jwks"): use "sig", "enc" or either (NULL). */
struct client_key {
	char *kid;
	char *use;
	EVP_PKEY *pk;
};

/* Most keys a client's key set may hold (inline or fetched). */
#define CLIENT_KEYS_MAX 16

struct client {
	char *id;
	char *name;
	unsigned char secret_sha256[32];
	bool has_secret;
	bool auth_basic, auth_post;     /* allowed client authentication methods */
	bool auth_pkjwt;                /* private_key_jwt (RFC 7523, OpenID Core 9) */
	struct client_key *keys;        /* "jwks", parsed at load; NULL: none inline */
	size_t n_keys;
	char *jwks_uri;                 /* or fetched from here (client_jwks.c) */
	/* Tokens encrypted to the client (JOSE_ENC_NONE: not), always A256GCM. */
	enum jose_enc_alg id_token_enc, userinfo_enc;
	char **redirect_uris;
	size_t n_redirect_uris;
	char **post_logout_uris;
	size_t n_post_logout_uris;
	char *backchannel_uri;          /* backchannel_logout_uri, NULL: none */
	bool backchannel_sid;           /* backchannel_logout_session_required */
	char *sector;                   /* pairwise sector (defaults to the redirect host) */
	bool pairwise;
	bool franceconnect;             /* the "franceconnect" profile */
	bool require_pkce;
	bool first_party;               /* skips the consent page */
	bool grant_code, grant_cc;      /* authorization_code, client_credentials */
	bool grant_refresh;             /* refresh_token (with offline_access; never the franceconnect profile) */
	enum sign_alg id_token_alg;
	enum sign_alg userinfo_alg;     /* ALG_NONE: plain JSON */
	unsigned code_ttl, access_ttl, id_ttl;
	char **scopes_allowed;          /* NULL: any supported scope */
	size_t n_scopes_allowed;
	char **backends;                /* NULL: every backend */
	/* "role": "data_provider": an API holding citizens' data, which calls
	 * /introspect and sees only tokens carrying a scope it serves. */
	bool data_provider;
	char **scopes_served;           /* a data provider's scopes (at least one) */
	size_t n_scopes_served;
	/* Its words for the consent page ("scope_descriptions"): per scope it
	 * serves, text[0] in French, text[1] in English (enum lang's order). */
	struct scope_text {
		char *scope;
		char *text[2];
	} *scope_texts;
	size_t n_scope_texts;
	size_t n_backends;
	int64_t active_marked;          /* last "client-active" write (atomic; throttles it) */
};

/* An address block of listen.trusted_proxies: an IPv4 or IPv6 address and
 * the number of leading bits that must match (32 or 128: one address). */
struct cidr {
	int family;                     /* AF_INET or AF_INET6 */
	unsigned char addr[16];         /* network order; 4 bytes used for IPv4 */
	unsigned bits;
};

/* What tells a file changed: idpctl replaces it by rename (a new inode), an
 * editor may rewrite it in place (size, mtime). */
struct file_stamp {
	bool exists;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

/* The clients file is read whole into memory: bounded. */
#define CLIENTS_FILE_MAX_BYTES (4u << 20)
#define CLIENTS_MAX 10000

struct config {
	char *path;        /* as given */
	char *dir;         /* its directory: relative paths resolve from here */
	char *issuer;      /* no trailing slash */
	bool issuer_https;
	char *address;
	int port;
	unsigned threads;
	unsigned connection_limit, per_ip_limit, connection_timeout;
	size_t max_body, max_url, max_params;
	struct cidr *trusted_proxies;   /* listen.trusted_proxies; none by default */
	size_t n_trusted_proxies;
	bool proxy_protocol;            /* listen.proxy_protocol: a PROXY header first */
	char *metrics_address;          /* metrics.listen; NULL: no metrics listener */
	int metrics_port;
	char *audit_file;               /* audit.file, resolved; NULL: none */
	bool audit_stderr;              /* audit.stderr: prefixed lines on stderr */
	unsigned audit_checkpoint_every; /* audit.checkpoint_every: events between signed checkpoints */
	unsigned audit_checkpoint_s;    /* audit.checkpoint_s: seconds, idem */
	char *keys_dir, *templates_dir, *plugin_dir;
	json_t *store;     /* the "store" object (borrowed from root) */
	json_t *backends;  /* the "backends" array (borrowed from root) */
	unsigned session_idle, session_max;
	unsigned code_ttl, access_ttl, id_ttl, login_ttl;
	unsigned refresh_abs_ttl, refresh_idle_ttl; /* tokens.refresh_absolute_ttl_s, refresh_idle_ttl_s */
	unsigned rl_ip_per_min, rl_user_failures;
	unsigned rl_txn_per_ip_min; /* /authorize transactions stored per address a minute */
	/* Key rotation timing (README "Key rotation"). */
	unsigned jwks_max_age;      /* Cache-Control max-age of /jwks */
	unsigned min_publish;       /* a next key is published this long before it may sign */
	unsigned rotation_deadline; /* rotate waits for lagging services at most this long */
	unsigned active_window;     /* a client that got a token this recently is "active" */
	unsigned auto_rotate_days;  /* 0: rotation only by idpctl */
	char *kek_file;             /* key_rotation.kek_file: keys also through the store (NULL: folder only) */
	char *pkcs11_module;        /* key_rotation.pkcs11_module: for keys in a token */
	char *pkcs11_pin_file;      /* key_rotation.pkcs11_pin_file (NULL: none) */
	unsigned retire_leeway;     /* added to token_max_ttl (clock skew of services) */
	unsigned token_max_ttl;     /* longest token lifetime of any client: retiring keys stay that long */
	char *pairwise_secret;
	json_t *acr_levels;   /* array of strings, weakest first */
	char *default_acr;
	struct client *clients;
	size_t n_clients;
	size_t n_inline_clients;        /* clients[0..n) from "clients", the rest from clients_file */
	char *clients_file;             /* clients_file, resolved; NULL: none */
	struct file_stamp clients_stamp; /* the clients file as it was read */
	char *cookie_prefix; /* cookie names: PREFIX_session, PREFIX_b, PREFIX_last */
	bool sub_from_pivot;  /* subject_derivation: "pivot" (FranceConnect's way) */
	bool demo;
	bool allow_core_dumps; /* debug.allow_core_dumps: main.c leaves dumps possible */
	int log_level;
	json_t *root;
};

/* Reads and checks path. On error logs every problem found and returns
 * IDP_EINVAL; *out is the caller's on success (config_free). */
int config_load(const char *path, struct config **out);
/* The same, reading the clients from clients_file instead of the file the
 * configuration names (idpctl checks a new version before it replaces it). */
int config_load_with_clients(const char *path, const char *clients_file, struct config **out);
void config_free(struct config *c);
void file_stamp_get(const char *path, struct file_stamp *s);
bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b);

const struct client *config_client(const struct config *c, const char *id);
/* Whether a data provider serves one of the scopes of scope (space-separated). */
bool client_serves_scope(const struct client *cl, const char *scope);
/* The first data provider serving exactly the one scope word, NULL when none. */
const struct client *config_data_provider(const struct config *c, const char *word);
/* A data provider's words for one scope it serves, in lang (0 French, 1
 * English); NULL when its configuration gives none. Borrowed. */
const char *client_scope_text(const struct client *dp, const char *word, int lang);
bool client_has_redirect_uri(const struct client *cl, const char *uri);
bool client_has_post_logout_uri(const struct client *cl, const char *uri);
bool client_allows_backend(const struct client *cl, const char *backend_id);
/* A JWKS document's keys, each checked (RSA >= 2048 bits or EC P-256,
 * public only, "use" sig or enc): *out is the caller's (client_keys_free);
 * on IDP_EINVAL *why says what is wrong. */
int client_keys_parse(const json_t *jwks, struct client_key **out, size_t *n, const char **why);
void client_keys_free(struct client_key *k, size_t n);
/* The first key of k (n) to encrypt to with a: "use" "enc" or none, and of the right type. */
const struct client_key *client_enc_key(const struct client_key *k, size_t n, enum jose_enc_alg a);
/* Rank of an acr value in acr_levels (0 weakest), -1 when unknown. */
int config_acr_rank(const struct config *c, const char *acr);
/* Resolves a path relative to the configuration's directory (malloc'ed). */
char *config_path(const struct config *c, const char *p);
const char *alg_name(enum sign_alg a);

/* Parses "ADDRESS" or "ADDRESS/BITS" (IPv4 or IPv6); false when malformed. */
bool cidr_parse(const char *s, struct cidr *out);
/* Whether the address (text, IPv4 or IPv6) lies in one of the n blocks. */
bool cidr_list_has(const struct cidr *list, size_t n, const char *ip);

/* An absolute http(s) URI with a host, no fragment, no userinfo, no
 * whitespace or quotes, at most 2048 bytes (registered URIs, resources). */
bool uri_acceptable(const char *u);

#endif
