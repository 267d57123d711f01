#!/usr/bin/env bash
# Regenerates the committed Swift sources of this package from the library:
#   Sources/AzmxSync/AzmxSync.swift, Sources/AzmxSyncFFI/AzmxSyncFFI.h
#   bindings/swift/generate.sh [--check]
# --check: generate into a temporary directory and fail if the committed
# files differ (run by scripts/test.d/60-swift.sh).
set -euo pipefail
SWIFT_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$SWIFT_DIR/../.." && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
"$ROOT/bindings/uniffi-bindgen/generate.sh" swift "$TMP"
if [ "${1:-}" = --check ]; then
  ok=1
  diff -u "$SWIFT_DIR/Sources/AzmxSync/AzmxSync.swift" "$TMP/AzmxSync.swift" >/dev/null || ok=0
  diff -u "$SWIFT_DIR/Sources/AzmxSyncFFI/AzmxSyncFFI.h" "$TMP/AzmxSyncFFI.h" >/dev/null || ok=0
  if [ "$ok" = 0 ]; then
    echo "generated Swift sources are stale: run bindings/swift/generate.sh and commit"
    exit 1
  fi
  echo "generated Swift sources are up to date"
else
  cp "$TMP/AzmxSync.swift" "$SWIFT_DIR/Sources/AzmxSync/AzmxSync.swift"
  cp "$TMP/AzmxSyncFFI.h" "$SWIFT_DIR/Sources/AzmxSyncFFI/AzmxSyncFFI.h"
  echo "regenerated Swift sources in $SWIFT_DIR/Sources"
fi
