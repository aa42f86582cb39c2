/* SPDX-License-Identifier: EUPL-1.2 */
/* The "ldap" identity backend: citizens in an LDAP directory, through
 * OpenLDAP's libldap. Two ways to check a password:
 *
 *  - search then bind: a service account (bind_dn + bind_password, or an
 *    anonymous search without them) looks for the one entry that "filter"
 *    matches under "base_dn", and the citizen's password is checked by a
 *    bind as that entry on another connection (the service connection keeps
 *    its own identity, so it can go back to the pool as it is);
 *  - direct bind: the DN is built from "user_dn_template", the citizen binds
 *    as it and reads their own entry.
 *
 * Claims come from the entry through the "attributes" mapping.
 *
 * No worker may hang on a slow directory: a login has one deadline
 * (timeout_ms) and every wait is bounded by what is left of it. libldap's
 * synchronous calls wait with their own rules, so each request is sent
 * asynchronously and its answer awaited with ldap_result() and the time
 * left; connecting (TCP and TLS handshakes) is bounded by
 * LDAP_OPT_NETWORK_TIMEOUT set to the time left. Name resolution is the one
 * wait libldap cannot bound: use an address or a name in /etc/hosts.
 *
 * Connections are reused through two small pools of up to pool_size idle
 * connections each: service connections (already bound as the service
 * account) and connections for citizens' binds (every use starts with a
 * bind, so what the previous citizen left does not matter). A pooled
 * connection found dead (the server restarted, or closed it when idle) is
 * dropped with the rest of its pool and the request tried once more on a
 * fresh connection. Connections idle for more than a minute are not reused:
 * a firewall may have forgotten them without a word, and a request on such
 * a connection would wait for the whole timeout.
 *
 * Every call but create() and destroy() may come from several threads at
 * once: an LDAP handle is only ever used by the thread that took it from a
 * pool or opened it (libldap 2.5 is thread-safe across handles). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lber.h>
#include <ldap.h>
#include <openssl/crypto.h>

#include "idp_plugin.h"

#define LDAPB_TIMEOUT_MS 3000   /* default of timeout_ms */
#define LDAPB_POOL 4            /* default of pool_size */
#define LDAPB_POOL_MAX 64
#define LDAPB_VALUE_MAX 4096    /* a longer attribute value is not a claim */
#define LDAPB_MAP_MAX 64        /* entries in "attributes" */
#define LDAPB_IDLE_MAX_MS 60000 /* an idle connection older is closed, not reused */

#define LOG(li, level, fmt, ...) (li)->host->log((level), "ldap(%s): " fmt, (li)->id, ##__VA_ARGS__)

struct claim_map {
	char *claim;
	char *attr;
};

/* Idle connections, most recently used last (the likeliest to be alive). */
struct pool {
	pthread_mutex_t lock;
	struct idle {
		LDAP *ld;
		int64_t since; /* mono_ms() when it was given back */
	} *idle;
	size_t n, max;
};

struct ldap_inst {
	const struct idp_host *host;
	char *id;               /* the backend's id, for the log */
	char *uri;
	bool tls;               /* ldaps:// or StartTLS: the TLS settings apply */
	bool starttls;
	bool require_cert;
	char *ca_file;
	char *bind_dn;          /* NULL: anonymous search */
	char *bind_pw;          /* wiped by destroy() */
	char *dn_template;      /* direct bind; NULL: search then bind */
	char *base_dn;
	char *filter;
	int scope;
	int timeout_ms;
	struct claim_map *map;
	size_t n_map;
	char *subject_attr;     /* NULL: the entry's DN */
	char **attrs;           /* what a search asks for, NULL-terminated */
	struct pool svc;        /* bound as the service account (or anonymous) */
	struct pool usr;        /* for citizens' binds */
};

/* ---- time ---- */

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The time left before deadline; false when there is none. */
static bool time_left(int64_t deadline, struct timeval *tv)
{
	int64_t ms = deadline - mono_ms();

	if (ms <= 0)
		return false;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return true;
}

/* ---- log ---- */

/* Logs what libldap says about a failure: its error and the server's
 * diagnostic message, control characters replaced (the server writes it). */
static void log_ldap(const struct ldap_inst *li, int level, LDAP *ld, const char *what, int rc)
{
	char *diag = NULL, clean[200];
	size_t i = 0;

	if (ld != NULL && ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag) == LDAP_OPT_SUCCESS &&
	    diag != NULL) {
		for (; diag[i] != '\0' && i < sizeof(clean) - 1; i++)
			clean[i] = (unsigned char)diag[i] < 0x20 || diag[i] == 0x7f ? '?' : diag[i];
	}
	clean[i] = '\0';
	if (i > 0 && clean[0] == '(') /* "(unknown error code)" already has them */
		LOG(li, level, "%s: %s: %s %s", li->uri, what, ldap_err2string(rc), clean);
	else
		LOG(li, level, "%s: %s: %s%s%s%s", li->uri, what, ldap_err2string(rc), i ? " (" : "", clean,
		    i ? ")" : "");
	ldap_memfree(diag);
}

/* ---- the pools ---- */

static int pool_init(struct pool *p, size_t max)
{
	p->max = max;
	p->n = 0;
	p->idle = calloc(max > 0 ? max : 1, sizeof(*p->idle));
	pthread_mutex_init(&p->lock, NULL);
	return p->idle != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_ENOMEM;
}

/* The most recently used idle connection, or NULL. When even that one has
 * been idle too long, all of them have: they are closed (outside the lock:
 * an unbind writes to a socket). */
