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

#include "store.h"
#include "util.h"
#include "uri.h"

/* A loading context collects every problem before refusing, so an operator
 * fixes a file in one pass. */
struct cctx {
	const char *file;
	int errors;
};

static void cerr(struct cctx *x, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cerr(struct cctx *x, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	idp_log(LOG_ERR, "%s: %s: %s", x->file, path, msg);
	x->errors++;
}

/* Refuses keys the schema does not know: a typo must not silently disable a
 * setting. "_comment" keys are documentation. */
static void check_keys(struct cctx *x, const json_t *o, const char *path, const char *const *allowed)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)o, k, v) {
		const char *const *a;
		bool ok = strncmp(k, "_comment", 8) == 0;

		for (a = allowed; !ok && *a; a++)
			ok = strcmp(*a, k) == 0;
		if (!ok)
			cerr(x, path, "unknown setting \"%s\"", k);
	}
}

static const char *get_str(struct cctx *x, const json_t *o, const char *path, const char *key,
			   const char *def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return def;
	if (!json_is_string(v) || json_string_length(v) == 0) {
		cerr(x, path, "\"%s\" must be a non-empty string", key);
		return def;
	}
	return json_string_value(v);
}

static long long get_int(struct cctx *x, const json_t *o, const char *path, const char *key,
			 long long def, long long min, long long max)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		cerr(x, path, "\"%s\" must be an integer from %lld to %lld", key, min, max);
		return def;
	}
	return json_integer_value(v);
}

static bool get_bool(struct cctx *x, const json_t *o, const char *path, const char *key, bool def)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL)
		return def;
	if (!json_is_boolean(v)) {
		cerr(x, path, "\"%s\" must be true or false", key);
		return def;
	}
	return json_is_true(v);
}

/* An array of non-empty strings; *n = 0 and NULL when absent. */
static char **get_strv(struct cctx *x, const json_t *o, const char *path, const char *key, size_t *n)
{
	json_t *a = json_object_get(o, key), *v;
	char **out;
	size_t i;

	*n = 0;
	if (a == NULL)
		return NULL;
	if (!json_is_array(a)) {
		cerr(x, path, "\"%s\" must be an array of strings", key);
		return NULL;
	}
	if ((out = calloc(json_array_size(a) + 1, sizeof(*out))) == NULL)
		return NULL;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || json_string_length(v) == 0) {
			cerr(x, path, "\"%s\"[%zu] must be a non-empty string", key, i);
			continue;
		}
		out[(*n)++] = strdup(json_string_value(v));
	}
	return out;
}

static void strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* Only text without control bytes is copied into a log line. */
static bool log_safe(const char *s)
{
	if (s == NULL)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p < ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Registered URIs and resources: uri_problem (uri.c) says what may be
 * registered; whether plain http is allowed depends on the issuer, which
 * load_client checks. */
bool uri_acceptable(const char *u)
{
	return uri_problem(u, false) == NULL;
}

/* Checks one list of registered URIs; the message names the client and the
 * URI, so that an operator finds it in a file of many services. Plain http
 * under an https issuer only on loopback (RFC 8252 7.3): anyone on the path
 * would read the code or the logout redirect. */
static void check_uris(struct cctx *x, const struct config *c, const char *path, const char *id,
		       const char *key, char **uris, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *why = uri_problem(uris[i], c->issuer_https);

		if (why != NULL)
			cerr(x, path, "%s[%zu] \"%.200s\" of client \"%.128s\" %s", key, i,
			     log_safe(uris[i]) ? uris[i] : "(unprintable)", log_safe(id) ? id : "?", why);
	}
}

static enum sign_alg parse_alg(struct cctx *x, const char *path, const char *key, const char *v,
			       enum sign_alg def)
{
	if (v == NULL)
		return def;
	if (strcmp(v, "ES256") == 0)
		return ALG_ES256;
	if (strcmp(v, "RS256") == 0)
		return ALG_RS256;
	cerr(x, path, "\"%s\" must be \"ES256\" or \"RS256\" (not \"%s\")", key, v);
	return def;
}

