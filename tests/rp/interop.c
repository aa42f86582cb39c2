/* SPDX-License-Identifier: EUPL-1.2 */
/* librp against an OpenID provider nobody here wrote (npm oidc-provider,
 * started by tests/rp/run.sh): discovery, authorization URL, login through
 * the provider's form, callback, code exchange with both client
 * authentication methods, ID token verification, userinfo as JSON and as a
 * signed JWT, code reuse refused, provider errors surfaced, logout.
 *
 *   rp_interop ISSUER REDIRECT_BASE          run the scenario, print one
 *                                            "ok"/"not ok" line per check
 *   rp_interop --login AUTH_URL REDIRECT_BASE
 *                                            log citizen1 in, print the URL
 *                                            the provider sends back
 *   rp_interop --sso DEMO1_BASE DEMO2_BASE [DEMO3_BASE]
 *        single sign-on across two rp-demo portals, then logout (with its
 *        state checked); DEMO3 asks for eidas3, more than the provider
 *        gives: its login must be refused with a page that says so
 *   rp_interop --introspect ISSUER DP_ID:DP_SECRET SVC_ID:SVC_SECRET TOKEN
 *        against our daemon (tests/integration/t_introspect.sh): the data
 *        provider introspects the service's TOKEN (active, served scope,
 *        cached), the service revokes it; the cached answer holds until
 *        its maximum age, an uncached one says inactive
 *   rp_interop --keys ISSUER CLIENT REDIRECT CODE VERIFIER NONCE DIR
 *        against our daemon (tests/integration/t_client_keys.sh): the
 *        service authenticates with private_key_jwt (DIR/sig.pem, kid in
 *        DIR/kid) and decrypts its ID token and userinfo (DIR/enc.pem);
 *        with another key (DIR/wrong.pem) or none, RP_E_DECRYPT
 *   rp_interop --refresh ISSUER SVC_ID:SVC_SECRET RT_A RT_B SUB
 *        against our daemon (tests/integration/t_refresh.sh): rp_refresh
 *        rotates RT_A (its new ID token verified, of SUB), narrows the
 *        scope, is refused a wider one, rp_revoke ends the grant; RT_B's
 *        refresh with another expected sub is refused (RP_E_SUB)
 *   rp_interop --jwks ISSUER CLIENT DIR TOKEN
 *        against our daemon (tests/integration/t_jwks_ready.sh): a service
 *        with a key (DIR/sig.pem, kid in DIR/kid) and no secret verifies
 *        the signature of TOKEN, fetching the JWKS with a client assertion */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include <rp.h>

static int passed, failed;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

struct page {
	char *data;
	size_t len;
};

static size_t on_data(char *d, size_t size, size_t n, void *arg)
{
	struct page *p = arg;
	size_t len = size * n;
	char *m;

	if (p->len + len > 1024 * 1024 || (m = realloc(p->data, p->len + len + 1)) == NULL)
		return 0;
	memcpy(m + p->len, d, len);
	p->len += len;
	m[p->len] = '\0';
	p->data = m;
	return len;
}

/* One request without following redirects. Returns the status; *next gets
 * the absolute Location when there is one; *body the page. */
static long request(CURL *curl, const char *url, const char *post, char **next, char **body)
{
	struct page page = { NULL, 0 };
	char *loc = NULL;
	long status = 0;

	*next = NULL;
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &page);
	if (post != NULL) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post);
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	if (curl_easy_perform(curl) != CURLE_OK) {
		free(page.data);
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc != NULL)
		*next = strdup(loc);
	if (body != NULL)
		*body = page.data;
	else
		free(page.data);
	return status;
}

static CURL *browser(void)
{
	CURL *curl = curl_easy_init();

	if (curl != NULL) {
		curl_easy_setopt(curl, CURLOPT_COOKIEFILE, ""); /* cookies kept in memory */
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, 20L);
	}
	return curl;
}

/* Plays the citizen: follows redirects from url, fills the login form when
 * it shows up, stops at the first redirect to redirect_base. */
