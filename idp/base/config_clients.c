/* SPDX-License-Identifier: EUPL-1.2 */
/* The registered services (clients): inline in the configuration and in the
 * clients file, each checked by load_client, and the lookups the protocol
 * layer makes on them. */
#include "config_load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"
#include "uri.h"

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
			cfg_err(x, path, "%s[%zu] \"%.200s\" of client \"%.128s\" %s", key, i,
			        cfg_log_safe(uris[i]) ? uris[i] : "(unprintable)", cfg_log_safe(id) ? id : "?", why);
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
	cfg_err(x, path, "\"%s\" must be \"ES256\" or \"RS256\" (not \"%s\")", key, v);
	return def;
}

void client_keys_free(struct client_key *k, size_t n)
{
	for (size_t i = 0; k != NULL && i < n; i++) {
		free(k[i].kid);
		free(k[i].use);
		EVP_PKEY_free(k[i].pk);
	}
	free(k);
}

int client_keys_parse(const json_t *jwks, struct client_key **out, size_t *n, const char **why)
{
	const json_t *arr = json_object_get(jwks, "keys"), *k;
	struct client_key *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > CLIENT_KEYS_MAX) {
		*why = "must be an object whose \"keys\" is an array of 1 to 16 keys";
		return IDP_EINVAL;
	}
	if ((v = calloc(json_array_size(arr), sizeof(*v))) == NULL) {
		*why = "out of memory";
		return IDP_ENOMEM;
	}
	json_array_foreach(arr, i, k) {
		const char *kid = json_string_value(json_object_get(k, "kid"));
		const char *use = json_string_value(json_object_get(k, "use"));

		/* A private key has no business here: refused rather than ignored. */
		if (json_object_get(k, "d") != NULL || json_object_get(k, "p") != NULL) {
			*why = "holds a private key (\"d\"): publish the public part only";
			goto fail;
		}
		if (use != NULL && strcmp(use, "sig") != 0 && strcmp(use, "enc") != 0) {
			*why = "a key's \"use\" must be \"sig\" or \"enc\"";
			goto fail;
		}
		if (jose_jwk_public(k, &v[i].pk) != JOSE_OK) {
			*why = "a key is not an RSA key of 2048 bits or more nor an EC P-256 key";
			goto fail;
		}
		v[i].kid = xstrdup(kid);
		v[i].use = xstrdup(use);
		*n = i + 1;
	}
	*out = v;
	return IDP_OK;
fail:
	client_keys_free(v, json_array_size(arr));
	*n = 0;
	return IDP_EINVAL;
}

static enum jose_enc_alg load_enc(struct cctx *x, const json_t *o, const char *path, const char *what)
{
	char ka[64], ke[64];
	const char *alg, *enc;
	enum jose_enc_alg a;

	snprintf(ka, sizeof(ka), "%s_encrypted_response_alg", what);
	snprintf(ke, sizeof(ke), "%s_encrypted_response_enc", what);
	alg = cfg_str(x, o, path, ka, NULL);
	enc = cfg_str(x, o, path, ke, NULL);
	if (alg == NULL) {
		if (enc != NULL)
			cfg_err(x, path, "\"%s\" needs \"%s\"", ke, ka);
		return JOSE_ENC_NONE;
	}
	if ((a = jose_enc_alg_parse(alg)) == JOSE_ENC_NONE)
		cfg_err(x, path, "\"%s\" must be \"RSA-OAEP-256\" or \"ECDH-ES\" (not \"%s\")", ka, alg);
	if (enc != NULL && strcmp(enc, JOSE_ENC_A256GCM) != 0)
		cfg_err(x, path, "\"%s\" must be \"A256GCM\" (not \"%s\")", ke, enc);
	return a;
}

/* "jwks" (inline, parsed now) or "jwks_uri" (fetched when needed), and the
 * encryption of the client's tokens, which needs one of them. */
static void load_client_keys(struct cctx *x, const struct config *c, const json_t *o, const char *path,
			     struct client *cl)
{
	const json_t *jwks = json_object_get(o, "jwks");
	const char *why = NULL;

