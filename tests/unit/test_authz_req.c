/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the authorization request's stored form (authz_req.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "authz_req.h"
#include "util.h"

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

Suite *test_suite(void)
{
	return TEST_SUITE_OF("authz_req", t_authz_req_stored);
}
