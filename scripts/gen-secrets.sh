#!/usr/bin/env bash
# The compose stack's secrets, made once on the Docker host (never committed: deploy/secrets/ is
# in .gitignore): the gateways' token signing key (auth-keys, one "<kid> <base64url secret>"
# line, as `zsa keygen` writes it), the Redis password (redis-password), and a self-signed
# certificate for nginx's TLS port (tls.crt, tls.key; CN and SAN from ZSA_TLS_HOST, default
# localhost) to replace with a real one. Existing files are kept: to rotate a signing key, append
# one (`zsa keygen >> deploy/secrets/auth-keys`) and send the gateways SIGHUP (docs/SECURITY.md).
# ZSA_SECRETS_DIR: where (default deploy/secrets).
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
if [ ! -s "$dir/redis-password" ]; then
  b64url 32 >"$dir/redis-password"
  echo "gen-secrets: made $dir/redis-password"
fi
if [ ! -s "$dir/tls.crt" ] || [ ! -s "$dir/tls.key" ]; then
  host=${ZSA_TLS_HOST:-localhost}
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$host" \
    -addext "subjectAltName=DNS:$host,IP:127.0.0.1" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
  echo "gen-secrets: made a self-signed certificate for $host ($dir/tls.crt): replace it with a real one"
fi
