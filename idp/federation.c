/* The citizen's path through identity backends: the choice page (filtered by
 * the assurance level the service asks for, the last choice remembered),
 * idp_hint, form and redirect backends, upstream callbacks, validation of the
 * identity a backend returns, the local subject (per backend, or from the
 * identity pivot as FranceConnect derives it), backend health, and logout
 * chained to an upstream provider. */
#include "oidc.h"
#include "metrics.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

#define K_UP "up:"
#define K_LOGOUT "lo:"

#define HEALTH_FAILS 3        /* consecutive failures that mark a backend down */
#define HEALTH_DOWN_S 30      /* how long it stays greyed out before a retry */

void identity_release(struct idp_identity *id)
{
	free(id->subject);
	json_decref(id->claims);
	free(id->acr);
	free(id->amr);
	json_decref(id->session_data);
	memset(id, 0, sizeof(*id));
}

/* Health: consecutive EUNAVAIL answers mark a backend down for a while; the
 * prober (or the next success) brings it back. */
void backend_report(struct backend *b, int rc)
{
	if (rc == IDP_EUNAVAIL) {
		int n = __atomic_add_fetch(&b->fails, 1, __ATOMIC_RELAXED);

		if (n >= HEALTH_FAILS) {
			__atomic_store_n(&b->down_until, now_s() + HEALTH_DOWN_S, __ATOMIC_RELAXED);
			if (n == HEALTH_FAILS)
				idp_log(LOG_WARN, "backend %s: %d failures in a row; shown as unavailable", b->id, n);
		}
	} else if (rc == IDP_OK) {
		if (__atomic_exchange_n(&b->fails, 0, __ATOMIC_RELAXED) >= HEALTH_FAILS)
			idp_log(LOG_INFO, "backend %s: answering again", b->id);
		__atomic_store_n(&b->down_until, 0, __ATOMIC_RELAXED);
	}
}

bool backend_up(const struct backend *b)
{
	return __atomic_load_n(&b->down_until, __ATOMIC_RELAXED) <= now_s();
}

static pthread_t prober;
static volatile int prober_stop;
static bool prober_started;

static void *prober_main(void *arg)
{
	(void)arg;
	while (!prober_stop) {
		struct rt *rt = rt_acquire();

		for (size_t i = 0; i < rt->n_backends && !prober_stop; i++) {
			struct backend *b = &rt->backends[i];

			if (__atomic_load_n(&b->fails, __ATOMIC_RELAXED) < HEALTH_FAILS || b->ops->probe == NULL)
				continue;
			if (b->ops->probe(b->inst) == 0)
				backend_report(b, IDP_OK);
			else
				__atomic_store_n(&b->down_until, now_s() + HEALTH_DOWN_S, __ATOMIC_RELAXED);
		}
		rt_release(rt);
		for (int t = 0; t < 20 && !prober_stop; t++)
			usleep(250000);
	}
	return NULL;
}

void health_start(void)
{
	prober_started = pthread_create(&prober, NULL, prober_main, NULL) == 0;
}

void health_stop(void)
{
	prober_stop = 1;
	if (prober_started)
		pthread_join(prober, NULL);
}

/* Characters (code points) in a string already known to be valid UTF-8:
 * every byte but the continuation bytes (10xxxxxx) starts one. */
