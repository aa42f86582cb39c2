/* SPDX-License-Identifier: EUPL-1.2 */
/* The SSO session's stored form (session.h): what the encoder writes the
 * decoder reads back, a record written by the daemon before struct session
 * existed is still read and written again byte for byte (a cluster upgraded
 * one instance at a time), and anything else is refused with an error, never
 * a crash (this file runs under AddressSanitizer in make test). Also the
 * consent key built from a session, and the session's lifetime. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "flow.h"
#include "session.h"
#include "store.h"
#include "util.h"
#include "json_bounded.h"

#define SID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SID2 "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* Sessions as the daemon wrote them before struct session, byte for byte
 * (json_pack in this order, "sid" the first 32 hex digits of the key). */
static const char old_record[] =
	"{\"sub\":\"file:alice\",\"backend\":\"file\",\"claims\":{\"given_name\":\"Alice\","
	"\"family_name\":\"Martin\",\"birthdate\":\"1990-07-14\"},\"acr\":\"eidas1\",\"amr\":[\"pwd\"],"
	"\"auth_time\":1790000000,\"created\":1790000001,\"sid\":\"0123456789abcdef0123456789abcdef\"}";
static const char old_record_up[] =
	"{\"sub\":\"up:x\",\"backend\":\"up\",\"claims\":{},\"acr\":\"eidas2\",\"amr\":[\"mfa\"],"
	"\"auth_time\":5,\"created\":5,\"sid\":\"0123456789abcdef0123456789abcdef\","
	"\"up\":{\"id_token\":\"a.b.c\"}}";

static struct session *sample(void)
{
	struct session *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	memcpy(s->sid_hash, SID, 65);
	s->sub = strdup("file:bob");
	s->backend = strdup("file");
	s->acr = strdup("eidas1");
	s->amr = strdup("pwd");
	s->auth_time = 1790000000;
	s->created = 1790000002;
	s->claims = json_pack("{s:s,s:{s:s}}", "given_name", "Bob", "address", "locality", "Lyon");
	s->up = json_pack("{s:s}", "id_token", "h.p.s");
	return s;
}

/* Decodes text as session SID: the session, or NULL when refused (then
 * checked to be left empty). */
static struct session *decode_as(const char *text, size_t len, const char *sid)
{
	struct session *d = malloc(sizeof(*d));

	ck_assert_ptr_nonnull(d);
	if (session_decode(text, len, sid, d) == IDP_OK)
		return d;
	ck_assert_ptr_null(d->sub);
	ck_assert_ptr_null(d->claims);
	ck_assert_ptr_null(d->up);
	session_free(d);
	return NULL;
}

static struct session *decode(const char *text)
{
	return decode_as(text, strlen(text), SID);
}

START_TEST(t_round_trip)
{
	struct session *s = sample(), *d;
	char *text;
	size_t len;

	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	ck_assert_uint_eq(len, strlen(text));
	d = decode_as(text, len, SID);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->sid_hash, SID);
	ck_assert_str_eq(d->sub, "file:bob");
	ck_assert_str_eq(d->backend, "file");
	ck_assert_str_eq(d->acr, "eidas1");
	ck_assert_str_eq(d->amr, "pwd");
	ck_assert_int_eq(d->auth_time, 1790000000);
	ck_assert_int_eq(d->created, 1790000002);
	ck_assert(json_equal(d->claims, s->claims));
	ck_assert(json_equal(d->up, s->up));
	ck_assert(!d->cached && !d->fresh);
	session_free(d);
	/* The same text under another session's key: refused, its "sid"
	 * names another session. */
	ck_assert_ptr_null(decode_as(text, len, SID2));
	ck_assert_ptr_null(decode_as(text, len, "0123"));
	free(text);
	/* A second factor's methods: an array of words, read back as they
	 * were; more than SESSION_AMR_MAX, or an empty one, is not written. */
	free(s->amr);
	s->amr = strdup("pwd otp");
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	ck_assert_ptr_nonnull(strstr(text, "\"amr\":[\"pwd\",\"otp\"]"));
	d = decode_as(text, len, SID);
	ck_assert_str_eq(d->amr, "pwd otp");
	session_free(d);
	free(text);
	free(s->amr);
	s->amr = strdup("a b c d e");
	ck_assert_int_ne(session_encode(s, &text, &len), IDP_OK);
	free(s->amr);
	s->amr = strdup("pwd  otp");
	ck_assert_int_ne(session_encode(s, &text, &len), IDP_OK);
	free(s->amr);
	s->amr = strdup("pwd");
	/* A raised session's cookie secret hash ("ck"): none written for a
	 * session's first cookie, read back as written, 64 hex digits only. */
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	ck_assert_ptr_null(strstr(text, "\"ck\""));
	d = decode(text);
	ck_assert_str_eq(d->ck, "");
	session_free(d);
	free(text);
	memcpy(s->ck, SID2, 65);
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	d = decode(text);
	ck_assert_str_eq(d->ck, SID2);
	session_free(d);
	free(text);
	s->ck[3] = 'X';
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_EINVAL);
	s->ck[0] = '\0';
	ck_assert_ptr_null(decode("{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"eidas1\","
				  "\"amr\":[\"pwd\"],\"auth_time\":1,\"created\":1,\"ck\":\"abc\"}"));
	/* Without backend data: no "up" written, none read. */
	json_decref(s->up);
	s->up = NULL;
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	ck_assert_ptr_null(strstr(text, "\"up\""));
	d = decode(text);
	ck_assert_ptr_nonnull(d);
	ck_assert_ptr_null(d->up);
	session_free(d);
	free(text);
	session_free(s);
	session_free(NULL);
}
END_TEST

