#!/usr/bin/env bash
# Long fuzz runs: every target in fuzz/ for SECS seconds (default 600), one
# after another, at nice 19, then a result table appended to a log
# (default target/fuzz-long.md; the table is the one docs/SECURITY.md keeps).
# Usage: scripts/fuzz-long.sh [SECS] [LOG]     e.g. scripts/fuzz-long.sh 600
# Prerequisites as scripts/test.d/70-fuzz.sh (which installs them). A crash
# leaves its input in fuzz/artifacts/TARGET/; the run goes on to the next
# target and the script exits non-zero at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECS=${1:-600}
LOG=$(realpath -m "${2:-$ROOT/target/fuzz-long.md}")
mkdir -p "$(dirname "$LOG")"
python3 fuzz/seeds.py >/dev/null || exit 1
cd fuzz
unset CARGO_TARGET_DIR # instrumented builds stay in fuzz/
# With AddressSanitizer (cargo-fuzz's default), in a target dir of its own so
# that it and the smoke test's build without it do not replace each other.
nice -n 19 cargo +nightly fuzz build --target-dir target-asan || exit 1
BIN="target-asan/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
rows=()
failed=0
# FUZZ_TARGETS="a b" runs only those (two streams can then share the cores).
for t in ${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}; do
  out="target/fuzz-long-$t.log"
  echo "fuzz $t for ${SECS}s (log fuzz/$out)"
  mkdir -p "corpus/$t" "artifacts/$t"
  if nice -n 19 "$BIN/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$SECS" -max_len=4096 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "corpus/$t" >"$out" 2>&1; then
    result="no crash"
  else
    result="CRASH: $(ls -t "artifacts/$t" 2>/dev/null | head -1) ($(grep -m1 -E 'panicked|ERROR: ' "$out" | cut -c1-100))"
    failed=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$out" | tail -1 | cut -d' ' -f2)
  rows+=("| $t | ${SECS} s | ${execs:-?} | ${cov:-?} | $result |")
done
{
  echo
  echo "### $(date -u +%Y-%m-%d) fuzz-long, $(git -C "$ROOT" rev-parse --short HEAD), $(rustc +nightly --version)"
  echo
  echo "| target | duration | executions | coverage (edges) | result |"
  echo "|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} >>"$LOG"
tail -n $((${#rows[@]} + 4)) "$LOG"
exit $failed