static size_t utf8_count(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A YYYY-MM-DD that the regular expression let through names a real day
 * (no 1990-02-31, 29 February only in leap years); YYYY and YYYY-MM have no
 * day to check. */
static bool date_exists(const char *v)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;
	bool leap;

	if (strlen(v) != 10)
		return true;
	y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
	m = (v[5] - '0') * 10 + (v[6] - '0');
	d = (v[8] - '0') * 10 + (v[9] - '0');
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Format rules for the identity pivot, as public services expect them. */
bool identity_valid(const json_t *claims, const char **why)
{
	static const char *const names[] = {"given_name", "family_name", "preferred_username", NULL};
	const char *v;
	regex_t re;
	bool ok;

	for (const char *const *n = names; *n; n++) {
		json_t *j = json_object_get(claims, *n);

		if (j == NULL)
			continue;
		v = json_string_value(j);
		if (v == NULL || !utf8_valid(v, strlen(v)) || utf8_count(v) < 1 || utf8_count(v) > 256) {
			*why = *n;
			return false;
		}
	}
	if ((v = json_string_value(json_object_get(claims, "birthdate"))) != NULL ||
	    json_object_get(claims, "birthdate") != NULL) {
		/* YYYY-MM-DD, or YYYY-MM / YYYY when the backend knows no more. */
		if (v == NULL || regcomp(&re, "^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$",
					 REG_EXTENDED | REG_NOSUB) != 0) {
			*why = "birthdate";
			return false;
		}
		ok = regexec(&re, v, 0, NULL, 0) == 0 && date_exists(v);
		regfree(&re);
		if (!ok) {
			*why = "birthdate";
			return false;
		}
	}
	if (json_object_get(claims, "gender") != NULL) {
		v = json_string_value(json_object_get(claims, "gender"));
		if (v == NULL || (strcmp(v, "female") != 0 && strcmp(v, "male") != 0 && strcmp(v, "other") != 0)) {
			*why = "gender";
			return false;
		}
	}
	if (json_object_get(claims, "birthcountry") != NULL) {
		v = json_string_value(json_object_get(claims, "birthcountry"));
		if (v == NULL || strlen(v) != 5 || strspn(v, "0123456789") != 5) {
			*why = "birthcountry";
			return false;
		}
		/* Born in France: the INSEE code of the commune is required. */
		if (strcmp(v, "99100") == 0) {
			const char *bp = json_string_value(json_object_get(claims, "birthplace"));

			if (bp == NULL || strlen(bp) != 5 || strspn(bp, "0123456789AB") != 5) {
				*why = "birthplace";
				return false;
			}
		}
	}
	if (json_object_get(claims, "email") != NULL) {
		v = json_string_value(json_object_get(claims, "email"));
		if (v == NULL || regcomp(&re, "^[^@ \t\r\n<>\"]{1,64}@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$",
					 REG_EXTENDED | REG_NOSUB) != 0) {
			*why = "email";
			return false;
		}
		ok = strlen(v) <= 254 && regexec(&re, v, 0, NULL, 0) == 0;
		regfree(&re);
		if (!ok) {
			*why = "email";
			return false;
		}
	}
	return true;
}

/* Appends a pivot value in a canonical spelling, so that two backends that
 * write one citizen differently ("Marianne " and "marianne", "De  la Tour")
 * give the same subject: surrounding whitespace dropped, inner runs of
 * whitespace made one space, ASCII letters lower-cased. Other bytes are kept
 * as sent: accented letters are compared as the backends encode them, since
 * Unicode normalisation (NFC) and full case folding need a library the
 * daemon does not link; a backend sending decomposed accents (NFD) or
 * upper-case accented letters gives another subject. */
static int pivot_add(struct buf *s, const char *v)
{
	bool space = false;
	int rc = IDP_OK;

	v += strspn(v, " \t\r\n\v\f");
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (strchr(" \t\r\n\v\f", c) != NULL) {
			space = true;
			continue;
		}
		if (space && rc == IDP_OK)
			rc = buf_add(s, " ", 1);
		space = false;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (rc == IDP_OK)
			rc = buf_add(s, &c, 1);
	}
	return rc;
}

/* The subject derived from the identity pivot: the caller frees it. NULL
 * with *why naming the missing claim. */
char *pivot_subject(const json_t *c, const char **why)
{
	static const char *const pivot[] = {"given_name", "family_name", "birthdate", "gender",
		"birthplace", "birthcountry", NULL};
	struct buf s;
	char hex[65], *out = NULL;
	bool france;
	int rc = IDP_OK;

	*why = NULL;
	france = strcmp(json_string_value(json_object_get(c, "birthcountry")) ?: "", "99100") == 0;
	buf_init(&s, 4096);
	for (const char *const *n = pivot; *n; n++) {
		const char *v = json_string_value(json_object_get(c, *n));

		if (strcmp(*n, "birthplace") == 0 && !france)
			continue; /* only meaningful for people born in France */
		if (v == NULL) {
			*why = *n;
			buf_release(&s);
			return NULL;
		}
		if (rc == IDP_OK)
			rc = pivot_add(&s, v);
		if (rc == IDP_OK)
			rc = buf_adds(&s, "\x1f"); /* a separator no claim contains */
	}
	if (rc != IDP_OK) { /* past the buffer's maximum: claims too long */
		*why = "given_name";
		buf_release(&s);
		return NULL;
	}
	sha256_hex(s.p, s.len, hex);
	buf_release(&s);
	if (asprintf(&out, "pivot:%s", hex) < 0)
		return NULL;
	return out;
}

