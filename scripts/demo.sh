#!/usr/bin/env bash
# The main job. Builds (optimised) and runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run -q --release -p azmx-sync-core --features test-vectors --example wire_demo
