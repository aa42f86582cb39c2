/* SPDX-License-Identifier: Apache-2.0 */
/* librp: log citizens in to a public service through an OpenID Connect
 * provider (ours, FranceConnect, or any conforming one) and verify what it
 * returns.
 *
 * One struct rp_config per provider and client. It holds the settings, the
 * provider's discovery document and its signing keys (JWKS), both fetched
 * with libcurl on first use and cached. Every call below is safe to make from
 * several threads at once on one config; the setters are not, so call them
 * before the config is shared. The library keeps no global state.
 *
 * Errors: every action returns RP_OK (0) or a negative enum rp_code, and
 * fills *err (when err is not NULL) with the same code and a message fit for a
 * log line. Messages never hold a secret, a code or a token.
 *
 * Ownership: const char * arguments are borrowed. A returned char * or json_t *
 * is the caller's (free() and json_decref()); structs filled by the library
 * are released with their _release() function, which wipes the secrets. */
#ifndef RP_H
#define RP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RP_API __attribute__((visibility("default")))

#define RP_VERSION_MAJOR 1
#define RP_VERSION_MINOR 6

/* Tokens (ID token, signed userinfo) longer than this are refused before any
 * parsing, with RP_E_TOO_BIG. */
#define RP_MAX_TOKEN (64 * 1024)

enum rp_code {
	RP_OK = 0,
	RP_E_NOMEM = -1,          /* allocation failed */
	RP_E_INVAL = -2,          /* bad argument or setting */
	RP_E_MALFORMED = -3,      /* token, document or callback not well formed */
	RP_E_TOO_BIG = -4,        /* input or response over its limit */
	RP_E_ALG = -5,            /* alg unknown or not in the allow-list */
	RP_E_KID = -6,            /* no key for the token, even after a refetch */
	/* The signature does not verify over header.payload. A tampered
	 * payload (or header) with valid base64url is this same failure: a
	 * signature check cannot tell a changed text from a changed
	 * signature, so no separate code could be honest. */
	RP_E_SIGNATURE = -7,
	RP_E_EXPIRED = -8,        /* exp passed (beyond the leeway) */
	RP_E_IAT_FUTURE = -9,     /* iat in the future (beyond the leeway) */
	RP_E_NOT_YET_VALID = -10, /* nbf in the future (beyond the leeway) */
	RP_E_ISS = -11,           /* issuer is not the configured one */
	RP_E_AUD = -12,           /* our client_id is not an audience */
	RP_E_AZP = -13,           /* azp missing with several audiences, or not us */
	RP_E_NONCE = -14,         /* nonce missing, unexpected, or different */
	RP_E_ACR = -15,           /* acr missing or below the minimum asked */
	RP_E_SUB = -16,           /* userinfo sub is not the ID token's */
	RP_E_STATE = -17,         /* callback state missing or different */
	RP_E_PROVIDER_ERROR = -18, /* the provider answered error=...; see oauth_error */
	RP_E_NETWORK = -19,       /* could not reach the provider */
	RP_E_HTTP = -20,          /* the provider answered an unexpected HTTP status */
	RP_E_DISCOVERY = -21,     /* discovery document unusable or endpoint missing */
	RP_E_JWKS = -22,          /* JWKS unusable: no key we can verify with */
	RP_E_INSECURE = -23,      /* URL not https (and not an allowed loopback) */
	/* Since 1.1 (appended: the values above never change). */
	RP_E_ALG_NONE = -24,      /* alg "none" (any case): an unsigned token */
	RP_E_ALG_KEY_MISMATCH = -25, /* alg not the key's: ES256 on an RSA key, a
				      * JWK alg other than the header's, or HMAC
				      * where only public keys (or no client
				      * secret) are trusted: HS256 "signed" with a
				      * public key ends here */
	RP_E_BASE64 = -26,        /* a token part is not strict base64url */
	/* Since 1.4. */
	RP_E_DECRYPT = -27,       /* an encrypted (JWE) token we cannot decrypt: no
				   * decryption key, another key, alg or enc not
				   * RSA-OAEP-256/ECDH-ES with A256GCM, a bad tag */
	/* Since 1.5. */
	RP_E_REPLAY = -28,        /* a logout token's jti already accepted */
};
#define RP_E_LAST RP_E_REPLAY   /* the lowest code, for tables and tests */

