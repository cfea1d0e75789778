#!/usr/bin/env bash
# Passes `go test -v` output through, keeping the pipeline's exit status honest, and ends
# with one line counting passed, failed and skipped tests.
set -o pipefail
passed=0 failed=0 skipped=0
while IFS= read -r line; do
  printf '%s\n' "$line"
  case "$line" in
    *"--- PASS: "*) passed=$((passed + 1)) ;;
    *"--- FAIL: "*) failed=$((failed + 1)) ;;
    *"--- SKIP: "*) skipped=$((skipped + 1)) ;;
    "FAIL"*) status=1 ;;
  esac
done
echo "tests: $passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 && -z ${status:-} ]]
