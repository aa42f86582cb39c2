/* SPDX-License-Identifier: EUPL-1.2 */
/* Operator metrics: the counters every layer bumps, and their text in the
 * Prometheus exposition format 0.0.4 (the gauges of the runtime and the
 * listener are the process's: idp/metrics_http.c). */
#include "metrics.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

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
	[M_TOKEN_REFRESH] = {"idp_tokens_issued_total{grant=\"refresh_token\"}", NULL},
	[M_TOKEN_REFUSED] = {"idp_token_errors_total", "idp_token_errors_total"},
	[M_CODE_REPLAYED] = {"idp_codes_replayed_total", "idp_codes_replayed_total"},
	[M_REFRESH_REUSED] = {"idp_refresh_tokens_reused_total", "idp_refresh_tokens_reused_total"},
	[M_CLIENT_AUTH_FAILED] = {"idp_client_auth_failures_total", "idp_client_auth_failures_total"},
	[M_SSO_REUSED] = {"idp_sso_reuses_total", "idp_sso_reuses_total"},
	[M_LOGOUT] = {"idp_logouts_total", "idp_logouts_total"},
	[M_BCL_SENT] = {"idp_backchannel_logouts_total{result=\"sent\"}", "idp_backchannel_logouts_total"},
	[M_BCL_FAILED] = {"idp_backchannel_logouts_total{result=\"failed\"}", NULL},
	[M_BCL_DROPPED] = {"idp_backchannel_logouts_total{result=\"dropped\"}", NULL},
	[M_PP_UNTRUSTED] = {"idp_proxy_protocol_refused_total{reason=\"untrusted_peer\"}",
			    "idp_proxy_protocol_refused_total"},
	[M_PP_INVALID] = {"idp_proxy_protocol_refused_total{reason=\"invalid_header\"}", NULL},
	[M_PP_TIMEOUT] = {"idp_proxy_protocol_refused_total{reason=\"timeout\"}", NULL},
};

static const char *const counter_help[M_COUNT] = {
	[M_LOGIN_OK] = "Citizen logins at an identity backend, by result.",
	[M_TOKEN_CODE] = "Tokens issued by the token endpoint, by grant.",
	[M_TOKEN_REFUSED] = "Token requests answered with an OAuth error.",
	[M_CODE_REPLAYED] = "Authorization codes presented more than once (what they issued is revoked).",
	[M_REFRESH_REUSED] = "Refresh tokens presented after their rotation (their family is revoked).",
	[M_CLIENT_AUTH_FAILED] = "Token requests whose client authentication failed.",
	[M_SSO_REUSED] = "Authorizations answered from a live single sign-on session, without a password.",
	[M_LOGOUT] = "Single sign-on sessions ended by logout.",
	[M_BCL_SENT] = "Back-channel logout tokens sent to services, by result (sent, failed after retries, dropped).",
	[M_PP_UNTRUSTED] = "Connections closed before HTTP under listen.proxy_protocol, by reason (a peer not in "
			   "trusted_proxies, no valid PROXY header, the header not whole in time).",
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

int metrics_render_counters(struct buf *b)
{
	size_t i, j;
	int rc = IDP_OK;

	rc |= buf_adds(b, "# HELP idp_http_requests_total HTTP requests answered, by endpoint and status class.\n"
			  "# TYPE idp_http_requests_total counter\n");
	for (i = 1; i <= n_ep; i++) /* "other" last */
		for (j = 0; j < 5; j++) {
			size_t e = i % n_ep;
			uint64_t v = atomic_load_explicit(&requests[e][j], memory_order_relaxed);

			if (v > 0)
				rc |= buf_printf(b, "idp_http_requests_total{endpoint=\"%s\",code=\"%zuxx\"} %llu\n",
						 endpoints[e], j + 1, (unsigned long long)v);
		}
	for (i = 0; i < M_COUNT; i++) {
		if (counter_names[i][1] != NULL)
			rc |= buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", counter_names[i][1],
					 counter_help[i], counter_names[i][1]);
		rc |= buf_printf(b, "%s %llu\n", counter_names[i][0],
				 (unsigned long long)atomic_load_explicit(&counters[i], memory_order_relaxed));
	}
	rc |= buf_printf(b, "# HELP idp_uptime_seconds Seconds since the first request was counted.\n"
			    "# TYPE idp_uptime_seconds gauge\nidp_uptime_seconds %lld\n",
			 (long long)(now_s() - atomic_load(&started_at)));
	return rc != IDP_OK ? IDP_ENOMEM : IDP_OK;
}
