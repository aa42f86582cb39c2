/* SPDX-License-Identifier: EUPL-1.2 */
/* URI handling: what a registered redirect URI may be, and the pairwise
 * sector and form-action origin taken from it (libcurl's URL API). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "config.h"
#include "util.h"
#include "uri.h"

#define SECRET_SHA256 "17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d"

/* Loads a configuration with issuer and one client whose members are the
 * JSON text client (after client_id and secret); *sector: the client's
 * sector (the caller frees it), NULL when the configuration is refused. */
static int load_one(const char *issuer, const char *client, char **sector)
{
	char p[256];
	struct config *c = NULL;
	FILE *f;
	int rc;

	*sector = NULL;
	snprintf(p, sizeof(p), "%s/c.json", test_tmpdir);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "{\"issuer\":\"%s\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
		   "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"svc\","
		   "\"client_secret_sha256\":\"" SECRET_SHA256 "\",%s}]}", issuer, client);
	fclose(f);
	rc = config_load(p, &c);
	if (rc == IDP_OK) {
		*sector = xstrdup(c->clients[0].sector);
		config_free(c);
	}
	return rc;
}

/* The sector of a client registered with this one redirect URI. */
static char *sector_of(const char *uri)
{
	char text[512], *s;

	snprintf(text, sizeof(text), "\"redirect_uris\":[\"%s\"]", uri);
	ck_assert_msg(load_one("https://login.example.gouv.fr", text, &s) == IDP_OK, "%s refused", uri);
	return s;
}

static void assert_sector(const char *uri, const char *want)
{
	char *s = sector_of(uri);

	ck_assert_msg(s != NULL && strcmp(s, want) == 0, "sector of %s: [%s], want [%s]", uri,
		      s ? s : "(null)", want);
	free(s);
}

static bool accepted(const char *issuer, const char *member, const char *uri)
{
	char text[2600], *s;
	int rc;

	if (strcmp(member, "redirect_uris") == 0)
		snprintf(text, sizeof(text), "\"redirect_uris\":[\"%s\"]", uri);
	else
		snprintf(text, sizeof(text), "\"redirect_uris\":[\"https://ok.example.fr/cb\"],\"%s\":[\"%s\"]",
			 member, uri);
	rc = load_one(issuer, text, &s);
	free(s);
	return rc == IDP_OK;
}

/* The sector is the host: an IPv6 literal whole, with or without a port. */
START_TEST(t_sector_ipv6)
{
	assert_sector("https://[2001:db8::1]/cb", "[2001:db8::1]");
	assert_sector("https://[2001:db8::1]:8443/cb", "[2001:db8::1]");
	/* One address, two spellings: one sector. */
	assert_sector("https://[2001:DB8:0:0::1]/cb", "[2001:db8::1]");
	assert_sector("http://[::1]:8081/callback", "[::1]");
}
END_TEST

START_TEST(t_sector_ports_ipv4)
{
	assert_sector("https://service.example.fr:8443/cb", "service.example.fr");
	assert_sector("https://service.example.fr:443/cb?x=1", "service.example.fr");
	assert_sector("http://127.0.0.1:8081/callback", "127.0.0.1");
	assert_sector("https://service.example.fr?x=1", "service.example.fr");
}
END_TEST

/* Host names are case-insensitive (RFC 3986 3.2.2): the sector, hence the
 * pairwise sub, must not depend on how the service wrote it. */
START_TEST(t_sector_case)
{
	char *a = sector_of("https://Mairie.Example.FR/cb"), *b = sector_of("https://mairie.example.fr/cb");

	ck_assert_str_eq(a, "mairie.example.fr");
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
}
END_TEST

/* An internationalised name is kept in punycode (IDNA2008, UTS 46 mapping
 * folds its case): the Unicode and ASCII spellings give one sector. */
START_TEST(t_sector_idn)
{
	assert_sector("https://Mairie-\\u00c9lancourt.fr/cb", "xn--mairie-lancourt-hnb.fr");
	assert_sector("https://mairie-\\u00e9lancourt.fr/cb", "xn--mairie-lancourt-hnb.fr");
	assert_sector("https://xn--mairie-lancourt-hnb.fr/cb", "xn--mairie-lancourt-hnb.fr");
	assert_sector("https://XN--MAIRIE-LANCOURT-HNB.FR/cb", "xn--mairie-lancourt-hnb.fr");
}
END_TEST

/* "example.fr." and "example.fr" name one host. */
START_TEST(t_sector_trailing_dot)
{
	assert_sector("https://example.fr./cb", "example.fr");
	assert_sector("https://EXAMPLE.fr.:8443/cb", "example.fr");
}
END_TEST

/* An explicit sector_identifier is kept as written (subjects already issued
 * under it stay the same). */