/* The records an earlier daemon wrote are read, and the encoder writes them
 * again unchanged: an older instance of the cluster reads what a newer one
 * wrote. A record without "sid", or with "up": null, or with a member this
 * daemon does not know (a newer one's), is read too. */
START_TEST(t_old_format)
{
	static const char *const compatible[] = {
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"pwd\"],"
		"\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"pwd\"],"
		"\"auth_time\":1,\"created\":2,\"up\":null}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"pwd\"],"
		"\"auth_time\":1,\"created\":2,\"later\":[1,{\"x\":2}]}",
		/* a second factor's session (issue 18): several methods */
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"pwd\",\"otp\"],"
		"\"auth_time\":1,\"created\":2}",
	};
	const char *const olds[] = {old_record, old_record_up};
	struct session *d;
	char *text;
	size_t len;

	for (size_t i = 0; i < 2; i++) {
		d = decode(olds[i]);
		ck_assert_ptr_nonnull(d);
		ck_assert_int_eq(session_encode(d, &text, &len), IDP_OK);
		ck_assert_str_eq(text, olds[i]);
		free(text);
		session_free(d);
	}
	d = decode(old_record);
	ck_assert_str_eq(d->sub, "file:alice");
	ck_assert_str_eq(json_string_value(json_object_get(d->claims, "birthdate")), "1990-07-14");
	ck_assert_int_eq(d->created, 1790000001);
	ck_assert_ptr_null(d->up);
	session_free(d);
	d = decode(compatible[3]);
	ck_assert_str_eq(d->amr, "pwd otp");
	session_free(d);
	d = decode(old_record_up);
	ck_assert_str_eq(d->amr, "mfa");
	ck_assert_str_eq(json_string_value(json_object_get(d->up, "id_token")), "a.b.c");
	session_free(d);
	for (size_t i = 0; i < sizeof(compatible) / sizeof(compatible[0]); i++) {
		d = decode(compatible[i]);
		ck_assert_msg(d != NULL, "refused: %s", compatible[i]);
		ck_assert_ptr_null(d->up);
		session_free(d);
	}
}
END_TEST

/* Every cut of a good record is refused, and so is every record with a
 * member missing or of the wrong type, out of bounds, or not JSON. */
START_TEST(t_refused)
{
	static const char *const bad[] = {
		"", "null", "[]", "\"sess\"", "{}", "{\"sub\":\"a\"", "\xff\xfe{}",
		/* one member missing each */
		"{\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1}",
		/* wrong types, empty or negative */
		"{\"sub\":1,\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":[],\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":\"p\",\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[],\"auth_time\":1,\"created\":2}",
		/* methods: at most SESSION_AMR_MAX, none empty or with a space */
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\",\"q\",\"r\",\"s\",\"t\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\",\"\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p q\"],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\",2],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[1],\"auth_time\":1,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":\"1\",\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1.5,\"created\":2}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":-2}",
		/* a "sid" of another session, or not one */
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2,"
		"\"sid\":\"1123456789abcdef0123456789abcdef\"}",
		"{\"sub\":\"a\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,\"created\":2,"
		"\"sid\":7}",
		/* a member twice, a NUL inside a string */
		"{\"sub\":\"a\",\"sub\":\"z\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,"
		"\"created\":2}",
		"{\"sub\":\"a\\u0000z\",\"backend\":\"b\",\"claims\":{},\"acr\":\"c\",\"amr\":[\"p\"],\"auth_time\":1,"
		"\"created\":2}",
	};
	struct buf b;
	char *text;
	size_t len;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(decode(bad[i]) == NULL, "read: %s", bad[i]);
	/* Truncated anywhere. */
	for (size_t n = 0; n < sizeof(old_record_up) - 1; n++)
		ck_assert_msg(decode_as(old_record_up, n, SID) == NULL, "read when cut at %zu", n);
	/* Nested past the stored depth, inside the claims. */
	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_adds(&b, "{\"sub\":\"a\",\"backend\":\"b\",\"acr\":\"c\",\"amr\":[\"p\"],"
				      "\"auth_time\":1,\"created\":2,\"claims\":{\"x\":"), IDP_OK);
	for (int i = 0; i < JSON_STORED_DEPTH + 1; i++)
		ck_assert_int_eq(buf_adds(&b, "["), IDP_OK);
	for (int i = 0; i < JSON_STORED_DEPTH + 1; i++)
		ck_assert_int_eq(buf_adds(&b, "]"), IDP_OK);
	ck_assert_int_eq(buf_adds(&b, "}}"), IDP_OK);
	ck_assert_ptr_null(decode_as(b.p, b.len, SID));
	buf_release(&b);
	/* Larger than a stored record may be. */
	text = malloc(STORE_JSON_MAX + 64);
	len = (size_t)snprintf(text, 64, "{\"sub\":\"a\",\"claims\":{\"x\":\"");
	memset(text + len, 'y', STORE_JSON_MAX);
	memcpy(text + len + STORE_JSON_MAX, "\"}}", 4);
	ck_assert_ptr_null(decode(text));
	free(text);
	/* Random bytes. */
	srand(19);
	text = malloc(512);
	for (int k = 0; k < 2000; k++) {
		len = (size_t)(rand() % 512);
		for (size_t i = 0; i < len; i++)
			text[i] = (char)(k % 2 ? rand() : "{}[]\":,0a "[rand() % 10]);
		ck_assert_ptr_null(decode_as(text, len, SID));
	}
	free(text);
}
END_TEST

