#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) into build-fuzz/ with clang, replays
# every saved crash in fuzz/regressions/<target>/, then fuzzes each target
# for FUZZ_SECONDS (default 20) from a scratch copy of fuzz/corpus/<target>/
# and prints a table from libFuzzer's final stats. Exits non-zero if a
# regression input fails or fuzzing finds a crash, leak, timeout or OOM;
# the input is then in build-fuzz/fuzz-artifacts/<target>/ (copy it into
# fuzz/regressions/<target>/ once understood). Installs nothing: run
# tools/deps.sh first. Usage: tools/fuzz.sh [target ...]
# (-close_fd_mask=1: CZMQ's zconfig parser prints its errors to stdout.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
seconds=${FUZZ_SECONDS:-20}
jobs=$(nproc 2>/dev/null || echo 2)
all_targets=(event wire record json_msgpack json_text registry keyfile hubconf
  agentconf)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

CC=${CC:-clang} cmake -S "$root" -B "$build" -DIH_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
# Only the fuzzers and what they link (the tree's other targets are built
# and tested elsewhere; a half-finished test must not stop a fuzz run)
cmake --build "$build" -j "$jobs" --target fuzz >/dev/null

# The targets write their scratch files under here, never elsewhere
export TMPDIR="$build/fuzz-tmp"
rm -rf "$TMPDIR" # left behind by targets that crashed (no atexit)
mkdir -p "$TMPDIR"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0

# 1. Regressions: each saved input must now pass
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  [ -x "$bin" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  dir="$root/fuzz/regressions/$t"
  [ -d "$dir" ] || continue
  while IFS= read -r -d '' file; do
    if ! "$bin" "$file" >"$build/fuzz-regression.log" 2>&1; then
      echo "fuzz: REGRESSION $t ${file#"$root"/} fails:" >&2
      tail -n 40 "$build/fuzz-regression.log" >&2
      status=1
    fi
  done < <(find "$dir" -type f ! -name 'README*' -print0 | sort -z)
done

# 2. Fuzz each target for a bounded time
printf '%-14s %12s %8s %10s %8s %12s\n' target executions seconds exec/s new-cov \
  new-crashes
rows=()
for t in "${targets[@]}"; do
  bin="$build/fuzz/fuzz_$t"
  corpus="$build/fuzz-corpus/$t"
  artifacts="$build/fuzz-artifacts/$t"
  log="$build/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  # Seed the scratch corpus; the checked-in one is only ever read
  cp -n "$root/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  before=$(find "$artifacts" -type f | wc -l)
  extra=()
  case $t in event | wire | record) extra+=(-max_len=70000) ;; esac
  start=$(date +%s.%N)
  rc=0
  "$bin" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 \
    -print_final_stats=1 -close_fd_mask=1 -artifact_prefix="$artifacts/" "${extra[@]}" \
    "$corpus" >"$log" 2>&1 || rc=$?
  elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
  after=$(find "$artifacts" -type f | wc -l)
  crashes=$((after - before))
  [ "$rc" -eq 0 ] || [ "$crashes" -gt 0 ] || crashes=1 # died without artifact
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  added=$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -1)
  printf '%-14s %12s %8.1f %10s %8s %12s\n' "$t" "${execs:-?}" "$elapsed" \
    "${rate:-?}" "${added:-?}" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    status=1
    rows+=("$t: see $log and $artifacts/")
  fi
done
for r in "${rows[@]+"${rows[@]}"}"; do echo "fuzz: CRASH $r" >&2; done
exit $status
