/* SPDX-License-Identifier: EUPL-1.2 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <sys/stat.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_load.h"
#include "util.h"
#include "uri.h"

bool cidr_parse(const char *s, struct cidr *out)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	long long bits;

	memset(out, 0, sizeof(*out));
	if (alen == 0 || alen >= sizeof(addr))
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		out->bits = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		out->bits = 128;
	} else {
		return false;
	}
	if (slash != NULL) {
		if (!parse_ll(slash + 1, 0, out->bits, &bits))
			return false;
		out->bits = (unsigned)bits;
	}
	return true;
}

static bool cidr_match(const struct cidr *c, int family, const unsigned char *a)
{
	unsigned full = c->bits / 8, rest = c->bits % 8;

	if (c->family != family || memcmp(c->addr, a, full) != 0)
		return false;
	return rest == 0 || ((c->addr[full] ^ a[full]) & (0xff00 >> rest)) == 0;
}

bool cidr_list_has(const struct cidr *list, size_t n, const char *ip)
{
	unsigned char a[16];
	int family;

	if (ip == NULL || n == 0)
		return false;
	if (inet_pton(AF_INET, ip, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, ip, a) == 1)
		family = AF_INET6;
	else
		return false;
	/* An IPv4 peer seen through an IPv6 socket (::ffff:a.b.c.d) is that
	 * IPv4 address: a list of IPv4 blocks must still match it. */
	if (family == AF_INET6 && memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memmove(a, a + 12, 4);
		family = AF_INET;
	}
	for (size_t i = 0; i < n; i++)
		if (cidr_match(&list[i], family, a))
			return true;
	return false;
}

/* listen.trusted_proxies: the proxies whose X-Forwarded-For or Forwarded
 * header names the client. */
static void load_trusted_proxies(struct cctx *x, const json_t *o, struct config *c)
{
	json_t *a = json_object_get(o, "trusted_proxies"), *v;
	size_t i;

	if (a == NULL)
		return;
	if (!json_is_array(a)) {
		cfg_err(x, "listen", "\"trusted_proxies\" must be an array of addresses or CIDR blocks");
		return;
	}
	if (json_array_size(a) == 0 || (c->trusted_proxies = calloc(json_array_size(a), sizeof(*c->trusted_proxies))) == NULL)
		return;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || !cidr_parse(json_string_value(v), &c->trusted_proxies[c->n_trusted_proxies])) {
			cfg_err(x, "listen", "trusted_proxies[%zu] must be an IPv4 or IPv6 address, or a CIDR block "
			        "such as \"10.0.0.0/8\" or \"fd00::/8\"", i);
			continue;
		}
		c->n_trusted_proxies++;
	}
}

/* audit: {"file": PATH} (relative to the configuration) or {"stderr": true}
 * (lines prefixed, for journald); off without it. */
static void load_audit(struct cctx *x, const json_t *root, struct config *c)
{
	static const char *const keys[] = {"file", "stderr", "checkpoint_every", "checkpoint_s", NULL};
	const json_t *o = json_object_get(root, "audit"), *e;
	const char *f;

	if (o == NULL || json_is_null(o))
		return;
	if (!json_is_object(o)) {
		cfg_err(x, "audit", "must be an object: {\"file\": PATH} or {\"stderr\": true}");
		return;
	}
	cfg_check_keys(x, o, "audit", keys);
	f = cfg_str(x, o, "audit", "file", NULL);
	e = json_object_get(o, "stderr");
	if (e != NULL && !json_is_boolean(e))
		cfg_err(x, "audit", "\"stderr\" must be true or false");
	/* The chained file's signed checkpoints (audit.h): after so many
	 * events, or the first event so long after the last checkpoint. */
	c->audit_checkpoint_every = (unsigned)cfg_int(x, o, "audit", "checkpoint_every", 1000, 1, 1000000);
	c->audit_checkpoint_s = (unsigned)cfg_int(x, o, "audit", "checkpoint_s", 600, 1, 86400 * 7);
	if ((f != NULL) == json_is_true(e))
		cfg_err(x, "audit", "give exactly one of \"file\" and \"stderr\": true");
	else if (f != NULL)
		c->audit_file = config_path(c, f);
	else
		c->audit_stderr = true;
}

/* metrics.listen: "IPv4:PORT" or "[IPv6]:PORT", a listener of its own for
 * /metrics, off by default. */
