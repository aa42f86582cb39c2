/* SPDX-License-Identifier: EUPL-1.2 */
/* Load driver for the key-rotation tests, built on librp as a service would
 * use it. Modes:
 *
 *   rotation_load load ISSUER CLIENT SECRET REDIRECT COOKIE SECONDS THREADS
 *	SSO logins (authorize with the session cookie, code, token) and ID
 *	token verifications in THREADS threads for SECONDS; prints
 *	"logins N failures F verified V verify_failures W" and exits 0 only when
 *	F and W are 0 and N > 0.
 *   rotation_load revoke ISSUER CLIENT SECRET REDIRECT COOKIE WAIT
 *	Verifies a fresh token, prints its kid and "READY", waits for a line on
 *	stdin (the test revokes the key meanwhile), sleeps WAIT seconds (the
 *	JWKS refetch interval), and checks that the old token is refused and a
 *	new one accepted. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "rp.h"

static const char *issuer, *client, *secret, *redirect, *cookie;
static struct rp_config *cfg;
static atomic_long logins, failures, verified, verify_failures;
static time_t deadline;

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	char **loc = arg;
	size_t len = size * n;

	if (len > 10 && strncasecmp(p, "Location:", 9) == 0 && *loc == NULL) {
		char *v = p + 9;

		while (*v == ' ')
			v++;
		*loc = strndup(v, strcspn(v, "\r\n"));
	}
	return len;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One SSO login: the browser's part with libcurl, the service's with librp.
 * Returns the verified ID token (caller frees) or NULL; *verify_rc gets the
 * verification's result when it got that far. */
static char *one_login(int *verify_rc, json_t **claims_out)
{
	struct rp_auth_params p = {.scope = "openid profile", .prompt = "none"};
	struct rp_auth_request ar = {0};
	struct rp_tokens tok = {0};
	struct rp_error err = {0};
	char *loc = NULL, *code = NULL, *out = NULL, hdr[512];
	struct curl_slist *h = NULL;
	json_t *claims = NULL;
	CURL *c;
	long status = 0;

	*verify_rc = 1;
	if (rp_auth_url(cfg, &p, &ar, &err) != RP_OK) {
		fprintf(stderr, "auth_url: %s\n", err.message);
		return NULL;
	}
	c = curl_easy_init();
	snprintf(hdr, sizeof(hdr), "Cookie: idp_session=%s", cookie);
	h = curl_slist_append(h, hdr);
	curl_easy_setopt(c, CURLOPT_URL, ar.url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &loc);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	if (status != 302 || loc == NULL || rp_parse_callback(cfg, loc, ar.state, &code, &err) != RP_OK) {
		fprintf(stderr, "authorize: status %ld %s %s\n", status, loc ? loc : "", err.message);
		goto out;
	}
	if (rp_exchange_code(cfg, code, ar.code_verifier, &tok, &err) != RP_OK) {
		fprintf(stderr, "token: %s\n", err.message);
		goto out;
	}
	*verify_rc = rp_verify_id_token(cfg, tok.id_token, ar.nonce, &claims, &err);
	if (*verify_rc != RP_OK) {
		fprintf(stderr, "verify: %s\n", err.message);
		goto out;
	}
	out = strdup(tok.id_token);
	if (claims_out != NULL) {
		*claims_out = claims;
		claims = NULL;
	}
out:
	json_decref(claims);
	free(loc);
	free(code);
	rp_tokens_release(&tok);
	rp_auth_request_release(&ar);
	return out;
}

static void *worker(void *arg)
{
	(void)arg;
	while (time(NULL) < deadline) {
		int vrc;
		char *t = one_login(&vrc, NULL);

		atomic_fetch_add(&logins, 1);
		if (t != NULL) {
			atomic_fetch_add(&verified, 1);
		} else if (vrc != 1) {
			atomic_fetch_add(&verify_failures, 1);
		} else {
			atomic_fetch_add(&failures, 1);
		}
		free(t);
	}
	return NULL;
}

static char *kid_of(const char *jwt)
{
	const char *dot = strchr(jwt, '.');
	char *b64 = strndup(jwt, (size_t)(dot - jwt)), *out = NULL;
	/* The header is base64url JSON: decode it with a tiny table. */
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char buf[1024];
	size_t n = 0;
	unsigned acc = 0;
	int bits = 0;
	json_t *h;

	for (const char *p = b64; *p && n < sizeof(buf) - 1; p++) {
		const char *q = strchr(al, *p);

		if (q == NULL)
			break;
		acc = acc << 6 | (unsigned)(q - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
		}
	}
	buf[n] = '\0';
	h = json_loads((char *)buf, 0, NULL);
	if (h != NULL && json_is_string(json_object_get(h, "kid")))
		out = strdup(json_string_value(json_object_get(h, "kid")));
	json_decref(h);
	free(b64);
	return out;
}

int main(int argc, char **argv)
{
	struct rp_error err = {0};
	int rc = 1;

	if (argc < 8) {
		fprintf(stderr, "usage: see the comment at the top of rotation_load.c\n");
		return 2;
	}
	issuer = argv[2];
	client = argv[3];
	secret = argv[4];
	redirect = argv[5];
	cookie = argv[6];
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cfg = rp_config_new(issuer, client, secret, redirect, &err);
	if (cfg == NULL) {
		fprintf(stderr, "rp_config_new: %s\n", err.message);
		return 1;
	}
	rp_config_set_http_loopback(cfg, true);
	/* Refetch the JWKS as the provider's max-age says (1 s in these tests). */
	rp_config_set_jwks_cache(cfg, 1, 1);
	if (strcmp(argv[1], "load") == 0 && argc == 9) {
		int n = atoi(argv[8]);
		pthread_t th[32];

		if (n < 1 || n > 32)
			n = 4;
		deadline = time(NULL) + atoi(argv[7]);
		for (int i = 0; i < n; i++)
			pthread_create(&th[i], NULL, worker, NULL);
		for (int i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		printf("logins %ld failures %ld verified %ld verify_failures %ld\n", (long)logins,
		       (long)failures, (long)verified, (long)verify_failures);
		rc = logins > 0 && failures == 0 && verify_failures == 0 ? 0 : 1;
	} else if (strcmp(argv[1], "revoke") == 0) {
		int vrc;
		json_t *claims = NULL;
		char *old = one_login(&vrc, NULL), *fresh, *kid, line[16];

		if (old == NULL) {
			fprintf(stderr, "no first token\n");
			goto out;
		}
		kid = kid_of(old);
		printf("%s\nREADY\n", kid ? kid : "?");
		fflush(stdout);
		free(kid);
		if (fgets(line, sizeof(line), stdin) == NULL) {
			free(old);
			goto out;
		}
		sleep((unsigned)atoi(argv[7]));
		vrc = rp_verify_id_token(cfg, old, NULL, &claims, &err);
		json_decref(claims);
		claims = NULL;
		/* The nonce check comes after the signature: a nonce error would mean
		 * the signature still verified. */
		printf("old token: %s (%s)\n", vrc == RP_OK ? "accepted" : rp_strerror(vrc), err.message);
		fresh = one_login(&vrc, &claims);
		printf("new token: %s\n", fresh != NULL ? "accepted" : "refused");
		rc = (vrc == RP_OK && fresh != NULL && err.code == RP_E_KID) ? 0 : 1;
		json_decref(claims);
		free(fresh);
		free(old);
	}
out:
	rp_config_free(cfg);
	curl_global_cleanup();
	return rc;
}
