#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is
# missing (apt, pip, npm, cargo tools), then lints, unit, vector,
# integration, end-to-end and per-language binding tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
STEP_FAILS=()

step() { echo; echo "=== $* ==="; }

need_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    step "apt install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq || true) && apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# --- tools ---------------------------------------------------------------
command -v cargo >/dev/null || { echo "cargo is required (rustup)"; exit 1; }
rustup component list --installed 2>/dev/null | grep -q clippy || rustup component add clippy rustfmt
need_apt python3-venv
VENV="$ROOT/.venv"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q --disable-pip-version-check cryptography pytest maturin

# --- lint ----------------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# --- rust tests ----------------------------------------------------------
step "cargo test (workspace)"
mkdir -p "$ROOT/target"
LOG="$ROOT/target/test-output.txt"
if ! cargo test --workspace -- --nocapture >"$LOG" 2>&1; then
  grep -E "^test result|FAILED|panicked" "$LOG" || true
  tail -80 "$LOG"; echo "cargo test failed"; exit 1
fi
grep -E "^test result|cases passed" "$LOG"

step "independent Python check of the wire vectors"
"$VENV/bin/python" tests/vectors/check_vectors.py

for extra in "$ROOT"/scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  step "$(basename "$extra")"
  bash "$extra"
done

echo
echo "ALL TESTS PASSED"
