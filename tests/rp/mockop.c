/* SPDX-License-Identifier: EUPL-1.2 */
/* A scripted provider for librp's tests (see mockop.h). */
#include "mockop.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define MAX_UPLOAD (64 * 1024)

struct answer {
	int status;
	char *ctype;
	char *body;
};

struct mockop {
	struct MHD_Daemon *d;
	char issuer[64];
	pthread_mutex_t lock;           /* everything below */
	char *disc_fmt;
	char *jwks;
	int jwks_status;
	struct answer token, userinfo;
	int disc_fetches, jwks_fetches;
	char *jwks_header, *jwks_query, *jwks_auth, *jwks_assertion, *token_body, *token_auth, *userinfo_auth;
};

struct upload {
	char *data;
	size_t len;
	bool too_big;
};

static const char default_disc[] =
	"{\"issuer\":\"%s\",\"authorization_endpoint\":\"%s/authorize\","
	"\"token_endpoint\":\"%s/token\",\"userinfo_endpoint\":\"%s/userinfo\","
	"\"jwks_uri\":\"%s/jwks\",\"end_session_endpoint\":\"%s/logout\","
	"\"response_types_supported\":[\"code\"],\"subject_types_supported\":[\"pairwise\"],"
	"\"id_token_signing_alg_values_supported\":[\"ES256\",\"RS256\"]}";

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void set_str(struct mockop *op, char **slot, const char *v)
{
	pthread_mutex_lock(&op->lock);
	free(*slot);
	*slot = dup_or_null(v);
	pthread_mutex_unlock(&op->lock);
}

static char *get_str(struct mockop *op, char *const *slot)
{
	char *s;

	pthread_mutex_lock(&op->lock);
	s = dup_or_null(*slot);
	pthread_mutex_unlock(&op->lock);
	return s;
}

