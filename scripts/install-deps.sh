#!/usr/bin/env bash
# Installs every Debian 12 package that zsa's build, tests and demo need.
# Idempotent: prints nothing and exits 0 when everything is already present.
# Needs root or sudo. ZSA_NO_INSTALL=1 turns it into a check that lists what is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential pkg-config
  # libraries
  libhiredis-dev libwebsockets-dev libwebsockets-evlib-uv libuv1-dev libevent-dev
  libmsgpack-dev libjson-c-dev libtiff-dev libpng-dev libssl-dev zlib1g-dev
  # tests and tools
  libcriterion-dev redis-server redis-tools clang-format cppcheck python3
  # the Redis scripts' syntax check (Redis runs Lua 5.1)
  lua5.1
  # access control and TLS tests: curl as a client, openssl to make test certificates
  curl openssl
  # the analysis oracle test: scipy, scikit-image, numpy, tifffile
  python3-scipy python3-skimage python3-numpy python3-tifffile
  # the preview test decodes PNGs with an independent decoder
  python3-pil
  # the deployment tests: nginx in front of two gateways, docker-compose config (no engine)
  nginx-light docker-compose
  # the dashboard test: a real headless browser
  chromium
  # fuzzing: clang with libFuzzer and its sanitizer runtimes
  clang libclang-rt-14-dev
)

missing=()
# the independent-client tests (tests/node): Node.js and npm. A machine that already has them from
# elsewhere (NodeSource) keeps its own: Debian's npm would conflict with that nodejs.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${ZSA_NO_INSTALL:-0}" = 1 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  # The package lists may be stale or absent on a fresh machine: refresh once and retry.
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# redis-server's package starts a system instance on 6379; zsa never uses it.
echo "install-deps: done" >&2
