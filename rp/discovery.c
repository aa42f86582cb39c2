/* SPDX-License-Identifier: Apache-2.0 */
/* OpenID Provider discovery: fetched on first need, checked, cached for a
 * day; a failed refresh keeps the cached document. */
#include "rp_int.h"

#include <stdlib.h>
#include <string.h>

void rp_disc_put(struct rp_disc *d)
{
	if (d == NULL || atomic_fetch_sub(&d->refs, 1) != 1)
		return;
	json_decref(d->doc);
	free(d);
}

/* An endpoint member: absent is fine when optional, otherwise it must be a
 * URL the config allows (https, or loopback http when permitted). */
static int endpoint(const struct rp_config *cfg, json_t *doc, const char *name, bool required,
		    const char **out, struct rp_error *err)
{
	json_t *v = json_object_get(doc, name);
	int rc;

	*out = NULL;
	if (v == NULL && !required)
		return RP_OK;
	if (!json_is_string(v))
		return rp_fail(err, RP_E_DISCOVERY, "discovery: %s %s", name,
			       v == NULL ? "missing" : "is not a string");
	if ((rc = rp_url_check(cfg, "discovery", json_string_value(v), err)) != RP_OK)
		return rc;
	*out = json_string_value(v);
	return RP_OK;
}

static int disc_parse(const struct rp_config *cfg, const char *body, size_t len,
		      struct rp_disc **out, struct rp_error *err)
{
	struct rp_disc *d;
	json_error_t jerr;
	const char *iss;
	char shown[96];
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return rp_fail(err, RP_E_NOMEM, "discovery: out of memory");
	atomic_init(&d->refs, 1);
	if ((d->doc = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(d->doc)) {
		rc = rp_fail(err, RP_E_DISCOVERY, "discovery: not a JSON object (%s)",
			     d->doc == NULL ? jerr.text : "other JSON type");
		goto fail;
	}
	/* OpenID Connect Discovery 4.3: the issuer must be exactly the one we
	 * asked for, or a look-alike provider could hand out its own keys. */
	iss = json_string_value(json_object_get(d->doc, "issuer"));
	if (iss == NULL || strcmp(iss, cfg->issuer) != 0) {
		rp_sanitize(shown, sizeof(shown), iss != NULL ? iss : "(none)", SIZE_MAX);
		rc = rp_fail(err, RP_E_ISS, "discovery: issuer \"%s\" is not the configured one",
			     shown);
		goto fail;
	}
	if ((rc = endpoint(cfg, d->doc, "authorization_endpoint", true,
			   &d->authorization_endpoint, err)) != RP_OK ||
	    (rc = endpoint(cfg, d->doc, "token_endpoint", true, &d->token_endpoint, err)) !=
		    RP_OK ||
	    (rc = endpoint(cfg, d->doc, "jwks_uri", true, &d->jwks_uri, err)) != RP_OK ||
	    (rc = endpoint(cfg, d->doc, "userinfo_endpoint", false, &d->userinfo_endpoint,
			   err)) != RP_OK ||
	    (rc = endpoint(cfg, d->doc, "end_session_endpoint", false,
			   &d->end_session_endpoint, err)) != RP_OK ||
	    (rc = endpoint(cfg, d->doc, "introspection_endpoint", false,
			   &d->introspection_endpoint, err)) != RP_OK ||
	    (rc = endpoint(cfg, d->doc, "revocation_endpoint", false,
			   &d->revocation_endpoint, err)) != RP_OK)
		goto fail;
	d->iss_parameter = json_is_true(
		json_object_get(d->doc, "authorization_response_iss_parameter_supported"));
	*out = d;
	return RP_OK;
fail:
	rp_disc_put(d);
	return rc;
}

/* One fetch; the caller holds cfg->disc_fetch. */
static int disc_fetch(struct rp_config *cfg, struct rp_error *err)
{
	static const char *const headers[] = { "Accept: application/json", NULL };
	struct rp_http_resp resp = { 0 };
	struct rp_disc *d = NULL, *old;
	struct rp_keyset *stale = NULL;
	struct buf url;
	size_t ilen = strlen(cfg->issuer);
	int rc;

	pthread_mutex_lock(&cfg->lock);
	cfg->disc_attempt = rp_mono(cfg);
	cfg->disc_tried = true;
	pthread_mutex_unlock(&cfg->lock);

	/* Discovery 4.1: issuer minus any trailing '/', then the well-known path. */
	buf_init(&url, 8192);
	if (ilen > 0 && cfg->issuer[ilen - 1] == '/')
		ilen--;
	if ((rc = rp_buf_add(&url, cfg->issuer, ilen)) != RP_OK ||
	    (rc = rp_buf_adds(&url, "/.well-known/openid-configuration")) != RP_OK) {
		rc = rp_fail(err, rc, "discovery: issuer URL too long");
		goto out;
	}
	if ((rc = rp_http(cfg, "discovery", url.p, headers, NULL, RP_MAX_DOC, &resp, err)) != RP_OK)
		goto out;
	if (resp.status != 200) {
		rc = rp_fail(err, RP_E_HTTP, "discovery: HTTP %ld from the provider", resp.status);
		goto out;
	}
	if ((rc = disc_parse(cfg, resp.body, resp.len, &d, err)) != RP_OK)
		goto out;
	pthread_mutex_lock(&cfg->lock);
	old = cfg->disc;
	cfg->disc = d;
	cfg->disc_fetched = rp_mono(cfg);
	/* Keys from another jwks_uri are not this document's: drop them,
	 * and let the next verification fetch at once from the new one. */
	if (old != NULL && strcmp(old->jwks_uri, d->jwks_uri) != 0) {
		stale = cfg->keys;
		cfg->keys = NULL;
		cfg->jwks_tried = false;
	}
	pthread_mutex_unlock(&cfg->lock);
	rp_keyset_put(stale);
	rp_disc_put(old);
out:
	buf_release(&url);
	rp_http_resp_release(&resp);
	return rc;
}

static struct rp_disc *disc_ref(struct rp_config *cfg, int64_t *age, int64_t *since_attempt)
{
	struct rp_disc *d;

