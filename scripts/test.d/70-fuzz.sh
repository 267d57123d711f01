#!/usr/bin/env bash
# Fuzz smoke test (docs/SECURITY.md, "Fuzzing"): installs cargo-fuzz (pinned)
# and the nightly toolchain if missing, writes the seed corpora from the wire
# vectors (fuzz/seeds.py), builds every target in fuzz/ and runs each for
# FUZZ_SECS seconds (default 10). Fails on any crash, panic, leak or timeout
# (libFuzzer exits non-zero and leaves the input in fuzz/artifacts/TARGET/).
# Longer runs: scripts/fuzz-long.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECS=${FUZZ_SECS:-10}

# --- tools ------------------------------------------------------------------
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "rustup toolchain install nightly (once)"
  rustup toolchain install nightly --profile minimal || die "rustup toolchain install nightly failed"
fi
CARGO_FUZZ="${CARGO_HOME:-$HOME/.cargo}/bin/cargo-fuzz"
if ! "$CARGO_FUZZ" --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  echo "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (about a minute, once)"
  cargo install --locked --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" || die "cargo install cargo-fuzz failed"
fi

# --- build ------------------------------------------------------------------
python3 fuzz/seeds.py || die "fuzz/seeds.py failed"
cd fuzz
# Instrumented builds stay in fuzz/target, away from the workspace's target.
unset CARGO_TARGET_DIR
# The smoke build: coverage instrumentation without AddressSanitizer (the
# fuzzed code is safe Rust; ASan would find what the type system already
# rules out) and 16 codegen units (cargo-fuzz's default of 1 serialises the
# big crates on a 2-core machine). Together about half the build time of the
# default; scripts/fuzz-long.sh builds with ASan for the long runs.
FUZZ_BUILD=(--sanitizer none --codegen-units 16)
echo "cargo +nightly fuzz build ${FUZZ_BUILD[*]}"
cargo +nightly fuzz build "${FUZZ_BUILD[@]}" || die "cargo +nightly fuzz build failed"
TARGETS=$(cargo +nightly fuzz list) || die "cargo fuzz list failed"
BIN="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# --- smoke runs ---------------------------------------------------------------
# The built binaries run directly (`cargo fuzz run` would call cargo again per
# target). -max_len bounds inputs (the seeds are far smaller); -rss_limit_mb
# catches unbounded allocation; -timeout an input that hangs.
for t in $TARGETS; do
  LOG="target/fuzz-$t.log"
  mkdir -p "corpus/$t" "artifacts/$t"
  if "$BIN/$t" -artifact_prefix="artifacts/$t/" -max_total_time="$FUZZ_SECS" -max_len=4096 \
      -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 "corpus/$t" >"$LOG" 2>&1; then
    ok "fuzz $t ($(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -1) runs in ${FUZZ_SECS}s)"
  else
    grep -A12 -m1 -E "panicked|ERROR: " "$LOG"
    ko "fuzz $t (input in fuzz/artifacts/$t/, log fuzz/$LOG)"
  fi
done

echo "fuzz: $PASS passed, $FAIL failed ($(( $(date +%s) - T0 )) s)"
((FAIL == 0))
