/* SPDX-License-Identifier: EUPL-1.2 */
#include "tmpl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tmpl {
	char *name;
	char *text;
	size_t len;
};

struct tmpl_set {
	struct tmpl *t[LANG_COUNT];
	size_t n[LANG_COUNT];
	json_t *labels[LANG_COUNT];     /* LANG/labels.json: words for citizens the code shows */
	char *css;
	size_t css_len;
};

static const char *const lang_codes[LANG_COUNT] = {"fr", "en"};

const char *lang_code(enum lang l)
{
	return (unsigned)l < LANG_COUNT ? lang_codes[l] : "fr";
}

static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;
	int rc = IDP_OK;

	*out = NULL;
	if (f == NULL)
		return log_fail(IDP_EIO, "templates: %s: %s", path, strerror(errno));
	buf_init(&b, 1 << 20);
	while (rc == IDP_OK && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = buf_add(&b, chunk, n);
	fclose(f);
	if (rc != IDP_OK) {
		buf_release(&b);
		return log_fail(rc, "templates: %s: too big", path);
	}
	*len = b.len;
	*out = buf_steal(&b);
	return IDP_OK;
}

void tmpl_free(struct tmpl_set *t)
{
	if (t == NULL)
		return;
	for (int l = 0; l < LANG_COUNT; l++) {
		for (size_t i = 0; i < t->n[l]; i++) {
			free(t->t[l][i].name);
			free(t->t[l][i].text);
		}
		free(t->t[l]);
	}
	for (int l = 0; l < LANG_COUNT; l++)
		json_decref(t->labels[l]);
	free(t->css);
	free(t);
}

/* dir/LANG/labels.json: an object of strings. A template folder written
 * before it existed has none: the code then shows its own names. */