struct rp_error {
	int code;                 /* enum rp_code */
	char oauth_error[64];     /* the provider's "error" value, when it sent one */
	char message[256];        /* "function: what went wrong" */
};

/* Client authentication at the token endpoint. */
enum rp_auth_method {
	RP_AUTH_BASIC = 0, /* client_secret_basic (default) */
	RP_AUTH_POST = 1,  /* client_secret_post (FranceConnect) */
	/* Since 1.4: private_key_jwt (RFC 7523, OpenID Core 9), a fresh
	 * assertion signed with the key of rp_config_set_client_key() per
	 * request. */
	RP_AUTH_PRIVATE_KEY_JWT = 2,
};

/* Whether JWKS fetches authenticate this client, so that the provider can
 * tell which services already hold a new key before it signs with it. */
enum rp_jwks_client_id {
	/* Deprecated since 1.2 (anyone could send these, so the provider no
	 * longer trusts them): both now mean RP_JWKS_ID_AUTH. */
	RP_JWKS_ID_HEADER = 0,
	RP_JWKS_ID_QUERY = 1,
	RP_JWKS_ID_NONE = 2,   /* anonymous fetches */
	/* HTTP Basic with client_id and client_secret, as at the token endpoint
	 * (the default); without a secret but with a client key
	 * (rp_config_set_client_key), a fresh client assertion (aud the JWKS
	 * URL, a minute long) in a "Client-Assertion" header; only when the
	 * JWKS is at the token endpoint's origin; otherwise anonymous. */
	RP_JWKS_ID_AUTH = 3,
};

struct rp_config;

/* Generic text for a code; the message in struct rp_error is more precise. */
RP_API const char *rp_strerror(int code);

/* issuer: the provider's issuer URL, exactly as its discovery document says.
 * client_secret may be NULL for a client that never calls the token endpoint.
 * No network here: discovery happens on first need or with rp_discover(). */
RP_API struct rp_config *rp_config_new(const char *issuer, const char *client_id,
				       const char *client_secret, const char *redirect_uri,
				       struct rp_error *err);
RP_API void rp_config_free(struct rp_config *cfg); /* NULL-safe, wipes the secret */

/* Setters: RP_OK or RP_E_INVAL. Call them before sharing cfg between threads. */
RP_API int rp_config_set_auth_method(struct rp_config *cfg, enum rp_auth_method method);
/* Clock skew tolerated on exp, iat and nbf; default 60 s, at most 600. */
RP_API int rp_config_set_leeway(struct rp_config *cfg, int seconds);
/* JWKS cache: refetch on an unknown kid at most once per min_interval
 * seconds (default 60), and refresh keys older than max_age (default 3600)
 * so a key the provider withdrew stops being trusted. When a refresh fails,
 * the cached keys keep working. */
RP_API int rp_config_set_jwks_cache(struct rp_config *cfg, int min_interval, int max_age);
RP_API int rp_config_set_jwks_client_id(struct rp_config *cfg, enum rp_jwks_client_id how);
/* Space-separated allow-list of signature algorithms. Default: every
 * asymmetric one we know ("ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384
 * PS512"). HS256/HS384/HS512 are accepted only if listed here, and then only
 * with the client_secret as the key, never with a key from the JWKS. "none"
 * is refused. */
RP_API int rp_config_set_algs(struct rp_config *cfg, const char *algs);
/* Refuse ID tokens whose acr is below min_acr (NULL: no minimum). levels
 * orders the known values, weakest first; NULL means "eidas1 eidas2 eidas3".
 * An acr not in levels is refused when a minimum is set. */
RP_API int rp_config_set_min_acr(struct rp_config *cfg, const char *min_acr, const char *levels);
/* Milliseconds; defaults 5000 to connect and 10000 in all. */
RP_API int rp_config_set_timeouts(struct rp_config *cfg, long connect_ms, long total_ms);
/* PEM bundle of the CAs to trust for the provider (default: the system's). */
RP_API int rp_config_set_ca_file(struct rp_config *cfg, const char *path);
/* Allow http:// URLs whose host is 127.0.0.1, ::1 or localhost (tests,
 * demos). Every other URL must be https. Default: false. */