START_TEST(t_sector_explicit)
{
	char *s;

	ck_assert_int_eq(load_one("https://login.example.gouv.fr",
				  "\"redirect_uris\":[\"https://a.example.fr/cb\"],\"sector_identifier\":\"Mairie\"", &s),
			 IDP_OK);
	ck_assert_str_eq(s, "Mairie");
	free(s);
}
END_TEST

/* RFC 8252 7.3: under an https issuer, plain http only on loopback. */
START_TEST(t_http_only_on_loopback)
{
	const char *https = "https://login.example.gouv.fr", *http = "http://127.0.0.1:8080";
	static const char *const members[] = {"redirect_uris", "post_logout_redirect_uris"};

	for (int m = 0; m < 2; m++) {
		ck_assert(!accepted(https, members[m], "http://service.example.fr/cb"));
		ck_assert(!accepted(https, members[m], "http://10.0.0.1/cb"));
		ck_assert(!accepted(https, members[m], "http://[2001:db8::1]/cb"));
		ck_assert(!accepted(https, members[m], "http://127.0.0.1.example.fr/cb"));
		ck_assert(!accepted(https, members[m], "http://localhost.example.fr/cb"));
		ck_assert(accepted(https, members[m], "http://127.0.0.1:8081/callback"));
		ck_assert(accepted(https, members[m], "http://127.1.2.3/cb"));
		ck_assert(accepted(https, members[m], "http://[::1]:8081/cb"));
		ck_assert(accepted(https, members[m], "http://localhost:8081/cb"));
		ck_assert(accepted(https, members[m], "http://LocalHost/cb"));
		ck_assert(accepted(https, members[m], "https://service.example.fr/cb"));
		/* A plain-http issuer (a developer's machine) takes http anywhere. */
		ck_assert(accepted(http, members[m], "http://service.example.fr/cb"));
	}
}
END_TEST

/* Absolute, without fragment or user info, for both kinds of URIs. */
START_TEST(t_refused_shapes)
{
	static const char *const members[] = {"redirect_uris", "post_logout_redirect_uris"};
	static const char *const bad[] = {
		"/cb", "service.example.fr/cb", "//service.example.fr/cb", "https:/service.example.fr/cb",
		"https:///service.example.fr/cb", "https://", "https://:443/cb", "javascript:alert(1)",
		"ftp://service.example.fr/cb", "https://service.example.fr/cb#", "https://service.example.fr/cb#x",
		"https://user@service.example.fr/cb", "https://user:pw@service.example.fr/cb",
		"https://@service.example.fr/cb", "https://:pw@service.example.fr/cb",
		"https://service.example.fr:99999/cb", "https://[2001:db8::1/cb",
		"https://[fe80::1%25eth0]/cb", "https://exa mple.fr/cb", "https://a\\\\b.fr/cb",
		"https://a\\u0001b.fr/cb", NULL};

	for (int m = 0; m < 2; m++)
		for (int i = 0; bad[i] != NULL; i++)
			ck_assert_msg(!accepted("https://login.example.gouv.fr", members[m], bad[i]),
				      "%s accepted in %s", bad[i], members[m]);
}
END_TEST

static void assert_str(char *got, const char *want, const char *what)
{
	ck_assert_msg((got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0),
		      "%s: [%s], want [%s]", what, got ? got : "(null)", want ? want : "(null)");
	free(got);
}

/* The helpers themselves: hosts, origins, loopback. */
START_TEST(t_uri_host)
{
	assert_str(uri_host("https://[2001:db8::1]/cb"), "[2001:db8::1]", "ipv6");
	assert_str(uri_host("https://[2001:db8::1]:8443/cb"), "[2001:db8::1]", "ipv6 port");
	assert_str(uri_host("https://[::FFFF:7F00:1]/cb"), "[::ffff:127.0.0.1]", "mapped ipv4");
	assert_str(uri_host("https://[::ffff:127.0.0.1]/cb"), "[::ffff:127.0.0.1]", "mapped ipv4, dotted");
	assert_str(uri_host("https://[2001:0DB8:0000:0000:0000:0000:0000:0001]/cb"), "[2001:db8::1]", "ipv6 long");
	assert_str(uri_host("https://u:p@Example.FR:8443/cb"), "example.fr", "userinfo port case");
	assert_str(uri_host("http://127.1/cb"), "127.0.0.1", "short ipv4");
	assert_str(uri_host("https://Mairie-\xc3\x89lancourt.fr/cb"), "xn--mairie-lancourt-hnb.fr", "idn");
	assert_str(uri_host("https://ex%41mple.fr/cb"), "example.fr", "percent-encoded host");
	assert_str(uri_host("https://example.fr./cb"), "example.fr", "trailing dot");
	assert_str(uri_host("https://./cb"), NULL, "only a dot");
	assert_str(uri_host("/cb"), NULL, "relative");
	assert_str(uri_host("ftp://example.fr/x"), NULL, "other scheme");
	assert_str(uri_host(NULL), NULL, "NULL");
	assert_str(uri_host("https://a\xff.fr/cb"), NULL, "not UTF-8");
}
END_TEST

