#!/usr/bin/env bash
# Builds AzmxSyncFFI.xcframework for Apple platforms (run on macOS with Xcode
# and rustup). Static libraries of libazmx_sync for iOS devices, the iOS
# simulator (arm64 + x86_64) and macOS (arm64 + x86_64), each with the
# generated header and module map. Package.swift then uses the XCFramework as
# a binary target.
#
#   bindings/swift/build-xcframework.sh [--profile release|dev]
set -euo pipefail
cd "$(dirname "$0")"
SWIFT_DIR=$PWD
ROOT=$(cd ../.. && pwd)
PROFILE=release
[ "${1:-}" = "--profile" ] && PROFILE=${2:?}
PROFILE_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh needs macOS (xcodebuild, lipo)"; exit 1; }

TARGETS_IOS=aarch64-apple-ios
TARGETS_SIM="aarch64-apple-ios-sim x86_64-apple-ios"
TARGETS_MAC="aarch64-apple-darwin x86_64-apple-darwin"
rustup target add $TARGETS_IOS $TARGETS_SIM $TARGETS_MAC

cd "$ROOT"
for t in $TARGETS_IOS $TARGETS_SIM $TARGETS_MAC; do
  cargo build -p azmx-sync-ffi --lib --profile "$PROFILE" --target "$t"
done

OUT="$ROOT/target/xcframework"
rm -rf "$OUT" "$SWIFT_DIR/AzmxSyncFFI.xcframework"
mkdir -p "$OUT/headers" "$OUT/ios-sim" "$OUT/macos"
# The headers directory of each slice: the generated header plus a module map
# named module.modulemap so that `import AzmxSyncFFI` resolves.
cp "$SWIFT_DIR/Sources/AzmxSyncFFI/AzmxSyncFFI.h" "$OUT/headers/"
cp "$SWIFT_DIR/Sources/AzmxSyncFFI/module.modulemap" "$OUT/headers/module.modulemap"
# The system-library module map links `azmx_sync`; the static XCFramework
# slices are linked by SwiftPM directly.
sed -i '' '/link "azmx_sync"/d' "$OUT/headers/module.modulemap"

lib() { echo "target/$1/$PROFILE_DIR/libazmx_sync.a"; }
lipo -create $(for t in $TARGETS_SIM; do lib "$t"; done) -output "$OUT/ios-sim/libazmx_sync.a"
lipo -create $(for t in $TARGETS_MAC; do lib "$t"; done) -output "$OUT/macos/libazmx_sync.a"

xcodebuild -create-xcframework \
  -library "$(lib aarch64-apple-ios)" -headers "$OUT/headers" \
  -library "$OUT/ios-sim/libazmx_sync.a" -headers "$OUT/headers" \
  -library "$OUT/macos/libazmx_sync.a" -headers "$OUT/headers" \
  -output "$SWIFT_DIR/AzmxSyncFFI.xcframework"
echo "built $SWIFT_DIR/AzmxSyncFFI.xcframework"
