/* The HTTP layer: event loops, each a libmicrohttpd daemon in external epoll
 * mode whose requests run as fibers (fiber.h), strict parameter parsing, and
 * replies that always carry the security headers. */
#include "idp.h"
#include "fiber.h"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CSP_BASE "default-src 'none'; style-src 'self'; img-src 'self' data:; " \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The longest a loop sleeps. At its connection limit libmicrohttpd 0.9.75
 * stops watching the listening socket and watches it again only on its next
 * run after a connection closed, and MHD_get_timeout may then say "no
 * timeout": an unbounded wait would never accept again. 100 ms lets a full
 * daemon take new connections well within a second of a slot freeing, for
 * ten idle wake-ups a second. */
#define LOOP_WAIT_MAX_MS 100

/* Room kept in each connection's pool for the answer's headers. */
#define HEAD_REPLY_RESERVE 4096

/* A connection's deadline to finish sending its request. libmicrohttpd's
 * connection timeout counts idle time only: a head or a body trickled a byte
 * at a time would hold a slot for ever. */
struct conn_watch {
	struct conn_watch *prev, *next;
	MHD_socket fd;
	int64_t deadline; /* mono_ms; 0 while its request is being answered */
	struct req *req;  /* the request whose head is being read, if any */
};

static struct conn_watch *conn_watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Strict percent-decoding: a '%' not followed by two hex digits, an encoded
 * NUL or a result that is not UTF-8 is refused, never repaired. */
char *form_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t o = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= len) {
				free(out);
				return NULL;
			}
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '\0') {
			free(out);
			return NULL;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	if (!utf8_valid(out, o)) {
		free(out);
		return NULL;
	}
	return out;
}

void params_clear(struct params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free_secret(p->v[i].name);
		free_secret(p->v[i].value); /* may be a password or a code */
	}
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int params_parse(const char *s, size_t len, size_t max_params, struct params *out)
{
	const char *end = s + len;
	size_t cap = 0;

	memset(out, 0, sizeof(*out));
	if (len == 0)
		return IDP_OK;
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s)), *eq;
		const char *pend = amp ? amp : end;
		char *name, *value;

		if (pend == s) { /* empty pair ("a=1&&b=2") */
			s = pend + 1;
			continue;
		}
		if (out->n == max_params)
			return IDP_ETOOBIG;
		/* Grown as needed: a request has a few parameters, and an array
		 * for max_params at once (1 kB) is an allocation glibc serves by
		 * consolidating its free lists, on every request. */
		if (out->n == cap) {
			size_t ncap = cap == 0 ? 16 : cap * 2;
			struct param *nv;

			if (ncap > max_params)
				ncap = max_params;
			if ((nv = realloc(out->v, ncap * sizeof(*nv))) == NULL)
				return IDP_ENOMEM;
			out->v = nv;
			cap = ncap;
		}
		eq = memchr(s, '=', (size_t)(pend - s));
		name = form_decode(s, (size_t)((eq ? eq : pend) - s));
		value = eq ? form_decode(eq + 1, (size_t)(pend - eq - 1)) : strdup("");
		if (name == NULL || value == NULL || name[0] == '\0') {
			free(name);
			free_secret(value);
			return IDP_EINVAL;
		}
		for (size_t i = 0; i < out->n && out->dup == NULL; i++)
			if (strcmp(out->v[i].name, name) == 0)
				out->dup = out->v[i].name;
		out->v[out->n].name = name;
		out->v[out->n].value = value;
		out->n++;
		s = pend + 1;
	}
	return IDP_OK;
}

/* RFC 6749 3.1: a parameter sent without a value is treated as omitted. */
const char *params_get(const struct params *p, const char *name)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->v[i].name, name) == 0)
			return p->v[i].value[0] ? p->v[i].value : NULL;
	return NULL;
}

