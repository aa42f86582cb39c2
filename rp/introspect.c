/* SPDX-License-Identifier: Apache-2.0 */
/* The data provider's side (rp.h): token introspection (RFC 7662) with a
 * bounded cache, revocation (RFC 7009), the scope check. */
#include "rp_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#define MAX_INTROSPECTION (64 * 1024)
#define MAX_MEMBERS 64

struct rp_introspect_entry {
	unsigned char hash[SHA256_DIGEST_LENGTH]; /* of the token: never the token itself */
	int64_t until;                            /* rp_now(); 0: a free slot */
	struct rp_introspection v;
};

void rp_introspection_release(struct rp_introspection *r)
{
	if (r == NULL)
		return;
	free(r->scope);
	free(r->client_id);
	free(r->sub);
	json_decref(r->pivot);
	memset(r, 0, sizeof(*r));
}

static int copy_answer(const struct rp_introspection *src, struct rp_introspection *dst)
{
	*dst = *src;
	dst->scope = src->scope != NULL ? strdup(src->scope) : NULL;
	dst->client_id = src->client_id != NULL ? strdup(src->client_id) : NULL;
	dst->sub = src->sub != NULL ? strdup(src->sub) : NULL;
	/* A copy, not a reference: the cache and the caller may be on two threads. */
	dst->pivot = src->pivot != NULL ? json_deep_copy(src->pivot) : NULL;
	if ((src->scope != NULL && dst->scope == NULL) || (src->client_id != NULL && dst->client_id == NULL) ||
	    (src->sub != NULL && dst->sub == NULL) || (src->pivot != NULL && dst->pivot == NULL)) {
		rp_introspection_release(dst);
		return RP_E_NOMEM;
	}
	return RP_OK;
}

void rp_introspect_cache_free(struct rp_config *cfg)
{
	if (cfg->introspect_cache == NULL)
		return;
	for (size_t i = 0; i < cfg->introspect_cap; i++)
		rp_introspection_release(&cfg->introspect_cache[i].v);
	free(cfg->introspect_cache);
	cfg->introspect_cache = NULL;
}

int rp_config_set_introspection_cache(struct rp_config *cfg, int max_age, int entries)
{
	if (cfg == NULL || max_age < 0 || max_age > 3600 || entries < 1 || entries > 65536)
		return RP_E_INVAL;
	rp_introspect_cache_free(cfg);
	cfg->introspect_max_age = max_age;
	cfg->introspect_cap = (size_t)entries;
	return RP_OK;
}

/* A live cached answer for hash, copied into out: true when found. */
static bool cache_get(struct rp_config *cfg, const unsigned char *hash, struct rp_introspection *out)
{
	int64_t now = rp_now(cfg);
	bool hit = false;

	pthread_mutex_lock(&cfg->lock);
	for (size_t i = 0; cfg->introspect_cache != NULL && i < cfg->introspect_cap; i++) {
		struct rp_introspect_entry *e = &cfg->introspect_cache[i];

		if (e->until > now && memcmp(e->hash, hash, sizeof(e->hash)) == 0) {
			hit = copy_answer(&e->v, out) == RP_OK;
			break;
		}
	}
	pthread_mutex_unlock(&cfg->lock);
	return hit;
}

/* Keeps an active answer until the token's exp or the maximum age. */
static void cache_put(struct rp_config *cfg, const unsigned char *hash, const struct rp_introspection *v)
{
	int64_t now = rp_now(cfg), until = now + cfg->introspect_max_age;
	struct rp_introspect_entry *slot = NULL;

	if (v->exp > 0 && v->exp < until)
		until = v->exp;
	if (cfg->introspect_max_age == 0 || until <= now)
		return;
	pthread_mutex_lock(&cfg->lock);
	if (cfg->introspect_cache == NULL)
		cfg->introspect_cache = calloc(cfg->introspect_cap, sizeof(*cfg->introspect_cache));
	for (size_t i = 0; cfg->introspect_cache != NULL && i < cfg->introspect_cap; i++) {
		struct rp_introspect_entry *e = &cfg->introspect_cache[i];

		if (e->until <= now || memcmp(e->hash, hash, sizeof(e->hash)) == 0) {
			slot = e;
			break;
		}
		if (slot == NULL || e->until < slot->until)
			slot = e;
	}
	if (slot != NULL) {
		rp_introspection_release(&slot->v);
		slot->until = 0;
		if (copy_answer(v, &slot->v) == RP_OK) {
			memcpy(slot->hash, hash, sizeof(slot->hash));
			slot->until = until;
		}
	}
	pthread_mutex_unlock(&cfg->lock);
}

/* An optional string member: *out NULL when absent; false when not a string. */
static bool opt_str(const struct rp_jmember *m, size_t n, const char *key, char **out)
{
	const struct rp_jval *v = rp_json_get(m, n, key);

	*out = NULL;
	return v == NULL || (*out = rp_json_str_dup(v)) != NULL;
}

static bool opt_time(const struct rp_jmember *m, size_t n, const char *key, long long *out)
{
	const struct rp_jval *v = rp_json_get(m, n, key);
	int64_t t = 0;

	*out = 0;
	if (v != NULL && !rp_json_time(v, &t))
		return false;
	*out = t;
	return true;
}

/* The identity pivot's members the answer holds, as a new object; NULL
 * when it holds none. false when one is not a string. */
