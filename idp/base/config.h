/* The configuration: one JSON file read with jansson. Every error names the
 * file, the line (syntax errors) or the JSON path (value errors) and the
 * problem; the daemon refuses to start on any of them. */
#ifndef IDP_CONFIG_H
#define IDP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum sign_alg { ALG_NONE = 0, ALG_ES256 = 1, ALG_RS256 = 2 };

/* key_rotation.min_publish_s must exceed jwks_max_age_s by this much: nodes
 * poll the keys folder every second (main.c), so a new key reaches a node's
 * JWKS up to a second after it was written. */
#define KEYS_POLL_SLACK_S 2

struct client {
	char *id;
	char *name;
	unsigned char secret_sha256[32];
	bool has_secret;
	bool auth_basic, auth_post;     /* allowed client authentication methods */
	char **redirect_uris;
	size_t n_redirect_uris;
	char **post_logout_uris;
	size_t n_post_logout_uris;
	char *sector;                   /* pairwise sector (defaults to the redirect host) */
	bool pairwise;
	bool franceconnect;             /* the "franceconnect" profile */
	bool require_pkce;
	bool first_party;               /* skips the consent page */
	bool grant_code, grant_cc;      /* authorization_code, client_credentials */
	enum sign_alg id_token_alg;
	enum sign_alg userinfo_alg;     /* ALG_NONE: plain JSON */
	unsigned code_ttl, access_ttl, id_ttl;
	char **scopes_allowed;          /* NULL: any supported scope */
	size_t n_scopes_allowed;
	char **backends;                /* NULL: every backend */
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
	char *metrics_address;          /* metrics.listen; NULL: no metrics listener */
	int metrics_port;
	char *audit_file;               /* audit.file, resolved; NULL: none */
	bool audit_stderr;              /* audit.stderr: prefixed lines on stderr */
	char *keys_dir, *templates_dir, *plugin_dir;
	json_t *store;     /* the "store" object (borrowed from root) */
	json_t *backends;  /* the "backends" array (borrowed from root) */
	unsigned session_idle, session_max;
	unsigned code_ttl, access_ttl, id_ttl, login_ttl;
	unsigned rl_ip_per_min, rl_user_failures;
	unsigned rl_txn_per_ip_min; /* /authorize transactions stored per address a minute */
	/* Key rotation timing (README "Key rotation"). */
	unsigned jwks_max_age;      /* Cache-Control max-age of /jwks */
	unsigned min_publish;       /* a next key is published this long before it may sign */
	unsigned rotation_deadline; /* rotate waits for lagging services at most this long */
	unsigned active_window;     /* a client that got a token this recently is "active" */
	unsigned auto_rotate_days;  /* 0: rotation only by idpctl */
	char *kek_file;             /* key_rotation.kek_file: keys also through the store (NULL: folder only) */
	unsigned retire_leeway;     /* added to token_max_ttl (clock skew of services) */
	unsigned token_max_ttl;     /* longest token lifetime of any client: retiring keys stay that long */
	char *pairwise_secret;
	json_t *acr_levels;   /* array of strings, weakest first */
	char *default_acr;
	struct client *clients;
	size_t n_clients;
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
void config_free(struct config *c);

const struct client *config_client(const struct config *c, const char *id);
bool client_has_redirect_uri(const struct client *cl, const char *uri);
bool client_has_post_logout_uri(const struct client *cl, const char *uri);
bool client_allows_backend(const struct client *cl, const char *backend_id);
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
