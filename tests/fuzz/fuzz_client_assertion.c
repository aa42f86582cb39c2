/* SPDX-License-Identifier: EUPL-1.2 */
/* Fuzz target: a client assertion (private_key_jwt) alone, as /token,
 * /introspect, /revoke and /jwks check it (client_assertion_check), without
 * the request around it. One client, "fz", registered for private_key_jwt with
 * two public keys inline (EC "fz-ec", RSA "fz-rsa", whose private halves
 * were thrown away: nothing fuzzed may ever verify), the memory store for
 * the jti records.
 *
 * An input is either the assertion itself (bytes as sent), or, when it
 * starts with "J\n", three lines, header JSON, payload JSON and signature
 * bytes, that the target encodes (base64url) and joins with dots, "@NOW@"
 * in the payload replaced by the current time: so that mutations of the
 * claims reach past the decoding and the clock checks, to the signature. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client_auth.h"
#include "config.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_JWKS                                                                                           \
	"{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"TKsqbYbRNLyxwqP5zOy48YRIgiERtee8LmOeKBCHQCI\","   \
	"\"y\":\"v-WjT7qZaz1tGGXV6B5x6a-2kMyZdZqKk1-W4aIv5ow\",\"kid\":\"fz-ec\",\"use\":\"sig\"},"            \
	"{\"kty\":\"RSA\",\"n\":\"07D5HnBCcFv39Jy1ufN9a82Zv8PVYDt3sJn-PqEYydslNGB0DJd16ZgcGR06A3AcTYB5NXu3Fs4t" \
	"c14lNmkDHQ2FAO9dhbHH_q4kSIjEUvrVvvR0Z1ONs7KPSxskKyGv6ZunJ6GrdpEw8PipbVzh5Xcv0IZSdn2rUT3SitlUsXEbGye"  \
	"DSeFWOeJApMplhHPI5NWSdMphLJNDkWgm3pLhxi0gY5zPZXxJBVX1qPZavxKVK4UDg7YwL4C955fhFKwUr4KZqh_9MZRFibMPYQf" \
	"WiO8wWNPbpUwPnhFh62KTWJqOPMzzHoX5oD2kSHml7cvp6i7GzKavzg0Q3edcwZcTwQ\",\"e\":\"AQAB\","               \
	"\"kid\":\"fz-rsa\",\"use\":\"sig\"}]}"

static struct config *cfg;

static void cleanup(void)
{
	store_close(&g_idp.store);
	config_free(cfg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/idp-fuzz-ca.XXXXXX", path[64];
	json_t *sc = json_pack("{s:s}", "driver", "memory");
	FILE *f;

	(void)argc;
	(void)argv;
	idp_log_set_level(-1);
	if (mkdtemp(dir) == NULL || snprintf(path, sizeof(path), "%s/c.json", dir) < 0 ||
	    (f = fopen(path, "w")) == NULL)
		abort();
	fprintf(f, "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
		   "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"fz\","
		   "\"redirect_uris\":[\"http://h/cb\"],\"token_endpoint_auth_methods\":[\"private_key_jwt\"],"
		   "\"jwks\":%s}]}", FZ_JWKS);
	if (fclose(f) != 0 || config_load(path, &cfg) != IDP_OK || unlink(path) != 0 || rmdir(dir) != 0 ||
	    sc == NULL || store_open(sc, &g_idp.store) != IDP_OK)
		abort();
	json_decref(sc);
	atexit(cleanup);
	return 0;
}

/* The "J\n" form: header, payload (with @NOW@) and signature lines made an
 * assertion; NULL when the input does not have three lines. */
static char *assemble(const char *s)
{
	const char *l1 = s + 2, *l2 = strchr(l1, '\n'), *l3 = l2 ? strchr(l2 + 1, '\n') : NULL;
	char now[24], *payload = NULL, *parts[3] = {NULL, NULL, NULL}, *out = NULL;
	struct buf p;

	if (l3 == NULL)
		return NULL;
	snprintf(now, sizeof(now), "%lld", (long long)now_s());
	buf_init(&p, 16384);
	for (const char *c = l2 + 1; c < l3;) {
		const char *at = strstr(c, "@NOW@");

		if (at == NULL || at >= l3) {
			if (buf_add(&p, c, (size_t)(l3 - c)) != IDP_OK)
				goto out;
			break;
		}
		if (buf_add(&p, c, (size_t)(at - c)) != IDP_OK || buf_adds(&p, now) != IDP_OK)
			goto out;
		c = at + 5;
	}
	if ((payload = buf_steal(&p)) == NULL && (payload = strdup("")) == NULL)
		goto out;
	parts[0] = b64url_encode(l1, (size_t)(l2 - l1));
	parts[1] = b64url_encode(payload, strlen(payload));
	parts[2] = b64url_encode(l3 + 1, strlen(l3 + 1));
	if (parts[0] != NULL && parts[1] != NULL && parts[2] != NULL &&
	    asprintf(&out, "%s.%s.%s", parts[0], parts[1], parts[2]) < 0)
		out = NULL;
out:
	buf_release(&p);
	free(payload);
	for (int i = 0; i < 3; i++)
		free(parts[i]);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct client *cl = NULL;
	const char *why = NULL;
	char *s = malloc(size + 1), *token;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	token = strncmp(s, "J\n", 2) == 0 ? assemble(s) : s;
	/* Nobody holds the client's private keys: nothing may pass, and a
	 * refusal always says why. */
	if (token != NULL) {
		if (client_assertion_check(cfg, token, NULL, "/token", &cl, &why) == IDP_OK || cl != NULL ||
		    why == NULL)
			abort();
		if (client_assertion_check(cfg, token, "fz", "/jwks", &cl, &why) == IDP_OK || cl != NULL)
			abort();
	}
	if (token != s)
		free(token);
	free(s);
	return 0;
}
