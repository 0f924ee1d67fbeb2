#!/usr/bin/env bash
# Installs what is missing, builds incuhub twice (plain with -Werror, and
# with AddressSanitizer + UndefinedBehaviorSanitizer), runs every libFuzzer
# target for a bounded time (FUZZ_SECONDS each, default 15) and replays the
# saved crash regressions, then runs the whole ctest suite (style, unit,
# integration, benchmark smoke runs) in both builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/deps.sh"
bash "$root/tools/build.sh"
bash "$root/tools/build.sh" asan
echo "=== fuzz: every decoder, bounded time each (tools/fuzz.sh)"
env -u ASAN_OPTIONS -u UBSAN_OPTIONS FUZZ_SECONDS="${FUZZ_SECONDS:-15}" \
  bash "$root/tools/fuzz.sh"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "=== tests: build-asan (AddressSanitizer + UBSan)"
ctest --test-dir "$root/build-asan" --output-on-failure --timeout 600
echo "=== tests: build (RelWithDebInfo)"
ctest --test-dir "$root/build" --output-on-failure --timeout 300