static LDAP *pool_take(struct pool *p)
{
	struct idle stale[LDAPB_POOL_MAX];
	size_t n_stale = 0;
	LDAP *ld = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->n > 0 && p->idle[p->n - 1].since < mono_ms() - LDAPB_IDLE_MAX_MS) {
		n_stale = p->n;
		memcpy(stale, p->idle, n_stale * sizeof(*stale));
		p->n = 0;
	}
	if (p->n > 0)
		ld = p->idle[--p->n].ld;
	pthread_mutex_unlock(&p->lock);
	for (size_t i = 0; i < n_stale; i++)
		ldap_unbind_ext(stale[i].ld, NULL, NULL);
	return ld;
}

/* Keeps a healthy connection for the next login, or closes it when the pool
 * is full. NULL-safe. */
static void pool_give(struct pool *p, LDAP *ld)
{
	if (ld == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	if (p->n < p->max) {
		p->idle[p->n].ld = ld;
		p->idle[p->n++].since = mono_ms();
		ld = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
}

/* One idle connection was dead: the others, opened to the same server,
 * likely are too. Closed outside the lock (an unbind writes to a socket). */
static void pool_flush(struct pool *p)
{
	LDAP *ld;

	while ((ld = pool_take(p)) != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
}

static void pool_release(struct pool *p)
{
	if (p->idle == NULL)
		return;
	pool_flush(p);
	free(p->idle);
	p->idle = NULL;
	pthread_mutex_destroy(&p->lock);
}

/* ---- LDAP operations, each bounded by the deadline ---- */

/* Errors that say nothing about the citizen: the directory is down, slow,
 * overloaded or broken. */
static bool rc_unavailable(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_TIMEOUT:
	case LDAP_CONNECT_ERROR:
	case LDAP_BUSY:
	case LDAP_UNAVAILABLE:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_ADMINLIMIT_EXCEEDED:
	case LDAP_OTHER:
	case LDAP_LOCAL_ERROR:
	case LDAP_NO_MEMORY:
	case LDAP_ENCODING_ERROR:
	case LDAP_DECODING_ERROR:
	case LDAP_PROTOCOL_ERROR:
	case LDAP_OPERATIONS_ERROR:
	case LDAP_LOOP_DETECT:
		return true;
	}
	return false;
}

/* Waits for the whole answer to msgid until the deadline. LDAP_SUCCESS with
 * *res (the caller's), LDAP_TIMEOUT, or the handle's error (LDAP_SERVER_DOWN
 * when the connection is gone). */
static int wait_result(LDAP *ld, int msgid, int64_t deadline, LDAPMessage **res)
{
	struct timeval tv;
	int t, err = LDAP_SERVER_DOWN;

	*res = NULL;
	if (!time_left(deadline, &tv))
		return LDAP_TIMEOUT;
	t = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, res);
	if (t > 0 && *res != NULL)
		return LDAP_SUCCESS;
	ldap_msgfree(*res);
	*res = NULL;
	if (t == 0)
		return LDAP_TIMEOUT;
	ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &err);
	return err != LDAP_SUCCESS ? err : LDAP_SERVER_DOWN;
}

/* The result code of a complete answer; frees it. */
static int result_code(LDAP *ld, LDAPMessage *res)
{
	int rc, err = LDAP_OTHER;

	rc = ldap_parse_result(ld, res, &err, NULL, NULL, NULL, NULL, 1);
	return rc != LDAP_SUCCESS ? rc : err;
}

/* A simple bind. pw is never empty here: an empty password would make an
 * unauthenticated bind, which "succeeds" (RFC 4513 section 5.1.2). */
static int simple_bind(LDAP *ld, const char *dn, const char *pw, int64_t deadline)
{
	struct berval cred;
	LDAPMessage *res;
	int rc, msgid;

	cred.bv_val = (char *)pw; /* only read */
	cred.bv_len = strlen(pw);
	if ((rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, &msgid)) != LDAP_SUCCESS)
		return rc;
	if ((rc = wait_result(ld, msgid, deadline, &res)) != LDAP_SUCCESS)
		return rc;
	return result_code(ld, res);
}

/* A search for at most two entries (one is the answer, two is an error). The
 * result code; *res is the caller's when it is LDAP_SUCCESS or
 * LDAP_SIZELIMIT_EXCEEDED. */
static int search(const struct ldap_inst *li, LDAP *ld, const char *base, int scope, const char *filter,
		  int64_t deadline, LDAPMessage **res)
{
	struct timeval limit = {(li->timeout_ms + 999) / 1000, 0};
	int rc, err = LDAP_OTHER, msgid;

	*res = NULL;
	rc = ldap_search_ext(ld, base, scope, filter, li->attrs, 0, NULL, NULL, &limit, 2, &msgid);
	if (rc != LDAP_SUCCESS)
		return rc;
	if ((rc = wait_result(ld, msgid, deadline, res)) != LDAP_SUCCESS)
		return rc;
	rc = ldap_parse_result(ld, *res, &err, NULL, NULL, NULL, NULL, 0);
	if (rc == LDAP_SUCCESS)
		rc = err;
	if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
		ldap_msgfree(*res);
		*res = NULL;
	}
	return rc;
}

/* A new connection: TCP, TLS (ldaps:// or StartTLS), not bound yet. Logs
 * why it failed at loglevel; EUNAVAIL then. */
