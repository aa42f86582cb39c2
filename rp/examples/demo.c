/* SPDX-License-Identifier: Apache-2.0 */
/* rp-demo: a public service's portal, logging citizens in with librp.
 *
 *   rp-demo --port 8081 --name "Impôts démo" --issuer http://127.0.0.1:8080 \
 *           --client-id impots-demo [--acr eidas1] [--http-loopback]
 *   (client secret in RP_CLIENT_SECRET, never on the command line)
 *
 * Pages: "/" shows a "Se connecter" button, or, once logged in, the verified
 * claims and the acr; "/login" sends the browser to the provider (with
 * ?prompt=none|login and ?ui_locales=fr|en passed on); "/callback"
 * checks the answer, exchanges the code, verifies the ID token and fetches
 * userinfo (and, with --data-url, the data provider's answer; "POST /data"
 * asks it again with the same access token); "POST /logout" ends the local session and sends the browser to
 * the provider's logout with a fresh state; "/logged-out" is where it comes
 * back, and checks that state against the one kept in the session;
 * "POST /backchannel-logout" takes the provider's logout token (OpenID
 * Back-Channel Logout 1.0), verified by rp_verify_logout_token, and ends the
 * local sessions of its sid (or, without one, its sub). The acr
 * asked with --acr is also the minimum accepted: a weaker answer is refused
 * with a page that says so. Its own
 * session is a random id in a cookie named after the port (cookies ignore
 * ports: two demos on 127.0.0.1 must not share one), kept in memory.
 *
 * With --data-url, after the login the portal asks that data provider (the
 * demo's family allowance office, rp/examples/dp-demo.c) for the citizen's
 * data with the access token, and shows it, or that the citizen did not
 * share it (the provider's 401 or 403: asked all the same, to show that the
 * provider itself refuses).
 *
 * A service with keys (FranceConnect+; make run's third portal, "Santé,
 * démo"): --client-key FILE (PEM) authenticates with private_key_jwt
 * instead of a secret, its kid given with --client-key-kid and its alg with
 * --client-key-alg (PS256 with an RSA key); --decryption-key FILE opens the
 * ID token and userinfo the provider encrypts to the service; --jwks FILE
 * (the public halves) is served at /jwks.json, the jwks_uri the provider
 * holds. The signed inner ID token is what the logout sends as
 * id_token_hint. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <rp.h>

#define MAX_SESSIONS 4096
#define SESSION_TTL 1800        /* 30 minutes without a request */

struct session {
	char id[65];            /* 32 random bytes, hex; "" when the slot is free */
	char csrf[65];          /* for the logout form */
	char logout_state[65];  /* sent with the logout, checked on /logged-out */
	time_t last;
	struct rp_auth_request pending;  /* between /login and /callback */
	char *id_token;         /* kept for the logout's id_token_hint */
	json_t *claims;         /* verified ID token claims */
	json_t *userinfo;
	json_t *data;           /* the data provider's answer (--data-url) */
	char *access_token;     /* kept to ask the data provider again (POST /data) */
	long data_status;       /* its HTTP status; 0: not asked or not reached */
};

struct demo {
	const char *name;
	char base[64];          /* http://127.0.0.1:PORT */
	char cookie[32];        /* cookie name, per port */
	const char *acr;
	const char *scope;
	const char *data_url;   /* --data-url: a data provider's API, or NULL */
	char *jwks;             /* --jwks: the service's public keys, or NULL */
	struct rp_config *rp;
	pthread_mutex_t lock;   /* the session table */
	struct session sessions[MAX_SESSIONS];
};

static void hex_random(char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	int i;

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		abort(); /* no randomness, no sessions */
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[64] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
}

static void session_clear(struct session *s)
{
	rp_auth_request_release(&s->pending);
	if (s->id_token != NULL) {
		OPENSSL_cleanse(s->id_token, strlen(s->id_token));
		free(s->id_token);
	}
	json_decref(s->claims);
	json_decref(s->userinfo);
	json_decref(s->data);
	if (s->access_token != NULL) {
		OPENSSL_cleanse(s->access_token, strlen(s->access_token));
		free(s->access_token);
	}
	memset(s, 0, sizeof(*s));
}

/* The caller holds d->lock. */
static struct session *session_find(struct demo *d, const char *id)
{
	time_t now = time(NULL);
	size_t i;

	for (i = 0; id != NULL && i < MAX_SESSIONS; i++) {
		struct session *s = &d->sessions[i];
		if (s->id[0] == '\0')
			continue;
		if (now - s->last > SESSION_TTL) {
			session_clear(s);
			continue;
		}
		if (strlen(id) == 64 && CRYPTO_memcmp(s->id, id, 64) == 0) {
			s->last = now;
			return s;
		}
	}
	return NULL;
}

static struct session *session_new(struct demo *d)
{
	time_t now = time(NULL);
	struct session *oldest = &d->sessions[0];
	size_t i;

	for (i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &d->sessions[i];
		if (s->id[0] == '\0' || now - s->last > SESSION_TTL) {
			oldest = s;
			break;
		}
		if (s->last < oldest->last)
			oldest = s;
	}
	session_clear(oldest);
	hex_random(oldest->id);
	hex_random(oldest->csrf);
	oldest->last = now;
	return oldest;
}

