/* SPDX-License-Identifier: EUPL-1.2 */
/* The endpoints of the backend steps of a login: the choice page's answer
 * and the return from an upstream provider. They read their input and hand
 * over to the flow (flow.h). */
#include "audit.h"
#include "flow.h"
#include "csrf.h"
#include "pages.h"
#include "txn.h"
#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result ep_choose(struct req *r)
{
	const struct params *p = &r->form;
	const char *txn = params_get(p, "txn"), *csrf = params_get(p, "csrf");
	char name[64];
	struct authz_req a;
	enum MHD_Result ret;

	if (txn == NULL || strlen(txn) > TXN_ID_MAX || p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	if (!csrf_check("choose", txn, req_cookie(r, cookie_name(r->cfg, "b", name)), csrf))
		return http_error_page(r, 403, "csrf");
	if (txn_take(txn, &a) != IDP_OK) {
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	r->lang = a.lang;
	ret = flow_backend_chosen(r, &a, params_get(p, "backend"));
	authz_req_release(&a);
	return ret;
}

/* GET /callback/<backend>: the upstream provider sends the citizen back. */
enum MHD_Result ep_upstream_callback(struct req *r)
{
	const char *bid = r->path + strlen("/callback/");
	const char *state = params_get(&r->query, "state");
	const struct backend *b = backend_find(r->rt, bid);
	char hash[65], name[64];
	const char *bind = req_cookie(r, cookie_name(r->cfg, "b", name));
	struct upstream_txn u;
	struct idp_identity id = {0};
	enum MHD_Result ret;
	int rc;

	r->from_foreign_form = true;
	if (b == NULL || b->ops->callback == NULL || state == NULL || strlen(state) > 512 ||
	    r->query.dup != NULL)
		return http_error_page(r, 400, "bad_request");
	/* Single use: a replayed callback finds nothing. */
	if (upstream_take(state, &u) != IDP_OK) {
		usage_count(USAGE_FAIL_EXPIRED);
		return http_error_page(r, 400, "expired");
	}
	r->lang = u.areq.lang;
	sha256_hex(bind ? bind : "", bind ? strlen(bind) : 0, hash);
	if (strcmp(u.backend, b->id) != 0 || strcmp(u.bind_hash, hash) != 0) {
		ret = http_error_page(r, 403, "csrf");
		goto out;
	}
	rc = backend_callback(b, u.ptxn, r->raw_query ? r->raw_query : "", &id);
	if (rc == IDP_EUNAVAIL)
		backend_report((struct backend *)b, rc);
	if (rc != IDP_OK || id.subject == NULL) {
		idp_log(LOG_WARN, "callback: %s refused the login (%s)", b->id, idp_strerror(rc));
		audit_event("login", r->ip, "result", "failure", "client", u.areq.client_id, "backend", b->id,
			    "cause", rc == IDP_EUNAVAIL ? "backend_unavailable" : "upstream_refused", NULL);
		ret = page_denied(r, &u.areq, rc == IDP_EUNAVAIL ? "upstream_down" : "upstream_refused",
				  "the identity provider did not authenticate the citizen");
		goto out;
	}
	backend_report((struct backend *)b, IDP_OK);
	ret = flow_authenticated(r, &u.areq, b, &id, NULL, NULL);
out:
	identity_release(&id);
	upstream_txn_release(&u);
	return ret;
}