	cl->jwks_uri = xstrdup(cfg_str(x, o, path, "jwks_uri", NULL));
	if (jwks != NULL && cl->jwks_uri != NULL)
		cfg_err(x, path, "\"jwks\" and \"jwks_uri\" exclude each other");
	if (jwks != NULL && client_keys_parse(jwks, &cl->keys, &cl->n_keys, &why) != IDP_OK)
		cfg_err(x, path, "\"jwks\" %s", why);
	if (cl->jwks_uri != NULL)
		check_uris(x, c, path, cl->id, "jwks_uri", &cl->jwks_uri, 1);
	if (cl->auth_pkjwt && jwks == NULL && cl->jwks_uri == NULL)
		cfg_err(x, path, "\"private_key_jwt\" needs the client's keys: \"jwks\" or \"jwks_uri\"");
	cl->id_token_enc = load_enc(x, o, path, "id_token");
	cl->userinfo_enc = load_enc(x, o, path, "userinfo");
	if ((cl->id_token_enc != JOSE_ENC_NONE || cl->userinfo_enc != JOSE_ENC_NONE) && jwks == NULL &&
	    cl->jwks_uri == NULL)
		cfg_err(x, path, "encrypted tokens need the client's keys: \"jwks\" or \"jwks_uri\"");
	for (int t = 0; t < 2 && cl->keys != NULL; t++) {
		enum jose_enc_alg a = t == 0 ? cl->id_token_enc : cl->userinfo_enc;

		if (a != JOSE_ENC_NONE && client_enc_key(cl->keys, cl->n_keys, a) == NULL)
			cfg_err(x, path, "\"jwks\" has no key for %s (\"use\": \"enc\", %s)", jose_enc_alg_name(a),
			        a == JOSE_ECDH_ES ? "EC P-256" : "RSA");
	}
}

const struct client_key *client_enc_key(const struct client_key *k, size_t n, enum jose_enc_alg a)
{
	for (size_t i = 0; i < n; i++)
		if ((k[i].use == NULL || strcmp(k[i].use, "enc") == 0) && jose_key_fits_enc(k[i].pk, a))
			return &k[i];
	return NULL;
}

/* A data provider's "scope_descriptions": {"SCOPE": {"fr": "...", "en":
 * "..."}}, each a scope it serves, both languages, each text short and
 * printable: the consent page shows them to citizens as they are. */
static void load_scope_texts(struct cctx *x, const char *path, const json_t *o, struct client *cl)
{
	static const char *const langs[] = {"fr", "en", NULL};
	json_t *d = json_object_get(o, "scope_descriptions"), *v;
	const char *k;
	char sub[192];

	if (d == NULL)
		return;
	if (!cl->data_provider) {
		cfg_err(x, path, "\"scope_descriptions\" is for \"role\": \"data_provider\" only");
		return;
	}
	if (!json_is_object(d) || (cl->scope_texts = calloc(json_object_size(d) + 1, sizeof(*cl->scope_texts))) == NULL) {
		cfg_err(x, path, "\"scope_descriptions\" must be an object: {\"SCOPE\": {\"fr\": TEXT, \"en\": TEXT}}");
		return;
	}
	json_object_foreach(d, k, v) {
		struct scope_text *t = &cl->scope_texts[cl->n_scope_texts];

		snprintf(sub, sizeof(sub), "%s.scope_descriptions.%.64s", path, cfg_log_safe(k) ? k : "?");
		if (strchr(k, ' ') != NULL || !client_serves_scope(cl, k)) {
			cfg_err(x, sub, "not a scope this data provider serves (\"scopes_served\")");
			continue;
		}
		if (!json_is_object(v)) {
			cfg_err(x, sub, "must be an object: {\"fr\": TEXT, \"en\": TEXT}");
			continue;
		}
		cfg_check_keys(x, v, sub, langs);
		for (int l = 0; l < 2; l++) {
			const char *s = cfg_str(x, v, sub, langs[l], NULL);

			if (s == NULL || strlen(s) > 200 || !cfg_log_safe(s))
				cfg_err(x, sub, "\"%s\" is required: a text of 1 to 200 printable bytes", langs[l]);
			else
				t->text[l] = xstrdup(s);
		}
		t->scope = xstrdup(k);
		cl->n_scope_texts++;
	}
}

