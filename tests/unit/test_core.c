/* Unit tests of the daemon's building blocks: encodings, parameter parsing,
 * templates, configuration errors, keys and JWS. */
#include <argon2.h>
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authz_req.h"
#include "config.h"
#include "flow.h"
#include "idp.h"
#include "keys.h"
#include "metrics.h"
#include "oidc.h"
#include "pwhash.h"
#include "record.h"
#include "tmpl.h"
#include "util.h"
#include "uri.h"

static char tmpdir[64];

static void write_file(const char *name, const char *text, mode_t mode)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

static void unlink_file(const char *name)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", tmpdir, name);
	unlink(p);
}

/* listen.trusted_proxies: only a trusted peer's forwarding headers count,
 * the rightmost untrusted hop is the client, malformed falls back to the peer. */
START_TEST(t_client_address)
{
	struct cidr px[3], bad;
	struct config cfg = {0};
	char out[64];

	ck_assert(cidr_parse("10.0.0.0/8", &px[0]));
	ck_assert(cidr_parse("127.0.0.1", &px[1]));
	ck_assert(cidr_parse("fd00::/8", &px[2]));
	ck_assert(!cidr_parse("10.0.0.0/33", &bad));
	ck_assert(!cidr_parse("10.0.0/8", &bad));
	ck_assert(!cidr_parse("fd00::/129", &bad));
	ck_assert(!cidr_parse("10.0.0.1/", &bad));
	ck_assert(!cidr_parse("example.org", &bad));
	cfg.trusted_proxies = px;
	cfg.n_trusted_proxies = 3;
	ck_assert(cidr_list_has(px, 3, "10.200.1.2"));
	ck_assert(cidr_list_has(px, 3, "::ffff:127.0.0.1"));
	ck_assert(cidr_list_has(px, 3, "fdff::1"));
	ck_assert(!cidr_list_has(px, 3, "11.0.0.1"));
	ck_assert(!cidr_list_has(px, 3, "127.0.0.2"));
	ck_assert(!cidr_list_has(px, 3, "fe00::1"));
	/* From anyone else, ignored. */
	ck_assert_int_eq(http_client_address(&cfg, "192.0.2.9", "198.51.100.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "192.0.2.9");
	/* The rightmost hop that is not a trusted proxy; what the client forged
	 * to its left is never read. */
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "6.6.6.6, 198.51.100.1, 10.1.1.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "198.51.100.1");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "2001:DB8::1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "2001:db8::1");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", "10.0.0.5,127.0.0.1", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "10.0.0.5"); /* all trusted: the leftmost */
	/* Forwarded (RFC 7239), used when there is no X-Forwarded-For. */
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", NULL,
					     "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https;by=10.0.0.1", out), IDP_OK);
	ck_assert_str_eq(out, "2001:db8::7");
	ck_assert_int_eq(http_client_address(&cfg, "127.0.0.1", NULL, "proto=https;For=198.51.100.3:80", out), IDP_OK);
	ck_assert_str_eq(out, "198.51.100.3");
	/* Malformed from a trusted proxy: the peer, and an error to log. */
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "198.51.100.1, not-an-ip", NULL, out), IDP_OK);
	ck_assert_str_eq(out, "127.0.0.1");
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "", NULL, out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", "198.51.100.1:80", NULL, out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "for=unknown", out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "for=\"[2001:db8::1\"", out), IDP_OK);
	ck_assert_int_ne(http_client_address(&cfg, "127.0.0.1", NULL, "proto=https", out), IDP_OK);
	ck_assert_str_eq(out, "127.0.0.1");
}
END_TEST

START_TEST(t_b64url)
{
	unsigned char *out;
	size_t n;
	char *e = b64url_encode("\xfb\xff\x00", 3);

	ck_assert_str_eq(e, "-_8A");
	ck_assert_int_eq(b64url_decode(e, strlen(e), &out, &n), IDP_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(memcmp(out, "\xfb\xff\x00", 3), 0);
	free(out);
	free(e);
	ck_assert_int_eq(b64url_decode("ab+/", 4, &out, &n), IDP_EINVAL);  /* not url alphabet */
	ck_assert_int_eq(b64url_decode("YQ==", 4, &out, &n), IDP_EINVAL);  /* padding */
	ck_assert_int_eq(b64url_decode("YR", 2, &out, &n), IDP_EINVAL);    /* non-canonical */
	ck_assert_int_eq(b64url_decode("Y", 1, &out, &n), IDP_EINVAL);     /* impossible length */
	ck_assert_int_eq(b64url_decode("YQ", 2, &out, &n), IDP_OK);
	ck_assert_uint_eq(n, 1);
	free(out);
}
END_TEST

/* The token endpoint's JSON writer: what it writes, jansson reads back
 * as the same strings and numbers, whatever the bytes. */
START_TEST(t_json_writer)
{
	static const char *const hostile[] = {
		"plain", "", "quote\" back\\slash", "\x01\x1f\x7f ctl\n\r\t\b\f", "</script>",
		"\xc3\xa9l\xc3\xa8ve \xe2\x82\xac \xf0\x9f\x98\x80", "\"},\"admin\":true,\"x\":{\"",
	};
	struct buf b;
	json_t *doc, *arr;
	json_error_t je;
	unsigned char bin[300];
	char id[23], id2[23];

	buf_init(&b, 1 << 16);
	ck_assert_int_eq(buf_add(&b, "{", 1), IDP_OK);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		char name[8];

		snprintf(name, sizeof(name), "k%zu", i);
		ck_assert_int_eq(buf_json_member_str(&b, i == 0, name, hostile[i]), IDP_OK);
	}
	ck_assert_int_eq(buf_json_member_int(&b, false, "n", -9007199254740991LL), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "}", 1), IDP_OK);
	doc = json_loads(b.p, JSON_REJECT_DUPLICATES, &je);
	ck_assert_msg(doc != NULL, "%s: %s", b.p, je.text);
	ck_assert_uint_eq(json_object_size(doc), sizeof(hostile) / sizeof(hostile[0]) + 1);
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		char name[8];

		snprintf(name, sizeof(name), "k%zu", i);
		ck_assert_str_eq(json_string_value(json_object_get(doc, name)), hostile[i]);
	}
	ck_assert(json_integer_value(json_object_get(doc, "n")) == -9007199254740991LL);
	json_decref(doc);
	/* Not UTF-8: refused, as json_string() refuses it. */
	ck_assert_int_eq(buf_add_json_str(&b, "\xc3("), IDP_EINVAL);
	ck_assert_int_eq(buf_add_json_str(&b, "\xed\xa0\x80"), IDP_EINVAL); /* a surrogate */
	buf_release(&b);
	/* Every control byte, one string. */
	buf_init(&b, 1 << 16);
	for (int c = 1; c < 0x20; c++)
		bin[c - 1] = (unsigned char)c;
	bin[0x1f] = 0;
	ck_assert_int_eq(buf_add(&b, "[", 1), IDP_OK);
	ck_assert_int_eq(buf_add_json_str(&b, (const char *)bin), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "]", 1), IDP_OK);
	arr = json_loads(b.p, 0, &je);
	ck_assert_msg(arr != NULL, "%s", je.text);
	ck_assert_str_eq(json_string_value(json_array_get(arr, 0)), (const char *)bin);
	json_decref(arr);
	buf_release(&b);
	/* The eight-bytes-at-a-time path: each byte that needs escaping (and
	 * some that do not: DEL, 0x80-0xff in UTF-8, the neighbours of '"' and
	 * '\\') at every offset of a long plain run comes back as it went. */
	{
		static const char *const probes[] = {"\"", "\\", "\x01", "\x1f", "\n", "\x7f", "\xc3\xa9",
						     "\x21", "\x23", "\x5b", "\x5d", " "};

		for (size_t pi = 0; pi < sizeof(probes) / sizeof(probes[0]); pi++)
			for (size_t at = 0; at < 24; at++) {
				char str[64];
				size_t pl = strlen(probes[pi]);

				memset(str, 'x', sizeof(str));
				memcpy(str + at, probes[pi], pl);
				str[at + pl + 17] = '\0';
				buf_init(&b, 1 << 16);
				ck_assert_int_eq(buf_add(&b, "[", 1), IDP_OK);
				ck_assert_int_eq(buf_add_json_str(&b, str), IDP_OK);
				ck_assert_int_eq(buf_add(&b, "]", 1), IDP_OK);
				arr = json_loadb(b.p, b.len, 0, &je);
				ck_assert_msg(arr != NULL, "probe %zu at %zu: %s", pi, at, je.text);
				ck_assert_str_eq(json_string_value(json_array_get(arr, 0)), str);
				json_decref(arr);
				buf_release(&b);
			}
	}
	/* base64url into a buffer matches b64url_encode. */
	buf_init(&b, 1 << 16);
	for (size_t n = 0; n < sizeof(bin); n++)
		bin[n] = (unsigned char)(n * 7 + 3);
	for (size_t n = 0; n < 8; n++) {
		char *e = b64url_encode(bin, 290 + n);

		b.len = 0;
		ck_assert_int_eq(buf_add_b64url(&b, bin, 290 + n), IDP_OK);
		ck_assert_str_eq(b.p, e);
		free(e);
	}
	buf_release(&b);
	/* jti: 22 base64url characters, never twice. */
	ck_assert(unique_id(id) && unique_id(id2));
	ck_assert_uint_eq(strlen(id), 22);
	ck_assert_str_ne(id, id2);
	ck_assert_uint_eq(strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 22);
}
END_TEST

