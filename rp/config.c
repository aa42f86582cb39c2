/* SPDX-License-Identifier: Apache-2.0 */
/* The config handle: settings, and the caches that the other files fill. */
#include "rp_int.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/pem.h>

static const char *const default_acr_levels = "eidas1 eidas2 eidas3";

/* issuer and redirect_uri: absolute http(s) URLs; the issuer without query
 * or fragment (OpenID Connect Discovery 3). Whether http is acceptable is
 * decided when a request is made, after every setter has run. */
static bool url_ok(const char *url, bool is_issuer)
{
	char *scheme = NULL, *part = NULL;
	bool ok = false;
	CURLU *u;

	if (url == NULL || strlen(url) > 2048 || (u = curl_url()) == NULL)
		return false;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0))
		goto out;
	ok = true;
	if (is_issuer && (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
			  curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK))
		ok = false;
out:
	curl_free(scheme);
	curl_free(part);
	curl_url_cleanup(u);
	return ok;
}

static void free_levels(struct rp_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_acr_levels; i++)
		free(cfg->acr_levels[i]);
	free(cfg->acr_levels);
	cfg->acr_levels = NULL;
	cfg->n_acr_levels = 0;
}

/* Splits a space-separated list into *out (n entries); nothing is kept on
 * failure. */
static int parse_levels(const char *levels, char ***out, size_t *nout)
{
	char **v = NULL, **nv;
	size_t n = 0, len;
	const char *p = levels;

	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			goto fail;
		v = nv;
		if ((v[n] = rp_strndup(p, len)) == NULL)
			goto fail;
		n++;
		p += len;
	}
	if (n == 0)
		goto fail;
	*out = v;
	*nout = n;
	return RP_OK;
fail:
	while (n > 0)
		free(v[--n]);
	free(v);
	return RP_E_INVAL;
}

static void install_levels(struct rp_config *cfg, char **v, size_t n)
{
	free_levels(cfg);
	cfg->acr_levels = v;
	cfg->n_acr_levels = n;
}

static int set_levels(struct rp_config *cfg, const char *levels)
{
	char **v;
	size_t n;

	if (parse_levels(levels, &v, &n) != RP_OK)
		return RP_E_INVAL;
	install_levels(cfg, v, n);
	return RP_OK;
}

struct rp_config *rp_config_new(const char *issuer, const char *client_id,
				const char *client_secret, const char *redirect_uri,
				struct rp_error *err)
{
	struct rp_config *cfg;
	const char *s;
	bool curl_ok = false;

