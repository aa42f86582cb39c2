/* SPDX-License-Identifier: EUPL-1.2 */
/* JSON from outside the process, bounded by size and depth before jansson
 * parses it, and values built elsewhere checked before they are stored. */
#ifndef IDP_JSON_BOUNDED_H
#define IDP_JSON_BOUNDED_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* JSON from outside the process (request parameters, token headers and
 * payloads, upstream and plugin answers, records read back from the store)
 * is bounded before jansson sees it: jansson parses, copies and writes by
 * recursion, about 300 bytes of stack a level, and allows 2,048 levels, far
 * more than a 512 KiB fiber stack holds (see fiber.c for the budget).
 * JSON_IN_DEPTH: what enters from outside. OpenID claims requests are 4
 * levels ({"userinfo":{"name":{"values":[...]}}}), userinfo answers 2
 * (address), token payloads 2 or 3: 16 is four times the deepest seen.
 * JSON_STORED_DEPTH: our records embed such documents at most two levels
 * down (a transaction's "claims", a session's "claims"); 32 leaves room. */
#define JSON_IN_DEPTH 16
#define JSON_STORED_DEPTH 32
/* The deepest nesting of text[0..len) counted by brackets outside strings,
 * without recursion; stops counting once past limit (returns limit + 1).
 * Not a validation: jansson still parses what passes. */
unsigned json_text_depth(const char *text, size_t len, unsigned limit);
/* json_loadb with flags, refused before parsing when len > max_len
 * (IDP_ETOOBIG) or nesting is deeper than max_depth (IDP_ETOOBIG); IDP_EINVAL
 * when jansson refuses it. *out is the caller's, NULL on error. */
int json_parse_bounded(const char *text, size_t len, size_t max_len, unsigned max_depth,
		       size_t flags, json_t **out);
/* A value built elsewhere (a plugin's answer, a record about to be written)
 * checked without recursion: nesting at most max_depth (JSON_STORED_DEPTH at
 * most), and at most max_bytes written by json_dumps(JSON_COMPACT) (an upper
 * bound is counted: 24 bytes for any number). */
bool json_value_bounded(const json_t *v, unsigned max_depth, size_t max_bytes);

#endif