START_TEST(t_params)
{
	struct params p;

	ck_assert_int_eq(params_parse("a=1&b=x+y%21&c=", 15, 8, &p), IDP_OK);
	ck_assert_str_eq(params_get(&p, "a"), "1");
	ck_assert_str_eq(params_get(&p, "b"), "x y!");
	ck_assert_ptr_null(params_get(&p, "c")); /* empty = omitted (RFC 6749 3.1) */
	ck_assert_ptr_null(p.dup);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=1&a=2", 7, 8, &p), IDP_OK);
	ck_assert_str_eq(p.dup, "a");
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%zz", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%4", 4, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%00", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%C3%28", 8, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a=%C3%A9", 8, 8, &p), IDP_OK);
	ck_assert_str_eq(params_get(&p, "a"), "é");
	params_clear(&p);
	ck_assert_int_eq(params_parse("=1", 2, 8, &p), IDP_EINVAL);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a&b&c", 5, 2, &p), IDP_ETOOBIG);
	params_clear(&p);
	ck_assert_int_eq(params_parse("a\0b=1", 5, 8, &p), IDP_EINVAL);
	params_clear(&p);
}
END_TEST

START_TEST(t_utf8_numbers)
{
	long long v;

	ck_assert(utf8_valid("é€𝄞", strlen("é€𝄞")));
	ck_assert(!utf8_valid("\xc0\xaf", 2));          /* overlong */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));  /* > U+10FFFF */
	ck_assert(!utf8_valid("\xe2\x82", 2));          /* truncated */
	/* The eight-bytes-at-a-time ASCII path: a NUL, a stray byte or a
	 * sequence at every offset of a long ASCII run is still seen. */
	for (size_t at = 0; at < 40; at++) {
		char b[48];

		memset(b, 'a', sizeof(b));
		ck_assert(utf8_valid(b, sizeof(b)));
		b[at] = '\0';
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "NUL at %zu accepted", at);
		b[at] = (char)0x80;
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "stray 0x80 at %zu accepted", at);
		b[at] = (char)0xC3;
		b[at + 1] = (char)0xA9;
		ck_assert_msg(utf8_valid(b, sizeof(b)), "é at %zu refused", at);
		ck_assert_msg(!utf8_valid(b, at + 1), "truncated é at %zu accepted", at);
		b[at] = (char)0xC0;
		b[at + 1] = (char)0xAF;
		ck_assert_msg(!utf8_valid(b, sizeof(b)), "overlong at %zu accepted", at);
		b[at] = (char)0x7F;
		b[at + 1] = (char)0x01;
		ck_assert(utf8_valid(b, sizeof(b))); /* DEL and controls are UTF-8 */
	}
	ck_assert(parse_ll("42", 0, 100, &v) && v == 42);
	ck_assert(!parse_ll("42x", 0, 100, &v));
	ck_assert(!parse_ll("", 0, 100, &v));
	ck_assert(!parse_ll("-1", 0, 100, &v));
	ck_assert(!parse_ll("101", 0, 100, &v));
	ck_assert(!parse_ll("99999999999999999999", 0, 1LL << 62, &v));
	ck_assert(!parse_ll(" 1", 0, 100, &v));
}
END_TEST

