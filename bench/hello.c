/* SPDX-License-Identifier: EUPL-1.2 */
/* hello: the HTTP ceiling. A bare libmicrohttpd server configured like the
 * provider (internal polling thread, epoll, a thread pool), answering
 * "hello" to every request. The reply is queued on the second callback of a
 * request, not the first: libmicrohttpd 0.9.75 closes the connection when a
 * reply is queued on the first call, and keep-alive is worth about 6x.
 *
 *   hello PORT THREADS [PORT_FILE]       (PORT 0: any free port) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

static const char body[] = "hello\n";

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	static int first_call_marker;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	if (*req_cls == NULL) { /* first call: headers only, reply later */
		*req_cls = &first_call_marker;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		*upload_size = 0;
		return MHD_YES;
	}
	resp = MHD_create_response_from_buffer(sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

int main(int argc, char **argv)
{
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *di;
	sigset_t set;
	int sig;
	unsigned threads;
	struct sockaddr_in sa;

	if (argc < 3) {
		fprintf(stderr, "usage: hello PORT THREADS [PORT_FILE]\n");
		return 2;
	}
	threads = (unsigned)atoi(argv[2]);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET; /* loopback only */
	sa.sin_port = htons((uint16_t)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
			     (uint16_t)atoi(argv[1]), NULL, NULL, on_request, NULL,
			     MHD_OPTION_THREAD_POOL_SIZE, threads ? threads : 1,
			     MHD_OPTION_CONNECTION_LIMIT, 4096u,
			     MHD_OPTION_CONNECTION_TIMEOUT, 30u,
			     MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_END);
	if (d == NULL) {
		fprintf(stderr, "hello: cannot start\n");
		return 1;
	}
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (argc > 3 && di != NULL) {
		FILE *f = fopen(argv[3], "w");

		if (f != NULL) {
			fprintf(f, "%u\n", (unsigned)di->port);
			fclose(f);
		}
	}
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
