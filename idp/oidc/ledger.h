/* SPDX-License-Identifier: EUPL-1.2 */
/* The citizen's ledger (/account, README "The account page"): each release
 * of data to a service (a code exchanged at /token, which also fixes the
 * userinfo answer its access token opens; a data provider's introspection of
 * a token carrying its scope), the
 * remembered consents, and the signed receipt of a release. A release keeps
 * names only (the service, the scopes, the data provider), never a value:
 * of what was released, its SHA-256. */
#ifndef IDP_LEDGER_H
#define IDP_LEDGER_H

#include "idp.h"

/* K_RELEASES + SHA-256 of a local subject: the ids of the citizen's
 * releases, each LEDGER_ID_LEN characters and a space, the newest
 * LEDGER_RELEASE_MAX kept, for LEDGER_TTL_S after the last one. K_RELEASE +
 * id: one release, JSON {"t","k","c","s","p"?,"h","j"} (older than
 * LEDGER_TTL_S or gone: not shown). */
#define K_RELEASES "rel:"
#define K_RELEASE "rel1:"
/* K_CODE_RELEASE + code hash: the release a code's exchange records, written
 * with the code (less its "t"), moved to K_RELEASE by the exchange in the
 * round trip that takes the code (code.h), the exchange's time before it. */
#define K_CODE_RELEASE "crel:"
#define LEDGER_ID_LEN 22
#define LEDGER_ID_ENTRY (LEDGER_ID_LEN + 1)
/* K_CONSENTS + SHA-256 of a local subject: the consents remembered
 * (flow.h: K_CONSENT), LEDGER_CONSENT_MAX entries of LEDGER_ENTRY bytes
 * (JSON padded with spaces, a newline last). */
#define K_CONSENTS "cons:"
/* K_AT_SC + ledger_sc_hash(subject, client): the K_AT hashes of the access
 * tokens a client received for a citizen (as K_SESSION_AT), so that
 * withdrawing a consent revokes them. */
#define K_AT_SC "atsc:"
#define LEDGER_ENTRY 512 /* a consent's entry */
#define LEDGER_RELEASE_MAX 100
#define LEDGER_CONSENT_MAX 32
#define LEDGER_TTL_S (366 * 86400)
/* The receipt's JWS header typ. */
#define RECEIPT_TYP "receipt+jwt"

/* SHA-256 hex of "sub|client_id": the key of the tokens' index. */
void ledger_sc_hash(const char *sub, const char *client_id, char out[65]);

/* The id of the release a code's exchange records (LEDGER_ID_LEN
 * characters, derived from the code's hash: the exchange names its record
 * without reading anything first). */
void ledger_code_release_id(const char code_hash[65], char out[LEDGER_ID_LEN + 1]);
/* The release record of a code (the caller's, malloc'ed, without "t" and its
 * opening brace: the exchange puts {"t":TIME, before it): service client_id
 * receives scope's claims, id_claims (the ID token's claims of the
 * citizen, JSON text) and userinfo (the userinfo answer the access token
 * gives, JSON text), hashed together. *len: its length. */
char *ledger_code_release(const struct config *cfg, const char code_hash[65], const char *client_id,
			  const char *scope, const char *id_claims, size_t id_len, const char *userinfo,
			  size_t ui_len, size_t *len);
/* Records, in a round trip of its own, a release to data provider provider
 * of service client_id's token for citizen sub (local subject):
 * categories: the scopes it serves; released: the JSON it received (hashed,
 * never kept). Failures are logged, never the caller's. */
void ledger_release_introspection(const char *sub, const char *client_id, const char *categories,
				  const char *provider, const char *released, size_t rlen);
/* The releases of sub, newest first: an array of objects
 * {"t","k","c","s","p"?,"h","j"} (*out, the caller's). */
int ledger_releases(const char *sub, json_t **out);
/* The receipt of sub's release jti, a compact JWS signed with the active key
 * (typ RECEIPT_TYP): iss, sub, iat (the release's time), jti, service,
 * release (its kind), categories, data_provider, sha256. IDP_ENOTFOUND: no
 * such release of sub. *jws: the caller's. */
int ledger_receipt(const struct config *cfg, const char *sub, const char *jti, char **jws);

/* Stores consent ckey (K_CONSENT...) of sub to client_id for the claims
 * named in released (an object), and lists it for /account. */
int ledger_consent_remember(const char *sub, const char *client_id, const char *ckey, const json_t *released);
/* The remembered consents of sub, newest first: {"k" (hex), "c", "n" (the
 * claim names, space-separated), "t"} (*out, the caller's). */
int ledger_consents(const char *sub, json_t **out);
/* Withdraws sub's consent khex (its 64 hex digits): deletes it and revokes
 * the access tokens its service received for sub and its refresh families
 * for sub (refresh.h: K_RT_SC), in one round trip.
 * IDP_ENOTFOUND: sub has no such consent. client: the service's id. */
int ledger_consent_withdraw(const char *sub, const char *khex, char client[128]);

/* Signs payload (JSON, len bytes) with the provider's active key, typ in the
 * header (*jws: the caller's). */
int provider_sign(const char *typ, const char *payload, size_t len, char **jws);

#endif