static char *browse_to(CURL *curl, const char *start, const char *redirect_base,
		       const char *login, const char *password)
{
	char *url = strdup(start), *next = NULL, *body = NULL, form[256];
	int hops;
	long status;

	for (hops = 0; hops < 20 && url != NULL; hops++) {
		status = request(curl, url, NULL, &next, &body);
		if (status == 200 && strstr(url, "/interaction/") != NULL && login != NULL) {
			free(body);
			body = NULL;
			snprintf(form, sizeof(form), "login=%s&password=%s", login, password);
			status = request(curl, url, form, &next, NULL);
		}
		free(body);
		body = NULL;
		free(url);
		url = NULL;
		if (status < 300 || status > 399 || next == NULL) {
			free(next);
			return NULL;
		}
		if (strncmp(next, redirect_base, strlen(redirect_base)) == 0)
			return next;
		url = next;
		next = NULL;
	}
	free(url);
	return NULL;
}

static char *login(const char *auth_url, const char *redirect_base)
{
	CURL *curl = browser();
	char *cb = curl != NULL ? browse_to(curl, auth_url, redirect_base, "citizen1",
					   "motdepasse") : NULL;

	curl_easy_cleanup(curl);
	return cb;
}

/* The provider's logout page: confirm it, and return where it sends us. */
static char *logout(const char *logout_url, const char *redirect_base)
{
	CURL *curl = browser();
	char *next = NULL, *body = NULL, *xsrf, *end, form[512], action[512];
	const char *p;
	long status;

	if (curl == NULL)
		return NULL;
	status = request(curl, logout_url, NULL, &next, &body);
	free(next);
	next = NULL;
	if (status != 200 || body == NULL || (xsrf = strstr(body, "name=\"xsrf\" value=\"")) == NULL)
		goto out;
	xsrf += strlen("name=\"xsrf\" value=\"");
	if ((end = strchr(xsrf, '"')) == NULL)
		goto out;
	*end = '\0';
	snprintf(form, sizeof(form), "xsrf=%s&logout=yes", xsrf);
	/* the form posts to /session/end/confirm on the provider */
	p = strstr(logout_url, "/session/end");
	if (p == NULL)
		goto out;
	snprintf(action, sizeof(action), "%.*s/session/end/confirm", (int)(p - logout_url),
		 logout_url);
	status = request(curl, action, form, &next, NULL);
	if (status < 300 || status > 399 || next == NULL ||
	    strncmp(next, redirect_base, strlen(redirect_base)) != 0) {
		free(next);
		next = NULL;
	}
out:
	free(body);
	curl_easy_cleanup(curl);
	return next;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s != NULL ? s : "(none)";
}