static void load_metrics(struct cctx *x, const json_t *root, struct config *c)
{
	static const char *const keys[] = {"listen", NULL};
	const json_t *o = json_object_get(root, "metrics");
	const char *s, *colon;
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	long long port;
	size_t alen;

	if (o == NULL)
		return;
	if (!json_is_object(o)) {
		cfg_err(x, "metrics", "must be an object");
		return;
	}
	cfg_check_keys(x, o, "metrics", keys);
	if ((s = cfg_str(x, o, "metrics", "listen", NULL)) == NULL)
		return;
	if (s[0] == '[') { /* [IPv6]:PORT */
		const char *close = strchr(s, ']');

		colon = close != NULL && close[1] == ':' ? close + 1 : NULL;
		alen = close != NULL ? (size_t)(close - s - 1) : 0;
		s++;
	} else { /* IPv4:PORT: one colon only */
		colon = strchr(s, ':');
		alen = colon != NULL && strchr(colon + 1, ':') == NULL ? (size_t)(colon - s) : 0;
	}
	if (colon == NULL || alen == 0 || alen >= sizeof(addr) || !parse_ll(colon + 1, 1, 65535, &port)) {
		cfg_err(x, "metrics", "\"listen\" must be \"ADDRESS:PORT\" (\"127.0.0.1:9100\", \"[::1]:9100\")");
		return;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1) {
		cfg_err(x, "metrics", "\"listen\": \"%s\" is not an IPv4 or IPv6 address", addr);
		return;
	}
	c->metrics_address = strdup(addr);
	c->metrics_port = (int)port;
}

static char *resolve(const char *dir, const char *p)
{
	char *out;

	if (p == NULL)
		return NULL;
	if (p[0] == '/' || dir == NULL)
		return strdup(p);
	if (asprintf(&out, "%s/%s", dir, p) < 0)
		return NULL;
	return out;
}

char *config_path(const struct config *c, const char *p)
{
	return resolve(c->dir, p);
}

void file_stamp_get(const char *path, struct file_stamp *s)
{
	struct stat st;

	memset(s, 0, sizeof(*s));
	if (stat(path, &st) != 0)
		return;
	s->exists = true;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->size = st.st_size;
	s->mtime = st.st_mtim;
}

