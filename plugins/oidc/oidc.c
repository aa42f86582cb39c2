/* SPDX-License-Identifier: EUPL-1.2 */
/* The "oidc" identity backend: the hub is a relying party of an upstream
 * OpenID provider (as FranceConnect is of its identity providers). State,
 * nonce and PKCE S256 are fresh per login; the code exchange, the ID token's
 * verification (signature against the upstream JWKS, iss, aud, exp, nonce),
 * userinfo (JSON or signed JWT) and the logout URL come from librp. The
 * upstream acr is carried over; the daemon caps it at this backend's level.
 *
 * Settings: issuer, client_id, client_secret (or client_secret_file),
 * scope, acr_values, auth_method ("basic" | "post"), claims (upstream claim
 * -> our claim, default identity), allow_http_loopback, timeout_ms, ca_file. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "idp_plugin.h"
#include "rp.h"

struct oidc_inst {
	const struct idp_host *host;
	char *issuer, *client_id, *client_secret, *scope, *acr_values, *ca_file;
	bool post, loopback;
	long timeout_ms;
	json_t *claims_map;
	pthread_mutex_t lock;
	/* Made in create() from the hub's issuer, so that any instance, even
	 * one created after the login began (a reload), finishes it. */
	struct rp_config *rp;
	long check_s;           /* recheck the upstream before a login if silent this long */
	int64_t last_ok;        /* last time the upstream answered (atomic) */
};

static char *read_secret_file(const struct idp_host *host, const char *path)
{
	char buf[1024], *full = NULL, *out = NULL;
	FILE *f;
	size_t n;

	if (path[0] != '/' && host->conf_dir != NULL && asprintf(&full, "%s/%s", host->conf_dir, path) < 0)
		return NULL;
	f = fopen(full ? full : path, "r");
	free(full);
	if (f == NULL)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] != '\0')
		out = strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return out;
}

