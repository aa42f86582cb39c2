/* SPDX-License-Identifier: EUPL-1.2 */
/* /logout (OpenID Connect RP-Initiated Logout 1.0): id_token_hint,
 * post_logout_redirect_uri (registered, exact), state, client_id. Without a
 * hint that matches the session, the citizen confirms on a page (CSRF-bound
 * to the session) so that a third-party page cannot log them out. */
#include "audit.h"
#include "claims.h"
#include "csrf.h"
#include "id_token_hint.h"
#include "pages.h"
#include "session.h"
#include "uri.h"
#include "jws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An upstream logout in progress, by the hash of its state. */
#define K_LOGOUT "lo:"

static enum MHD_Result finish(struct req *r, const char *ruri, const char *state,
			      const struct client *cl)
{
	enum MHD_Result ret;
	json_t *ctx;
	char *loc;

	if (ruri == NULL) {
		ctx = json_pack("{s:s?}", "client_name", cl ? cl->name : NULL);
		ret = http_page(r, 200, "logged_out", ctx);
		json_decref(ctx);
		return ret;
	}
	loc = uri_with_params(ruri, (const char *const[]){"state", state}, 2);
	ret = loc != NULL ? http_redirect(r, loc) : http_error_page(r, 400, "bad_request");
	free(loc);
	return ret;
}

/* Ends the SSO session; when it came from an upstream provider, the citizen
 * is logged out there too before returning to the service. */
static enum MHD_Result end_session(struct req *r, const struct session *sess, const char *ruri,
				   const char *state, const struct client *cl)
{
	const struct backend *b = backend_find(r->rt, sess->backend);
	const json_t *up = sess->up;
	char *url = NULL, *lstate = NULL, *ret_url = NULL, key[128], hash[65];
	json_t *rec;
	enum MHD_Result ret;

	session_destroy(r, sess->sid_hash);
	idp_log(LOG_INFO, "logout: session ended by %s", cl ? cl->id : "the citizen");
	{
		char tag[9];

		secret_tag(sess->sid_hash, tag);
		audit_event("logout", r->ip, "client", cl ? cl->id : NULL, "sub", sess->sub, "sid", tag, NULL);
	}
	if (b == NULL || b->ops->logout == NULL || up == NULL || (lstate = rand_token(24)) == NULL ||
	    asprintf(&ret_url, "%s/logout/return", r->cfg->issuer) < 0 ||
	    backend_logout(b, up, ret_url, lstate, &url) != 0 || url == NULL) {
		free(lstate);
		free(ret_url);
		free(url);
		return finish(r, ruri, state, cl);
	}
	sha256_hex(lstate, strlen(lstate), hash);
	snprintf(key, sizeof(key), K_LOGOUT "%s", hash);
	rec = json_pack("{s:s?,s:s?}", "ruri", ruri, "state", state);
	if (store_put_json(&g_idp.store, key, rec, r->cfg->login_ttl) == IDP_OK)
		ret = http_redirect(r, url);
	else
		ret = finish(r, ruri, state, cl);
	json_decref(rec);
	free(lstate);
	free(ret_url);
	free(url);
	return ret;
}

/* The confirmation form's answer goes on to the upstream provider's logout
 * when the session came from one (end_session), and Chromium applies the
 * page's form-action to every redirect of that chain: list the origin of the
 * very URL end_session will use (the state is a placeholder). */
static void allow_upstream_logout(struct req *r, const struct session *sess)
{
	const struct backend *b = backend_find(r->rt, sess->backend);
	const json_t *up = sess->up;
	char *url = NULL, *ret_url = NULL;

	if (b == NULL || b->ops->logout == NULL || up == NULL ||
	    asprintf(&ret_url, "%s/logout/return", r->cfg->issuer) < 0)
		return;
	if (backend_logout(b, up, ret_url, "x", &url) == 0)
		add_form_origin(r, url);
	free(url);
	free(ret_url);
}

enum MHD_Result ep_logout(struct req *r)
{
	const struct params *p = req_params(r);
	const char *hint = params_get(p, "id_token_hint");
	const char *ruri = params_get(p, "post_logout_redirect_uri");
	const char *state = params_get(p, "state");
	const char *client_id = params_get(p, "client_id");
	const char *confirm = params_get(p, "confirm");
	const struct client *cl = NULL;
	json_t *pl = NULL;
	struct session *sess;
	bool hint_matches = false, unverified = false;
	const char *aud;
	enum MHD_Result ret;

