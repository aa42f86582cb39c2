/* SPDX-License-Identifier: Apache-2.0 */
/* rp_verify_receipt (rp.h): a receipt of the provider's /account page, a
 * JWS of typ "receipt+jwt", checked against the provider's JWKS. */
#include "rp_int.h"

#include <string.h>

/* The header's typ must say receipt: an ID token or a logout token of the
 * same provider, also signed by it, is no receipt. */
static int check_typ(const char *token, struct rp_error *err)
{
	const char *dot = strchr(token, '.');
	unsigned char h[1024];
	size_t n = 0;
	json_t *j;
	bool ok;

	if (dot == NULL || (size_t)(dot - token) > sizeof(h) * 4 / 3 ||
	    rp_b64url_decode(token, (size_t)(dot - token), h, sizeof(h), &n) != RP_OK)
		return rp_fail(err, RP_E_MALFORMED, "rp_verify_receipt: not a compact JWS");
	j = json_loadb((const char *)h, n, JSON_REJECT_DUPLICATES, NULL);
	ok = json_is_string(json_object_get(j, "typ")) &&
	     strcmp(json_string_value(json_object_get(j, "typ")), "receipt+jwt") == 0;
	json_decref(j);
	return ok ? RP_OK : rp_fail(err, RP_E_MALFORMED, "rp_verify_receipt: typ is not receipt+jwt");
}

int rp_verify_receipt(struct rp_config *cfg, const char *receipt, json_t **claims, struct rp_error *err)
{
	json_t *c = NULL;
	int rc;

	rp_err_clear(err);
	if (claims != NULL)
		*claims = NULL;
	if (cfg == NULL || receipt == NULL)
		return rp_fail(err, RP_E_INVAL, "rp_verify_receipt: no config or no receipt");
	if ((rc = check_typ(receipt, err)) != RP_OK)
		return rc;
	if ((rc = rp_verify_signed(cfg, "rp_verify_receipt", receipt, false, &c, err)) != RP_OK)
		return rc;
	/* iss is checked when present: a receipt must carry it, and what it
	 * attests. */
	if (!json_is_string(json_object_get(c, "iss")) || !json_is_string(json_object_get(c, "sub")) ||
	    !json_is_string(json_object_get(c, "service")) || !json_is_integer(json_object_get(c, "iat")) ||
	    !json_is_string(json_object_get(c, "jti")) || !json_is_array(json_object_get(c, "categories")) ||
	    !json_is_string(json_object_get(c, "sha256"))) {
		json_decref(c);
		return rp_fail(err, RP_E_MALFORMED, "rp_verify_receipt: a member is missing");
	}
	if (claims != NULL)
		*claims = c;
	else
		json_decref(c);
	return RP_OK;
}