RP_API int rp_config_set_http_loopback(struct rp_config *cfg, bool allow);
/* Replace the clock (seconds since the epoch) used for token times and cache
 * ages; for tests. NULL restores the system clock. */
RP_API int rp_config_set_clock(struct rp_config *cfg, time_t (*now)(void *arg), void *arg);

/* Since 1.4. The service's private key (PEM: an EC P-256 key, signing
 * ES256, or an RSA key of 2048 bits or more, signing RS256) and its kid as
 * registered in the JWKS the provider holds (NULL: none sent). The token,
 * revocation and introspection endpoints are then called with
 * private_key_jwt: an assertion with iss = sub = client_id, aud the token
 * endpoint, a fresh random jti and exp 60 s ahead. The secret, if any, is
 * no longer sent. */
RP_API int rp_config_set_client_key(struct rp_config *cfg, const char *pem, const char *kid);
/* Since 1.6. The algorithm of the client assertions, after
 * rp_config_set_client_key (which sets its key's default: ES256 for EC,
 * RS256 for RSA): "PS256" signs with RSA-PSS, SHA-256 and a 32-byte salt
 * (RFC 7518 3.5), "RS256" and "ES256" as before. RP_E_INVAL without a
 * client key, or for an alg the key cannot sign (ES256 with RSA, PS256
 * with EC, anything else). A new rp_config_set_client_key resets it. */
RP_API int rp_config_set_client_key_alg(struct rp_config *cfg, const char *alg);
/* Since 1.4. The service's private key for tokens encrypted to it (PEM: RSA
 * for RSA-OAEP-256, EC P-256 for ECDH-ES; content A256GCM). ID tokens and
 * userinfo answers that arrive as JWE (nested JWTs, OpenID Core 10.2) are
 * decrypted with it, then verified as signed ones. Without it, a JWE is
 * refused with RP_E_DECRYPT. */
RP_API int rp_config_set_decryption_key(struct rp_config *cfg, const char *pem);

/* Fetch (or refresh) the discovery document now, e.g. to fail at start-up
 * rather than on the first login. */
RP_API int rp_discover(struct rp_config *cfg, struct rp_error *err);

/* Authorization request. Every field may be NULL/0. */
struct rp_auth_params {
	const char *scope;         /* default "openid"; "openid" is added if missing */
	const char *acr_values;    /* e.g. "eidas1" */
	const char *prompt;        /* e.g. "login", "consent", "login consent" */
	const char *ui_locales;    /* e.g. "fr en" */
	const char *login_hint;
	const char *claims;        /* JSON object, sent as is */
	int max_age;               /* > 0: sent; 0: not sent */
	/* Given values are used instead of fresh random ones (the nonce must
	 * be at least 22 characters, the verifier 43 to 128 unreserved ones). */
	const char *state;
	const char *nonce;
	const char *code_verifier;
	/* More parameters, { name, value, name, value, ..., NULL }. They may
	 * not replace the ones above or the protocol's own. */
	const char *const *extra;
};

/* What the service keeps (in its session) until the callback. */
struct rp_auth_request {
	char *url;           /* send the browser there (302) */
	char *state;         /* 43 characters unless given */
	char *nonce;         /* 43 characters unless given */
	char *code_verifier; /* PKCE S256 verifier, 43 characters unless given */
};

RP_API int rp_auth_url(struct rp_config *cfg, const struct rp_auth_params *params,
		       struct rp_auth_request *out, struct rp_error *err);
RP_API void rp_auth_request_release(struct rp_auth_request *req); /* wipes, frees, zeroes */

/* Callback on redirect_uri. query: the query string, or the whole URL (the
 * part after '?' is used). Checks state against expected_state (required;
 * constant time), iss when present (RFC 9207), then surfaces
 * error/error_description as RP_E_PROVIDER_ERROR with err->oauth_error set.
 * On RP_OK *code is the authorization code (caller frees). */
RP_API int rp_parse_callback(struct rp_config *cfg, const char *query,
			     const char *expected_state, char **code, struct rp_error *err);