static void load_client(struct cctx *x, struct config *c, const json_t *o, size_t idx,
			struct client *cl)
{
	static const char *const keys[] = {"client_id", "client_name", "client_secret_sha256",
		"client_secret", "redirect_uris", "post_logout_redirect_uris", "sector_identifier",
		"subject_type", "profile", "token_endpoint_auth_methods", "grant_types",
		"id_token_signed_response_alg", "userinfo_signed_response_alg", "require_pkce",
		"first_party", "code_ttl_s", "access_token_ttl_s", "id_token_ttl_s",
		"scopes", "backends", "role", "scopes_served", "scope_descriptions", "jwks", "jwks_uri",
		"id_token_encrypted_response_alg", "id_token_encrypted_response_enc",
		"userinfo_encrypted_response_alg", "userinfo_encrypted_response_enc",
		"backchannel_logout_uri", "backchannel_logout_session_required", NULL};
	char path[64];
	const char *s, *profile;
	char **methods, **grants;
	size_t n, i;

	snprintf(path, sizeof(path), "clients[%zu]", idx);
	if (!json_is_object(o)) {
		cfg_err(x, path, "must be an object");
		return;
	}
	cfg_check_keys(x, o, path, keys);
	s = cfg_str(x, o, path, "client_id", NULL);
	if (s == NULL)
		cfg_err(x, path, "\"client_id\" is required");
	else if (strlen(s) > 128 || strpbrk(s, " \t\r\n:\"<>&") != NULL)
		cfg_err(x, path, "\"client_id\" must be at most 128 characters without spaces, ':', quotes, '<', '>' or '&'");
	cl->id = xstrdup(s);
	cl->name = xstrdup(cfg_str(x, o, path, "client_name", s));

	if ((s = cfg_str(x, o, path, "client_secret_sha256", NULL)) != NULL) {
		if (strlen(s) != 64) {
			cfg_err(x, path, "\"client_secret_sha256\" must be 64 hex digits (idpctl clients hash-secret)");
		} else {
			for (i = 0; i < 32; i++) {
				int hi = codec_hexval((unsigned char)s[2 * i]), lo = codec_hexval((unsigned char)s[2 * i + 1]);

				if (hi < 0 || lo < 0) {
					cfg_err(x, path, "\"client_secret_sha256\" must be hex");
					break;
				}
				cl->secret_sha256[i] = (unsigned char)(hi << 4 | lo);
			}
			cl->has_secret = i == 32;
		}
	}
	if (json_object_get(o, "client_secret") != NULL)
		cfg_err(x, path, "\"client_secret\" in clear is refused: store \"client_secret_sha256\" (idpctl clients hash-secret)");

	cl->redirect_uris = cfg_strv(x, o, path, "redirect_uris", &cl->n_redirect_uris);
	check_uris(x, c, path, cl->id, "redirect_uris", cl->redirect_uris, cl->n_redirect_uris);
	cl->post_logout_uris = cfg_strv(x, o, path, "post_logout_redirect_uris", &cl->n_post_logout_uris);
	check_uris(x, c, path, cl->id, "post_logout_redirect_uris", cl->post_logout_uris, cl->n_post_logout_uris);

	/* OpenID Back-Channel Logout 1.0, 2.2: one URI, checked as a redirect
	 * URI is (the daemon POSTs logout tokens to it and to nothing else). */
	if ((s = cfg_str(x, o, path, "backchannel_logout_uri", NULL)) != NULL) {
		cl->backchannel_uri = xstrdup(s);
		check_uris(x, c, path, cl->id, "backchannel_logout_uri", &cl->backchannel_uri, 1);
	}
	cl->backchannel_sid = cfg_bool(x, o, path, "backchannel_logout_session_required", false);

	profile = cfg_str(x, o, path, "profile", "standard");
	cl->franceconnect = strcmp(profile, "franceconnect") == 0;
	if (!cl->franceconnect && strcmp(profile, "standard") != 0)
		cfg_err(x, path, "\"profile\" must be \"standard\" or \"franceconnect\"");