static void scenario(const char *issuer, const char *redirect_base, const char *client_id,
		     const char *secret, enum rp_auth_method method, bool jwt_userinfo)
{
	struct rp_auth_params ap = { .scope = "openid profile email", .acr_values = "eidas2",
				     .prompt = "login", .ui_locales = "fr" };
	struct rp_auth_request req = { 0 };
	struct rp_tokens tok = { 0 }, again;
	struct rp_error err;
	struct rp_config *cfg, *other;
	json_t *claims = NULL, *info = NULL;
	char redirect[256], bye[256], *cb = NULL, *code = NULL, *url = NULL, *back = NULL;
	int rc;

	snprintf(redirect, sizeof(redirect), "%s/cb", redirect_base);
	snprintf(bye, sizeof(bye), "%s/bye", redirect_base);
	printf("# %s (%s)\n", client_id, method == RP_AUTH_BASIC ? "client_secret_basic" :
	       "client_secret_post");
	cfg = rp_config_new(issuer, client_id, secret, redirect, &err);
	check(cfg != NULL, "%s: config (%s)", client_id, cfg != NULL ? "" : err.message);
	if (cfg == NULL)
		return;
	rp_config_set_http_loopback(cfg, true);
	rp_config_set_auth_method(cfg, method);
	rp_config_set_min_acr(cfg, "eidas2", NULL);

	rc = rp_discover(cfg, &err);
	check(rc == RP_OK, "%s: discovery %s", client_id, err.message);
	rc = rp_auth_url(cfg, &ap, &req, &err);
	check(rc == RP_OK && strlen(req.nonce) >= 22, "%s: authorization URL %s", client_id,
	      err.message);
	if (rc != RP_OK)
		goto out;
	cb = login(req.url, redirect_base);
	check(cb != NULL, "%s: citizen logged in at the provider", client_id);
	if (cb == NULL)
		goto out;
	rc = rp_parse_callback(cfg, cb, "not-this-login-state", &code, &err);
	check(rc == RP_E_STATE, "%s: callback with another state refused (%d)", client_id, rc);
	rc = rp_parse_callback(cfg, cb, req.state, &code, &err);
	check(rc == RP_OK && code != NULL, "%s: callback state and iss %s", client_id, err.message);
	if (rc != RP_OK)
		goto out;
	rc = rp_exchange_code(cfg, code, req.code_verifier, &tok, &err);
	check(rc == RP_OK, "%s: code exchanged %s", client_id, err.message);
	if (rc != RP_OK)
		goto out;
	rc = rp_verify_id_token(cfg, tok.id_token, req.nonce, &claims, &err);
	check(rc == RP_OK && strcmp(str(claims, "sub"), "citizen1") == 0 &&
		      strcmp(str(claims, "acr"), "eidas2") == 0,
	      "%s: ID token verified, sub %s, acr %s %s", client_id, str(claims, "sub"),
	      str(claims, "acr"), err.message);
	rc = rp_verify_id_token(cfg, tok.id_token, "another-nonce-0123456789", NULL, &err);
	check(rc == RP_E_NONCE, "%s: ID token with another nonce refused (%d)", client_id, rc);
	other = rp_config_new(issuer, "svc-someone-else", "x", redirect, &err);
	rp_config_set_http_loopback(other, true);
	rc = rp_verify_id_token(other, tok.id_token, req.nonce, NULL, &err);
	check(rc == RP_E_AUD, "%s: ID token refused by another client (%d)", client_id, rc);
	rp_config_free(other);
	rc = rp_check_acr(cfg, claims, "eidas3", &err);
	check(rc == RP_E_ACR, "%s: eidas2 login refused where eidas3 is required", client_id);

	rc = rp_userinfo(cfg, tok.access_token, str(claims, "sub"), &info, &err);
	check(rc == RP_OK && strcmp(str(info, "given_name"), "Marianne") == 0 &&
		      strcmp(str(info, "email"), "marianne.dupont@example.fr") == 0,
	      "%s: userinfo given_name %s %s", client_id, str(info, "given_name"), err.message);
	/* a signed userinfo carries iss and aud, a JSON one does not */
	check((json_object_get(info, "aud") != NULL) == jwt_userinfo,
	      "%s: userinfo came as %s", client_id, jwt_userinfo ? "a signed JWT" : "JSON");
	json_decref(info);
	info = NULL;
	rc = rp_userinfo(cfg, tok.access_token, "someone-else", &info, &err);
	check(rc == RP_E_SUB, "%s: userinfo about another sub refused (%d)", client_id, rc);

	rc = rp_exchange_code(cfg, code, req.code_verifier, &again, &err);
	rp_tokens_release(&again);
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "invalid_grant") == 0,
	      "%s: code reuse refused by the provider (%s)", client_id, err.oauth_error);

	rc = rp_logout_url(cfg, tok.id_token, bye, "ls-1", &url, &err);
	check(rc == RP_OK, "%s: logout URL %s", client_id, err.message);
	back = rc == RP_OK ? logout(url, bye) : NULL;
	check(back != NULL && strstr(back, "state=ls-1") != NULL,
	      "%s: logout confirmed, back at %s", client_id, back != NULL ? back : "(nowhere)");
out:
	free(back);
	free(url);
	free(cb);
	free(code);
	json_decref(claims);
	json_decref(info);
	rp_tokens_release(&tok);
	rp_auth_request_release(&req);
	rp_config_free(cfg);
}

/* prompt=none with no session: the provider answers login_required on the
 * redirect URI, which librp surfaces as a provider error. */
static void provider_error(const char *issuer, const char *redirect_base)
{
	struct rp_auth_params ap = { .prompt = "none" };
	struct rp_auth_request req = { 0 };
	struct rp_error err;
	struct rp_config *cfg;
	char redirect[256], *cb = NULL, *code = NULL;
	CURL *curl;
	int rc;

	snprintf(redirect, sizeof(redirect), "%s/cb", redirect_base);
	cfg = rp_config_new(issuer, "svc-basic", "b4sic:&=secret", redirect, &err);
	rp_config_set_http_loopback(cfg, true);
	if (cfg == NULL || rp_auth_url(cfg, &ap, &req, &err) != RP_OK) {
		check(0, "prompt=none: authorization URL");
		goto out;
	}
	curl = browser();
	cb = browse_to(curl, req.url, redirect_base, NULL, NULL);
	curl_easy_cleanup(curl);
	rc = cb != NULL ? rp_parse_callback(cfg, cb, req.state, &code, &err) : RP_E_NETWORK;
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "login_required") == 0,
	      "prompt=none without a session: error %s surfaced (%s)", err.oauth_error,
	      err.message);
out:
	free(cb);
	free(code);
	rp_auth_request_release(&req);
	rp_config_free(cfg);
}

