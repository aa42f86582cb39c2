/* SPDX-License-Identifier: EUPL-1.2 */
/* What a service learns of the citizen (claims.h): claims by scope, the
 * claims parameter filtered for the client, the pairwise identifiers. */
#include "claims.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Claims per scope (OpenID Core 5.4, plus the identity pivot public services
 * need: birth and identite_pivot, as FranceConnect names them). */
static const struct {
	const char *scope;
	const char *claims[16];
} scope_claims[] = {
	{"openid", {"sub", NULL}},
	{"profile", {"name", "family_name", "given_name", "middle_name", "nickname",
		     "preferred_username", "profile", "picture", "website", "gender", "birthdate",
		     "zoneinfo", "locale", "updated_at", NULL}},
	{"email", {"email", "email_verified", NULL}},
	{"address", {"address", NULL}},
	{"phone", {"phone_number", "phone_number_verified", NULL}},
	{"birth", {"birthplace", "birthcountry", NULL}},
	{"identite_pivot", {"given_name", "family_name", "birthdate", "gender", "birthplace",
			    "birthcountry", NULL}},
};
#define N_SCOPES (sizeof(scope_claims) / sizeof(scope_claims[0]))

json_t *scopes_supported(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < N_SCOPES; i++)
		json_array_append_new(a, json_string(scope_claims[i].scope));
	/* A refresh token (OpenID Core 11), which releases no claim. */
	json_array_append_new(a, json_string("offline_access"));
	return a;
}

json_t *claims_supported(void)
{
	json_t *a = json_array(), *seen = json_object();
	static const char *const extra[] = {"iss", "aud", "exp", "iat", "auth_time", "nonce",
		"acr", "amr", "azp", "at_hash", "sid", NULL};

	for (size_t i = 0; i < N_SCOPES; i++)
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (json_object_get(seen, *c) == NULL) {
				json_object_set_new(seen, *c, json_true());
				json_array_append_new(a, json_string(*c));
			}
	for (const char *const *c = extra; *c; c++)
		json_array_append_new(a, json_string(*c));
	json_decref(seen);
	return a;
}

bool scope_has(const char *scope, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = scope; p != NULL && *p;) {
		size_t n = strcspn(p, " ");

		if (n == wl && strncmp(p, word, n) == 0)
			return true;
		p += n;
		while (*p == ' ')
			p++;
	}
	return false;
}

json_t *claims_for_scope(const json_t *identity, const char *scope, const json_t *requested)
{
	json_t *out = json_object(), *v;
	const char *k;

	for (size_t i = 1; i < N_SCOPES; i++) {
		if (!scope_has(scope, scope_claims[i].scope))
			continue;
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if ((v = json_object_get(identity, *c)) != NULL)
				json_object_set(out, *c, v);
	}
	if (json_is_object(requested)) {
		json_object_foreach((json_t *)requested, k, v) {
			json_t *iv = json_object_get(identity, k);

			(void)v;
			/* Only identity claims some scope covers: never a protocol
			 * claim (sub, acr...) a backend happened to return. */
			if (iv != NULL && claim_of_scope(k))
				json_object_set(out, k, iv);
		}
	}
	return out;
}

json_t *claims_released(const json_t *identity, const char *scope, const json_t *claims_req)
{
	json_t *out = claims_for_scope(identity, scope, json_object_get(claims_req, "userinfo"));
	json_t *idt = claims_for_scope(identity, "", json_object_get(claims_req, "id_token"));

	if (out != NULL && idt != NULL)
		json_object_update(out, idt);
	json_decref(idt);
	return out;
}

static bool client_may_scope(const struct client *cl, const char *scope)
{
	if (cl->scopes_allowed == NULL || strcmp(scope, "openid") == 0)
		return true;
	for (size_t i = 0; i < cl->n_scopes_allowed; i++)
		if (strcmp(cl->scopes_allowed[i], scope) == 0)
			return true;
	return false;
}

bool scope_standard(const char *word)
{
	/* OpenID Core 11: a standard scope that releases no claim (a refresh
	 * token), never a data provider's. */
	if (strcmp(word, "offline_access") == 0)
		return true;
	for (size_t i = 0; i < N_SCOPES; i++)
		if (strcmp(scope_claims[i].scope, word) == 0)
			return true;
	return false;
}

bool client_may_data_scope(const struct config *cfg, const struct client *cl, const char *word)
{
	/* Only when named: "any supported scope" (no "scopes") is about
	 * the citizen's identity, never another administration's data. */
	if (scope_standard(word))
		return false;
	for (size_t i = 0; i < cl->n_scopes_allowed; i++)
		if (strcmp(cl->scopes_allowed[i], word) == 0)
			return config_data_provider(cfg, word) != NULL;
	return false;
}

