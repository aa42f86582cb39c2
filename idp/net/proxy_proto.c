/* SPDX-License-Identifier: EUPL-1.2 */
/* The PROXY protocol header, versions 1 (text) and 2 (binary), as HAProxy's
 * proxy-protocol.txt defines them. Strict: what the spec does not allow is
 * refused, since a connection whose start is misread would be taken as
 * coming from whatever address its bytes happened to name. */
#include "proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

static const char v1_sig[] = "PROXY ";
static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/* A port of a v1 line: decimal 0 to 65535, no sign, no leading zero. */
static bool v1_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* An address of a v1 line in its family's usual form (inet_pton's: a
 * dotted quad without leading zeros, or an IPv6 address). */
static bool v1_addr(const char *s, size_t n, int family, unsigned char bin[16])
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, bin) == 1;
}

static void set_addr(struct pp_header *out, int family, const unsigned char *a, uint16_t port)
{
	memset(&out->addr, 0, sizeof(out->addr));
	if (family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *)&out->addr;

		sa->sin_family = AF_INET;
		memcpy(&sa->sin_addr, a, 4);
		sa->sin_port = htons(port);
		out->addrlen = sizeof(*sa);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)&out->addr;

		sa->sin6_family = AF_INET6;
		memcpy(&sa->sin6_addr, a, 16);
		sa->sin6_port = htons(port);
		out->addrlen = sizeof(*sa);
	}
}

/* "PROXY UNKNOWN[ anything]" or "PROXY TCP4|TCP6 SRC DST SPORT DPORT", the
 * line without its CRLF; fields separated by exactly one space. */
static enum pp_result v1_line(const char *line, size_t n, struct pp_header *out)
{
	const char *f[6];
	size_t fl[6], k = 0;
	unsigned char src[16], dst[16];
	uint16_t sport, dport;
	int family;

	if ((n == 13 || (n > 13 && line[13] == ' ')) && memcmp(line, "PROXY UNKNOWN", 13) == 0) {
		out->keep_peer = true;
		return PP_DONE;
	}
	for (size_t i = 0, start = 0; i <= n; i++) {
		if (i < n && line[i] != ' ')
			continue;
		if (k == 6)
			return PP_BAD;
		f[k] = line + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	if (k != 6)
		return PP_BAD;
	if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return PP_BAD;
	if (!v1_addr(f[2], fl[2], family, src) || !v1_addr(f[3], fl[3], family, dst) ||
	    !v1_port(f[4], fl[4], &sport) || !v1_port(f[5], fl[5], &dport))
		return PP_BAD;
	out->keep_peer = false;
	set_addr(out, family, src, sport);
	return PP_DONE;
}

static enum pp_result v1_parse(const unsigned char *b, size_t len, struct pp_header *out)
{
	size_t n = len < PP_V1_MAX ? len : PP_V1_MAX;

	for (size_t i = 0; i < n; i++) {
		if (b[i] == '\r') {
			if (i + 1 >= PP_V1_MAX)
				return PP_BAD; /* its LF would be the 108th byte */
			if (i + 1 == len)
				return PP_NEED_MORE;
			if (b[i + 1] != '\n')
				return PP_BAD;
			out->consumed = i + 2;
			return v1_line((const char *)b, i, out);
		}
		if (b[i] < 0x20 || b[i] > 0x7e)
			return PP_BAD;
	}
	return len >= PP_V1_MAX ? PP_BAD : PP_NEED_MORE;
}

/* The TLVs after the address block: type, a 16-bit length, the value. None
 * is used; each must fit in what the header's length announced. */
static bool v2_tlvs_fit(const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t vl;

		if (n < 3)
			return false;
		vl = (size_t)p[1] << 8 | p[2];
		if (vl > n - 3)
			return false;
		p += 3 + vl;
		n -= 3 + vl;
	}
	return true;
}

static enum pp_result v2_parse(const unsigned char *b, size_t len, struct pp_header *out)
{
	size_t body, need;
	unsigned ver_cmd, fam;

	if (len < 16)
		return PP_NEED_MORE;
	ver_cmd = b[12];
	fam = b[13];
	body = (size_t)b[14] << 8 | b[15];
	if ((ver_cmd >> 4) != 2 || (ver_cmd & 0x0f) > 1 || body > PP_V2_LEN_MAX)
		return PP_BAD;
	if (len < 16 + body)
		return PP_NEED_MORE;
	out->consumed = 16 + body;
	/* LOCAL: the proxy speaks for itself (a health check); the addresses,
	 * if any, are to be ignored. */
	if ((ver_cmd & 0x0f) == 0) {
		out->keep_peer = true;
		return PP_DONE;
	}
	switch (fam) {
	case 0x00: /* UNSPEC: an unknown protocol, as v1's UNKNOWN */
		out->keep_peer = true;
		return PP_DONE;
	case 0x11: /* TCP or UDP over IPv4: src, dst, sport, dport */
	case 0x12:
		need = 12;
		break;
	case 0x21: /* over IPv6 */
	case 0x22:
		need = 36;
		break;
	case 0x31: /* UNIX stream or datagram: no address to key on */
	case 0x32:
		need = 216;
		break;
	default:
		return PP_BAD;
	}
	if (body < need || !v2_tlvs_fit(b + 16 + need, body - need))
		return PP_BAD;
	if (fam >= 0x31) {
		out->keep_peer = true;
		return PP_DONE;
	}
	out->keep_peer = false;
	if (need == 12)
		set_addr(out, AF_INET, b + 16, (uint16_t)(b[24] << 8 | b[25]));
	else
		set_addr(out, AF_INET6, b + 16, (uint16_t)(b[48] << 8 | b[49]));
	return PP_DONE;
}

enum pp_result pp_parse(const unsigned char *b, size_t len, struct pp_header *out)
{
	size_t n;

	if (len == 0)
		return PP_NEED_MORE;
	if (b[0] == 'P') {
		n = len < sizeof(v1_sig) - 1 ? len : sizeof(v1_sig) - 1;
		if (memcmp(b, v1_sig, n) != 0)
			return PP_BAD;
		return n < sizeof(v1_sig) - 1 ? PP_NEED_MORE : v1_parse(b, len, out);
	}
	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(b, v2_sig, n) != 0)
		return PP_BAD;
	return v2_parse(b, len, out);
}
