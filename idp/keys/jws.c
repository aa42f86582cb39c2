/* SPDX-License-Identifier: EUPL-1.2 */
/* Compact JWS (RFC 7515): ID tokens, access tokens and signed userinfo
 * signed with a loaded key through a per-thread signing context, and
 * tokens verified against the published keys (logout and prompt hints). */
#include "jws.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "json_bounded.h"
#include "util.h"

char *jws_header(const struct sign_key *k, const char *typ)
{
	json_t *h = json_pack("{s:s,s:s,s:s}", "alg", alg_name(k->alg), "kid", k->kid, "typ", typ);
	char *s = h ? json_dumps(h, JSON_COMPACT) : NULL, *b = NULL;

	if (s != NULL)
		b = b64url_encode(s, strlen(s));
	free(s);
	json_decref(h);
	return b;
}

/* A signing context per thread and key, initialised once: OpenSSL 3 looks
 * the algorithm up in its provider store (locks, hash tables) on every
 * EVP_DigestSignInit, which cost a third of a token request. The context holds
 * a reference to the key, so a key dropped by a reload stays valid until its
 * slot is reused. */
#define SIGNER_SLOTS 8

struct signer {
	uint64_t serial;
	EVP_PKEY_CTX *ctx;
};

struct signers {
	struct signer slot[SIGNER_SLOTS];
	unsigned next;
};

static pthread_key_t signers_key;
static pthread_once_t signers_once = PTHREAD_ONCE_INIT;

/* Frees a thread's contexts when it exits (and the main thread's at exit). */
static void signers_free(void *p)
{
	struct signers *ss = p;

	for (unsigned i = 0; ss != NULL && i < SIGNER_SLOTS; i++)
		EVP_PKEY_CTX_free(ss->slot[i].ctx);
	free(ss);
}

static void signers_main_exit(void)
{
	struct signers *ss = pthread_getspecific(signers_key);

	pthread_setspecific(signers_key, NULL);
	signers_free(ss);
}

static void signers_init(void)
{
	pthread_key_create(&signers_key, signers_free);
	atexit(signers_main_exit);
}

static EVP_PKEY_CTX *signer_get(const struct sign_key *k)
{
	struct signers *ss;
	struct signer *s;
	EVP_PKEY_CTX *ctx;

	pthread_once(&signers_once, signers_init);
	if ((ss = pthread_getspecific(signers_key)) == NULL) {
		if ((ss = calloc(1, sizeof(*ss))) == NULL)
			return NULL;
		pthread_setspecific(signers_key, ss);
	}
	for (unsigned i = 0; i < SIGNER_SLOTS; i++)
		if (ss->slot[i].serial == k->serial && ss->slot[i].ctx != NULL)
			return ss->slot[i].ctx;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL)) == NULL)
		return NULL;
	if (EVP_PKEY_sign_init(ctx) != 1 || EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 ||
	    (k->alg == ALG_RS256 && EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1)) {
		EVP_PKEY_CTX_free(ctx);
		return NULL;
	}
	s = &ss->slot[ss->next++ % SIGNER_SLOTS];
	EVP_PKEY_CTX_free(s->ctx);
	s->serial = k->serial;
	s->ctx = ctx;
	return ctx;
}

/* Signs with the key parsed once. libjwt 1.10's jwt_encode_str re-parses the
 * PEM on every call; signing the JWS here with the cached key is what keeps
 * the token endpoint near the CPU's signing limit (see make bench). */
int jws_sign(const struct sign_key *k, bool typ_at, const json_t *payload, char **out)
{
	char *body = json_dumps(payload, JSON_COMPACT);
	int rc;

	*out = NULL;
	if (body == NULL)
		return IDP_ENOMEM;
	rc = jws_sign_text(k, typ_at, body, strlen(body), out);
	free_secret(body);
	return rc;
}

static int sign_with_header(const struct sign_key *k, const char *hdr, const char *body, size_t blen, char **out)
{
	EVP_PKEY_CTX *ctx;
	unsigned char sig[1024], raw[64], md[SHA256_DIGEST_LENGTH];
	size_t siglen = sizeof(sig);
	struct buf b;
	int rc = IDP_EINVAL;

	*out = NULL;
	buf_init(&b, 1 << 20);
	if (hdr == NULL || buf_adds(&b, hdr) || buf_adds(&b, ".") || buf_add_b64url(&b, body, blen))
		goto out;
	sha256(b.p, b.len, md);
	if ((ctx = signer_get(k)) == NULL || EVP_PKEY_sign(ctx, sig, &siglen, md, sizeof(md)) != 1)
		goto out;
	if (k->alg == ALG_ES256) {
		/* JWS wants R || S, 32 bytes each (RFC 7518 3.4), not DER. */
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)siglen);
		const BIGNUM *r, *s;

		if (es == NULL)
			goto out;
		ECDSA_SIG_get0(es, &r, &s);
		if (BN_bn2binpad(r, raw, 32) != 32 || BN_bn2binpad(s, raw + 32, 32) != 32) {
			ECDSA_SIG_free(es);
			goto out;
		}
		ECDSA_SIG_free(es);
		if (buf_adds(&b, ".") || buf_add_b64url(&b, raw, 64))
			goto out;
	} else if (buf_adds(&b, ".") || buf_add_b64url(&b, sig, siglen))
		goto out;
	*out = buf_steal(&b);
	rc = IDP_OK;
