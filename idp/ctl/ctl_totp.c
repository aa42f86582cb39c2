/* SPDX-License-Identifier: EUPL-1.2 */
/* idpctl users totp-enrol, totp-remove: the TOTP second factor (RFC 6238)
 * of an account of a "file" backend. The secret is made here, written to
 * the users file (0600, beside the password hashes) and shown once, as
 * base32, as the otpauth:// URI authenticator apps read, and as a QR code
 * (libqrencode) in an SVG file. */
#include "ctl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liboath/oath.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <qrencode.h>

/* RFC 4226 4 asks 128 bits at least and recommends 160: the length of
 * HMAC-SHA-1's output, which authenticator apps all accept. */
#define SECRET_BYTES 20
/* What the file backend accepts (plugins/file/file.c). */
#define SECRET_MIN_BYTES 16
#define SECRET_MAX_BYTES 64

/* s percent-encoded for a URI's path or query (RFC 3986 unreserved kept). */
static void uri_escape(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    strchr("-._~", c) != NULL)
			buf_add(b, s, 1);
		else
			buf_printf(b, "%%%02X", c);
	}
}

/* The QR code of text as an SVG image, one square per dark module and the
 * quiet zone of four modules the standard asks; mode 0600: it holds the
 * secret. */
static int write_qr_svg(const char *path, const char *text)
{
	QRcode *qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	struct buf svg;
	int fd, rc = 1, w;

	if (qr == NULL)
		return fail("the QR code could not be made");
	w = qr->width + 8;
	buf_init(&svg, 4 * 1024 * 1024);
	buf_printf(&svg, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			 "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
			 "shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"TOTP\">\n"
			 "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"",
		   w, w, w * 8, w * 8, w, w);
	for (int y = 0; y < qr->width; y++)
		for (int x = 0; x < qr->width; x++)
			if (qr->data[y * qr->width + x] & 1)
				buf_printf(&svg, "M%d %dh1v1h-1z", x + 4, y + 4);
	if (buf_adds(&svg, "\"/>\n</svg>\n") != IDP_OK) {
		fail("the QR code is too large");
		goto out;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fchmod(fd, 0600) != 0 || write(fd, svg.p, svg.len) != (ssize_t)svg.len)
		fail("writing %s failed", path);
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
out:
	buf_release(&svg);
	QRcode_free(qr);
	return rc;
}

/* The otpauth:// URI of Google Authenticator's key URI format, which the
 * apps agree on: the label "ISSUER:USER", the secret, the issuer again,
 * and RFC 6238's defaults written out. */
static char *otpauth_uri(const char *issuer, const char *user, const char *b32)
{
	struct buf b;
	char *out = NULL;

	buf_init(&b, 8192);
	buf_adds(&b, "otpauth://totp/");
	uri_escape(&b, issuer);
	buf_adds(&b, ":");
	uri_escape(&b, user);
	buf_printf(&b, "?secret=%s&issuer=", b32);
	uri_escape(&b, issuer);
	if (buf_adds(&b, "&algorithm=SHA1&digits=6&period=30") == IDP_OK)
		out = strndup(b.p, b.len);
	buf_release(&b);
	return out;
}

/* The name apps show for the account: the issuer's host, "idp" without a
 * configuration. */
static char *issuer_name(const struct config *cfg)
{
	const char *h = cfg != NULL ? strstr(cfg->issuer, "://") : NULL;

	if (h == NULL)
		return strdup("idp");
	h += 3;
	return strndup(h, strcspn(h, "/:"));
}

/* --secret-stdin: a secret the citizen's app already holds (moved from
 * another system; the demo's published one), in base32 on stdin, checked
 * as the file backend will: 128 to 512 bits. Upper case, no padding. */