	r->lang = req_lang(r, params_get(p, "ui_locales"));
	if (p->dup != NULL)
		return http_error_page(r, 400, "bad_request");
	if (state != NULL && strlen(state) > 1024)
		return http_error_page(r, 400, "bad_request");
	if (hint != NULL && strlen(hint) > ID_TOKEN_HINT_MAX)
		return http_error_page(r, 400, "too_big"); /* before anything decodes it */
	if (hint != NULL) {
		/* Expired hints are accepted: logging out late is still logging out.
		 * So is a hint signed by a key since revoked or retired (sessions
		 * outlive retiring keys), but unverified: it names no client and
		 * matches no session (the citizen confirms), and a redirect needs
		 * client_id and a URI registered for that client. */
		if (jws_is_access_token(hint)) /* an access token is no hint */
			return http_error_page(r, 400, "bad_hint");
		if (jws_verify(r->rt->keys, hint, &pl) != IDP_OK) {
			if (jws_unknown_kid(r->rt->keys, hint, &pl) != IDP_OK)
				return http_error_page(r, 400, "bad_hint");
			unverified = true;
		}
		aud = json_string_value(json_object_get(pl, "aud"));
		if (strcmp(json_string_value(json_object_get(pl, "iss")) ?: "", r->cfg->issuer) != 0 ||
		    (client_id != NULL && strcmp(client_id, aud ?: "") != 0)) {
			json_decref(pl);
			return http_error_page(r, 400, "bad_hint");
		}
		cl = config_client(r->cfg, unverified ? client_id : aud);
		if (cl == NULL && !unverified) {
			json_decref(pl);
			return http_error_page(r, 400, "bad_hint");
		}
		if (unverified) {
			json_decref(pl);
			pl = NULL;
			if (client_id != NULL && cl == NULL)
				return http_error_page(r, 400, "unknown_client");
			if (ruri != NULL && (cl == NULL || !client_has_post_logout_uri(cl, ruri))) {
				idp_log(LOG_INFO, "logout: hint signed by a key no longer held; "
						  "post_logout_redirect_uri ignored (%s)",
					cl == NULL ? "no client_id" : "not registered for the client");
				ruri = NULL;
				state = NULL;
			}
		}
	} else if (client_id != NULL) {
		cl = config_client(r->cfg, client_id);
		if (cl == NULL)
			return http_error_page(r, 400, "unknown_client");
	}
	/* Never redirect to a URI the client did not register. */
	if (ruri != NULL && (cl == NULL || !client_has_post_logout_uri(cl, ruri))) {
		json_decref(pl);
		return http_error_page(r, 400, "bad_logout_uri");
	}
	sess = session_load(r);
	if (sess != NULL && pl != NULL) {
		char csid[65];

		/* ID tokens carry the sid of their client (sid_for), not the hash. */
		sid_for(r->cfg, cl, sess->sid_hash, csid);
		hint_matches = strcmp(json_string_value(json_object_get(pl, "sid")) ?: "", csid) == 0;
	}
	json_decref(pl);
	if (sess == NULL) {
		ret = finish(r, ruri, state, cl);
		return ret;
	}
	if (!hint_matches) {
		char csrf[44];
		const char *tok = params_get(p, "csrf");

		if (r->is_post && confirm != NULL && csrf_check("logout", "x", sess->sid_hash, tok)) {
			ret = end_session(r, sess, ruri, state, cl);
			session_free(sess);
			return ret;
		}
		csrf_token("logout", "x", sess->sid_hash, csrf);
		{
			json_t *ctx = json_pack("{s:s,s:s?,s:s?,s:s?,s:s?}", "csrf", csrf,
						"client_name", cl ? cl->name : NULL, "client_id", cl ? cl->id : NULL,
						"post_logout_redirect_uri", ruri, "state", state);

			if (ruri != NULL)
				set_form_origin(r, ruri);
			allow_upstream_logout(r, sess);
			ret = http_page(r, 200, "logout", ctx);
			json_decref(ctx);
		}
		session_free(sess);
		return ret;
	}
	ret = end_session(r, sess, ruri, state, cl);
	session_free(sess);
	return ret;
}

/* GET /logout/return: back from the upstream provider's logout. */
enum MHD_Result ep_logout_return(struct req *r)
{
	const char *state = params_get(&r->query, "state");
	char key[128], hash[65];
	json_t *rec = NULL;
	enum MHD_Result ret;

	r->from_foreign_form = true;
	if (state == NULL || strlen(state) > 128)
		return http_error_page(r, 400, "bad_request");
	sha256_hex(state, strlen(state), hash);
	snprintf(key, sizeof(key), K_LOGOUT "%s", hash);
	if (store_take_json(&g_idp.store, key, &rec) != IDP_OK)
		return http_error_page(r, 400, "expired");
	ret = finish(r, json_string_value(json_object_get(rec, "ruri")),
		     json_string_value(json_object_get(rec, "state")), NULL);
	json_decref(rec);
	return ret;
}