static int conn_open(const struct ldap_inst *li, int64_t deadline, int loglevel, LDAP **out)
{
	struct timeval tv;
	LDAPMessage *res;
	LDAP *ld = NULL;
	int rc, v3 = LDAP_VERSION3, req, client = 0, msgid;
	const char *what = "cannot connect";

	*out = NULL;
	if ((rc = ldap_initialize(&ld, li->uri)) != LDAP_SUCCESS) {
		ld = NULL;
		goto fail;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	/* A referral would take the password to another server. */
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON);
	if (!time_left(deadline, &tv)) {
		rc = LDAP_TIMEOUT;
		goto fail;
	}
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	if (li->tls) {
		/* Settings of this handle, then a TLS context made from them:
		 * without NEWCTX, libldap would use its global context. */
		req = li->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
		what = "TLS settings (ca_file, tls_require_cert)";
		if ((rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req)) != LDAP_OPT_SUCCESS ||
		    (li->ca_file != NULL &&
		     (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, li->ca_file)) != LDAP_OPT_SUCCESS) ||
		    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &client)) != LDAP_OPT_SUCCESS) {
			rc = LDAP_LOCAL_ERROR;
			goto fail;
		}
		/* An ldaps:// handshake fails as a connection does. */
		what = li->starttls ? "cannot connect" : "cannot connect, or the TLS handshake failed "
							  "(certificate: ca_file, tls_require_cert)";
	}
	if ((rc = ldap_connect(ld)) != LDAP_SUCCESS)
		goto fail;
	if (li->starttls) {
		what = "StartTLS (certificate: ca_file, tls_require_cert)";
		if ((rc = ldap_start_tls(ld, NULL, NULL, &msgid)) != LDAP_SUCCESS ||
		    (rc = wait_result(ld, msgid, deadline, &res)) != LDAP_SUCCESS ||
		    (rc = result_code(ld, res)) != LDAP_SUCCESS)
			goto fail;
		if (!time_left(deadline, &tv)) {
			rc = LDAP_TIMEOUT;
			goto fail;
		}
		ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv); /* bounds the handshake */
		if ((rc = ldap_install_tls(ld)) != LDAP_SUCCESS)
			goto fail;
	}
	*out = ld;
	return IDP_PLUGIN_OK;
fail:
	log_ldap(li, loglevel, ld, what, rc);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
	return IDP_PLUGIN_EUNAVAIL;
}

/* A new connection bound as the service account (or anonymous when there is
 * none). */
static int svc_open(const struct ldap_inst *li, int64_t deadline, int loglevel, LDAP **ld)
{
	int rc;

	if ((rc = conn_open(li, deadline, loglevel, ld)) != IDP_PLUGIN_OK || li->bind_dn == NULL)
		return rc;
	rc = simple_bind(*ld, li->bind_dn, li->bind_pw, deadline);
	if (rc == LDAP_SUCCESS)
		return IDP_PLUGIN_OK;
	if (rc == LDAP_INVALID_CREDENTIALS)
		LOG(li, 0, "the directory refuses the service account: check \"bind_dn\" and \"bind_password\"");
	else
		log_ldap(li, loglevel, *ld, "bind as the service account", rc);
	ldap_unbind_ext(*ld, NULL, NULL);
	*ld = NULL;
	return IDP_PLUGIN_EUNAVAIL;
}

/* A service connection: an idle one (*reused), else a new one. */
static int svc_get(struct ldap_inst *li, int64_t deadline, LDAP **ld, bool *reused)
{
	if ((*ld = pool_take(&li->svc)) != NULL) {
		*reused = true;
		return IDP_PLUGIN_OK;
	}
	*reused = false;
	return svc_open(li, deadline, 1, ld);
}

/* ---- building DNs and filters from a username ---- */

/* RFC 4514 section 2.4: any octet of an attribute value may be written as a
 * backslash and two hex digits. Every octet but letters, digits and "-._@"
 * is written so, which leaves a username no way to end the value, add an
 * RDN or a multi-valued RDN, or start with '#' or a space; the directory
 * decodes it back to the same value. The caller frees the result. */
