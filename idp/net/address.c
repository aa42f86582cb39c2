/* SPDX-License-Identifier: EUPL-1.2 */
/* Who the client is: the TCP peer, or behind one of listen.trusted_proxies
 * the client that proxy names in X-Forwarded-For or Forwarded. Rate limits
 * and audit lines key on this address, so a header is believed only from
 * a trusted proxy, and only its rightmost untrusted hop. */
#include "http_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "idp.h"

/* One address of a forwarding header, canonical (inet_ntop of inet_pton);
 * false when it is not a plain IPv4 or IPv6 address. */
static bool fwd_addr(const char *s, size_t len, char out[64])
{
	char tmp[INET6_ADDRSTRLEN];
	unsigned char bin[16];

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1)
		return inet_ntop(AF_INET, bin, out, 64) != NULL;
	if (inet_pton(AF_INET6, tmp, bin) == 1)
		return inet_ntop(AF_INET6, bin, out, 64) != NULL;
	return false;
}

/* The for= value of one RFC 7239 element: "192.0.2.1", "192.0.2.1:80" or
 * "[2001:db8::1]:80" (quoted, the latter two must be). "unknown" and
 * obfuscated names are not addresses: they count as malformed. */
static bool fwd_for_value(const char *v, size_t len, char out[64])
{
	const char *close, *colon;

	if (len >= 2 && v[0] == '"' && v[len - 1] == '"') {
		v++;
		len -= 2;
	}
	if (len > 0 && v[0] == '[') {
		if ((close = memchr(v, ']', len)) == NULL)
			return false;
		if ((size_t)(close - v) + 1 != len && close[1] != ':')
			return false;
		return fwd_addr(v + 1, (size_t)(close - v - 1), out);
	}
	colon = memchr(v, ':', len);
	return fwd_addr(v, colon != NULL ? (size_t)(colon - v) : len, out);
}

/* Splits list on ',' and takes, from the right, the first hop that is not a
 * trusted proxy (a client may write anything to the left of what our proxies
 * appended). forwarded: RFC 7239 elements, else X-Forwarded-For addresses. */
static int fwd_client(const struct config *cfg, const char *list, bool forwarded, char out[64])
{
	const char *end = list + strlen(list);
	char hop[64];
	bool any = false;

	while (end > list) {
		const char *start = end;
		const char *s, *e;

		while (start > list && start[-1] != ',')
			start--;
		s = start;
		e = end;
		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (forwarded) {
			const char *p = s, *v = NULL;
			size_t vlen = 0;

			while (p < e) { /* pairs separated by ';' */
				const char *q = memchr(p, ';', (size_t)(e - p));
				const char *pe = q != NULL ? q : e;

				while (p < pe && *p == ' ')
					p++;
				if (pe - p > 4 && strncasecmp(p, "for=", 4) == 0) {
					v = p + 4;
					vlen = (size_t)(pe - v);
					while (vlen > 0 && v[vlen - 1] == ' ')
						vlen--;
				}
				p = q != NULL ? q + 1 : e;
			}
			if (v == NULL || !fwd_for_value(v, vlen, hop))
				return IDP_EINVAL;
		} else if (!fwd_addr(s, (size_t)(e - s), hop)) {
			return IDP_EINVAL;
		}
		any = true;
		snprintf(out, 64, "%s", hop); /* all trusted: the leftmost is the client */
		if (!cidr_list_has(cfg->trusted_proxies, cfg->n_trusted_proxies, hop))
			return IDP_OK;
		end = start > list ? start - 1 : list;
	}
	return any ? IDP_OK : IDP_EINVAL;
}

struct hdr_join {
	const char *name;
	struct buf b;
	bool seen, bad;
};

/* Several headers of one name are one comma-separated list (RFC 9110 5.3). */
static enum MHD_Result hdr_join_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_join *j = cls;

	(void)kind;
	if (strcasecmp(key, j->name) != 0 || value == NULL)
		return MHD_YES;
	if ((j->seen && buf_adds(&j->b, ",") != IDP_OK) || buf_adds(&j->b, value) != IDP_OK)
		j->bad = true;
	j->seen = true;
	return MHD_YES;
}

int http_client_address(const struct config *cfg, const char *peer, const char *xff, const char *fwd,
			char out[64])
{
	int rc = IDP_OK;

	snprintf(out, 64, "%s", peer);
	if (!cidr_list_has(cfg->trusted_proxies, cfg->n_trusted_proxies, peer))
		return IDP_OK; /* from anyone else, the headers are ignored */
	if (xff != NULL)
		rc = fwd_client(cfg, xff, false, out);
	else if (fwd != NULL)
		rc = fwd_client(cfg, fwd, true, out);
	if (rc != IDP_OK)
		snprintf(out, 64, "%s", peer);
	return rc;
}

/* r->ip: the TCP peer, or behind a trusted proxy the client it names. */
void req_set_ip(struct req *r, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct hdr_join xff = {"X-Forwarded-For", {0}, false, false};
	struct hdr_join fwd = {"Forwarded", {0}, false, false};
	char peer[sizeof(r->ip)];

	/* Written straight into the request (every request pays this): the
	 * peer's own copy is needed only behind a trusted proxy. */
	r->ip[0] = '\0';
	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, r->ip, sizeof(r->ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, r->ip, sizeof(r->ip));
	}
	if (r->cfg->n_trusted_proxies == 0 || !cidr_list_has(r->cfg->trusted_proxies, r->cfg->n_trusted_proxies, r->ip))
		return;
	memcpy(peer, r->ip, sizeof(peer));
	buf_init(&xff.b, 8192);
	buf_init(&fwd.b, 8192);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, hdr_join_cb, &xff);
	MHD_get_connection_values(conn, MHD_HEADER_KIND, hdr_join_cb, &fwd);
	if (xff.bad || fwd.bad ||
	    http_client_address(r->cfg, peer, xff.seen ? xff.b.p : NULL, fwd.seen ? fwd.b.p : NULL, r->ip) != IDP_OK)
		idp_log(LOG_DEBUG, "http: malformed X-Forwarded-For or Forwarded from proxy %s: its address is used", peer);
	buf_release(&xff.b);
	buf_release(&fwd.b);
}