START_TEST(t_buf_secret)
{
	struct buf b;

	buf_init(&b, 8);
	ck_assert_int_eq(buf_adds(&b, "12345678"), IDP_OK);
	ck_assert_int_eq(buf_adds(&b, "9"), IDP_ETOOBIG);
	ck_assert_str_eq(b.p, "12345678");
	buf_release(&b);
	buf_init(&b, 100);
	buf_add_html(&b, "<a href=\"x\">&'</a>");
	ck_assert_str_eq(b.p, "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
	buf_release(&b);
	buf_init(&b, 100);
	buf_add_urlenc(&b, "a b&c=é~");
	ck_assert_str_eq(b.p, "a%20b%26c%3D%C3%A9~");
	buf_release(&b);
	{
		/* RFC 4231 test cases 2 and 6 (a key longer than the block). */
		unsigned char mac[32], key[131];
		char hex[65];
		hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
		memset(key, 0xaa, sizeof(key));
		hmac_sha256(key, sizeof(key), "Test Using Larger Than Block-Size Key - Hash Key First", 54, mac);
		for (int i = 0; i < 32; i++)
			snprintf(hex + 2 * i, 3, "%02x", mac[i]);
		ck_assert_str_eq(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	}
	ck_assert(secret_equal("abc", 3, "abc", 3));
	ck_assert(!secret_equal("abc", 3, "abd", 3));
	ck_assert(!secret_equal("abc", 3, "abcd", 4));
}
END_TEST

/* What a retried failure logs: its first time, a changed text, then once per
 * interval with the count of the attempts kept quiet; the recovery once. */
START_TEST(t_log_repeat)
{
	struct log_repeat r = {0};
	struct log_capture a, b;
	unsigned quiet = 99, failures = 99;
	bool changed = true;

	idp_log_set_level(LOG_INFO);
	idp_log_capture(&a);
	idp_log(LOG_ERR, "keys: %s is readable by others", "k.pem");
	idp_log(LOG_DEBUG, "not kept: above the level");
	idp_log_capture(&b);
	idp_log(LOG_ERR, "keys: state.json: line %d", 3);
	idp_log_capture(NULL);
	idp_log_set_level(-1);
	ck_assert_str_eq(a.text, "0keys: k.pem is readable by others\n");
	ck_assert_uint_eq(a.len, strlen(a.text));
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1000, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 0);
	ck_assert(!changed);
	for (int t = 1001; t < 1060; t++)
		ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, t, 60, &quiet, &changed), false);
	/* A minute after the last line: again, with the count. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1060, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 59);
	ck_assert(!changed);
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &a, 1061, 60, &quiet, &changed), false);
	/* Another text, or the same text with another code: at once. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EINVAL, &b, 1062, 60, &quiet, &changed), true);
	ck_assert_uint_eq(quiet, 1);
	ck_assert(changed);
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &b, 1063, 60, &quiet, &changed), true);
	ck_assert(changed);
	/* A clock set back does not silence it. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EDENIED, &b, 10, 60, &quiet, &changed), true);
	ck_assert_int_eq(log_repeat_recovered(&r, &failures), true);
	ck_assert_uint_eq(failures, 65);
	ck_assert_int_eq(log_repeat_recovered(&r, &failures), false);
	/* After a recovery, the same failure is news again. */
	ck_assert_int_eq(log_repeat_failed(&r, IDP_EINVAL, &b, 11, 60, &quiet, &changed), true);
	ck_assert(!changed);
	/* A capture that overflows keeps whole lines, the last cut short. */
	idp_log_set_level(LOG_INFO);
	idp_log_capture(&a);
	for (int i = 0; i < 40; i++)
		idp_log(LOG_ERR, "%0100d", i);
	idp_log_capture(NULL);
	idp_log_set_level(-1);
	ck_assert_uint_eq(a.len, sizeof(a.text) - 1);
	ck_assert_int_eq(a.text[a.len - 1], '\n');
	ck_assert_uint_eq(strlen(a.text), a.len);
}
END_TEST

/* A record parsed from text (copied: parsing writes into it). */
static int parse_copy(const char *text, size_t len, char **copy, struct record *rec)
{
	*copy = malloc(len + 1);
	ck_assert_ptr_nonnull(*copy);
	memcpy(*copy, text, len);
	(*copy)[len] = '\0';
	return record_parse(*copy, len, rec);
}

START_TEST(t_record)
{
	struct buf b;
	struct record rec;
	char *c;
	long long v;
	/* A value with every byte but NUL, the separators among them. */
	char all[255];

	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1);
	buf_init(&b, 1 << 22);
	ck_assert_int_eq(record_adds(&b, 'c', "bench-es"), IDP_OK);
	ck_assert_int_eq(record_adds(&b, 'p', NULL), IDP_OK); /* absent: nothing written */
	ck_assert_int_eq(record_add(&b, 'z', all, sizeof(all)), IDP_OK);
	ck_assert_int_eq(record_add(&b, 'e', "", 0), IDP_OK);
	ck_assert_int_eq(record_add_int(&b, 'n', -1796166889LL), IDP_OK);
	ck_assert_int_eq(record_adds(&b, 'A', "x"), IDP_EINVAL);
	ck_assert_int_eq(record_add(&b, 'q', "a\0b", 3), IDP_EINVAL);
	ck_assert_int_eq(strncmp(b.p, "R1;c8:bench-es;z255:", 20), 0);
	ck_assert_int_eq(parse_copy(b.p, b.len, &c, &rec), IDP_OK);
	ck_assert_str_eq(record_get(&rec, 'c'), "bench-es");
	ck_assert_uint_eq(record_len(&rec, 'c'), 8);
	ck_assert_ptr_null(record_get(&rec, 'p'));
	ck_assert_ptr_null(record_get(&rec, '{'));
	ck_assert_uint_eq(record_len(&rec, 'z'), sizeof(all));
	ck_assert_int_eq(memcmp(record_get(&rec, 'z'), all, sizeof(all)), 0);
	ck_assert_str_eq(record_get(&rec, 'e'), "");
	ck_assert(record_int(&rec, 'n', &v));
	ck_assert_int_eq(v, -1796166889LL);
	ck_assert(!record_int(&rec, 'c', &v));
	ck_assert(!record_int(&rec, 'p', &v));
	free(c);
	buf_release(&b);

	/* What is not a record is refused, whole. */
	static const char *const bad[] = {
		"",		   /* no tag */
		"R1",		   /* short tag */
		"R2;c1:x;",	   /* another version */
		"{\"c\":\"x\"}",   /* JSON */
		"R1;c1:x",	   /* no closing ';' */
		"R1;c2:x;",	   /* length past the end */
		"R1;c0:x;",	   /* length short of the ';' */
		"R1;c:x;",	   /* no length */
		"R1;c01:x;",	   /* leading zero */
		"R1;c-1:x;",	   /* a sign */
		"R1;c99999999:x;", /* oversized */
		"R1;c1x;",	   /* no ':' */
		"R1;C1:x;",	   /* not a lowercase letter */
		"R1;c1:x;c1:y;",   /* a letter twice */
		"R1;c1:x;;",	   /* trailing junk */
		"R1;c1",	   /* cut in the length */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_copy(bad[i], strlen(bad[i]), &c, &rec) == IDP_EINVAL, "accepted: %s", bad[i]);
		free(c);
	}
	/* A NUL inside a value. */
	ck_assert_int_eq(parse_copy("R1;c3:a\0b;", 10, &c, &rec), IDP_EINVAL);
	free(c);
	ck_assert_int_eq(record_parse(NULL, 0, &rec), IDP_EINVAL);
	/* The empty record is a record. */
	ck_assert_int_eq(parse_copy("R1;", 3, &c, &rec), IDP_OK);
	ck_assert_ptr_null(record_get(&rec, 'c'));
	free(c);
}
END_TEST

/* The JSON text of jansson values, as /token copies it from a record. */
START_TEST(t_json_value_text)
{
	json_t *doc = json_loads("{\"s\":\"\\u00e9\\\"\\n\",\"i\":-42,\"t\":true,\"f\":false,\"n\":null,"
				 "\"a\":[\"pwd\",1],\"o\":{\"k\":\"v\"},\"r\":1.5}", 0, NULL), *back;
	struct buf b;

	ck_assert_ptr_nonnull(doc);
	buf_init(&b, 4096);
	ck_assert_int_eq(buf_add(&b, "{", 1), IDP_OK);
	ck_assert_int_eq(buf_json_members(&b, true, doc), IDP_OK);
	ck_assert_int_eq(buf_add(&b, "}", 1), IDP_OK);
	back = json_loads(b.p, 0, NULL);
	ck_assert_ptr_nonnull(back);
	ck_assert(json_equal(doc, back));
	ck_assert_int_eq(buf_json_value(&b, NULL), IDP_EINVAL);
	json_decref(back);
	json_decref(doc);
	buf_release(&b);
}
END_TEST

