/* SPDX-License-Identifier: EUPL-1.2 */
/* Unit tests of the key set and compact JWS (keys.c, jws.c): keys loaded
 * from state.json, tokens signed and verified, forgeries refused. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "jws.h"
#include "keys.h"
#include "pkcs11.h"
#include "util.h"

START_TEST(t_keys_jws)
{
	char kdir[256], kid[48], *tok = NULL, pem[300];
	struct keyset *ks = NULL;
	json_t *pl = json_pack("{s:s}", "sub", "x"), *out = NULL;
	const struct sign_key *rsa, *ec;

	snprintf(kdir, sizeof(kdir), "%s/keys", test_tmpdir);
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

/* state.json names a key by a file or by a PKCS#11 URI, never both, never
 * neither; a URI must be a bounded, printable "pkcs11:" one. The token
 * itself is tested from the outside (t_hsm.sh). */
static int load_with_entry(const char *kdir, const char *file, const char *uri)
{
	char sp[300];
	json_t *st, *e;
	struct keyset *ks = NULL;
	int rc;

	snprintf(sp, sizeof(sp), "%s/state.json", kdir);
	st = json_load_file(sp, 0, NULL);
	ck_assert_ptr_nonnull(st);
	e = json_array_get(json_object_get(st, "keys"), 0);
	if (file != NULL)
		json_object_set_new(e, "file", json_string(file));
	else
		json_object_del(e, "file");
	if (uri != NULL)
		json_object_set_new(e, "pkcs11_uri", json_string(uri));
	else
		json_object_del(e, "pkcs11_uri");
	ck_assert_int_eq(json_dump_file(st, sp, 0), 0);
	json_decref(st);
	rc = keyset_load(kdir, &ks);
	keyset_free(ks);
	return rc;
}

START_TEST(t_pkcs11_entries)
{
	char kdir[256], kid[48], sp[300], file[128];
	json_t *st;
	EVP_PKEY *pk = NULL;
	char long_uri[1100];

	snprintf(kdir, sizeof(kdir), "%s/keys-p11", test_tmpdir);
	ck_assert_int_eq(keyset_create_key(kdir, ALG_ES256, KEY_ACTIVE, kid), IDP_OK);
	ck_assert_int_eq(keyset_create_key(kdir, ALG_RS256, KEY_ACTIVE, kid), IDP_OK);
	snprintf(sp, sizeof(sp), "%s/state.json", kdir);
	st = json_load_file(sp, 0, NULL);
	snprintf(file, sizeof(file), "%s",
		 json_string_value(json_object_get(json_array_get(json_object_get(st, "keys"), 0), "file")));
	json_decref(st);
	ck_assert_int_eq(load_with_entry(kdir, file, NULL), IDP_OK);
	ck_assert_int_eq(load_with_entry(kdir, file, "pkcs11:token=t;object=o"), IDP_EINVAL); /* both */
	ck_assert_int_eq(load_with_entry(kdir, NULL, NULL), IDP_EINVAL);                      /* neither */
	ck_assert_int_eq(load_with_entry(kdir, NULL, "file:///etc/passwd"), IDP_EINVAL);
	ck_assert_int_eq(load_with_entry(kdir, NULL, "pkcs11:token=t;object=a b"), IDP_EINVAL);
	/* A well-formed URI without a PIN file: refused before any engine loads. */
	pkcs11_configure(NULL, NULL);
	ck_assert_int_eq(load_with_entry(kdir, NULL, "pkcs11:token=t;object=o"), IDP_EINVAL);
	ck_assert_int_eq(load_with_entry(kdir, file, NULL), IDP_OK);
	memset(long_uri, 'a', sizeof(long_uri) - 1);
	memcpy(long_uri, "pkcs11:", 7);
	long_uri[sizeof(long_uri) - 1] = '\0';
	ck_assert(!pkcs11_uri_ok(long_uri));
	ck_assert(!pkcs11_uri_ok("pkcs11:"));
	ck_assert(!pkcs11_uri_ok(NULL));
	ck_assert(pkcs11_uri_ok("pkcs11:token=idp;object=es256-2027"));
	ck_assert_int_eq(pkcs11_load_key("pkcs11:token=idp", &pk), IDP_EINVAL);
	ck_assert_ptr_null(pk);
}
END_TEST

Suite *test_suite(void)
{
	return TEST_SUITE_OF("jws", t_keys_jws, t_pkcs11_entries);
}
