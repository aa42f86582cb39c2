/* SPDX-License-Identifier: EUPL-1.2 */
/* The pages of a login, as views: each takes what it shows, typed, and
 * renders its template (templates/LANG/NAME.html, words from labels.json).
 * They decide nothing; flow.c chooses which to show. */
#ifndef IDP_PAGES_H
#define IDP_PAGES_H

#include "authz_req.h"

/* The login form of backend b for transaction txn_id. error: the template
 * flag that says what went wrong (NULL: none); username: the value to show
 * again (NULL: the request's login_hint). */
enum MHD_Result page_login(struct req *r, const char *txn_id, const struct authz_req *a,
			   const struct backend *b, unsigned status, const char *error,
			   const char *username);
/* The second factor's form (a code from the citizen's authenticator app)
 * for transaction txn_id, bound to session sid like the consent form; with
 * backend b's text for a lost phone. error: as page_login's. */
enum MHD_Result page_second_factor(struct req *r, const char *txn_id, const struct authz_req *a,
				   const struct backend *b, const char *sid, unsigned status, const char *error);
/* The consent form for transaction txn_id: released are the claims that
 * would go to the client (claims_released), listed in plain words. Its CSRF
 * token is bound to the session sid, so it works on the very response that
 * sets the session cookie. */
enum MHD_Result page_consent(struct req *r, const char *txn_id, const struct authz_req *a,
			     const json_t *released, const char *sid);
/* The choice of backend for transaction txn_id among the n offered, the
 * one the browser chose last time first. unavailable: the backend the
 * citizen just picked is down; the page says so above the list (503). */
enum MHD_Result page_choice(struct req *r, const char *txn_id, const struct authz_req *a,
			    const struct backend *const *offered, size_t n,
			    const struct backend *unavailable);
/* A refusal the citizen reads (code: the template flag), whose link takes
 * them back to the service with access_denied and description. */
enum MHD_Result page_denied(struct req *r, const struct authz_req *a, const char *code,
			    const char *description);

/* Adds uri's origin to the page's CSP form-action: the form's answer
 * redirects there, and Chromium applies form-action to that redirect. */
void set_form_origin(struct req *r, const char *uri);
/* Adds uri's origin beside those already listed: a form whose answer may
 * redirect to one of several origins (the choice page, the logout page).
 * NULL or a URI without an origin adds nothing. */
void add_form_origin(struct req *r, const char *uri);
/* The browser-binding cookie (created when create and absent). */
const char *bind_cookie(struct req *r, bool create);

#endif