/* Plays a browser on the demo portals: follows redirects with its
 * cookies, fills the provider's login form when it shows up (counting it),
 * stops on the first page that is not a redirect. */
static long browse_page(CURL *curl, const char *start, const char *post, int *logins,
			char **final_url, char **body)
{
	char *url = strdup(start), *next = NULL, form[256];
	long status = -1;
	int hops;

	*body = NULL;
	*final_url = NULL;
	for (hops = 0; hops < 20 && url != NULL; hops++) {
		free(*body);
		*body = NULL;
		status = request(curl, url, hops == 0 ? post : NULL, &next, body);
		if (status == 200 && strstr(url, "/interaction/") != NULL && *body != NULL &&
		    strstr(*body, "name=\"password\"") != NULL) {
			(*logins)++;
			free(*body);
			*body = NULL;
			free(next);
			snprintf(form, sizeof(form), "login=citizen1&password=motdepasse");
			status = request(curl, url, form, &next, body);
		}
		if (status < 300 || status > 399 || next == NULL) {
			free(next);
			*final_url = url;
			return status;
		}
		free(url);
		url = next;
		next = NULL;
	}
	free(url);
	return -1;
}

static bool has(const char *body, const char *needle)
{
	return body != NULL && strstr(body, needle) != NULL;
}

/* The single sign-on promise on two demo portals: log in on the first, the
 * second needs no password, logging out ends it for both. */
static void sso(const char *demo1, const char *demo2, const char *demo3)
{
	CURL *curl = browser();
	char url[256], form[128], *final = NULL, *body = NULL, *csrf, *end;
	int logins = 0;
	long status;

	snprintf(url, sizeof(url), "%s/login", demo1);
	status = browse_page(curl, url, NULL, &logins, &final, &body);
	check(status == 200 && logins == 1 && has(body, "Marianne") &&
		      has(body, "id=\"acr\">eidas2<"),
	      "demo1: login with the password shows the claims and acr (status %ld, %d logins)",
	      status, logins);
	csrf = body != NULL ? strstr(body, "name=\"csrf\" value=\"") : NULL;
	if (csrf != NULL) {
		csrf += strlen("name=\"csrf\" value=\"");
		if ((end = strchr(csrf, '"')) != NULL)
			*end = '\0';
		snprintf(form, sizeof(form), "csrf=%s", csrf);
	}
	free(final);
	free(body);

	snprintf(url, sizeof(url), "%s/login", demo2);
	logins = 0;
	status = browse_page(curl, url, NULL, &logins, &final, &body);
	check(status == 200 && logins == 0 && has(body, "Marianne"),
	      "demo2: logged in without a password (single sign-on, %d logins)", logins);
	free(final);
	free(body);

	/* Logout on demo1: the provider asks to confirm, then sends us back. */
	snprintf(url, sizeof(url), "%s/logout", demo1);
	status = browse_page(curl, url, csrf != NULL ? form : "", &logins, &final, &body);
	if (status == 200 && has(body, "name=\"xsrf\" value=\"") && final != NULL) {
		char *x = strstr(body, "name=\"xsrf\" value=\"") + strlen("name=\"xsrf\" value=\"");
		char *p = strstr(final, "/session/end");
		if ((end = strchr(x, '"')) != NULL)
			*end = '\0';
		snprintf(form, sizeof(form), "xsrf=%s&logout=yes", x);
		if (p != NULL)
			snprintf(url, sizeof(url), "%.*s/session/end/confirm", (int)(p - final), final);
		free(final);
		final = NULL;
		free(body);
		status = browse_page(curl, url, form, &logins, &final, &body);
	}
	check(status == 200 && final != NULL && strncmp(final, demo1, strlen(demo1)) == 0 &&
		      strstr(final, "state=") != NULL && has(body, "Vous êtes déconnecté(e)"),
	      "demo1: logout confirmed at the provider, back on %s with the state it sent",
	      final != NULL ? final : "?");
	/* The same state again (a replay), or none: not our logout. */
	if (final != NULL) {
		char *again = strdup(final);
		free(final);
		free(body);
		status = browse_page(curl, again, NULL, &logins, &final, &body);
		free(again);
		check(status == 400 && has(body, "non reconnue"),
		      "demo1: /logged-out with a used state refused (status %ld)", status);
	}
	free(final);
	free(body);
	snprintf(url, sizeof(url), "%s/logged-out?state=forged", demo1);
	status = browse_page(curl, url, NULL, &logins, &final, &body);
	check(status == 400 && has(body, "non reconnue"),
	      "demo1: /logged-out with a forged state refused (status %ld)", status);
	free(final);
	free(body);

	/* The provider's session is over: the next login asks the password. */
	snprintf(url, sizeof(url), "%s/login", demo2);
	logins = 0;
	status = browse_page(curl, url, NULL, &logins, &final, &body);
	check(status == 200 && logins == 1 && has(body, "Marianne"),
	      "demo2: after logout the password is asked again (%d logins)", logins);
	free(final);
	free(body);

	/* A portal that asks for eidas3 gets eidas2 (all this provider does):
	 * no session, and a page naming the level it needed. */
	if (demo3 != NULL) {
		snprintf(url, sizeof(url), "%s/login", demo3);
		logins = 0;
		status = browse_page(curl, url, NULL, &logins, &final, &body);
		check(status == 403 && has(body, "id=\"acr-refused\"") && has(body, "eidas3") &&
			      !has(body, "Marianne"),
		      "demo3: an eidas2 answer to an eidas3 request is refused (status %ld)",
		      status);
		free(final);
		free(body);
		snprintf(url, sizeof(url), "%s/", demo3);
		status = browse_page(curl, url, NULL, &logins, &final, &body);
		check(status == 200 && has(body, "Se connecter") && !has(body, "id=\"acr\""),
		      "demo3: and no session was opened");
		free(final);
		free(body);
	}
	curl_easy_cleanup(curl);
}