/* A remembered consent's key is the SHA-256 of "sub|client|names", the
 * names as jansson wrote them (compact, sorted keys): keys written by an
 * earlier version stay valid. */
START_TEST(t_consent_key_stable)
{
	json_t *sess = json_loads("{\"sub\":\"local:x\",\"claims\":{\"given_name\":\"A\",\"email\":\"e@x.fr\","
				  "\"family_name\":\"B\",\"birthdate\":\"1990-07-14\",\"phone_number\":\"+33612345678\"}}",
				  0, NULL);
	json_t *areq = json_loads("{\"scope\":\"openid profile email\",\"claims\":{\"id_token\":{\"phone_number\":null}}}",
				  0, NULL);
	json_t *rel, *set = json_object(), *v;
	struct authz_req a;
	char svc[] = "svc", scope[] = "openid profile email";
	struct client cl = {.id = svc};
	char key[80], want[80], hash[65], *names, *msg;
	const char *k;

	ck_assert_ptr_nonnull(sess);
	ck_assert_ptr_nonnull(areq);
	rel = claims_released(json_object_get(sess, "claims"), "openid profile email", json_object_get(areq, "claims"));
	ck_assert_int_ge(json_object_size(rel), 4);
	json_object_foreach(rel, k, v)
		json_object_set_new(set, k, json_true());
	names = json_dumps(set, JSON_COMPACT | JSON_SORT_KEYS);
	ck_assert_int_gt(asprintf(&msg, "local:x|svc|%s", names), 0);
	sha256_hex(msg, strlen(msg), hash);
	snprintf(want, sizeof(want), "consent:%s", hash);
	authz_req_init(&a);
	a.scope = scope;
	a.claims = json_object_get(areq, "claims");
	ck_assert_int_eq(consent_decide(&cl, &a, sess, key), CONSENT_STORED);
	ck_assert_str_eq(key, want);
	free(msg);
	free(names);
	json_decref(set);
	json_decref(rel);
	json_decref(areq);
	json_decref(sess);
}
END_TEST

/* The transaction's stored form: every field comes back as it went, a
 * record written before the struct existed (same member names) is read, and
 * a record out of bounds or of the wrong types is refused. */
START_TEST(t_authz_req_stored)
{
	struct authz_req a, b;
	json_t *j, *old;
	char cid[] = "svc", ruri[] = "https://svc.example/cb?x=1", state[] = "st", scope[] = "openid email",
	     nonce[] = "n0123456789012345678901", cc[] = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
	     acr[] = "eidas2 eidas1", lh[] = "marianne", ws[] = "abc", hs[] = "def", be[] = "file";
	char *big;

	authz_req_init(&a);
	a.client_id = cid;
	a.redirect_uri = ruri;
	a.state = state;
	a.scope = scope;
	a.nonce = nonce;
	a.code_challenge = cc;
	a.acr_values = acr;
	a.login_hint = lh;
	a.want_sub = ws;
	a.hint_sub = hs;
	a.backend = be;
	a.claims = json_pack("{s:{s:n}}", "id_token", "email");
	a.prompt = PROMPT_LOGIN | PROMPT_CONSENT;
	a.max_age = 0;
	a.min_acr_rank = 1;
	a.lang = LANG_EN;
	memset(a.sid, 'a', 64);
	j = authz_req_encode(&a);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "prompt")), "login consent");
	ck_assert_int_eq(authz_req_decode(j, &b), IDP_OK);
	ck_assert_str_eq(b.client_id, cid);
	ck_assert_str_eq(b.redirect_uri, ruri);
	ck_assert_str_eq(b.state, state);
	ck_assert_str_eq(b.scope, scope);
	ck_assert_str_eq(b.nonce, nonce);
	ck_assert_str_eq(b.code_challenge, cc);
	ck_assert_str_eq(b.acr_values, acr);
	ck_assert_str_eq(b.login_hint, lh);
	ck_assert_str_eq(b.want_sub, ws);
	ck_assert_str_eq(b.hint_sub, hs);
	ck_assert_str_eq(b.backend, be);
	ck_assert(json_equal(b.claims, a.claims));
	ck_assert_uint_eq(b.prompt, PROMPT_LOGIN | PROMPT_CONSENT);
	ck_assert(authz_prompt_has(&b, PROMPT_CONSENT) && !authz_prompt_has(&b, PROMPT_NONE));
	ck_assert_int_eq(b.max_age, 0);
	ck_assert_int_eq(b.min_acr_rank, 1);
	ck_assert_int_eq(b.lang, LANG_EN);
	ck_assert_str_eq(b.sid, a.sid);
	ck_assert_ptr_null(b.idp_hint);
	authz_req_release(&b);
	ck_assert_ptr_null(b.client_id);
	ck_assert_int_eq(b.max_age, -1);
	json_decref(a.claims);

	/* As the transaction was written when it was a plain object. */
	old = json_loads("{\"client_id\":\"svc\",\"redirect_uri\":\"https://svc.example/cb\",\"scope\":\"openid\","
			 "\"lang\":\"fr\",\"min_acr_rank\":-1,\"backend\":\"file\"}", 0, NULL);
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_OK);
	ck_assert_ptr_null(b.state);
	ck_assert_uint_eq(b.prompt, 0);
	ck_assert_int_eq(b.max_age, -1);
	ck_assert_int_eq(b.min_acr_rank, -1);
	ck_assert_int_eq(b.lang, LANG_FR);
	ck_assert_str_eq(b.sid, "");
	authz_req_release(&b);

	/* Refused, and nothing left behind. */
	json_object_set_new(old, "prompt", json_string("login nope"));
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	ck_assert_ptr_null(b.client_id);
	json_object_del(old, "prompt");
	json_object_set_new(old, "max_age", json_integer(-5));
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	json_object_del(old, "max_age");
	json_object_set_new(old, "claims", json_string("x"));
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	json_object_del(old, "claims");
	big = calloc(1, AUTHZ_STATE_MAX + 2);
	memset(big, 's', AUTHZ_STATE_MAX + 1);
	json_object_set_new(old, "state", json_string(big));
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	json_object_del(old, "state");
	free(big);
	json_object_set_new(old, "sid", json_integer(3));
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	json_object_del(old, "sid");
	json_object_del(old, "client_id");
	ck_assert_int_eq(authz_req_decode(old, &b), IDP_EINVAL);
	ck_assert_int_eq(authz_req_decode(NULL, &b), IDP_EINVAL);
	json_decref(old);
	json_decref(j);
}
END_TEST

/* The one redirect builder: ? or & as the URI has a query, values encoded,
 * absent values left out. */