static char *given_secret(size_t *len)
{
	char *in = read_secret("Base32 secret: "), *raw = NULL, *b32 = NULL;
	size_t n = 0, i;

	for (i = 0; in != NULL && in[i] != '\0'; i++)
		if (in[i] >= 'a' && in[i] <= 'z')
			in[i] = (char)(in[i] - 'a' + 'A');
	if (in == NULL || strlen(in) > 2 * SECRET_MAX_BYTES ||
	    oath_base32_decode(in, strlen(in), &raw, &n) != OATH_OK || n < SECRET_MIN_BYTES ||
	    n > SECRET_MAX_BYTES || oath_base32_encode(raw, n, &b32, len) != OATH_OK) {
		fail("the secret on stdin is not base32 of %d to %d bytes", SECRET_MIN_BYTES,
		     SECRET_MAX_BYTES);
		b32 = NULL;
	}
	if (raw != NULL)
		OPENSSL_cleanse(raw, n);
	free(raw);
	free_secret(in);
	return b32;
}

int cmd_totp(int argc, char **argv)
{
	struct config *cfg = NULL;
	char *path = NULL, *b32 = NULL, *uri = NULL, *issuer = NULL;
	unsigned char raw[SECRET_BYTES];
	size_t b32len = 0;
	json_t *root = NULL, *u;
	json_error_t e;
	int rc = 1, oath = -1;
	const char *user;

	if (argc != 2 || (strcmp(argv[0], "totp-enrol") != 0 && strcmp(argv[0], "totp-remove") != 0)) {
		usage(stderr);
		return 2;
	}
	user = argv[1];
	if ((path = users_path(&cfg)) == NULL)
		goto out;
	if ((root = json_load_file(path, JSON_REJECT_DUPLICATES, &e)) == NULL) {
		fprintf(stderr, "idpctl: %s: line %d: %s\n", path, e.line, e.text);
		goto out;
	}
	if ((u = json_object_get(json_object_get(root, "users"), user)) == NULL) {
		fail("no user %s", user);
		goto out;
	}
	if (strcmp(argv[0], "totp-remove") == 0) {
		if (json_object_del(u, "totp") != 0) {
			fail("%s has no TOTP second factor", user);
			goto out;
		}
		if ((rc = write_users(path, root)) == 0)
			printf("removed the TOTP second factor of %s in %s\n", user, path);
		goto out;
	}
	if (json_object_get(u, "totp") != NULL && !opt.force) {
		fail("%s has a TOTP second factor already (--force replaces it)", user);
		goto out;
	}
	if ((oath = oath_init()) != OATH_OK) {
		fail("liboath did not start");
		goto out;
	}
	if (opt.secret_stdin) {
		if ((b32 = given_secret(&b32len)) == NULL)
			goto out;
	} else if (RAND_bytes(raw, sizeof(raw)) != 1 ||
		   oath_base32_encode((const char *)raw, sizeof(raw), &b32, &b32len) != OATH_OK) {
		fail("the secret could not be made");
		goto out;
	}
	if ((issuer = issuer_name(cfg)) == NULL || (uri = otpauth_uri(issuer, user, b32)) == NULL) {
		fail("out of memory");
		goto out;
	}
	/* The QR code first: a citizen is never enrolled with a secret that
	 * was not handed over. */
	if (opt.qr != NULL && (rc = write_qr_svg(opt.qr, uri)) != 0)
		goto out;
	json_object_set_new(u, "totp", json_string(b32));
	if ((rc = write_users(path, root)) != 0)
		goto out;
	printf("TOTP second factor of %s in %s\nsecret: %s\nuri: %s\n", user, path, b32, uri);
	if (opt.qr != NULL)
		printf("qr: %s (it holds the secret: give it to the citizen only, then delete it)\n", opt.qr);
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	if (b32 != NULL)
		OPENSSL_cleanse(b32, b32len);
	free(b32);
	free_secret(uri);
	free(issuer);
	free(path);
	/* The document holds the secret: wiped where jansson allows. */
	if (root != NULL && (u = json_object_get(json_object_get(root, "users"), user)) != NULL &&
	    json_is_string(json_object_get(u, "totp")))
		OPENSSL_cleanse((char *)json_string_value(json_object_get(u, "totp")),
				json_string_length(json_object_get(u, "totp")));
	json_decref(root);
	if (oath == OATH_OK)
		oath_done();
	config_free(cfg);
	return rc;
}
