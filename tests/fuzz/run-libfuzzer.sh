#!/bin/sh
# make fuzz: builds each tests/fuzz/fuzz_*.c with clang's libFuzzer and runs
# it for FUZZ_SECONDS (default 60) from its corpus. New inputs stay in
# build-fuzz/corpus; copy the interesting ones into tests/fuzz/corpus/.
set -e
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
command -v clang >/dev/null || { echo "make fuzz needs clang: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
PKGS="libmicrohttpd jansson hiredis openssl libcurl libargon2"
mkdir -p build-fuzz
SRC="$(ls idp/*.c | grep -v -e idp/main.c -e idp/idpctl.c) common/codec.c"
for t in tests/fuzz/fuzz_*.c; do
	n=$(basename "$t" .c)
	clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iidp -Icommon -Iplugins \
		$(pkg-config --cflags $PKGS) -o "build-fuzz/$n" "$t" $SRC $(pkg-config --libs $PKGS) -ldl -lpthread
	mkdir -p "build-fuzz/corpus/${n#fuzz_}"
	"build-fuzz/$n" -max_total_time="$SECONDS_EACH" -max_len=4096 \
		"build-fuzz/corpus/${n#fuzz_}" "tests/fuzz/corpus/${n#fuzz_}"
done