/* ---- HTML ---- */

struct page {
	char *p;
	size_t len, cap;
};

static void add(struct page *pg, const char *s, size_t len)
{
	char *n;

	if (pg->len + len + 1 > pg->cap) {
		size_t cap = pg->cap ? pg->cap * 2 : 4096;
		while (cap < pg->len + len + 1)
			cap *= 2;
		if ((n = realloc(pg->p, cap)) == NULL)
			abort();
		pg->p = n;
		pg->cap = cap;
	}
	memcpy(pg->p + pg->len, s, len);
	pg->len += len;
	pg->p[pg->len] = '\0';
}

static void adds(struct page *pg, const char *s)
{
	add(pg, s, strlen(s));
}

/* Every value from the provider or the browser reaches HTML through here. */
static void add_text(struct page *pg, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		switch (*s) {
		case '&': adds(pg, "&amp;"); break;
		case '<': adds(pg, "&lt;"); break;
		case '>': adds(pg, "&gt;"); break;
		case '"': adds(pg, "&quot;"); break;
		case '\'': adds(pg, "&#39;"); break;
		default: add(pg, s, 1);
		}
	}
}

static void page_start(struct page *pg, const struct demo *d, const char *title)
{
	adds(pg, "<!doctype html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\">"
		 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
		 "<title>");
	add_text(pg, title);
	adds(pg, " – ");
	add_text(pg, d->name);
	adds(pg, "</title><style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:40rem;"
		 "margin:2rem auto;padding:0 1rem;color:#161616}"
		 "button,.button{font:inherit;padding:.6rem 1.2rem;background:#000091;color:#fff;"
		 "border:0;border-radius:.25rem;text-decoration:none;cursor:pointer}"
		 "button:focus,.button:focus,a:focus{outline:3px solid #0a76f6;outline-offset:2px}"
		 "table{border-collapse:collapse}th,td{text-align:left;padding:.3rem .8rem;"
		 "border-bottom:1px solid #ddd}.acr{font-weight:bold}</style></head><body>"
		 "<header><p><strong>");
	add_text(pg, d->name);
	adds(pg, "</strong> – service public de démonstration</p></header><main><h1>");
	add_text(pg, title);
	adds(pg, "</h1>");
}

static void page_end(struct page *pg)
{
	adds(pg, "</main></body></html>\n");
}

static enum MHD_Result send_page(struct MHD_Connection *c, unsigned status, struct page *pg,
				 const char *cookie, const char *location)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(pg->len, pg->p, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(pg->p);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	/* The callback URL holds the code: never send it on as a Referer. */
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
				" http: https:; frame-ancestors 'none'");
	if (cookie != NULL)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result redirect(struct MHD_Connection *c, const char *location,
				const char *cookie)
{
	struct page pg = { 0 };

	adds(&pg, "<!doctype html><html lang=\"fr\"><title>Redirection</title><a href=\"");
	add_text(&pg, location);
	adds(&pg, "\">Continuer</a></html>");
	return send_page(c, MHD_HTTP_SEE_OTHER, &pg, cookie, location);
}

static void set_cookie(const struct demo *d, const struct session *s, char *out, size_t cap)
{
	/* No Secure flag: the demo runs on http://127.0.0.1. A real service
	 * is on https and adds it. */
	snprintf(out, cap, "%s=%s; Path=/; HttpOnly; SameSite=Lax", d->cookie, s->id);
}

/* ---- pages ---- */

static const char *claim(const json_t *a, const json_t *b, const char *name)
{
	const char *v = json_string_value(json_object_get(a, name));

	return v != NULL ? v : json_string_value(json_object_get(b, name));
}

static void add_claims(struct page *pg, const json_t *claims)
{
	const char *key;
	json_t *v;
	char *text;

	adds(pg, "<table><tr><th scope=\"col\">Donnée</th><th scope=\"col\">Valeur</th></tr>");
	json_object_foreach((json_t *)claims, key, v) {
		adds(pg, "<tr><td>");
		add_text(pg, key);
		adds(pg, "</td><td>");
		text = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		add_text(pg, text != NULL ? text : json_string_value(v));
		free(text);
		adds(pg, "</td></tr>");
	}
	adds(pg, "</table>");
}

/* amr (OpenID Core 2: an array of method names, RFC 8176): how the citizen
 * proved who they are, e.g. pwd and otp at eidas2. Shown when the provider
 * said. */
static void add_amr(struct page *pg, const json_t *claims)
{
	const json_t *amr = json_object_get(claims, "amr"), *m;
	size_t i;

	if (!json_is_array(amr))
		return;
	adds(pg, "<p>Méthodes d'authentification (amr) : <span class=\"acr\" id=\"amr\">");
	json_array_foreach(amr, i, m) {
		if (i > 0)
			adds(pg, ", ");
		add_text(pg, json_string_value(m));
	}
	adds(pg, "</span></p>");
}

static enum MHD_Result home(struct demo *d, struct MHD_Connection *c, struct session *s)
{
	struct page pg = { 0 };