/* The local subject: per backend ("backend:subject"), or from the identity
 * pivot, so the same citizen gets the same sub whichever backend they use. */
static char *local_subject(const struct config *cfg, const struct backend *b,
			   const struct idp_identity *id, const char **why)
{
	char *out = NULL;

	if (cfg->sub_from_pivot)
		return pivot_subject(id->claims, why);
	if (asprintf(&out, "%s:%s", b->id, id->subject) < 0)
		return NULL;
	return out;
}

static enum lang areq_lang(const json_t *areq)
{
	const char *l = json_string_value(json_object_get(areq, "lang"));

	return l != NULL && strcmp(l, "en") == 0 ? LANG_EN : LANG_FR;
}

/* The citizen sees a plain page; its link takes them back to the service,
 * which then receives access_denied. */
static enum MHD_Result deny_page(struct req *r, const json_t *areq, const char *code, const char *desc)
{
	char *loc = error_location(r->cfg, json_string_value(json_object_get(areq, "redirect_uri")),
				   "access_denied", desc, json_string_value(json_object_get(areq, "state")));
	const struct client *cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	json_t *ctx = json_pack("{s:s,s:b,s:s?,s:s?}", "code", code, code, 1, "return_url", loc,
				"client_name", cl ? cl->name : NULL);
	enum MHD_Result ret;

	r->lang = areq_lang(areq);
	ret = http_page(r, 403, "error", ctx);
	json_decref(ctx);
	free(loc);
	return ret;
}

enum MHD_Result login_success(struct req *r, json_t *areq, const struct backend *b,
			      struct idp_identity *id, const char *txn_key)
{
	const struct client *cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	const char *why = NULL, *acr = id->acr;
	char sid[65], old_sid[65], ckey[80], *local = NULL, *ntxn = NULL;
	enum consent c;
	bool missing;
	json_t *sess = NULL, *old;
	enum MHD_Result ret = MHD_NO;
	bool gone = false;
	int rc;
	int min_rank = (int)json_integer_value(json_object_get(areq, "min_acr_rank"));

	if (cl == NULL)
		return http_error_page(r, 400, "bad_request");
	/* Whatever the transaction says (the configuration may have changed
	 * since the form or the redirect), a backend the client does not allow
	 * never logs a citizen in for it. */
	if (!client_allows_backend(cl, b->id)) {
		idp_log(LOG_INFO, "login: %s is not allowed for %s; refused", b->id, cl->id);
		return deny_page(r, areq, "backend_not_allowed", "this identity provider is not allowed for this service");
	}
	if (id->claims == NULL)
		id->claims = json_object();
	/* The level reached. A form backend checked the credentials itself: no
	 * acr means its configured level. An upstream provider that names no
	 * level, or one we do not know, vouches for nothing more than the
	 * weakest level: taking the backend's level would over-claim. Either
	 * way a backend cannot claim more than it is configured to reach. */
	if (acr == NULL && b->ops->login != NULL)
		acr = b->acr;
	if (config_acr_rank(r->cfg, acr) < 0) {
		idp_log(LOG_INFO, "login: %s gave %s acr; taken as %s", b->id, acr ? "an unknown" : "no",
			r->cfg->default_acr);
		acr = r->cfg->default_acr;
	}
	if (config_acr_rank(r->cfg, acr) > config_acr_rank(r->cfg, b->acr))
		acr = b->acr;
	if (config_acr_rank(r->cfg, acr) < min_rank) {
		idp_log(LOG_INFO, "login: %s reached %s, below what %s asks", b->id, acr, cl->id);
		return deny_page(r, areq, "acr_too_low", "the identity provider did not reach the requested level");
	}
	if (!identity_valid(id->claims, &why) || (local = local_subject(r->cfg, b, id, &why)) == NULL) {
		idp_log(LOG_WARN, "login: identity from %s refused: claim %s is malformed or missing", b->id,
			why ? why : "?");
		return deny_page(r, areq, "identity_invalid", "the identity returned by the identity provider is incomplete or malformed");
	}
	if ((old = session_load(r, old_sid)) != NULL) {
		session_destroy(r, old_sid);
		json_decref(old);
	}
	sess = session_create(r, b->id, acr, local, id, sid, txn_key, &gone);
	free(local);
	if (gone) /* another post of the same form won */
		return http_error_page(r, 400, "expired");
	if (sess == NULL)
		return authz_fail(r, areq, "temporarily_unavailable", "the session could not be created");
	/* Remember the choice for the next visit (not a secret). */
	req_set_cookie(r, "last", b->id, 180L * 86400);
	idp_log(LOG_INFO, "login: %s authenticated citizen via %s (%s)", cl->id, b->id, acr);
	metrics_count(M_LOGIN_OK);
	/* A remembered consent is checked in the round trip that stores the code. */
	c = consent_decide(cl, areq, sess, ckey);
	missing = c == CONSENT_ASK;
	if (!missing)
		ret = authz_complete_consented(r, areq, sess, sid, c == CONSENT_STORED ? ckey : NULL, &missing);
	if (missing) {
		json_object_set_new(areq, "sid", json_string(sid));
		if ((rc = txn_save(r, areq, &ntxn)) != IDP_OK)
			ret = txn_refused(r, areq, rc);
		else
			ret = consent_page(r, ntxn, areq, sess, sid);
		free(ntxn);
	}
	json_decref(sess);
	return ret;
}

