/* SPDX-License-Identifier: EUPL-1.2 */
/* The identity a backend returns: validated against the format rules of the
 * identity pivot, and turned into the local subject (per backend, or from
 * the identity pivot as FranceConnect derives it). */
#include "idp.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void identity_release(struct idp_identity *id)
{
	free(id->subject);
	json_decref(id->claims);
	free(id->acr);
	free(id->amr);
	json_decref(id->session_data);
	memset(id, 0, sizeof(*id));
}

/* Characters (code points) in a string already known to be valid UTF-8:
 * every byte but the continuation bytes (10xxxxxx) starts one. */
static size_t utf8_count(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* A YYYY-MM-DD that the regular expression let through names a real day
 * (no 1990-02-31, 29 February only in leap years); YYYY and YYYY-MM have no
 * day to check. */
static bool date_exists(const char *v)
{
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y, m, d;
	bool leap;

	if (strlen(v) != 10)
		return true;
	y = (v[0] - '0') * 1000 + (v[1] - '0') * 100 + (v[2] - '0') * 10 + (v[3] - '0');
	m = (v[5] - '0') * 10 + (v[6] - '0');
	d = (v[8] - '0') * 10 + (v[9] - '0');
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return d <= mdays[m - 1] + (m == 2 && leap);
}

/* Format rules for the identity pivot, as public services expect them. */
bool identity_valid(const json_t *claims, const char **why)
{
	static const char *const names[] = {"given_name", "family_name", "preferred_username", NULL};
	const char *v;
	regex_t re;
	bool ok;

	for (const char *const *n = names; *n; n++) {
		json_t *j = json_object_get(claims, *n);

		if (j == NULL)
			continue;
		v = json_string_value(j);
		if (v == NULL || !utf8_valid(v, strlen(v)) || utf8_count(v) < 1 || utf8_count(v) > 256) {
			*why = *n;
			return false;
		}
	}
	if ((v = json_string_value(json_object_get(claims, "birthdate"))) != NULL ||
	    json_object_get(claims, "birthdate") != NULL) {
		/* YYYY-MM-DD, or YYYY-MM / YYYY when the backend knows no more. */
		if (v == NULL || regcomp(&re, "^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?)?$",
					 REG_EXTENDED | REG_NOSUB) != 0) {
			*why = "birthdate";
			return false;
		}
		ok = regexec(&re, v, 0, NULL, 0) == 0 && date_exists(v);
		regfree(&re);
		if (!ok) {
			*why = "birthdate";
			return false;
		}
	}
	if (json_object_get(claims, "gender") != NULL) {
		v = json_string_value(json_object_get(claims, "gender"));
		if (v == NULL || (strcmp(v, "female") != 0 && strcmp(v, "male") != 0 && strcmp(v, "other") != 0)) {
			*why = "gender";
			return false;
		}
	}
	if (json_object_get(claims, "birthcountry") != NULL) {
		v = json_string_value(json_object_get(claims, "birthcountry"));
		if (v == NULL || strlen(v) != 5 || strspn(v, "0123456789") != 5) {
			*why = "birthcountry";
			return false;
		}
		/* Born in France: the INSEE code of the commune is required. */
		if (strcmp(v, "99100") == 0) {
			const char *bp = json_string_value(json_object_get(claims, "birthplace"));

			if (bp == NULL || strlen(bp) != 5 || strspn(bp, "0123456789AB") != 5) {
				*why = "birthplace";
				return false;
			}
		}
	}
	if (json_object_get(claims, "email") != NULL) {
		v = json_string_value(json_object_get(claims, "email"));
		if (v == NULL || regcomp(&re, "^[^@ \t\r\n<>\"]{1,64}@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$",
					 REG_EXTENDED | REG_NOSUB) != 0) {
			*why = "email";
			return false;
		}
		ok = strlen(v) <= 254 && regexec(&re, v, 0, NULL, 0) == 0;
		regfree(&re);
		if (!ok) {
			*why = "email";
			return false;
		}
	}
	return true;
}

/* Appends a pivot value in a canonical spelling, so that two backends that
 * write one citizen differently ("Marianne " and "marianne", "De  la Tour")
 * give the same subject: surrounding whitespace dropped, inner runs of
 * whitespace made one space, ASCII letters lower-cased. Other bytes are kept
 * as sent: accented letters are compared as the backends encode them, since
 * Unicode normalisation (NFC) and full case folding need a library the
 * daemon does not link; a backend sending decomposed accents (NFD) or
 * upper-case accented letters gives another subject. */
static int pivot_add(struct buf *s, const char *v)
{
	bool space = false;
	int rc = IDP_OK;

	v += strspn(v, " \t\r\n\v\f");
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (strchr(" \t\r\n\v\f", c) != NULL) {
			space = true;
			continue;
		}
		if (space && rc == IDP_OK)
			rc = buf_add(s, " ", 1);
		space = false;
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (rc == IDP_OK)
			rc = buf_add(s, &c, 1);
	}
	return rc;
}

/* The subject derived from the identity pivot: the caller frees it. NULL
 * with *why naming the missing claim. */
char *pivot_subject(const json_t *c, const char **why)
{
	static const char *const pivot[] = {"given_name", "family_name", "birthdate", "gender",
		"birthplace", "birthcountry", NULL};
	struct buf s;
	char hex[65], *out = NULL;
	bool france;
	int rc = IDP_OK;

	*why = NULL;
	france = strcmp(json_string_value(json_object_get(c, "birthcountry")) ?: "", "99100") == 0;
	buf_init(&s, 4096);
	for (const char *const *n = pivot; *n; n++) {
		const char *v = json_string_value(json_object_get(c, *n));

		if (strcmp(*n, "birthplace") == 0 && !france)
			continue; /* only meaningful for people born in France */
		if (v == NULL) {
			*why = *n;
			buf_release(&s);
			return NULL;
		}
		if (rc == IDP_OK)
			rc = pivot_add(&s, v);
		if (rc == IDP_OK)
			rc = buf_adds(&s, "\x1f"); /* a separator no claim contains */
	}
	if (rc != IDP_OK) { /* past the buffer's maximum: claims too long */
		*why = "given_name";
		buf_release(&s);
		return NULL;
	}
	sha256_hex(s.p, s.len, hex);
	buf_release(&s);
	if (asprintf(&out, "pivot:%s", hex) < 0)
		return NULL;
	return out;
}

/* The local subject: per backend ("backend:subject"), or from the identity
 * pivot, so the same citizen gets the same sub whichever backend they use. */
char *identity_local_subject(const struct config *cfg, const struct backend *b,
			     const struct idp_identity *id, const char **why)
{
	char *out = NULL;

	if (cfg->sub_from_pivot)
		return pivot_subject(id->claims, why);
	if (asprintf(&out, "%s:%s", b->id, id->subject) < 0)
		return NULL;
	return out;
}

