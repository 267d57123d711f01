#!/usr/bin/env bash
# Swift bindings (uniffi): check the committed generated sources against the
# library, then build the SwiftPM package (module + test runner) and run the
# Swift tests against target/debug's libazmx_sync, inside a Debian trixie
# chroot with `swiftlang` (bookworm has no Swift). The chroot is cached
# outside the repository (AZMX_SWIFT_ROOT, default /var/cache/azmx-swift-root)
# and built when missing (~2-3 min, ~3.3 GB). Needs root. Prints its own
# pass/fail counts; non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
START=$SECONDS
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
[ "$(id -u)" = 0 ] || { echo "swift: needs root (debootstrap, chroot, mount)"; echo "swift: 0 passed, 1 failed"; exit 1; }

bindings/swift/chroot.sh ensure
CHROOTED=$SECONDS
bindings/swift/generate.sh --check   # also builds target/debug/libazmx_sync.so

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in "$ROOT"/*) ;; *) export AZMX_SWIFT_MOUNTS="$TARGET_DIR" ;; esac
LIBDIR="$TARGET_DIR/debug"
OUT="$TARGET_DIR/azmx-swift"
mkdir -p "$OUT"
# The package exactly as bindings/swift/README.md builds it on Linux (the
# swift commands inside the chroot, where the repo and the target dir are
# mounted at the same absolute paths): libazmx_sync by cargo, then SwiftPM
# (Package.swift: system-library target linking libazmx_sync, the AzmxSync
# module, the AzmxSyncSelfTest runner) with the library on the linker path.
LIBREL=../../target/debug
[ "$LIBDIR" = "$ROOT/target/debug" ] || LIBREL=$LIBDIR
cargo build -p azmx-sync-ffi
bindings/swift/chroot.sh run bash -ec "
  cd '$ROOT/bindings/swift' && swift build -Xlinker -L$LIBREL 2>&1 | grep -v '^\[' || true
  test -x .build/debug/AzmxSyncSelfTest
"
RUNNER="$ROOT/bindings/swift/.build/debug/AzmxSyncSelfTest"
BUILT=$SECONDS
# Engine.swift syncs through a real relay on loopback: the workspace CLI's
# `relay serve`, started here outside the chroot (same network).
workspace_build
RELAY_DIR=$(mktemp -d)
trap 'relay_stop; rm -rf "$RELAY_DIR"' EXIT
LKEY=$(relay_license "$TARGET_DIR/debug/azmx-sync" "$RELAY_DIR" lic_swift_engine)
relay_start "$TARGET_DIR/debug/azmx-sync" "$RELAY_DIR" || die "the relay did not start"
set +e
bindings/swift/chroot.sh run env LD_LIBRARY_PATH="$LIBDIR" AZMX_RELAY_URL="$RELAY_URL" \
  AZMX_LICENSE_ID=lic_swift_engine AZMX_LICENSE_KEY="$LKEY" "$RUNNER" \
  | tee "$OUT/tests.txt"
RC=${PIPESTATUS[0]}
set -e
echo "example: examples/swift/run.sh"
EXAMPLE=ok
examples/swift/run.sh 2>&1 | grep -v '^\[' || EXAMPLE=FAILED
echo "example: examples/swift/two_devices.sh"
examples/swift/two_devices.sh 2>&1 | grep -v '^\[' || EXAMPLE=FAILED
echo "example: $EXAMPLE"
SUMMARY=$(grep -E '^swift: [0-9]+ passed, [0-9]+ failed' "$OUT/tests.txt" || echo "swift: 0 passed, 1 failed (no summary)")
echo "$SUMMARY (chroot $((CHROOTED - START)) s, build $((BUILT - CHROOTED)) s, total $((SECONDS - START)) s)"
[ "$RC" = 0 ] && [ "$EXAMPLE" = ok ]
