#!/usr/bin/env bash
# Configures and builds incuhub into build/ (RelWithDebInfo, -Werror), or,
# with "asan", into build-asan/ (AddressSanitizer + UBSan).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc 2>/dev/null || echo 2)
if [ "${1:-}" = "asan" ]; then
  cmake -S "$root" -B "$root/build-asan" -DCMAKE_BUILD_TYPE=Asan >/dev/null
  cmake --build "$root/build-asan" -j "$jobs"
else
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j "$jobs"
fi