static struct rp_config *cfg_for(const char *issuer, const char *id_secret)
{
	char id[128];
	const char *colon = strchr(id_secret, ':');
	struct rp_config *cfg;

	if (colon == NULL || (size_t)(colon - id_secret) >= sizeof(id))
		return NULL;
	memcpy(id, id_secret, (size_t)(colon - id_secret));
	id[colon - id_secret] = '\0';
	cfg = rp_config_new(issuer, id, colon + 1, issuer, NULL);
	if (cfg != NULL)
		rp_config_set_http_loopback(cfg, true);
	return cfg;
}

/* What a data provider written with librp does with a service's token. */
static void introspect(const char *issuer, const char *dp, const char *svc, const char *tok)
{
	struct rp_config *dpc = cfg_for(issuer, dp), *fresh = cfg_for(issuer, dp), *sc = cfg_for(issuer, svc);
	struct rp_introspection in = { 0 };
	struct rp_error err;
	int rc;

	check(dpc && fresh && sc, "configs");
	if (!dpc || !fresh || !sc)
		goto out;
	check(rp_config_set_introspection_cache(fresh, 0, 1) == RP_OK, "a config without cache");
	check(rp_config_set_introspection_cache(fresh, 3601, 1) == RP_E_INVAL, "cache max age over an hour: refused");
	rc = rp_introspect(dpc, tok, &in, &err);
	check(rc == RP_OK && in.active, "rp_introspect: active (%s)", rc ? err.message : "");
	check(in.scope && rp_scope_has(in.scope, "email") && !rp_scope_has(in.scope, "profile"),
	      "the served scope only (%s)", in.scope ? in.scope : "none");
	check(in.client_id && strcmp(in.client_id, "demo-portal") == 0, "client_id: the service");
	check(in.sub && strlen(in.sub) == 64 && in.exp > in.iat && in.iat > 0, "sub, exp, iat");
	rp_introspection_release(&in);
	check(rp_scope_has("openid email", "email") && !rp_scope_has("openid emails", "email") &&
	      !rp_scope_has("openid", "") && !rp_scope_has(NULL, "email"), "rp_scope_has: whole words only");
	rc = rp_revoke(sc, tok, "access_token", &err);
	check(rc == RP_OK, "rp_revoke by the service (%s)", rc ? err.message : "");
	rc = rp_introspect(dpc, tok, &in, &err);
	check(rc == RP_OK && in.active, "after revocation, the cached answer still holds (max age 30 s)");
	rp_introspection_release(&in);
	rc = rp_introspect(fresh, tok, &in, &err);
	check(rc == RP_OK && !in.active && in.sub == NULL, "without cache: inactive");
	rc = rp_introspect(sc, tok, &in, &err);
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "unauthorized_client") == 0,
	      "a service calling rp_introspect: refused (%s)", err.message);
	rc = rp_revoke(sc, "", NULL, &err);
	check(rc == RP_E_INVAL, "rp_revoke of an empty token: refused before any request");
