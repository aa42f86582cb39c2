/* SPDX-License-Identifier: EUPL-1.2 */
/* Operator metrics (Prometheus text exposition format 0.0.4). */
#include "metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "idp.h"
#include "keys.h"
#include "pwhash.h"

/* The endpoints counted one by one, their labels given by the routing table
 * (http/route.c) at start; everything else is "other" (index 0), so that a
 * scanner probing random paths cannot grow the label set. */
#define MAX_EP 32
static const char *endpoints[MAX_EP] = {"other"};
static size_t n_ep = 1;

static _Atomic uint64_t requests[MAX_EP][5]; /* status 1xx..5xx */
static _Atomic uint64_t counters[M_COUNT];
static _Atomic int64_t started_at;

static const char *const counter_names[M_COUNT][2] = {
	[M_LOGIN_OK] = {"idp_logins_total{result=\"success\"}", "idp_logins_total"},
	[M_LOGIN_FAILED] = {"idp_logins_total{result=\"failure\"}", NULL},
	[M_LOGIN_THROTTLED] = {"idp_logins_total{result=\"throttled\"}", NULL},
	[M_TOKEN_CODE] = {"idp_tokens_issued_total{grant=\"authorization_code\"}", "idp_tokens_issued_total"},
	[M_TOKEN_CC] = {"idp_tokens_issued_total{grant=\"client_credentials\"}", NULL},
	[M_TOKEN_REFUSED] = {"idp_token_errors_total", "idp_token_errors_total"},
	[M_CODE_REPLAYED] = {"idp_codes_replayed_total", "idp_codes_replayed_total"},
	[M_CLIENT_AUTH_FAILED] = {"idp_client_auth_failures_total", "idp_client_auth_failures_total"},
	[M_SSO_REUSED] = {"idp_sso_reuses_total", "idp_sso_reuses_total"},
	[M_LOGOUT] = {"idp_logouts_total", "idp_logouts_total"},
	[M_BCL_SENT] = {"idp_backchannel_logouts_total{result=\"sent\"}", "idp_backchannel_logouts_total"},
	[M_BCL_FAILED] = {"idp_backchannel_logouts_total{result=\"failed\"}", NULL},
	[M_BCL_DROPPED] = {"idp_backchannel_logouts_total{result=\"dropped\"}", NULL},
};

static const char *const counter_help[M_COUNT] = {
	[M_LOGIN_OK] = "Citizen logins at an identity backend, by result.",
	[M_TOKEN_CODE] = "Tokens issued by the token endpoint, by grant.",
	[M_TOKEN_REFUSED] = "Token requests answered with an OAuth error.",
	[M_CODE_REPLAYED] = "Authorization codes presented more than once (what they issued is revoked).",
	[M_CLIENT_AUTH_FAILED] = "Token requests whose client authentication failed.",
	[M_SSO_REUSED] = "Authorizations answered from a live single sign-on session, without a password.",
	[M_LOGOUT] = "Single sign-on sessions ended by logout.",
	[M_BCL_SENT] = "Back-channel logout tokens sent to services, by result (sent, failed after retries, dropped).",
};

static void mark_start(void)
{
	int64_t zero = 0;

	if (atomic_load_explicit(&started_at, memory_order_relaxed) == 0)
		atomic_compare_exchange_strong(&started_at, &zero, now_s());
}

void metrics_count(enum metric m)
{
	mark_start();
	if ((unsigned)m < M_COUNT)
		atomic_fetch_add_explicit(&counters[m], 1, memory_order_relaxed);
}

unsigned metrics_endpoint(const char *label)
{
	size_t i;

	for (i = 0; i < n_ep; i++)
		if (strcmp(endpoints[i], label) == 0)
			return (unsigned)i;
	if (n_ep == MAX_EP)
		return 0;
	endpoints[n_ep] = label;
	return (unsigned)n_ep++;
}

void metrics_request(unsigned endpoint, unsigned status)
{
	mark_start();
	if (status < 100 || status > 599)
		return;
	if (endpoint >= n_ep)
		endpoint = 0;
	atomic_fetch_add_explicit(&requests[endpoint][status / 100 - 1], 1, memory_order_relaxed);
}