/* What a Content-Security-Policy form-action needs: scheme, host, and the
 * port only when it is not the scheme's default. */
START_TEST(t_uri_origin)
{
	assert_str(uri_origin("https://Service.Example.fr/cb?x=1"), "https://service.example.fr", "plain");
	assert_str(uri_origin("https://service.example.fr:443/cb"), "https://service.example.fr", "default port");
	assert_str(uri_origin("http://127.0.0.1:8081/callback"), "http://127.0.0.1:8081", "port");
	assert_str(uri_origin("https://[2001:db8::1]:8443/cb"), "https://[2001:db8::1]:8443", "ipv6 port");
	assert_str(uri_origin("https://[2001:db8::1]/cb"), "https://[2001:db8::1]", "ipv6");
	assert_str(uri_origin("https://u:p@service.example.fr/cb"), "https://service.example.fr", "no userinfo");
	assert_str(uri_origin("https://service.example.fr?x"), "https://service.example.fr", "query, no path");
	assert_str(uri_origin("https://mairie-\xc3\xa9lancourt.fr/cb"), "https://xn--mairie-lancourt-hnb.fr", "idn");
	assert_str(uri_origin("https://example.fr./cb"), "https://example.fr.", "trailing dot kept");
	assert_str(uri_origin("javascript:alert(1)"), NULL, "javascript");
	assert_str(uri_origin(NULL), NULL, "NULL");
}
END_TEST

START_TEST(t_uri_loopback)
{
	ck_assert(uri_host_is_loopback("127.0.0.1"));
	ck_assert(uri_host_is_loopback("127.255.0.9"));
	ck_assert(uri_host_is_loopback("[::1]"));
	ck_assert(uri_host_is_loopback("localhost"));
	ck_assert(!uri_host_is_loopback("127.0.0.1.example.fr"));
	ck_assert(!uri_host_is_loopback("128.0.0.1"));
	ck_assert(!uri_host_is_loopback("[::2]"));
	ck_assert(!uri_host_is_loopback("localhost.example.fr"));
	ck_assert(!uri_host_is_loopback(""));
	ck_assert(!uri_host_is_loopback(NULL));
	ck_assert_ptr_null(uri_problem("http://LOCALHOST:8080/cb", true));
	ck_assert_ptr_null(uri_problem("http://0x7f.0.0.1/cb", true)); /* 127.0.0.1 */
	ck_assert_ptr_nonnull(uri_problem("http://0x0a.0.0.1/cb", true)); /* 10.0.0.1 */
	ck_assert_ptr_null(uri_problem("http://service.example.fr/cb", false));
}
END_TEST

/* Each refusal says why, in words an operator can act on. */
START_TEST(t_uri_problem_reasons)
{
	char big[2100];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "https://a/", 10);
	ck_assert_ptr_nonnull(strstr(uri_problem("https://a/cb#x", true), "fragment"));
	ck_assert_ptr_nonnull(strstr(uri_problem("https://u@a/cb", true), "user info"));
	ck_assert_ptr_nonnull(strstr(uri_problem("a/cb", true), "absolute"));
	ck_assert_ptr_nonnull(strstr(uri_problem("http://a.fr/cb", true), "loopback"));
	ck_assert_ptr_nonnull(strstr(uri_problem("https://[fe80::1%25eth0]/cb", true), "zone"));
	ck_assert_ptr_nonnull(strstr(uri_problem(big, true), "2048"));
	ck_assert_ptr_nonnull(strstr(uri_problem("", true), "empty"));
	ck_assert_ptr_nonnull(strstr(uri_problem("https://a/\r\nSet-Cookie:x", true), "control"));
	ck_assert_ptr_null(uri_problem("https://a.fr/cb?x=1&y=%20", true));
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

Suite *test_suite(void)
{
	Suite *s = suite_create("uri");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, t_sector_ipv6);
	tcase_add_test(tc, t_sector_ports_ipv4);
	tcase_add_test(tc, t_sector_case);
	tcase_add_test(tc, t_sector_idn);
	tcase_add_test(tc, t_sector_trailing_dot);
	tcase_add_test(tc, t_sector_explicit);
	tcase_add_test(tc, t_http_only_on_loopback);
	tcase_add_test(tc, t_refused_shapes);
	suite_add_tcase(s, tc);
	tc = tcase_create("helpers");
	tcase_add_test(tc, t_uri_host);
	tcase_add_test(tc, t_uri_origin);
	tcase_add_test(tc, t_uri_loopback);
	tcase_add_test(tc, t_uri_problem_reasons);
	tcase_add_test(tc, t_uri_with_params);
	suite_add_tcase(s, tc);
	return s;
}