	s = cfg_str(x, o, path, "role", "service");
	cl->data_provider = strcmp(s, "data_provider") == 0;
	if (!cl->data_provider && strcmp(s, "service") != 0)
		cfg_err(x, path, "\"role\" must be \"service\" or \"data_provider\"");
	cl->scopes_served = cfg_strv(x, o, path, "scopes_served", &cl->n_scopes_served);
	if (cl->data_provider && cl->n_scopes_served == 0)
		cfg_err(x, path, "a data provider needs \"scopes_served\" (the scopes whose tokens it may introspect)");
	if (!cl->data_provider && cl->scopes_served != NULL)
		cfg_err(x, path, "\"scopes_served\" is for \"role\": \"data_provider\" only");
	for (i = 0; i < cl->n_scopes_served; i++)
		if (strlen(cl->scopes_served[i]) > 64 || strpbrk(cl->scopes_served[i], " \t\r\n\"\\") != NULL)
			cfg_err(x, path, "scopes_served[%zu] must be one scope: at most 64 characters, no spaces or quotes", i);
	load_scope_texts(x, path, o, cl);

	grants = cfg_strv(x, o, path, "grant_types", &n);
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
				cfg_err(x, path, "grant_types[%zu]: \"%s\" is not supported", i, grants[i]);
		}
	}
	cfg_strv_free(grants);
	if (cl->grant_code && cl->n_redirect_uris == 0)
		cfg_err(x, path, "\"redirect_uris\" needs at least one URI for the authorization code grant");

	methods = cfg_strv(x, o, path, "token_endpoint_auth_methods", &n);
	if (methods == NULL) {
		cl->auth_basic = true;
		cl->auth_post = true;
	} else {
		for (i = 0; i < n; i++) {
			if (strcmp(methods[i], "client_secret_basic") == 0)
				cl->auth_basic = true;
			else if (strcmp(methods[i], "client_secret_post") == 0)
				cl->auth_post = true;
			else if (strcmp(methods[i], "private_key_jwt") == 0)
				cl->auth_pkjwt = true;
			else
				cfg_err(x, path, "token_endpoint_auth_methods[%zu]: \"%s\" is not supported", i, methods[i]);
		}
	}
	cfg_strv_free(methods);
	if (cl->franceconnect)
		cl->auth_post = true; /* FranceConnect integrators send client_secret_post */
	/* A client restricted to private_key_jwt needs no secret. */
	if (!cl->has_secret && (cl->auth_basic || cl->auth_post))
		cfg_err(x, path, "a confidential client needs \"client_secret_sha256\" (or \"token_endpoint_auth_methods\": [\"private_key_jwt\"])");
	load_client_keys(x, c, o, path, cl);

	s = cfg_str(x, o, path, "subject_type", "pairwise");
	cl->pairwise = strcmp(s, "public") != 0;
	if (cl->pairwise && strcmp(s, "pairwise") != 0)
		cfg_err(x, path, "\"subject_type\" must be \"pairwise\" or \"public\"");
	/* An explicit sector is kept as written; one taken from the redirect
	 * URI is its host in canonical form (uri_host), so that the pairwise
	 * sub does not change with how the service spells its host. */
	s = cfg_str(x, o, path, "sector_identifier", NULL);
	if (s != NULL)
		cl->sector = strdup(s);
	else if (cl->n_redirect_uris > 0 && uri_acceptable(cl->redirect_uris[0]) &&
		 (cl->sector = uri_host(cl->redirect_uris[0])) == NULL)
		cfg_err(x, path, "redirect_uris[0]: no pairwise sector could be taken from its host");
	else if (cl->n_redirect_uris == 0)
		cl->sector = xstrdup(cl->id);

	cl->id_token_alg = parse_alg(x, path, "id_token_signed_response_alg",
				     cfg_str(x, o, path, "id_token_signed_response_alg", NULL),
				     cl->franceconnect ? ALG_ES256 : ALG_RS256);
	cl->userinfo_alg = parse_alg(x, path, "userinfo_signed_response_alg",
				     cfg_str(x, o, path, "userinfo_signed_response_alg", NULL),
				     cl->franceconnect ? ALG_ES256 : ALG_NONE);
	/* An encrypted userinfo is a nested JWT: signed as the ID token when
	 * no other signature is asked. */
	if (cl->userinfo_enc != JOSE_ENC_NONE && cl->userinfo_alg == ALG_NONE)
		cl->userinfo_alg = cl->id_token_alg;
	cl->require_pkce = cfg_bool(x, o, path, "require_pkce", true);
	cl->first_party = cfg_bool(x, o, path, "first_party", false);
	cl->code_ttl = (unsigned)cfg_int(x, o, path, "code_ttl_s", cl->franceconnect ? 30 : c->code_ttl, 1, 600);
	cl->access_ttl = (unsigned)cfg_int(x, o, path, "access_token_ttl_s",
					   cl->franceconnect ? 60 : c->access_ttl, 1, 86400);
	cl->id_ttl = (unsigned)cfg_int(x, o, path, "id_token_ttl_s", cl->franceconnect ? 60 : c->id_ttl, 1, 86400);
	cl->scopes_allowed = cfg_strv(x, o, path, "scopes", &cl->n_scopes_allowed);
	cl->backends = cfg_strv(x, o, path, "backends", &cl->n_backends);
}

