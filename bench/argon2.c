/* SPDX-License-Identifier: EUPL-1.2 */
/* argon2: the raw argon2id rate beside the password login, and the users
 * files of the bench, with libargon2 (the library the file backend uses).
 *
 *   argon2 rate T M_KIB P SECONDS [--library]
 *       verifies one password against an argon2id hash with those
 *       parameters, repeatedly, on this thread for SECONDS, the way the
 *       daemon does (pwhash_verify: libargon2 with the hash's memory kept
 *       between hashes), or with libargon2's own argon2id_verify (memory
 *       mapped and unmapped each time) with --library. libargon2 runs the P
 *       lanes on P threads either way. Prints hashes per CPU second (rate,
 *       the way openssl speed counts) and per wall second.
 *   argon2 users FILE PASSWORD NAME:T:M_KIB:P [NAME:T:M_KIB:P ...] [--bulk PREFIX N T M_KIB P]
 *       writes a users file for the "file" backend: each NAME with its own
 *       argon2id parameters and a fresh salt; --bulk adds N users PREFIX00000...
 *       The claims are a demo citizen's. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <argon2.h>
#include <openssl/rand.h>

#include "pwhash.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int hash(const char *pw, unsigned t, unsigned m, unsigned p, char *out, size_t cap)
{
	unsigned char salt[16];

	RAND_bytes(salt, sizeof(salt));
	return argon2id_hash_encoded(t, m, p, pw, strlen(pw), salt, sizeof(salt), 32, out, cap);
}

/* CPU seconds of this process, every thread (libargon2's lanes) included. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* rate: hashes per CPU second, as openssl speed counts (another process on
 * the core cannot lower it); wall_rate: per second of the clock. */
static int rate(unsigned t, unsigned m, unsigned p, double secs, bool library)
{
	char enc[256];
	const char *pw = "Bench-password-2026!";
	long n = 0;
	double t0, c0, el, cpu;

	if (hash(pw, t, m, p, enc, sizeof(enc)) != ARGON2_OK)
		return 1;
	/* One untimed, as the daemon's first login: the kept memory is faulted in. */
	if ((library ? argon2id_verify(enc, pw, strlen(pw)) : pwhash_verify(enc, pw, strlen(pw))) != ARGON2_OK)
		return 1;
	t0 = now_s();
	c0 = cpu_s();
	do {
		if ((library ? argon2id_verify(enc, pw, strlen(pw)) : pwhash_verify(enc, pw, strlen(pw))) != ARGON2_OK)
			return 1;
		n++;
		el = now_s() - t0;
	} while (el < secs);
	cpu = cpu_s() - c0;
	printf("RESULT argon2id path=%s t=%u m_kib=%u p=%u hashes=%ld seconds=%.3f cpu_seconds=%.3f rate=%.2f wall_rate=%.2f\n",
	       library ? "library" : "daemon", t, m, p, n, el, cpu, cpu > 0 ? (double)n / cpu : 0, (double)n / el);
	return 0;
}

static void user(FILE *f, bool *first, const char *name, const char *pw, unsigned t, unsigned m, unsigned p)
{
	char enc[256];

	if (hash(pw, t, m, p, enc, sizeof(enc)) != ARGON2_OK) {
		fprintf(stderr, "argon2: hash failed for %s\n", name);
		exit(1);
	}
	fprintf(f, "%s\n  \"%s\": {\"password\": \"%s\", \"subject\": \"sub-%s\", \"claims\": "
		   "{\"given_name\": \"Marianne\", \"family_name\": \"Dupont\", \"birthdate\": \"1990-07-14\", "
		   "\"gender\": \"female\", \"birthplace\": \"75056\", \"birthcountry\": \"99100\", "
		   "\"email\": \"marianne.dupont@example.fr\", \"email_verified\": true}}",
		*first ? "" : ",", name, enc, name);
	*first = false;
}

int main(int argc, char **argv)
{
	if ((argc == 6 || (argc == 7 && strcmp(argv[6], "--library") == 0)) && strcmp(argv[1], "rate") == 0)
		return rate((unsigned)atoi(argv[2]), (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]), atof(argv[5]),
			    argc == 7);
	if (argc >= 4 && strcmp(argv[1], "users") == 0) {
		FILE *f = fopen(argv[2], "w");
		const char *pw = argv[3];
		bool first = true;

		if (f == NULL)
			return 1;
		fprintf(f, "{\"users\": {");
		for (int i = 4; i < argc; i++) {
			char name[64];
			unsigned t, m, p;

			if (strcmp(argv[i], "--bulk") == 0 && i + 5 < argc) {
				long n = atol(argv[i + 2]);

				t = (unsigned)atoi(argv[i + 3]);
				m = (unsigned)atoi(argv[i + 4]);
				p = (unsigned)atoi(argv[i + 5]);
				for (long k = 0; k < n; k++) {
					snprintf(name, sizeof(name), "%s%05ld", argv[i + 1], k);
					user(f, &first, name, pw, t, m, p);
				}
				i += 5;
				continue;
			}
			if (sscanf(argv[i], "%63[^:]:%u:%u:%u", name, &t, &m, &p) != 4) {
				fprintf(stderr, "argon2: bad user spec %s\n", argv[i]);
				return 2;
			}
			user(f, &first, name, pw, t, m, p);
		}
		fprintf(f, "\n}}\n");
		return fclose(f) == 0 ? 0 : 1;
	}
	fprintf(stderr, "usage: argon2 rate T M_KIB P SECONDS [--library] | argon2 users FILE PASSWORD NAME:T:M:P ... "
			"[--bulk PREFIX N T M P]\n");
	return 2;
}
