/* SPDX-License-Identifier: EUPL-1.2 */
/* Usage statistics that help improve the service without tracking anyone:
 * how often each page of the login is shown and answered (the difference is
 * the citizens who gave up there) and why logins fail. Counted in memory on
 * the loops, added to hourly counters in the store by the heartbeat thread
 * (no round trip on a request); no identifier, no address. idpctl stats
 * reads them. */
#ifndef IDP_USAGE_H
#define IDP_USAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

enum usage_event {
	USAGE_CHOICE_SHOWN,    /* the choice of identity provider */
	USAGE_CHOICE_DONE,     /* a provider chosen */
	USAGE_LOGIN_SHOWN,     /* a login form, first shown */
	USAGE_LOGIN_DONE,      /* a password accepted */
	USAGE_OTP_SHOWN,       /* the second factor's page, first shown */
	USAGE_OTP_DONE,        /* a code accepted */
	USAGE_CONSENT_SHOWN,   /* the consent page */
	USAGE_CONSENT_DONE,    /* accepted or refused */
	USAGE_CONSENT_REFUSED, /* refused: the service gets access_denied */
	USAGE_FAIL_CREDENTIALS, /* wrong password or unknown user */
	USAGE_FAIL_THROTTLED,  /* too many failures */
	USAGE_FAIL_UNAVAILABLE, /* an identity provider or the store not answering */
	USAGE_FAIL_EXPIRED,    /* a form posted after its transaction expired */
	USAGE_FAIL_LEVEL,      /* the provider did not reach the level asked */
	USAGE_FAIL_NOT_ALLOWED, /* a provider the service does not allow */
	USAGE_FAIL_IDENTITY,   /* an identity incomplete or malformed */
	USAGE_COUNT
};

void usage_count(enum usage_event e);
/* "page:login:shown", "failure:credentials", ... */
const char *usage_name(enum usage_event e);
/* The store key of event e's counter for the hour hour (hours since the
 * epoch, UTC): "stats:YYYYMMDDHH:event:NAME". false if it does not fit. */
bool usage_key(char *buf, size_t size, int64_t hour, enum usage_event e);
/* Adds what was counted since the last call to the store's hourly counters,
 * in one batch; on failure the counts are kept for the next call. */
void usage_flush(struct store *st);

#endif