void client_release(struct client *cl)
{
	free(cl->id);
	free(cl->name);
	cfg_strv_free(cl->redirect_uris);
	cfg_strv_free(cl->post_logout_uris);
	free(cl->backchannel_uri);
	free(cl->sector);
	cfg_strv_free(cl->scopes_allowed);
	cfg_strv_free(cl->scopes_served);
	for (size_t i = 0; i < cl->n_scope_texts; i++) {
		free(cl->scope_texts[i].scope);
		free(cl->scope_texts[i].text[0]);
		free(cl->scope_texts[i].text[1]);
	}
	free(cl->scope_texts);
	cfg_strv_free(cl->backends);
	client_keys_free(cl->keys, cl->n_keys);
	free(cl->jwks_uri);
	wipe(cl->secret_sha256, sizeof(cl->secret_sha256));
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
		cfg_err(x, "clients_file", "%s: %s", file, strerror(errno));
		return NULL;
	}
	buf = malloc(CLIENTS_FILE_MAX_BYTES + 1);
	if (buf != NULL)
		len = fread(buf, 1, CLIENTS_FILE_MAX_BYTES + 1, f);
	fclose(f);
	if (buf == NULL || len > CLIENTS_FILE_MAX_BYTES) {
		cfg_err(x, "clients_file", "%s: larger than %u bytes", file, CLIENTS_FILE_MAX_BYTES);
		free(buf);
		return NULL;
	}
	arr = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (arr == NULL)
		cfg_err(x, "clients_file", "%s: line %d, column %d: %s", file, jerr.line, jerr.column, jerr.text);
	else if (!json_is_array(arr) || json_array_size(arr) > CLIENTS_MAX) {
		cfg_err(x, "clients_file", "%s: must be an array of at most %u clients", file, CLIENTS_MAX);
		json_decref(arr);
		arr = NULL;
	}
	return arr;
}

/* "clients" then the clients file, checked by the same load_client, ids
 * unique across both. override replaces the clients file the configuration
 * names (idpctl's candidate). */
void load_clients(struct cctx *x, struct config *c, json_t *root, const char *override)
{
	json_t *inl = json_object_get(root, "clients"), *file = NULL, *v;
	const char *name = cfg_str(x, root, "(top)", "clients_file", NULL);
	struct cctx fx = {NULL, 0};
	size_t i, n;

	if (inl != NULL && !json_is_array(inl)) {
		cfg_err(x, "clients", "must be an array");
		inl = NULL;
	}
	if (name != NULL) {
		c->clients_file = config_path(c, name);
		fx.file = override ? override : c->clients_file;
		/* Taken before reading: a change made while we read is seen next time. */
		file_stamp_get(fx.file, &c->clients_stamp);
		file = read_clients_file(x, fx.file);
	} else if (override != NULL)
		cfg_err(x, "clients_file", "the configuration names no clients file");
	n = json_array_size(inl) + json_array_size(file);
	c->clients = calloc(n + 1, sizeof(*c->clients));
	if (c->clients == NULL) {
		cfg_err(x, "clients", "out of memory");
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
				cfg_err(i < c->n_inline_clients ? x : &fx, "clients",
				        "client_id \"%s\" appears twice", c->clients[i].id);
	json_decref(file);
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

const struct client *config_data_provider(const struct config *c, const char *word)
{
	for (size_t i = 0; word != NULL && strchr(word, ' ') == NULL && i < c->n_clients; i++)
		if (client_serves_scope(&c->clients[i], word))
			return &c->clients[i];
	return NULL;
}

const char *client_scope_text(const struct client *dp, const char *word, int lang)
{
	for (size_t i = 0; dp != NULL && i < dp->n_scope_texts; i++)
		if (strcmp(dp->scope_texts[i].scope, word) == 0)
			return dp->scope_texts[i].text[lang == 1];
	return NULL;
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
