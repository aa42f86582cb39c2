#!/bin/sh
# make run: starts the provider on the demo configuration (memory store).
set -e
cd "$(dirname "$0")/.."
sh scripts/demo-setup.sh .
cat <<TXT

  Provider (issuer):   http://127.0.0.1:8080
  Discovery:           http://127.0.0.1:8080/.well-known/openid-configuration
  Demo clients:        demo-portal   / demo-portal-secret   -> http://127.0.0.1:8081/callback
                       demo-portal-2 / demo-portal-2-secret -> http://127.0.0.1:8082/callback
  Demo citizen:        marianne / Marianne-2026!

  Stop with Ctrl-C. The README walks through one login with curl.

TXT
exec ./idp/idp --config conf/demo.json