static char *dn_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = malloc(3 * n + 1), *p = out;

	if (out == NULL)
		return NULL;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '@') {
			*p++ = (char)c;
		} else {
			*p++ = '\\';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

/* tmpl with every "%s" replaced by value (already escaped) and "%%" by "%".
 * The caller frees the result. */
static char *expand(const char *tmpl, const char *value)
{
	size_t k = 0, vlen = strlen(value);
	const char *t;
	char *out, *p;

	for (t = tmpl; (t = strstr(t, "%s")) != NULL; t += 2)
		k++;
	if ((out = malloc(strlen(tmpl) + k * vlen + 1)) == NULL)
		return NULL;
	for (p = out, t = tmpl; *t != '\0'; t++) {
		if (t[0] == '%' && t[1] == 's') {
			memcpy(p, value, vlen);
			p += vlen;
			t++;
		} else if (t[0] == '%' && t[1] == '%') {
			*p++ = '%';
			t++;
		} else {
			*p++ = *t;
		}
	}
	*p = '\0';
	return out;
}

/* The search filter for a username, its value escaped per RFC 4515 so that
 * "*)(uid=*" is a value to match, not filter syntax. */
static char *user_filter(const struct ldap_inst *li, const char *username)
{
	struct berval in, esc = {0, NULL};
	char *f;

	in.bv_val = (char *)username; /* only read */
	in.bv_len = strlen(username);
	if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
		return NULL;
	f = expand(li->filter, esc.bv_val);
	ber_memfree(esc.bv_val);
	return f;
}

/* ---- the identity ---- */

/* An attribute value as a claim: a JSON string, or NULL when it is empty,
 * too long, or not text (invalid UTF-8 or a NUL). */
static json_t *value_json(const struct berval *v)
{
	if (v->bv_len == 0 || v->bv_len > LDAPB_VALUE_MAX || memchr(v->bv_val, '\0', v->bv_len) != NULL)
		return NULL;
	return json_stringn(v->bv_val, v->bv_len);
}

/* The subject from an attribute value: as it is when it is printable text,
 * else in hex (a binary GUID, for instance). The caller frees it. */
static char *value_subject(const struct berval *v)
{
	json_t *j = v->bv_len <= 256 ? value_json(v) : NULL;
	bool printable = j != NULL;
	char *s;

	json_decref(j);
	for (size_t i = 0; printable && i < v->bv_len; i++)
		if ((unsigned char)v->bv_val[i] < 0x20 || v->bv_val[i] == 0x7f)
			printable = false;
	if (printable)
		return strndup(v->bv_val, v->bv_len);
	if (v->bv_len == 0 || v->bv_len > 256 || (s = malloc(2 * v->bv_len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < v->bv_len; i++)
		snprintf(s + 2 * i, 3, "%02x", (unsigned char)v->bv_val[i]);
	return s;
}

/* Fills out from the entry: subject, claims through the mapping, amr. */
static int fill_identity(const struct ldap_inst *li, LDAP *ld, LDAPMessage *e, const char *username,
			 struct idp_identity *out)
{
	struct berval **vals;
	char *dn = NULL;

	if (li->subject_attr != NULL && (vals = ldap_get_values_len(ld, e, li->subject_attr)) != NULL) {
		if (vals[0] != NULL)
			out->subject = value_subject(vals[0]);
		ldap_value_free_len(vals);
	}
	if (out->subject == NULL) {
		if ((dn = ldap_get_dn(ld, e)) == NULL)
			return IDP_PLUGIN_ENOMEM;
		if (li->subject_attr != NULL)
			LOG(li, 1, "an entry has no usable \"%s\": its DN is the subject (set \"subject_attribute\")",
			    li->subject_attr);
		out->subject = strdup(dn);
		ldap_memfree(dn);
		if (out->subject == NULL)
			return IDP_PLUGIN_ENOMEM;
	}
	if ((out->claims = json_object()) == NULL)
		return IDP_PLUGIN_ENOMEM;
	for (size_t i = 0; i < li->n_map; i++) {
		json_t *j = NULL;

		if ((vals = ldap_get_values_len(ld, e, li->map[i].attr)) == NULL)
			continue;
		/* Claims are single strings: the first value (the pivot
		 * claims have one). */
		if (vals[0] != NULL && (j = value_json(vals[0])) == NULL)
			LOG(li, 1, "attribute %s of an entry is not text of at most %d bytes: claim %s left out",
			    li->map[i].attr, LDAPB_VALUE_MAX, li->map[i].claim);
		ldap_value_free_len(vals);
		if (j != NULL && json_object_set_new(out->claims, li->map[i].claim, j) != 0)
			return IDP_PLUGIN_ENOMEM;
	}
	if (json_object_get(out->claims, "preferred_username") == NULL)
		json_object_set_new(out->claims, "preferred_username", json_string(username));
	if ((out->amr = strdup("pwd")) == NULL)
		return IDP_PLUGIN_ENOMEM;
	return IDP_PLUGIN_OK;
}

/* The answer of a search for a citizen's entry: exactly one entry, else
 * EDENIED (nobody, or a filter that matches several people). */
static int one_entry(const struct ldap_inst *li, LDAP *ld, LDAPMessage *res, int rc, LDAPMessage **e)
{
	int n = ldap_count_entries(ld, res);

	*e = NULL;
	if (rc == LDAP_SUCCESS && n == 1) {
		*e = ldap_first_entry(ld, res);
		return *e != NULL ? IDP_PLUGIN_OK : IDP_PLUGIN_EIO;
	}
	if (n > 1 || rc == LDAP_SIZELIMIT_EXCEEDED)
		LOG(li, 1, "\"filter\" matches several entries for one username: login refused");
	return IDP_PLUGIN_EDENIED;
}

/* Search then bind, first step: the citizen's entry, with the service
 * connection. *dn (ldap_memfree) and out on success. */
static int find_user(struct ldap_inst *li, const char *username, int64_t deadline, char **dn,
		     struct idp_identity *out)
{
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	char *filter;
	bool reused;
	int rc, lrc = LDAP_OTHER;

	*dn = NULL;
	if ((filter = user_filter(li, username)) == NULL)
		return IDP_PLUGIN_ENOMEM;
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((rc = svc_get(li, deadline, &ld, &reused)) != IDP_PLUGIN_OK)
			goto out;
		lrc = search(li, ld, li->base_dn, li->scope, filter, deadline, &res);
		if (lrc != LDAP_SERVER_DOWN || !reused)
			break;
		/* An idle connection the server has closed: try a new one. */
		ldap_unbind_ext(ld, NULL, NULL);
		ld = NULL;
		pool_flush(&li->svc);
	}
	if (lrc == LDAP_SUCCESS || lrc == LDAP_SIZELIMIT_EXCEEDED) {
		if ((rc = one_entry(li, ld, res, lrc, &e)) == IDP_PLUGIN_OK &&
		    (rc = fill_identity(li, ld, e, username, out)) == IDP_PLUGIN_OK &&
		    (*dn = ldap_get_dn(ld, e)) == NULL)
			rc = IDP_PLUGIN_ENOMEM;
	} else if (lrc == LDAP_NO_SUCH_OBJECT) {
		LOG(li, 0, "\"base_dn\" %s does not exist in the directory", li->base_dn);
		rc = IDP_PLUGIN_EUNAVAIL;
	} else {
		log_ldap(li, rc_unavailable(lrc) ? 1 : 0, ld, "search", lrc);
		rc = IDP_PLUGIN_EUNAVAIL;
	}
	ldap_msgfree(res);
	if (lrc == LDAP_SUCCESS || lrc == LDAP_SIZELIMIT_EXCEEDED || lrc == LDAP_NO_SUCH_OBJECT)
		pool_give(&li->svc, ld);
	else if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
out:
	free(filter);
	return rc;
}

/* The citizen's bind as dn with their password, on a connection for
 * citizens' binds. With read_entry (direct bind), then reads the entry as
 * the citizen and fills out. */
static int user_bind(struct ldap_inst *li, const char *dn, const struct idp_login *req,
		     int64_t deadline, bool read_entry, struct idp_identity *out)
{
	struct pool *pool = &li->usr;
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	char *filter = NULL;
	bool reused;
	int rc = IDP_PLUGIN_EUNAVAIL, lrc = LDAP_OTHER;

	for (int attempt = 0; attempt < 2; attempt++) {
		reused = (ld = pool_take(pool)) != NULL;
		if (!reused && (rc = conn_open(li, deadline, 1, &ld)) != IDP_PLUGIN_OK)
			return rc;
		lrc = simple_bind(ld, dn, req->password, deadline);
		if (lrc != LDAP_SERVER_DOWN || !reused)
			break;
		ldap_unbind_ext(ld, NULL, NULL);
		ld = NULL;
		pool_flush(pool);
	}
	if (lrc != LDAP_SUCCESS) {
		if (rc_unavailable(lrc)) {
			log_ldap(li, 1, ld, "bind", lrc);
			ldap_unbind_ext(ld, NULL, NULL);
			return IDP_PLUGIN_EUNAVAIL;
		}
		/* invalidCredentials, or a refusal of the account itself
		 * (unwillingToPerform, inappropriateAuthentication, a
		 * password policy...): the same answer as a wrong password. */
		if (lrc != LDAP_INVALID_CREDENTIALS)
			log_ldap(li, 3, ld, "citizen bind refused", lrc);
		pool_give(pool, ld); /* a failed bind leaves it anonymous */
		return IDP_PLUGIN_EDENIED;
	}
	if (!read_entry) {
		pool_give(pool, ld);
		return IDP_PLUGIN_OK;
	}
	if (li->filter != NULL && (filter = user_filter(li, req->username)) == NULL) {
		pool_give(pool, ld);
		return IDP_PLUGIN_ENOMEM;
	}
	lrc = search(li, ld, dn, LDAP_SCOPE_BASE, filter != NULL ? filter : "(objectClass=*)", deadline, &res);
	free(filter);
	if (lrc == LDAP_SUCCESS || lrc == LDAP_SIZELIMIT_EXCEEDED) {
		if ((rc = one_entry(li, ld, res, lrc, &e)) == IDP_PLUGIN_OK)
			rc = fill_identity(li, ld, e, req->username, out);
		ldap_msgfree(res);
		pool_give(pool, ld);
		return rc;
	}
	if (lrc == LDAP_NO_SUCH_OBJECT || lrc == LDAP_INSUFFICIENT_ACCESS) {
		LOG(li, 1, "a citizen bound but cannot read their own entry: check the directory's ACLs");
		pool_give(pool, ld);
		return IDP_PLUGIN_EUNAVAIL;
	}
	log_ldap(li, rc_unavailable(lrc) ? 1 : 0, ld, "reading the citizen's entry", lrc);
	ldap_unbind_ext(ld, NULL, NULL);
	return IDP_PLUGIN_EUNAVAIL;
}

static void identity_clear(struct idp_identity *out)
{
	free(out->subject);
	json_decref(out->claims);
	free(out->acr);
	free(out->amr);
	json_decref(out->session_data);
	memset(out, 0, sizeof(*out));
}

static int login(void *inst, const struct idp_login *req, struct idp_identity *out)
{
	struct ldap_inst *li = inst;
	int64_t deadline = mono_ms() + li->timeout_ms;
	char *dn = NULL, *esc;
	int rc;

	memset(out, 0, sizeof(*out));
	/* Before any bind: with an empty password a simple bind is an
	 * unauthenticated bind, which servers answer with success. */
	if (req->username == NULL || req->password == NULL || req->username[0] == '\0' ||
	    req->password[0] == '\0')
		return IDP_PLUGIN_EDENIED;
	if (li->dn_template != NULL) {
		if ((esc = dn_escape(req->username)) == NULL)
			return IDP_PLUGIN_ENOMEM;
		dn = expand(li->dn_template, esc);
		free(esc);
		if (dn == NULL)
			return IDP_PLUGIN_ENOMEM;
		rc = user_bind(li, dn, req, deadline, true, out);
		free(dn);
	} else {
		rc = find_user(li, req->username, deadline, &dn, out);
		if (rc == IDP_PLUGIN_OK)
			rc = user_bind(li, dn, req, deadline, false, out);
		ldap_memfree(dn);
	}
	if (rc != IDP_PLUGIN_OK)
		identity_clear(out);
	return rc;
}

/* ---- configuration ---- */

static void destroy(void *inst)
{
	struct ldap_inst *li = inst;

	if (li == NULL)
		return;
	pool_release(&li->svc);
	pool_release(&li->usr);
	if (li->bind_pw != NULL) {
		OPENSSL_cleanse(li->bind_pw, strlen(li->bind_pw));
		free(li->bind_pw);
	}
	for (size_t i = 0; i < li->n_map; i++) {
		free(li->map[i].claim);
		free(li->map[i].attr);
	}
	free(li->map);
	free(li->attrs); /* its strings belong to map and subject_attr */
	free(li->id);
	free(li->uri);
	free(li->ca_file);
	free(li->bind_dn);
	free(li->dn_template);
	free(li->base_dn);
	free(li->filter);
	free(li->subject_attr);
	free(li);
}

/* An attribute description: a name or an OID, with options (RFC 4512 2.5). */
static bool attr_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > 64 || strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-;.") != n)
		return false;
	return (a[0] >= 'a' && a[0] <= 'z') || (a[0] >= 'A' && a[0] <= 'Z') || (a[0] >= '0' && a[0] <= '9');
}

static bool dn_ok(const char *s)
{
	LDAPDN dn = NULL;

	if (ldap_str2dn(s, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS)
		return false;
	ldap_dnfree(dn);
	return true;
}

/* A template takes "%s" (the escaped username) at least once, "%%" for a
 * percent sign, and no other '%'. */
static bool template_ok(const char *t)
{
	bool has = false;

	for (; *t != '\0'; t++) {
		if (*t != '%')
			continue;
		if (t[1] == 's')
			has = true;
		else if (t[1] != '%')
			return false;
		t++;
	}
	return has;
}

/* A filter in parentheses, balanced (RFC 4515); the server checks the rest,
 * and the probe at startup asks it. */
static bool filter_ok(const char *f)
{
	int depth = 0;
	size_t n = strlen(f);

	if (n < 3 || f[0] != '(' || f[n - 1] != ')')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (f[i] == '(')
			depth++;
		else if (f[i] == ')' && --depth < 0)
			return false;
		if (depth == 0 && i + 1 < n)
			return false;
	}
	return depth == 0;
}

/* Claims the provider sets itself: a directory cannot supply them. */
static bool claim_reserved(const char *c)
{
	static const char *const reserved[] = {"sub", "iss", "aud", "exp", "iat", "nbf", "jti", "nonce", "acr",
					       "amr", "azp", "auth_time", "at_hash", "c_hash", "sid", NULL};

	for (size_t i = 0; reserved[i] != NULL; i++)
		if (strcmp(c, reserved[i]) == 0)
			return true;
	return false;
}

static bool claim_name_ok(const char *c)
{
	size_t n = strlen(c);

	return n > 0 && n <= 64 && strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

/* The optional string setting key: *out (strdup) or NULL. false after
 * logging when it is there but not a non-empty string. */
static bool conf_str(const struct ldap_inst *li, const json_t *conf, const char *key, char **out)
{
	const json_t *v = json_object_get(conf, key);

	*out = NULL;
	if (v == NULL)
		return true;
	if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 4096 ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		LOG(li, 0, "\"%s\" must be a non-empty string", key);
		return false;
	}
	if ((*out = strdup(json_string_value(v))) == NULL) {
		LOG(li, 0, "out of memory");
		return false;
	}
	return true;
}

static bool conf_bool(const struct ldap_inst *li, const json_t *conf, const char *key, bool dflt, bool *out)
{
	const json_t *v = json_object_get(conf, key);

	*out = dflt;
	if (v == NULL)
		return true;
	if (!json_is_boolean(v)) {
		LOG(li, 0, "\"%s\" must be true or false", key);
		return false;
	}
	*out = json_is_true(v);
	return true;
}

static bool conf_int(const struct ldap_inst *li, const json_t *conf, const char *key, int dflt, int min,
		     int max, int *out)
{
	const json_t *v = json_object_get(conf, key);

	*out = dflt;
	if (v == NULL)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		LOG(li, 0, "\"%s\" must be an integer from %d to %d", key, min, max);
		return false;
	}
	*out = (int)json_integer_value(v);
	return true;
}

