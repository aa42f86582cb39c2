/* SPDX-License-Identifier: Apache-2.0 */
/* dp-demo: a data provider (the family allowance office of the demo) that
 * hands a citizen's quotient familial to a service presenting an access
 * token the citizen consented to, checked at the provider with librp.
 *
 *   dp-demo --port 8083 --issuer http://127.0.0.1:8080 --client-id demo-cnaf \
 *           [--http-loopback] [--port-file FILE] [--cache-s N]
 *   (client secret in RP_CLIENT_SECRET, never on the command line)
 *
 * --cache-s: how long an introspection answer is kept (librp's default
 * otherwise, 30 s): a token revoked at the provider (the citizen withdrew
 * consent) is refused here at most that long after; 0 asks every time.
 *
 * GET /quotient-familial with "Authorization: Bearer TOKEN" (RFC 6750 2.1):
 * rp_introspect() asks the provider; the token must be active and carry
 * cnaf_quotient_familial (rp_scope_has), else 401 or 403 with the
 * WWW-Authenticate of RFC 6750 3. The citizen is found by the identity pivot
 * the provider gives (the token must also carry identite_pivot), in a fixed
 * table of the demo citizens. */
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include <rp.h>

#define SCOPE "cnaf_quotient_familial"
#define SOURCE "Caisse d'allocations familiales, démo"

/* The demo citizens (scripts/demo-setup.sh), by their identity pivot. */
static const struct {
	const char *given_name, *family_name, *birthdate;
	int quotient;
} files[] = {
	{ "Marianne", "Dupont", "1990-07-14", 712 },
	{ "Jean", "Martin", "1985-03-02", 1045 },
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *www,
			      const char *json)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(json), (void *)json,
								 MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	if (www != NULL)
		MHD_add_response_header(r, "WWW-Authenticate", www);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *pivot(const struct rp_introspection *in, const char *name)
{
	const char *v = json_string_value(json_object_get(in->pivot, name));

	return v != NULL ? v : "";
}

