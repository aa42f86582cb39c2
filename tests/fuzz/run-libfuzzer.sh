#!/bin/sh
# make fuzz: builds each tests/fuzz/fuzz_*.c with clang's libFuzzer and runs
# it for FUZZ_SECONDS (default 60) from its corpus. New inputs stay in
# build-fuzz/corpus; copy the interesting ones into tests/fuzz/corpus/.
# FUZZ_TARGETS="request" runs only the named targets; FUZZ_ARGS adds libFuzzer
# options (-jobs=2, -detect_leaks=0 ...).
set -e
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
PKGS="libmicrohttpd jansson hiredis openssl libcurl libargon2"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all"
mkdir -p build-fuzz
SRC="$(ls idp/*.c idp/*/*.c | grep -v -e idp/main.c -e idp/ctl/) $(ls common/*.c)"
# The request target starts the daemon in-process: it loads the file
# backend's plugin, built here with the same sanitizers and coverage (the
# sanitizer runtimes are the fuzzer binary's).
mkdir -p build-fuzz/plugins/file
clang -std=c11 -D_GNU_SOURCE -g -O1 -fPIC -shared -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -Iplugins \
	$(pkg-config --cflags jansson libargon2 openssl) -o build-fuzz/plugins/file/file.so plugins/file/*.c \
	$(pkg-config --libs jansson libargon2 openssl)
for t in tests/fuzz/fuzz_*.c; do
	n=$(basename "$t" .c)
	name=${n#fuzz_}
	if [ -n "${FUZZ_TARGETS:-}" ]; then
		case " $FUZZ_TARGETS " in *" $name "*) ;; *) continue ;; esac
	fi
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer $SAN -Iidp -Iidp/net -Iidp/oidc -Iidp/store -Iidp/keys -Iidp/base -Icommon -Iplugins \
		$(pkg-config --cflags $PKGS) -o "build-fuzz/$n" "$t" $SRC $(pkg-config --libs $PKGS) -ldl -lpthread
	mkdir -p "build-fuzz/corpus/$name"
	opts="-max_len=4096"
	# An assertion is refused past 8 KiB: room for the oversized ones.
	[ "$name" = client_assertion ] && opts="-max_len=12288"
	if [ "$name" = request ]; then
		# Whole requests: room for the oversized ones (the limits are 8 KiB
		# of URL and 64 KiB of body), the dictionary of the endpoints, and
		# a per-input bound above the target's own (IDP_FUZZ_TIMEOUT_MS).
		opts="-max_len=70000 -timeout=30 -dict=tests/fuzz/request.dict"
		export IDP_FUZZ_PLUGIN_DIR=build-fuzz/plugins
	fi
	# shellcheck disable=SC2086
	"build-fuzz/$n" -max_total_time="$SECONDS_EACH" -artifact_prefix=build-fuzz/ $opts ${FUZZ_ARGS:-} \
		"build-fuzz/corpus/$name" "tests/fuzz/corpus/$name"
done
