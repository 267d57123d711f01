#!/usr/bin/env bash
# Builds and runs examples/swift/TwoDevices against target/debug's
# libazmx_sync and a local relay (the workspace CLI's `relay serve`, started
# here). Linux without Swift: inside the cached trixie chroot of
# bindings/swift/chroot.sh (needs root), as examples/swift/run.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh   # ROOT, TARGET, relay_license, relay_start, relay_stop
workspace_build   # libazmx_sync.so and the relay CLI (scripts/test.d/lib.sh)
LIBDIR="$TARGET/debug"
BUILD="$TARGET/azmx-swift-example-two"
RELAY_DIR=$(mktemp -d)
trap 'relay_stop; rm -rf "$RELAY_DIR"' EXIT
LKEY=$(relay_license "$TARGET/debug/azmx-sync" "$RELAY_DIR" lic_swift_example)
relay_start "$TARGET/debug/azmx-sync" "$RELAY_DIR" || die "the relay did not start"
CMD="cd '$ROOT/examples/swift/TwoDevices' && swift build -q --scratch-path '$BUILD' -Xlinker -L'$LIBDIR' \
  && '$BUILD/debug/TwoDevices'"
RUN_ENV=(LD_LIBRARY_PATH="$LIBDIR" DYLD_LIBRARY_PATH="$LIBDIR" AZMX_RELAY_URL="$RELAY_URL"
         AZMX_LICENSE_ID=lic_swift_example AZMX_LICENSE_KEY="$LKEY")
if command -v swift >/dev/null; then
  env "${RUN_ENV[@]}" bash -c "$CMD"
  exit
fi
case "$TARGET" in "$ROOT"/*) ;; *) export AZMX_SWIFT_MOUNTS="$TARGET" ;; esac
bindings/swift/chroot.sh run env "${RUN_ENV[@]}" bash -c "$CMD"
