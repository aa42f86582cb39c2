/* SPDX-License-Identifier: EUPL-1.2 */
/* Counters for the operators: requests per endpoint and status class,
 * logins, tokens issued, refusals that matter (replayed codes, failed client
 * authentications), served at /metrics in the Prometheus text format
 * (idp/metrics_http.c).
 * Counting is one relaxed atomic add: no lock on the request path. */
#ifndef IDP_METRICS_H
#define IDP_METRICS_H

#include <stdbool.h>

#include "config.h"
#include "util.h"

enum metric {
	M_LOGIN_OK,           /* a citizen authenticated (any backend) */
	M_LOGIN_FAILED,       /* wrong password, unknown user */
	M_LOGIN_THROTTLED,    /* refused by the failure rate limits */
	M_TOKEN_CODE,         /* tokens issued for an authorization code */
	M_TOKEN_CC,           /* client_credentials access tokens */
	M_TOKEN_REFRESH,      /* tokens issued for a refresh token */
	M_TOKEN_REFUSED,      /* /token answered an OAuth error */
	M_CODE_REPLAYED,      /* a code presented twice (what it issued is revoked) */
	M_REFRESH_REUSED,     /* a refresh token used after its rotation (its family is revoked) */
	M_CLIENT_AUTH_FAILED, /* bad client secret or method */
	M_SSO_REUSED,         /* an authorization served from a live SSO session */
	M_LOGOUT,             /* SSO sessions ended by /logout */
	M_BCL_SENT,           /* back-channel logout tokens a service acknowledged */
	M_BCL_FAILED,         /* given up after the retries, or refused by the service */
	M_BCL_DROPPED,        /* not queued: the queue was full, or a bucket overflowed */
	M_PP_UNTRUSTED,       /* listen.proxy_protocol: a connection from a peer not a trusted proxy */
	M_PP_INVALID,         /* ... without a valid PROXY header (or closed before one) */
	M_PP_TIMEOUT,         /* ... whose header did not arrive whole in time */
	M_COUNT
};

void metrics_count(enum metric m);
/* The index of an endpoint's label, registered on first use (before the
 * loops start: registering is not thread-safe); 0, "other", past 31 labels. */
unsigned metrics_endpoint(const char *label);
/* Called once per answered request with its endpoint's index and status. */
void metrics_request(unsigned endpoint, unsigned status);
/* Appends the counters and the uptime to b, in the Prometheus text format;
 * IDP_OK, else b could not take them all. The runtime's gauges and the
 * listener (metrics_render, metrics_start: idp.h) are the process's. */
int metrics_render_counters(struct buf *b);

#endif