	rp_err_clear(err);
	if (!url_ok(issuer, true)) {
		rp_fail(err, RP_E_INVAL, "rp_config_new: issuer must be an http(s) URL "
			"without query or fragment");
		return NULL;
	}
	if (!rp_printable(client_id) || strlen(client_id) > 255) {
		rp_fail(err, RP_E_INVAL, "rp_config_new: client_id must be 1 to 255 "
			"printable ASCII characters");
		return NULL;
	}
	for (s = client_secret; s != NULL && *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f) {
			rp_fail(err, RP_E_INVAL,
				"rp_config_new: control character in client_secret");
			return NULL;
		}
	}
	if (!url_ok(redirect_uri, false)) {
		rp_fail(err, RP_E_INVAL, "rp_config_new: redirect_uri must be an http(s) URL");
		return NULL;
	}
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		goto nomem;
	/* Reference-counted and thread-safe in libcurl >= 7.84; paired with
	 * the cleanup in rp_config_free(). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto nomem;
	curl_ok = true;
	if ((cfg->issuer = strdup(issuer)) == NULL ||
	    (cfg->client_id = strdup(client_id)) == NULL ||
	    (cfg->redirect_uri = strdup(redirect_uri)) == NULL ||
	    (client_secret != NULL && (cfg->client_secret = strdup(client_secret)) == NULL))
		goto nomem;
	cfg->auth_method = RP_AUTH_BASIC;
	cfg->jwks_client_id = RP_JWKS_ID_AUTH;
	cfg->leeway = 60;
	cfg->jwks_min_interval = 60;
	cfg->jwks_max_age = 3600;
	cfg->introspect_max_age = 30;
	cfg->introspect_cap = 1024;
	cfg->alg_mask = RP_ALGS_ASYM;
	cfg->connect_ms = 5000;
	cfg->total_ms = 10000;
	if (set_levels(cfg, default_acr_levels) != RP_OK)
		goto nomem;
	pthread_mutex_init(&cfg->lock, NULL);
	pthread_mutex_init(&cfg->disc_fetch, NULL);
	pthread_mutex_init(&cfg->jwks_fetch, NULL);
	return cfg;
nomem:
	rp_fail(err, RP_E_NOMEM, "rp_config_new: out of memory");
	if (cfg != NULL) {
		free(cfg->issuer);
		free(cfg->client_id);
		free(cfg->redirect_uri);
		free_secret(cfg->client_secret);
		free_levels(cfg);
		free(cfg);
	}
	if (curl_ok)
		curl_global_cleanup();
	return NULL;
}

void rp_config_free(struct rp_config *cfg)
{
	if (cfg == NULL)
		return;
	rp_keyset_put(cfg->keys);
	rp_disc_put(cfg->disc);
	free(cfg->issuer);
	free(cfg->client_id);
	free(cfg->redirect_uri);
	free_secret(cfg->client_secret);
	EVP_PKEY_free(cfg->client_key);
	free(cfg->client_key_kid);
	EVP_PKEY_free(cfg->decrypt_key);
	free(cfg->min_acr);
	free(cfg->ca_file);
	free_levels(cfg);
	rp_introspect_cache_free(cfg);
	free(cfg->jti_cache);
	pthread_mutex_destroy(&cfg->lock);
	pthread_mutex_destroy(&cfg->disc_fetch);
	pthread_mutex_destroy(&cfg->jwks_fetch);
	free(cfg);
	curl_global_cleanup();
}

int rp_config_set_auth_method(struct rp_config *cfg, enum rp_auth_method method)
{
	if (cfg == NULL || (method != RP_AUTH_BASIC && method != RP_AUTH_POST &&
			    (method != RP_AUTH_PRIVATE_KEY_JWT || cfg->client_key == NULL)))
		return RP_E_INVAL;
	cfg->auth_method = method;
	return RP_OK;
}

int rp_config_set_leeway(struct rp_config *cfg, int seconds)
{
	if (cfg == NULL || seconds < 0 || seconds > 600)
		return RP_E_INVAL;
	cfg->leeway = seconds;
	return RP_OK;
}

int rp_config_set_jwks_cache(struct rp_config *cfg, int min_interval, int max_age)
{
	if (cfg == NULL || min_interval < 0 || max_age < 1 || min_interval > 86400 ||
	    max_age > 7 * 86400)
		return RP_E_INVAL;
	cfg->jwks_min_interval = min_interval;
	cfg->jwks_max_age = max_age;
	return RP_OK;
}

int rp_config_set_jwks_client_id(struct rp_config *cfg, enum rp_jwks_client_id how)
{
	if (cfg == NULL || (how != RP_JWKS_ID_HEADER && how != RP_JWKS_ID_QUERY &&
			    how != RP_JWKS_ID_NONE && how != RP_JWKS_ID_AUTH))
		return RP_E_INVAL;
	/* The deprecated modes announced nothing a provider could trust. */
	cfg->jwks_client_id = how == RP_JWKS_ID_NONE ? RP_JWKS_ID_NONE : RP_JWKS_ID_AUTH;
	return RP_OK;
}

int rp_config_set_algs(struct rp_config *cfg, const char *algs)
{
	unsigned mask = 0;
	const char *p = algs;
	size_t len;
	int a;

	if (cfg == NULL || algs == NULL)
		return RP_E_INVAL;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		len = strcspn(p, " ");
		if ((a = rp_alg_lookup(p, len)) < 0)
			return RP_E_INVAL; /* "none" is not in the table */
		mask |= 1u << a;
		p += len;
	}
	if (mask == 0)
		return RP_E_INVAL;
	cfg->alg_mask = mask;
	return RP_OK;
}

int rp_acr_rank(const struct rp_config *cfg, const char *acr, size_t len)
{
	size_t i;

	for (i = 0; i < cfg->n_acr_levels; i++)
		if (strlen(cfg->acr_levels[i]) == len && memcmp(cfg->acr_levels[i], acr, len) == 0)
			return (int)i;
	return -1;
}

int rp_config_set_min_acr(struct rp_config *cfg, const char *min_acr, const char *levels)
{
	char **v = NULL, *copy = NULL;
	size_t n = 0, i;
	bool known = min_acr == NULL;

	/* Everything checked before anything changes: a refused call leaves
	 * the config as it was, levels included. */
	if (cfg == NULL || parse_levels(levels != NULL ? levels : default_acr_levels, &v, &n) !=
				   RP_OK)
		return RP_E_INVAL;
	for (i = 0; !known && i < n; i++)
		known = strcmp(v[i], min_acr) == 0;
	if (!known || (min_acr != NULL && (copy = strdup(min_acr)) == NULL)) {
		while (n > 0)
			free(v[--n]);
		free(v);
		return known ? RP_E_NOMEM : RP_E_INVAL;
	}
	install_levels(cfg, v, n);
	free(cfg->min_acr);
	cfg->min_acr = copy;
	return RP_OK;
}

int rp_config_set_timeouts(struct rp_config *cfg, long connect_ms, long total_ms)
{
	if (cfg == NULL || connect_ms < 1 || total_ms < 1 || connect_ms > 600000 ||
	    total_ms > 600000)
		return RP_E_INVAL;
	cfg->connect_ms = connect_ms;
	cfg->total_ms = total_ms;
	return RP_OK;
}

