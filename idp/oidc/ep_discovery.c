/* SPDX-License-Identifier: EUPL-1.2 */
/* /.well-known/openid-configuration (OpenID Connect Discovery 1.0) and
 * /jwks (RFC 7517): both rendered once per configuration or key load. */
#include "claims.h"
#include "client_auth.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The client authentication methods of /token, /introspect and /revoke
 * (client_auth.c), and the algorithms a client assertion may use. */
static json_t *auth_methods(void)
{
	return json_pack("[sss]", "client_secret_basic", "client_secret_post", "private_key_jwt");
}

static json_t *assertion_algs(void)
{
	return json_pack("[sss]", "ES256", "PS256", "RS256");
}

static json_t *url(const struct config *cfg, const char *path)
{
	char *s;
	json_t *v;

	if (asprintf(&s, "%s%s", cfg->issuer, path) < 0)
		return NULL;
	v = json_string(s);
	free(s);
	return v;
}

char *discovery_render(const struct config *cfg, const struct rt *rt)
{
	json_t *d = json_object(), *backends_acr = json_copy(cfg->acr_levels);
	char *s;

	(void)rt;
	json_object_set_new(d, "issuer", json_string(cfg->issuer));
	json_object_set_new(d, "authorization_endpoint", url(cfg, "/authorize"));
	json_object_set_new(d, "token_endpoint", url(cfg, "/token"));
	json_object_set_new(d, "userinfo_endpoint", url(cfg, "/userinfo"));
	json_object_set_new(d, "jwks_uri", url(cfg, "/jwks"));
	json_object_set_new(d, "end_session_endpoint", url(cfg, "/logout"));
	json_object_set_new(d, "introspection_endpoint", url(cfg, "/introspect"));
	json_object_set_new(d, "introspection_endpoint_auth_methods_supported", auth_methods());
	json_object_set_new(d, "introspection_endpoint_auth_signing_alg_values_supported", assertion_algs());
	json_object_set_new(d, "introspection_signing_alg_values_supported", json_pack("[ss]", "RS256", "ES256"));
	json_object_set_new(d, "revocation_endpoint", url(cfg, "/revoke"));
	json_object_set_new(d, "revocation_endpoint_auth_methods_supported", auth_methods());
	json_object_set_new(d, "revocation_endpoint_auth_signing_alg_values_supported", assertion_algs());
	json_object_set_new(d, "scopes_supported", scopes_supported());
	json_object_set_new(d, "response_types_supported", json_pack("[s]", "code"));
	json_object_set_new(d, "response_modes_supported", json_pack("[s]", "query"));
	json_object_set_new(d, "grant_types_supported",
			    json_pack("[sss]", "authorization_code", "client_credentials", "refresh_token"));
	json_object_set_new(d, "subject_types_supported", json_pack("[ss]", "pairwise", "public"));
	json_object_set_new(d, "id_token_signing_alg_values_supported", json_pack("[ss]", "RS256", "ES256"));
	json_object_set_new(d, "userinfo_signing_alg_values_supported", json_pack("[ss]", "RS256", "ES256"));
	json_object_set_new(d, "token_endpoint_auth_methods_supported", auth_methods());
	json_object_set_new(d, "token_endpoint_auth_signing_alg_values_supported", assertion_algs());
	/* Tokens encrypted to the client (OpenID Core 10.2): nested JWTs. */
	json_object_set_new(d, "id_token_encryption_alg_values_supported", json_pack("[ss]", "RSA-OAEP-256", "ECDH-ES"));
	json_object_set_new(d, "id_token_encryption_enc_values_supported", json_pack("[s]", JOSE_ENC_A256GCM));
	json_object_set_new(d, "userinfo_encryption_alg_values_supported", json_pack("[ss]", "RSA-OAEP-256", "ECDH-ES"));
	json_object_set_new(d, "userinfo_encryption_enc_values_supported", json_pack("[s]", JOSE_ENC_A256GCM));
	json_object_set_new(d, "code_challenge_methods_supported", json_pack("[s]", "S256"));
	json_object_set_new(d, "claims_supported", claims_supported());
	json_object_set_new(d, "claim_types_supported", json_pack("[s]", "normal"));
	json_object_set_new(d, "claims_parameter_supported", json_true());
	json_object_set_new(d, "request_parameter_supported", json_false());
	json_object_set_new(d, "request_uri_parameter_supported", json_false());
	json_object_set_new(d, "require_request_uri_registration", json_false());
	json_object_set_new(d, "acr_values_supported", backends_acr);
	json_object_set_new(d, "prompt_values_supported",
			    json_pack("[ssss]", "none", "login", "consent", "select_account"));
	/* Only what the code does: every page is a full page (display is
	 * ignored, so no "popup"), and claims come in the one language the
	 * backend gives them (no claims_locales_supported). */
	json_object_set_new(d, "display_values_supported", json_pack("[s]", "page"));
	json_object_set_new(d, "ui_locales_supported", json_pack("[ss]", "fr", "en"));
	json_object_set_new(d, "authorization_response_iss_parameter_supported", json_true());
	json_object_set_new(d, "frontchannel_logout_supported", json_false());
	json_object_set_new(d, "backchannel_logout_supported", json_true());
	json_object_set_new(d, "backchannel_logout_session_supported", json_true());
	s = json_dumps(d, JSON_COMPACT);
	json_decref(d);
	return s;
}

static enum MHD_Result cached_json(struct req *r, const char *doc, size_t len, const char *cache)
{
	struct MHD_Response *resp;

	/* The document lives in the runtime, which this request holds. */
	resp = MHD_create_response_from_buffer(len, (void *)doc, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, cache);
	MHD_add_response_header(resp, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return http_send(r, 200, resp);
}

enum MHD_Result ep_discovery(struct req *r)
{
	return cached_json(r, r->rt->discovery, r->rt->discovery_len, "public, max-age=3600");
}

enum MHD_Result ep_jwks(struct req *r)
{
	const struct client *cl;
	char cache[64];

	/* A service that proves who it is (HTTP Basic with its client secret,
	 * or a client assertion signed with its key; librp does either) is
	 * recorded as having seen these keys: rotation waits for the services
	 * still lagging. Anyone may fetch the keys, but an anonymous or failed
	 * fetch writes nothing, or anyone could mark a service ready and defeat
	 * that wait; a failed one is never a 401, which would break the fetch. */
	if ((cl = client_jwks_fetcher(r)) != NULL)
		keys_note_jwks_fetch(&g_idp.store, r->rt->keys, cl->id);
	/* Shorter than min_publish_s: a next key reaches every cache before it
	 * signs. An authenticated fetch is private: a shared cache answering
	 * the next one would hide it from the readiness record. */
	snprintf(cache, sizeof(cache), "%s, max-age=%u", cl != NULL ? "private" : "public",
		 r->cfg->jwks_max_age);
	return cached_json(r, r->rt->keys->jwks, r->rt->keys->jwks_len, cache);
}
