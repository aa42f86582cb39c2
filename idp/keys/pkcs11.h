/* SPDX-License-Identifier: EUPL-1.2 */
/* Signing keys kept in a PKCS#11 token (an HSM, SoftHSM2 in tests): the
 * key state names them by URI (RFC 7512) instead of a PEM file, and the
 * EVP_PKEY loaded here signs through jws.c like any key, the token doing
 * the private-key operation. */
#ifndef IDP_PKCS11_H
#define IDP_PKCS11_H

#include <stdbool.h>

#include <openssl/evp.h>

/* The module and the PIN file (key_rotation.pkcs11_module, pkcs11_pin_file)
 * used by the next pkcs11_load_key. The engine is process-wide: the module
 * it first opened stays until the process restarts. */
void pkcs11_configure(const char *module, const char *pin_file);
/* True for a "pkcs11:" URI of printable characters and bounded length. */
bool pkcs11_uri_ok(const char *uri);
/* The token's private key named by uri (*out is the caller's). A token
 * absent or a PIN refused: a log line saying so, and an error. A PIN the
 * token refused is not presented again until the PIN file changes. */
int pkcs11_load_key(const char *uri, EVP_PKEY **out);

#endif
