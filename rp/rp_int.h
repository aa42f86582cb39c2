/* SPDX-License-Identifier: Apache-2.0 */
/* librp private declarations: shared by the files of rp/, never installed. */
#ifndef RP_INT_H
#define RP_INT_H

#include "rp.h"
#include "codec.h"
#include "jose.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>

/* Bodies we accept from the provider (discovery, JWKS, token, userinfo):
 * a JWKS of a few dozen RSA keys is about 30 KiB. */
#define RP_MAX_DOC (1024 * 1024)
#define RP_MAX_KEYS 64                  /* keys kept from one JWKS */
#define RP_DISC_MAX_AGE 86400           /* refresh discovery once a day */
#define RP_DISC_RETRY 10                /* at most one failed discovery per 10 s */
#define RP_MIN_NONCE 22                 /* FranceConnect refuses shorter nonces */

/* ---- errors (util.c) ---- */
int rp_fail(struct rp_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void rp_err_clear(struct rp_error *err);
/* Copies untrusted text for a message: printable ASCII only, bounded. */
void rp_sanitize(char *dst, size_t cap, const char *src, size_t len);

/* ---- bounded buffer (util.c) ---- */
struct rp_buf {
	char *p;        /* NUL-terminated once anything was added */
	size_t len;
	size_t cap;
	size_t max;     /* an append past this fails with RP_E_TOO_BIG */
};
void rp_buf_init(struct rp_buf *b, size_t max);
void rp_buf_release(struct rp_buf *b); /* wipes then frees */
int rp_buf_add(struct rp_buf *b, const void *data, size_t len);
int rp_buf_adds(struct rp_buf *b, const char *s);
/* RFC 3986 unreserved characters kept, every other byte %XX. */
int rp_buf_add_urlenc(struct rp_buf *b, const char *s);
/* "&name=value" (no '&' when the buffer is empty), both encoded. */
int rp_buf_add_param(struct rp_buf *b, const char *name, const char *value);
char *rp_buf_steal(struct rp_buf *b);

/* ---- encodings, randomness, secrets (util.c) ---- */
/* Strict base64url without padding into out (cap bytes): refuses padding,
 * whitespace, non-alphabet bytes and non-zero trailing bits. */
int rp_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap,
		     size_t *outlen);
char *rp_b64url_encode(const void *data, size_t len);
char *rp_rand_token(size_t nbytes);     /* nbytes from RAND_bytes, base64url */
bool rp_secret_equal(const void *a, size_t alen, const void *b, size_t blen);
void rp_wipe(void *p, size_t len);
void rp_free_secret(char *s);           /* wipes a string then frees it */
char *rp_strndup(const char *s, size_t len);
bool rp_printable(const char *s);       /* non-empty, 0x21..0x7e only */

/* ---- signature algorithms (jwks.c) ---- */
enum rp_alg {
	RP_ALG_RS256, RP_ALG_RS384, RP_ALG_RS512,
	RP_ALG_PS256, RP_ALG_PS384, RP_ALG_PS512,
	RP_ALG_ES256, RP_ALG_ES384, RP_ALG_ES512,
	RP_ALG_HS256, RP_ALG_HS384, RP_ALG_HS512,
	RP_ALG_COUNT
};
enum rp_family { RP_FAM_RSA, RP_FAM_PSS, RP_FAM_EC, RP_FAM_HMAC };
struct rp_alg_info {
	const char *name;
	enum rp_family family;
	int md_nid;             /* NID_sha256 ... */
	int curve_nid;          /* EC only */
	size_t coord;           /* EC only: bytes of one coordinate */
};
extern const struct rp_alg_info rp_algs[RP_ALG_COUNT];
int rp_alg_lookup(const char *name, size_t len); /* -1 when unknown */
#define RP_ALGS_ASYM ((1u << RP_ALG_HS256) - 1)

/* ---- JWKS: keys parsed once, with verify contexts kept for reuse ---- */
#define RP_CTX_POOL 16
enum rp_kty { RP_KTY_RSA, RP_KTY_EC };
/* Contexts ready for one verification: the hash of the signing input and
 * the signature check, reused from token to token. */
