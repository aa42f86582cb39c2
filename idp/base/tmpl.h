/* SPDX-License-Identifier: EUPL-1.2 */
/* HTML pages from templates/LANG/NAME.html, loaded once at start or reload.
 *
 * A small subset of Mustache, written here because Debian ships no C
 * Mustache library: {{name}} (HTML-escaped), {{#name}}..{{/name}} (section:
 * repeated for an array, shown for a true value), {{^name}}..{{/name}}
 * (inverted), {{.}} (the current item), {{>name}} (another template of the
 * same language). There is deliberately no unescaped form: every value
 * reaches the page through the escaper. */
#ifndef IDP_TMPL_H
#define IDP_TMPL_H

#include <jansson.h>

#include "util.h"

enum lang { LANG_FR = 0, LANG_EN = 1, LANG_COUNT };

struct tmpl_set;

int tmpl_load(const char *dir, struct tmpl_set **out);
void tmpl_free(struct tmpl_set *t);
/* Renders template name (e.g. "login") in lang with ctx into out. */
int tmpl_render(const struct tmpl_set *t, enum lang lang, const char *name, const json_t *ctx,
		struct buf *out);
/* The text for citizens named key in lang's labels.json ("claim.email"...),
 * NULL when it has none. Borrowed from t. */
const char *tmpl_label(const struct tmpl_set *t, enum lang lang, const char *key);
/* The CSS shared by every page (served at /static/style.css). */
const char *tmpl_css(const struct tmpl_set *t, size_t *len);
const char *lang_code(enum lang l);

#endif