static const char *const known_keys[] = {
	"id", "plugin", "title", "acr", "logo", /* the daemon's */
	"uri", "starttls", "ca_file", "tls_require_cert", "bind_dn", "bind_password", "user_dn_template",
	"base_dn", "filter", "scope", "timeout_ms", "attributes", "subject_attribute", "pool_size", NULL};

/* The claim mapping: the "attributes" object, else the inetOrgPerson one. */
static bool conf_map(struct ldap_inst *li, const json_t *conf)
{
	static const char *const dflt[][2] = {{"given_name", "givenName"}, {"family_name", "sn"},
					      {"email", "mail"},          {"preferred_username", "uid"},
					      {"phone_number", "telephoneNumber"}};
	const json_t *m = json_object_get(conf, "attributes"), *v;
	const char *claim;
	size_t i = 0, n = m != NULL ? json_object_size(m) : sizeof(dflt) / sizeof(dflt[0]);

	if (m != NULL && (!json_is_object(m) || n == 0 || n > LDAPB_MAP_MAX)) {
		LOG(li, 0, "\"attributes\" must be an object of 1 to %d claim: attribute pairs", LDAPB_MAP_MAX);
		return false;
	}
	if ((li->map = calloc(n, sizeof(*li->map))) == NULL)
		return false;
	if (m == NULL) {
		for (; i < n; i++) {
			li->map[i].claim = strdup(dflt[i][0]);
			li->map[i].attr = strdup(dflt[i][1]);
			li->n_map++;
			if (li->map[i].claim == NULL || li->map[i].attr == NULL)
				return false;
		}
		return true;
	}
	json_object_foreach((json_t *)m, claim, v) {
		const char *attr = json_string_value(v);

		if (!claim_name_ok(claim) || claim_reserved(claim)) {
			LOG(li, 0, "\"attributes\": \"%.64s\" is not a claim a directory can supply", claim);
			return false;
		}
		if (attr == NULL || !attr_ok(attr)) {
			LOG(li, 0, "\"attributes\": the value of \"%s\" must be an LDAP attribute name", claim);
			return false;
		}
		li->map[i].claim = strdup(claim);
		li->map[i].attr = strdup(attr);
		li->n_map = ++i;
		if (li->map[i - 1].claim == NULL || li->map[i - 1].attr == NULL)
			return false;
	}
	return true;
}