/* Sends the citizen to backend b: its login form, or its upstream provider. */
static enum MHD_Result start_backend(struct req *r, json_t *areq, const struct backend *b)
{
	char *txn = NULL, *url = NULL, *cb = NULL, key[128], hash[65];
	json_t *ptxn = NULL, *rec = NULL;
	const char *state, *bind;
	enum MHD_Result ret;
	int rc;

	json_object_set_new(areq, "backend", json_string(b->id));
	if (b->ops->login != NULL) {
		if ((rc = txn_save(r, areq, &txn)) != IDP_OK)
			return txn_refused(r, areq, rc);
		ret = login_page(r, txn, areq, 200, NULL, NULL);
		free(txn);
		return ret;
	}
	if (b->ops->begin == NULL || asprintf(&cb, "%s/callback/%s", r->cfg->issuer, b->id) < 0)
		return http_error_page(r, 500, "bad_request");
	/* The record stored below is a transaction too: counted the same. */
	if ((rc = txn_admit(r)) != IDP_OK) {
		free(cb);
		return txn_refused(r, areq, rc);
	}
	rc = backend_begin(b, cb, &url, &ptxn);
	free(cb);
	backend_report((struct backend *)b, rc);
	state = json_string_value(json_object_get(ptxn, "state"));
	if (rc != IDP_OK || url == NULL || state == NULL) {
		free(url);
		json_decref(ptxn);
		return deny_page(r, areq, "upstream_down", "the identity provider is not answering");
	}
	/* The return is bound to this browser (no login CSRF across browsers)
	 * and to this request; the plugin's state finds it again. */
	bind = bind_cookie(r, true);
	sha256_hex(bind ? bind : "", bind ? strlen(bind) : 0, hash);
	rec = json_pack("{s:O,s:O,s:s,s:s}", "areq", areq, "ptxn", ptxn, "backend", b->id, "bind", hash);
	sha256_hex(state, strlen(state), hash);
	snprintf(key, sizeof(key), K_UP "%s", hash);
	if (rec == NULL || store_put_json(&g_idp.store, key, rec, r->cfg->login_ttl) != IDP_OK)
		ret = authz_fail(r, areq, "temporarily_unavailable", "the store is not answering");
	else
		ret = http_redirect(r, url);
	free(url);
	json_decref(ptxn);
	json_decref(rec);
	return ret;
}

static bool eligible(const struct rt *rt, const struct backend *b, const struct client *cl, int min_rank)
{
	return client_allows_backend(cl, b->id) && config_acr_rank(rt->cfg, b->acr) >= min_rank;
}

/* unavailable: the backend the citizen just picked is down; the page says
 * so above the list (status 503), the citizen stays on it. */
