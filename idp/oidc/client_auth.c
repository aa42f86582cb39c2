/* SPDX-License-Identifier: EUPL-1.2 */
/* Client authentication (client_auth.h). */
#include "client_auth.h"
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

/* RFC 6749 2.3.1: client_id and secret are form-encoded, then Base64. */
static int parse_basic(const char *h, char **id, char **secret)
{
	unsigned char dec[1024];
	size_t n = strlen(h), len;
	int dl;
	char *colon;

	*id = *secret = NULL;
	if (n == 0 || n > 1300 || n % 4 != 0)
		return IDP_EINVAL;
	if ((dl = EVP_DecodeBlock(dec, (const unsigned char *)h, (int)n)) < 0)
		return IDP_EINVAL;
	len = (size_t)dl;
	if (h[n - 1] == '=')
		len--;
	if (h[n - 2] == '=')
		len--;
	dec[len] = '\0';
	if (memchr(dec, '\0', len) != NULL || (colon = strchr((char *)dec, ':')) == NULL) {
		wipe(dec, sizeof(dec));
		return IDP_EINVAL;
	}
	*id = codec_form_decode((char *)dec, (size_t)(colon - (char *)dec));
	*secret = codec_form_decode(colon + 1, len - (size_t)(colon + 1 - (char *)dec));
	wipe(dec, sizeof(dec));
	if (*id == NULL || *secret == NULL || **id == '\0') {
		free(*id);
		free_secret(*secret);
		*id = *secret = NULL;
		return IDP_EINVAL;
	}
	return IDP_OK;
}

int client_authenticate(struct req *r, const struct params *form, const struct client **out,
			struct client_auth_fail *f)
{
	const char *auth = req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *pid = form != NULL ? params_get(form, "client_id") : NULL;
	const char *psecret = form != NULL ? params_get(form, "client_secret") : NULL;
	char *id = NULL, *secret = NULL;
	const struct client *cl = NULL;
	bool basic = false;
	unsigned char h[SHA256_DIGEST_LENGTH];
	int rc = IDP_EDENIED;

	*out = NULL;
	*f = (struct client_auth_fail){401, "invalid_client", "client authentication failed", false};
	if (auth != NULL && strncasecmp(auth, "Basic ", 6) == 0) {
		basic = f->basic = true;
		if (psecret != NULL) {
			*f = (struct client_auth_fail){400, "invalid_request",
						       "use one client authentication method, not two", false};
			return IDP_EINVAL;
		}
		if (parse_basic(auth + 6, &id, &secret) != IDP_OK) {
			f->description = "malformed Basic credentials";
			return IDP_EINVAL;
		}
		if (pid != NULL && strcmp(pid, id) != 0) {
			*f = (struct client_auth_fail){400, "invalid_request",
						       "client_id differs from the authenticated client", false};
			rc = IDP_EINVAL;
			goto out;
		}
	} else if (psecret != NULL && pid != NULL) {
		id = strdup(pid);
		secret = strdup(psecret);
		if (id == NULL || secret == NULL) {
			rc = IDP_ENOMEM;
			goto out;
		}
	} else {
		f->description = "client authentication is required";
		return IDP_ENOTFOUND;
	}
	cl = config_client(r->cfg, id);
	/* The secret is a long random string: SHA-256 suffices, the digests
	 * (of one fixed length) compared in constant time. A slow password KDF
	 * here would cap the endpoint. Without a form (a GET, as at /jwks),
	 * Basic is the only way to send a secret, whatever methods the client
	 * registered for /token. */
	sha256(secret, strlen(secret), h);
	if (cl == NULL || !cl->has_secret ||
	    CRYPTO_memcmp(h, cl->secret_sha256, sizeof(h)) != 0 ||
	    (form != NULL && ((basic && !cl->auth_basic) || (!basic && !cl->auth_post)))) {
		char tag[9];

		secret_tag(id, tag);
		idp_log(LOG_INFO, "%s: client authentication failed (client id hash %s)", r->path, tag);
		metrics_count(M_CLIENT_AUTH_FAILED);
		goto out;
	}
	*out = cl;
	rc = IDP_OK;
out:
	wipe(h, sizeof(h));
	free(id);
	free_secret(secret);
	return rc;
}

const struct client *client_auth_token_request(struct req *r, const char **tok, enum MHD_Result *ret)
{
	const struct client *cl;
	struct client_auth_fail f;

	*tok = params_get(&r->form, "token");
	if (r->form.dup != NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "a parameter is repeated");
	} else if (params_get(&r->query, "token") != NULL || params_get(&r->query, "client_secret") != NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "tokens and credentials do not belong in the URL");
	} else if (client_authenticate(r, &r->form, &cl, &f) != IDP_OK) {
		if (f.status == 401 && f.basic)
			req_add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Basic realm=\"idp\"");
		*ret = http_json_error(r, f.status, f.error, f.description);
	} else if (*tok == NULL) {
		*ret = http_json_error(r, 400, "invalid_request", "token is required");
	} else {
		return cl;
	}
	return NULL;
}