static int conf_load(struct ldap_inst *li, const json_t *conf)
{
	LDAPURLDesc *lud = NULL;
	const char *key, *scope;
	const json_t *v;
	char *s = NULL, *path = NULL;
	bool ok;
	int pool;
	size_t na = 0;

	json_object_foreach((json_t *)conf, key, v) {
		size_t i = 0;

		while (known_keys[i] != NULL && strcmp(known_keys[i], key) != 0)
			i++;
		if (known_keys[i] == NULL && key[0] != '_')
			LOG(li, 1, "unknown setting \"%.64s\" ignored", key);
	}
	if (!conf_str(li, conf, "uri", &li->uri))
		return IDP_PLUGIN_EINVAL;
	if (li->uri == NULL) {
		LOG(li, 0, "\"uri\" (ldap://host:port or ldaps://host:port) is required");
		return IDP_PLUGIN_EINVAL;
	}
	if (ldap_url_parse(li->uri, &lud) != LDAP_URL_SUCCESS || lud->lud_scheme == NULL ||
	    (strcmp(lud->lud_scheme, "ldap") != 0 && strcmp(lud->lud_scheme, "ldaps") != 0)) {
		LOG(li, 0, "\"uri\" must be one ldap:// or ldaps:// URL");
		ldap_free_urldesc(lud);
		return IDP_PLUGIN_EINVAL;
	}
	li->tls = strcmp(lud->lud_scheme, "ldaps") == 0;
	ldap_free_urldesc(lud);
	if (!conf_bool(li, conf, "starttls", false, &li->starttls) ||
	    !conf_bool(li, conf, "tls_require_cert", true, &li->require_cert) ||
	    !conf_str(li, conf, "ca_file", &path) || !conf_str(li, conf, "bind_dn", &li->bind_dn) ||
	    !conf_str(li, conf, "bind_password", &li->bind_pw) ||
	    !conf_str(li, conf, "user_dn_template", &li->dn_template) ||
	    !conf_str(li, conf, "base_dn", &li->base_dn) || !conf_str(li, conf, "filter", &li->filter) ||
	    !conf_str(li, conf, "subject_attribute", &li->subject_attr) ||
	    !conf_int(li, conf, "timeout_ms", LDAPB_TIMEOUT_MS, 100, 60000, &li->timeout_ms) ||
	    !conf_int(li, conf, "pool_size", LDAPB_POOL, 0, LDAPB_POOL_MAX, &pool))
		goto inval;
	if (li->starttls && li->tls) {
		LOG(li, 0, "\"starttls\" is for ldap:// URIs: an ldaps:// connection is TLS already");
		goto inval;
	}
	li->tls = li->tls || li->starttls;
	if (path != NULL) {
		if (path[0] == '/' || li->host->conf_dir == NULL)
			li->ca_file = path;
		else if (asprintf(&li->ca_file, "%s/%s", li->host->conf_dir, path) < 0)
			li->ca_file = NULL;
		if (li->ca_file != path)
			free(path);
		path = NULL;
		if (li->ca_file == NULL || access(li->ca_file, R_OK) != 0) {
			LOG(li, 0, "\"ca_file\" %s: %s", li->ca_file ? li->ca_file : "", strerror(errno));
			goto inval;
		}
		if (!li->tls)
			LOG(li, 1, "\"ca_file\" is unused without ldaps:// or \"starttls\"");
	}
	if (!li->tls)
		LOG(li, 1, "%s without \"starttls\": passwords cross the network in clear", li->uri);
	else if (!li->require_cert)
		LOG(li, 1, "\"tls_require_cert\" is false: the directory's certificate is not checked");
	if ((li->bind_dn == NULL) != (li->bind_pw == NULL)) {
		LOG(li, 0, "\"bind_dn\" and \"bind_password\" go together (neither: anonymous search)");
		goto inval;
	}
	if (li->bind_dn != NULL && !dn_ok(li->bind_dn)) {
		LOG(li, 0, "\"bind_dn\" is not a DN");
		goto inval;
	}
	if (li->dn_template != NULL) {
		if (li->bind_dn != NULL) {
			LOG(li, 0, "choose \"user_dn_template\" (direct bind) or \"bind_dn\" (search then bind), "
				   "not both");
			goto inval;
		}
		if (!template_ok(li->dn_template) || (s = expand(li->dn_template, "x")) == NULL ||
		    !dn_ok(s)) {
			LOG(li, 0, "\"user_dn_template\" must be a DN with %%s for the username, "
				   "like uid=%%s,ou=people,dc=example,dc=org");
			goto inval;
		}
		free(s);
		s = NULL;
	} else {
		if (li->base_dn == NULL || !dn_ok(li->base_dn)) {
			LOG(li, 0, "\"base_dn\" (where to search for citizens) must be a DN; "
				   "or give \"user_dn_template\" for a direct bind");
			goto inval;
		}
		if (li->filter == NULL && (li->filter = strdup("(uid=%s)")) == NULL)
			goto inval;
	}
	if (li->filter != NULL && (!template_ok(li->filter) || (s = expand(li->filter, "x")) == NULL ||
				   !filter_ok(s))) {
		LOG(li, 0, "\"filter\" must be an LDAP filter with %%s for the username, like (uid=%%s)");
		goto inval;
	}
	free(s);
	s = NULL;
	scope = json_string_value(json_object_get(conf, "scope"));
	if (json_object_get(conf, "scope") != NULL && (scope == NULL || (strcmp(scope, "sub") != 0 &&
									 strcmp(scope, "one") != 0))) {
		LOG(li, 0, "\"scope\" must be \"sub\" or \"one\"");
		goto inval;
	}
	li->scope = scope != NULL && strcmp(scope, "one") == 0 ? LDAP_SCOPE_ONELEVEL : LDAP_SCOPE_SUBTREE;
	if (li->subject_attr == NULL && (li->subject_attr = strdup("entryUUID")) == NULL)
		goto inval;
	if (strcmp(li->subject_attr, "dn") == 0) {
		free(li->subject_attr);
		li->subject_attr = NULL;
	} else if (!attr_ok(li->subject_attr)) {
		LOG(li, 0, "\"subject_attribute\" must be an LDAP attribute name (or \"dn\")");
		goto inval;
	}
	if (!conf_map(li, conf))
		goto inval;
	/* What searches ask for: the mapped attributes and the subject's;
	 * "1.1" (RFC 4511 4.5.1.8) when that is nothing. */
	if ((li->attrs = calloc(li->n_map + 2, sizeof(*li->attrs))) == NULL)
		goto inval;
	for (size_t i = 0; i < li->n_map; i++)
		li->attrs[na++] = li->map[i].attr;
	if (li->subject_attr != NULL)
		li->attrs[na++] = li->subject_attr;
	if (na == 0)
		li->attrs[na++] = (char *)LDAP_NO_ATTRS;
	ok = pool_init(&li->svc, (size_t)pool) == IDP_PLUGIN_OK;
	ok = pool_init(&li->usr, (size_t)pool) == IDP_PLUGIN_OK && ok;
	return ok ? IDP_PLUGIN_OK : IDP_PLUGIN_ENOMEM;
inval:
	free(s);
	free(path);
	return IDP_PLUGIN_EINVAL;
}