static void destroy(void *p)
{
	struct oidc_inst *o = p;

	if (o == NULL)
		return;
	rp_config_free(o->rp);
	free(o->issuer);
	free(o->client_id);
	if (o->client_secret != NULL) {
		OPENSSL_cleanse(o->client_secret, strlen(o->client_secret));
		free(o->client_secret);
	}
	free(o->scope);
	free(o->acr_values);
	free(o->ca_file);
	json_decref(o->claims_map);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static const char *str(const json_t *conf, const char *k)
{
	return json_string_value(json_object_get(conf, k));
}

static struct rp_config *rp_get(struct oidc_inst *o, const char *callback_url, int *rc);

static int create(const struct idp_host *host, const json_t *conf, void **inst)
{
	static const char *const known[] = {"id", "plugin", "title", "acr", "logo", "issuer", "client_id",
		"client_secret", "client_secret_file", "scope", "acr_values", "auth_method", "claims",
		"allow_http_loopback", "timeout_ms", "ca_file", "health_check_s", NULL};
	struct oidc_inst *o = calloc(1, sizeof(*o));
	const char *k, *am;
	json_t *v;

	*inst = NULL;
	if (o == NULL)
		return IDP_PLUGIN_ENOMEM;
	o->host = host;
	pthread_mutex_init(&o->lock, NULL);
	json_object_foreach((json_t *)conf, k, v) {
		const char *const *a;

		for (a = known; *a && strcmp(*a, k) != 0; a++)
			;
		if (*a == NULL && strncmp(k, "_comment", 8) != 0) {
			host->log(0, "oidc: unknown setting \"%s\"", k);
			goto fail;
		}
	}
	if (str(conf, "issuer") == NULL || str(conf, "client_id") == NULL) {
		host->log(0, "oidc: \"issuer\" and \"client_id\" are required");
		goto fail;
	}
	o->issuer = strdup(str(conf, "issuer"));
	o->client_id = strdup(str(conf, "client_id"));
	if (str(conf, "client_secret_file") != NULL)
		o->client_secret = read_secret_file(host, str(conf, "client_secret_file"));
	else if (str(conf, "client_secret") != NULL)
		o->client_secret = strdup(str(conf, "client_secret"));
	if (o->client_secret == NULL) {
		host->log(0, "oidc: \"client_secret_file\" (or \"client_secret\") is required and must not be empty");
		goto fail;
	}
	o->scope = strdup(str(conf, "scope") ? str(conf, "scope") : "openid profile email");
	o->acr_values = str(conf, "acr_values") ? strdup(str(conf, "acr_values")) : NULL;
	o->ca_file = str(conf, "ca_file") ? strdup(str(conf, "ca_file")) : NULL;
	am = str(conf, "auth_method");
	o->post = am != NULL && strcmp(am, "post") == 0;
	if (am != NULL && !o->post && strcmp(am, "basic") != 0) {
		host->log(0, "oidc: \"auth_method\" must be \"basic\" or \"post\"");
		goto fail;
	}
	o->loopback = json_is_true(json_object_get(conf, "allow_http_loopback"));
	o->timeout_ms = json_is_integer(json_object_get(conf, "timeout_ms"))
				? (long)json_integer_value(json_object_get(conf, "timeout_ms")) : 5000;
	o->check_s = json_is_integer(json_object_get(conf, "health_check_s"))
			     ? (long)json_integer_value(json_object_get(conf, "health_check_s")) : 10;
	o->claims_map = json_incref(json_object_get(conf, "claims"));
	if (o->claims_map != NULL && !json_is_object(o->claims_map)) {
		host->log(0, "oidc: \"claims\" must map upstream claim names to ours");
		goto fail;
	}
	if (host->issuer != NULL && str(conf, "id") != NULL) {
		char *cb = NULL;
		int rc;

		if (asprintf(&cb, "%s/callback/%s", host->issuer, str(conf, "id")) < 0)
			goto fail;
		rp_get(o, cb, &rc);
		free(cb);
		if (rc != IDP_PLUGIN_OK)
			goto fail;
	}
	*inst = o;
	return IDP_PLUGIN_OK;
fail:
	destroy(o);
	return IDP_PLUGIN_EINVAL;
}

/* The librp configuration, made once with the callback URL: in create(), or
 * (a daemon that gives no issuer) at the first begin(). */
static struct rp_config *rp_get(struct oidc_inst *o, const char *callback_url, int *rc)
{
	struct rp_error err = {0};
	struct rp_config *rp;

	pthread_mutex_lock(&o->lock);
	if (o->rp == NULL && callback_url != NULL) {
		rp = rp_config_new(o->issuer, o->client_id, o->client_secret, callback_url, &err);
		if (rp != NULL) {
			rp_config_set_auth_method(rp, o->post ? RP_AUTH_POST : RP_AUTH_BASIC);
			rp_config_set_timeouts(rp, o->timeout_ms, o->timeout_ms);
			if (o->loopback)
				rp_config_set_http_loopback(rp, true);
			if (o->ca_file)
				rp_config_set_ca_file(rp, o->ca_file);
			rp_config_set_jwks_client_id(rp, RP_JWKS_ID_HEADER);
			o->rp = rp;
		} else {
			o->host->log(0, "oidc: %s: %s", o->issuer, err.message);
		}
	}
	rp = o->rp;
	pthread_mutex_unlock(&o->lock);
	*rc = rp != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_EINVAL;
	return rp;
}

static int begin(void *inst, const char *callback_url, char **redirect_url, json_t **txn)
{
	struct oidc_inst *o = inst;
	struct rp_auth_params p = {.scope = o->scope, .acr_values = o->acr_values};
	struct rp_auth_request ar = {0};
	struct rp_error err = {0};
	struct rp_config *rp;
	int rc;

	*redirect_url = NULL;
	*txn = NULL;
	if ((rp = rp_get(o, callback_url, &rc)) == NULL)
		return rc;
	/* Do not send a citizen to an upstream that stopped answering: when it
	 * has been silent for check_s, ask for its discovery document first
	 * (at most one request per check_s per node when all is well). */
	if (o->host->now() - __atomic_load_n(&o->last_ok, __ATOMIC_RELAXED) >= o->check_s) {
		if (rp_discover(rp, &err) != RP_OK) {
			o->host->log(1, "oidc: %s is not answering: %s", o->issuer, err.message);
			return IDP_PLUGIN_EUNAVAIL;
		}
		__atomic_store_n(&o->last_ok, o->host->now(), __ATOMIC_RELAXED);
	}
	if ((rc = rp_auth_url(rp, &p, &ar, &err)) != RP_OK) {
		o->host->log(0, "oidc: %s: %s", o->issuer, err.message);
		return rc == RP_E_NETWORK || rc == RP_E_HTTP || rc == RP_E_DISCOVERY ? IDP_PLUGIN_EUNAVAIL
										    : IDP_PLUGIN_EINVAL;
	}
	*txn = json_pack("{s:s,s:s,s:s}", "state", ar.state, "nonce", ar.nonce, "verifier", ar.code_verifier);
	*redirect_url = strdup(ar.url);
	rp_auth_request_release(&ar);
	return *txn != NULL && *redirect_url != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_ENOMEM;
}

static int fail_code(int rp_code)
{
	return rp_code == RP_E_NETWORK || rp_code == RP_E_HTTP ? IDP_PLUGIN_EUNAVAIL : IDP_PLUGIN_EDENIED;
}

static int callback(void *inst, const json_t *txn, const char *query, struct idp_identity *out)
{
	struct oidc_inst *o = inst;
	struct rp_error err = {0};
	struct rp_tokens tok = {0};
	struct rp_config *rp;
	json_t *claims = NULL, *ui = NULL, *mapped = NULL, *v;
	const char *k;
	char *code = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rp = rp_get(o, NULL, &rc)) == NULL)
		return rc == IDP_PLUGIN_OK ? IDP_PLUGIN_EINVAL : rc;
	if ((rc = rp_parse_callback(rp, query, json_string_value(json_object_get(txn, "state")), &code, &err)) != RP_OK) {
		o->host->log(1, "oidc: %s: callback refused: %s%s%s", o->issuer, err.message,
			     err.oauth_error[0] ? " error=" : "", err.oauth_error);
		return IDP_PLUGIN_EDENIED;
	}
	rc = rp_exchange_code(rp, code, json_string_value(json_object_get(txn, "verifier")), &tok, &err);
	OPENSSL_cleanse(code, strlen(code));
	free(code);
	if (rc != RP_OK) {
		o->host->log(1, "oidc: %s: code exchange failed: %s", o->issuer, err.message);
		return fail_code(rc);
	}
	if ((rc = rp_verify_id_token(rp, tok.id_token, json_string_value(json_object_get(txn, "nonce")),
				     &claims, &err)) != RP_OK) {
		o->host->log(1, "oidc: %s: ID token refused: %s", o->issuer, err.message);
		rc = fail_code(rc);
		goto out;
	}
	if (tok.access_token != NULL &&
	    rp_userinfo(rp, tok.access_token, json_string_value(json_object_get(claims, "sub")), &ui, &err) != RP_OK)
		o->host->log(1, "oidc: %s: userinfo failed (%s): using the ID token's claims", o->issuer, err.message);
	mapped = json_object();
	/* Claims from userinfo and the ID token (userinfo wins), renamed by the map. */
	for (int pass = 0; pass < 2; pass++) {
		json_object_foreach(pass == 0 ? claims : ui, k, v) {
			const char *to = k;
			static const char *const technical[] = {"iss", "aud", "exp", "iat", "nbf", "nonce",
				"at_hash", "c_hash", "azp", "sid", "auth_time", "acr", "amr", "jti", "sub", NULL};
			const char *const *t;

			for (t = technical; *t && strcmp(*t, k) != 0; t++)
				;
			if (*t != NULL)
				continue;
			if (o->claims_map != NULL) {
				json_t *m = json_object_get(o->claims_map, k);

				if (m == NULL)
					continue; /* a map lists what is taken */
				to = json_string_value(m);
				if (to == NULL)
					continue;
			}
			json_object_set(mapped, to, v);
		}
		if (ui == NULL)
			break;
	}
	__atomic_store_n(&o->last_ok, o->host->now(), __ATOMIC_RELAXED);
	out->subject = strdup(json_string_value(json_object_get(claims, "sub")));
	out->claims = mapped;
	mapped = NULL;
	if (json_is_string(json_object_get(claims, "acr")))
		out->acr = strdup(json_string_value(json_object_get(claims, "acr")));
	out->amr = strdup("fed");
	out->session_data = json_pack("{s:s}", "id_token", tok.id_token);
	rc = out->subject != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_ENOMEM;
