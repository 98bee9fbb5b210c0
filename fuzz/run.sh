#!/usr/bin/env bash
# Runs the fuzz targets one at a time under `nice -n 19` (the machine is shared; FUZZ_NICE), each for
# FUZZ_SECONDS (default 480) over its corpus (fuzz/seed.sh fills it), and prints what
# libFuzzer counted: executions, corpus size, and whether it crashed. Logs go to
# fuzz/logs/TARGET.log; a crashing input to fuzz/artifacts/TARGET/ (fuzz/README.md says what to
# do with it).
#   fuzz/run.sh                 every target
#   fuzz/run.sh parse fmt       those targets
set -uo pipefail
cd "$(dirname "$0")"
secs=${FUZZ_SECONDS:-480}
# The build without a sanitizer and with debug assertions by default (safe Rust: what a fuzzer
# finds is a panic, an overflow, a hang or a blow-up; the AddressSanitizer build takes far
# longer here). FUZZ_BUILD_FLAGS="" gives cargo-fuzz's default (AddressSanitizer).
read -r -a build_flags <<< "${FUZZ_BUILD_FLAGS---sanitizer none -a}"
niceness=${FUZZ_NICE:-19}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(parse check fmt import manifests)
mkdir -p logs
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  dict=()
  case $t in parse | check | fmt) dict=(-dict=netpol.dict) ;; esac
  RUSTC_BOOTSTRAP=1 nice -n "$niceness" cargo fuzz run "${build_flags[@]}" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -max_len=65536 \
    -print_final_stats=1 "${dict[@]}" > "logs/$t.log" 2>&1
  code=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
  if [ -z "$execs" ]; then
    # Stopped by a crash: the last status line has the count.
    execs=$(grep -o '^#[0-9]*' "logs/$t.log" | tr -d '#' | tail -1)
  fi
  crash=$(grep -o 'Test unit written to [^ ]*' "logs/$t.log" | sed 's/Test unit written to //' | tail -1)
  echo "$t: exit $code, ${execs:-0} executions, corpus $(find "corpus/$t" -type f | wc -l) files, ${crash:-no crash} ($(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
done
