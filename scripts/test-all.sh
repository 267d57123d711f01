#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is
# missing (apt, pip, npm, cargo tools), then lints, unit, vector,
# integration, end-to-end and per-language binding tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# A clean checkout builds every crate once: incremental caches only cost
# time and disk there (export CARGO_INCREMENTAL=1 to keep them while iterating).
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

step() { echo; echo "=== $* ==="; }
# Runs one step; a failure is recorded and the remaining steps still run,
# so one CI run reports every broken part.
run_step() {
  local name=$1; shift
  step "$name"
  local t0=$SECONDS
  if "$@"; then echo "--- $name: ok ($((SECONDS - t0)) s)"; else echo "--- $name: FAILED ($((SECONDS - t0)) s)"; FAILED+=("$name"); fi
}

# need_apt and the other helpers the test.d scripts share; it also starts
# the FAILED list run_step appends to.
. scripts/test.d/lib.sh

# --- tools ---------------------------------------------------------------
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
need_apt python3-venv
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q --disable-pip-version-check cryptography pytest maturin

# --- lint ----------------------------------------------------------------
run_step "cargo fmt --check" cargo fmt --all -- --check
run_step "cargo clippy --all-targets -D warnings" cargo clippy --workspace --all-targets -- -D warnings
run_step "architecture rules (docs/ARCHITECTURE.md)" python3 scripts/check_architecture.py

# --- rust tests ----------------------------------------------------------
mkdir -p "$ROOT/target"
LOG="$ROOT/target/test-output.txt"
cargo_tests() {
  if ! cargo test --workspace -- --nocapture >"$LOG" 2>&1; then
    grep -E "^test result|FAILED|panicked" "$LOG" || true
    tail -80 "$LOG"; return 1
  fi
  grep -E "^test result|cases passed" "$LOG"
}
run_step "cargo test (workspace: core, vectors, merge, relay, engine end-to-end, CLI + demo)" cargo_tests
run_step "independent Python check of the wire vectors" "$VENV/bin/python" tests/vectors/check_vectors.py
run_step "independent Python check of the bundle-chain vectors" "$VENV/bin/python" tests/vectors/check_bundle_chain.py
run_step "independent Python check of the bundle-parts vectors" "$VENV/bin/python" tests/vectors/check_bundle_parts.py

# Numbered steps only: lib.sh holds the helpers they source.
for extra in "$ROOT"/scripts/test.d/[0-9]*.sh; do
  [ -e "$extra" ] || continue
  run_step "$(basename "$extra")" bash "$extra"
done

echo
if ((${#FAILED[@]})); then
  echo "FAILED STEPS (${#FAILED[@]}):"
  printf '  - %s\n' "${FAILED[@]}"
  exit 1
fi
echo
echo "ALL TESTS PASSED"