/* The discovery document: every %s of the format is the issuer. */
static char *disc_doc(struct mockop *op)
{
	const char *f = op->disc_fmt, *i = op->issuer;
	size_t cap = strlen(f) * (strlen(i) + 1) + 1, o = 0;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	while (*f != '\0') {
		if (f[0] == '%' && f[1] == 's') {
			memcpy(out + o, i, strlen(i));
			o += strlen(i);
			f += 2;
		} else {
			out[o++] = *f++;
		}
	}
	out[o] = '\0';
	return out;
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype,
			     const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(r, "Content-Type", ctype);
	ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result reply_answer(struct mockop *op, struct MHD_Connection *c,
				    const struct answer *a)
{
	char *ctype, *body;
	int status;
	enum MHD_Result ret;

	pthread_mutex_lock(&op->lock);
	status = a->status;
	ctype = dup_or_null(a->ctype);
	body = dup_or_null(a->body != NULL ? a->body : "");
	pthread_mutex_unlock(&op->lock);
	ret = reply(c, status, ctype, body);
	free(ctype);
	free(body);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *data_size, void **req_cls)
{
	struct mockop *op = cls;
	struct upload *up = *req_cls;
	enum MHD_Result ret;
	char *doc;
	int status;

	(void)version;
	if (up == NULL) {
		if ((up = calloc(1, sizeof(*up))) == NULL)
			return MHD_NO;
		*req_cls = up;
		return MHD_YES;
	}
	if (*data_size != 0) {
		if (up->len + *data_size > MAX_UPLOAD) {
			up->too_big = true;
		} else {
			char *n = realloc(up->data, up->len + *data_size + 1);
			if (n == NULL)
				return MHD_NO;
			up->data = n;
			memcpy(up->data + up->len, data, *data_size);
			up->len += *data_size;
			up->data[up->len] = '\0';
		}
		*data_size = 0;
		return MHD_YES;
	}
	if (strcmp(url, "/.well-known/openid-configuration") == 0 && strcmp(method, "GET") == 0) {
		pthread_mutex_lock(&op->lock);
		op->disc_fetches++;
		doc = disc_doc(op);
		pthread_mutex_unlock(&op->lock);
		ret = reply(c, 200, "application/json", doc != NULL ? doc : "");
		free(doc);
		return ret;
	}
	if (strcmp(url, "/jwks") == 0 && strcmp(method, "GET") == 0) {
		const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Client-Id");
		const char *q = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "client_id");

		pthread_mutex_lock(&op->lock);
		op->jwks_fetches++;
		free(op->jwks_header);
		free(op->jwks_query);
		op->jwks_header = dup_or_null(h);
		op->jwks_query = dup_or_null(q);
		free(op->jwks_auth);
		op->jwks_auth = dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
		free(op->jwks_assertion);
		op->jwks_assertion = dup_or_null(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Client-Assertion"));
		doc = dup_or_null(op->jwks != NULL ? op->jwks : "{\"keys\":[]}");
		status = op->jwks_status;
		pthread_mutex_unlock(&op->lock);
		ret = reply(c, status, "application/json", doc != NULL ? doc : "");
		free(doc);
		return ret;
	}
	if (strcmp(url, "/token") == 0 && strcmp(method, "POST") == 0) {
		set_str(op, &op->token_body, up->too_big ? "(too big)" : up->data);
		set_str(op, &op->token_auth,
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
		return reply_answer(op, c, &op->token);
	}
	if (strcmp(url, "/userinfo") == 0 && strcmp(method, "GET") == 0) {
		set_str(op, &op->userinfo_auth,
			MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization"));
		return reply_answer(op, c, &op->userinfo);
	}
	return reply(c, 404, "text/plain", "not found");
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *req_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (up != NULL) {
		free(up->data);
		free(up);
		*req_cls = NULL;
	}
}

struct mockop *mockop_start(void)
{
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *info;
	struct mockop *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	pthread_mutex_init(&op->lock, NULL);
	op->disc_fmt = strdup(default_disc);
	op->jwks_status = 200;
	op->token.status = op->userinfo.status = 500;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	op->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				 handle, op, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				 MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
				 MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
	if (op->d == NULL || (info = MHD_get_daemon_info(op->d, MHD_DAEMON_INFO_BIND_PORT)) == NULL) {
		mockop_free(op);
		return NULL;
	}
	snprintf(op->issuer, sizeof(op->issuer), "http://127.0.0.1:%u", (unsigned)info->port);
	return op;
}

void mockop_halt(struct mockop *op)
{
	if (op->d != NULL)
		MHD_stop_daemon(op->d);
	op->d = NULL;
}

void mockop_free(struct mockop *op)
{
	if (op == NULL)
		return;
	mockop_halt(op);
	free(op->disc_fmt);
	free(op->jwks);
	free(op->token.ctype);
	free(op->token.body);
	free(op->userinfo.ctype);
	free(op->userinfo.body);
	free(op->jwks_header);
	free(op->jwks_query);
	free(op->jwks_auth);
	free(op->jwks_assertion);
	free(op->token_body);
	free(op->token_auth);
	free(op->userinfo_auth);
	pthread_mutex_destroy(&op->lock);
	free(op);
}

const char *mockop_issuer(const struct mockop *op)
{
	return op->issuer;
}

void mockop_set_discovery(struct mockop *op, const char *doc_fmt)
{
	set_str(op, &op->disc_fmt, doc_fmt != NULL ? doc_fmt : default_disc);
}

void mockop_set_jwks(struct mockop *op, const char *jwks)
{
	set_str(op, &op->jwks, jwks);
}

void mockop_set_jwks_status(struct mockop *op, int status)
{
	pthread_mutex_lock(&op->lock);
	op->jwks_status = status;
	pthread_mutex_unlock(&op->lock);
}

static void set_answer(struct mockop *op, struct answer *a, int status, const char *ctype,
		       const char *body)
{
	pthread_mutex_lock(&op->lock);
	a->status = status;
	free(a->ctype);
	free(a->body);
	a->ctype = dup_or_null(ctype);
	a->body = dup_or_null(body);
	pthread_mutex_unlock(&op->lock);
}

void mockop_set_token(struct mockop *op, int status, const char *ctype, const char *body)
{
	set_answer(op, &op->token, status, ctype, body);
}

void mockop_set_userinfo(struct mockop *op, int status, const char *ctype, const char *body)
{
	set_answer(op, &op->userinfo, status, ctype, body);
}

int mockop_disc_fetches(struct mockop *op)
{
	int n;

	pthread_mutex_lock(&op->lock);
	n = op->disc_fetches;
	pthread_mutex_unlock(&op->lock);
	return n;
}

int mockop_jwks_fetches(struct mockop *op)
{
	int n;

	pthread_mutex_lock(&op->lock);
	n = op->jwks_fetches;
	pthread_mutex_unlock(&op->lock);
	return n;
}

char *mockop_last_jwks_header(struct mockop *op)
{
	return get_str(op, &op->jwks_header);
}

char *mockop_last_jwks_auth(struct mockop *op)
{
	return get_str(op, &op->jwks_auth);
}

char *mockop_last_jwks_assertion(struct mockop *op)
{
	return get_str(op, &op->jwks_assertion);
}

char *mockop_last_jwks_query(struct mockop *op)
{
	return get_str(op, &op->jwks_query);
}

char *mockop_last_token_body(struct mockop *op)
{
	return get_str(op, &op->token_body);
}

char *mockop_last_token_auth(struct mockop *op)
{
	return get_str(op, &op->token_auth);
}

char *mockop_last_userinfo_auth(struct mockop *op)
{
	return get_str(op, &op->userinfo_auth);
}
