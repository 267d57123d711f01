#!/usr/bin/env bash
# The main job: two devices converge through a local relay that holds only
# ciphertext. Builds the `azmx-sync` command (optimised) and runs its demo:
# relay on a free loopback port, two devices, conflict, delete, a corrupted
# blob, and a search of the relay's files for plaintext. Temporary files are
# removed; the exit status is non-zero if any of its checks fails.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
exec cargo run -q --release -p azmx-sync-cli -- demo "$@"
