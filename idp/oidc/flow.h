/* SPDX-License-Identifier: EUPL-1.2 */
/* The life of a login, in one place: what happens after each step.
 *
 *   request validated (flow_authorize)
 *     -> session usable? (level, max_age, the subject asked for)
 *        yes: -> consent -> code
 *        no:  -> choose a backend (idp_hint, the only one, or the choice
 *                page; flow_backend_chosen) -> its form or its upstream
 *                provider
 *        below the level asked, which the session's backend reaches with
 *        the citizen's second factor: -> its page (step-up)
 *   authenticated (flow_authenticated, for the form and the upstream
 *   callback alike) -> session -> [second factor (flow_second_factor), when
 *   the password alone is below the level asked] -> consent
 *   (flow_consented) -> code
 *
 * The endpoints parse their input and call these; the flow answers the
 * browser (a page of pages.h, or a redirect) and never calls an endpoint. */
#ifndef IDP_FLOW_H
#define IDP_FLOW_H

#include "authz_req.h"
#include "session.h"

/* K_CONSENT + hash of the subject, the client and the claims released:
 * a remembered consent (consent_decide). */
#define K_CONSENT "consent:"

/* /authorize: a request just validated. */
enum MHD_Result flow_authorize(struct req *r, struct authz_req *a);
/* The choice page's answer: backend_id, as the citizen posted it. */
enum MHD_Result flow_backend_chosen(struct req *r, struct authz_req *a, const char *backend_id);
/* Backend b authenticated the citizen as id (the form, or the upstream
 * provider's callback). txn_key: the login transaction to consume with the
 * session's creation, so that of two concurrent posts one wins (NULL: the
 * caller consumed it already). */
enum MHD_Result flow_authenticated(struct req *r, struct authz_req *a, const struct backend *b,
				   struct idp_identity *id, const char *txn_key,
				   const char *username);
/* The second factor of sess's citizen checked by backend b (and its code
 * not used before), for a's transaction txn_key, consumed with the new
 * session made at b's level (it replaces sess). */
enum MHD_Result flow_second_factor(struct req *r, struct authz_req *a, const struct backend *b,
				   const struct session *sess, const char *txn_key);
/* The consent page's answer for session sess, a's transaction already
 * taken. */
enum MHD_Result flow_consented(struct req *r, struct authz_req *a, const struct session *sess,
			       bool accepted);
/* Whether consent is needed, and key: the store key of the consent to
 * exactly the claims the page would list. CONSENT_ASK (prompt=consent),
 * CONSENT_NONE (a first-party client), CONSENT_STORED (given when key is in
 * the store: code_issue checks it in the round trip that stores the code). */
enum consent { CONSENT_ASK, CONSENT_NONE, CONSENT_STORED };
enum consent consent_decide(const struct client *cl, const struct authz_req *a, const struct session *sess,
			    char key[80]);
/* Sends the citizen back to the client with error and description. */
enum MHD_Result flow_refuse(struct req *r, const struct authz_req *a, const char *error,
			    const char *description);

#endif