const char *req_header(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *req_cookie(struct req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const struct params *req_params(struct req *r)
{
	return r->is_post ? &r->form : &r->query;
}

void req_add_header(struct req *r, const char *name, const char *value)
{
	if (r->n_hdrs == sizeof(r->hdrs) / sizeof(r->hdrs[0]))
		return;
	r->hdrs[r->n_hdrs].name = strdup(name);
	r->hdrs[r->n_hdrs].value = strdup(value);
	r->n_hdrs++;
}

const char *cookie_name(const struct config *cfg, const char *base, char out[64])
{
	/* Cookies do not tell ports apart: two providers on one host (a hub and
	 * its upstream) need different names, hence the configurable prefix. */
	snprintf(out, 64, "%s%s_%s", cfg->issuer_https ? "__Host-" : "", cfg->cookie_prefix, base);
	return out;
}

void req_set_cookie(struct req *r, const char *base, const char *value, long max_age)
{
	char name[64], *line = NULL, age[48] = "";

	cookie_name(r->cfg, base, name);
	if (max_age >= 0)
		snprintf(age, sizeof(age), "; Max-Age=%ld", max_age);
	if (asprintf(&line, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s%s", name, value,
		     r->cfg->issuer_https ? "; Secure" : "", age) < 0)
		return;
	req_add_header(r, MHD_HTTP_HEADER_SET_COOKIE, line);
	free(line);
}

static enum MHD_Result reply_with(struct req *r, unsigned status, const char *ctype,
				  struct MHD_Response *resp, bool no_store)
{
	char *csp = NULL;

	if (resp == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	/* A form whose answer redirects to a service needs that origin in
	 * form-action: browsers apply it to the redirect as well. */
	if (r->csp_extra != NULL && asprintf(&csp, "%s %s", CSP_BASE, r->csp_extra) > 0)
		MHD_add_response_header(resp, "Content-Security-Policy", csp);
	else
		MHD_add_response_header(resp, "Content-Security-Policy", CSP_BASE);
	free(csp);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	if (r->cfg != NULL && r->cfg->issuer_https)
		MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
	if (no_store) {
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
		MHD_add_response_header(resp, MHD_HTTP_HEADER_PRAGMA, "no-cache");
	}
	for (size_t i = 0; i < r->n_hdrs; i++)
		MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
	return http_send(r, status, resp);
}

enum MHD_Result http_send(struct req *r, unsigned status, struct MHD_Response *resp)
{
	if (resp == NULL)
		return MHD_NO;
	if (r->resp != NULL) { /* a second reply: the first one stands */
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	r->resp = resp;
	r->status = status;
	metrics_request(r->path, status);
	return MHD_YES;
}

enum MHD_Result http_reply(struct req *r, unsigned status, const char *ctype, const void *body,
			   size_t len, bool no_store)
{
	return reply_with(r, status, ctype,
			  MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY), no_store);
}

static void free_secret_cb(void *p)
{
	free_secret(p);
}

enum MHD_Result http_reply_owned(struct req *r, unsigned status, const char *ctype, char *text, size_t len)
{
	/* The response owns the text, no copy; wiped when sent: it holds tokens. */
	struct MHD_Response *resp = MHD_create_response_from_buffer_with_free_callback(len, text, free_secret_cb);

	if (resp == NULL) {
		free_secret(text);
		return MHD_NO;
	}
	return reply_with(r, status, ctype, resp, true);
}

enum MHD_Result http_json_text(struct req *r, unsigned status, char *text, size_t len)
{
	return http_reply_owned(r, status, "application/json", text, len);
}

enum MHD_Result http_json(struct req *r, unsigned status, const json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT);

	return s == NULL ? MHD_NO : http_json_text(r, status, s, strlen(s));
}

enum MHD_Result http_json_error(struct req *r, unsigned status, const char *error,
				const char *description)
{
	json_t *doc = json_pack("{s:s}", "error", error);
	enum MHD_Result ret;

	if (description != NULL)
		json_object_set_new(doc, "error_description", json_string(description));
	ret = http_json(r, status, doc);
	json_decref(doc);
	return ret;
}

/* Whether location is on our own origin (the issuer's). */
static bool is_own_origin(const struct config *cfg, const char *location)
{
	size_t n = strlen(cfg->issuer);

	return strncmp(location, cfg->issuer, n) == 0 && strchr("/?#", location[n]) != NULL;
}

enum MHD_Result http_redirect(struct req *r, const char *location)
{
	/* Chromium checks each redirect that follows a form post against the
	 * form page's form-action: another site's form cannot list the
	 * services we send its answer on to. A Refresh is a new navigation of
	 * ours, not the form's; the link is there for any browser without it. */
	if (r->from_foreign_form && !is_own_origin(r->cfg, location)) {
		json_t *ctx = json_pack("{s:s}", "location", location);
		char *refresh = NULL;
		enum MHD_Result ret;

		if (ctx == NULL || asprintf(&refresh, "0; url=%s", location) < 0) {
			json_decref(ctx);
			return http_error_page(r, 500, "bad_request");
		}
		req_add_header(r, "Refresh", refresh);
		ret = http_page(r, 200, "continue", ctx);
		json_decref(ctx);
		free(refresh);
		return ret;
	}
	req_add_header(r, MHD_HTTP_HEADER_LOCATION, location);
	/* 303 after a POST so that the browser follows with a GET. */
	return http_reply(r, r->is_post ? MHD_HTTP_SEE_OTHER : MHD_HTTP_FOUND, "text/plain", "", 0, true);
}

enum lang req_lang(struct req *r, const char *ui_locales)
{
	const char *al;

	/* ui_locales (OpenID Core 3.1.2.1): space-separated, by preference. */
	for (const char *p = ui_locales; p != NULL && *p;) {
		size_t n = strcspn(p, " ");

		if (n >= 2 && strncasecmp(p, "fr", 2) == 0 && (n == 2 || p[2] == '-'))
			return LANG_FR;
		if (n >= 2 && strncasecmp(p, "en", 2) == 0 && (n == 2 || p[2] == '-'))
			return LANG_EN;
		p += n;
		while (*p == ' ')
			p++;
	}
	/* Accept-Language: the first of fr or en in the order given. */
	if ((al = req_header(r, "Accept-Language")) != NULL) {
		for (const char *p = al; *p;) {
			while (*p == ' ' || *p == ',')
				p++;
			if (strncasecmp(p, "fr", 2) == 0)
				return LANG_FR;
			if (strncasecmp(p, "en", 2) == 0)
				return LANG_EN;
			p += strcspn(p, ",");
		}
	}
	return LANG_FR;
}

enum MHD_Result http_page(struct req *r, unsigned status, const char *tmpl, json_t *ctx)
{
	struct buf b;
	enum MHD_Result ret;
	int rc;

	static const char *const titles[][3] = {
		{"login", "Connexion", "Log in"}, {"consent", "Vos informations", "Your information"},
		{"error", "Erreur", "Error"}, {"logout", "Déconnexion", "Log out"},
		{"logged_out", "Déconnecté", "Logged out"}, {"choice", "Choix du compte", "Choose your account"},
		{"continue", "Retour au service", "Back to the service"}};

	buf_init(&b, 1 << 20);
	for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++)
		if (strcmp(titles[i][0], tmpl) == 0)
			json_object_set_new(ctx, "title", json_string(titles[i][1 + (r->lang == LANG_EN)]));
	json_object_set_new(ctx, "lang", json_string(lang_code(r->lang)));
	json_object_set_new(ctx, "issuer", json_string(r->cfg->issuer));
	rc = tmpl_render(r->rt->tmpl, r->lang, tmpl, ctx, &b);
	if (rc != IDP_OK) {
		buf_release(&b);
		static const char fallback[] = "<!DOCTYPE html><html lang=\"fr\"><title>Erreur</title>"
			"<p>Une erreur interne est survenue. Veuillez réessayer.</p></html>";
		return http_reply(r, 500, "text/html; charset=utf-8", fallback, sizeof(fallback) - 1, true);
	}
	ret = http_reply(r, status, "text/html; charset=utf-8", b.p, b.len, true);
	buf_release(&b);
	return ret;
}

enum MHD_Result http_error_page(struct req *r, unsigned status, const char *code)
{
	json_t *ctx = json_pack("{s:s,s:b}", "code", code, code, 1);
	enum MHD_Result ret = http_page(r, status, "error", ctx);

	json_decref(ctx);
	return ret;
}

static enum MHD_Result serve_css(struct req *r)
{
	size_t len;
	const char *css = tmpl_css(r->rt->tmpl, &len);
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)css, MHD_RESPMEM_PERSISTENT);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/css; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "public, max-age=3600");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Content-Security-Policy", CSP_BASE);
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	return http_send(r, 200, resp);
}

