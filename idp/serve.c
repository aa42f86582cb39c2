/* SPDX-License-Identifier: EUPL-1.2 */
/* Serving start-up shared by the daemon (main.c) and the request fuzzer
 * (tests/fuzz/fuzz_request.c), so that the fuzzer runs the daemon's own
 * path: store, CSRF key, HTTP loops, the metrics listener. */
#include "idp.h"
#include "audit.h"
#include "backchannel.h"
#include "ledger.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

/* The CSRF key is shared by every node through the store: a form served by
 * one node may be posted to another. */
static int csrf_key_init(void)
{
	unsigned char k[32];
	char *hex = NULL, *val = NULL;
	size_t len;
	int rc;

	if (RAND_bytes(k, sizeof(k)) != 1)
		return IDP_EINVAL;
	hex = b64url_encode(k, sizeof(k));
	wipe(k, sizeof(k));
	rc = store_add(&g_idp.store, "csrf-key", hex, strlen(hex), 10u * 365 * 86400);
	free_secret(hex);
	if (rc != IDP_OK && rc != IDP_EEXIST)
		return rc;
	if ((rc = store_get(&g_idp.store, "csrf-key", &val, &len)) != IDP_OK)
		return rc;
	/* Whatever its text, hash it down to the key. */
	sha256(val, len, g_idp.csrf_key);
	free_secret(val);
	return IDP_OK;
}

/* The audit chain's checkpoints, signed with the active key. */
static int audit_sign(const char *payload, size_t len, char **jws)
{
	return provider_sign("audit-checkpoint+jwt", payload, len, jws);
}

int idp_serve_start(int port_override, const char *port_file)
{
	const struct config *cfg = g_idp.rt->cfg;
	int rc;

	if ((rc = audit_open(cfg)) != IDP_OK)
		return rc;
	audit_set_signer(audit_sign);
	if ((rc = store_open(cfg->store, &g_idp.store)) != IDP_OK) {
		audit_close();
		goto fail;
	}
	if ((rc = csrf_key_init()) != IDP_OK) {
		store_close(&g_idp.store);
		audit_close();
		goto fail;
	}
	if ((rc = http_start(cfg, port_override, port_file)) != IDP_OK) {
		store_close(&g_idp.store);
		audit_close();
		return rc;
	}
	if ((rc = metrics_start(cfg)) != IDP_OK) {
		http_stop();
		store_close(&g_idp.store);
		audit_close();
	}
	return rc;
fail:
	idp_log(LOG_ERR, "idp_serve_start: the store could not be opened (%s)", idp_strerror(rc));
	return rc;
}

void idp_serve_stop(void)
{
	metrics_stop();
	http_stop();
	/* After the loops: the prober may be waiting on the store for a
	 * heartbeat, which must not hold new requests off their 503. */
	health_stop();
	backchannel_stop();
	store_close(&g_idp.store);
	audit_close();
}
