/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl receipts verify FILE [--jwks URL|FILE]: a receipt downloaded from
 * /account (ledger.h) checked: signature, typ, iss, its members. Against
 * the provider's published key set (--jwks: what a citizen or an auditor
 * holds, fetched with bounds or read from a file), else the keys folder
 * (the operator's check). */
#include "ctl.h"
#include "fetch.h"
#include "jose.h"
#include "json_bounded.h"
#include "jws.h"
#include "ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A receipt is a few hundred bytes; anything much larger is not one. */
#define RECEIPT_FILE_MAX 16384
/* A provider's JWKS holds a few keys: a few KB. A larger answer, a slower
 * one or a redirect is refused rather than followed. */
#define JWKS_MAX_BYTES (64 * 1024)
#define JWKS_TIMEOUT_MS 5000

/* A file of at most max bytes into buf (max + 1 bytes), trailing blanks cut.
 * -1: unreadable, -2: too long. */
static int read_bounded(const char *path, char *buf, size_t max, size_t *n)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	*n = fread(buf, 1, max + 1, f);
	fclose(f);
	if (*n > max)
		return -2;
	while (*n > 0 && (buf[*n - 1] == '\n' || buf[*n - 1] == '\r' || buf[*n - 1] == ' '))
		(*n)--;
	buf[*n] = '\0';
	return 0;
}

struct body {
	char *p;
	size_t len;
};

/* The JWKS at url (fetch.h's limits) into b->p (JWKS_MAX_BYTES + 1 bytes). */
static int fetch_jwks(const char *url, struct body *b)
{
	char *got = NULL;
	const char *why = NULL;
	long status = 0;
	int rc = fetch_bounded(url, JWKS_TIMEOUT_MS, JWKS_MAX_BYTES, &got, &b->len, &status, &why);

	if (rc == IDP_ETOOBIG)
		return fail("%s: the answer is larger than %d KiB: not a key set", url, JWKS_MAX_BYTES / 1024);
	if (rc == IDP_EDENIED)
		return fail("%s: answered %ld (redirects are not followed)", url, status);
	if (rc != IDP_OK)
		return fail("%s: %s", url, why);
	memcpy(b->p, got, b->len + 1);
	free(got);
	return 0;
}

/* The keys of --jwks: a URL fetched, else a file read. */
static int load_jwks(const char *src, struct client_key **keys, size_t *n)
{
	struct body b = {.p = malloc(JWKS_MAX_BYTES + 1)};
	const char *why = "not a JSON object";
	json_t *doc = NULL;
	int rc = 1, r;

	if (b.p == NULL)
		return fail("out of memory");
	if (strncmp(src, "https://", 8) == 0 || strncmp(src, "http://", 7) == 0) {
		if (fetch_jwks(src, &b) != 0)
			goto out;
	} else if ((r = read_bounded(src, b.p, JWKS_MAX_BYTES, &b.len)) != 0) {
		fail(r == -2 ? "%s: larger than 64 KiB: not a key set" : "cannot open %s", src);
		goto out;
	}
	if (json_parse_bounded(b.p, b.len, JWKS_MAX_BYTES, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, &doc) != IDP_OK ||
	    client_keys_parse(doc, keys, n, &why) != IDP_OK) {
		fail("%s: not a usable key set (%s)", src, why);
		goto out;
	}
	rc = 0;
out:
	json_decref(doc);
	free(b.p);
	return rc;
}

/* A compact JWS's header and payload, decoded and parsed (both objects). */
static bool jws_parts(const char *tok, json_t **hdr, json_t **payload)
{
	const char *d1 = strchr(tok, '.'), *d2 = d1 != NULL ? strchr(d1 + 1, '.') : NULL;
	unsigned char *h = NULL, *p = NULL;
	size_t hl = 0, pl = 0;
	bool ok;

	*hdr = *payload = NULL;
	ok = d2 != NULL && strchr(d2 + 1, '.') == NULL &&
	     b64url_decode(tok, (size_t)(d1 - tok), &h, &hl) == IDP_OK &&
	     b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &p, &pl) == IDP_OK &&
	     json_parse_bounded((char *)h, hl, hl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, hdr) == IDP_OK &&
	     json_parse_bounded((char *)p, pl, pl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, payload) == IDP_OK &&
	     json_is_object(*hdr) && json_is_object(*payload);
	free(h);
	free(p);
	return ok;
}

/* tok's signature by the key of keys its kid names (use sig or none), in
 * the algorithm its header names (never none, never HMAC: jose's list). */
