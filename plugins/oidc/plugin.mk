# The oidc backend is a relying party of an upstream provider, built on librp
# (linked statically: the plugin is dlopen()ed and must find no other file).
PLUGIN_CFLAGS_oidc := -Irp/include
PLUGIN_LIBS_oidc = $(OUT)/rp/librp.a $(shell pkg-config --libs libcurl jansson openssl) -lpthread
$(OUT)/plugins/oidc/oidc.so: $(OUT)/rp/librp.a
