# make          builds idp/idp, idp/idpctl, the plugins and librp (hardened)
# make run      installs what is missing, builds, starts the demo on 127.0.0.1:8080
# make test     builds everything with AddressSanitizer + UBSan and runs every test
# make bench    measures (not part of make test)
# make fuzz     runs the libFuzzer targets for a bounded time (clang)
# make install  installs under PREFIX (/usr/local) and DESTDIR, see the install part below

PKGS := libmicrohttpd jansson hiredis openssl libcurl libargon2

WARN   := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
          -Wwrite-strings -Wvla -Wimplicit-fallthrough -Wnull-dereference -Wundef
HARDEN := -O2 -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection
SANF   := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

ifeq ($(SAN),1)
OUT    := build-san
OPT    := $(SANF) -Werror
LDOPT  := -fsanitize=address,undefined
else
OUT    := .
OPT    := $(HARDEN)
LDOPT  := -pie -Wl,-z,relro,-z,now
endif
OBJ := $(if $(filter .,$(OUT)),build,$(OUT)/obj)

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
# The daemon's layers, one folder each (ARCHITECTURE.md); headers are named
# without their folder.
IDP_DIRS := idp idp/net idp/oidc idp/store idp/keys idp/base
IDP_INC  := $(addprefix -I,$(IDP_DIRS))
CFLAGS  ?=
CFLAGS  += -std=c11 -D_GNU_SOURCE -g -fPIC -fvisibility=hidden $(WARN) $(OPT) -MMD -MP $(IDP_INC) -Icommon -Iplugins
LDLIBS  += -ldl -lpthread