static void load_client(struct cctx *x, struct config *c, const json_t *o, size_t idx,
			struct client *cl)
{
	static const char *const keys[] = {"client_id", "client_name", "client_secret_sha256",
		"client_secret", "redirect_uris", "post_logout_redirect_uris", "sector_identifier",
		"subject_type", "profile", "token_endpoint_auth_methods", "grant_types",
		"id_token_signed_response_alg", "userinfo_signed_response_alg", "require_pkce",
		"first_party", "code_ttl_s", "access_token_ttl_s", "id_token_ttl_s",
		"scopes", "backends", "role", "scopes_served", NULL};
	char path[64];
	const char *s, *profile;
	char **methods, **grants;
	size_t n, i;

	snprintf(path, sizeof(path), "clients[%zu]", idx);
	if (!json_is_object(o)) {
		cerr(x, path, "must be an object");
		return;
	}
	check_keys(x, o, path, keys);
	s = get_str(x, o, path, "client_id", NULL);
	if (s == NULL)
		cerr(x, path, "\"client_id\" is required");
	else if (strlen(s) > 128 || strpbrk(s, " \t\r\n:\"<>&") != NULL)
		cerr(x, path, "\"client_id\" must be at most 128 characters without spaces, ':', quotes, '<', '>' or '&'");
	cl->id = xstrdup(s);
	cl->name = xstrdup(get_str(x, o, path, "client_name", s));

	if ((s = get_str(x, o, path, "client_secret_sha256", NULL)) != NULL) {
		if (strlen(s) != 64) {
			cerr(x, path, "\"client_secret_sha256\" must be 64 hex digits (idpctl clients hash-secret)");
		} else {
			for (i = 0; i < 32; i++) {
				int hi = codec_hexval((unsigned char)s[2 * i]), lo = codec_hexval((unsigned char)s[2 * i + 1]);

				if (hi < 0 || lo < 0) {
					cerr(x, path, "\"client_secret_sha256\" must be hex");
					break;
				}
				cl->secret_sha256[i] = (unsigned char)(hi << 4 | lo);
			}
			cl->has_secret = i == 32;
		}
	}
	if (json_object_get(o, "client_secret") != NULL)
		cerr(x, path, "\"client_secret\" in clear is refused: store \"client_secret_sha256\" (idpctl clients hash-secret)");
	if (!cl->has_secret)
		cerr(x, path, "a confidential client needs \"client_secret_sha256\"");

	cl->redirect_uris = get_strv(x, o, path, "redirect_uris", &cl->n_redirect_uris);
	check_uris(x, c, path, cl->id, "redirect_uris", cl->redirect_uris, cl->n_redirect_uris);
	cl->post_logout_uris = get_strv(x, o, path, "post_logout_redirect_uris", &cl->n_post_logout_uris);
	check_uris(x, c, path, cl->id, "post_logout_redirect_uris", cl->post_logout_uris, cl->n_post_logout_uris);

	profile = get_str(x, o, path, "profile", "standard");
	cl->franceconnect = strcmp(profile, "franceconnect") == 0;
	if (!cl->franceconnect && strcmp(profile, "standard") != 0)
		cerr(x, path, "\"profile\" must be \"standard\" or \"franceconnect\"");

	s = get_str(x, o, path, "role", "service");
	cl->data_provider = strcmp(s, "data_provider") == 0;
	if (!cl->data_provider && strcmp(s, "service") != 0)
		cerr(x, path, "\"role\" must be \"service\" or \"data_provider\"");
	cl->scopes_served = get_strv(x, o, path, "scopes_served", &cl->n_scopes_served);
	if (cl->data_provider && cl->n_scopes_served == 0)
		cerr(x, path, "a data provider needs \"scopes_served\" (the scopes whose tokens it may introspect)");
	if (!cl->data_provider && cl->scopes_served != NULL)
		cerr(x, path, "\"scopes_served\" is for \"role\": \"data_provider\" only");
	for (i = 0; i < cl->n_scopes_served; i++)
		if (strlen(cl->scopes_served[i]) > 64 || strpbrk(cl->scopes_served[i], " \t\r\n\"\\") != NULL)
			cerr(x, path, "scopes_served[%zu] must be one scope: at most 64 characters, no spaces or quotes", i);

