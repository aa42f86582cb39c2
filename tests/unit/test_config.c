/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of configuration loading (config.c): what is refused, and
 * the defaults a valid file gets. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "config.h"
#include "util.h"

START_TEST(t_config_errors)
{
	struct config *c = NULL;
	char p[256];

	snprintf(p, sizeof(p), "%s/c.json", test_tmpdir);
	test_write_file("c.json", "{\n \"issuer\": \"http://x\",\n \"issuer\": 1\n}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* duplicate key, line 3 */
	test_write_file("c.json", "{\n \"issuer\": \n", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* syntax */
	test_write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"isuer\":1}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* unknown setting */
	test_write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"a\","
			     "\"client_secret\":\"x\",\"redirect_uris\":[\"http://h/cb\"]}]}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* secret in clear */
	test_write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
			     "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"a\","
			     "\"client_secret_sha256\":\"17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d\","
			     "\"redirect_uris\":[\"http://h/cb#frag\"]}]}", 0600);
	ck_assert_int_eq(config_load(p, &c), IDP_EINVAL); /* fragment in redirect URI */
	test_write_file("c.json", "{\"issuer\":\"http://127.0.0.1:1/\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
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

/* Loads TEXT as the configuration file c.json of the test folder. */
static int load_text(const char *text, struct config **c)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/c.json", test_tmpdir);
	test_write_file("c.json", text, 0600);
	return config_load(p, c);
}

/* A data provider's words for the consent page (issue 17). */
static int load_dp(const char *dp_extra)
{
	struct config *c = NULL;
	char text[2048];
	int rc;

	snprintf(text, sizeof(text),
		 "{\"issuer\":\"http://127.0.0.1:1\",\"pairwise_secret\":\"0123456789abcdef0123456789abcdef\","
		 "\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],\"clients\":[{\"client_id\":\"dp\","
		 "\"client_secret_sha256\":\"17181b22d74645e892b4613a95907148c33a569d563596757d937bec51906e6d\","
		 "\"role\":\"data_provider\",\"scopes_served\":[\"qf\",\"identite_pivot\"]%s}]}", dp_extra);
	rc = load_text(text, &c);
	if (rc == IDP_OK) {
		ck_assert_ptr_eq(config_data_provider(c, "qf"), &c->clients[0]);
		ck_assert_ptr_null(config_data_provider(c, "qf identite_pivot"));
		ck_assert_ptr_null(config_data_provider(c, "other"));
		ck_assert_ptr_null(client_scope_text(&c->clients[0], "identite_pivot", 0));
		if (strstr(dp_extra, "scope_descriptions") != NULL) {
			ck_assert_str_eq(client_scope_text(&c->clients[0], "qf", 0), "votre quotient");
			ck_assert_str_eq(client_scope_text(&c->clients[0], "qf", 1), "your quotient");
		}
	}
	config_free(c);
	return rc;
}

START_TEST(t_config_scope_descriptions)
{
	ck_assert_int_eq(load_dp(""), IDP_OK); /* optional */
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":{\"fr\":\"votre quotient\",\"en\":\"your quotient\"}}"), IDP_OK);
	/* a scope it does not serve, one language, another language, empty, not an object */
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"other\":{\"fr\":\"a\",\"en\":\"b\"}}"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":{\"fr\":\"a\"}}"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":{\"fr\":\"a\",\"en\":\"b\",\"de\":\"c\"}}"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":{\"fr\":\"\",\"en\":\"b\"}}"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":{\"fr\":\"a\\nb\",\"en\":\"b\"}}"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":[\"qf\"]"), IDP_EINVAL);
	ck_assert_int_eq(load_dp(",\"scope_descriptions\":{\"qf\":\"votre quotient\"}"), IDP_EINVAL);
}
END_TEST

/* listen.address: one IPv4 or IPv6 address, refused at load otherwise. */
START_TEST(t_config_listen_address)
{
	static const struct {
		const char *address;
		int rc;
	} cases[] = {{"127.0.0.1", IDP_OK}, {"0.0.0.0", IDP_OK}, {"::1", IDP_OK}, {"::", IDP_OK},
		     {"2001:db8::10", IDP_OK}, {"localhost", IDP_EINVAL}, {"[::1]", IDP_EINVAL},
		     {"fe80::1%lo", IDP_EINVAL}, {"127.0.0.1:8080", IDP_EINVAL}, {"", IDP_EINVAL}};
	char text[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config *c = NULL;

		snprintf(text, sizeof(text), "{\"issuer\":\"http://[::1]:1\",\"pairwise_secret\":"
			 "\"0123456789abcdef0123456789abcdef\",\"backends\":[{\"id\":\"f\",\"plugin\":\"file\"}],"
			 "\"listen\":{\"address\":\"%s\"}}", cases[i].address);
		ck_assert_msg(load_text(text, &c) == cases[i].rc, "listen.address \"%s\"", cases[i].address);
		if (cases[i].rc == IDP_OK)
			ck_assert_str_eq(c->address, cases[i].address);
		config_free(c);
	}
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("config", t_config_errors, t_config_scope_descriptions, t_config_listen_address);
}