CORE_SRC := $(filter-out idp/main.c,$(wildcard $(addsuffix /*.c,$(IDP_DIRS)))) $(wildcard common/*.c)
CORE_OBJ := $(CORE_SRC:%.c=$(OBJ)/%.o)
IDP      := $(OUT)/idp/idp
IDPCTL   := $(OUT)/idp/idpctl
# idpctl: one file per command group (idp/ctl/), linked with the core.
CTL_OBJ  := $(patsubst %.c,$(OBJ)/%.o,$(wildcard idp/ctl/*.c))
# users totp-enrol: the secret's base32 (liboath) and its QR code (libqrencode).
CTL_LIBS  = $(shell pkg-config --libs liboath libqrencode)
PLUGINS  := $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c))))
PLUGIN_SO := $(foreach p,$(sort $(PLUGINS)),$(OUT)/plugins/$(p)/$(p).so)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(OUT)/tests/%)

.PHONY: all run test bench bench-instructions fuzz deps clean install unit integration fuzz-replay
all: $(IDP) $(IDPCTL) $(PLUGIN_SO)

# Extra flags and libraries per plugin (plugins/NAME/plugin.mk sets
# PLUGIN_CFLAGS_NAME and PLUGIN_LIBS_NAME).
-include $(wildcard plugins/*/plugin.mk)
# The relying-party library and its demo services.
-include rp/rp.mk

$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# pkcs11.c uses OpenSSL's ENGINE API, deprecated in OpenSSL 3.0 but the only
# way to libp11's engine on Debian 12 (no PKCS#11 provider): for that file alone.
$(OBJ)/idp/keys/pkcs11.o: CFLAGS += -Wno-deprecated-declarations

$(OBJ)/libidpcore.a: $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(IDP): $(OBJ)/idp/main.o $(OBJ)/libidpcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDOPT) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(PKG_LIBS) $(LDLIBS)

$(IDPCTL): $(CTL_OBJ) $(OBJ)/libidpcore.a
	@mkdir -p $(dir $@)
	$(CC) $(LDOPT) $(LDFLAGS) -o $@ $(filter %.o %.a,$^) $(PKG_LIBS) $(CTL_LIBS) $(LDLIBS)

$(OUT)/plugins/%.so:
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) $(PLUGIN_CFLAGS_$(notdir $(basename $@))) $(LDFLAGS) -shared -o $@ \
		$(wildcard plugins/$(notdir $(basename $@))/*.c) \
		$(if $(filter build-san,$(OUT)),-fsanitize=address$(,)undefined) \
		$(shell pkg-config --libs jansson libargon2 openssl) $(PLUGIN_LIBS_$(notdir $(basename $@)))
$(foreach p,$(PLUGINS),$(eval $(OUT)/plugins/$(p)/$(p).so: $(wildcard plugins/$(p)/*.c) plugins/idp_plugin.h))
, := ,

# What the unit tests share (tests/unit/check_main.c: main(); fiber_jobs.c) in
# an archive after the test: the linker takes from it only what the test
# lacks, so a test with a main() of its own keeps it.
UNIT_LIB_SRC := tests/unit/check_main.c tests/unit/fiber_jobs.c
$(OBJ)/tests/libunit.a: $(UNIT_LIB_SRC) $(UNIT_LIB_SRC:.c=.h)
	@mkdir -p $(dir $@)
	rm -f $@
	for s in $(UNIT_LIB_SRC); do \
		$(CC) $(CFLAGS) $(PKG_CFLAGS) $(shell pkg-config --cflags check) -c $$s -o $(dir $@)$$(basename $$s .c).o || exit 1; \
	done
	$(AR) rcs $@ $(patsubst tests/unit/%.c,$(dir $@)%.o,$(UNIT_LIB_SRC))

$(OUT)/tests/test_%: tests/unit/test_%.c $(OBJ)/tests/libunit.a $(OBJ)/libidpcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDOPT) -o $@ $(filter %.c %.a,$^) $(PKG_LIBS) $(shell pkg-config --cflags --libs check) $(LDLIBS)

# Fuzz targets: under gcc they are built with a replay main() that runs the corpus.
$(OUT)/tests/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(OBJ)/libidpcore.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) $(LDOPT) -o $@ $(filter %.c %.a,$^) $(PKG_LIBS) $(LDLIBS)

deps:
	@sh scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/run-demo.sh

# Every test, under AddressSanitizer and UBSan. The build on every core
# unless -j was given (make test is mostly run as is, by CI too).
test: deps
	@$(MAKE) --no-print-directory $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc)) SAN=1 all test-bins
	@sh tests/run-all.sh build-san

test-bins: $(UNIT_BIN) $(FUZZ_BIN) $(RP_TEST_BINS) $(OUT)/tests/rotation_load

# The key-rotation load driver, a librp client (tests/integration/t_rotation.sh).
$(OUT)/tests/rotation_load: tests/integration/rotation_load.c $(OUT)/rp/librp.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Irp/include $(shell pkg-config --cflags jansson libcurl) $(LDOPT) -o $@ $< \
		$(OUT)/rp/librp.a $(shell pkg-config --libs jansson libcurl openssl) -lpthread

bench: deps
	@$(MAKE) --no-print-directory all
	@sh bench/run.sh

# Instructions per request under valgrind (bench/instructions.sh): this
# tree, or the built trees in IR_TREES (the first is the reference).
bench-instructions:
	@$(MAKE) --no-print-directory all
	@sh bench/instructions.sh $(IR_TREES)

fuzz:
	@sh tests/fuzz/run-libfuzzer.sh

clean:
	rm -rf build build-san build-vg idp/idp idp/idpctl plugins/*/*.so

# ---- make install: PREFIX, DESTDIR and the directories below may be set ----
# The configuration goes to /etc whatever the prefix (the unit names it);
# an existing one is never overwritten. The example configuration is written
# with this prefix's plugin and template folders; librp installs itself
# (rp-install, in rp/rp.mk).
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
IDP_LIBDIR  ?= $(PREFIX)/lib/idp
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
SYSCONFDIR  ?= /etc
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
IDP_CONF    := $(DESTDIR)$(SYSCONFDIR)/idp/idp.json

install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(DATADIR)/idp/templates \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(SYSCONFDIR)/idp \
		$(DESTDIR)$(DATADIR)/doc/idp $(addprefix $(DESTDIR)$(MANDIR)/man,3 5 8)
	install -m 755 $(IDP) $(IDPCTL) $(DESTDIR)$(SBINDIR)/
	$(foreach p,$(sort $(PLUGINS)),install -D -m 644 $(OUT)/plugins/$(p)/$(p).so \
		$(DESTDIR)$(IDP_LIBDIR)/plugins/$(p)/$(p).so &&) true
	cp -R templates/. $(DESTDIR)$(DATADIR)/idp/templates/
	chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)/idp/templates
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		packaging/idp.service.in >$(DESTDIR)$(UNITDIR)/idp.service
	chmod 644 $(DESTDIR)$(UNITDIR)/idp.service
	install -m 644 packaging/idp.sysusers $(DESTDIR)$(SYSUSERSDIR)/idp.conf
	sed -e 's|"/usr/share/idp/templates"|"$(DATADIR)/idp/templates"|' \
	    -e 's|"/usr/lib/idp/plugins"|"$(IDP_LIBDIR)/plugins"|' \
		conf/production.example.json >$(DESTDIR)$(DATADIR)/doc/idp/idp.json.example
	chmod 644 $(DESTDIR)$(DATADIR)/doc/idp/idp.json.example
	@if [ -e $(IDP_CONF) ]; then echo "install: kept the existing $(IDP_CONF)"; \
	else install -m 640 $(DESTDIR)$(DATADIR)/doc/idp/idp.json.example $(IDP_CONF); fi
	install -m 644 man/idp.8 man/idpctl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 644 man/idp.json.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/librp.3 $(DESTDIR)$(MANDIR)/man3/

-include $(shell find build build-san build-vg -name '*.d' 2>/dev/null)
