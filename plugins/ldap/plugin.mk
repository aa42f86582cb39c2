# The ldap backend links OpenLDAP's client library (libldap 2.5 is thread-safe).
PLUGIN_LIBS_ldap := -lldap -llber
