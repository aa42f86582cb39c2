/* SPDX-License-Identifier: EUPL-1.2 */
/* What a service learns of the citizen: the claims each scope releases, the
 * claims parameter filtered for the client, the pairwise subject and sid it
 * sees, and claims written as JSON into the code's records. */
#ifndef IDP_CLAIMS_H
#define IDP_CLAIMS_H

#include "idp.h"

/* The subject a client sees (pairwise per sector unless the client is public). */
char *subject_for(const struct config *cfg, const struct client *cl, const char *local_sub);
/* The sid cl sees for a session (OpenID Front/Back-Channel Logout): keyed
 * hash of the session hash and cl's sector, so that two sectors cannot link
 * a citizen by it. */
void sid_for(const struct config *cfg, const struct client *cl, const char *sid_hash, char out[65]);

/* The claims of identity released for scope, plus those named in requested
 * (a "userinfo" or "id_token" member of the claims parameter). */
json_t *claims_for_scope(const json_t *identity, const char *scope, const json_t *requested);
/* What the citizen releases to a client for a request: the claims of scope
 * plus those named in claims_req's userinfo and id_token members (filtered by
 * claims_request_filter at /authorize). The consent page lists exactly this
 * and remembered consent covers exactly this. The caller owns it. */
json_t *claims_released(const json_t *identity, const char *scope, const json_t *claims_req);
/* True when some scope covers claim (an identity claim, not a protocol one). */
bool claim_of_scope(const char *claim);
/* True when claim belongs to a scope cl may use (all scopes when unrestricted). */
bool client_may_claim(const struct client *cl, const char *claim);
/* A copy of the claims parameter without the claims cl may not receive
 * (sub and acr kept: they steer the request). The caller owns it. */
json_t *claims_request_filter(const struct client *cl, const json_t *claims);
/* claims.id_token.acr is asked as essential (OpenID Core 5.5.1.1): a level
 * not reached is an error, never silently ignored. */
bool acr_essential(const json_t *claims);
/* True when every space-separated word of scope is a supported scope cl may use. */
bool client_scope_ok(const struct client *cl, const char *scope);
bool scope_has(const char *scope, const char *word);
/* One of the OpenID scopes above (openid, profile, ..., identite_pivot). */
bool scope_standard(const char *word);
/* A data scope cl may be granted (issue 17): not a standard one, named in
 * its "scopes", and served by a registered data provider. */
bool client_may_data_scope(const struct config *cfg, const struct client *cl, const char *word);
/* At most this many data scopes in one grant: the consent page shows each. */
#define DATA_SCOPES_MAX 8
/* The data scopes of a granted scope (its words that are not standard
 * scopes), at most max, each copied into words[i]; returns how many. */
size_t scope_data_words(const char *scope, char words[][65], size_t max);
/* Supported scopes as a JSON array and the claims they cover. */
json_t *scopes_supported(void);
json_t *claims_supported(void);

/* A jansson value written as JSON text (IDP_EINVAL when v is NULL), and an
 * object's members as ,"name":value each (no comma before the first when
 * first). */
int buf_json_value(struct buf *b, const json_t *v);
int buf_json_members(struct buf *b, bool first, const json_t *obj);

#endif