START_TEST(t_uri_with_params)
{
	char *u;

	u = uri_with_params("https://a.example/cb", (const char *const[]){"code", "abc-_", "state", NULL, "iss", "https://op.example"}, 6);
	ck_assert_str_eq(u, "https://a.example/cb?code=abc-_&iss=https%3A%2F%2Fop.example");
	free(u);
	u = uri_with_params("https://a.example/cb?x=1", (const char *const[]){"state", "a b&c"}, 2);
	ck_assert_str_eq(u, "https://a.example/cb?x=1&state=a%20b%26c");
	free(u);
	u = uri_with_params("https://a.example/cb", (const char *const[]){"state", NULL}, 2);
	ck_assert_str_eq(u, "https://a.example/cb");
	free(u);
}
END_TEST

START_TEST(t_tmpl)
{
	struct tmpl_set *t;
	struct buf b;
	json_t *ctx;
	char d[256];

	snprintf(d, sizeof(d), "%s/fr", tmpdir);
	mkdir(d, 0700);
	snprintf(d, sizeof(d), "%s/en", tmpdir);
	mkdir(d, 0700);
	write_file("style.css", "body{}", 0600);
	write_file("fr/p.html", "<p>{{name}}</p>{{#items}}[{{.}}]{{/items}}{{^none}}N{{/none}}{{#obj}}{{k}}{{/obj}}{{>q}}", 0600);
	write_file("fr/q.html", "Q{{name}}", 0600);
	write_file("en/p.html", "EN", 0600);
	write_file("en/q.html", "", 0600);
	ck_assert_int_eq(tmpl_load(tmpdir, &t), IDP_OK);
	ctx = json_pack("{s:s,s:[ss],s:{s:s}}", "name", "<script>\"x\"", "items", "a", "<b>", "obj", "k", "v&");
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_FR, "p", ctx, &b), IDP_OK);
	ck_assert_str_eq(b.p, "<p>&lt;script&gt;&quot;x&quot;</p>[a][&lt;b&gt;]Nv&amp;Q&lt;script&gt;&quot;x&quot;");
	buf_release(&b);
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_EN, "p", ctx, &b), IDP_OK);
	ck_assert_str_eq(b.p, "EN");
	buf_release(&b);
	buf_init(&b, 4096);
	ck_assert_int_eq(tmpl_render(t, LANG_FR, "missing", ctx, &b), IDP_ENOTFOUND);
	buf_release(&b);
	/* No labels.json: no label, the page shows the code's own name. */
	ck_assert_ptr_null(tmpl_label(t, LANG_FR, "claim.email"));
	tmpl_free(t);
	/* Words for citizens come from LANG/labels.json; one that is not an
	 * object of strings stops the load. */
	write_file("fr/labels.json", "{\"claim.email\": \"Adresse électronique\"}", 0600);
	ck_assert_int_eq(tmpl_load(tmpdir, &t), IDP_OK);
	ck_assert_str_eq(tmpl_label(t, LANG_FR, "claim.email"), "Adresse électronique");
	ck_assert_ptr_null(tmpl_label(t, LANG_EN, "claim.email"));
	ck_assert_ptr_null(tmpl_label(t, LANG_FR, "claim.gender"));
	tmpl_free(t);
	write_file("en/labels.json", "{\"claim.email\": 3}", 0600);
	ck_assert_int_ne(tmpl_load(tmpdir, &t), IDP_OK);
	write_file("en/labels.json", "[\"claim.email\"]", 0600);
	ck_assert_int_ne(tmpl_load(tmpdir, &t), IDP_OK);
	unlink_file("fr/labels.json");
	unlink_file("en/labels.json");
	json_decref(ctx);
}
END_TEST

/* The endpoints' labels, given by the routing table: one index per label
 * (two paths of one endpoint share it), 0 for "other" and past the cap. */
START_TEST(t_metrics_labels)
{
	static const char *const many[] = {"/a", "/b", "/c", "/d", "/e", "/f", "/g", "/h", "/i",
		"/j", "/k", "/l", "/m", "/n", "/o", "/p", "/q", "/r", "/s", "/t", "/u", "/v", "/w",
		"/x", "/y", "/z", "/0", "/1", "/2", "/3", "/4", "/5", "/6"};
	unsigned a = metrics_endpoint("/label-a"), b = metrics_endpoint("/label-b");
	struct rt rt = {.refs = 1}; /* no backends, no keys: only the counters */
	size_t len = 0;
	char *text;

	ck_assert_uint_ne(a, 0);
	ck_assert_uint_ne(a, b);
	ck_assert_uint_eq(metrics_endpoint("/label-a"), a);
	ck_assert_uint_eq(metrics_endpoint("other"), 0);
	for (size_t i = 0; i < sizeof(many) / sizeof(many[0]); i++)
		metrics_endpoint(many[i]);
	ck_assert_uint_eq(metrics_endpoint("/past-the-cap"), 0);
	metrics_request(a, 200);
	metrics_request(b, 404);
	metrics_request(1000, 500); /* no such label: other */
	g_idp.rt = &rt;
	text = metrics_render(&len);
	g_idp.rt = NULL;
	ck_assert_ptr_nonnull(text);
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"/label-a\",code=\"2xx\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"/label-b\",code=\"4xx\"} 1\n"));
	ck_assert_ptr_nonnull(strstr(text, "idp_http_requests_total{endpoint=\"other\",code=\"5xx\"} 1\n"));
	ck_assert_ptr_null(strstr(text, "/past-the-cap"));
	free(text);
}
END_TEST