	grants = get_strv(x, o, path, "grant_types", &n);
	if (grants == NULL) {
		/* A data provider logs no one in: no grant unless it names one. */
		cl->grant_code = !cl->data_provider;
	} else {
		for (i = 0; i < n; i++) {
			if (strcmp(grants[i], "authorization_code") == 0)
				cl->grant_code = true;
			else if (strcmp(grants[i], "client_credentials") == 0)
				cl->grant_cc = true;
			else
				cerr(x, path, "grant_types[%zu]: \"%s\" is not supported", i, grants[i]);
		}
	}
	strv_free(grants);
	if (cl->grant_code && cl->n_redirect_uris == 0)
		cerr(x, path, "\"redirect_uris\" needs at least one URI for the authorization code grant");

	methods = get_strv(x, o, path, "token_endpoint_auth_methods", &n);
	if (methods == NULL) {
		cl->auth_basic = true;
		cl->auth_post = true;
	} else {
		for (i = 0; i < n; i++) {
			if (strcmp(methods[i], "client_secret_basic") == 0)
				cl->auth_basic = true;
			else if (strcmp(methods[i], "client_secret_post") == 0)
				cl->auth_post = true;
			else
				cerr(x, path, "token_endpoint_auth_methods[%zu]: \"%s\" is not supported", i, methods[i]);
		}
	}
	strv_free(methods);
	if (cl->franceconnect)
		cl->auth_post = true; /* FranceConnect integrators send client_secret_post */

	s = get_str(x, o, path, "subject_type", "pairwise");
	cl->pairwise = strcmp(s, "public") != 0;
	if (cl->pairwise && strcmp(s, "pairwise") != 0)
		cerr(x, path, "\"subject_type\" must be \"pairwise\" or \"public\"");
	/* An explicit sector is kept as written; one taken from the redirect
	 * URI is its host in canonical form (uri_host), so that the pairwise
	 * sub does not change with how the service spells its host. */
	s = get_str(x, o, path, "sector_identifier", NULL);
	if (s != NULL)
		cl->sector = strdup(s);
	else if (cl->n_redirect_uris > 0 && uri_acceptable(cl->redirect_uris[0]) &&
		 (cl->sector = uri_host(cl->redirect_uris[0])) == NULL)
		cerr(x, path, "redirect_uris[0]: no pairwise sector could be taken from its host");
	else if (cl->n_redirect_uris == 0)
		cl->sector = xstrdup(cl->id);

	cl->id_token_alg = parse_alg(x, path, "id_token_signed_response_alg",
				     get_str(x, o, path, "id_token_signed_response_alg", NULL),
				     cl->franceconnect ? ALG_ES256 : ALG_RS256);
	cl->userinfo_alg = parse_alg(x, path, "userinfo_signed_response_alg",
				     get_str(x, o, path, "userinfo_signed_response_alg", NULL),
				     cl->franceconnect ? ALG_ES256 : ALG_NONE);
	cl->require_pkce = get_bool(x, o, path, "require_pkce", true);
	cl->first_party = get_bool(x, o, path, "first_party", false);
	cl->code_ttl = (unsigned)get_int(x, o, path, "code_ttl_s", cl->franceconnect ? 30 : c->code_ttl, 1, 600);
	cl->access_ttl = (unsigned)get_int(x, o, path, "access_token_ttl_s",
					   cl->franceconnect ? 60 : c->access_ttl, 1, 86400);
	cl->id_ttl = (unsigned)get_int(x, o, path, "id_token_ttl_s", cl->franceconnect ? 60 : c->id_ttl, 1, 86400);
	cl->scopes_allowed = get_strv(x, o, path, "scopes", &cl->n_scopes_allowed);
	cl->backends = get_strv(x, o, path, "backends", &cl->n_backends);
}

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
		cerr(x, "listen", "\"trusted_proxies\" must be an array of addresses or CIDR blocks");
		return;
	}
	if (json_array_size(a) == 0 || (c->trusted_proxies = calloc(json_array_size(a), sizeof(*c->trusted_proxies))) == NULL)
		return;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || !cidr_parse(json_string_value(v), &c->trusted_proxies[c->n_trusted_proxies])) {
			cerr(x, "listen", "trusted_proxies[%zu] must be an IPv4 or IPv6 address, or a CIDR block "
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
	static const char *const keys[] = {"file", "stderr", NULL};
	const json_t *o = json_object_get(root, "audit"), *e;
	const char *f;

	if (o == NULL || json_is_null(o))
		return;
	if (!json_is_object(o)) {
		cerr(x, "audit", "must be an object: {\"file\": PATH} or {\"stderr\": true}");
		return;
	}
	check_keys(x, o, "audit", keys);
	f = get_str(x, o, "audit", "file", NULL);
	e = json_object_get(o, "stderr");
	if (e != NULL && !json_is_boolean(e))
		cerr(x, "audit", "\"stderr\" must be true or false");
	if ((f != NULL) == json_is_true(e))
		cerr(x, "audit", "give exactly one of \"file\" and \"stderr\": true");
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
		cerr(x, "metrics", "must be an object");
		return;
	}
	check_keys(x, o, "metrics", keys);
	if ((s = get_str(x, o, "metrics", "listen", NULL)) == NULL)
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
		cerr(x, "metrics", "\"listen\" must be \"ADDRESS:PORT\" (\"127.0.0.1:9100\", \"[::1]:9100\")");
		return;
	}
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1) {
		cerr(x, "metrics", "\"listen\": \"%s\" is not an IPv4 or IPv6 address", addr);
		return;
	}
	c->metrics_address = strdup(addr);
	c->metrics_port = (int)port;
}