static enum MHD_Result method_not_allowed(struct req *r, const char *allow, bool json)
{
	char d[64];

	req_add_header(r, "Allow", allow);
	if (json) {
		snprintf(d, sizeof(d), "use %s", allow);
		return http_json_error(r, 405, "invalid_request", d);
	}
	return http_error_page(r, 405, "method");
}

static enum MHD_Result route(struct req *r)
{
	const char *p = r->path;
	bool get = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
	bool post = r->is_post;

	if (strcmp(p, "/.well-known/openid-configuration") == 0 && get)
		return ep_discovery(r);
	if (strcmp(p, "/jwks") == 0 && get)
		return ep_jwks(r);
	if (strcmp(p, "/authorize") == 0 && (get || post))
		return ep_authorize(r);
	if (strcmp(p, "/login") == 0 && post)
		return ep_login(r);
	if (strcmp(p, "/consent") == 0 && post)
		return ep_consent(r);
	if (strcmp(p, "/choose") == 0 && post)
		return ep_choose(r);
	if (strncmp(p, "/callback/", 10) == 0 && get)
		return ep_upstream_callback(r);
	if (strcmp(p, "/logout/return") == 0 && get)
		return ep_logout_return(r);
	if (strcmp(p, "/token") == 0 && post)
		return ep_token(r);
	if (strcmp(p, "/userinfo") == 0 && (get || post))
		return ep_userinfo(r);
	if ((strcmp(p, "/logout") == 0 || strcmp(p, "/session/end") == 0) && (get || post))
		return ep_logout(r);
	if (strcmp(p, "/static/style.css") == 0 && get)
		return serve_css(r);
	if (strcmp(p, "/healthz") == 0 && get)
		return http_reply(r, 200, "text/plain", "ok\n", 3, true);
	/* A known path with another method: 405 with Allow (RFC 9110 15.5.6),
	 * in JSON for the JSON endpoints. */
	if (strcmp(p, "/token") == 0)
		return method_not_allowed(r, "POST", true);
	if (strcmp(p, "/userinfo") == 0)
		return method_not_allowed(r, "GET, HEAD, POST", true);
	if (strcmp(p, "/login") == 0 || strcmp(p, "/consent") == 0 || strcmp(p, "/choose") == 0)
		return method_not_allowed(r, "POST", false);
	if (strcmp(p, "/authorize") == 0 || strcmp(p, "/logout") == 0 || strcmp(p, "/session/end") == 0)
		return method_not_allowed(r, "GET, HEAD, POST", false);
	if (strcmp(p, "/jwks") == 0 || strcmp(p, "/.well-known/openid-configuration") == 0)
		return method_not_allowed(r, "GET, HEAD", false);
	return http_error_page(r, 404, "not_found");
}

