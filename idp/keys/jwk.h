/* SPDX-License-Identifier: EUPL-1.2 */
/* Public keys as JWKs (RFC 7517) and their thumbprints (RFC 7638). */
#ifndef IDP_JWK_H
#define IDP_JWK_H

#include <jansson.h>
#include <openssl/evp.h>

/* RFC 7638 thumbprint of a public JWK, base64url. */
int jwk_thumbprint(const json_t *jwk, char out[48]);
/* Public JWK of pkey (kty + params only). */
int jwk_from_pkey(EVP_PKEY *pkey, json_t **out);

#endif