static enum MHD_Result choice_page(struct req *r, json_t *areq, const struct client *cl, int min_rank,
				   const struct backend *unavailable)
{
	char name[64], csrf[44], *txn = NULL;
	const char *last = req_cookie(r, cookie_name(r->cfg, "last", name));
	const char *bind = bind_cookie(r, true);
	json_t *list = json_array(), *ctx;
	enum MHD_Result ret;
	int rc;

	if (bind == NULL || (rc = txn_save(r, areq, &txn)) != IDP_OK) {
		json_decref(list);
		free(txn);
		return txn_refused(r, areq, bind == NULL ? IDP_ENOMEM : rc);
	}
	csrf_token("choose", txn, bind, csrf);
	for (int pass = 0; pass < 2; pass++) {
		/* The last choice first, then the others in configuration order. */
		for (size_t i = 0; i < r->rt->n_backends; i++) {
			const struct backend *b = &r->rt->backends[i];
			bool is_last = last != NULL && strcmp(last, b->id) == 0;

			if (!eligible(r->rt, b, cl, min_rank) || (pass == 0) != is_last)
				continue;
			json_array_append_new(list, json_pack("{s:s,s:s,s:s?,s:b,s:b,s:s}", "id", b->id,
							      "title", b->title, "logo", b->logo,
							      "down", !backend_up(b), "last", is_last,
							      "input_id", b->id));
			/* The form's answer redirects to this provider, and with a
			 * session there straight on through our callback to the
			 * service: form-action must allow both or Chromium stops. */
			add_form_origin(r, b->issuer);
		}
	}
	add_form_origin(r, json_string_value(json_object_get(areq, "redirect_uri")));
	ctx = json_pack("{s:s,s:s,s:s,s:o,s:s?}", "client_name", cl->name, "txn", txn, "csrf", csrf,
			"backends", list, "unavailable", unavailable ? unavailable->title : NULL);
	ret = http_page(r, unavailable ? 503 : 200, "choice", ctx);
	json_decref(ctx);
	free(txn);
	return ret;
}

enum MHD_Result federation_start(struct req *r, json_t *areq, const struct client *cl, int min_rank)
{
	const struct params *p = req_params(r);
	const char *hint = params_get(p, "idp_hint");
	const struct backend *only = NULL;
	size_t n = 0;

	if (hint != NULL) {
		const struct backend *b = backend_find(r->rt, hint);

		if (b == NULL || !client_allows_backend(cl, b->id))
			return authz_fail(r, areq, "invalid_request", "invalid_idp_hint: unknown identity provider, or not allowed for this service");
		if (!eligible(r->rt, b, cl, min_rank))
			return authz_fail(r, areq, "access_denied", "invalid_idp_hint: this identity provider does not reach the requested level");
		return start_backend(r, areq, b);
	}
	for (size_t i = 0; i < r->rt->n_backends; i++)
		if (eligible(r->rt, &r->rt->backends[i], cl, min_rank)) {
			only = &r->rt->backends[i];
			n++;
		}
	/* An essential acr gets the error registered for it (OpenID Connect
	 * Core Unmet Authentication Requirements 1.0), telling the service
	 * that no login here can reach it, not that the citizen refused. */
	if (n == 0 && acr_essential(json_object_get(areq, "claims")))
		return authz_fail(r, areq, "unmet_authentication_requirements",
				  "no identity provider reaches the essential assurance level");
	if (n == 0)
		return authz_fail(r, areq, "access_denied",
				  "no identity provider reaches the requested assurance level");
	if (n == 1 && !scope_has(json_string_value(json_object_get(areq, "prompt")), "select_account"))
		return start_backend(r, areq, only);
	return choice_page(r, areq, cl, min_rank, NULL);
}