static int labels_load(const char *dir, enum lang l, json_t **out)
{
	char path[4096];
	json_error_t jerr;
	const char *k;
	json_t *v;

	*out = NULL;
	snprintf(path, sizeof(path), "%s/%s/labels.json", dir, lang_codes[l]);
	if (access(path, F_OK) != 0) {
		idp_log(LOG_WARN, "templates: %s missing: pages show the claims' own names", path);
		return IDP_OK;
	}
	if ((*out = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return log_fail(IDP_EINVAL, "templates: %s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return log_fail(IDP_EINVAL, "templates: %s: not a JSON object", path);
	}
	json_object_foreach(*out, k, v) {
		if (!json_is_string(v)) {
			json_decref(*out);
			*out = NULL;
			return log_fail(IDP_EINVAL, "templates: %s: %s is not a string", path, k);
		}
	}
	return IDP_OK;
}

const char *tmpl_label(const struct tmpl_set *t, enum lang lang, const char *key)
{
	if ((unsigned)lang >= LANG_COUNT)
		lang = LANG_FR;
	return json_string_value(json_object_get(t->labels[lang], key));
}

int tmpl_load(const char *dir, struct tmpl_set **out)
{
	struct tmpl_set *t = calloc(1, sizeof(*t));
	char path[4096];
	int rc = IDP_OK;

	*out = NULL;
	if (t == NULL)
		return IDP_ENOMEM;
	for (int l = 0; l < LANG_COUNT && rc == IDP_OK; l++) {
		DIR *d;
		struct dirent *e;

		snprintf(path, sizeof(path), "%s/%s", dir, lang_codes[l]);
		if ((d = opendir(path)) == NULL) {
			rc = log_fail(IDP_EIO, "templates: %s: %s", path, strerror(errno));
			break;
		}
		while (rc == IDP_OK && (e = readdir(d)) != NULL) {
			size_t nl = strlen(e->d_name);
			struct tmpl *nt;

			if (nl < 6 || strcmp(e->d_name + nl - 5, ".html") != 0)
				continue;
			nt = realloc(t->t[l], (t->n[l] + 1) * sizeof(*nt));
			if (nt == NULL) {
				rc = IDP_ENOMEM;
				break;
			}
			t->t[l] = nt;
			nt = &t->t[l][t->n[l]];
			nt->name = strndup(e->d_name, nl - 5);
			snprintf(path, sizeof(path), "%s/%s/%s", dir, lang_codes[l], e->d_name);
			if ((rc = read_all(path, &nt->text, &nt->len)) == IDP_OK)
				t->n[l]++;
			else
				free(nt->name);
		}
		closedir(d);
		if (rc == IDP_OK)
			rc = labels_load(dir, (enum lang)l, &t->labels[l]);
	}
	if (rc == IDP_OK) {
		snprintf(path, sizeof(path), "%s/style.css", dir);
		rc = read_all(path, &t->css, &t->css_len);
	}
	if (rc != IDP_OK) {
		tmpl_free(t);
		return rc;
	}
	*out = t;
	return IDP_OK;
}

const char *tmpl_css(const struct tmpl_set *t, size_t *len)
{
	*len = t->css_len;
	return t->css;
}

static const struct tmpl *find(const struct tmpl_set *t, enum lang l, const char *name, size_t nl)
{
	for (size_t i = 0; i < t->n[l]; i++)
		if (strlen(t->t[l][i].name) == nl && strncmp(t->t[l][i].name, name, nl) == 0)
			return &t->t[l][i];
	return NULL;
}

#define MAX_DEPTH 16

struct rctx {
	const struct tmpl_set *set;
	enum lang lang;
	const json_t *stack[MAX_DEPTH];
	int depth;
	struct buf *out;
	int partials;
};

static const json_t *lookup(struct rctx *r, const char *name, size_t nl)
{
	if (nl == 1 && name[0] == '.')
		return r->stack[r->depth - 1];
	for (int i = r->depth - 1; i >= 0; i--) {
		const json_t *v;

		if (!json_is_object(r->stack[i]))
			continue;
		v = json_object_getn(r->stack[i], name, nl);
		if (v != NULL)
			return v;
	}
	return NULL;
}

static bool truthy(const json_t *v)
{
	if (v == NULL || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	if (json_is_string(v))
		return json_string_length(v) > 0;
	return true;
}

static int emit_value(struct rctx *r, const json_t *v)
{
	char num[64];

	if (json_is_string(v))
		return buf_add_html(r->out, json_string_value(v));
	if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return buf_adds(r->out, num);
	}
	return IDP_OK;
}

/* Finds the {{/name}} closing the section opened just before p. */
static const char *section_end(const char *p, const char *end, const char *name, size_t nl,
			       const char **after)
{
	int level = 1;

	while (p < end) {
		const char *o = memmem(p, (size_t)(end - p), "{{", 2), *c;

		if (o == NULL)
			return NULL;
		c = memmem(o, (size_t)(end - o), "}}", 2);
		if (c == NULL)
			return NULL;
		if ((o[2] == '#' || o[2] == '^') && (size_t)(c - o - 3) == nl && strncmp(o + 3, name, nl) == 0)
			level++;
		if (o[2] == '/' && (size_t)(c - o - 3) == nl && strncmp(o + 3, name, nl) == 0 &&
		    --level == 0) {
			*after = c + 2;
			return o;
		}
		p = c + 2;
	}
	return NULL;
}

static int render(struct rctx *r, const char *p, const char *end)
{
	int rc = IDP_OK;

	while (p < end && rc == IDP_OK) {
		const char *o = memmem(p, (size_t)(end - p), "{{", 2), *c, *name, *inner_end, *after;
		size_t nl;
		char kind;
		const json_t *v;

		if (o == NULL)
			return buf_add(r->out, p, (size_t)(end - p));
		if ((rc = buf_add(r->out, p, (size_t)(o - p))) != IDP_OK)
			return rc;
		if ((c = memmem(o, (size_t)(end - o), "}}", 2)) == NULL)
			return log_fail(IDP_EINVAL, "templates: unclosed tag");
		kind = o[2];
		name = (kind == '#' || kind == '^' || kind == '>' || kind == '/') ? o + 3 : o + 2;
		nl = (size_t)(c - name);
		p = c + 2;
		switch (kind) {
		case '#':
		case '^':
			if ((inner_end = section_end(p, end, name, nl, &after)) == NULL)
				return log_fail(IDP_EINVAL, "templates: section %.*s not closed", (int)nl, name);
			v = lookup(r, name, nl);
			if (kind == '^') {
				if (!truthy(v))
					rc = render(r, p, inner_end);
			} else if (truthy(v) && r->depth < MAX_DEPTH) {
				if (json_is_array(v)) {
					size_t i;
					json_t *item;

					json_array_foreach(v, i, item) {
						r->stack[r->depth++] = item;
						rc = render(r, p, inner_end);
						r->depth--;
						if (rc != IDP_OK)
							break;
					}
				} else {
					r->stack[r->depth++] = v;
					rc = render(r, p, inner_end);
					r->depth--;
				}
			}
			p = after;
			break;
		case '>': {
			const struct tmpl *t = find(r->set, r->lang, name, nl);

			if (t == NULL || ++r->partials > 32)
				return log_fail(IDP_EINVAL, "templates: partial %.*s missing", (int)nl, name);
			rc = render(r, t->text, t->text + t->len);
			break;
		}
		case '/':
			return log_fail(IDP_EINVAL, "templates: stray {{/%.*s}}", (int)nl, name);
		default:
			rc = emit_value(r, lookup(r, name, nl));
		}
	}
	return rc;
}

int tmpl_render(const struct tmpl_set *t, enum lang lang, const char *name, const json_t *ctx,
		struct buf *out)
{
	const struct tmpl *tp = find(t, lang, name, strlen(name));
	struct rctx r = {.set = t, .lang = lang, .depth = 1, .out = out};

	if (tp == NULL)
		return log_fail(IDP_ENOTFOUND, "templates: %s/%s.html missing", lang_code(lang), name);
	r.stack[0] = ctx;
	return render(&r, tp->text, tp->text + tp->len);
}