int rp_config_set_ca_file(struct rp_config *cfg, const char *path)
{
	char *copy = NULL;

	if (cfg == NULL)
		return RP_E_INVAL;
	if (path != NULL && (copy = strdup(path)) == NULL)
		return RP_E_NOMEM;
	free(cfg->ca_file);
	cfg->ca_file = copy;
	return RP_OK;
}

int rp_config_set_http_loopback(struct rp_config *cfg, bool allow)
{
	if (cfg == NULL)
		return RP_E_INVAL;
	cfg->http_loopback = allow;
	return RP_OK;
}

int rp_config_set_clock(struct rp_config *cfg, time_t (*now)(void *arg), void *arg)
{
	if (cfg == NULL)
		return RP_E_INVAL;
	cfg->clock = now;
	cfg->clock_arg = arg;
	return RP_OK;
}

int64_t rp_now(const struct rp_config *cfg)
{
	return cfg->clock != NULL ? (int64_t)cfg->clock(cfg->clock_arg) : (int64_t)time(NULL);
}

/* Cache ages use the monotonic clock, so setting the wall clock back does
 * not freeze refreshes; a test clock replaces both. */
int64_t rp_mono(const struct rp_config *cfg)
{
	struct timespec ts;

	if (cfg->clock != NULL)
		return (int64_t)cfg->clock(cfg->clock_arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}

int rp_check_acr(const struct rp_config *cfg, const json_t *claims, const char *min_acr,
		 struct rp_error *err)
{
	const char *acr;
	char shown[64];
	int want, got;

	rp_err_clear(err);
	if (cfg == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_check_acr: no config");
	if (min_acr == NULL && (min_acr = cfg->min_acr) == NULL)
		return RP_OK;
	if ((want = rp_acr_rank(cfg, min_acr, strlen(min_acr))) < 0)
		return rp_fail(err, RP_E_INVAL, "rp_check_acr: \"%s\" is not a known level",
			       min_acr);
	acr = json_string_value(json_object_get(claims, "acr"));
	if (acr == NULL)
		return rp_fail(err, RP_E_ACR, "rp_check_acr: no acr, %s required", min_acr);
	got = rp_acr_rank(cfg, acr, strlen(acr));
	if (got < want) {
		rp_sanitize(shown, sizeof(shown), acr, SIZE_MAX);
		return rp_fail(err, RP_E_ACR, "rp_check_acr: acr \"%s\" is below %s", shown,
			       min_acr);
	}
	return RP_OK;
}

/* A private key from PEM text: EC P-256 or RSA of 2048 bits or more. */
static EVP_PKEY *private_key(const char *pem)
{
	BIO *b;
	EVP_PKEY *k = NULL;

	if (pem == NULL || strlen(pem) > 64 * 1024 ||
	    (b = BIO_new_mem_buf(pem, (int)strlen(pem))) == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	if (k != NULL && !jose_key_fits_sig(k, JOSE_ES256) && !jose_key_fits_sig(k, JOSE_RS256)) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}

int rp_config_set_client_key(struct rp_config *cfg, const char *pem, const char *kid)
{
	EVP_PKEY *k;
	char *kd = NULL;

	if (cfg == NULL || (kid != NULL && (!rp_printable(kid) || strlen(kid) > 255)))
		return RP_E_INVAL;
	if ((k = private_key(pem)) == NULL)
		return RP_E_INVAL;
	if (kid != NULL && (kd = strdup(kid)) == NULL) {
		EVP_PKEY_free(k);
		return RP_E_NOMEM;
	}
	EVP_PKEY_free(cfg->client_key);
	free(cfg->client_key_kid);
	cfg->client_key = k;
	cfg->client_key_kid = kd;
	cfg->client_key_alg = jose_key_fits_sig(k, JOSE_ES256) ? JOSE_ES256 : JOSE_RS256;
	cfg->auth_method = RP_AUTH_PRIVATE_KEY_JWT;
	return RP_OK;
}

/* RS256 stays the default of an RSA key: 1.4's services keep what the
 * provider registered for them; PS256 (RFC 7518 3.5) is asked for. */
int rp_config_set_client_key_alg(struct rp_config *cfg, const char *alg)
{
	enum jose_sig_alg a;

	if (cfg == NULL || cfg->client_key == NULL || alg == NULL)
		return RP_E_INVAL;
	a = jose_sig_alg_parse(alg);
	if (a == JOSE_SIG_NONE || !jose_key_fits_sig(cfg->client_key, a))
		return RP_E_INVAL;
	cfg->client_key_alg = a;
	return RP_OK;
}

int rp_config_set_decryption_key(struct rp_config *cfg, const char *pem)
{
	EVP_PKEY *k;

	if (cfg == NULL || (k = private_key(pem)) == NULL)
		return RP_E_INVAL;
	EVP_PKEY_free(cfg->decrypt_key);
	cfg->decrypt_key = k;
	return RP_OK;
}