enum MHD_Result ep_choose(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	const char *choice = params_get(p, "backend");
	char key[128], name[64];
	json_t *areq = NULL;
	const struct backend *b;
	const struct client *cl;
	enum MHD_Result ret;
	int min_rank;

	if (txn == NULL || strlen(txn) > 64 || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	snprintf(key, sizeof(key), K_TXN "%s", txn);
	if (!csrf_check("choose", txn, req_cookie(r, cookie_name(r->cfg, "b", name)), csrf))
		return http_error_page(r, 403, "csrf");
	if (store_take_json(&g_idp.store, key, &areq) != IDP_OK)
		return http_error_page(r, 400, "expired");
	r->lang = areq_lang(areq);
	cl = config_client(r->cfg, json_string_value(json_object_get(areq, "client_id")));
	b = backend_find(r->rt, choice);
	min_rank = (int)json_integer_value(json_object_get(areq, "min_acr_rank"));
	/* Only a backend the page offered: eligible for this client and level. */
	if (cl == NULL || b == NULL || !eligible(r->rt, b, cl, min_rank)) {
		ret = http_error_page(r, 400, "bad_request");
		goto out;
	}
	/* Greyed out (a form posted before it went down, or forged): the
	 * citizen is not walked into it, and chooses again. */
	if (!backend_up(b)) {
		idp_log(LOG_INFO, "choose: %s is marked unavailable; choice page again", b->id);
		ret = choice_page(r, areq, cl, min_rank, b);
		goto out;
	}
	ret = start_backend(r, areq, b);
out:
	json_decref(areq);
	return ret;
}

/* GET /callback/<backend>: the upstream provider sends the citizen back. */
enum MHD_Result ep_upstream_callback(struct req *r)
{
	const char *bid = r->path + strlen("/callback/");
	const char *state = params_get(&r->query, "state");
	const struct backend *b = backend_find(r->rt, bid);
	char key[128], hash[65], name[64];
	const char *bind = req_cookie(r, cookie_name(r->cfg, "b", name));
	json_t *rec = NULL, *areq;
	struct idp_identity id = {0};
	enum MHD_Result ret;
	int rc;

	r->from_foreign_form = true;
	if (b == NULL || b->ops->callback == NULL || state == NULL || strlen(state) > 512 ||
	    r->query.dup != NULL)
		return http_error_page(r, 400, "bad_request");
	sha256_hex(state, strlen(state), hash);
	snprintf(key, sizeof(key), K_UP "%s", hash);
	/* Single use: a replayed callback finds nothing. */
	if (store_take_json(&g_idp.store, key, &rec) != IDP_OK)
		return http_error_page(r, 400, "expired");
	areq = json_object_get(rec, "areq");
	r->lang = areq_lang(areq);
	sha256_hex(bind ? bind : "", bind ? strlen(bind) : 0, hash);
	if (strcmp(json_string_value(json_object_get(rec, "backend")) ?: "", b->id) != 0 ||
	    strcmp(json_string_value(json_object_get(rec, "bind")) ?: "", hash) != 0) {
		ret = http_error_page(r, 403, "csrf");
		goto out;
	}
	rc = backend_callback(b, json_object_get(rec, "ptxn"), r->raw_query ? r->raw_query : "", &id);
	if (rc == IDP_EUNAVAIL)
		backend_report((struct backend *)b, rc);
	if (rc != IDP_OK || id.subject == NULL) {
		idp_log(LOG_WARN, "callback: %s refused the login (%s)", b->id, idp_strerror(rc));
		ret = deny_page(r, areq, rc == IDP_EUNAVAIL ? "upstream_down" : "upstream_refused",
				"the identity provider did not authenticate the citizen");
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	ret = login_success(r, areq, b, &id, NULL);
out:
	identity_release(&id);
	json_decref(rec);
	return ret;
}

/* GET /logout/return: back from the upstream provider's logout. */
enum MHD_Result ep_logout_return(struct req *r)
{
	const char *state = params_get(&r->query, "state");
	char key[128], hash[65];
	json_t *rec = NULL, *ctx;
	const char *ruri, *rstate;
	struct buf b;
	enum MHD_Result ret;

	r->from_foreign_form = true;
	if (state == NULL || strlen(state) > 128)
		return http_error_page(r, 400, "bad_request");
	sha256_hex(state, strlen(state), hash);
	snprintf(key, sizeof(key), K_LOGOUT "%s", hash);
	if (store_take_json(&g_idp.store, key, &rec) != IDP_OK)
		return http_error_page(r, 400, "expired");
	ruri = json_string_value(json_object_get(rec, "ruri"));
	rstate = json_string_value(json_object_get(rec, "state"));
	if (ruri == NULL) {
		ctx = json_object();
		ret = http_page(r, 200, "logged_out", ctx);
		json_decref(ctx);
		json_decref(rec);
		return ret;
	}
	buf_init(&b, 16384);
	buf_adds(&b, ruri);
	if (rstate != NULL) {
		buf_adds(&b, strchr(ruri, '?') ? "&state=" : "?state=");
		buf_add_urlenc(&b, rstate);
	}
	ret = http_redirect(r, b.p);
	buf_release(&b);
	json_decref(rec);
	return ret;
}