out:
	rp_config_free(dpc);
	rp_config_free(fresh);
	rp_config_free(sc);
}

/* --receipt ISSUER FILE: rp_verify_receipt on a receipt from /account;
 * exit 0 when it verifies (the caller asserts both ways). */
static int receipt(const char *issuer, const char *file)
{
	struct rp_config *cfg = rp_config_new(issuer, "any-client", "unused", issuer, NULL);
	struct rp_error err;
	char buf[16384];
	size_t n = 0;
	json_t *c = NULL;
	FILE *f = fopen(file, "r");
	int rc = RP_E_INVAL;

	if (f != NULL) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	if (cfg != NULL && rp_config_set_http_loopback(cfg, true) == RP_OK)
		rc = rp_verify_receipt(cfg, buf, &c, &err);
	if (rc == RP_OK)
		printf("receipt valid: service %s\n", json_string_value(json_object_get(c, "service")));
	else
		printf("receipt refused: %s\n", cfg != NULL ? err.message : "no config");
	json_decref(c);
	rp_config_free(cfg);
	return rc == RP_OK ? 0 : 1;
}

static char *slurp(const char *dir, const char *name)
{
	char path[4096], *s = NULL;
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "re")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 65536 && fseek(f, 0, SEEK_SET) == 0 &&
	    (s = calloc(1, (size_t)n + 1)) != NULL && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	fclose(f);
	return s;
}

static int dots(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '.';
	return n;
}

/* A service with keys: private_key_jwt at the token and revocation
 * endpoints, its ID token and userinfo encrypted to it. */
