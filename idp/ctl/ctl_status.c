/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl status and stats: what the nodes say of themselves (heartbeats,
 * store, keys, backends) and the logins counted per hour. */
#include "ctl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "usage.h"

#define STATS_MIN_COUNT 5 /* smaller counts are not shown: a few logins could name someone */

/* What every node reports through the store: with the memory store, only
 * the keys (the rest lives inside the daemon). Exit 3 when no node is heard. */
int cmd_status(void)
{
	struct config *cfg = NULL;
	struct store st = {0};
	char *role = NULL;
	size_t alive = 0;
	int rc;

	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	if ((rc = open_shared_store(cfg, &st, "status of the nodes")) != 0) {
		printf("keys (%s):\n", cfg->keys_dir);
		keys_status(cfg, cfg->keys_dir, NULL, stdout);
		config_free(cfg);
		return rc;
	}
	rc = store_role(&st, &role);
	printf("store: %s\n", rc == IDP_OK ? role : "not answering");
	free(role);
	if (rc == IDP_OK) {
		printf("\nnodes (a heartbeat every %d s):\n", HEARTBEAT_S);
		rc = nodes_print(&st, stdout, &alive);
	}
	printf("\nkeys (%s):\n", cfg->keys_dir);
	if (keys_status(cfg, cfg->keys_dir, rc == IDP_OK ? &st : NULL, stdout) != IDP_OK && rc == IDP_OK)
		rc = IDP_EIO;
	store_close(&st);
	config_free(cfg);
	return rc != IDP_OK ? 1 : alive == 0 ? 3 : 0;
}

/* "YYYY-MM-DD" or "YYYY-MM-DDTHH" (UTC) as an hour since the epoch; end: the
 * last hour the day or hour covers. -1 when malformed. */
static int64_t parse_hour(const char *s, bool end)
{
	struct tm tm = {0};
	const char *rest = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
	bool day = rest != NULL && *rest == '\0';

	if (rest == NULL || (!day && ((rest = strptime(rest, "T%H", &tm)) == NULL || *rest != '\0')))
		return -1;
	return (int64_t)timegm(&tm) / 3600 + (end && day ? 23 : 0);
}

/* One field and its separator; in CSV quoted when it holds a separator or
 * a quote (RFC 4180). */
static void stats_field(const char *s)
{
	if (!opt.csv || strpbrk(s, ",\"\r\n") == NULL) {
		printf("%s%c", s, opt.csv ? ',' : '\t');
		return;
	}
	putchar('"');
	for (; *s; s++)
		printf(*s == '"' ? "\"\"" : "%c", *s);
	printf("\",");
}

/* One row of stats --events, unless the count is 0 or suppressed. */
static void stats_event_row(const char *hour, const char *event, long long c, size_t *shown, size_t *suppressed)
{
	if (c <= 0)
		return;
	if (c < STATS_MIN_COUNT) {
		(*suppressed)++;
		return;
	}
	stats_field(hour);
	stats_field(event);
	printf("%lld\n", c);
	(*shown)++;
}

/* One hour's usage counters (usage.h): pages shown and answered, the
 * difference as the citizens who gave up there, consents refused and
 * failures by cause. Counts under STATS_MIN_COUNT are suppressed. */
static int stats_events_hour(struct store *st, int64_t h, size_t *shown, size_t *suppressed)
{
	long long count[USAGE_COUNT] = {0};
	char keys[USAGE_COUNT][64], hour[24];
	time_t t = (time_t)(h * 3600);
	struct tm tm;

	for (size_t e0 = 0; e0 < USAGE_COUNT; e0 += STORE_BATCH_MAX) {
		const char *kp[STORE_BATCH_MAX];
		char *vals[STORE_BATCH_MAX] = {0};
		size_t lens[STORE_BATCH_MAX], n = 0;

		for (size_t e = e0; e < USAGE_COUNT && n < STORE_BATCH_MAX; e++, n++) {
			usage_key(keys[e], sizeof(keys[e]), h, (enum usage_event)e);
			kp[n] = keys[e];
		}
		if (store_mget(st, kp, n, vals, lens) != IDP_OK)
			return fail("the store does not answer");
		for (size_t i = 0; i < n; i++) {
			if (vals[i] != NULL && (lens[i] > 20 || strlen(vals[i]) != lens[i] ||
						!parse_ll(vals[i], 0, LLONG_MAX, &count[e0 + i])))
				count[e0 + i] = 0;
			free(vals[i]);
		}
	}
	gmtime_r(&t, &tm);
	strftime(hour, sizeof(hour), "%Y-%m-%dT%H:00Z", &tm);
	for (int e = 0; e < USAGE_COUNT; e++)
		stats_event_row(hour, usage_name((enum usage_event)e), count[e], shown, suppressed);
	/* Each page's abandons: shown, not answered (a page answered in the
	 * next hour makes the figure a little low). */
	stats_event_row(hour, "page:choice:abandoned", count[USAGE_CHOICE_SHOWN] - count[USAGE_CHOICE_DONE],
			shown, suppressed);
	stats_event_row(hour, "page:login:abandoned", count[USAGE_LOGIN_SHOWN] - count[USAGE_LOGIN_DONE],
			shown, suppressed);
	stats_event_row(hour, "page:otp:abandoned", count[USAGE_OTP_SHOWN] - count[USAGE_OTP_DONE],
			shown, suppressed);
	stats_event_row(hour, "page:consent:abandoned", count[USAGE_CONSENT_SHOWN] - count[USAGE_CONSENT_DONE],
			shown, suppressed);
	return 0;
}