char *metrics_render(size_t *len)
{
	struct rt *rt = rt_acquire();
	struct buf b;
	size_t i, j;
	int rc = IDP_OK;
	long long records;
	size_t pw_buffers, pw_bytes;

	buf_init(&b, 1 << 20);
	rc |= buf_adds(&b, "# HELP idp_http_requests_total HTTP requests answered, by endpoint and status class.\n"
			   "# TYPE idp_http_requests_total counter\n");
	for (i = 1; i <= n_ep; i++) /* "other" last */
		for (j = 0; j < 5; j++) {
			size_t e = i % n_ep;
			uint64_t v = atomic_load_explicit(&requests[e][j], memory_order_relaxed);

			if (v > 0)
				rc |= buf_printf(&b, "idp_http_requests_total{endpoint=\"%s\",code=\"%zuxx\"} %llu\n",
						 endpoints[e], j + 1, (unsigned long long)v);
		}
	for (i = 0; i < M_COUNT; i++) {
		if (counter_names[i][1] != NULL)
			rc |= buf_printf(&b, "# HELP %s %s\n# TYPE %s counter\n", counter_names[i][1],
					 counter_help[i], counter_names[i][1]);
		rc |= buf_printf(&b, "%s %llu\n", counter_names[i][0],
				 (unsigned long long)atomic_load_explicit(&counters[i], memory_order_relaxed));
	}
	if (rt != NULL) {
		rc |= buf_adds(&b, "# HELP idp_backend_up Whether an identity backend is offered to citizens (0: greyed out after failures).\n"
				   "# TYPE idp_backend_up gauge\n");
		for (i = 0; i < rt->n_backends; i++)
			rc |= buf_printf(&b, "idp_backend_up{backend=\"%s\"} %d\n", rt->backends[i].id,
					 backend_up(&rt->backends[i]) ? 1 : 0);
		rc |= buf_adds(&b, "# HELP idp_signing_keys Keys of the key set, by algorithm and state.\n"
				   "# TYPE idp_signing_keys gauge\n");
		for (i = 0; rt->keys != NULL && i < rt->keys->n; i++)
			rc |= buf_printf(&b, "idp_signing_keys{alg=\"%s\",state=\"%s\",kid=\"%s\"} 1\n",
					 rt->keys->keys[i].alg == ALG_ES256 ? "ES256" : "RS256",
					 key_state_name(rt->keys->keys[i].state), rt->keys->keys[i].kid);
	}
	/* The store's own count: memory exact, redis the whole database. */
	records = g_idp.store.ops != NULL ? g_idp.store.ops->count(g_idp.store.st) : -1;
	rc |= buf_printf(&b, "# HELP idp_store_records Live records in the store (sessions, codes, tokens, consents, counters); -1 when it does not answer.\n"
			     "# TYPE idp_store_records gauge\nidp_store_records %lld\n", records);
	pwhash_kept(&pw_buffers, &pw_bytes);
	rc |= buf_printf(&b, "# HELP idp_password_hash_memory_bytes Memory kept for the next argon2id hashes (idle buffers; the kernel may reclaim it).\n"
			     "# TYPE idp_password_hash_memory_bytes gauge\nidp_password_hash_memory_bytes %zu\n", pw_bytes);
	rc |= buf_printf(&b, "# HELP idp_uptime_seconds Seconds since the first request was counted.\n"
			     "# TYPE idp_uptime_seconds gauge\nidp_uptime_seconds %lld\n",
			 (long long)(now_s() - atomic_load(&started_at)));
	rt_release(rt);
	if (rc != IDP_OK) {
		buf_release(&b);
		return NULL;
	}
	*len = b.len;
	return buf_steal(&b);
}

static struct MHD_Daemon *metrics_d;

static enum MHD_Result metrics_answer(struct MHD_Connection *conn, unsigned status, const char *ctype,
				      char *text, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result metrics_request_cb(void *cls, struct MHD_Connection *conn, const char *url,
					  const char *method, const char *version, const char *upload,
					  size_t *upload_size, void **req_cls)
{
	static int started;
	size_t len = 0;
	char *text;

	(void)cls;
	(void)version;
	(void)upload;
	if (*req_cls == NULL) { /* headers only: wait for the (empty) body */
		*req_cls = &started;
		return MHD_YES;
	}
	if (*upload_size > 0) { /* a body is never wanted here */
		*upload_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/metrics") != 0)
		return metrics_answer(conn, 404, "text/plain", strdup("not found\n"), 10);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return metrics_answer(conn, 405, "text/plain", strdup("use GET\n"), 8);
	if ((text = metrics_render(&len)) == NULL)
		return metrics_answer(conn, 500, "text/plain", strdup("metrics unavailable\n"), 20);
	return metrics_answer(conn, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

int metrics_start(const struct config *cfg)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	/* Its own thread, polled with epoll where there is one: the daemon's
	 * descriptors go well past select's 1024. */
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;

	if (cfg->metrics_address == NULL)
		return IDP_OK;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, cfg->metrics_address, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)cfg->metrics_port);
	} else if (inet_pton(AF_INET6, cfg->metrics_address, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)cfg->metrics_port);
		flags |= MHD_USE_IPv6;
	} else {
		return log_fail(IDP_EINVAL, "metrics: %s is not an address", cfg->metrics_address);
	}
	/* A scraper or two: a few connections, a short timeout. */
	metrics_d = MHD_start_daemon(flags, 0, NULL, NULL, metrics_request_cb, NULL,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				     MHD_OPTION_END);
	if (metrics_d == NULL)
		return log_fail(IDP_EIO, "metrics: cannot listen on %s:%d", cfg->metrics_address, cfg->metrics_port);
	idp_log(LOG_INFO, "metrics on http://%s%s%s:%d/metrics", s4->sin_family == AF_INET ? "" : "[",
		cfg->metrics_address, s4->sin_family == AF_INET ? "" : "]", cfg->metrics_port);
	return IDP_OK;
}

void metrics_stop(void)
{
	if (metrics_d != NULL)
		MHD_stop_daemon(metrics_d);
	metrics_d = NULL;
}