static bool opt_pivot(const struct rp_jmember *m, size_t n, json_t **out)
{
	static const char *const names[] = { "given_name", "family_name", "birthdate", "gender",
					     "birthplace", "birthcountry", NULL };

	*out = NULL;
	for (const char *const *k = names; *k != NULL; k++) {
		const struct rp_jval *v = rp_json_get(m, n, *k);
		char *s = NULL;

		if (v == NULL)
			continue;
		if (v->type != RP_J_STRING || (s = rp_json_str_dup(v)) == NULL ||
		    (*out == NULL && (*out = json_object()) == NULL) ||
		    json_object_set_new(*out, *k, json_string(s)) != 0) {
			free(s);
			json_decref(*out);
			*out = NULL;
			return false;
		}
		free(s);
	}
	return true;
}

static int parse_answer(const char *fn, struct rp_config *cfg, struct rp_http_resp *resp,
			struct rp_introspection *out, struct rp_error *err)
{
	struct rp_jmember m[MAX_MEMBERS];
	const struct rp_jval *act;
	size_t n;

	if (rp_json_scan(resp->body, resp->len, m, MAX_MEMBERS, &n) != RP_OK)
		return rp_fail(err, RP_E_MALFORMED, "%s: the answer is not a JSON object", fn);
	act = rp_json_get(m, n, "active");
	if (act == NULL || (act->type != RP_J_TRUE && act->type != RP_J_FALSE))
		return rp_fail(err, RP_E_MALFORMED, "%s: \"active\" missing or not a boolean", fn);
	/* RFC 7662 2.2: an inactive answer carries nothing else we may use. */
	if (act->type == RP_J_FALSE)
		return RP_OK;
	if (!opt_str(m, n, "scope", &out->scope) || !opt_str(m, n, "client_id", &out->client_id) ||
	    !opt_str(m, n, "sub", &out->sub) || !opt_time(m, n, "exp", &out->exp) ||
	    !opt_time(m, n, "iat", &out->iat) || !opt_pivot(m, n, &out->pivot)) {
		rp_introspection_release(out);
		return rp_fail(err, RP_E_MALFORMED, "%s: a member has the wrong type", fn);
	}
	/* An answer saying active for a token past its exp is not trusted. */
	out->active = out->exp == 0 || out->exp > rp_now(cfg) - cfg->leeway;
	if (!out->active)
		rp_introspection_release(out);
	return RP_OK;
}

static bool token_ok(const struct rp_config *cfg, const char *token)
{
	return cfg != NULL && rp_printable(token) && strlen(token) <= RP_MAX_TOKEN;
}

/* POSTs token (and hint) to the provider's introspection or revocation
 * endpoint, as this client; *resp is the 200 answer. */
static int ask(struct rp_config *cfg, const char *fn, const char *token, const char *hint, bool introspect,
	       struct rp_http_resp *resp, struct rp_error *err)
{
	struct rp_disc *disc = NULL;
	struct rp_buf body;
	const char *url;
	int rc;

	if (!token_ok(cfg, token) || (hint != NULL && !rp_printable(hint)))
		return rp_fail(err, RP_E_INVAL, "%s: token or hint missing, not printable or too long", fn);
	if ((rc = rp_disc_get(cfg, &disc, err)) != RP_OK)
		return rc;
	url = introspect ? disc->introspection_endpoint : disc->revocation_endpoint;
	rp_buf_init(&body, 2 * RP_MAX_TOKEN);
	if (url == NULL) {
		rc = rp_fail(err, RP_E_DISCOVERY, "%s: the provider has no %s", fn,
			     introspect ? "introspection_endpoint" : "revocation_endpoint");
	} else {
		rc = rp_buf_add_param(&body, "token", token);
		if (hint != NULL)
			rc = rc ? rc : rp_buf_add_param(&body, "token_type_hint", hint);
		if (rc != RP_OK)
			rc = rp_fail(err, rc, "%s: request too long", fn);
		else
			rc = rp_client_post(cfg, fn, url, &body, MAX_INTROSPECTION, resp, err);
	}
	rp_buf_release(&body);
	rp_disc_put(disc);
	return rc;
}

int rp_introspect(struct rp_config *cfg, const char *token, struct rp_introspection *out,
		  struct rp_error *err)
{
	static const char *const fn = "rp_introspect";
	unsigned char hash[SHA256_DIGEST_LENGTH];
	struct rp_http_resp resp = { 0 };
	int rc;

	rp_err_clear(err);
	if (out == NULL || !token_ok(cfg, token))
		return rp_fail(err, RP_E_INVAL, "%s: no output, or token missing, not printable or too long", fn);
	memset(out, 0, sizeof(*out));
	SHA256((const unsigned char *)token, strlen(token), hash);
	if (cache_get(cfg, hash, out))
		return RP_OK;
	if ((rc = ask(cfg, fn, token, "access_token", true, &resp, err)) == RP_OK &&
	    (rc = parse_answer(fn, cfg, &resp, out, err)) == RP_OK && out->active)
		cache_put(cfg, hash, out);
	rp_http_resp_release(&resp);
	return rc;
}

int rp_revoke(struct rp_config *cfg, const char *token, const char *token_type_hint,
	      struct rp_error *err)
{
	struct rp_http_resp resp = { 0 };
	int rc;

	rp_err_clear(err);
	rc = ask(cfg, "rp_revoke", token, token_type_hint, false, &resp, err);
	rp_http_resp_release(&resp);
	return rc;
}

bool rp_scope_has(const char *scope, const char *word)
{
	size_t wl = word != NULL ? strlen(word) : 0;

	for (const char *p = scope; p != NULL && *p != '\0' && wl > 0;) {
		size_t n = strcspn(p, " ");

		if (n == wl && memcmp(p, word, n) == 0)
			return true;
		p += n;
		p += strspn(p, " ");
	}
	return false;
}
