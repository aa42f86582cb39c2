/* SPDX-License-Identifier: EUPL-1.2 */
/* Identity backends: plugins loaded with dlopen through one versioned ABI. */
#include "idp.h"
#include "fiber.h"
#include "pwhash.h"
#include "json_bounded.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

static void host_log(int level, const char *fmt, ...)
{
	char line[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	idp_log(level, "plugin: %s", line);
}

static int host_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : -1;
}

static struct idp_host host = {IDP_BACKEND_ABI, host_log, host_random, now_s, NULL, NULL, pwhash_verify};

static int plugin_open(const char *dir, const char *name, void **dl, const struct idp_backend **out)
{
	char path[4096];
	const struct idp_backend *b;
	int abi;

	*out = NULL;
	if (strpbrk(name, "/.") != NULL)
		return log_fail(IDP_EINVAL, "plugin name \"%s\" is invalid", name);
	snprintf(path, sizeof(path), "%s/%s/%s.so", dir, name, name);
	if ((*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return log_fail(IDP_EINVAL, "plugin %s: %s", path, dlerror());
	b = dlsym(*dl, "idp_backend_entry");
	abi = b != NULL ? (int)b->abi : -1; /* read before any dlclose */
	if (abi == IDP_BACKEND_ABI && b->size == sizeof(*b) && b->create && b->destroy) {
		*out = b;
		return IDP_OK;
	}
	dlclose(*dl);
	*dl = NULL;
	return log_fail(IDP_EINVAL, "plugin %s: ABI %d, daemon %d: rebuild the plugin", path, abi,
			IDP_BACKEND_ABI);
}

#define LOGO_MAX (48 * 1024) /* bytes of the data: URI, inlined in every choice page */

/* A backend's logo is a data: URI of a PNG, JPEG, WebP or SVG image in
 * base64: the choice page inlines it (the CSP allows img-src data:), so
 * there is no file route to serve, and no request leaves for a third-party
 * host. An image in <img> runs no script, SVG included. */
static bool logo_valid(const char *logo)
{
	static const char *const types[] = {"data:image/png;base64,", "data:image/jpeg;base64,",
		"data:image/webp;base64,", "data:image/svg+xml;base64,", NULL};
	const char *p = NULL;
	size_t n, pad;

	for (const char *const *t = types; *t && p == NULL; t++)
		if (strncmp(logo, *t, strlen(*t)) == 0)
			p = logo + strlen(*t);
	if (p == NULL || strlen(logo) > LOGO_MAX)
		return false;
	n = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	pad = strspn(p + n, "=");
	return n > 0 && pad <= 2 && p[n + pad] == '\0' && (n + pad) % 4 == 0;
}

#define HELP_MAX 1024 /* bytes of a second_factor_help text */

static bool help_text_ok(const json_t *t)
{
	return json_is_string(t) && json_string_length(t) >= 1 && json_string_length(t) <= HELP_MAX;
}

/* Absent, a text, or an object of texts by language code. */
static bool help_valid(const json_t *help)
{
	const char *k;
	json_t *v;

	if (help == NULL || help_text_ok(help))
		return true;
	if (!json_is_object(help) || json_object_size(help) == 0 || json_object_size(help) > 8)
		return false;
	json_object_foreach((json_t *)help, k, v)
		if (strlen(k) > 8 || !help_text_ok(v))
			return false;
	return true;
}

int backends_load(struct rt *rt, const char *plugin_dir)
{
	const struct config *cfg = rt->cfg;
	size_t i, n = json_array_size(cfg->backends);
	json_t *e;
	int rc = IDP_OK;

	host.conf_dir = cfg->dir;
	host.issuer = cfg->issuer;
	if ((rt->backends = calloc(n + 1, sizeof(*rt->backends))) == NULL)
		return IDP_ENOMEM;
	json_array_foreach(cfg->backends, i, e) {
		struct backend *b = &rt->backends[rt->n_backends];
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *plugin = json_string_value(json_object_get(e, "plugin"));
		const char *title = json_string_value(json_object_get(e, "title"));
		const char *acr = json_string_value(json_object_get(e, "acr"));
		const char *pacr = json_string_value(json_object_get(e, "password_acr"));
		const json_t *help = json_object_get(e, "second_factor_help");

		if (id == NULL || plugin == NULL || strlen(id) > 64 || strpbrk(id, " :/\"<>&") != NULL)
			return log_fail(IDP_EINVAL, "%s: backends[%zu]: \"id\" (a short name) and \"plugin\" are required",
					cfg->path, i);
		if (json_object_get(e, "logo") != NULL &&
		    (!json_is_string(json_object_get(e, "logo")) ||
		     !logo_valid(json_string_value(json_object_get(e, "logo")))))
			return log_fail(IDP_EINVAL, "%s: backends[%zu]: \"logo\" must be a data: URI "
					"(data:image/png|jpeg|webp|svg+xml;base64,...) of at most %d bytes",
					cfg->path, i, LOGO_MAX);
		if (acr == NULL)
			acr = cfg->default_acr;
		if (config_acr_rank(cfg, acr) < 0)
			return log_fail(IDP_EINVAL, "%s: backends[%zu]: acr \"%s\" is not in acr_levels", cfg->path, i, acr);
		if (pacr == NULL)
			pacr = acr;
		if ((json_object_get(e, "password_acr") != NULL && !json_is_string(json_object_get(e, "password_acr"))) ||
		    config_acr_rank(cfg, pacr) < 0 || config_acr_rank(cfg, pacr) > config_acr_rank(cfg, acr))
			return log_fail(IDP_EINVAL, "%s: backends[%zu]: \"password_acr\" must be a level of acr_levels "
					"no higher than \"acr\"", cfg->path, i);
		if (!help_valid(help))
			return log_fail(IDP_EINVAL, "%s: backends[%zu]: \"second_factor_help\" must be a text of at most "
					"%d bytes, or an object of such texts by language (\"fr\", \"en\")",
					cfg->path, i, HELP_MAX);
		for (size_t j = 0; j < rt->n_backends; j++)
			if (strcmp(rt->backends[j].id, id) == 0)
				return log_fail(IDP_EINVAL, "%s: backends[%zu]: id \"%s\" appears twice", cfg->path, i, id);
		if ((rc = plugin_open(plugin_dir, plugin, &b->dl, &b->ops)) != IDP_OK)
			return rc;
		b->id = strdup(id);
		b->title = strdup(title ? title : id);
		b->acr = strdup(acr);
		b->password_acr = strdup(pacr);
		b->second_factor_help = json_incref((json_t *)help);
		b->logo = xstrdup(json_string_value(json_object_get(e, "logo")));
		if (b->ops->begin != NULL)
			b->issuer = xstrdup(json_string_value(json_object_get(e, "issuer")));
		rt->n_backends++;
		if (strcmp(pacr, acr) != 0 && b->ops->second_factor == NULL)
			return log_fail(IDP_EINVAL, "%s: backends[%zu] (%s): \"password_acr\" below \"acr\" needs a "
					"second factor, and the %s plugin has none", cfg->path, i, id, plugin);
		if ((b->pool = fiber_pool_new()) == NULL)
			return IDP_ENOMEM;
		if ((rc = b->ops->create(&host, e, &b->inst)) != IDP_OK)
			return log_fail(IDP_EINVAL, "%s: backends[%zu] (%s): the %s plugin refused its configuration",
					cfg->path, i, id, plugin);
	}
	return IDP_OK;
}

void backends_free(struct backend *bs, size_t n)
{
	for (size_t i = 0; bs != NULL && i < n; i++) {
		struct backend *b = &bs[i];

		/* No call of this backend is running: the requests that make
		 * them hold the runtime that holds it. */
		fiber_pool_free(b->pool);
		if (b->inst != NULL)
			b->ops->destroy(b->inst);
		/* The plugin stays mapped: a reload may reopen it, and dlclose of
		 * code that registered thread-local destructors is unsafe. */
		free(b->id);
		free(b->title);
		free(b->acr);
		free(b->password_acr);
		json_decref(b->second_factor_help);
		free(b->logo);
		free(b->issuer);
	}
	free(bs);
}

void backends_keep_health(struct rt *nrt, const struct rt *old)
{
	for (size_t i = 0; i < nrt->n_backends; i++) {
		struct backend *b = &nrt->backends[i];
		const struct backend *o = backend_find(old, b->id);

		if (o == NULL)
			continue;
		__atomic_store_n(&b->fails, __atomic_load_n(&o->fails, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
		__atomic_store_n(&b->down_until, __atomic_load_n(&o->down_until, __ATOMIC_RELAXED),
				 __ATOMIC_RELAXED);
	}
}

const struct backend *backend_find(const struct rt *rt, const char *id)
{
	for (size_t i = 0; id != NULL && i < rt->n_backends; i++)
		if (strcmp(rt->backends[i].id, id) == 0)
			return &rt->backends[i];
	return NULL;
}

/* One backend call's arguments and answer, carried to a worker. */
struct bcall {
	const struct backend *b;
	int op;
	const void *a1;
	const char *s1, *s2;
	void *o1, *o2;
	int rc;
};

static void bcall_run(void *p)
{
	struct bcall *c = p;
	const struct idp_backend *ops = c->b->ops;

	switch (c->op) {
	case 0:
		c->rc = ops->login(c->b->inst, c->a1, c->o1);
		break;
	case 1:
		c->rc = ops->begin(c->b->inst, c->s1, c->o1, c->o2);
		break;
	case 2:
		c->rc = ops->callback(c->b->inst, c->a1, c->s1, c->o1);
		break;
	case 4:
		c->rc = ops->second_factor(c->b->inst, c->a1, c->s1, c->o1);
		break;
	default:
		c->rc = ops->logout(c->b->inst, c->a1, c->s1, c->s2, c->o1);
		break;
	}
}

static int bcall(struct bcall *c)
{
	fiber_offload_on(c->b->pool, bcall_run, c);
	return c->rc;
}

/* The claims of an identity come from outside (an upstream provider's
 * userinfo and ID token, a directory) and go into the session record and the
 * tokens: bounded like any outside JSON (json_bounded.h) before the daemon's
 * recursive jansson calls see them. A citizen's claims are well under 1 KB. */
#define IDENTITY_JSON_MAX (32 * 1024)

static int identity_bounded(const struct backend *b, int rc, const struct idp_identity *id)
{
	if (rc != IDP_OK)
		return rc;
	if (json_value_bounded(id->claims, JSON_IN_DEPTH, IDENTITY_JSON_MAX) &&
	    json_value_bounded(id->session_data, JSON_IN_DEPTH, IDENTITY_JSON_MAX))
		return IDP_OK;
	return log_fail(IDP_EINVAL, "backend %s: its identity's claims are nested deeper than %d "
			"or larger than %d bytes: refused", b->id, JSON_IN_DEPTH, IDENTITY_JSON_MAX);
}

int backend_login(const struct backend *b, const struct idp_login *req, struct idp_identity *out)
{
	struct bcall c = {.b = b, .op = 0, .a1 = req, .o1 = out};

	return identity_bounded(b, bcall(&c), out);
}

int backend_begin(const struct backend *b, const char *callback_url, char **url, json_t **txn)
{
	struct bcall c = {.b = b, .op = 1, .s1 = callback_url, .o1 = url, .o2 = txn};

	return bcall(&c);
}

int backend_callback(const struct backend *b, const json_t *txn, const char *query,
		     struct idp_identity *out)
{
	struct bcall c = {.b = b, .op = 2, .a1 = txn, .s1 = query, .o1 = out};

	return identity_bounded(b, bcall(&c), out);
}

int backend_logout(const struct backend *b, const json_t *data, const char *return_url,
		   const char *state, char **url)
{
	struct bcall c = {.b = b, .op = 3, .a1 = data, .s1 = return_url, .s2 = state, .o1 = url};

	return bcall(&c);
}

int backend_second_factor(const struct backend *b, const json_t *data, const char *code, uint64_t *counter)
{
	struct bcall c = {.b = b, .op = 4, .a1 = data, .s1 = code, .o1 = counter};

	*counter = 0;
	if (b->ops->second_factor == NULL)
		return IDP_ENOTFOUND;
	return bcall(&c);
}