struct rp_tokens {
	char *id_token;
	char *access_token;
	char *refresh_token; /* NULL when none */
	char *token_type;
	char *scope;         /* NULL when the provider did not say */
	long expires_in;     /* -1 when the provider did not say */
};

/* Exchange the code at the token endpoint (client_secret_basic or _post,
 * or private_key_jwt, with the PKCE verifier). id_token is as received
 * (a JWE when the provider encrypts it). Does not verify the ID token: call
 * rp_verify_id_token() with the nonce next. */
RP_API int rp_exchange_code(struct rp_config *cfg, const char *code, const char *code_verifier,
			    struct rp_tokens *out, struct rp_error *err);
RP_API void rp_tokens_release(struct rp_tokens *tokens); /* wipes, frees, zeroes */

/* Verify an ID token: size, signature against the cached JWKS with the alg
 * the key allows (one JWKS refetch on an unknown kid, rate-limited), iss,
 * aud/azp, exp, iat, nbf with the leeway, sub present, nonce (expected_nonce
 * NULL means the token must carry none), and the minimum acr if one is set.
 * claims may be NULL; otherwise *claims gets the payload (caller decrefs). */
RP_API int rp_verify_id_token(struct rp_config *cfg, const char *token,
			      const char *expected_nonce, json_t **claims,
			      struct rp_error *err);

/* Since 1.6. As rp_verify_id_token, and on RP_OK *signed_token (when
 * signed_token is not NULL; the caller frees) gets the signed ID token: the
 * inner JWS of an encrypted one (OpenID Core 10.2), the token itself
 * otherwise. Keep it for rp_logout_url's id_token_hint: the provider cannot
 * decrypt what it encrypted to the service. NULL on failure. */
RP_API int rp_verify_id_token_jws(struct rp_config *cfg, const char *token,
				  const char *expected_nonce, json_t **claims, char **signed_token,
				  struct rp_error *err);

/* Verify another JWT from the provider (signed userinfo, ...): signature and
 * alg as above, iss and aud when present must be the provider and us, exp,
 * iat and nbf checked when present. */
RP_API int rp_verify_jwt(struct rp_config *cfg, const char *token, json_t **claims,
			 struct rp_error *err);

/* Is acr at least min_acr in the configured levels? For services that ask for
 * a higher level on some pages than the config's minimum. */
RP_API int rp_check_acr(const struct rp_config *cfg, const json_t *claims,
			const char *min_acr, struct rp_error *err);

/* GET the userinfo endpoint with the access token (in the Authorization
 * header). A JSON answer is parsed; an application/jwt answer (FranceConnect)
 * is verified like an ID token minus the nonce: as rp_verify_jwt(), and iss
 * and aud are required (RP_E_ISS, RP_E_AUD when missing). When expected_sub is given (the ID
 * token's sub), the answer's sub must match it (RP_E_SUB). */
RP_API int rp_userinfo(struct rp_config *cfg, const char *access_token,
		       const char *expected_sub, json_t **claims, struct rp_error *err);

/* Since 1.4. Refresh (RFC 6749 6, OpenID Connect Core 12): grant_type=
 * refresh_token at the token endpoint, authenticated as rp_exchange_code.
 * scope NULL keeps the scope granted (a narrower one may be asked; a wider
 * one is refused by the provider). *out gets the new tokens: refresh_token
 * is the rotated one (NULL when the provider kept the old: go on with it;
 * ours rotates at each use and ends the whole grant if an old one is used
 * again, so store the new one before anything else); id_token is NULL when
 * the answer carries none. A new ID token is verified as
 * rp_verify_id_token() without nonce (Core 12.2: a refresh is no
 * authentication request); when expected_sub is given (the first ID
 * token's sub) it must be the same (RP_E_SUB). On any failure *out stays
 * empty. rp_revoke() with hint "refresh_token" ends the grant. */
RP_API int rp_refresh(struct rp_config *cfg, const char *refresh_token, const char *scope,
		      const char *expected_sub, struct rp_tokens *out, struct rp_error *err);

/* Since 1.3. Revoke a token at the provider's revocation_endpoint (RFC
 * 7009), authenticated as at the token endpoint. token_type_hint may be NULL
 * ("access_token", "refresh_token"). RP_OK when the provider answered 200,
 * which it also does for a token it did not know (or one issued to another
 * client, left as it is). */
