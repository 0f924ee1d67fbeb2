#!/usr/bin/env bash
# Installs what is missing, builds incuhub twice (plain with -Werror, and
# with AddressSanitizer + UndefinedBehaviorSanitizer) and runs the whole
# ctest suite (unit and integration tests) in both builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/deps.sh"
bash "$root/tools/build.sh"
bash "$root/tools/build.sh" asan
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "=== tests: build (RelWithDebInfo)"
ctest --test-dir "$root/build" --output-on-failure --timeout 300
echo "=== tests: build-asan (AddressSanitizer + UBSan)"
ctest --test-dir "$root/build-asan" --output-on-failure --timeout 600
