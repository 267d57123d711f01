#!/usr/bin/env bash
# Builds and runs the Swift example against target/debug's libazmx_sync.
# macOS: plain `swift run` with the library on the linker path. Linux without
# Swift (Debian bookworm): inside the cached trixie chroot of
# bindings/swift/chroot.sh (needs root; built on first use, ~2-3 min).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# The workspace's build of libazmx_sync (scripts/test.d/lib.sh, workspace_build).
. scripts/test.d/lib.sh
workspace_build
LIBDIR="$TARGET_DIR/debug"
BUILD="$TARGET_DIR/azmx-swift-example"
CMD="cd '$ROOT/examples/swift/SealSnippet' && swift build -q --scratch-path '$BUILD' -Xlinker -L'$LIBDIR' \
  && LD_LIBRARY_PATH='$LIBDIR' DYLD_LIBRARY_PATH='$LIBDIR' '$BUILD/debug/SealSnippet'"
if command -v swift >/dev/null; then
  exec bash -c "$CMD"
fi
case "$TARGET_DIR" in "$ROOT"/*) ;; *) export AZMX_SWIFT_MOUNTS="$TARGET_DIR" ;; esac
exec bindings/swift/chroot.sh run bash -c "$CMD"