struct rp_vctx {
	EVP_MD_CTX *md;
	EVP_PKEY_CTX *pkey;
};
struct rp_key {
	char *kid;              /* NULL when the JWK has none */
	enum rp_kty kty;
	int curve_nid;          /* EC only */
	int alg;                /* the JWK's alg, or -1: any its type allows */
	size_t sig_len;         /* RSA: modulus bytes; EC: 2 * coordinate */
	EVP_PKEY *pkey;
	pthread_mutex_t lock;   /* guards the pools */
	struct rp_vctx pool[RP_ALG_COUNT][RP_CTX_POOL];
	unsigned npool[RP_ALG_COUNT];
};
struct rp_keyset {
	atomic_int refs;
	size_t n;
	struct rp_key *keys;
	/* SHA-256/384/512 fetched once: an EVP_sha256() passed to
	 * EVP_Digest() is looked up in the provider on every call. */
	EVP_MD *md[3];
};
/* The fetched digest of an algorithm's hash. */
const EVP_MD *rp_keyset_md(const struct rp_keyset *ks, int alg);
int rp_keyset_parse(const char *json, size_t len, struct rp_keyset **out,
		    struct rp_error *err);
void rp_keyset_put(struct rp_keyset *ks);
bool rp_key_allows(const struct rp_key *k, int alg);
/* RP_OK, or RP_E_SIGNATURE / RP_E_NOMEM. input is the JWS signing input
 * (header.payload); sig the JWS signature (raw r||s for ECDSA). */
int rp_key_verify(const struct rp_keyset *ks, struct rp_key *k, int alg, const char *input,
		  size_t inlen, const unsigned char *sig, size_t slen);
/* The current keys, loaded or refreshed when needed (caller puts them). */
int rp_keys_get(struct rp_config *cfg, struct rp_keyset **out, struct rp_error *err);
/* After an unknown kid in seen: newer keys if another thread already got
 * them, else one fetch if the refetch interval allows it. *out is NULL when
 * nothing newer could be had (err says why). */
int rp_keys_refetch(struct rp_config *cfg, struct rp_keyset *seen, struct rp_keyset **out,
		    struct rp_error *err);

/* rp_verify_jwt() with fn naming the caller in messages (jwt.c); iss_aud:
 * iss and aud are required, not only checked when present. */
int rp_verify_signed(struct rp_config *cfg, const char *fn, const char *token, bool iss_aud,
		     json_t **claims, struct rp_error *err);
/* The signature, typ and registered claims of a logout token (logout.c
 * checks the rest). */
int rp_verify_logout_jws(struct rp_config *cfg, const char *token, json_t **claims,
			 struct rp_error *err);

/* ---- discovery (discovery.c) ---- */
struct rp_disc {
	atomic_int refs;
	json_t *doc;
	const char *authorization_endpoint;     /* these point into doc */
	const char *token_endpoint;
	const char *userinfo_endpoint;          /* NULL when absent */
	const char *jwks_uri;
	const char *end_session_endpoint;       /* NULL when absent */
	const char *introspection_endpoint;     /* NULL when absent */
	const char *revocation_endpoint;        /* NULL when absent */
	bool iss_parameter;     /* authorization_response_iss_parameter_supported */
};
int rp_disc_get(struct rp_config *cfg, struct rp_disc **out, struct rp_error *err);
void rp_disc_put(struct rp_disc *d);

/* ---- HTTP with libcurl (http.c) ---- */
struct rp_http_resp {
	long status;
	char *body;             /* NUL-terminated, len bytes */
	size_t len;
	char ctype[64];         /* media type, lowercased, without parameters */
};
/* GET when post is NULL, else POST of a form body. headers: NULL-terminated
 * "Name: value" lines. Refuses URLs the config does not allow. */
int rp_http(const struct rp_config *cfg, const char *fn, const char *url,
	    const char *const *headers, const char *post, size_t max,
	    struct rp_http_resp *resp, struct rp_error *err);
void rp_http_resp_release(struct rp_http_resp *r);      /* wipes the body */
/* "Authorization: Basic base64(urlenc(id):urlenc(secret))" (RFC 6749
 * 2.3.1), malloc'ed, the caller wipes and frees it; NULL without a secret
 * or memory. */
char *rp_basic_header(const struct rp_config *cfg);
/* POSTs the form body to url with this client's authentication, as at the
 * token endpoint (token.c); an answer other than 200 is RP_E_PROVIDER_ERROR
 * (its OAuth error in err) or RP_E_HTTP. */
int rp_client_post(struct rp_config *cfg, const char *fn, const char *url, struct rp_buf *body,
		   size_t max, struct rp_http_resp *resp, struct rp_error *err);
/* a and b have one origin (scheme, host, port; RFC 6454), as libcurl's URL
 * parser reads them. */
