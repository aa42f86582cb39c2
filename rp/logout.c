/* SPDX-License-Identifier: Apache-2.0 */
/* rp_verify_logout_token: OpenID Connect Back-Channel Logout 1.0, 2.6. The
 * signature and registered claims go through jwt.c; here the claims the
 * logout token adds (events, sid or sub, jti) and the jti's single use. */
#include "rp_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

static const char bcl_event[] = "http://schemas.openid.net/event/backchannel-logout";

/* A jti accepted, by the SHA-256 of issuer-given text (never kept as is),
 * until its token is too old to pass the iat check anyway. */
struct rp_jti_entry {
	unsigned char hash[SHA256_DIGEST_LENGTH];
	int64_t until;
};

static bool nonempty_string(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

/* Remembers jti until until; RP_E_REPLAY when it is already there. */
static int jti_remember(struct rp_config *cfg, const char *jti, int64_t until)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	int64_t now = rp_now(cfg);
	size_t i, oldest = 0;
	int rc = RP_OK;

	SHA256((const unsigned char *)jti, strlen(jti), h);
	pthread_mutex_lock(&cfg->lock);
	if (cfg->jti_cache == NULL &&
	    (cfg->jti_cache = calloc(RP_LOGOUT_JTI_MAX, sizeof(*cfg->jti_cache))) == NULL) {
		rc = RP_E_NOMEM;
		goto out;
	}
	for (i = 0; i < cfg->jti_n;) {
		struct rp_jti_entry *e = &cfg->jti_cache[i];

		if (e->until < now) { /* too old to pass now: forget it */
			*e = cfg->jti_cache[--cfg->jti_n];
			continue;
		}
		if (memcmp(e->hash, h, sizeof(h)) == 0) {
			rc = RP_E_REPLAY;
			goto out;
		}
		if (e->until < cfg->jti_cache[oldest].until)
			oldest = i;
		i++;
	}
	if (cfg->jti_n == RP_LOGOUT_JTI_MAX)
		i = oldest; /* full of live entries: the one closest to its end gives way */
	else
		i = cfg->jti_n++;
	memcpy(cfg->jti_cache[i].hash, h, sizeof(h));
	cfg->jti_cache[i].until = until;
out:
	pthread_mutex_unlock(&cfg->lock);
	return rc;
}

int rp_verify_logout_token(struct rp_config *cfg, const char *token, json_t **claims,
			   struct rp_error *err)
{
	const char *fn = "rp_verify_logout_token";
	const json_t *events, *ev, *jti;
	json_t *c = NULL;
	int64_t iat;
	int rc;

	rp_err_clear(err);
	if (claims != NULL)
		*claims = NULL;
	if ((rc = rp_verify_logout_jws(cfg, token, &c, err)) != RP_OK)
		return rc;
	/* jwt.c checked iat is a number not in the future. */
	iat = (int64_t)json_number_value(json_object_get(c, "iat"));
	if (iat + RP_LOGOUT_MAX_AGE + cfg->leeway < rp_now(cfg)) {
		rc = rp_fail(err, RP_E_EXPIRED, "%s: issued more than %d s ago", fn, RP_LOGOUT_MAX_AGE);
		goto out;
	}
	events = json_object_get(c, "events");
	ev = json_object_get(events, bcl_event);
	if (!json_is_object(events) || !json_is_object(ev)) {
		rc = rp_fail(err, RP_E_MALFORMED, "%s: no back-channel logout event in \"events\"", fn);
		goto out;
	}
	if (!nonempty_string(json_object_get(c, "sid")) && !nonempty_string(json_object_get(c, "sub"))) {
		rc = rp_fail(err, RP_E_MALFORMED, "%s: neither sid nor sub", fn);
		goto out;
	}
	if ((json_object_get(c, "sid") != NULL && !nonempty_string(json_object_get(c, "sid"))) ||
	    (json_object_get(c, "sub") != NULL && !nonempty_string(json_object_get(c, "sub")))) {
		rc = rp_fail(err, RP_E_MALFORMED, "%s: sid or sub is not a string", fn);
		goto out;
	}
	jti = json_object_get(c, "jti");
	if (!nonempty_string(jti) || json_string_length(jti) > 256) {
		rc = rp_fail(err, RP_E_MALFORMED, "%s: no jti (or one over 256 bytes)", fn);
		goto out;
	}
	if ((rc = jti_remember(cfg, json_string_value(jti), iat + RP_LOGOUT_MAX_AGE + cfg->leeway)) != RP_OK) {
		if (rc == RP_E_REPLAY)
			rc = rp_fail(err, rc, "%s: jti already used: a replayed logout token", fn);
		else
			rc = rp_fail(err, rc, "%s: out of memory", fn);
		goto out;
	}
	if (claims != NULL) {
		*claims = c;
		c = NULL;
	}
out:
	json_decref(c);
	return rc;
}
