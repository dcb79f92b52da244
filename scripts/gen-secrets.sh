#!/usr/bin/env bash
# The compose stack's secrets, made once on the Docker host (never committed: deploy/secrets/ is
# in .gitignore): the gateways' token signing key (deploy/secrets/auth-keys, one
# "<kid> <base64url secret>" line, as `zsa keygen` writes it). An existing file is kept: to rotate,
# append a key (`zsa keygen >> deploy/secrets/auth-keys`) and send the gateways SIGHUP
# (docs/SECURITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${ZSA_SECRETS_DIR:-deploy/secrets}
mkdir -p "$dir"
chmod 700 "$dir"
umask 077
b64url() { openssl rand "$1" | base64 -w0 | tr '+/' '-_' | tr -d '='; }
if [ ! -s "$dir/auth-keys" ]; then
  printf 'k-%s-%s %s\n' "$(date -u +%Y%m%d)" "$(b64url 4)" "$(b64url 32)" >"$dir/auth-keys"
  echo "gen-secrets: made $dir/auth-keys"
else
  echo "gen-secrets: $dir/auth-keys exists; kept"
fi
