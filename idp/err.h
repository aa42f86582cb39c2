/* SPDX-License-Identifier: EUPL-1.2 */
/* Error codes shared by the daemon, idpctl and the plugins. */
#ifndef IDP_ERR_H
#define IDP_ERR_H

enum idp_err {
	IDP_OK = 0,
	IDP_ENOMEM = -1,   /* allocation failed */
	IDP_EINVAL = -2,   /* malformed input or configuration */
	IDP_ENOTFOUND = -3,/* no such record, user, client, key */
	IDP_EDENIED = -4,  /* authentication or verification refused */
	IDP_ETOOBIG = -5,  /* input past its limit */
	IDP_EIO = -6,      /* file or network error */
	IDP_ESTORE = -7,   /* the store could not answer */
	IDP_EEXIST = -8,   /* already exists */
	IDP_EUNAVAIL = -9, /* a backend is down or timed out */
	IDP_ELIMIT = -10,  /* a rate limit is reached */
};

const char *idp_strerror(int code);

#endif