	if (s == NULL || s->claims == NULL) {
		page_start(&pg, d, "Bienvenue");
		adds(&pg, "<p>Pour accéder à vos démarches, connectez-vous avec votre compte "
			  "d'identité numérique.</p><p><a class=\"button\" href=\"/login\">"
			  "Se connecter</a></p>");
		page_end(&pg);
		return send_page(c, MHD_HTTP_OK, &pg, NULL, NULL);
	}
	page_start(&pg, d, "Votre espace");
	adds(&pg, "<p>Bonjour ");
	add_text(&pg, claim(s->userinfo, s->claims, "given_name"));
	adds(&pg, " ");
	add_text(&pg, claim(s->userinfo, s->claims, "family_name"));
	adds(&pg, ", vous êtes connecté(e).</p><p>Niveau d'authentification (acr) : "
		  "<span class=\"acr\" id=\"acr\">");
	add_text(&pg, json_string_value(json_object_get(s->claims, "acr")));
	adds(&pg, "</span></p>");
	add_amr(&pg, s->claims);
	adds(&pg, "<h2>Données vérifiées du jeton d'identité</h2>");
	add_claims(&pg, s->claims);
	if (s->userinfo != NULL) {
		adds(&pg, "<h2>Données transmises par le fournisseur (userinfo)</h2>");
		add_claims(&pg, s->userinfo);
	}
	if (d->data_url != NULL) {
		adds(&pg, "<h2>Données d'une autre administration</h2>");
		if (s->data_status == 200 && json_is_object(s->data)) {
			adds(&pg, "<div id=\"data\">");
			add_claims(&pg, s->data);
			adds(&pg, "</div>");
		} else if (s->data_status == 401 || s->data_status == 403) {
			adds(&pg, s->data_status == 403
					  ? "<p id=\"data-refused\">Vous n'avez pas accepté de partager ces "
					    "données : l'administration qui les détient les refuse à ce service "
					    "(réponse <span id=\"data-status\">"
					  : "<p id=\"data-refused\">L'administration qui détient ces données ne "
					    "les transmet plus à ce service : votre accord a été retiré, ou "
					    "l'accès a pris fin (réponse <span id=\"data-status\">");
			char st[16];
			snprintf(st, sizeof(st), "%ld", s->data_status);
			adds(&pg, st);
			adds(&pg, "</span>).</p>");
		} else {
			adds(&pg, "<p id=\"data-unavailable\">L'administration qui détient ces données "
				  "n'a pas pu les transmettre.</p>");
		}
		adds(&pg, "<form method=\"post\" action=\"/data\"><input type=\"hidden\" "
			  "name=\"csrf\" value=\"");
		add_text(&pg, s->csrf);
		adds(&pg, "\"><p><button id=\"data-again\">Redemander ces données à "
			  "l'administration</button></p></form>");
	}
	adds(&pg, "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" "
		  "value=\"");
	add_text(&pg, s->csrf);
	adds(&pg, "\"><p><button>Se déconnecter</button></p></form>");
	page_end(&pg);
	return send_page(c, MHD_HTTP_OK, &pg, NULL, NULL);
}

/* code: the provider's error code, shown beside the text so that a citizen
 * can quote it to the help desk; NULL when the provider sent none. */
static enum MHD_Result error_page(struct demo *d, struct MHD_Connection *c, unsigned status,
				  const char *text, const char *code)
{
	struct page pg = { 0 };

	page_start(&pg, d, "La connexion n'a pas abouti");
	adds(&pg, "<p role=\"alert\">");
	add_text(&pg, text);
	adds(&pg, "</p>");
	if (code != NULL && code[0] != '\0') {
		adds(&pg, "<p>Code d'erreur : <code id=\"oauth-error\">");
		add_text(&pg, code);
		adds(&pg, "</code></p>");
	}
	adds(&pg, "<p><a href=\"/\">Revenir à l'accueil</a></p>");
	page_end(&pg);
	return send_page(c, status, &pg, NULL, NULL);
}

/* Plain words for the citizen; the details go to the log. */
static const char *explain(const struct rp_error *err)
{
	if (err->code == RP_E_ACR)
		return "Ce service demande un niveau d'authentification plus élevé que celui "
		       "de votre connexion. Veuillez vous connecter avec un moyen "
		       "d'identification plus sûr.";
	if (err->code == RP_E_STATE)
		return "Cette connexion n'a pas été demandée depuis ce navigateur, ou elle a "
		       "expiré. Veuillez recommencer.";
	if (err->code == RP_E_PROVIDER_ERROR && strcmp(err->oauth_error, "access_denied") == 0)
		return "Vous avez annulé la connexion.";
	if (err->code == RP_E_PROVIDER_ERROR && strcmp(err->oauth_error, "login_required") == 0)
		return "Vous n'êtes pas connecté(e) auprès du fournisseur d'identité. "
		       "Veuillez vous connecter.";
	if (err->code == RP_E_NETWORK || err->code == RP_E_HTTP)
		return "Le fournisseur d'identité ne répond pas. Veuillez réessayer dans "
		       "quelques minutes.";
	return "Une erreur technique est survenue. Veuillez recommencer.";
}

/* The provider vouched for a weaker authentication than this service
 * asked for (acr below --acr): no session, and a page that says why. */
static enum MHD_Result acr_page(struct demo *d, struct MHD_Connection *c)
{
	struct page pg = { 0 };