size_t scope_data_words(const char *scope, char words[][65], size_t max)
{
	size_t n = 0;

	for (const char *p = scope; p != NULL && *p && n < max;) {
		size_t len = strcspn(p, " ");

		if (len > 0 && len < 65) {
			memcpy(words[n], p, len);
			words[n][len] = '\0';
			if (!scope_standard(words[n]))
				n++;
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	return n;
}

bool claim_of_scope(const char *claim)
{
	for (size_t i = 1; i < N_SCOPES; i++)
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (strcmp(*c, claim) == 0)
				return true;
	return false;
}

bool client_may_claim(const struct client *cl, const char *claim)
{
	for (size_t i = 1; i < N_SCOPES; i++) {
		if (!client_may_scope(cl, scope_claims[i].scope))
			continue;
		for (const char *const *c = scope_claims[i].claims; *c; c++)
			if (strcmp(*c, claim) == 0)
				return true;
	}
	return false;
}

json_t *claims_request_filter(const struct client *cl, const json_t *claims)
{
	static const char *const members[] = {"userinfo", "id_token"};
	json_t *out = json_deep_copy(claims), *m, *v;
	const char *k;
	void *tmp;

	for (size_t i = 0; out != NULL && i < 2; i++) {
		if ((m = json_object_get(out, members[i])) == NULL)
			continue;
		/* sub (its value, OpenID Core 5.5.1) and acr (its values) steer
		 * the request and release nothing of the citizen's. */
		json_object_foreach_safe(m, tmp, k, v) {
			(void)v;
			if (strcmp(k, "sub") != 0 && strcmp(k, "acr") != 0 && !client_may_claim(cl, k))
				json_object_del(m, k);
		}
	}
	return out;
}

bool acr_essential(const json_t *claims)
{
	return json_is_true(json_object_get(json_object_get(json_object_get(claims, "id_token"), "acr"),
					    "essential"));
}

bool client_scope_ok(const struct client *cl, const char *scope)
{
	for (const char *p = scope; p != NULL && *p;) {
		size_t n = strcspn(p, " ");
		bool known = false;

		if (n == 0 || n > 64)
			return false;
		for (size_t i = 0; !known && i < N_SCOPES; i++)
			if (strlen(scope_claims[i].scope) == n && strncmp(scope_claims[i].scope, p, n) == 0)
				known = client_may_scope(cl, scope_claims[i].scope);
		/* An API scope (client_credentials) exists when the client's
		 * "scopes" names it. */
		for (size_t i = 0; !known && i < cl->n_scopes_allowed; i++)
			known = strlen(cl->scopes_allowed[i]) == n && strncmp(cl->scopes_allowed[i], p, n) == 0;
		if (!known)
			return false;
		p += n;
		if (*p == ' ' && *++p == '\0')
			return false;
	}
	return true;
}

static void hmac_hex(const void *key, size_t klen, const char *msg, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];

	hmac_sha256(key, klen, msg, strlen(msg), d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(d, sizeof(d));
}

/* Pairwise (OpenID Core 8.1): a keyed hash of sector and local subject, so
 * two sectors cannot link a citizen; the key lives in the configuration. */
char *subject_for(const struct config *cfg, const struct client *cl, const char *local_sub)
{
	char out[65], *msg;

	if (asprintf(&msg, "%s|%s", cl->pairwise ? cl->sector : "public", local_sub) < 0)
		return NULL;
	hmac_hex(cfg->pairwise_secret, strlen(cfg->pairwise_secret), msg, out);
	free(msg);
	return strdup(out);
}

void sid_for(const struct config *cfg, const struct client *cl, const char *sid_hash, char out[65])
{
	char *msg;

	if (asprintf(&msg, "%s|%s", sid_hash, cl->sector ? cl->sector : cl->id) < 0) {
		out[0] = '\0';
		return;
	}
	hmac_hex(cfg->pairwise_secret, strlen(cfg->pairwise_secret), msg, out);
	free(msg);
}

int buf_json_value(struct buf *b, const json_t *v)
{
	char *t;
	int rc;

	if (json_is_string(v))
		return buf_add_json_str(b, json_string_value(v));
	if (json_is_integer(v))
		return buf_printf(b, "%lld", (long long)json_integer_value(v));
	if (v == NULL)
		return IDP_EINVAL;
	/* Anything else (arrays, objects, booleans, reals), jansson writes. */
	if ((t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
		return IDP_ENOMEM;
	rc = buf_adds(b, t);
	free_secret(t);
	return rc;
}

int buf_json_members(struct buf *b, bool first, const json_t *obj)
{
	const char *k;
	json_t *v;
	int rc = IDP_OK;

	json_object_foreach((json_t *)obj, k, v) {
		if ((rc = buf_json_name(b, first, k)) != IDP_OK || (rc = buf_json_value(b, v)) != IDP_OK)
			return rc;
		first = false;
	}
	return rc;
}