/* The JSON endpoints answer bad input in JSON, the pages with a page. */
static bool json_endpoint(const char *path)
{
	return strcmp(path, "/token") == 0 || strcmp(path, "/userinfo") == 0;
}

static enum MHD_Result refuse(struct req *r, unsigned status, const char *what)
{
	if (json_endpoint(r->path))
		return http_json_error(r, status, "invalid_request", what);
	return http_error_page(r, status, status == 413 || status == 414 ? "too_big" : "bad_request");
}

static enum MHD_Result dispatch(struct req *r)
{
	const char *ct;
	int rc;

	if (r->url_too_long)
		return refuse(r, 414, "the URL is too long");
	if (r->body_too_big)
		return refuse(r, 413, "the request body is too large");
	if (r->raw_query != NULL) {
		rc = params_parse(r->raw_query, strlen(r->raw_query), r->cfg->max_params, &r->query);
		if (rc != IDP_OK)
			return refuse(r, rc == IDP_ETOOBIG ? 413 : 400,
				      rc == IDP_ETOOBIG ? "too many parameters" : "malformed query string");
	}
	if (r->is_post) {
		ct = req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
		/* Only form posts: JSON or multipart bodies are refused, not guessed.
		 * An empty body has no type to check (POST /userinfo with the
		 * Bearer header, POST /logout): curl and most libraries send none. */
		if (r->body.len > 0 &&
		    (ct == NULL || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0 ||
		     (ct[33] != '\0' && ct[33] != ';')))
			return refuse(r, 415, "Content-Type must be application/x-www-form-urlencoded");
		rc = params_parse(r->body.p ? r->body.p : "", r->body.len, r->cfg->max_params, &r->form);
		if (rc != IDP_OK)
			return refuse(r, rc == IDP_ETOOBIG ? 413 : 400,
				      rc == IDP_ETOOBIG ? "too many parameters" : "malformed form body");
	}
	return route(r);
}

/* One address of a forwarding header, canonical (inet_ntop of inet_pton);
 * false when it is not a plain IPv4 or IPv6 address. */
static bool fwd_addr(const char *s, size_t len, char out[64])
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1)
		return inet_ntop(AF_INET, bin, out, 64) != NULL;
	if (inet_pton(AF_INET6, tmp, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, 64) != NULL;
	return false;
}

/* The for= value of one RFC 7239 element: "192.0.2.1", "192.0.2.1:80" or
 * "[2001:db8::1]:80" (quoted, the latter two must be). "unknown" and
 * obfuscated names are not addresses: they count as malformed. */
static bool fwd_for_value(const char *v, size_t len, char out[64])
{
	const char *close, *colon;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (len > 0 && v[0] == '[') {
		if ((close = memchr(v, ']', len)) == NULL)
			return false;
		if ((size_t)(close - v) + 1 != len && close[1] != ':')
			return false;
		return fwd_addr(v + 1, (size_t)(close - v - 1), out);
	}
	colon = memchr(v, ':', len);
	return fwd_addr(v, colon != NULL ? (size_t)(colon - v) : len, out);
}

/* Splits list on ',' and takes, from the right, the first hop that is not a
 * trusted proxy (a client may write anything to the left of what our proxies
 * appended). forwarded: RFC 7239 elements, else X-Forwarded-For addresses. */
static int fwd_client(const struct config *cfg, const char *list, bool forwarded, char out[64])
{
	const char *end = list + strlen(list);
	char hop[64];
	bool any = false;

	while (end > list) {
		const char *start = end;
		const char *s, *e;

		while (start > list && start[-1] != ',')
			start--;
		s = start;
		e = end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (forwarded) {
			const char *p = s, *v = NULL;
			size_t vlen = 0;

			while (p < e) { /* pairs separated by ';' */
				const char *q = memchr(p, ';', (size_t)(e - p));
				const char *pe = q != NULL ? q : e;

				while (p < pe && *p == ' ')
					p++;
				if (pe - p > 4 && strncasecmp(p, "for=", 4) == 0) {
					v = p + 4;
					vlen = (size_t)(pe - v);
					while (vlen > 0 && v[vlen - 1] == ' ')
						vlen--;
				}
				p = q != NULL ? q + 1 : e;
			}
			if (v == NULL || !fwd_for_value(v, vlen, hop))
				return IDP_EINVAL;
		} else if (!fwd_addr(s, (size_t)(e - s), hop)) {
			return IDP_EINVAL;
		}
		any = true;
		snprintf(out, 64, "%s", hop); /* all trusted: the leftmost is the client */
		if (!cidr_list_has(cfg->trusted_proxies, cfg->n_trusted_proxies, hop))
			return IDP_OK;
		end = start > list ? start - 1 : list;
	}
	return any ? IDP_OK : IDP_EINVAL;
}

struct hdr_join {
	const char *name;
	struct buf b;
	bool seen, bad;
};

