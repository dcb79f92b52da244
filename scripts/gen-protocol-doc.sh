#!/usr/bin/env bash
# Splices the message reference generated from proto/schema.h (zsa-proto doc) into a Markdown
# file between the markers below. With --check, fails when the file is out of date instead.
# Usage: scripts/gen-protocol-doc.sh [--check] ZSA_PROTO_BINARY FILE
set -euo pipefail
check=0
if [ "${1:-}" = --check ]; then check=1; shift; fi
bin=$1 file=$2
begin='<!-- BEGIN GENERATED: zsa-proto doc (make docs) -->'
end='<!-- END GENERATED -->'
grep -qF "$begin" "$file" && grep -qF "$end" "$file" || {
  echo "gen-protocol-doc: $file lacks the markers $begin / $end" >&2; exit 1; }
gen=$(mktemp) out=$(mktemp)
trap 'rm -f "$gen" "$out"' EXIT
"$bin" doc >"$gen"
awk -v b="$begin" -v e="$end" -v gen="$gen" '
  $0 == b { print; while ((getline line < gen) > 0) print line; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }' "$file" >"$out"
if [ $check = 1 ]; then
  if ! cmp -s "$out" "$file"; then
    echo "docs: $file is out of date with proto/schema.h; run 'make docs' and commit it" >&2
    diff -u "$file" "$out" | head -40 >&2
    exit 1
  fi
  echo "docs: $file matches proto/schema.h"
else
  cp "$out" "$file"
  echo "docs: regenerated the message reference in $file"
fi