/* The TLS settings make a TLS context now, while the daemon starts on one
 * thread: an unusable ca_file is a configuration error, and libldap's TLS
 * library gets initialised before logins race to do it. */
static int tls_check(const struct ldap_inst *li)
{
	LDAP *ld = NULL;
	int req = li->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER, client = 0, rc;

	if (!li->tls)
		return IDP_PLUGIN_OK;
	if (ldap_initialize(&ld, li->uri) != LDAP_SUCCESS)
		return IDP_PLUGIN_EINVAL;
	rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
	if (rc == LDAP_OPT_SUCCESS && li->ca_file != NULL)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, li->ca_file);
	if (rc == LDAP_OPT_SUCCESS)
		rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &client);
	if (rc != LDAP_OPT_SUCCESS)
		log_ldap(li, 0, ld, li->ca_file ? "\"ca_file\" is not a usable PEM file of certificates"
						: "no usable TLS context (system CA certificates)", LDAP_LOCAL_ERROR);
	ldap_unbind_ext(ld, NULL, NULL);
	return rc == LDAP_OPT_SUCCESS ? IDP_PLUGIN_OK : IDP_PLUGIN_EINVAL;
}

/* A new connection as logins use it (bound as the service account when
 * there is one), kept in its pool for the next login. A connection from the
 * pool would prove nothing: the server may have closed it since. */
