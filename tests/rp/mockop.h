/* SPDX-License-Identifier: EUPL-1.2 */
/* A scripted OpenID provider in the test process (libmicrohttpd on
 * 127.0.0.1, port chosen by the kernel): discovery, JWKS, token and
 * userinfo answers set by the test, and counters of what librp asked. */
#ifndef RP_TEST_MOCKOP_H
#define RP_TEST_MOCKOP_H

struct mockop;

struct mockop *mockop_start(void);
void mockop_halt(struct mockop *op);    /* stop listening: provider down */
void mockop_free(struct mockop *op);    /* halts if needed, frees */

const char *mockop_issuer(const struct mockop *op);    /* http://127.0.0.1:PORT */
/* The discovery document is built from the issuer; replace it with doc
 * (a printf format whose %s are all the issuer) or add members. */
void mockop_set_discovery(struct mockop *op, const char *doc_fmt);
void mockop_set_jwks(struct mockop *op, const char *jwks);
void mockop_set_jwks_status(struct mockop *op, int status);
void mockop_set_token(struct mockop *op, int status, const char *ctype, const char *body);
void mockop_set_userinfo(struct mockop *op, int status, const char *ctype, const char *body);

int mockop_disc_fetches(struct mockop *op);
int mockop_jwks_fetches(struct mockop *op);
/* Copies of what the last request carried (caller frees; NULL if none). */
char *mockop_last_jwks_header(struct mockop *op);      /* X-Client-Id */
char *mockop_last_jwks_query(struct mockop *op);       /* client_id argument */
char *mockop_last_jwks_auth(struct mockop *op);        /* Authorization */
char *mockop_last_jwks_assertion(struct mockop *op);   /* Client-Assertion */
char *mockop_last_token_body(struct mockop *op);
char *mockop_last_token_auth(struct mockop *op);       /* Authorization */
char *mockop_last_userinfo_auth(struct mockop *op);

#endif