	page_start(&pg, d, "Niveau d'authentification insuffisant");
	adds(&pg, "<p role=\"alert\" id=\"acr-refused\">Ce service demande un niveau "
		  "d'authentification d'au moins <strong>");
	add_text(&pg, d->acr);
	adds(&pg, "</strong>. Le fournisseur d'identité a confirmé un niveau plus faible : "
		  "vous n'êtes pas connecté(e). Veuillez vous reconnecter avec un moyen "
		  "d'identification plus sûr.</p><p><a href=\"/\">Revenir à l'accueil</a></p>");
	page_end(&pg);
	return send_page(c, MHD_HTTP_FORBIDDEN, &pg, NULL, NULL);
}

/* v if it is one of allowed (NULL-terminated), else NULL. */
static const char *one_of(const char *v, const char *const *allowed)
{
	for (; v != NULL && *allowed != NULL; allowed++)
		if (strcmp(v, *allowed) == 0)
			return v;
	return NULL;
}

/* GET /login[?prompt=none|login][&ui_locales=fr|en]: a portal may try a
 * silent login (prompt=none) or show the provider in the citizen's language;
 * only these known values are passed on. */
static enum MHD_Result login(struct demo *d, struct MHD_Connection *c, struct session *s)
{
	const char *prompt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "prompt");
	const char *lang = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "ui_locales");
	static const char *const prompts[] = { "none", "login", NULL };
	static const char *const langs[] = { "fr", "en", NULL };
	struct rp_auth_params params = { .scope = d->scope, .acr_values = d->acr,
					 .prompt = one_of(prompt, prompts),
					 .ui_locales = one_of(lang, langs) != NULL ? lang : "fr" };
	struct rp_error err;
	char cookie[160], *url;

	pthread_mutex_lock(&d->lock);
	if (s == NULL)
		s = session_new(d);
	rp_auth_request_release(&s->pending);
	if (rp_auth_url(d->rp, &params, &s->pending, &err) != RP_OK) {
		pthread_mutex_unlock(&d->lock);
		fprintf(stderr, "rp-demo: %s\n", err.message);
		return error_page(d, c, MHD_HTTP_BAD_GATEWAY, explain(&err), NULL);
	}
	url = strdup(s->pending.url);
	set_cookie(d, s, cookie, sizeof(cookie));
	pthread_mutex_unlock(&d->lock);
	if (url == NULL)
		return MHD_NO;
	enum MHD_Result ret = redirect(c, url, cookie);
	free(url);
	return ret;
}

/* MHD hands the query back decoded, argument by argument: encode it again
 * for rp_parse_callback(), which wants the raw form. */
static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
				   const char *value)
{
	static const char hex[] = "0123456789ABCDEF";
	struct page *q = cls;
	const char *parts[2] = { key, value != NULL ? value : "" };
	int i;

	(void)kind;
	if (q->len > 0)
		adds(q, "&");
	for (i = 0; i < 2; i++) {
		const unsigned char *p = (const unsigned char *)parts[i];
		for (; *p != '\0'; p++) {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };
			if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~", *p) != NULL)
				add(q, (const char *)p, 1);
			else
				add(q, e, 3);
		}
		if (i == 0)
			adds(q, "=");
	}
	return MHD_YES;
}

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
	struct page *b = cls;

	if (b->len + size * n > 16384) /* a quotient is a few bytes: refuse more */
		return 0;
	add(b, p, size * n);
	return size * n;
}

/* GET url with the access token (RFC 6750 2.1); the status, and *out the
 * JSON answer of a 200. Bounded in time and size. */