START_TEST(t_config_errors)
{
	struct config *c = NULL;
	char p[256];

	snprintf(p, sizeof(p), "%s/c.json", tmpdir);
	write_file("c.json", "{\n \"issuer\": \"http://x\",\n \"issuer\": 1\n}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* duplicate key, line 3 */
	write_file("c.json", "{\n \"issuer\": \n", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* syntax */
	write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"isuer\":1}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* unknown setting */
	write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"a\","
			     "\"client_secret\":\"x\",\"redirect_uris\":[\"http://h/cb\"]}]}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* secret in clear */
	write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"a\","
			     "\"client_secret_sha256\":\"17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d\","
			     "\"redirect_uris\":[\"http://h/cb#frag\"]}]}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* fragment in redirect URI */
	write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1/\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"a\","
			     "\"client_secret_sha256\":\"17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d\","
			     "\"redirect_uris\":[\"http://h/cb\"],\"profile\":\"franceconnect\"}]}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_OK);
	ck_assert_str_eq(c->issuer, "http://127.0.0.1:1"); /* trailing slash dropped */
	ck_assert(c->clients[0].franceconnect);
	ck_assert_int_eq(c->clients[0].id_token_alg, ALG_ES256);
	ck_assert_uint_eq(c->clients[0].code_ttl, 30);
	ck_assert(client_has_redirect_uri(&c->clients[0], "http://h/cb"));
	ck_assert(!client_has_redirect_uri(&c->clients[0], "http://h/cb/"));
	ck_assert(!client_has_redirect_uri(&c->clients[0], "http://h/c"));
	ck_assert(!client_has_redirect_uri(&c->clients[0], "HTTP://h/cb"));
	ck_assert_str_eq(c->clients[0].sector, "h");
	config_free(c);
}
END_TEST

START_TEST(t_keys_jws)
{
	char kdir[256], kid[48], *tok = NULL, pem[300];
	struct keyset *ks = NULL;
	json_t *pl = json_pack("{s:s}", "sub", "x"), *out = NULL;
	const struct sign_key *rsa, *ec;

	snprintf(kdir, sizeof(kdir), "%s/keys", tmpdir);
	ck_assert_int_eq(keyset_load(kdir, &ks), IDP_ENOTFOUND);
	ck_assert_int_eq(keyset_create_key(kdir, ALG_ES256, KEY_ACTIVE, kid), IDP_OK);
	ck_assert_int_eq(keyset_load(kdir, &ks), IDP_EINVAL); /* no active RS256 */
	ck_assert_int_eq(keyset_create_key(kdir, ALG_RS256, KEY_ACTIVE, kid), IDP_OK);
	ck_assert_int_eq(keyset_load(kdir, &ks), IDP_OK);
	rsa = ks->active[ALG_RS256];
	ec = ks->active[ALG_ES256];
	ck_assert_str_eq(rsa->kid, kid);
	ck_assert_int_eq(jws_sign(ec, false, pl, &tok), IDP_OK);
	ck_assert_int_eq(jws_verify(ks, tok, &out), IDP_OK);
	ck_assert_str_eq(json_string_value(json_object_get(out, "sub")), "x");
	json_decref(out);
	out = NULL;
	tok[strlen(tok) - 3] ^= 1; /* tamper the signature */
	ck_assert_int_ne(jws_verify(ks, tok, &out), IDP_OK);
	ck_assert_ptr_null(out);
	free(tok);
	ck_assert_int_eq(jws_sign(rsa, false, pl, &tok), IDP_OK);
	ck_assert_int_eq(jws_verify(ks, tok, &out), IDP_OK);
	json_decref(out);
	out = NULL;
	{
		/* Same payload and signature with a header claiming another alg:
		 * the key decides, so it is refused. */
		char *h = b64url_encode("{\"alg\":\"HS256\",\"kid\":\"", 22), *forged;
		json_t *hdr = json_pack("{s:s,s:s}", "alg", "HS256", "kid", rsa->kid);
		char *hs = json_dumps(hdr, JSON_COMPACT), *hb = b64url_encode(hs, strlen(hs));

		ck_assert_int_ne(asprintf(&forged, "%s%s", hb, strchr(tok, '.')), -1);
		ck_assert_int_ne(jws_verify(ks, forged, &out), IDP_OK);
		free(forged);
		free(h);
		free(hs);
		free(hb);
		json_decref(hdr);
	}
	free(tok);
	ck_assert_int_ne(jws_verify(ks, "a.b", &out), IDP_OK);
	ck_assert_int_ne(jws_verify(ks, "a.b.c.d", &out), IDP_OK);
	ck_assert_int_ne(jws_verify(ks, "eyJhbGciOiJub25lIn0.e30.", &out), IDP_OK);
	keyset_free(ks);
	/* A key readable by others is refused. */
	snprintf(pem, sizeof(pem), "%s/%s", kdir, "x");
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "chmod 644 %s/*.pem", kdir);
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(keyset_load(kdir, &ks), IDP_EDENIED);
	json_decref(pl);
}
END_TEST

START_TEST(t_identity_valid)
{
	static const char *const good[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"Dupont\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"75056\",\"birthcountry\":\"99100\",\"email\":\"m.d@example.fr\"}",
		"{\"birthdate\":\"1990-07\"}", "{\"birthdate\":\"1990\"}",
		"{\"birthcountry\":\"99134\"}", "{\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}", "{}",
		"{\"birthdate\":\"1992-02-29\"}", "{\"birthdate\":\"2000-02-29\"}", "{\"birthdate\":\"1990-12-31\"}",
		"{\"birthdate\":\"1990-04-30\"}", "{\"given_name\":\"\u00c9lo\u00efse\"}",
	};
	static const char *const bad[][2] = {
		{"{\"birthdate\":\"14/07/1990\"}", "birthdate"}, {"{\"birthdate\":\"1990-13-01\"}", "birthdate"},
		{"{\"birthdate\":\"1990-07-32\"}", "birthdate"}, {"{\"birthdate\":1990}", "birthdate"},
		{"{\"gender\":\"F\"}", "gender"}, {"{\"birthcountry\":\"99100\"}", "birthplace"},
		{"{\"birthcountry\":\"99100\",\"birthplace\":\"Paris\"}", "birthplace"},
		{"{\"birthcountry\":\"France\"}", "birthcountry"}, {"{\"given_name\":\"\"}", "given_name"},
		{"{\"email\":\"not an email\"}", "email"}, {"{\"email\":\"a@b\"}", "email"},
		/* Dates the calendar does not have. */
		{"{\"birthdate\":\"1990-02-31\"}", "birthdate"}, {"{\"birthdate\":\"1990-04-31\"}", "birthdate"},
		{"{\"birthdate\":\"1991-02-29\"}", "birthdate"}, {"{\"birthdate\":\"1900-02-29\"}", "birthdate"},
		{"{\"birthdate\":\"1990-00-10\"}", "birthdate"}, {"{\"birthdate\":\"1990-01-00\"}", "birthdate"},
	};
	const char *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *c = json_loads(good[i], 0, NULL);

		ck_assert_msg(identity_valid(c, &why), "%s refused", good[i]);
		json_decref(c);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *c = json_loads(bad[i][0], 0, NULL);

		why = NULL;
		ck_assert_msg(!identity_valid(c, &why), "%s accepted", bad[i][0]);
		ck_assert_str_eq(why, bad[i][1]);
		json_decref(c);
	}
	{
		/* A 257-character name is refused, 256 accepted. */
		char name[258];
		json_t *c;

		memset(name, 'a', 257);
		name[257] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert(!identity_valid(c, &why));
		json_decref(c);
		name[256] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert(identity_valid(c, &why));
		json_decref(c);
	}
	{
		/* Characters, not bytes: 256 accented letters (512 bytes) pass,
		 * 257 do not; a 4-byte character counts as one. */
		char name[257 * 4 + 1];
		json_t *c;

		for (int i = 0; i < 257; i++)
			memcpy(name + 2 * i, "\xc3\xa9", 2); /* é */
		name[2 * 257] = '\0';
		c = json_pack("{s:s}", "given_name", name);
		ck_assert_msg(!identity_valid(c, &why), "257 accented letters accepted");
		ck_assert_str_eq(why, "given_name");
		json_decref(c);
		name[2 * 256] = '\0';
		c = json_pack("{s:s}", "given_name", name);
		ck_assert_msg(identity_valid(c, &why), "256 accented letters (512 bytes) refused");
		json_decref(c);
		for (int i = 0; i < 256; i++)
			memcpy(name + 4 * i, "\xf0\x9d\x90\x80", 4); /* U+1D400 */
		name[4 * 256] = '\0';
		c = json_pack("{s:s}", "family_name", name);
		ck_assert_msg(identity_valid(c, &why), "256 four-byte characters refused");
		json_decref(c);
	}
	{
		/* Invalid UTF-8 (a lone continuation byte, an overlong form, a
		 * truncated sequence) is refused; jansson would refuse to hold
		 * it, so build the object with json_stringn_nocheck. */
		static const char *const bad_utf8[] = {"Jo\x80l", "\xc0\xafx", "Ren\xc3", NULL};

		for (const char *const *b = bad_utf8; *b; b++) {
			json_t *c = json_object();

			json_object_set_new(c, "family_name", json_stringn_nocheck(*b, strlen(*b)));
			why = NULL;
			ck_assert_msg(!identity_valid(c, &why), "invalid UTF-8 #%d accepted", (int)(b - bad_utf8));
			ck_assert_str_eq(why, "family_name");
			json_decref(c);
		}
	}
}
END_TEST