/* Logins per hour, service, backend and level between --from and --to,
 * read from the counters session_create and session_raise bump
 * (session.h). Every combination the configuration names is looked up,
 * STORE_BATCH_MAX at a time. */
int cmd_stats(void)
{
	struct config *cfg = NULL;
	struct store st = {0};
	int64_t from = parse_hour(opt.from, false), to = parse_hour(opt.to, true);
	size_t nb, na, combos, suppressed = 0, shown = 0;
	char keys[STORE_BATCH_MAX][STORE_KEY_MAX + 1];
	const char *kp[STORE_BATCH_MAX];
	size_t idx[STORE_BATCH_MAX];
	int rc;

	if (from < 0 || to < 0 || to < from)
		return fail("stats needs --from DATE --to DATE (YYYY-MM-DD or YYYY-MM-DDTHH, UTC), from before to");
	if (to - from >= SESSION_STATS_TTL_S / 3600)
		return fail("stats covers at most %d days: older counts have expired", SESSION_STATS_TTL_S / 86400);
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("%s does not load (see above)", opt.config);
	if ((rc = open_shared_store(cfg, &st, "stats")) != 0)
		goto out;
	if (opt.events) {
		printf(opt.csv ? "hour,event,count\n" : "hour (UTC)\tevent\tcount\n");
		for (int64_t h = from; h <= to && rc == 0; h++)
			rc = stats_events_hour(&st, h, &shown, &suppressed);
		if (rc == 0)
			fprintf(stderr, "idpctl: %zu row(s); %zu row(s) under %d suppressed\n", shown, suppressed,
				STATS_MIN_COUNT);
		goto close;
	}
	nb = json_array_size(cfg->backends);
	na = json_array_size(cfg->acr_levels);
	combos = cfg->n_clients * nb * na;
	printf(opt.csv ? "hour,client,backend,acr,logins\n" : "hour (UTC)\tclient\tbackend\tacr\tlogins\n");
	for (int64_t h = from; h <= to && rc == 0; h++) {
		for (size_t c = 0; c < combos && rc == 0;) {
			char *vals[STORE_BATCH_MAX] = {0};
			size_t lens[STORE_BATCH_MAX], n = 0;

			for (; c < combos && n < STORE_BATCH_MAX; c++) {
				const char *b = json_string_value(json_object_get(json_array_get(cfg->backends, c / na % nb), "id"));

				if (b != NULL && session_stats_key(keys[n], sizeof(keys[n]), h, cfg->clients[c / (na * nb)].id, b,
								   json_string_value(json_array_get(cfg->acr_levels, c % na)) ?: "")) {
					kp[n] = keys[n];
					idx[n++] = c;
				}
			}
			if (n > 0 && store_mget(&st, kp, n, vals, lens) != IDP_OK) {
				rc = fail("the store does not answer");
				break;
			}
			for (size_t i = 0; i < n; i++) {
				size_t k = idx[i];
				time_t t = (time_t)(h * 3600);
				struct tm tm;
				char hour[24];
				long long count = 0;

				if (vals[i] != NULL && (lens[i] > 20 || strlen(vals[i]) != lens[i] ||
							!parse_ll(vals[i], 0, LLONG_MAX, &count))) {
					rc = fail("stats: %s is not a counter", kp[i]);
					free(vals[i]);
					continue;
				}
				if (vals[i] != NULL && count < STATS_MIN_COUNT)
					suppressed++;
				else if (vals[i] != NULL) {
					gmtime_r(&t, &tm);
					strftime(hour, sizeof(hour), "%Y-%m-%dT%H:00Z", &tm);
					stats_field(hour);
					stats_field(cfg->clients[k / (na * nb)].id);
					stats_field(json_string_value(json_object_get(json_array_get(cfg->backends, k / na % nb), "id")));
					stats_field(json_string_value(json_array_get(cfg->acr_levels, k % na)));
					printf("%lld\n", count);
					shown++;
				}
				free(vals[i]);
			}
		}
	}
	if (rc == 0)
		fprintf(stderr, "idpctl: %zu row(s); %zu row(s) of fewer than %d logins suppressed\n", shown, suppressed,
			STATS_MIN_COUNT);
close:
	store_close(&st);
out:
	config_free(cfg);
	return rc;
}