out:
	json_decref(claims);
	json_decref(ui);
	json_decref(mapped);
	rp_tokens_release(&tok);
	return rc;
}

static int logout(void *inst, const json_t *session_data, const char *return_url, const char *state,
		  char **url)
{
	struct oidc_inst *o = inst;
	struct rp_error err = {0};
	struct rp_config *rp;
	int rc;

	*url = NULL;
	if ((rp = rp_get(o, NULL, &rc)) == NULL)
		return rc == IDP_PLUGIN_OK ? IDP_PLUGIN_EINVAL : rc;
	if (rp_logout_url(rp, json_string_value(json_object_get(session_data, "id_token")), return_url,
			  state, url, &err) != RP_OK) {
		o->host->log(1, "oidc: %s: no logout URL: %s", o->issuer, err.message);
		return IDP_PLUGIN_EINVAL;
	}
	return IDP_PLUGIN_OK;
}

/* The prober asks again for the discovery document: the upstream is back
 * when it answers. */
static int probe(void *inst)
{
	struct oidc_inst *o = inst;
	struct rp_error err = {0};
	struct rp_config *rp;
	int rc;

	if ((rp = rp_get(o, NULL, &rc)) == NULL)
		return -1;
	if (rp_discover(rp, &err) != RP_OK)
		return -1;
	__atomic_store_n(&o->last_ok, o->host->now(), __ATOMIC_RELAXED);
	return 0;
}

IDP_EXPORT const struct idp_backend idp_backend_entry = {
	.abi = IDP_BACKEND_ABI,
	.size = sizeof(struct idp_backend),
	.name = "oidc",
	.create = create,
	.destroy = destroy,
	.begin = begin,
	.callback = callback,
	.logout = logout,
	.probe = probe,
};
