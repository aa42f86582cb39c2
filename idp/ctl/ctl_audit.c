/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl audit verify [FILE]: walks the audit file's chain (audit.h) and
 * names the first line removed, altered or out of order; checks each
 * checkpoint's signature against the keys folder. */
#include "ctl.h"
#include "jws.h"
#include "json_bounded.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest line read: well past AUDIT_LINE_MAX, so that a line grown by
 * an edit is read whole and reported, not split. */
#define VERIFY_LINE_MAX (64 * 1024)

struct walk {
	long long seq;          /* the last chained line's; 0 before the chain */
	char hash[65];          /* SHA-256 hex of the previous line; "" at the start */
	unsigned long lineno;
	unsigned long chained, checkpoints, unverified;
};

/* A checkpoint's signature and what it signs: its own seq and prev. */
static int check_checkpoint(const struct config *cfg, const struct keyset *ks, const json_t *e,
			    struct walk *w)
{
	const char *jws = json_string_value(json_object_get(e, "jws"));
	json_t *p = NULL;
	int rc;

	if (jws == NULL)
		return fail("line %lu: a checkpoint without its signature", w->lineno);
	rc = jws_verify(ks, jws, &p);
	if (rc != IDP_OK && jws_unknown_kid(ks, jws, &p) == IDP_OK) {
		/* A key since removed: what it signed cannot be checked here. */
		w->unverified++;
	} else if (rc != IDP_OK) {
		return fail("line %lu: the checkpoint's signature is not valid", w->lineno);
	}
	if (!json_is_integer(json_object_get(p, "seq")) ||
	    json_integer_value(json_object_get(p, "seq")) != json_integer_value(json_object_get(e, "seq")) ||
	    !json_equal(json_object_get(p, "prev"), json_object_get(e, "prev")) ||
	    strcmp(json_string_value(json_object_get(p, "iss")) ?: "", cfg->issuer) != 0) {
		json_decref(p);
		return fail("line %lu: the checkpoint signs another line (seq, prev or iss differ)", w->lineno);
	}
	json_decref(p);
	w->checkpoints++;
	return 0;
}

static int check_line(const struct config *cfg, const struct keyset *ks, const char *line, size_t len,
		      struct walk *w)
{
	json_t *e = NULL, *jseq, *jprev;
	char h[65];
	long long seq;
	int rc = 0;

	sha256_hex(line, len, h);
	if (len == 0 || line[len - 1] != '\n')
		return fail("line %lu: not ended by a newline (cut short?)", w->lineno);
	if (json_parse_bounded(line, len, VERIFY_LINE_MAX, 8, JSON_REJECT_DUPLICATES, &e) != IDP_OK ||
	    !json_is_object(e))
		return fail("line %lu: not a JSON object", w->lineno);
	jseq = json_object_get(e, "seq");
	jprev = json_object_get(e, "prev");
	if (jseq == NULL && w->seq == 0) {
		/* A line written before the chain began. */
		memcpy(w->hash, h, sizeof(h));
		json_decref(e);
		return 0;
	}
	if (!json_is_integer(jseq) || !json_is_string(jprev)) {
		rc = fail("line %lu: no seq or prev: a line inserted into the chain", w->lineno);
		goto out;
	}
	seq = json_integer_value(jseq);
	if (w->seq != 0 && seq != w->seq + 1) {
		rc = fail(seq > w->seq + 1 ? "line %lu: seq %lld follows %lld: a line removed or moved before it"
					   : "line %lu: seq %lld follows %lld: out of order",
			  w->lineno, seq, w->seq);
		goto out;
	}
	if (w->hash[0] != '\0' && strcmp(json_string_value(jprev), w->hash) != 0) {
		rc = w->seq != 0 ? fail("line %lu: altered (line %lu's prev is not its hash)", w->lineno - 1, w->lineno)
				 : fail("line %lu: prev is not the hash of the line before it", w->lineno);
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(e, "event")) ?: "", "checkpoint") == 0 &&
	    (rc = check_checkpoint(cfg, ks, e, w)) != 0)
		goto out;
	w->seq = seq;
	w->chained++;
	memcpy(w->hash, h, sizeof(h));
out:
	json_decref(e);
	return rc;
}

int cmd_audit(int argc, char **argv)
{
	struct config *cfg = NULL;
	struct keyset *ks = NULL;
	struct walk w = {0};
	const char *path;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f = NULL;
	int rc = 1;

	if (argc < 1 || argc > 2 || strcmp(argv[0], "verify") != 0) {
		usage(stderr);
		return 2;
	}
	if (config_load(opt.config, &cfg) != IDP_OK)
		return fail("cannot read the configuration %s (give --config FILE)", opt.config);
	path = argc == 2 ? argv[1] : cfg->audit_file;
	if (path == NULL) {
		fail("the configuration has no audit file: give FILE");
		goto out;
	}
	if (keyset_load(opt.keys_dir ? opt.keys_dir : cfg->keys_dir, &ks) != IDP_OK) {
		fail("cannot read the keys folder %s", opt.keys_dir ? opt.keys_dir : cfg->keys_dir);
		goto out;
	}
	if ((f = fopen(path, "r")) == NULL) {
		fail("cannot open %s", path);
		goto out;
	}
	while ((n = getline(&line, &cap, f)) > 0) {
		w.lineno++;
		if (n > VERIFY_LINE_MAX) {
			fail("line %lu: longer than %d bytes", w.lineno, VERIFY_LINE_MAX);
			goto out;
		}
		if (check_line(cfg, ks, line, (size_t)n, &w) != 0)
			goto out;
	}
	printf("%s: %lu lines, %lu chained (to seq %lld), %lu checkpoints verified%s\n", path, w.lineno,
	       w.chained, w.seq, w.checkpoints,
	       w.unverified ? " (some signed by keys no longer held: not checked)" : "");
	printf("the last line is covered by %s\n",
	       w.checkpoints > 0 ? "the chain up to the last checkpoint; lines after it by the chain only"
				 : "the chain only (no checkpoint yet)");
	rc = 0;
out:
	if (f != NULL)
		fclose(f);
	free(line);
	keyset_free(ks);
	config_free(cfg);
	return rc;
}