/* Several headers of one name are one comma-separated list (RFC 9110 5.3). */
static enum MHD_Result hdr_join_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_join *j = cls;

	(void)kind;
	if (strcasecmp(key, j->name) != 0 || value == NULL)
		return MHD_YES;
	if ((j->seen && buf_adds(&j->b, ",") != IDP_OK) || buf_adds(&j->b, value) != IDP_OK)
		j->bad = true;
	j->seen = true;
	return MHD_YES;
}

int http_client_address(const struct config *cfg, const char *peer, const char *xff, const char *fwd,
			char out[64])
{
	int rc = IDP_OK;

	snprintf(out, 64, "%s", peer);
	if (!cidr_list_has(cfg->trusted_proxies, cfg->n_trusted_proxies, peer))
		return IDP_OK; /* from anyone else, the headers are ignored */
	if (xff != NULL)
		rc = fwd_client(cfg, xff, false, out);
	else if (fwd != NULL)
		rc = fwd_client(cfg, fwd, true, out);
	if (rc != IDP_OK)
		snprintf(out, 64, "%s", peer);
	return rc;
}

/* r->ip: the TCP peer, or behind a trusted proxy the client it names. */
static void req_set_ip(struct req *r, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct hdr_join xff = {"X-Forwarded-For", {0}, false, false};
	struct hdr_join fwd = {"Forwarded", {0}, false, false};
	char peer[64] = "";

	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, peer, sizeof(peer));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof(peer));
	}
	snprintf(r->ip, sizeof(r->ip), "%s", peer);
	if (r->cfg->n_trusted_proxies == 0 || !cidr_list_has(r->cfg->trusted_proxies, r->cfg->n_trusted_proxies, peer))
		return;
	buf_init(&xff.b, 8192);
	buf_init(&fwd.b, 8192);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, hdr_join_cb, &xff);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, hdr_join_cb, &fwd);
	if (xff.bad || fwd.bad ||
	    http_client_address(r->cfg, peer, xff.seen ? xff.b.p : NULL, fwd.seen ? fwd.b.p : NULL, r->ip) != IDP_OK)
		idp_log(LOG_DEBUG, "http: malformed X-Forwarded-For or Forwarded from proxy %s: its address is used", peer);
	buf_release(&xff.b);
	buf_release(&fwd.b);
}

static void *uri_log(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct req *r = calloc(1, sizeof(*r));
	const char *q;
	size_t max;

	(void)cls;
	if (r == NULL)
		return NULL;
	r->conn = conn;
	r->rt = rt_acquire();
	r->cfg = r->rt->cfg;
	max = r->cfg->max_url;
	r->head_bytes = strlen(uri);
	if ((r->watch = conn_watch_of(conn)) != NULL)
		r->watch->req = r;
	q = strchr(uri, '?');
	if (strlen(uri) > max) {
		/* Keep the path (bounded) so that the refusal speaks the
		 * endpoint's language: JSON for /token and /userinfo. */
		r->url_too_long = true;
		r->path = strndup(uri, q != NULL && (size_t)(q - uri) < 256 ? (size_t)(q - uri) : 256);
		return r;
	}
	r->path = q ? strndup(uri, (size_t)(q - uri)) : strdup(uri);
	if (q != NULL && q[1] != '\0')
		r->raw_query = strdup(q + 1);
	return r;
}

/* One event loop per thread: its own libmicrohttpd daemon in external epoll
 * mode on the shared listening socket, its fibers, its store connection. */
struct loop {
	pthread_t th;
	struct MHD_Daemon *d;
	struct fiber_io mhd_io, stop_io;
	int stop_fd;
	bool stop, quiesced;
	int state; /* 0 starting, 1 running, -1 failed */
	struct conn_watch watched; /* list head of this loop's connections */
	int64_t next_sweep;
};

static struct {
	struct loop *loops;
	unsigned n;
	int listen_fd;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned limit, per_ip, timeout; /* listen settings, read at start */
	size_t mem_limit;
} H = {NULL, 0, -1, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0};

static __thread struct loop *t_loop;

static bool json_endpoint(const char *path);

/* A refusal written straight to the socket, for a head too large to leave
 * room in libmicrohttpd's pool for any answer: a status line, four headers
 * and a short body, never a reset. The connection closes after it. */
