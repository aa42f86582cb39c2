# The file backend checks TOTP codes with liboath (OATH Toolkit).
PLUGIN_LIBS_file := $(shell pkg-config --libs liboath)
PLUGIN_CFLAGS_file := $(shell pkg-config --cflags liboath)
