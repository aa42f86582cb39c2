/* Unit tests of the login's session-bound steps: the key a remembered
 * consent is stored under. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "authz_req.h"
#include "config.h"
#include "flow.h"
#include "oidc.h"
#include "util.h"

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

Suite *test_suite(void)
{
	return TEST_SUITE_OF("core", t_consent_key_stable);
}