/* The pivot subject does not depend on how a backend spells the names:
 * surrounding and repeated whitespace, ASCII case. It does depend on the
 * values themselves. */
START_TEST(t_pivot_subject)
{
	static const char *const same[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la Tour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\"Marianne \",\"family_name\":\"de  la\\ttour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2a004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\" marianne\",\"family_name\":\"DE LA TOUR \",\"birthdate\":\" 1990-07-14\",\"gender\":\"Female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
	};
	static const char *const other[] = {
		"{\"given_name\":\"Marianne\",\"family_name\":\"Delatour\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la Tour\",\"birthdate\":\"1990-07-15\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
		/* Accents are kept: "Hélène" is not "Helene". */
		"{\"given_name\":\"Marianne\",\"family_name\":\"De la T\u00f4ur\",\"birthdate\":\"1990-07-14\",\"gender\":\"female\",\"birthplace\":\"2A004\",\"birthcountry\":\"99100\"}",
	};
	const char *why;
	char *ref, *s;
	json_t *c;

	c = json_loads(same[0], 0, NULL);
	ref = pivot_subject(c, &why);
	json_decref(c);
	ck_assert_ptr_nonnull(ref);
	ck_assert_int_eq(strncmp(ref, "pivot:", 6), 0);
	for (size_t i = 1; i < sizeof(same) / sizeof(same[0]); i++) {
		c = json_loads(same[i], 0, NULL);
		ck_assert_ptr_nonnull(c);
		s = pivot_subject(c, &why);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strcmp(s, ref) == 0, "spelling %zu gives another subject", i);
		free(s);
		json_decref(c);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		c = json_loads(other[i], 0, NULL);
		ck_assert_ptr_nonnull(c);
		s = pivot_subject(c, &why);
		ck_assert_ptr_nonnull(s);
		ck_assert_msg(strcmp(s, ref) != 0, "another citizen %zu gives the same subject", i);
		free(s);
		json_decref(c);
	}
	/* The two backends' spellings of the brief: "Marianne " and "marianne". */
	{
		json_t *a = json_pack("{s:s,s:s,s:s,s:s,s:s}", "given_name", "Marianne ", "family_name", "Dupont",
				      "birthdate", "1990-07-14", "gender", "female", "birthcountry", "99134");
		json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:s}", "given_name", "marianne", "family_name", "Dupont",
				      "birthdate", "1990-07-14", "gender", "female", "birthcountry", "99134");
		char *sa = pivot_subject(a, &why), *sb = pivot_subject(b, &why);

		ck_assert_ptr_nonnull(sa);
		ck_assert_ptr_nonnull(sb);
		ck_assert_str_eq(sa, sb);
		free(sa);
		free(sb);
		json_decref(a);
		json_decref(b);
	}
	/* A missing pivot claim is named. */
	c = json_pack("{s:s,s:s}", "given_name", "Marianne", "family_name", "Dupont");
	ck_assert_ptr_null(pivot_subject(c, &why));
	ck_assert_str_eq(why, "birthdate");
	json_decref(c);
	free(ref);
}
END_TEST

/* pwhash_verify gives libargon2's own answer for every string: canonical
 * hashes (fast path, kept memory) and everything it does not read itself
 * (handed to argon2id_verify). */
static void same_as_library(const char *enc, const char *pw)
{
	int want = argon2id_verify(enc, pw, strlen(pw));
	int got = pwhash_verify(enc, pw, strlen(pw));

	ck_assert_msg(got == want, "%s: pwhash %d (%s), libargon2 %d (%s)", enc, got, argon2_error_message(got), want,
		      argon2_error_message(want));
}

static void edit(char *out, size_t cap, const char *enc, const char *from, const char *to)
{
	const char *at = strstr(enc, from);

	ck_assert_ptr_nonnull(at);
	snprintf(out, cap, "%.*s%s%s", (int)(at - enc), enc, to, at + strlen(from));
}