static int connect_once(struct ldap_inst *li, int loglevel)
{
	int64_t deadline = mono_ms() + li->timeout_ms;
	LDAP *ld = NULL;
	int rc;

	if (li->dn_template == NULL) {
		if ((rc = svc_open(li, deadline, loglevel, &ld)) == IDP_PLUGIN_OK)
			pool_give(&li->svc, ld);
	} else if ((rc = conn_open(li, deadline, loglevel, &ld)) == IDP_PLUGIN_OK) {
		pool_give(&li->usr, ld);
	}
	return rc;
}

static int create(const struct idp_host *host, const json_t *conf, void **inst)
{
	struct ldap_inst *li = calloc(1, sizeof(*li));
	const char *id = json_string_value(json_object_get(conf, "id"));
	int rc;

	*inst = NULL;
	if (li == NULL || (li->id = strdup(id != NULL ? id : "ldap")) == NULL) {
		free(li);
		return IDP_PLUGIN_ENOMEM;
	}
	li->host = host;
	if (!json_is_object(conf)) {
		LOG(li, 0, "the backend's settings must be an object");
		destroy(li);
		return IDP_PLUGIN_EINVAL;
	}
	if ((rc = conf_load(li, conf)) != IDP_PLUGIN_OK || (rc = tls_check(li)) != IDP_PLUGIN_OK) {
		destroy(li);
		return rc == IDP_PLUGIN_ENOMEM ? rc : IDP_PLUGIN_EINVAL;
	}
	/* One connection now, to report a wrong address, certificate or
	 * service account early; a directory that is down is no reason to stop
	 * the daemon: its logins answer "unavailable" until it comes back. */
	if (connect_once(li, 1) == IDP_PLUGIN_OK)
		LOG(li, 2, "%s answers (%s)", li->uri, li->dn_template ? "direct bind" : "search then bind");
	else
		LOG(li, 1, "%s does not answer now: its logins will be \"unavailable\" until it does", li->uri);
	*inst = li;
	return IDP_PLUGIN_OK;
}

/* The daemon's health prober, while the backend is marked down: 0 when the
 * directory answers again. Failures are logged at debug level (the prober
 * asks every few seconds; the logins that failed said why). */
static int probe(void *inst)
{
	return connect_once(inst, 3) == IDP_PLUGIN_OK ? 0 : -1;
}

IDP_EXPORT const struct idp_backend idp_backend_entry = {
	.abi = IDP_BACKEND_ABI,
	.size = sizeof(struct idp_backend),
	.name = "ldap",
	.create = create,
	.destroy = destroy,
	.login = login,
	.probe = probe,
};
