/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl receipts verify FILE: a receipt downloaded from /account (ledger.h)
 * checked against the provider's keys: signature, typ, iss, its members. */
#include "ctl.h"
#include "jws.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A receipt is a few hundred bytes; anything much larger is not one. */
#define RECEIPT_FILE_MAX 16384

/* The header's typ, decoded (the signature is checked by jws_verify). */
static bool typ_is_receipt(const char *tok)
{
	const char *dot = strchr(tok, '.');
	unsigned char *h = NULL;
	size_t n = 0;
	json_t *j;
	bool ok;

	if (dot == NULL || b64url_decode(tok, (size_t)(dot - tok), &h, &n) != IDP_OK)
		return false;
	j = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, NULL);
	ok = strcmp(json_string_value(json_object_get(j, "typ")) ?: "", RECEIPT_TYP) == 0;
	json_decref(j);
	free(h);
	return ok;
}

int cmd_receipts(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct keyset *ks = NULL;
	char buf[RECEIPT_FILE_MAX + 1];
	json_t *p = NULL;
	size_t n;
	FILE *f;
	int rc = 1;

	if (argc != 2 || strcmp(argv[0], "verify") != 0) {
		usage(stderr);
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL)
		return fail("cannot open %s", argv[1]);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n > RECEIPT_FILE_MAX)
		return fail("%s: not a receipt (longer than %d bytes)", argv[1], RECEIPT_FILE_MAX);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	if (keyset_load(opt.keys_dir ? opt.keys_dir : cfg->keys_dir, &ks) != IDP_OK) {
		fail("cannot read the keys folder");
		goto out;
	}
	if (jws_verify(ks, buf, &p) != IDP_OK) {
		fail("%s: the signature is not the provider's (altered, or not a receipt)", argv[1]);
		goto out;
	}
	if (!typ_is_receipt(buf)) {
		fail("%s: signed by the provider, but not a receipt (typ is not %s)", argv[1], RECEIPT_TYP);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(p, "iss")) ?: "", cfg->issuer) != 0 ||
	    !json_is_string(json_object_get(p, "sub")) || !json_is_string(json_object_get(p, "service")) ||
	    !json_is_integer(json_object_get(p, "iat")) || !json_is_string(json_object_get(p, "jti")) ||
	    !json_is_array(json_object_get(p, "categories")) || !json_is_string(json_object_get(p, "sha256"))) {
		fail("%s: a member is missing or of the wrong type", argv[1]);
		goto out;
	}
	{
		char t[32], *cats = json_dumps(json_object_get(p, "categories"), JSON_COMPACT);
		char *dp = json_dumps(json_object_get(p, "data_provider"), JSON_COMPACT | JSON_ENCODE_ANY);

		printf("receipt %s: valid, signed by %s\n", json_string_value(json_object_get(p, "jti")), cfg->issuer);
		printf("  released %s to %s (%s), data %s%s%s, sha256 %s\n",
		       fmt_time(json_integer_value(json_object_get(p, "iat")), t),
		       json_string_value(json_object_get(p, "service")),
		       json_string_value(json_object_get(p, "release")) ?: "?", cats ? cats : "?",
		       dp != NULL && json_object_get(p, "data_provider") != NULL ? ", data provider " : "",
		       dp != NULL && json_object_get(p, "data_provider") != NULL ? dp : "",
		       json_string_value(json_object_get(p, "sha256")));
		free(cats);
		free(dp);
	}
	rc = 0;
out:
	json_decref(p);
	keyset_free(ks);
	config_free(cfg);
	return rc;
}
