#!/usr/bin/env bash
# Checks that the runtime stage of the Dockerfile ("AS zsa") installs the Debian package of every
# shared library the built binaries link directly (readelf NEEDED), so a new dependency cannot be
# forgotten in the image. Usage: scripts/check-image-deps.sh [BIN_DIR] (default build/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bin}
listed=$(sed -n '/ AS zsa$/,/^COPY/p' Dockerfile | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' || true)
missing=0
for b in "$bin"/zsa-gateway "$bin"/zsa-worker "$bin"/zsa-scheduler "$bin"/zsa "$bin"/zsa-analyze \
         "$bin"/zsa-synth "$bin"/zsa-proto; do
  for lib in $(readelf -d "$b" | awk '/NEEDED/ {gsub(/[][]/, "", $5); print $5}'); do
    case "$lib" in libc.so.*|libm.so.*|ld-linux*|libasan*|libubsan*|libgcc_s*|libpthread*|libdl*) continue ;; esac
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l && !found {print $NF; found = 1}')
    [ -n "$path" ] || { echo "check-image-deps: $lib ($b) is not a known library" >&2; missing=1; continue; }
    real=$(readlink -f "$path")
    pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "*/$(basename "$real")" 2>/dev/null || true)
    pkg=$(awk -F: 'NR == 1 {print $1}' <<<"$pkg")
    if [ -z "$pkg" ]; then
      echo "check-image-deps: no package owns $real ($lib, $b)" >&2; missing=1
    elif ! grep -qx -- "$pkg" <<<"$listed"; then
      echo "check-image-deps: $b links $lib from $pkg, which the Dockerfile's runtime stage does not install" >&2
      missing=1
    fi
  done
done
exit $missing