static void client_release(struct client *cl)
{
	free(cl->id);
	free(cl->name);
	strv_free(cl->redirect_uris);
	strv_free(cl->post_logout_uris);
	free(cl->sector);
	strv_free(cl->scopes_allowed);
	strv_free(cl->scopes_served);
	strv_free(cl->backends);
	wipe(cl->secret_sha256, sizeof(cl->secret_sha256));
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

/* The clients file's array, read with a bound before jansson sees it. */
static json_t *read_clients_file(struct cctx *x, const char *file)
{
	json_error_t jerr;
	json_t *arr;
	char *buf;
	size_t len = 0;
	FILE *f = fopen(file, "re");

	if (f == NULL) {
		cerr(x, "clients_file", "%s: %s", file, strerror(errno));
		return NULL;
	}
	buf = malloc(CLIENTS_FILE_MAX_BYTES + 1);
	if (buf != NULL)
		len = fread(buf, 1, CLIENTS_FILE_MAX_BYTES + 1, f);
	fclose(f);
	if (buf == NULL || len > CLIENTS_FILE_MAX_BYTES) {
		cerr(x, "clients_file", "%s: larger than %u bytes", file, CLIENTS_FILE_MAX_BYTES);
		free(buf);
		return NULL;
	}
	arr = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (arr == NULL)
		cerr(x, "clients_file", "%s: line %d, column %d: %s", file, jerr.line, jerr.column, jerr.text);
	else if (!json_is_array(arr) || json_array_size(arr) > CLIENTS_MAX) {
		cerr(x, "clients_file", "%s: must be an array of at most %u clients", file, CLIENTS_MAX);
		json_decref(arr);
		arr = NULL;
	}
	return arr;
}

/* "clients" then the clients file, checked by the same load_client, ids
 * unique across both. override replaces the clients file the configuration
 * names (idpctl's candidate). */
static void load_clients(struct cctx *x, struct config *c, json_t *root, const char *override)
{
	json_t *inl = json_object_get(root, "clients"), *file = NULL, *v;
	const char *name = get_str(x, root, "(top)", "clients_file", NULL);
	struct cctx fx = {NULL, 0};
	size_t i, n;

	if (inl != NULL && !json_is_array(inl)) {
		cerr(x, "clients", "must be an array");
		inl = NULL;
	}
	if (name != NULL) {
		c->clients_file = resolve(c->dir, name);
		fx.file = override ? override : c->clients_file;
		/* Taken before reading: a change made while we read is seen next time. */
		file_stamp_get(fx.file, &c->clients_stamp);
		file = read_clients_file(x, fx.file);
	} else if (override != NULL)
		cerr(x, "clients_file", "the configuration names no clients file");
	n = json_array_size(inl) + json_array_size(file);
	c->clients = calloc(n + 1, sizeof(*c->clients));
	if (c->clients == NULL) {
		cerr(x, "clients", "out of memory");
		json_decref(file);
		return;
	}
	json_array_foreach(inl, i, v)
		load_client(x, c, v, i, &c->clients[c->n_clients++]);
	c->n_inline_clients = c->n_clients;
	json_array_foreach(file, i, v)
		load_client(&fx, c, v, i, &c->clients[c->n_clients++]);
	x->errors += fx.errors;
	for (i = 0; i < c->n_clients; i++)
		for (size_t j = 0; j < i; j++)
			if (c->clients[i].id && c->clients[j].id && strcmp(c->clients[i].id, c->clients[j].id) == 0)
				cerr(i < c->n_inline_clients ? x : &fx, "clients",
				     "client_id \"%s\" appears twice", c->clients[i].id);
	json_decref(file);
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
		"max_url_bytes", "max_params", "trusted_proxies", NULL};
	struct cctx x = {path, 0};
	struct config *c;
	json_error_t jerr;
	json_t *root, *o, *v;
	const char *s;
	char *tmp;
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
	check_keys(&x, root, "(top)", top_keys);

	s = get_str(&x, root, "(top)", "issuer", NULL);
	if (s == NULL) {
		cerr(&x, "issuer", "required (e.g. \"https://login.example.gouv.fr\")");
	} else if (!uri_acceptable(s) || strchr(s, '?') != NULL) {
		cerr(&x, "issuer", "must be an http(s) URL without query or fragment");
	} else {
		c->issuer = strdup(s);
		while (strlen(c->issuer) > 8 && c->issuer[strlen(c->issuer) - 1] == '/')
			c->issuer[strlen(c->issuer) - 1] = '\0';
		c->issuer_https = strncmp(s, "https://", 8) == 0;
	}

	o = json_object_get(root, "listen");
	if (o != NULL && !json_is_object(o))
		cerr(&x, "listen", "must be an object");
	if (json_is_object(o))
		check_keys(&x, o, "listen", listen_keys);
	c->address = strdup(get_str(&x, o, "listen", "address", "127.0.0.1"));
	c->port = (int)get_int(&x, o, "listen", "port", 8080, 0, 65535);
	c->threads = (unsigned)get_int(&x, o, "listen", "threads", 0, 0, 256);
	c->connection_limit = (unsigned)get_int(&x, o, "listen", "connection_limit", 4096, 1, 1000000);
	c->per_ip_limit = (unsigned)get_int(&x, o, "listen", "per_ip_connection_limit", 256, 0, 1000000);
	c->connection_timeout = (unsigned)get_int(&x, o, "listen", "connection_timeout_s", 30, 1, 3600);
	c->max_body = (size_t)get_int(&x, o, "listen", "max_body_bytes", 65536, 1024, 16777216);
	c->max_url = (size_t)get_int(&x, o, "listen", "max_url_bytes", 8192, 512, 65536);
	c->max_params = (size_t)get_int(&x, o, "listen", "max_params", 64, 8, 1024);
	load_trusted_proxies(&x, o, c);
	load_metrics(&x, root, c);
	load_audit(&x, root, c);

	c->keys_dir = resolve(c->dir, get_str(&x, root, "(top)", "keys_dir", "keys"));
	c->templates_dir = resolve(c->dir, get_str(&x, root, "(top)", "templates_dir", "templates"));
	c->plugin_dir = resolve(c->dir, get_str(&x, root, "(top)", "plugin_dir", "plugins"));

	c->store = json_object_get(root, "store");
	if (c->store != NULL && !json_is_object(c->store))
		cerr(&x, "store", "must be an object");
	else if (c->store != NULL && json_is_string(json_object_get(c->store, "driver")) &&
		 strcmp(json_string_value(json_object_get(c->store, "driver")), "redis") == 0 &&
		 store_redis_check(c->store) != IDP_OK)
		cerr(&x, "store", "the Redis settings are not valid (the line above says why)");

	o = json_object_get(root, "session");
	c->session_idle = (unsigned)get_int(&x, o, "session", "idle_timeout_s", 1800, 60, 86400 * 30);
	c->session_max = (unsigned)get_int(&x, o, "session", "max_lifetime_s", 43200, 60, 86400 * 90);
	c->login_ttl = (unsigned)get_int(&x, o, "session", "login_form_ttl_s", 900, 60, 86400);
	if (o != NULL) {
		static const char *const k[] = {"idle_timeout_s", "max_lifetime_s", "login_form_ttl_s", NULL};
		check_keys(&x, o, "session", k);
	}
	o = json_object_get(root, "tokens");
	c->code_ttl = (unsigned)get_int(&x, o, "tokens", "code_ttl_s", 60, 1, 600);
	c->access_ttl = (unsigned)get_int(&x, o, "tokens", "access_token_ttl_s", 600, 1, 86400);
	c->id_ttl = (unsigned)get_int(&x, o, "tokens", "id_token_ttl_s", 600, 1, 86400);
	if (o != NULL) {
		static const char *const k[] = {"code_ttl_s", "access_token_ttl_s", "id_token_ttl_s", NULL};
		check_keys(&x, o, "tokens", k);
	}
	o = json_object_get(root, "rate_limits");
	c->rl_ip_per_min = (unsigned)get_int(&x, o, "rate_limits", "login_failures_per_ip_per_minute", 30, 1, 1000000);
	c->rl_user_failures = (unsigned)get_int(&x, o, "rate_limits", "login_failures_per_user_per_15min", 10, 1, 1000000);
	/* Each transaction is kept login_form_ttl_s: without a bound, one
	 * address could fill the store with them. 300 a minute lets a public
	 * office's NAT start five logins a second. */
	c->rl_txn_per_ip_min = (unsigned)get_int(&x, o, "rate_limits", "transactions_per_ip_per_minute", 300, 1,
						 1000000);
	if (o != NULL) {
		static const char *const k[] = {"login_failures_per_ip_per_minute",
			"login_failures_per_user_per_15min", "transactions_per_ip_per_minute", NULL};
		check_keys(&x, o, "rate_limits", k);
	}

	o = json_object_get(root, "key_rotation");
	c->jwks_max_age = (unsigned)get_int(&x, o, "key_rotation", "jwks_max_age_s", 300, 0, 86400);
	c->min_publish = (unsigned)get_int(&x, o, "key_rotation", "min_publish_s", 900, 0, 86400 * 30);
	c->rotation_deadline = (unsigned)get_int(&x, o, "key_rotation", "rotation_deadline_s", 86400, 0, 86400 * 90);
	c->active_window = (unsigned)get_int(&x, o, "key_rotation", "active_client_window_s", 86400, 60, 86400 * 90);
	c->retire_leeway = (unsigned)get_int(&x, o, "key_rotation", "retire_leeway_s", 60, 0, 86400);
	c->auto_rotate_days = (unsigned)get_int(&x, o, "key_rotation", "auto_rotate_days", 0, 0, 3650);
	/* The key-encryption key that seals private keys published through the
	 * store (keystore.c): only Redis is shared between nodes. */
	s = get_str(&x, o, "key_rotation", "kek_file", NULL);
	c->kek_file = s != NULL ? resolve(c->dir, s) : NULL;
	if (s != NULL && strcmp(json_string_value(json_object_get(c->store, "driver")) ?: "memory", "redis") != 0)
		cerr(&x, "key_rotation.kek_file", "publishes keys through the store: it needs the redis store");
	if (o != NULL) {
		static const char *const k[] = {"jwks_max_age_s", "min_publish_s", "rotation_deadline_s",
			"active_client_window_s", "retire_leeway_s", "auto_rotate_days", "kek_file", NULL};
		check_keys(&x, o, "key_rotation", k);
	}
	/* The rule that makes rotation invisible: every cache of the JWKS must
	 * have expired at least once between a key's publication and its use.
	 * Nodes poll the keys folder every second, so the next key may reach a
	 * node's JWKS up to a second after it was written: two seconds more than
	 * the max-age cover that second and a client fetching just before it. */
	if ((unsigned long long)c->min_publish < (unsigned long long)c->jwks_max_age + KEYS_POLL_SLACK_S)
		cerr(&x, "key_rotation", "min_publish_s (%u) must be at least jwks_max_age_s + %d (%u): "
		     "nodes see a new key up to a second late (they poll the keys folder every second), "
		     "so a cached JWKS must have expired after every node published it",
		     c->min_publish, KEYS_POLL_SLACK_S, c->jwks_max_age + KEYS_POLL_SLACK_S);

	s = get_str(&x, root, "(top)", "pairwise_secret", NULL);
	if (s == NULL || strlen(s) < 32)
		cerr(&x, "pairwise_secret", "required, at least 32 characters of random (openssl rand -hex 32)");
	else
		c->pairwise_secret = strdup(s);

	c->acr_levels = json_object_get(root, "acr_levels");
	if (c->acr_levels == NULL) {
		c->acr_levels = json_pack("[sss]", "eidas1", "eidas2", "eidas3");
		json_object_set_new(root, "acr_levels", c->acr_levels);
	}
	if (!json_is_array(c->acr_levels) || json_array_size(c->acr_levels) == 0) {
		cerr(&x, "acr_levels", "must be a non-empty array of strings, weakest first");
	} else {
		json_array_foreach(c->acr_levels, i, v)
			if (!json_is_string(v))
				cerr(&x, "acr_levels", "entry %zu must be a string", i);
		c->default_acr = xstrdup(json_string_value(json_array_get(c->acr_levels, 0)));
	}

	c->backends = json_object_get(root, "backends");
	if (!json_is_array(c->backends) || json_array_size(c->backends) == 0)
		cerr(&x, "backends", "at least one identity backend is required");

	load_clients(&x, c, root, clients_file);
	c->token_max_ttl = c->id_ttl > c->access_ttl ? c->id_ttl : c->access_ttl;
	for (i = 0; i < c->n_clients; i++) {
		if (c->clients[i].id_ttl > c->token_max_ttl)
			c->token_max_ttl = c->clients[i].id_ttl;
		if (c->clients[i].access_ttl > c->token_max_ttl)
			c->token_max_ttl = c->clients[i].access_ttl;
	}
	s = get_str(&x, root, "(top)", "cookie_prefix", "idp");
	if (strlen(s) > 24 || strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(s))
		cerr(&x, "cookie_prefix", "must be 1 to 24 letters or digits");
	c->cookie_prefix = strdup(s);
	s = get_str(&x, root, "(top)", "subject_derivation", "backend");
	c->sub_from_pivot = strcmp(s, "pivot") == 0;
	if (!c->sub_from_pivot && strcmp(s, "backend") != 0)
		cerr(&x, "subject_derivation", "must be \"backend\" or \"pivot\"");
	o = json_object_get(root, "debug");
	if (o != NULL && !json_is_object(o)) {
		cerr(&x, "debug", "must be an object");
	} else if (o != NULL) {
		static const char *const k[] = {"allow_core_dumps", NULL};
		check_keys(&x, o, "debug", k);
	}
	/* Off by default: a core dump holds the private keys and sessions. */
	c->allow_core_dumps = get_bool(&x, json_is_object(o) ? o : NULL, "debug", "allow_core_dumps", false);
	c->demo = get_bool(&x, root, "(top)", "demo", false);
	s = get_str(&x, root, "(top)", "log_level", "info");
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
	free(c->templates_dir);
	free(c->plugin_dir);
	free_secret(c->pairwise_secret);
	free(c->default_acr);
	free(c->cookie_prefix);
	json_decref(c->root);
	free(c);
}

