#!/usr/bin/env bash
# Runs examples/c/two_devices.c against a local relay: builds the CLI (the
# relay) and libazmx_sync if needed, creates a license, serves on a free
# loopback port, builds and runs the program, then stops the relay.
#
#   ./examples/c/two_devices.sh            (from anywhere; Rust, cc, make needed)
#
# Environment: AZMX_CLI (an azmx-sync binary to use instead of building
# one), and LIBDIR / OUT / NATIVE_LIBS as for examples/c/Makefile.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${AZMX_CLI:-}" ]; then
  (cd "$ROOT" && cargo build -q -p azmx-sync-cli)
  AZMX_CLI="$TARGET/debug/azmx-sync"
fi
[ -n "${LIBDIR:-}" ] || (cd "$ROOT" && cargo build -q -p azmx-sync-ffi)
OUT="${OUT:-$TARGET/c-example}"
make -s -C "$ROOT/examples/c" two-devices-build LIBDIR="${LIBDIR:-$TARGET/debug}" OUT="$OUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/azmx-c-two-devices-XXXXXX")
RELAY_PID=
cleanup() {
  if [ -n "$RELAY_PID" ]; then kill "$RELAY_PID" 2>/dev/null || true; wait "$RELAY_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. A relay with one license (the key is the last word printed).
LICENSE_KEY=$("$AZMX_CLI" relay license add lic_c_example --data-dir "$WORK/relay" | awk '{k=$NF} END {print k}')
"$AZMX_CLI" relay serve --data-dir "$WORK/relay" --listen 127.0.0.1:0 >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
URL=
for _ in $(seq 1 200); do
  URL=$(sed -n 's/^listening on //p' "$WORK/relay.log" | head -1)
  [ -n "$URL" ] && break
  kill -0 "$RELAY_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$URL" ] || { cat "$WORK/relay.log" >&2; echo "the relay did not start" >&2; exit 1; }

# 2. Two devices: the laptop writes and syncs, the desktop syncs and prints.
AZMX_LICENSE_KEY="$LICENSE_KEY" TMPDIR="$WORK" \
  "$OUT/two_devices" "$URL" lic_c_example