static void send_refusal(MHD_socket fd, const struct req *r, unsigned status)
{
	static const char page[] = "<!DOCTYPE html><html lang=\"fr\"><meta charset=\"utf-8\"><title>Erreur</title>"
		"<p>La demande est trop longue. / The request is too long.</p></html>\n";
	const char *reason = status == 414 ? "URI Too Long" : "Request Header Fields Too Large";
	bool json = r != NULL && r->path != NULL && json_endpoint(r->path);
	const char *body = json ? "{\"error\":\"invalid_request\",\"error_description\":\"the request is too large\"}"
				: page;
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
			 "Content-Security-Policy: default-src 'none'\r\nConnection: close\r\n\r\n",
			 status, reason, json ? "application/json" : "text/html; charset=utf-8", strlen(body));
	struct iovec iov[2] = {{head, (size_t)n}, {(void *)body, strlen(body)}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	/* The send buffer is empty (nothing of this request was answered):
	 * these few hundred bytes go in one call, or the client is gone. */
	if (sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		idp_log(LOG_DEBUG, "http: a too large request could not be answered: %s", strerror(errno));
	else
		metrics_request(r != NULL ? r->path : NULL, status);
}

static void req_free(struct req *r);


/* A request must arrive whole within connection_timeout_s of its connection
 * opening; on a kept-alive connection, within twice that of the previous
 * answer (the idle time libmicrohttpd allows, then the request itself). */
static void conn_watch_arm(struct MHD_Connection *conn, unsigned periods)
{
	struct conn_watch *w = conn_watch_of(conn);

	if (w != NULL)
		w->deadline = periods == 0 ? 0 : mono_ms() + (int64_t)H.timeout * 1000 * periods;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct conn_watch *w = *socket_context;
	const union MHD_ConnectionInfo *ci;

	(void)cls;
	if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (w != NULL && w->req != NULL) {
			/* A head libmicrohttpd refused itself (its pool full) without
			 * being able to answer: it closes, nothing was sent. Where it
			 * did answer, the socket is shut for writing already and this
			 * send fails harmlessly. */
			if (!w->req->started)
				send_refusal(w->fd, w->req, w->req->url_too_long ? 414 : 431);
			req_free(w->req);
		}
		if (w != NULL) {
			w->prev->next = w->next;
			w->next->prev = w->prev;
			free(w);
		}
		*socket_context = NULL;
		return;
	}
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (t_loop == NULL || ci == NULL || (w = calloc(1, sizeof(*w))) == NULL)
		return; /* unwatched: libmicrohttpd's idle timeout still holds */
	w->fd = ci->connect_fd;
	w->deadline = mono_ms() + (int64_t)H.timeout * 1000;
	w->next = &t_loop->watched;
	w->prev = t_loop->watched.prev;
	w->prev->next = w;
	t_loop->watched.prev = w;
	*socket_context = w;
}

/* Ends the connections past their deadline. shutdown, not close: the socket
 * stays libmicrohttpd's, which sees the end of the stream and closes it
 * through its usual path (callbacks, counters). */
static void conn_watch_sweep(struct loop *l)
{
	int64_t now = mono_ms();

	if (now < l->next_sweep)
		return;
	l->next_sweep = now + LOOP_WAIT_MAX_MS;
	for (struct conn_watch *w = l->watched.next; w != &l->watched; w = w->next) {
		if (w->deadline != 0 && now >= w->deadline) {
			w->deadline = 0;
			shutdown(w->fd, SHUT_RDWR);
			idp_log(LOG_DEBUG, "http: a request not received within %u s: connection closed", H.timeout);
		}
	}
}

static void run_request(void *arg)
{
	struct req *r = arg;

	r->ret = dispatch(r);
}

/* The fiber of a suspended request ended (loop thread): back to MHD, which
 * calls on_request once more to queue the reply. */
static void request_resume(void *arg)
{
	struct req *r = arg;

	MHD_resume_connection(r->conn); /* the MHD_run after this poll takes it */
}

/* Queues the request's reply; its fiber, if any, has ended. */
static enum MHD_Result queue_reply(struct req *r)
{
	enum MHD_Result ret = r->ret;

	fiber_free(r->fib);
	r->fib = NULL;
	if (r->resp != NULL) {
		ret = MHD_queue_response(r->conn, r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
	}
	return ret;
}

/* What the head took of the connection's pool, over-estimated: its bytes
 * (the request line, header names and values with their separators, in the
 * read buffer), a copy of the Cookie header (libmicrohttpd parses a copy),
 * and a 64-byte record per header, cookie and query argument. */
struct head_use {
	size_t bytes, values;
};

static enum MHD_Result head_use_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct head_use *u = cls;

	u->values++;
	if (kind == MHD_HEADER_KIND) {
		u->bytes += strlen(key) + 4 + (value != NULL ? strlen(value) : 0);
		if (value != NULL && strcasecmp(key, MHD_HTTP_HEADER_COOKIE) == 0)
			u->bytes += strlen(value) + 16;
	}
	return MHD_YES;
}

/* Whether the pool has HEAD_REPLY_RESERVE left for the answer's headers
 * (a page with its security headers and cookies takes under 2 KiB; a
 * redirect echoing a 7.7 KB state was seen answered at the cap too). A
 * head past that is refused with a short answer written straight
 * to the socket: libmicrohttpd 0.9.75, when an answer's headers do not fit
 * in what is left, closes the connection without a byte. */
