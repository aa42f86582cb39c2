/* SPDX-License-Identifier: EUPL-1.2 */
#include "usage.h"

#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "idp.h"
#include "session.h"
#include "store.h"

static _Atomic uint64_t counts[USAGE_COUNT];

static const char *const names[USAGE_COUNT] = {
	[USAGE_CHOICE_SHOWN] = "page:choice:shown",
	[USAGE_CHOICE_DONE] = "page:choice:done",
	[USAGE_LOGIN_SHOWN] = "page:login:shown",
	[USAGE_LOGIN_DONE] = "page:login:done",
	[USAGE_OTP_SHOWN] = "page:otp:shown",
	[USAGE_OTP_DONE] = "page:otp:done",
	[USAGE_CONSENT_SHOWN] = "page:consent:shown",
	[USAGE_CONSENT_DONE] = "page:consent:done",
	[USAGE_CONSENT_REFUSED] = "consent:refused",
	[USAGE_FAIL_CREDENTIALS] = "failure:credentials",
	[USAGE_FAIL_THROTTLED] = "failure:throttled",
	[USAGE_FAIL_UNAVAILABLE] = "failure:unavailable",
	[USAGE_FAIL_EXPIRED] = "failure:expired",
	[USAGE_FAIL_LEVEL] = "failure:level",
	[USAGE_FAIL_NOT_ALLOWED] = "failure:not_allowed",
	[USAGE_FAIL_IDENTITY] = "failure:identity",
};

void usage_count(enum usage_event e)
{
	if ((unsigned)e < USAGE_COUNT)
		atomic_fetch_add_explicit(&counts[e], 1, memory_order_relaxed);
}

const char *usage_name(enum usage_event e)
{
	return (unsigned)e < USAGE_COUNT ? names[e] : "?";
}

bool usage_key(char *buf, size_t size, int64_t hour, enum usage_event e)
{
	time_t t = (time_t)(hour * 3600);
	struct tm tm;
	char h[16];
	int n;

	if ((unsigned)e >= USAGE_COUNT || gmtime_r(&t, &tm) == NULL || strftime(h, sizeof(h), "%Y%m%d%H", &tm) == 0)
		return false;
	n = snprintf(buf, size, "stats:%s:event:%s", h, names[e]);
	return n > 0 && (size_t)n < size;
}

/* One batch (at most STORE_BATCH_MAX counters); on failure the counts go
 * back for the next flush. An increment that ran although its answer was
 * lost counts twice: rare, and statistics tolerate it. */
static void flush_some(struct store *st, const int *ev, const uint64_t *taken, size_t n, int64_t hour)
{
	struct store_op ops[STORE_BATCH_MAX] = {0};
	char keys[STORE_BATCH_MAX][64];
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if (!usage_key(keys[k], sizeof(keys[k]), hour, (enum usage_event)ev[i]))
			break;
		ops[k] = (struct store_op){.kind = STORE_OP_INCR, .key = keys[k], .ttl_s = SESSION_STATS_TTL_S,
					   .by = (unsigned)taken[i]};
		k++;
	}
	if (k == n && store_batch(st, ops, k) == IDP_OK)
		return;
	for (size_t i = 0; i < n; i++)
		atomic_fetch_add_explicit(&counts[ev[i]], taken[i], memory_order_relaxed);
}

void usage_flush(struct store *st)
{
	int ev[STORE_BATCH_MAX];
	uint64_t taken[STORE_BATCH_MAX];
	int64_t hour = now_s() / 3600;
	size_t n = 0;

	/* Taken, not read: what loops count meanwhile waits for the next call.
	 * Counted in the hour of the flush, a few seconds late at most. */
	for (int e = 0; e < USAGE_COUNT; e++) {
		uint64_t c = atomic_exchange_explicit(&counts[e], 0, memory_order_relaxed);

		if (c == 0)
			continue;
		if (c > UINT32_MAX) { /* over four billion in seconds: never; kept */
			atomic_fetch_add_explicit(&counts[e], c, memory_order_relaxed);
			continue;
		}
		ev[n] = e;
		taken[n++] = c;
		if (n == STORE_BATCH_MAX) {
			flush_some(st, ev, taken, n, hour);
			n = 0;
		}
	}
	if (n > 0)
		flush_some(st, ev, taken, n, hour);
}
