# librp, the relying-party library, and its tests. Included by the top
# Makefile, whose OUT ("." or build-san), OBJ, CFLAGS and LDOPT it uses.
#
#   make                     $(OUT)/rp/librp.so (soname librp.so.1), librp.a, examples/rp-demo
#   make install             rp.h, the libraries, librp.pc under $(DESTDIR)$(PREFIX)
#   make SAN=1 test-bins     the C tests, under ASan + UBSan, run by tests/rp/run.sh
#   make rp-bench            verify rates beside `openssl speed` (tests/rp/bench.sh)

RP_VERSION := 1.6.0
RP_PKGS    := jansson libcurl openssl
RP_SRC     := $(wildcard rp/*.c)
RP_OBJ     := $(RP_SRC:%.c=$(OBJ)/%.o) $(patsubst %.c,$(OBJ)/%.o,$(wildcard common/*.c))
RP_HDR     := rp/include/rp.h rp/rp_int.h $(wildcard common/*.h)
RP_SO      := $(OUT)/rp/librp.so
RP_A       := $(OUT)/rp/librp.a
# Every object as is, internal rp_* names global: for the tests and the
# benchmark, which call the scanner and decoder directly. Never installed.
RP_A_INT   := $(OBJ)/rp/librp-internal.a
OBJCOPY    ?= objcopy
RP_DEMO    := $(OUT)/rp/examples/rp-demo
RP_DP_DEMO := $(OUT)/rp/examples/dp-demo
RP_CFLAGS   = $(shell pkg-config --cflags $(RP_PKGS)) -Irp/include -Irp -Icommon
RP_LIBS     = $(shell pkg-config --libs $(RP_PKGS)) -lpthread
# -pie is for executables; -z defs (no undefined symbol left) cannot hold
# when the sanitizers' runtime is resolved at load time.
RP_SOFLAGS  = -shared -Wl,-soname,librp.so.1 -Wl,--version-script=rp/librp.map \
	      $(filter-out -pie,$(LDOPT)) $(if $(filter build-san,$(OUT)),,-Wl,-z,defs)

PREFIX     ?= /usr/local
RP_LIBDIR  ?= $(PREFIX)/lib
RP_INCDIR  ?= $(PREFIX)/include
# librp.pc names its directories from ${prefix} when they lie under it, so
# the file stays right when the tree is moved (pkg-config --define-prefix)
# or relocated under a sysroot.
RP_PC_LIBDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(RP_LIBDIR))
RP_PC_INCDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(RP_INCDIR))

.PHONY: rp-install rp-clean rp-bench
all: $(RP_SO) $(RP_A) $(RP_DEMO) $(RP_DP_DEMO)
install: rp-install
clean: rp-clean

$(OBJ)/rp/%.o: rp/%.c $(RP_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(RP_CFLAGS) -c $< -o $@

$(RP_SO): $(RP_OBJ) rp/librp.map
	@mkdir -p $(dir $@)
	$(CC) $(RP_SOFLAGS) $(LDFLAGS) -o $@ $(RP_OBJ) $(RP_LIBS)
	ln -sf librp.so $(OUT)/rp/librp.so.1

# The installed static library: one relocatable object whose hidden
# symbols (everything but the RP_API calls) are made local, so a program
# linking librp.a statically cannot clash with, or reach, librp's internal
# rp_* names (the shared library gets the same from its version script).
$(RP_A): $(RP_OBJ) rp/rp.mk
	@mkdir -p $(dir $@) $(OBJ)/rp
	rm -f $@
	$(LD) -r -o $(OBJ)/rp/librp-all.o $(RP_OBJ)
	$(OBJCOPY) --localize-hidden $(OBJ)/rp/librp-all.o $(OBJ)/rp/librp.o
	$(AR) rcs $@ $(OBJ)/rp/librp.o

$(RP_A_INT): $(RP_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# The demo portal (two instances make the single sign-on demo of make run).
$(RP_DEMO): rp/examples/demo.c rp/include/rp.h $(RP_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libmicrohttpd jansson openssl) -Irp/include \
		$(LDOPT) -o $@ $< $(RP_A) $(shell pkg-config --libs libmicrohttpd) $(RP_LIBS)

# The demo data provider (make run: the family allowance office on :8083).
$(RP_DP_DEMO): rp/examples/dp-demo.c rp/include/rp.h $(RP_A)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags libmicrohttpd jansson) -Irp/include \
		$(LDOPT) -o $@ $< $(RP_A) $(shell pkg-config --libs libmicrohttpd) $(RP_LIBS)

rp-install: $(RP_SO) $(RP_A)
	install -d $(DESTDIR)$(RP_LIBDIR)/pkgconfig $(DESTDIR)$(RP_INCDIR)
	install -m 644 rp/include/rp.h $(DESTDIR)$(RP_INCDIR)/rp.h
	install -m 755 $(RP_SO) $(DESTDIR)$(RP_LIBDIR)/librp.so.$(RP_VERSION)
	ln -sf librp.so.$(RP_VERSION) $(DESTDIR)$(RP_LIBDIR)/librp.so.1
	ln -sf librp.so.1 $(DESTDIR)$(RP_LIBDIR)/librp.so
	install -m 644 $(RP_A) $(DESTDIR)$(RP_LIBDIR)/librp.a
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(RP_PC_LIBDIR)|g' \
	    -e 's|@INCLUDEDIR@|$(RP_PC_INCDIR)|g' -e 's|@VERSION@|$(RP_VERSION)|g' \
	    rp/librp.pc.in >$(DESTDIR)$(RP_LIBDIR)/pkgconfig/librp.pc
	chmod 644 $(DESTDIR)$(RP_LIBDIR)/pkgconfig/librp.pc

rp-clean:
	rm -f rp/librp.so rp/librp.so.1 rp/librp.a rp/examples/rp-demo rp/examples/rp-demo.d \
	      rp/examples/dp-demo rp/examples/dp-demo.d \
	      $(addprefix tests/rp/,rp_unit rp_interop rp_example rp_bench readme_example.c) \
	      $(addprefix tests/rp/,dp_example dp_example.c dp_example.d) \
	      $(addprefix tests/rp/,rp_unit.d rp_interop.d rp_example.d rp_bench.d)

# ---- tests ----
RP_TEST_PKGS  := check libmicrohttpd jansson libcurl openssl cjose
RP_TEST_CFLAGS = $(shell pkg-config --cflags $(RP_TEST_PKGS)) -Irp/include -Irp -Itests/rp
RP_TEST_LIBS   = $(shell pkg-config --libs $(RP_TEST_PKGS)) -lpthread
RP_TEST_COMMON := tests/rp/tokens.c tests/rp/mockop.c tests/rp/tokens.h tests/rp/mockop.h
RP_TEST_BINS  := $(OUT)/tests/rp/rp_unit $(OUT)/tests/rp/rp_interop $(OUT)/tests/rp/rp_example \
		 $(OUT)/tests/rp/dp_example $(RP_DEMO) $(RP_DP_DEMO)

# Unit and refusal tests: linked with the objects (librp-internal.a), so they
# can also reach the internal scanner and decoder.
$(OUT)/tests/rp/rp_unit: tests/rp/unit.c $(RP_TEST_COMMON) $(RP_A_INT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RP_TEST_CFLAGS) $(LDOPT) -o $@ tests/rp/unit.c \
		$(filter %.c,$(RP_TEST_COMMON)) $(RP_A_INT) $(RP_TEST_LIBS)

# Interoperability driver: linked with the shared library, as a service would.
$(OUT)/tests/rp/rp_interop: tests/rp/interop.c $(RP_SO)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RP_TEST_CFLAGS) $(LDOPT) -o $@ tests/rp/interop.c \
		-L$(OUT)/rp -l:librp.so -Wl,-rpath,'$$ORIGIN/../../rp' $(RP_TEST_LIBS)

# The README's "Integrate a service" example, cut out of the README so the
# two cannot drift apart, built with the strictest flags.
$(OUT)/tests/rp/readme_example.c: README.md
	@mkdir -p $(dir $@)
	awk '/^<!-- rp-example-end -->/ { f = 0 } f && !/^```/ { print } \
	     /^<!-- rp-example-begin -->/ { f = 1 }' $< >$@
	@test -s $@ || { echo "README.md: no example between the markers" >&2; exit 1; }

$(OUT)/tests/rp/rp_example: $(OUT)/tests/rp/readme_example.c $(RP_SO)
	$(CC) $(CFLAGS) -Werror -Irp/include $(shell pkg-config --cflags jansson) $(LDOPT) \
		-o $@ $< -L$(OUT)/rp -l:librp.so -Wl,-rpath,'$$ORIGIN/../../rp' \
		$(shell pkg-config --libs jansson)

# The README's data provider, cut out the same way and built the same way.
$(OUT)/tests/rp/dp_example.c: README.md
	@mkdir -p $(dir $@)
	awk '/^<!-- dp-example-end -->/ { f = 0 } f && !/^```/ { print } \
	     /^<!-- dp-example-begin -->/ { f = 1 }' $< >$@
	@test -s $@ || { echo "README.md: no data provider example between the markers" >&2; exit 1; }

$(OUT)/tests/rp/dp_example: $(OUT)/tests/rp/dp_example.c $(RP_SO)
	$(CC) $(CFLAGS) -Werror -Irp/include $(shell pkg-config --cflags jansson libmicrohttpd) $(LDOPT) \
		-o $@ $< -L$(OUT)/rp -l:librp.so -Wl,-rpath,'$$ORIGIN/../../rp' \
		$(shell pkg-config --libs jansson libmicrohttpd)

# Benchmark (not a test: it asserts nothing, it prints rates).
$(OUT)/tests/rp/rp_bench: tests/rp/bench.c $(RP_TEST_COMMON) $(RP_A_INT)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(RP_TEST_CFLAGS) $(LDOPT) -o $@ \
		tests/rp/bench.c $(filter %.c,$(RP_TEST_COMMON)) $(RP_A_INT) $(RP_TEST_LIBS)

rp-bench: $(OUT)/tests/rp/rp_bench
	@sh tests/rp/bench.sh $(OUT)