/* The encoder refuses what the decoder would: a field missing or longer
 * than SESSION_TEXT_MAX, a bad key; so no session is stored that cannot be
 * read back (the citizen would log in again and again). */
START_TEST(t_encoder_bounds)
{
	struct session *s = sample();
	char *text = (char *)"x", *big = malloc(SESSION_TEXT_MAX + 2);
	size_t len = 1;

	memset(big, 'a', SESSION_TEXT_MAX + 1);
	big[SESSION_TEXT_MAX + 1] = '\0';
	free(s->amr);
	s->amr = big;
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_EINVAL);
	ck_assert_ptr_null(text);
	big[SESSION_TEXT_MAX] = '\0';
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_OK);
	free(text);
	free(s->sub);
	s->sub = NULL;
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_EINVAL);
	s->sub = strdup("a");
	s->sid_hash[10] = 'X';
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_EINVAL);
	s->sid_hash[10] = 'a';
	json_decref(s->claims);
	s->claims = json_array();
	ck_assert_int_eq(session_encode(s, &text, &len), IDP_EINVAL);
	session_free(s);
}
END_TEST

/* A session lives session_idle past its last use, never past session_max
 * after it was made, and always at least a second in the store. */
START_TEST(t_ttl)
{
	struct config cfg = {.session_idle = 600, .session_max = 3600};
	int64_t now = now_s();

	ck_assert_uint_eq(session_ttl(&cfg, now), 600);
	ck_assert_uint_le(session_ttl(&cfg, now - 3300), 300);
	ck_assert_uint_ge(session_ttl(&cfg, now - 3300), 299);
	ck_assert_uint_eq(session_ttl(&cfg, now - 7200), 1);
}
END_TEST

/* A remembered consent's key is the SHA-256 of "sub|client|names", the
 * names as jansson wrote them (compact, sorted keys): keys written by an
 * earlier version stay valid. */
START_TEST(t_consent_key_stable)
{
	json_t *areq = json_loads("{\"scope\":\"openid profile email\",\"claims\":{\"id_token\":{\"phone_number\":null}}}",
				  0, NULL);
	struct session sess = {.sub = (char *)"local:x"};
	json_t *rel, *set = json_object(), *v;
	struct authz_req a;
	char svc[] = "svc", scope[] = "openid profile email";
	struct client cl = {.id = svc};
	char key[80], want[80], hash[65], *names, *msg;
	const char *k;

	sess.claims = json_loads("{\"given_name\":\"A\",\"email\":\"e@x.fr\",\"family_name\":\"B\","
				 "\"birthdate\":\"1990-07-14\",\"phone_number\":\"+33612345678\"}", 0, NULL);
	ck_assert_ptr_nonnull(sess.claims);
	ck_assert_ptr_nonnull(areq);
	rel = claims_released(sess.claims, "openid profile email", json_object_get(areq, "claims"));
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
	ck_assert_int_eq(consent_decide(&cl, &a, &sess, key), CONSENT_STORED);
	ck_assert_str_eq(key, want);
	free(msg);
	free(names);
	json_decref(set);
	json_decref(rel);
	json_decref(areq);
	json_decref(sess.claims);
}
END_TEST

int main(void)
{
	const TTest *const tests[] = {t_round_trip, t_old_format, t_refused, t_encoder_bounds, t_ttl,
				      t_consent_key_stable};
	TCase *tc = tcase_create("session");
	Suite *suite = suite_create("session");
	SRunner *sr = srunner_create(suite);
	int failed;

	idp_log_set_level(-1);
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(suite, tc);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}