bool rp_same_origin(const char *a, const char *b);
int rp_url_check(const struct rp_config *cfg, const char *fn, const char *url,
		 struct rp_error *err);

/* ---- strict JSON scanner (json.c) ----
 * Validates a whole JSON object (RFC 8259, UTF-8, depth <= 64, no \u0000,
 * no duplicate top-level names) without allocating, and lists its top-level
 * members as spans of the buffer. Escaped member names are decoded in place,
 * hence the non-const buffer. */
enum rp_jtype { RP_J_OBJECT, RP_J_ARRAY, RP_J_STRING, RP_J_NUMBER, RP_J_TRUE,
		RP_J_FALSE, RP_J_NULL };
struct rp_jval {
	const char *p;          /* strings: inside the quotes; others: the text */
	size_t len;
	enum rp_jtype type;
	bool esc;               /* string holds escapes */
};
struct rp_jmember {
	const char *key;        /* decoded */
	size_t klen;
	struct rp_jval v;
};
int rp_json_scan(char *buf, size_t len, struct rp_jmember *m, size_t max, size_t *n);
const struct rp_jval *rp_json_get(const struct rp_jmember *m, size_t n, const char *key);
/* The next element of a scanned array span; false at its end. */
bool rp_json_array_next(const struct rp_jval *arr, const char **pos, struct rp_jval *out);
bool rp_json_str_eq(const struct rp_jval *v, const char *s, bool consttime);
/* A string value decoded into out (cap bytes, NUL-terminated, *outlen
 * bytes before the NUL); false if not a string or if cap is not more than
 * its encoded length. */
bool rp_json_str_copy(const struct rp_jval *v, char *out, size_t cap, size_t *outlen);
/* Decoded copy of a string value (caller frees); NULL if not a string. */
char *rp_json_str_dup(const struct rp_jval *v);
/* A NumericDate (integer or not) as whole seconds; false if not a number
 * or out of range. */
bool rp_json_time(const struct rp_jval *v, int64_t *out);
json_t *rp_json_build(const struct rp_jmember *m, size_t n);

/* ---- the config (config.c) ---- */
struct rp_config {
	char *issuer;
	char *client_id;
	char *client_secret;
	char *redirect_uri;
	enum rp_auth_method auth_method;
	EVP_PKEY *client_key;           /* private_key_jwt; NULL: none */
	char *client_key_kid;
	int client_key_alg;             /* enum jose_sig_alg */
	EVP_PKEY *decrypt_key;          /* JWE; NULL: none */
	enum rp_jwks_client_id jwks_client_id;
	int leeway;
	int jwks_min_interval;
	int jwks_max_age;
	unsigned alg_mask;      /* 1 << enum rp_alg */
	char *min_acr;
	char **acr_levels;      /* weakest first */
	size_t n_acr_levels;
	long connect_ms;
	long total_ms;
	char *ca_file;
	bool http_loopback;
	time_t (*clock)(void *arg);
	void *clock_arg;

	pthread_mutex_t lock;           /* guards the cache fields below */
	pthread_mutex_t disc_fetch;     /* one discovery fetch at a time */
	pthread_mutex_t jwks_fetch;     /* one JWKS fetch at a time */
	struct rp_disc *disc;
	int64_t disc_fetched;           /* rp_mono() of the last success */
	int64_t disc_attempt;           /* and of the last try */
	bool disc_tried;
	struct rp_keyset *keys;
	int64_t jwks_fetched;
	int64_t jwks_attempt;
	bool jwks_tried;
	/* rp_introspect's answers (introspect.c), under lock. */
	int introspect_max_age;         /* seconds; 0: no cache */
	size_t introspect_cap;          /* entries at most */
	struct rp_introspect_entry *introspect_cache;
	/* The jti of the logout tokens accepted (logout.c), under lock. */
	struct rp_jti_entry *jti_cache;
	size_t jti_n;
};
void rp_introspect_cache_free(struct rp_config *cfg);
/* The client_assertion of private_key_jwt for aud (malloc'ed, the caller's). */
int rp_client_assertion(struct rp_config *cfg, const char *fn, const char *aud, char **out,
			struct rp_error *err);
int64_t rp_now(const struct rp_config *cfg);    /* wall clock, for tokens */
int64_t rp_mono(const struct rp_config *cfg);   /* monotonic, for cache ages */
int rp_acr_rank(const struct rp_config *cfg, const char *acr, size_t len);

#endif