out:
	buf_release(&b);
	return rc;
}

int jws_sign_text(const struct sign_key *k, bool typ_at, const char *body, size_t blen, char **out)
{
	return sign_with_header(k, typ_at ? k->hdr_at : k->hdr_jwt, body, blen, out);
}

int jws_sign_typ(const struct sign_key *k, const char *typ, const char *body, size_t blen, char **out)
{
	char *hdr = jws_header(k, typ);
	int rc;

	*out = NULL;
	rc = sign_with_header(k, hdr, body, blen, out);
	free(hdr);
	return hdr == NULL ? IDP_ENOMEM : rc;
}

/* The one JWS verification the provider and librp share (common/jose.c). */
static int verify_sig(const struct sign_key *k, const char *input, size_t inlen,
		      const unsigned char *sig, size_t siglen)
{
	enum jose_sig_alg a = k->alg == ALG_ES256 ? JOSE_ES256 : JOSE_RS256;

	return jose_sig_verify(k->pkey, a, input, inlen, sig, siglen) == JOSE_OK ? IDP_OK : IDP_EDENIED;
}

/* Splits a compact JWS and decodes its parts; *hdr is the header object.
 * The caller frees *hdr, *body and *sig, also on error. */
static int jws_split(const char *token, json_t **hdr, unsigned char **body, size_t *bl,
		     unsigned char **sig, size_t *sl)
{
	const char *d1, *d2;
	unsigned char *h = NULL;
	size_t hl, tl = strlen(token);
	int rc = IDP_EINVAL;

	*hdr = NULL;
	*body = *sig = NULL;
	if (tl > 16384)
		return IDP_ETOOBIG;
	if ((d1 = strchr(token, '.')) == NULL || (d2 = strchr(d1 + 1, '.')) == NULL ||
	    strchr(d2 + 1, '.') != NULL)
		return IDP_EINVAL;
	if (b64url_decode(token, (size_t)(d1 - token), &h, &hl) != IDP_OK ||
	    b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), body, bl) != IDP_OK ||
	    b64url_decode(d2 + 1, tl - (size_t)(d2 + 1 - token), sig, sl) != IDP_OK)
		goto out;
	/* Read before any signature is checked: bounded (json_bounded.h). */
	if (json_parse_bounded((char *)h, hl, hl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, hdr) != IDP_OK)
		goto out;
	rc = json_is_object(*hdr) ? IDP_OK : IDP_EINVAL;
out:
	free(h);
	return rc;
}

int jws_verify(const struct keyset *ks, const char *token, json_t **payload)
{
	const char *d2;
	unsigned char *body = NULL, *sig = NULL;
	size_t bl = 0, sl = 0;
	json_t *h = NULL;
	const struct sign_key *k;
	const char *alg;
	int rc;

	*payload = NULL;
	if ((rc = jws_split(token, &h, &body, &bl, &sig, &sl)) != IDP_OK)
		goto out;
	rc = IDP_EDENIED;
	k = keyset_find(ks, json_string_value(json_object_get(h, "kid")));
	alg = json_string_value(json_object_get(h, "alg"));
	if (k == NULL || alg == NULL || strcmp(alg, alg_name(k->alg)) != 0 ||
	    json_object_get(h, "crit") != NULL)
		goto out;
	d2 = strrchr(token, '.');
	if ((rc = verify_sig(k, token, (size_t)(d2 - token), sig, sl)) != IDP_OK)
		goto out;
	json_parse_bounded((char *)body, bl, bl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, payload);
	rc = json_is_object(*payload) ? IDP_OK : IDP_EINVAL;
	if (rc != IDP_OK) {
		json_decref(*payload);
		*payload = NULL;
	}
out:
	json_decref(h);
	free(body);
	free(sig);
	return rc;
}

int jws_unknown_kid(const struct keyset *ks, const char *token, json_t **payload)
{
	unsigned char *body = NULL, *sig = NULL;
	size_t bl = 0, sl = 0;
	json_t *h = NULL;
	const char *kid, *alg;
	int rc;

	*payload = NULL;
	if ((rc = jws_split(token, &h, &body, &bl, &sig, &sl)) != IDP_OK)
		goto out;
	rc = IDP_EINVAL;
	kid = json_string_value(json_object_get(h, "kid"));
	alg = json_string_value(json_object_get(h, "alg"));
	/* Signed (never alg "none"), by a key this set does not hold. */
	if (kid == NULL || alg == NULL || sl == 0 || strcmp(alg, "none") == 0 ||
	    keyset_find(ks, kid) != NULL)
		goto out;
	/* Unverified: bounded like any document from outside (json_bounded.h). */
	json_parse_bounded((char *)body, bl, bl, JSON_IN_DEPTH, JSON_REJECT_DUPLICATES, payload);
	if (!json_is_object(*payload)) {
		json_decref(*payload);
		*payload = NULL;
		goto out;
	}
	rc = IDP_OK;
out:
	json_decref(h);
	free(body);
	free(sig);
	return rc;
}
