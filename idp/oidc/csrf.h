/* SPDX-License-Identifier: EUPL-1.2 */
/* CSRF tokens of the provider's own forms (choice, consent, logout): a keyed
 * hash of the form's purpose, its transaction and a browser secret (a
 * cookie, or the session's hash), so that a page of another site cannot
 * post them. */
#ifndef IDP_CSRF_H
#define IDP_CSRF_H

#include <stdbool.h>

/* CSRF token bound to purpose, an id and a browser secret (cookie). */
void csrf_token(const char *purpose, const char *id, const char *bind, char out[44]);
bool csrf_check(const char *purpose, const char *id, const char *bind, const char *token);

#endif