static void keys(char **a)
{
	const char *issuer = a[0], *client = a[1], *redirect = a[2], *code = a[3], *verifier = a[4],
		   *nonce = a[5], *dir = a[6];
	char *sig = slurp(dir, "sig.pem"), *kid = slurp(dir, "kid"), *enc = slurp(dir, "enc.pem"),
	     *wrong = slurp(dir, "wrong.pem");
	struct rp_config *c = NULL, *other = NULL, *none = NULL;
	struct rp_tokens t = { 0 };
	struct rp_error err;
	json_t *claims = NULL, *ui = NULL;
	char *inner = NULL;
	const char *sub;
	int rc;

	if (kid != NULL)
		kid[strcspn(kid, "\n")] = '\0';
	check(sig && kid && enc && wrong, "the service's keys read from %s", dir);
	if (!sig || !kid || !enc || !wrong)
		goto out;
	c = rp_config_new(issuer, client, NULL, redirect, &err);
	other = rp_config_new(issuer, client, NULL, redirect, &err);
	none = rp_config_new(issuer, client, NULL, redirect, &err);
	check(c && other && none, "configs without a secret");
	if (!c || !other || !none)
		goto out;
	rp_config_set_http_loopback(c, true);
	rp_config_set_http_loopback(other, true);
	rp_config_set_http_loopback(none, true);
	check(rp_config_set_client_key(c, "not a key", kid) == RP_E_INVAL, "a client key that is no PEM: refused");
	check(rp_config_set_decryption_key(c, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") ==
	      RP_E_INVAL, "a decryption key that does not parse: refused");
	check(rp_config_set_client_key(c, sig, kid) == RP_OK, "rp_config_set_client_key");
	check(rp_config_set_decryption_key(c, enc) == RP_OK, "rp_config_set_decryption_key");
	check(rp_config_set_decryption_key(other, wrong) == RP_OK, "another decryption key");
	rc = rp_exchange_code(c, code, verifier, &t, &err);
	check(rc == RP_OK, "rp_exchange_code with private_key_jwt (%s)", rc ? err.message : "");
	if (rc != RP_OK)
		goto out;
	check(dots(t.id_token) == 4, "the ID token arrives encrypted (five parts)");
	rc = rp_verify_id_token(none, t.id_token, nonce, NULL, &err);
	check(rc == RP_E_DECRYPT, "without a decryption key: RP_E_DECRYPT (%s)", err.message);
	rc = rp_verify_id_token(other, t.id_token, nonce, NULL, &err);
	check(rc == RP_E_DECRYPT, "with a key the service does not hold: RP_E_DECRYPT (%s)", err.message);
	rc = rp_verify_id_token_jws(c, t.id_token, nonce, &claims, &inner, &err);
	check(rc == RP_OK, "decrypted, then verified (%s)", rc ? err.message : "");
	check(inner != NULL && dots(inner) == 2, "the signed inner token handed back (three parts)");
	rc = inner != NULL ? rp_verify_id_token(none, inner, nonce, NULL, &err) : RP_E_INVAL;
	check(rc == RP_OK, "which verifies alone, without the decryption key (%s)", rc ? err.message : "");
	sub = json_string_value(json_object_get(claims, "sub"));
	check(sub != NULL, "the ID token's sub");
	rc = rp_userinfo(c, t.access_token, sub, &ui, &err);
	check(rc == RP_OK && json_string_value(json_object_get(ui, "given_name")) != NULL,
	      "encrypted userinfo decrypted, verified, same sub (%s)", rc ? err.message : "");
	rc = rp_userinfo(other, t.access_token, sub, NULL, &err);
	check(rc == RP_E_DECRYPT, "userinfo with another key: RP_E_DECRYPT");
	rc = rp_revoke(c, t.access_token, "access_token", &err);
	check(rc == RP_OK, "rp_revoke with a fresh assertion (%s)", rc ? err.message : "");
	rc = rp_revoke(c, t.access_token, "access_token", &err);
	check(rc == RP_OK, "and again: every assertion has its own jti (%s)", rc ? err.message : "");
	check(rp_config_set_client_key_alg(c, "ES256") == RP_E_INVAL, "ES256 with an RSA key: refused");
	check(rp_config_set_client_key_alg(c, "PS256") == RP_OK, "rp_config_set_client_key_alg PS256");
	rc = rp_revoke(c, t.access_token, "access_token", &err);
	check(rc == RP_OK, "a PS256 assertion accepted by the provider (%s)", rc ? err.message : "");
out:
	json_decref(claims);
	json_decref(ui);
	rp_tokens_release(&t);
	rp_config_free(c);
	rp_config_free(other);
	rp_config_free(none);
	free(sig);
	free(kid);
	free(enc);
	free(wrong);
	free(inner);
}

/* A service without a secret fetches the JWKS (to verify TOKEN, a JWT of
 * the provider): librp proves who it is with a client assertion. */
static void jwks_with_key(const char *issuer, const char *client, const char *dir, const char *token)
{
	char *sig = slurp(dir, "sig.pem"), *kid = slurp(dir, "kid");
	struct rp_config *c = NULL;
	struct rp_error err;
	int rc;

	check(sig && kid, "the service's key read from %s", dir);
	if (!sig || !kid)
		goto out;
	kid[strcspn(kid, "\n")] = '\0';
	c = rp_config_new(issuer, client, NULL, "http://127.0.0.1:1/cb", &err);
	check(c != NULL, "a config without a secret");
	if (c == NULL)
		goto out;
	rp_config_set_http_loopback(c, true);
	check(rp_config_set_client_key(c, sig, kid) == RP_OK, "rp_config_set_client_key");
	/* The signature is checked before the claims: RP_E_AUD (an access
	 * token is not addressed to the service) means it verified. */
	rc = rp_verify_jwt(c, token, NULL, &err);
	check(rc == RP_OK || rc == RP_E_AUD,
	      "a token's signature verified against the JWKS fetched with a client assertion (%s)",
	      rc ? err.message : "");
out:
	rp_config_free(c);
	free(sig);
	free(kid);
}

/* What a service written with librp does with its refresh tokens. */
static void refresh(const char *issuer, const char *svc, const char *rt_a, const char *rt_b, const char *sub)
{
	struct rp_config *sc = cfg_for(issuer, svc);
	struct rp_tokens t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	struct rp_error err;
	json_t *ui = NULL;
	int rc;

	check(sc != NULL, "config");
	if (sc == NULL)
		return;
	rc = rp_refresh(sc, rt_a, NULL, sub, &t1, &err);
	check(rc == RP_OK && t1.access_token && t1.refresh_token && strcmp(t1.refresh_token, rt_a) != 0,
	      "rp_refresh: new tokens, the refresh token rotated (%s)", rc ? err.message : "");
	check(t1.id_token != NULL, "... and a new ID token, verified");
	check(t1.expires_in > 0 && t1.scope && rp_scope_has(t1.scope, "offline_access"), "... expires_in, scope");
	rc = t1.access_token ? rp_userinfo(sc, t1.access_token, sub, &ui, &err) : RP_E_INVAL;
	check(rc == RP_OK, "rp_userinfo with the new access token, same sub (%s)", rc ? err.message : "");
	json_decref(ui);
	rc = rp_refresh(sc, t1.refresh_token ? t1.refresh_token : "x", "openid", sub, &t2, &err);
	check(rc == RP_OK && t2.scope && strcmp(t2.scope, "openid") == 0, "rp_refresh with a narrower scope (%s)",
	      rc ? err.message : t2.scope ? t2.scope : "no scope");
	rc = rp_refresh(sc, t2.refresh_token ? t2.refresh_token : "x", "openid phone", sub, &t3, &err);
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "invalid_scope") == 0 && t3.access_token == NULL,
	      "a wider scope: invalid_scope, nothing out (%s)", err.message);
	rc = rp_revoke(sc, t2.refresh_token ? t2.refresh_token : "x", "refresh_token", &err);
	check(rc == RP_OK, "rp_revoke of the refresh token (%s)", rc ? err.message : "");
	rc = rp_refresh(sc, t2.refresh_token ? t2.refresh_token : "x", NULL, sub, &t3, &err);
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "invalid_grant") == 0,
	      "after rp_revoke: invalid_grant (%s)", err.message);
	rc = rp_refresh(sc, rt_a, NULL, sub, &t3, &err);
	check(rc == RP_E_PROVIDER_ERROR && strcmp(err.oauth_error, "invalid_grant") == 0,
	      "the first refresh token again: invalid_grant");
	rc = rp_refresh(sc, rt_b, NULL, "not-the-citizen", &t3, &err);
	check(rc == RP_E_SUB && t3.refresh_token == NULL, "another sub in the new ID token: RP_E_SUB, nothing out");
	rc = rp_refresh(sc, "", NULL, NULL, &t3, &err);
	check(rc == RP_E_INVAL, "an empty refresh token: refused before any request");
	rp_tokens_release(&t1);
	rp_tokens_release(&t2);
	rp_tokens_release(&t3);
	rp_config_free(sc);
}