START_TEST(t_pwhash_same_answers)
{
	const char *pw = "Motdepasse-2026!";
	unsigned char salt[40];
	char enc[256], v[320], saltpart[128];
	const char *sp, *hp;
	size_t kept_n, kept_b;

	for (size_t i = 0; i < sizeof(salt); i++)
		salt[i] = (unsigned char)(i * 37 + 11);
	/* Parameters, salt and digest lengths the fast path reads. */
	const unsigned params[][5] = {{1, 8, 1, 16, 32}, {2, 64, 2, 16, 32}, {1, 256, 4, 8, 4}, {3, 32, 1, 40, 64},
				      {1, 16, 2, 9, 17}};
	for (size_t k = 0; k < sizeof(params) / sizeof(params[0]); k++) {
		const unsigned *q = params[k];

		ck_assert_int_eq(argon2id_hash_encoded(q[0], q[1], q[2], pw, strlen(pw), salt, q[3], q[4], enc,
						       sizeof(enc)), ARGON2_OK);
		ck_assert_int_eq(pwhash_verify(enc, pw, strlen(pw)), ARGON2_OK);
		ck_assert_int_eq(pwhash_verify(enc, "Motdepasse-2026?", 16), ARGON2_VERIFY_MISMATCH);
		ck_assert_int_eq(pwhash_verify(enc, pw, strlen(pw) - 1), ARGON2_VERIFY_MISMATCH);
		ck_assert_int_eq(pwhash_verify(enc, "", 0), ARGON2_VERIFY_MISMATCH);
		same_as_library(enc, pw);
		same_as_library(enc, "wrong");
	}
	/* The memory stayed for the next hash, and goes when asked. */
	pwhash_kept(&kept_n, &kept_b);
	ck_assert_uint_ge(kept_n, 1);
	ck_assert_uint_ge(kept_b, 8 * 1024);
	pwhash_release();
	pwhash_kept(&kept_n, &kept_b);
	ck_assert_uint_eq(kept_n, 0);
	ck_assert_uint_eq(kept_b, 0);

	/* Variants of one canonical hash: each answered as libargon2 answers. */
	ck_assert_int_eq(argon2id_hash_encoded(1, 16, 1, pw, strlen(pw), salt, 16, 32, enc, sizeof(enc)), ARGON2_OK);
	sp = strrchr(enc, '$');
	ck_assert_ptr_nonnull(sp);
	hp = sp + 1;
	sp = enc + strlen("$argon2id$v=19$m=16,t=1,p=1$");
	snprintf(saltpart, sizeof(saltpart), "%.*s", (int)(hp - 1 - sp), sp);
	const char *edits[][2] = {
		{"m=16", "m=016"}, {"m=16", "m=17"}, {"m=16", "m=4"}, {"m=16", "m="}, {"m=16", "m=99999999999"},
		{"t=1", "t=0"}, {"t=1", "t=01"}, {"t=1", "t=2"}, {"p=1", "p=0"}, {"p=1", "p=2"}, {"p=1", "p=-1"},
		{"v=19$", ""}, {"v=19", "v=16"}, {"v=19", "v=20"}, {"$argon2id$", "$argon2i$"}, {"$argon2id$", "$argon2d$"},
		{"$argon2id$", "argon2id$"}, {",t=1", ""}, {",t=1,p=1", ",p=1,t=1"}, {"m=16,", "m=16 ,"},
		{"m=16", "m=+16"}, {"p=1$", "p=1,x=2$"}, {saltpart, ""}, {"$", "$$"},
	};
	for (size_t k = 0; k < sizeof(edits) / sizeof(edits[0]); k++) {
		edit(v, sizeof(v), enc, edits[k][0], edits[k][1]);
		same_as_library(v, pw);
	}
	/* The salt and digest parts: padding, the other alphabet, a stray
	 * character, non-canonical trailing bits, cut short, too short. */
	const char *tails[] = {"=", "==", "-", "_", "*", " ", "\n"};
	for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
		snprintf(v, sizeof(v), "%s%s", enc, tails[k]);
		same_as_library(v, pw);
		snprintf(v, sizeof(v), "%.*s%s%s", (int)(hp - 1 - enc), enc, tails[k], hp - 1);
		same_as_library(v, pw);
	}
	for (size_t cut = 1; cut < strlen(enc); cut += 3) {
		snprintf(v, sizeof(v), "%.*s", (int)cut, enc);
		same_as_library(v, pw);
	}
	snprintf(v, sizeof(v), "%s", enc);
	v[strlen(v) - 1] = v[strlen(v) - 1] == 'A' ? 'B' : 'A'; /* last digit: trailing bits or a wrong digest */
	same_as_library(v, pw);
	snprintf(v, sizeof(v), "%.*sAAAAAA", (int)(hp - enc), enc); /* a 4-byte-short digest (fallback) */
	same_as_library(v, pw);
	same_as_library("", pw);
	same_as_library("$argon2id$v=19$m=16,t=1,p=1$$", pw);
	ck_assert_int_ne(pwhash_verify(NULL, pw, 1), ARGON2_OK);
	ck_assert_int_ne(pwhash_verify(enc, NULL, 0), ARGON2_OK);
	pwhash_release();
}
END_TEST

struct pw_job {
	const char *enc, *pw;
	int rc;
};

static void *pw_thread(void *arg)
{
	struct pw_job *j = arg;

	for (int i = 0; i < 8 && j->rc == ARGON2_OK; i++)
		j->rc = pwhash_verify(j->enc, j->pw, strlen(j->pw));
	return NULL;
}

/* Hashes at once on several threads, two sizes of memory: every one right
 * (no two share a buffer), and the buffers kept are bounded. */
START_TEST(t_pwhash_threads)
{
	unsigned char salt[16] = {7};
	char enc[2][256];
	struct pw_job jobs[6];
	pthread_t th[6];
	size_t n, b;

	ck_assert_int_eq(argon2id_hash_encoded(1, 64, 1, "un", 2, salt, sizeof(salt), 32, enc[0], sizeof(enc[0])),
			 ARGON2_OK);
	ck_assert_int_eq(argon2id_hash_encoded(1, 128, 2, "deux", 4, salt, sizeof(salt), 32, enc[1], sizeof(enc[1])),
			 ARGON2_OK);
	for (int i = 0; i < 6; i++) {
		jobs[i] = (struct pw_job){enc[i % 2], i % 2 ? "deux" : "un", ARGON2_OK};
		ck_assert_int_eq(pthread_create(&th[i], NULL, pw_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(jobs[i].rc, ARGON2_OK);
	}
	ck_assert_int_eq(pwhash_verify(enc[0], "deux", 4), ARGON2_VERIFY_MISMATCH);
	pwhash_kept(&n, &b);
	ck_assert_uint_ge(n, 2);
	ck_assert_uint_le(n, 6);
	ck_assert_uint_le(b, 6 * 128 * 1024);
	pwhash_release();
}
END_TEST

/* fmt_u64 / fmt_i64 write what snprintf writes, at the edges and between. */
START_TEST(t_fmt_decimal)
{
	const uint64_t u[] = {0, 1, 9, 10, 99, 100, 4294967295u, 4294967296u, 999999999999999999u,
			      1000000000000000000u, 9999999999999999999u, 10000000000000000000u, UINT64_MAX};
	const int64_t v[] = {0, -1, 1, -9, -10, 10, INT32_MIN, INT32_MAX, INT64_MAX, INT64_MIN, INT64_MIN + 1};
	char got[24], want[24];
	uint64_t x = 0x9e3779b97f4a7c15u;

	for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
		snprintf(want, sizeof(want), "%llu", (unsigned long long)u[i]);
		ck_assert_uint_eq(fmt_u64(got, u[i]), strlen(want));
		ck_assert_str_eq(got, want);
	}
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		snprintf(want, sizeof(want), "%lld", (long long)v[i]);
		ck_assert_uint_eq(fmt_i64(got, v[i]), strlen(want));
		ck_assert_str_eq(got, want);
	}
	for (int i = 0; i < 10000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t w = x >> (i % 64);

		snprintf(want, sizeof(want), "%llu", (unsigned long long)w);
		ck_assert_uint_eq(fmt_u64(got, w), strlen(want));
		ck_assert_str_eq(got, want);
		snprintf(want, sizeof(want), "%lld", (long long)(int64_t)w);
		ck_assert_uint_eq(fmt_i64(got, (int64_t)w), strlen(want));
		ck_assert_str_eq(got, want);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;
	char cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/idp-unit.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	idp_log_set_level(-1);
	tcase_add_test(tc, t_b64url);
	tcase_add_test(tc, t_json_writer);
	tcase_add_test(tc, t_client_address);
	tcase_add_test(tc, t_params);
	tcase_add_test(tc, t_utf8_numbers);
	tcase_add_test(tc, t_buf_secret);
	tcase_add_test(tc, t_log_repeat);
	tcase_add_test(tc, t_tmpl);
	tcase_add_test(tc, t_metrics_labels);
	tcase_add_test(tc, t_record);
	tcase_add_test(tc, t_json_value_text);
	tcase_add_test(tc, t_consent_key_stable);
	tcase_add_test(tc, t_authz_req_stored);
	tcase_add_test(tc, t_uri_with_params);
	tcase_add_test(tc, t_config_errors);
	tcase_add_test(tc, t_keys_jws);
	tcase_add_test(tc, t_identity_valid);
	tcase_add_test(tc, t_pivot_subject);
	tcase_add_test(tc, t_pwhash_same_answers);
	tcase_add_test(tc, t_pwhash_threads);
	tcase_add_test(tc, t_fmt_decimal);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return failed == 0 ? 0 : 1;
}