/* The citizen's file as JSON, or an error (RFC 6750 3.1 for the token). */
static enum MHD_Result quotient(struct rp_config *rp, struct MHD_Connection *c)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	struct rp_introspection in = { 0 };
	struct rp_error err;
	enum MHD_Result ret;
	char body[256];

	if (auth == NULL)
		return answer(c, 401, "Bearer realm=\"cnaf-demo\"", "{\"error\":\"no token\"}");
	if (strncmp(auth, "Bearer ", 7) != 0 || auth[7] == '\0')
		return answer(c, 400, "Bearer realm=\"cnaf-demo\", error=\"invalid_request\"",
			      "{\"error\":\"invalid_request\"}");
	if (rp_introspect(rp, auth + 7, &in, &err) != RP_OK) {
		fprintf(stderr, "dp-demo: %s\n", err.message);
		return answer(c, 503, NULL, "{\"error\":\"the identity provider is not answering\"}");
	}
	if (!in.active)
		ret = answer(c, 401, "Bearer realm=\"cnaf-demo\", error=\"invalid_token\"",
			     "{\"error\":\"invalid_token\"}");
	else if (!rp_scope_has(in.scope, SCOPE))
		ret = answer(c, 403, "Bearer realm=\"cnaf-demo\", error=\"insufficient_scope\", "
				     "scope=\"" SCOPE "\"", "{\"error\":\"insufficient_scope\"}");
	else {
		int q = -1;

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			if (strcmp(pivot(&in, "given_name"), files[i].given_name) == 0 &&
			    strcmp(pivot(&in, "family_name"), files[i].family_name) == 0 &&
			    strcmp(pivot(&in, "birthdate"), files[i].birthdate) == 0)
				q = files[i].quotient;
		snprintf(body, sizeof(body), "{\"quotient_familial\":%d,\"source\":\"" SOURCE "\"}", q);
		ret = q < 0 ? answer(c, 404, NULL, "{\"error\":\"no file for this citizen\"}")
			    : answer(c, 200, NULL, body);
		fprintf(stderr, "dp-demo: %s for %s\n", q < 0 ? "no file" : "quotient given",
			in.client_id != NULL ? in.client_id : "?");
	}
	rp_introspection_release(&in);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *data,
			      size_t *size, void **req_cls)
{
	(void)version;
	(void)data;
	(void)size;
	if (*req_cls == NULL) { /* the head only: answer on the next call */
		*req_cls = c;
		return MHD_YES;
	}
	if (strcmp(url, "/quotient-familial") != 0)
		return answer(c, 404, NULL, "{\"error\":\"not found\"}");
	if (strcmp(method, "GET") != 0)
		return answer(c, 405, NULL, "{\"error\":\"GET only\"}");
	return quotient(cls, c);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' }, { "issuer", required_argument, NULL, 'i' },
		{ "client-id", required_argument, NULL, 'c' },
		{ "http-loopback", no_argument, NULL, 'l' },
		{ "port-file", required_argument, NULL, 'f' }, { "cache-s", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *issuer = NULL, *client_id = NULL, *port_file = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct MHD_Daemon *mhd;
	struct rp_config *rp;
	struct rp_error err;
	char base[48];
	bool loopback = false;
	long port = -1, cache_s = -1;
	sigset_t sigs;
	int opt, fd, one = 1;

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': port = strtol(optarg, NULL, 10); break;
		case 'i': issuer = optarg; break;
		case 'c': client_id = optarg; break;
		case 'l': loopback = true; break;
		case 'f': port_file = optarg; break;
		case 's':
			cache_s = strtol(optarg, NULL, 10);
			if (cache_s < 0 || cache_s > 3600)
				port = -1; /* the usage */
			break;
		default: port = -1; break;
		}
	}
	if (port < 0 || port > 65535 || issuer == NULL || client_id == NULL) {
		fprintf(stderr, "usage: %s --port N --issuer URL --client-id ID [--http-loopback]\n"
			"       [--port-file FILE] [--cache-s 0..3600]  (client secret in RP_CLIENT_SECRET)\n", argv[0]);
		return 2;
	}
	/* SIGINT and SIGTERM waited for in this thread, blocked in MHD's. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	/* Bound here so that --port 0 can tell the port it got. */
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 64) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) != 0) {
		fprintf(stderr, "dp-demo: cannot listen on 127.0.0.1:%ld\n", port);
		return 1;
	}
	snprintf(base, sizeof(base), "http://127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
	/* A data provider logs no one in; librp wants a redirect URI all the
	 * same: its own address, never used. */
	rp = rp_config_new(issuer, client_id, getenv("RP_CLIENT_SECRET"), base, &err);
	if (rp == NULL || rp_config_set_http_loopback(rp, loopback) != RP_OK ||
	    (cache_s >= 0 && rp_config_set_introspection_cache(rp, (int)cache_s, 1024) != RP_OK) ||
	    (mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
				    NULL, handle, rp, MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_CONNECTION_TIMEOUT,
				    30u, MHD_OPTION_END)) == NULL) {
		fprintf(stderr, "dp-demo: %s\n", rp == NULL ? err.message : "cannot start");
		rp_config_free(rp);
		close(fd);
		return 1;
	}
	if (port_file != NULL) {
		FILE *f = fopen(port_file, "w");

		if (f == NULL || fprintf(f, "%s\n", base) < 0 || fclose(f) != 0)
			fprintf(stderr, "dp-demo: cannot write %s\n", port_file);
	}
	fprintf(stderr, "dp-demo: " SOURCE " on %s, provider %s, client %s\n", base, issuer,
		client_id);
	sigwait(&sigs, &opt);
	MHD_stop_daemon(mhd);
	rp_config_free(rp);
	return 0;
}