bool file_stamp_equal(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

int config_load(const char *path, struct config **out)
{
	return config_load_with_clients(path, NULL, out);
}

int config_load_with_clients(const char *path, const char *clients_file, struct config **out)
{
	static const char *const top_keys[] = {"issuer", "listen", "keys_dir", "templates_dir",
		"plugin_dir", "store", "session", "tokens", "rate_limits", "pairwise_secret",
		"acr_levels", "backends", "clients", "demo", "log_level", "key_rotation",
		"subject_derivation", "cookie_prefix", "debug", "metrics", "audit", "clients_file", NULL};
	static const char *const listen_keys[] = {"address", "port", "threads", "connection_limit",
		"per_ip_connection_limit", "connection_timeout_s", "max_body_bytes",
		"max_url_bytes", "max_params", "trusted_proxies", "proxy_protocol", NULL};
	struct cctx x = {path, 0};
	struct config *c;
	json_error_t jerr;
	json_t *root, *o, *v;
	const char *s;
	char *tmp;
	unsigned char bin6[16];
	size_t i;

	*out = NULL;
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		idp_log(LOG_ERR, "%s: line %d, column %d: %s", path, jerr.line, jerr.column, jerr.text);
		return IDP_EINVAL;
	}
	if (!json_is_object(root)) {
		idp_log(LOG_ERR, "%s: line 1: the configuration must be a JSON object", path);
		json_decref(root);
		return IDP_EINVAL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		json_decref(root);
		return IDP_ENOMEM;
	}
	c->root = root;
	c->path = strdup(path);
	tmp = strdup(path);
	c->dir = strdup(dirname(tmp));
	free(tmp);
	cfg_check_keys(&x, root, "(top)", top_keys);

	s = cfg_str(&x, root, "(top)", "issuer", NULL);
	if (s == NULL) {
		cfg_err(&x, "issuer", "required (e.g. \"https://login.example.gouv.fr\")");
	} else if (!uri_acceptable(s) || strchr(s, '?') != NULL) {
		cfg_err(&x, "issuer", "must be an http(s) URL without query or fragment");
	} else {
		c->issuer = strdup(s);
		while (strlen(c->issuer) > 8 && c->issuer[strlen(c->issuer) - 1] == '/')
			c->issuer[strlen(c->issuer) - 1] = '\0';
		c->issuer_https = strncmp(s, "https://", 8) == 0;
	}

	o = json_object_get(root, "listen");
	if (o != NULL && !json_is_object(o))
		cfg_err(&x, "listen", "must be an object");
	if (json_is_object(o))
		cfg_check_keys(&x, o, "listen", listen_keys);
	c->address = strdup(cfg_str(&x, o, "listen", "address", "127.0.0.1"));
	/* Checked here so that --check and SIGHUP see it, not only the bind. */
	if (c->address != NULL && inet_pton(AF_INET, c->address, bin6) != 1 &&
	    inet_pton(AF_INET6, c->address, bin6) != 1)
		cfg_err(&x, "listen", "\"address\": \"%s\" is not an IPv4 or IPv6 address "
			"(\"127.0.0.1\", \"0.0.0.0\", \"::1\", \"::\"; no host name, no zone)", c->address);
	c->port = (int)cfg_int(&x, o, "listen", "port", 8080, 0, 65535);
	c->threads = (unsigned)cfg_int(&x, o, "listen", "threads", 0, 0, 256);
	c->connection_limit = (unsigned)cfg_int(&x, o, "listen", "connection_limit", 4096, 1, 1000000);
	c->per_ip_limit = (unsigned)cfg_int(&x, o, "listen", "per_ip_connection_limit", 256, 0, 1000000);
	c->connection_timeout = (unsigned)cfg_int(&x, o, "listen", "connection_timeout_s", 30, 1, 3600);
	c->max_body = (size_t)cfg_int(&x, o, "listen", "max_body_bytes", 65536, 1024, 16777216);
	c->max_url = (size_t)cfg_int(&x, o, "listen", "max_url_bytes", 8192, 512, 65536);
	c->max_params = (size_t)cfg_int(&x, o, "listen", "max_params", 64, 8, 1024);
	load_trusted_proxies(&x, o, c);
	/* Each connection then names its client itself: only a trusted proxy
	 * may, so without one every connection would be refused. */
	c->proxy_protocol = cfg_bool(&x, o, "listen", "proxy_protocol", false);
	if (c->proxy_protocol && c->n_trusted_proxies == 0)
		cfg_err(&x, "listen", "\"proxy_protocol\" needs the proxies that send it in \"trusted_proxies\"");
	load_metrics(&x, root, c);
	load_audit(&x, root, c);

	c->keys_dir = resolve(c->dir, cfg_str(&x, root, "(top)", "keys_dir", "keys"));
	c->templates_dir = resolve(c->dir, cfg_str(&x, root, "(top)", "templates_dir", "templates"));
	c->plugin_dir = resolve(c->dir, cfg_str(&x, root, "(top)", "plugin_dir", "plugins"));

	c->store = json_object_get(root, "store");
	/* Its driver's settings are the store's to check (store_check, at
	 * rt_build): the configuration knows no driver. */
	if (c->store != NULL && !json_is_object(c->store))
		cfg_err(&x, "store", "must be an object");

	o = json_object_get(root, "session");
	c->session_idle = (unsigned)cfg_int(&x, o, "session", "idle_timeout_s", 1800, 60, 86400 * 30);
	c->session_max = (unsigned)cfg_int(&x, o, "session", "max_lifetime_s", 43200, 60, 86400 * 90);
	c->login_ttl = (unsigned)cfg_int(&x, o, "session", "login_form_ttl_s", 900, 60, 86400);
	if (o != NULL) {
		static const char *const k[] = {"idle_timeout_s", "max_lifetime_s", "login_form_ttl_s", NULL};
		cfg_check_keys(&x, o, "session", k);
	}
	o = json_object_get(root, "tokens");
	c->code_ttl = (unsigned)cfg_int(&x, o, "tokens", "code_ttl_s", 60, 1, 600);
	c->access_ttl = (unsigned)cfg_int(&x, o, "tokens", "access_token_ttl_s", 600, 1, 86400);
	c->id_ttl = (unsigned)cfg_int(&x, o, "tokens", "id_token_ttl_s", 600, 1, 86400);
	/* Refresh tokens (offline_access): a family of rotated tokens lives
	 * at most refresh_absolute_ttl_s from the login that started it, and
	 * each token refresh_idle_ttl_s unless used. */
	c->refresh_abs_ttl = (unsigned)cfg_int(&x, o, "tokens", "refresh_absolute_ttl_s", 30 * 86400, 1, 365 * 86400);
	c->refresh_idle_ttl = (unsigned)cfg_int(&x, o, "tokens", "refresh_idle_ttl_s", 14 * 86400, 1, 365 * 86400);
	if (c->refresh_idle_ttl > c->refresh_abs_ttl)
		c->refresh_idle_ttl = c->refresh_abs_ttl;
	if (o != NULL) {
		static const char *const k[] = {"code_ttl_s", "access_token_ttl_s", "id_token_ttl_s",
			"refresh_absolute_ttl_s", "refresh_idle_ttl_s", NULL};
		cfg_check_keys(&x, o, "tokens", k);
	}
	o = json_object_get(root, "rate_limits");
	c->rl_ip_per_min = (unsigned)cfg_int(&x, o, "rate_limits", "login_failures_per_ip_per_minute", 30, 1, 1000000);
	c->rl_user_failures = (unsigned)cfg_int(&x, o, "rate_limits", "login_failures_per_user_per_15min", 10, 1, 1000000);
	/* Each transaction is kept login_form_ttl_s: without a bound, one
	 * address could fill the store with them. 300 a minute lets a public
	 * office's NAT start five logins a second. */
	c->rl_txn_per_ip_min = (unsigned)cfg_int(&x, o, "rate_limits", "transactions_per_ip_per_minute", 300, 1,
						 1000000);
	if (o != NULL) {
		static const char *const k[] = {"login_failures_per_ip_per_minute",
			"login_failures_per_user_per_15min", "transactions_per_ip_per_minute", NULL};
		cfg_check_keys(&x, o, "rate_limits", k);
	}

	o = json_object_get(root, "key_rotation");
	c->jwks_max_age = (unsigned)cfg_int(&x, o, "key_rotation", "jwks_max_age_s", 300, 0, 86400);
	c->min_publish = (unsigned)cfg_int(&x, o, "key_rotation", "min_publish_s", 900, 0, 86400 * 30);
	c->rotation_deadline = (unsigned)cfg_int(&x, o, "key_rotation", "rotation_deadline_s", 86400, 0, 86400 * 90);
	c->active_window = (unsigned)cfg_int(&x, o, "key_rotation", "active_client_window_s", 86400, 60, 86400 * 90);
	c->retire_leeway = (unsigned)cfg_int(&x, o, "key_rotation", "retire_leeway_s", 60, 0, 86400);
	c->auto_rotate_days = (unsigned)cfg_int(&x, o, "key_rotation", "auto_rotate_days", 0, 0, 3650);
	/* The key-encryption key that seals private keys published through the
	 * store (keystore.c): only Redis is shared between nodes. */
	s = cfg_str(&x, o, "key_rotation", "kek_file", NULL);
	c->kek_file = s != NULL ? resolve(c->dir, s) : NULL;
	if (s != NULL && strcmp(json_string_value(json_object_get(c->store, "driver")) ?: "memory", "redis") != 0)
		cfg_err(&x, "key_rotation.kek_file", "publishes keys through the store: it needs the redis store");
	/* Keys in a PKCS#11 token (keys/pkcs11.c): the module, and the file of
	 * its user PIN, checked and read only when a key names a pkcs11_uri. */
	s = cfg_str(&x, o, "key_rotation", "pkcs11_module", "/usr/lib/softhsm/libsofthsm2.so");
	c->pkcs11_module = s != NULL ? resolve(c->dir, s) : NULL;
	s = cfg_str(&x, o, "key_rotation", "pkcs11_pin_file", NULL);
	c->pkcs11_pin_file = s != NULL ? resolve(c->dir, s) : NULL;
	if (o != NULL) {
		static const char *const k[] = {"jwks_max_age_s", "min_publish_s", "rotation_deadline_s",
			"active_client_window_s", "retire_leeway_s", "auto_rotate_days", "kek_file",
			"pkcs11_module", "pkcs11_pin_file", NULL};
		cfg_check_keys(&x, o, "key_rotation", k);
	}
	/* The rule that makes rotation invisible: every cache of the JWKS must
	 * have expired at least once between a key's publication and its use.
	 * Nodes poll the keys folder every second, so the next key may reach a
	 * node's JWKS up to a second after it was written: two seconds more than
	 * the max-age cover that second and a client fetching just before it. */
	if ((unsigned long long)c->min_publish < (unsigned long long)c->jwks_max_age + KEYS_POLL_SLACK_S)
		cfg_err(&x, "key_rotation", "min_publish_s (%u) must be at least jwks_max_age_s + %d (%u): "
		        "nodes see a new key up to a second late (they poll the keys folder every second), "
		        "so a cached JWKS must have expired after every node published it",
		        c->min_publish, KEYS_POLL_SLACK_S, c->jwks_max_age + KEYS_POLL_SLACK_S);

	s = cfg_str(&x, root, "(top)", "pairwise_secret", NULL);
	if (s == NULL || strlen(s) < 32)
		cfg_err(&x, "pairwise_secret", "required, at least 32 characters of random (openssl rand -hex 32)");
	else
		c->pairwise_secret = strdup(s);

	c->acr_levels = json_object_get(root, "acr_levels");
	if (c->acr_levels == NULL) {
		c->acr_levels = json_pack("[sss]", "eidas1", "eidas2", "eidas3");
		json_object_set_new(root, "acr_levels", c->acr_levels);
	}
	if (!json_is_array(c->acr_levels) || json_array_size(c->acr_levels) == 0) {
		cfg_err(&x, "acr_levels", "must be a non-empty array of strings, weakest first");
	} else {
		json_array_foreach(c->acr_levels, i, v)
			if (!json_is_string(v))
				cfg_err(&x, "acr_levels", "entry %zu must be a string", i);
		c->default_acr = xstrdup(json_string_value(json_array_get(c->acr_levels, 0)));
	}

	c->backends = json_object_get(root, "backends");
	if (!json_is_array(c->backends) || json_array_size(c->backends) == 0)
		cfg_err(&x, "backends", "at least one identity backend is required");

	load_clients(&x, c, root, clients_file);
	c->token_max_ttl = c->id_ttl > c->access_ttl ? c->id_ttl : c->access_ttl;
	for (i = 0; i < c->n_clients; i++) {
		if (c->clients[i].id_ttl > c->token_max_ttl)
			c->token_max_ttl = c->clients[i].id_ttl;
		if (c->clients[i].access_ttl > c->token_max_ttl)
			c->token_max_ttl = c->clients[i].access_ttl;
	}
	s = cfg_str(&x, root, "(top)", "cookie_prefix", "idp");
	if (strlen(s) > 24 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(s))
		cfg_err(&x, "cookie_prefix", "must be 1 to 24 letters or digits");
	c->cookie_prefix = strdup(s);
	s = cfg_str(&x, root, "(top)", "subject_derivation", "backend");
	c->sub_from_pivot = strcmp(s, "pivot") == 0;
	if (!c->sub_from_pivot && strcmp(s, "backend") != 0)
		cfg_err(&x, "subject_derivation", "must be \"backend\" or \"pivot\"");
	o = json_object_get(root, "debug");
	if (o != NULL && !json_is_object(o)) {
		cfg_err(&x, "debug", "must be an object");
	} else if (o != NULL) {
		static const char *const k[] = {"allow_core_dumps", NULL};
		cfg_check_keys(&x, o, "debug", k);
	}
	/* Off by default: a core dump holds the private keys and sessions. */
	c->allow_core_dumps = cfg_bool(&x, json_is_object(o) ? o : NULL, "debug", "allow_core_dumps", false);
	c->demo = cfg_bool(&x, root, "(top)", "demo", false);
	s = cfg_str(&x, root, "(top)", "log_level", "info");
	c->log_level = strcmp(s, "error") == 0 ? LOG_ERR : strcmp(s, "warn") == 0 ? LOG_WARN
		     : strcmp(s, "debug") == 0 ? LOG_DEBUG : LOG_INFO;

	if (x.errors > 0) {
		idp_log(LOG_ERR, "%s: %d error(s); refusing to start", path, x.errors);
		config_free(c);
		return IDP_EINVAL;
	}
	*out = c;
	return IDP_OK;
}

void config_free(struct config *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n_clients; i++)
		client_release(&c->clients[i]);
	free(c->clients);
	free(c->clients_file);
	free(c->path);
	free(c->dir);
	free(c->issuer);
	free(c->address);
	free(c->trusted_proxies);
	free(c->metrics_address);
	free(c->audit_file);
	free(c->keys_dir);
	free(c->kek_file);
	free(c->pkcs11_module);
	free(c->pkcs11_pin_file);
	free(c->templates_dir);
	free(c->plugin_dir);
	free_secret(c->pairwise_secret);
	free(c->default_acr);
	free(c->cookie_prefix);
	json_decref(c->root);
	free(c);
}

int config_acr_rank(const struct config *c, const char *acr)
{
	size_t i;
	json_t *v;

	if (acr == NULL)
		return -1;
	json_array_foreach(c->acr_levels, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), acr) == 0)
			return (int)i;
	return -1;
}

const char *alg_name(enum sign_alg a)
{
	return a == ALG_ES256 ? "ES256" : a == ALG_RS256 ? "RS256" : "none";
}