static long fetch_data(const char *url, const char *token, json_t **out)
{
	CURL *h = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct page b = { 0 };
	char *auth = NULL;
	long status = 0;

	*out = NULL;
	if (h != NULL && asprintf(&auth, "Authorization: Bearer %s", token) >= 0 &&
	    (hdr = curl_slist_append(NULL, auth)) != NULL) {
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
		curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
		if (curl_easy_perform(h) == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	}
	if (status == 200 && b.p != NULL)
		*out = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, NULL);
	if (auth != NULL) {
		OPENSSL_cleanse(auth, strlen(auth));
		free(auth);
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	free(b.p);
	return status;
}

static enum MHD_Result callback(struct demo *d, struct MHD_Connection *c, struct session *s)
{
	struct rp_auth_request pending;
	struct rp_tokens tok = { 0 };
	struct rp_error err = { 0 };
	struct page q = { 0 };
	json_t *claims = NULL, *info = NULL, *data = NULL;
	char *code = NULL, *signed_id = NULL, cookie[160];
	long data_status = 0;
	int rc;

	/* Take this browser's pending login out of the session: one use. */
	pthread_mutex_lock(&d->lock);
	if (s == NULL || s->pending.state == NULL) {
		pthread_mutex_unlock(&d->lock);
		err.code = RP_E_STATE;
		return error_page(d, c, MHD_HTTP_BAD_REQUEST, explain(&err), NULL);
	}
	pending = s->pending;
	memset(&s->pending, 0, sizeof(s->pending));
	pthread_mutex_unlock(&d->lock);

	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
	if ((rc = rp_parse_callback(d->rp, q.p != NULL ? q.p : "", pending.state, &code,
				    &err)) != RP_OK ||
	    (rc = rp_exchange_code(d->rp, code, pending.code_verifier, &tok, &err)) != RP_OK ||
	    (rc = rp_verify_id_token_jws(d->rp, tok.id_token, pending.nonce, &claims, &signed_id,
					 &err)) != RP_OK)
		goto fail;
	/* Userinfo is a bonus here: the ID token already says who it is. */
	if (rp_userinfo(d->rp, tok.access_token, json_string_value(json_object_get(claims, "sub")),
			&info, &err) != RP_OK)
		fprintf(stderr, "rp-demo: userinfo: %s\n", err.message);
	if (d->data_url != NULL) {
		data_status = fetch_data(d->data_url, tok.access_token, &data);
		fprintf(stderr, "rp-demo: the data provider answered %ld\n", data_status);
	}

	pthread_mutex_lock(&d->lock);
	/* A new session id after login: a fixated one is worth nothing. */
	session_clear(s);
	s = session_new(d);
	/* The signed token, not an encrypted one: the logout's id_token_hint. */
	s->id_token = signed_id;
	signed_id = NULL;
	s->claims = claims;
	s->userinfo = info;
	s->data = data;
	s->data_status = data_status;
	s->access_token = tok.access_token;
	tok.access_token = NULL;
	claims = info = data = NULL;
	set_cookie(d, s, cookie, sizeof(cookie));
	pthread_mutex_unlock(&d->lock);
	fprintf(stderr, "rp-demo: login ok\n");
	free(q.p);
	free(code);
	rp_tokens_release(&tok);
	rp_auth_request_release(&pending);
	return redirect(c, "/", cookie);
fail:
	fprintf(stderr, "rp-demo: login refused: %s\n", err.message);
	free(signed_id);
	free(q.p);
	free(code);
	json_decref(claims);
	rp_tokens_release(&tok);
	rp_auth_request_release(&pending);
	if (rc == RP_E_ACR)
		return acr_page(d, c);
	return error_page(d, c, rc == RP_E_STATE ? MHD_HTTP_BAD_REQUEST : MHD_HTTP_BAD_GATEWAY,
			  explain(&err), rc == RP_E_PROVIDER_ERROR ? err.oauth_error : NULL);
}

/* POST /data: the data provider asked again with the session's access
 * token, which may since have been revoked (the citizen withdrew consent
 * at the provider's /account): the page then shows the refusal. */
static enum MHD_Result data_again(struct demo *d, struct MHD_Connection *c, struct session *s,
				  const char *csrf)
{
	json_t *data = NULL;
	char *token = NULL;
	long status;

	pthread_mutex_lock(&d->lock);
	if (s != NULL && s->claims != NULL && s->access_token != NULL && d->data_url != NULL &&
	    csrf != NULL && strlen(csrf) == 64 && CRYPTO_memcmp(csrf, s->csrf, 64) == 0)
		token = strdup(s->access_token);
	pthread_mutex_unlock(&d->lock);
	if (token == NULL)
		return redirect(c, "/", NULL);
	status = fetch_data(d->data_url, token, &data);
	fprintf(stderr, "rp-demo: the data provider answered %ld (asked again)\n", status);
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	pthread_mutex_lock(&d->lock);
	json_decref(s->data);
	s->data = data;
	s->data_status = status;
	pthread_mutex_unlock(&d->lock);
	return redirect(c, "/", NULL);
}

static enum MHD_Result logout(struct demo *d, struct MHD_Connection *c, struct session *s,
			      const char *csrf)
{
	struct rp_error err;
	char back[96], id[65], state[65], *url = NULL, *hint = NULL;
	struct page pg = { 0 };

	pthread_mutex_lock(&d->lock);
	if (s == NULL || s->claims == NULL || csrf == NULL || strlen(csrf) != 64 ||
	    CRYPTO_memcmp(csrf, s->csrf, 64) != 0) {
		pthread_mutex_unlock(&d->lock);
		return redirect(c, "/", NULL);
	}
	hint = s->id_token;
	s->id_token = NULL;
	/* The local session ends here, whatever the provider says; the slot
	 * (same cookie) keeps only the state that /logged-out will check. */
	memcpy(id, s->id, sizeof(id));
	session_clear(s);
	memcpy(s->id, id, sizeof(id));
	hex_random(s->csrf);
	hex_random(s->logout_state);
	s->last = time(NULL);
	memcpy(state, s->logout_state, sizeof(state));
	pthread_mutex_unlock(&d->lock);
	snprintf(back, sizeof(back), "%s/logged-out", d->base);
	if (rp_logout_url(d->rp, hint, back, state, &url, &err) != RP_OK) {
		fprintf(stderr, "rp-demo: logout: %s\n", err.message);
		free(hint);
		pthread_mutex_lock(&d->lock);
		s->logout_state[0] = '\0';
		pthread_mutex_unlock(&d->lock);
		page_start(&pg, d, "Vous êtes déconnecté(e) de ce service");
		adds(&pg, "<p>Votre session est terminée ici, mais le fournisseur d'identité n'a "
			  "pas pu être joint : fermez votre navigateur pour terminer aussi la "
			  "session chez lui.</p><p><a href=\"/\">Revenir à l'accueil</a></p>");
		page_end(&pg);
		return send_page(c, MHD_HTTP_BAD_GATEWAY, &pg, NULL, NULL);
	}
	free(hint);
	enum MHD_Result ret = redirect(c, url, NULL);
	free(url);
	return ret;
}

/* Back from the provider's logout: the state must be the one this
 * browser's logout sent, once, or the page was not reached through our
 * logout (a forged link, a replay) and says nothing about the provider. */
static enum MHD_Result logged_out(struct demo *d, struct MHD_Connection *c, struct session *s)
{
	const char *state = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
	struct page pg = { 0 };
	bool ok;

	pthread_mutex_lock(&d->lock);
	ok = s != NULL && s->logout_state[0] != '\0' && state != NULL && strlen(state) == 64 &&
	     CRYPTO_memcmp(state, s->logout_state, 64) == 0;
	if (s != NULL)
		s->logout_state[0] = '\0'; /* one use, right or wrong */
	pthread_mutex_unlock(&d->lock);
	if (!ok) {
		fprintf(stderr, "rp-demo: /logged-out with a %s state\n",
			state == NULL ? "missing" : "wrong");
		page_start(&pg, d, "Déconnexion non reconnue");
		adds(&pg, "<p role=\"alert\">Cette page de fin de session n'a pas été demandée "
			  "depuis ce navigateur.</p><p><a href=\"/\">Revenir à l'accueil</a></p>");
		page_end(&pg);
		return send_page(c, MHD_HTTP_BAD_REQUEST, &pg, NULL, NULL);
	}
	page_start(&pg, d, "Vous êtes déconnecté(e)");
	adds(&pg, "<p>Votre session est terminée, ici et chez le fournisseur "
		  "d'identité.</p><p><a href=\"/\">Revenir à l'accueil</a></p>");
	page_end(&pg);
	return send_page(c, MHD_HTTP_OK, &pg, NULL, NULL);
}

/* A logout token longer than this is refused (ours are about 1 kB). */
#define MAX_LOGOUT_TOKEN 16384

struct upload {
	char csrf[65];
	char *logout_token;     /* POST /backchannel-logout's field, NUL-terminated */
	bool too_big;
	struct MHD_PostProcessor *pp;
};

/* Ends the local sessions a verified logout token names: by sid when it has
 * one (the ID token's sid of that login), by sub otherwise. */
static size_t end_sessions(struct demo *d, const json_t *lt)
{
	const char *sid = json_string_value(json_object_get(lt, "sid"));
	const char *sub = json_string_value(json_object_get(lt, "sub"));
	size_t ended = 0;

	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < MAX_SESSIONS; i++) {
		struct session *s = &d->sessions[i];
		const char *v;

		if (s->id[0] == '\0' || s->claims == NULL)
			continue;
		v = json_string_value(json_object_get(s->claims, sid != NULL ? "sid" : "sub"));
		if (v != NULL && strcmp(v, sid != NULL ? sid : sub) == 0) {
			session_clear(s);
			ended++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return ended;
}

/* Back-Channel Logout 1.0, 2.8: 200 once the sessions are ended, 400 with
 * an OAuth error for a token that does not verify; never cached. */
static enum MHD_Result backchannel_logout(struct demo *d, struct MHD_Connection *c,
					  const struct upload *up)
{
	struct MHD_Response *r;
	struct rp_error err;
	json_t *lt = NULL;
	const char *body;
	unsigned status;
	enum MHD_Result ret;
	int rc;

	if (up->logout_token == NULL || up->too_big) {
		rc = RP_E_INVAL;
		snprintf(err.message, sizeof(err.message), "no logout_token (or one too long)");
	} else {
		rc = rp_verify_logout_token(d->rp, up->logout_token, &lt, &err);
	}
	if (rc == RP_OK) {
		fprintf(stderr, "rp-demo: back-channel logout: %zu session(s) ended\n", end_sessions(d, lt));
		status = MHD_HTTP_OK;
		body = "";
	} else {
		fprintf(stderr, "rp-demo: back-channel logout refused: %s\n", err.message);
		status = MHD_HTTP_BAD_REQUEST;
		body = "{\"error\":\"invalid_request\"}";
	}
	json_decref(lt);
	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (status != MHD_HTTP_OK)
		MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* The service's public keys, for the provider (its jwks_uri). */
static enum MHD_Result send_jwks(struct demo *d, struct MHD_Connection *c)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(d->jwks), d->jwks, MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "max-age=300");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
				const char *filename, const char *content_type,
				const char *transfer_encoding, const char *data, uint64_t off,
				size_t size)
{
	struct upload *up = cls;

	(void)kind;
	(void)filename;
	(void)content_type;
	(void)transfer_encoding;
	if (strcmp(key, "csrf") == 0 && off + size < sizeof(up->csrf)) {
		memcpy(up->csrf + off, data, size);
		up->csrf[off + size] = '\0';
	}
	if (strcmp(key, "logout_token") == 0) {
		char *p;

		if (up->too_big || off + size > MAX_LOGOUT_TOKEN ||
		    (p = realloc(up->logout_token, off + size + 1)) == NULL) {
			up->too_big = true;
			return MHD_YES;
		}
		memcpy(p + off, data, size);
		p[off + size] = '\0';
		up->logout_token = p;
	}
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **req_cls)
{
	struct demo *d = cls;
	struct upload *up = *req_cls;
	struct session *s;
	struct page pg = { 0 };
	const char *id;

	(void)version;
	if (up == NULL) {
		if ((up = calloc(1, sizeof(*up))) == NULL)
			return MHD_NO;
		if (strcmp(method, "POST") == 0)
			up->pp = MHD_create_post_processor(c, 1024, on_field, up);
		*req_cls = up;
		return MHD_YES;
	}
	if (*size != 0) {
		if (up->pp != NULL)
			MHD_post_process(up->pp, data, *size);
		*size = 0;
		return MHD_YES;
	}
	id = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, d->cookie);
	pthread_mutex_lock(&d->lock);
	s = session_find(d, id);
	pthread_mutex_unlock(&d->lock);
	/* s stays valid: sessions are only cleared by the request that owns them,
	 * by expiry, or by a back-channel logout (which a request of the same
	 * session racing it may outlive: a demo, with one browser per session). */
	if (strcmp(url, "/") == 0 && strcmp(method, "GET") == 0) {
		enum MHD_Result ret;
		pthread_mutex_lock(&d->lock);
		ret = home(d, c, s);
		pthread_mutex_unlock(&d->lock);
		return ret;
	}
	if (strcmp(url, "/login") == 0 && strcmp(method, "GET") == 0)
		return login(d, c, s);
	if (strcmp(url, "/callback") == 0 && strcmp(method, "GET") == 0)
		return callback(d, c, s);
	if (strcmp(url, "/logout") == 0 && strcmp(method, "POST") == 0)
		return logout(d, c, s, up->csrf);
	if (strcmp(url, "/data") == 0 && strcmp(method, "POST") == 0)
		return data_again(d, c, s, up->csrf);
	if (strcmp(url, "/logged-out") == 0 && strcmp(method, "GET") == 0)
		return logged_out(d, c, s);
	if (strcmp(url, "/backchannel-logout") == 0 && strcmp(method, "POST") == 0)
		return backchannel_logout(d, c, up);
	if (strcmp(url, "/jwks.json") == 0 && strcmp(method, "GET") == 0 && d->jwks != NULL)
		return send_jwks(d, c);
	page_start(&pg, d, "Page introuvable");
	adds(&pg, "<p><a href=\"/\">Revenir à l'accueil</a></p>");
	page_end(&pg);
	return send_page(c, MHD_HTTP_NOT_FOUND, &pg, NULL, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (up != NULL) {
		if (up->pp != NULL)
			MHD_destroy_post_processor(up->pp);
		free(up->logout_token);
		free(up);
		*req_cls = NULL;
	}
}

static void free_pem(char *pem)
{
	if (pem != NULL) {
		OPENSSL_cleanse(pem, strlen(pem));
		free(pem);
	}
}

static void usage(const char *argv0)
{
	fprintf(stderr, "usage: %s --port N --name NAME --issuer URL --client-id ID\n"
		"       [--acr eidas1] [--scope 'openid profile email'] [--http-loopback]\n"
		"       [--port-file FILE] [--data-url URL]  (client secret in RP_CLIENT_SECRET)\n"
		"       [--client-key FILE.pem [--client-key-kid KID] [--client-key-alg PS256]]\n"
		"       [--decryption-key FILE.pem] [--jwks FILE.json]  (a service with keys)\n", argv0);
}

/* A small file whole (a PEM key, a JWKS), NUL-terminated; NULL when it
 * cannot be read or is over 64 KiB. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *p = NULL;
	size_t n = 0;

	if (f != NULL && (p = malloc(65537)) != NULL) {
		n = fread(p, 1, 65537, f);
		if (ferror(f) || n > 65536) {
			free(p);
			p = NULL;
		} else {
			p[n] = '\0';
		}
	}
	if (f != NULL)
		fclose(f);
	return p;
}

/* The settings of a service with keys; 0, or 1 with the reason printed. */
static int set_keys(struct rp_config *rp, const char *key_file, const char *kid, const char *alg,
		    const char *dec_file)
{
	char *pem;
	int rc = 0;

	if (key_file != NULL) {
		pem = slurp(key_file);
		if (pem == NULL || rp_config_set_client_key(rp, pem, kid) != RP_OK ||
		    (alg != NULL && rp_config_set_client_key_alg(rp, alg) != RP_OK)) {
			fprintf(stderr, "rp-demo: --client-key %s: not a private key (EC P-256 or "
				"RSA) for %s\n", key_file, alg != NULL ? alg : "its default alg");
			rc = 1;
		}
		free_pem(pem);
	}
	if (rc == 0 && dec_file != NULL) {
		pem = slurp(dec_file);
		if (pem == NULL || rp_config_set_decryption_key(rp, pem) != RP_OK) {
			fprintf(stderr, "rp-demo: --decryption-key %s: not a private key\n", dec_file);
			rc = 1;
		}
		free_pem(pem);
	}
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "name", required_argument, NULL, 'n' },
		{ "issuer", required_argument, NULL, 'i' },
		{ "client-id", required_argument, NULL, 'c' },
		{ "acr", required_argument, NULL, 'a' }, { "scope", required_argument, NULL, 's' },
		{ "http-loopback", no_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "data-url", required_argument, NULL, 'u' },
		{ "client-key", required_argument, NULL, 'k' },
		{ "client-key-kid", required_argument, NULL, 'K' },
		{ "client-key-alg", required_argument, NULL, 'A' },
		{ "decryption-key", required_argument, NULL, 'd' },
		{ "jwks", required_argument, NULL, 'j' }, { NULL, 0, NULL, 0 },
	};
	static struct demo d; /* big: the session table */
	const char *issuer = NULL, *client_id = NULL, *port_file = NULL, *key_file = NULL,
		   *key_kid = NULL, *key_alg = NULL, *dec_file = NULL, *jwks_file = NULL, *secret;
	struct MHD_Daemon *mhd;
	sigset_t sigs;
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	int fd, one = 1;
	struct rp_error err;
	char redirect_uri[96];
	bool loopback = false;
	long port = -1;
	int opt;
	size_t i;

	d.name = "Service démo";
	d.acr = "eidas1";
	d.scope = "openid profile email";
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'n': d.name = optarg; break;
		case 'i': issuer = optarg; break;
		case 'c': client_id = optarg; break;
		case 'a': d.acr = optarg; break;
		case 's': d.scope = optarg; break;
		case 'l': loopback = true; break;
		case 'f': port_file = optarg; break;
		case 'u': d.data_url = optarg; break;
		case 'k': key_file = optarg; break;
		case 'K': key_kid = optarg; break;
		case 'A': key_alg = optarg; break;
		case 'd': dec_file = optarg; break;
		case 'j': jwks_file = optarg; break;
		default: usage(argv[0]); return 2;
		}
	}
	if (port < 0 || port > 65535 || issuer == NULL || client_id == NULL) {
		usage(argv[0]);
		return 2;
	}
	if (jwks_file != NULL) {
		json_t *set = (d.jwks = slurp(jwks_file)) != NULL ? json_loads(d.jwks, 0, NULL) : NULL;
		bool ok = json_is_array(json_object_get(set, "keys"));

		json_decref(set);
		if (!ok) {
			fprintf(stderr, "rp-demo: --jwks %s: not a JWKS ({\"keys\": [...]})\n", jwks_file);
			free(d.jwks);
			return 1;
		}
	}
	/* SIGINT and SIGTERM blocked in every thread MHD starts, and waited
	 * for in this one: a handler could run on any thread. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	pthread_mutex_init(&d.lock, NULL);
	/* Bound here, not by MHD: the redirect URI needs the port (--port 0
	 * lets the kernel pick it), and the rp config must be complete before
	 * any MHD thread can read it (the setters are not thread-safe). */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr, "rp-demo: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	snprintf(d.base, sizeof(d.base), "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	snprintf(d.cookie, sizeof(d.cookie), "demo%u_sid", (unsigned)ntohs(sa.sin_port));
	snprintf(redirect_uri, sizeof(redirect_uri), "%s/callback", d.base);
	/* An empty secret is none (a service with keys has none). */
	secret = getenv("RP_CLIENT_SECRET");
	d.rp = rp_config_new(issuer, client_id, secret != NULL && secret[0] != '\0' ? secret : NULL,
			     redirect_uri, &err);
	if (d.rp == NULL) {
		fprintf(stderr, "rp-demo: %s\n", err.message);
		close(fd);
		return 1;
	}
	if (set_keys(d.rp, key_file, key_kid, key_alg, dec_file) != 0) {
		rp_config_free(d.rp);
		close(fd);
		return 1;
	}
	/* The acr asked for is also the least accepted: a provider may answer
	 * a weaker one (acr_values is only a wish, OpenID Connect Core 3.1.2.1). */
	if (rp_config_set_http_loopback(d.rp, loopback) != RP_OK ||
	    rp_config_set_min_acr(d.rp, d.acr, NULL) != RP_OK) {
		fprintf(stderr, "rp-demo: --acr \"%s\" is not one of eidas1 eidas2 eidas3\n",
			d.acr);
		rp_config_free(d.rp);
		close(fd);
		return 1;
	}
	mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
			       handle, &d, MHD_OPTION_LISTEN_SOCKET, fd,
			       MHD_OPTION_THREAD_POOL_SIZE, 4u, MHD_OPTION_NOTIFY_COMPLETED,
			       completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			       MHD_OPTION_END);
	if (mhd == NULL) {
		fprintf(stderr, "rp-demo: cannot start the HTTP server on %s\n", d.base);
		rp_config_free(d.rp);
		close(fd);
		return 1;
	}
	if (port_file != NULL) {
		FILE *f = fopen(port_file, "w");
		if (f == NULL || fprintf(f, "%s\n", d.base) < 0 || fclose(f) != 0) {
			fprintf(stderr, "rp-demo: cannot write %s\n", port_file);
			return 1;
		}
	}
	fprintf(stderr, "rp-demo: %s on %s, provider %s, client %s\n", d.name, d.base, issuer,
		client_id);
	sigwait(&sigs, &opt);
	MHD_stop_daemon(mhd);
	for (i = 0; i < MAX_SESSIONS; i++)
		session_clear(&d.sessions[i]);
	rp_config_free(d.rp);
	free(d.jwks);
	pthread_mutex_destroy(&d.lock);
	return 0;
}