int main(int argc, char **argv)
{
	char *cb;
	int ok;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (argc == 4 && strcmp(argv[1], "--login") == 0) {
		cb = login(argv[2], argv[3]);
		if ((ok = cb != NULL))
			printf("%s\n", cb);
		free(cb);
		curl_global_cleanup();
		return ok ? 0 : 1;
	}
	if ((argc == 4 || argc == 5) && strcmp(argv[1], "--sso") == 0) {
		sso(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
		printf("# sso: %d passed, %d failed\n", passed, failed);
		curl_global_cleanup();
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	if (argc == 4 && strcmp(argv[1], "--receipt") == 0) {
		ok = receipt(argv[2], argv[3]);
		curl_global_cleanup();
		return ok;
	}
	if (argc == 6 && strcmp(argv[1], "--introspect") == 0) {
		introspect(argv[2], argv[3], argv[4], argv[5]);
		printf("# introspect: %d passed, %d failed\n", passed, failed);
		curl_global_cleanup();
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	if (argc == 9 && strcmp(argv[1], "--keys") == 0) {
		keys(argv + 2);
		printf("# keys: %d passed, %d failed\n", passed, failed);
		curl_global_cleanup();
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	if (argc == 6 && strcmp(argv[1], "--jwks") == 0) {
		jwks_with_key(argv[2], argv[3], argv[4], argv[5]);
		printf("# jwks: %d passed, %d failed\n", passed, failed);
		curl_global_cleanup();
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	if (argc == 7 && strcmp(argv[1], "--refresh") == 0) {
		refresh(argv[2], argv[3], argv[4], argv[5], argv[6]);
		printf("# refresh: %d passed, %d failed\n", passed, failed);
		curl_global_cleanup();
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: %s ISSUER REDIRECT_BASE | --login AUTH_URL REDIRECT_BASE |"
			" --sso DEMO1_BASE DEMO2_BASE [DEMO3_BASE] |"
			" --introspect ISSUER DP_ID:SECRET SVC_ID:SECRET TOKEN |"
			" --refresh ISSUER SVC_ID:SECRET RT_A RT_B SUB |"
			" --jwks ISSUER CLIENT DIR TOKEN\n", argv[0]);
		return 2;
	}
	scenario(argv[1], argv[2], "svc-basic", "b4sic:&=secret", RP_AUTH_BASIC, false);
	scenario(argv[1], argv[2], "svc-post", "p0st-secret-with-enough-length", RP_AUTH_POST,
		 true);
	provider_error(argv[1], argv[2]);
	printf("# interop: %d passed, %d failed\n", passed, failed);
	curl_global_cleanup();
	return failed == 0 && passed > 0 ? 0 : 1;
}