const struct client *config_client(const struct config *c, const char *id)
{
	if (id == NULL)
		return NULL;
	for (size_t i = 0; i < c->n_clients; i++)
		if (strcmp(c->clients[i].id, id) == 0)
			return &c->clients[i];
	return NULL;
}

/* Exact string comparison: no prefix, no wildcard, no normalisation. */
bool client_serves_scope(const struct client *cl, const char *scope)
{
	for (const char *p = scope; p != NULL && *p;) {
		size_t n = strcspn(p, " ");

		for (size_t i = 0; cl->data_provider && i < cl->n_scopes_served; i++)
			if (strlen(cl->scopes_served[i]) == n && strncmp(cl->scopes_served[i], p, n) == 0)
				return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

bool client_has_redirect_uri(const struct client *cl, const char *uri)
{
	for (size_t i = 0; uri != NULL && i < cl->n_redirect_uris; i++)
		if (strcmp(cl->redirect_uris[i], uri) == 0)
			return true;
	return false;
}

bool client_has_post_logout_uri(const struct client *cl, const char *uri)
{
	for (size_t i = 0; uri != NULL && i < cl->n_post_logout_uris; i++)
		if (strcmp(cl->post_logout_uris[i], uri) == 0)
			return true;
	return false;
}

bool client_allows_backend(const struct client *cl, const char *backend_id)
{
	if (cl->backends == NULL)
		return true;
	for (size_t i = 0; i < cl->n_backends; i++)
		if (strcmp(cl->backends[i], backend_id) == 0)
			return true;
	return false;
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
