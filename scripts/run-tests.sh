#!/usr/bin/env bash
# Runs Criterion test binaries and fails when any test fails or when a sanitizer reported
# anything: Criterion counts a test whose process leaks at exit as passed, so the output is
# scanned for AddressSanitizer/LeakSanitizer/UBSan reports too.
# Usage: scripts/run-tests.sh BINARY...
set -uo pipefail
failed=()
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$@"; do
  echo "== $t"
  "$t" --jobs "${ZSA_TEST_JOBS:-2}" --short-filename >"$log" 2>&1
  rc=$?
  cat "$log"
  if [ $rc -ne 0 ]; then
    failed+=("$t (exit $rc)")
  elif grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|Warning! The test .* crashed' "$log"; then
    failed+=("$t (sanitizer report or crash in setup/teardown above)")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