RP_API int rp_revoke(struct rp_config *cfg, const char *token, const char *token_type_hint,
		     struct rp_error *err);

/* Since 1.3. For data providers (a client with "role": "data_provider" at our
 * provider): what the provider says of an access token a service presented
 * (RFC 7662). */
struct rp_introspection {
	bool active;
	char *scope;        /* the token's scopes this data provider serves; NULL when inactive */
	char *client_id;    /* the service the token was issued to */
	char *sub;          /* the citizen, pairwise for this data provider's sector */
	long long exp, iat; /* 0 when not said */
	/* Since 1.4: the identity pivot (given_name, family_name, birthdate,
	 * gender, birthplace, birthcountry: those given, as strings) when the
	 * provider gave it (our provider: to a data provider serving
	 * identite_pivot, for a token granted it); NULL otherwise. */
	json_t *pivot;
};
/* Asks the provider's introspection_endpoint (authenticated as at the token
 * endpoint) and fills *out (rp_introspection_release() it); an inactive
 * token is RP_OK with out->active false. Active answers are cached, keyed
 * by the token's SHA-256, until the token's exp or the cache's maximum age,
 * whichever comes first: a token revoked meanwhile stays active here that
 * long at most (rp_config_set_introspection_cache). */
RP_API int rp_introspect(struct rp_config *cfg, const char *token, struct rp_introspection *out,
			 struct rp_error *err);
RP_API void rp_introspection_release(struct rp_introspection *r); /* frees, zeroes */
/* The cache of rp_introspect: max_age seconds (0 to 3600, default 30; 0:
 * no cache), entries 1 to 65536 (default 1024; when full, the answer
 * closest to its end gives way). Empties the cache. */
RP_API int rp_config_set_introspection_cache(struct rp_config *cfg, int max_age, int entries);
/* Whether the space-separated scope holds word exactly (NULL scope: false). */
RP_API bool rp_scope_has(const char *scope, const char *word);

/* Since 1.5. OpenID Back-Channel Logout 1.0: verify the logout_token the
 * provider POSTed to this service's backchannel_logout_uri. Checks, in
 * order: size, typ "logout+jwt" when the header has a typ, the signature
 * against the JWKS (as rp_verify_id_token), iss, aud (this client), exp and
 * iat (with the leeway; iat at most RP_LOGOUT_MAX_AGE old), no nonce
 * (RP_E_NONCE), an "events" object holding
 * "http://schemas.openid.net/event/backchannel-logout" as an object, a sid or
 * a sub, a jti; then the jti is remembered (RP_E_REPLAY if it already was:
 * the cache holds RP_LOGOUT_JTI_MAX entries, each until its token is too old
 * to be accepted; when full, the oldest gives way). Other failures are
 * RP_E_MALFORMED. On RP_OK, *claims (when claims is not NULL) gets the
 * payload: end the sessions whose "sid" (or, without one, "sub") it names,
 * then answer 200. */
#define RP_LOGOUT_MAX_AGE 600
#define RP_LOGOUT_JTI_MAX 4096
RP_API int rp_verify_logout_token(struct rp_config *cfg, const char *token, json_t **claims,
				  struct rp_error *err);

/* Since 1.5. A receipt the citizen downloaded from the provider's /account
 * page (a JWS of typ "receipt+jwt": iss, sub, service, release, categories,
 * data_provider, iat, jti, sha256 of what was released): its signature
 * against the provider's JWKS (as rp_verify_jwt), its typ and members.
 * *claims (may be NULL) gets the payload (the caller decrefs). */
RP_API int rp_verify_receipt(struct rp_config *cfg, const char *receipt, json_t **claims,
			     struct rp_error *err);

/* RP-initiated logout URL (end_session_endpoint): id_token_hint, and when
 * given post_logout_redirect_uri and state; client_id is always sent. */
RP_API int rp_logout_url(struct rp_config *cfg, const char *id_token_hint,
			 const char *post_logout_redirect_uri, const char *state,
			 char **url, struct rp_error *err);

#ifdef __cplusplus
}
#endif

#endif