static bool head_fits(struct req *r, struct MHD_Connection *conn)
{
	struct head_use u = {r->head_bytes + 32, 0};

	MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_COOKIE_KIND | MHD_GET_ARGUMENT_KIND, head_use_cb, &u);
	return u.bytes + 64 * u.values + HEAD_REPLY_RESERVE <= H.mem_limit;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct req *r = *req_cls;

	(void)cls;
	(void)url;
	(void)version;
	if (r == NULL)
		return MHD_NO;
	if (!r->started) {
		/* Never queue a reply on the first call: libmicrohttpd 0.9.75 then
		 * closes the connection, and keep-alive is worth 6x under load. */
		r->started = true;
		r->method = method;
		r->is_post = strcmp(method, "POST") == 0;
		buf_init(&r->body, r->cfg->max_body);
		if (!head_fits(r, conn)) {
			if (r->watch != NULL)
				send_refusal(r->watch->fd, r, r->url_too_long ? 414 : 431);
			return MHD_NO; /* closes the connection */
		}
		req_set_ip(r, conn);
		r->lang = req_lang(r, NULL);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!r->body_too_big && buf_add(&r->body, upload, *upload_size) != IDP_OK) {
			r->body_too_big = true;
			buf_release(&r->body);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->fib != NULL) /* called again after the resume: the fiber has ended */
		return queue_reply(r);
	conn_watch_arm(conn, 0); /* received whole: no deadline while it is answered */
	if (t_loop != NULL && t_loop->stop) {
		/* Stopping: what is in progress is answered, nothing new starts
		 * (keep-alive clients would otherwise hold the stop off). */
		req_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
		req_add_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
		r->ret = json_endpoint(r->path) ? http_json_error(r, 503, "temporarily_unavailable", "the server is stopping")
						: http_error_page(r, 503, "stopping");
		return queue_reply(r);
	}
	/* The request runs in a fiber; if it parks (a store round trip, a
	 * password hash on a worker), the connection waits suspended and the
	 * loop serves others. Without a fiber, it runs here. */
	if ((r->fib = fiber_new(run_request, r, request_resume)) == NULL) {
		r->ret = dispatch(r);
		return queue_reply(r);
	}
	if (fiber_run(r->fib))
		return queue_reply(r);
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *r = *req_cls;

	(void)cls;
	if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK)
		conn_watch_arm(conn, 2);
	req_free(r);
	*req_cls = NULL;
}

static void req_free(struct req *r)
{
	if (r == NULL)
		return;
	if (r->watch != NULL)
		r->watch->req = NULL;
	if (r->resp != NULL)
		MHD_destroy_response(r->resp);
	/* A suspended connection is resumed only once its fiber has ended, and
	 * resumed, on_request frees it: a fiber left here has ended too. */
	fiber_free(r->fib);
	params_clear(&r->query);
	params_clear(&r->form);
	buf_release(&r->body);
	for (size_t i = 0; i < r->n_hdrs; i++) {
		free(r->hdrs[i].name);
		free_secret(r->hdrs[i].value); /* Location may carry a code */
	}
	free(r->path);
	free_secret(r->raw_query);
	free(r->csp_extra);
	rt_release(r->rt);
	free(r);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	idp_log(LOG_DEBUG, "http: %s", line);
}

static void mhd_ready(struct fiber_io *io, uint32_t events)
{
	(void)io;
	(void)events; /* MHD_run follows every poll */
}

static void stop_ready(struct fiber_io *io, uint32_t events)
{
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) >= 0 && t_loop != NULL)
		t_loop->stop = true;
}

static void loop_state(struct loop *l, int state)
{
	pthread_mutex_lock(&H.lock);
	l->state = state;
	pthread_cond_broadcast(&H.cond);
	pthread_mutex_unlock(&H.lock);
}

static void *loop_main(void *arg)
{
	struct loop *l = arg;
	const union MHD_DaemonInfo *di;
	int lfd;

	t_loop = l;
	l->watched.next = l->watched.prev = &l->watched;
	/* Each daemon gets its own descriptor of the listening socket: one that
	 * closes it (a failed start, a stop) leaves the others' intact. */
	if ((lfd = fcntl(H.listen_fd, F_DUPFD_CLOEXEC, 0)) < 0)
		goto fail;
	if (fiber_sched_init() != IDP_OK) {
		close(lfd);
		goto fail;
	}
	/* The connection limit is per daemon: each loop gets its share (rounded
	 * up); the per-IP limit holds in each (never refusing below it). */
	l->d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				0, NULL, NULL, on_request, NULL,
				MHD_OPTION_LISTEN_SOCKET, lfd,
				MHD_OPTION_CONNECTION_LIMIT, H.limit,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, H.per_ip,
				MHD_OPTION_CONNECTION_TIMEOUT, H.timeout,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, H.mem_limit,
				MHD_OPTION_URI_LOG_CALLBACK, uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_END);
	if (l->d == NULL) {
		close(lfd);
		goto fail_sched;
	}
	l->stop_io.fd = l->stop_fd;
	l->stop_io.ready = stop_ready;
	l->mhd_io.ready = mhd_ready;
	if ((di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD)) != NULL)
		l->mhd_io.fd = di->epoll_fd;
	if (di == NULL || fiber_io_add(&l->mhd_io, EPOLLIN) != IDP_OK ||
	    fiber_io_add(&l->stop_io, EPOLLIN) != IDP_OK) {
		MHD_stop_daemon(l->d); /* closes lfd */
		goto fail_sched;
	}
	loop_state(l, 1);
	/* On stop: accept no more, answer what is in progress (a fiber waits
	 * at most the store's timeout), then close. */
	while (!l->stop || fiber_count() > 0) {
		MHD_UNSIGNED_LONG_LONG to = 0;
		int t = LOOP_WAIT_MAX_MS;

		if (l->stop && !l->quiesced) {
			MHD_socket q = MHD_quiesce_daemon(l->d);

			if (q != MHD_INVALID_SOCKET)
				close(q); /* our duplicate: no new connections here */
			l->quiesced = true;
		}
		if (MHD_get_timeout(l->d, &to) == MHD_YES && to < LOOP_WAIT_MAX_MS)
			t = (int)to;
		fiber_poll(t);
		MHD_run(l->d);
		conn_watch_sweep(l);
	}
	MHD_stop_daemon(l->d);
	fiber_sched_fini();
	return NULL;