static bool signed_by_jwks(const char *tok, const json_t *hdr, const struct client_key *keys, size_t n)
{
	enum jose_sig_alg alg = jose_sig_alg_parse(json_string_value(json_object_get(hdr, "alg")));
	const char *kid = json_string_value(json_object_get(hdr, "kid"));
	const char *d2 = strrchr(tok, '.');
	unsigned char *sig = NULL;
	size_t sl = 0;
	bool ok = false;

	if (alg == JOSE_SIG_NONE || json_object_get(hdr, "crit") != NULL ||
	    b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl) != IDP_OK)
		return false;
	for (size_t i = 0; i < n && !ok; i++)
		if ((kid == NULL || (keys[i].kid != NULL && strcmp(kid, keys[i].kid) == 0)) &&
		    (keys[i].use == NULL || strcmp(keys[i].use, "sig") == 0) && jose_key_fits_sig(keys[i].pk, alg))
			ok = jose_sig_verify(keys[i].pk, alg, tok, (size_t)(d2 - tok), sig, sl) == JOSE_OK;
	free(sig);
	return ok;
}

int cmd_receipts(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct keyset *ks = NULL;
	struct client_key *keys = NULL;
	size_t nk = 0;
	char buf[RECEIPT_FILE_MAX + 1];
	json_t *p = NULL, *hdr = NULL;
	const char *iss;
	size_t n;
	int rc = 1, r;

	if (argc != 2 || strcmp(argv[0], "verify") != 0) {
		usage(stderr);
		return 2;
	}
	if ((r = read_bounded(argv[1], buf, RECEIPT_FILE_MAX, &n)) != 0)
		return r == -2 ? fail("%s: not a receipt (longer than %d bytes)", argv[1], RECEIPT_FILE_MAX)
			       : fail("cannot open %s", argv[1]);
	/* With --jwks the configuration is optional: a citizen has none; when
	 * there is one, iss must be its issuer. */
	if (config_load(opt.config, &cfg) != IDP_OK && opt.jwks == NULL)
		return fail("cannot read the configuration %s (give --config FILE, or --jwks)", opt.config);
	if (opt.jwks != NULL) {
		if (load_jwks(opt.jwks, &keys, &nk) != 0)
			goto out;
		if (!jws_parts(buf, &hdr, &p) || !signed_by_jwks(buf, hdr, keys, nk)) {
			fail("%s: no key of %s signed it (altered, or not a receipt of this provider)", argv[1],
			     opt.jwks);
			goto out;
		}
	} else {
		if (keyset_load(opt.keys_dir ? opt.keys_dir : cfg->keys_dir, &ks) != IDP_OK) {
			fail("cannot read the keys folder");
			goto out;
		}
		json_t *again = NULL;
		bool ok = jws_verify(ks, buf, &p) == IDP_OK && jws_parts(buf, &hdr, &again);

		json_decref(again);
		if (!ok) {
			fail("%s: the signature is not the provider's (altered, or not a receipt)", argv[1]);
			goto out;
		}
	}
	if (strcmp(json_string_value(json_object_get(hdr, "typ")) ?: "", RECEIPT_TYP) != 0) {
		fail("%s: signed by the provider, but not a receipt (typ is not %s)", argv[1], RECEIPT_TYP);
		goto out;
	}
	iss = json_string_value(json_object_get(p, "iss"));
	if (iss == NULL || (cfg != NULL && strcmp(iss, cfg->issuer) != 0) ||
	    !json_is_string(json_object_get(p, "sub")) || !json_is_string(json_object_get(p, "service")) ||
	    !json_is_integer(json_object_get(p, "iat")) || !json_is_string(json_object_get(p, "jti")) ||
	    !json_is_array(json_object_get(p, "categories")) || !json_is_string(json_object_get(p, "sha256"))) {
		fail("%s: a member is missing or of the wrong type", argv[1]);
		goto out;
	}
	{
		char t[32], *cats = json_dumps(json_object_get(p, "categories"), JSON_COMPACT);
		char *dp = json_dumps(json_object_get(p, "data_provider"), JSON_COMPACT | JSON_ENCODE_ANY);

		printf("receipt %s: valid, signed by %s%s%s\n", json_string_value(json_object_get(p, "jti")), iss,
		       opt.jwks != NULL ? " with a key of " : "", opt.jwks != NULL ? opt.jwks : "");
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
	json_decref(hdr);
	client_keys_free(keys, nk);
	keyset_free(ks);
	config_free(cfg);
	return rc;
}
