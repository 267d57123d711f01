#!/usr/bin/env bash
# Builds and runs examples/swift/TwoDevices against target/debug's
# libazmx_sync and a local relay (the workspace CLI's `relay serve`, started
# here). Linux without Swift: inside the cached trixie chroot of
# bindings/swift/chroot.sh (needs root), as examples/swift/run.sh.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
cargo rustc -q -p azmx-sync-ffi --lib --crate-type cdylib
cargo build -q -p azmx-sync-cli
LIBDIR="$TARGET_DIR/debug"
BUILD="$TARGET_DIR/azmx-swift-example-two"
RELAY_DIR=$(mktemp -d)
LKEY=$("$TARGET_DIR/debug/azmx-sync" relay license add lic_swift_example --data-dir "$RELAY_DIR" | awk 'END {print $NF}')
coproc RELAY { exec "$TARGET_DIR/debug/azmx-sync" relay serve --data-dir "$RELAY_DIR" --listen 127.0.0.1:0 2>/dev/null; }
RELAY_PID_SAVED=$RELAY_PID
trap 'kill "$RELAY_PID_SAVED" 2>/dev/null || true; rm -rf "$RELAY_DIR"' EXIT
read -r _ _ RELAY_URL <&"${RELAY[0]}"
CMD="cd '$ROOT/examples/swift/TwoDevices' && swift build -q --scratch-path '$BUILD' -Xlinker -L'$LIBDIR' \
  && '$BUILD/debug/TwoDevices'"
RUN_ENV=(LD_LIBRARY_PATH="$LIBDIR" DYLD_LIBRARY_PATH="$LIBDIR" AZMX_RELAY_URL="$RELAY_URL"
         AZMX_LICENSE_ID=lic_swift_example AZMX_LICENSE_KEY="$LKEY")
if command -v swift >/dev/null; then
  env "${RUN_ENV[@]}" bash -c "$CMD"
  exit
fi
case "$TARGET_DIR" in "$ROOT"/*) ;; *) export AZMX_SWIFT_MOUNTS="$TARGET_DIR" ;; esac
bindings/swift/chroot.sh run env "${RUN_ENV[@]}" bash -c "$CMD"
