#!/usr/bin/env bash
# Swift bindings (uniffi): check the committed generated sources against the
# library, then compile the AzmxSync module and the Swift tests with swiftc
# and run them against target/debug's libazmx_sync, inside a Debian trixie
# chroot with `swiftlang` (bookworm has no Swift). The chroot is cached
# outside the repository (AZMX_SWIFT_ROOT, default /var/cache/azmx-swift-root)
# and built when missing (~2-3 min, ~3.3 GB). Needs root. Prints its own
# pass/fail counts; non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$SECONDS
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
[ "$(id -u)" = 0 ] || { echo "swift: needs root (debootstrap, chroot, mount)"; echo "swift: 0 passed, 1 failed"; exit 1; }

bindings/swift/chroot.sh ensure
CHROOTED=$SECONDS
bindings/swift/generate.sh --check   # also builds target/debug/libazmx_sync.so

OUT="$ROOT/target/azmx-swift"
mkdir -p "$OUT"
SW="$ROOT/bindings/swift"
# Compile the module and the test runner in the chroot; the repo is mounted
# at the same absolute path there.
bindings/swift/chroot.sh run bash -ec "
  cd '$OUT'
  swiftc -emit-library -emit-module -module-name AzmxSync -parse-as-library \
    -I '$SW/Sources/AzmxSyncFFI' -L '$ROOT/target/debug' -lazmx_sync \
    -module-cache-path '$OUT/module-cache' \
    '$SW/Sources/AzmxSync/AzmxSync.swift' -o '$OUT/libAzmxSync.so'
  swiftc -I '$OUT' -I '$SW/Sources/AzmxSyncFFI' -L '$OUT' -lAzmxSync -L '$ROOT/target/debug' -lazmx_sync \
    -module-cache-path '$OUT/module-cache' \
    '$SW/Tests/AzmxSyncSelfTest/main.swift' -o '$OUT/selftest'
"
BUILT=$SECONDS
set +e
bindings/swift/chroot.sh run env LD_LIBRARY_PATH="$OUT:$ROOT/target/debug" "$OUT/selftest" \
  | tee "$ROOT/target/swift-tests.txt"
RC=${PIPESTATUS[0]}
set -e
SUMMARY=$(grep -E '^swift: [0-9]+ passed, [0-9]+ failed' "$ROOT/target/swift-tests.txt" || echo "swift: 0 passed, 1 failed (no summary)")
echo "$SUMMARY (chroot $((CHROOTED - START)) s, build $((BUILT - CHROOTED)) s, total $((SECONDS - START)) s)"
[ "$RC" = 0 ]