fail_sched:
	fiber_sched_fini();
fail:
	loop_state(l, -1);
	return NULL;
}

static int listen_socket(const struct config *cfg, int port, unsigned *bound)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, cfg->address, &sa.sin_addr) != 1)
		return log_fail(IDP_EINVAL, "http: listen.address %s is not an IPv4 address", cfg->address);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return log_fail(IDP_EIO, "http: socket: %s", strerror(errno));
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, SOMAXCONN) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return log_fail(IDP_EIO, "http: cannot listen on %s:%d: %s", cfg->address, port, strerror(errno));
	}
	*bound = ntohs(sa.sin_port);
	H.listen_fd = fd;
	return IDP_OK;
}

int http_start(const struct config *cfg, int port_override, const char *port_file)
{
	unsigned threads = cfg->threads, port, started = 0;
	cpu_set_t cpus;
	int rc;

	/* One loop per core this process may run on (taskset, cgroups), not
	 * per core of the machine: a loop never waits, its fibers do. */
	if (threads == 0)
		threads = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 && CPU_COUNT(&cpus) > 0
				  ? (unsigned)CPU_COUNT(&cpus) : 1;
	if ((rc = listen_socket(cfg, port_override >= 0 ? port_override : cfg->port, &port)) != IDP_OK)
		return rc;
	/* The blocking calls (password hashes, LDAP, upstream providers) run
	 * on workers, each backend on its own: two per loop, at least four. */
	if ((H.loops = calloc(threads, sizeof(*H.loops))) == NULL ||
	    fiber_workers_start(threads * 2 > 4 ? threads * 2 : 4) != IDP_OK) {
		free(H.loops);
		H.loops = NULL;
		close(H.listen_fd);
		H.listen_fd = -1;
		return log_fail(IDP_ENOMEM, "http: cannot start the workers");
	}
	H.n = threads;
	H.limit = (cfg->connection_limit + threads - 1) / threads;
	H.per_ip = cfg->per_ip_limit;
	H.timeout = cfg->connection_timeout;
	/* Each connection's pool holds the request head and the reply's
	 * headers; libmicrohttpd zeroes all of it after every request (with
	 * 32 KiB over max_url, 3 % of the core in SSO logins). */
	H.mem_limit = (size_t)(cfg->max_url + 16384);
	for (unsigned i = 0; i < threads; i++) {
		struct loop *l = &H.loops[i];

		if ((l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
		    pthread_create(&l->th, NULL, loop_main, l) != 0) {
			if (l->stop_fd >= 0)
				close(l->stop_fd);
			l->stop_fd = -1;
			break;
		}
		pthread_mutex_lock(&H.lock);
		while (l->state == 0)
			pthread_cond_wait(&H.cond, &H.lock);
		pthread_mutex_unlock(&H.lock);
		if (l->state < 0) {
			pthread_join(l->th, NULL);
			close(l->stop_fd);
			l->stop_fd = -1;
			break;
		}
		started++;
	}
	if (started < threads) {
		H.n = started;
		http_stop();
		return log_fail(IDP_EIO, "http: cannot start the event loops on %s:%u", cfg->address, port);
	}
	if ((rc = metrics_start(cfg)) != IDP_OK) {
		http_stop();
		return rc;
	}
	if (port_file != NULL) {
		FILE *f = fopen(port_file, "w");

		if (f != NULL) {
			fprintf(f, "%u\n", port);
			fclose(f);
		}
	}
	idp_log(LOG_INFO, "listening on http://%s:%u (%u threads)", cfg->address, port, threads);
	return IDP_OK;
}

void http_stop(void)
{
	uint64_t one = 1;

	metrics_stop();
	for (unsigned i = 0; i < H.n; i++)
		if (write(H.loops[i].stop_fd, &one, sizeof(one)) < 0)
			idp_log(LOG_ERR, "http: cannot stop a loop: %s", strerror(errno));
	for (unsigned i = 0; i < H.n; i++) {
		pthread_join(H.loops[i].th, NULL);
		close(H.loops[i].stop_fd);
	}
	fiber_workers_stop();
	free(H.loops);
	H.loops = NULL;
	H.n = 0;
	if (H.listen_fd >= 0)
		close(H.listen_fd);
	H.listen_fd = -1;
}
