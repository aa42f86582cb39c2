#!/bin/sh
# WCAG 2.1 AA on every page, French and English, with axe-core in Debian's
# headless chromium driven by playwright-core (tests/browser/a11y.js), and a
# keyboard-only login. The npm packages are those of tests/node (exact
# versions, package-lock.json); installed here with npm ci when missing.
# Anything missing fails loudly: this test never skips.
. "$(dirname "$0")/lib.sh"
browser_needs
setup_tmp
start_idp memory
# a11y.js bounds each wait (10 s) and its whole run (150 s).
browser_run a11y.js 200 "$IDP" "$TMP"
done_tests