	pthread_mutex_lock(&cfg->lock);
	if ((d = cfg->disc) != NULL)
		atomic_fetch_add(&d->refs, 1);
	*age = rp_mono(cfg) - cfg->disc_fetched;
	*since_attempt = rp_mono(cfg) - cfg->disc_attempt;
	pthread_mutex_unlock(&cfg->lock);
	return d;
}

int rp_disc_get(struct rp_config *cfg, struct rp_disc **out, struct rp_error *err)
{
	struct rp_error ignored;
	struct rp_disc *d;
	int64_t age, since;
	int rc = RP_OK;

	*out = NULL;
	d = disc_ref(cfg, &age, &since);
	if (d != NULL && age < RP_DISC_MAX_AGE) {
		*out = d;
		return RP_OK;
	}
	if (d != NULL) {
		/* Stale: refresh in one thread, keep the old one on failure. */
		if (since >= RP_DISC_RETRY && pthread_mutex_trylock(&cfg->disc_fetch) == 0) {
			if (disc_fetch(cfg, &ignored) == RP_OK) {
				rp_disc_put(d);
				d = disc_ref(cfg, &age, &since);
			}
			pthread_mutex_unlock(&cfg->disc_fetch);
		}
		*out = d;
		return RP_OK;
	}
	pthread_mutex_lock(&cfg->disc_fetch);
	if ((d = disc_ref(cfg, &age, &since)) == NULL) {
		/* Nothing cached: a flood of logins while the provider is down
		 * costs one request per RP_DISC_RETRY seconds, not one each. */
		if (cfg->disc_tried && since < RP_DISC_RETRY)
			rc = rp_fail(err, RP_E_NETWORK, "discovery: provider unavailable, "
				     "last attempt %lld s ago", (long long)since);
		else if ((rc = disc_fetch(cfg, err)) == RP_OK)
			d = disc_ref(cfg, &age, &since);
	}
	pthread_mutex_unlock(&cfg->disc_fetch);
	*out = d;
	return d != NULL ? RP_OK : rc;
}

int rp_discover(struct rp_config *cfg, struct rp_error *err)
{
	int rc;

	rp_err_clear(err);
	if (cfg == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_discover: no config");
	pthread_mutex_lock(&cfg->disc_fetch);
	rc = disc_fetch(cfg, err);
	pthread_mutex_unlock(&cfg->disc_fetch);
	return rc;
}
