/* SPDX-License-Identifier: EUPL-1.2 */
/* The id_token_hint that /authorize and /logout take (OpenID Core 3.1.2.1,
 * RP-Initiated Logout 2): bounded before it is decoded, and never an access
 * token, which a service could otherwise pass off as the citizen's ID token. */
#ifndef IDP_ID_TOKEN_HINT_H
#define IDP_ID_TOKEN_HINT_H

#include "idp.h"

/* The longest id_token_hint taken, checked before it is decoded: our ID
 * tokens are about 1 KB. */
#define ID_TOKEN_HINT_MAX 8192
/* True when the JWS header says typ at+jwt (RFC 9068) or cannot be read:
 * such a token is no id_token_hint. */
bool jws_is_access_token(const char *jws);

#endif
