#!/usr/bin/env bash
# Builds and runs examples/kotlin/SealSnippet.kt against target/debug's
# libazmx_sync (needs what scripts/test.d/50-kotlin.sh installs: kotlinc from
# npm `kotlin-compiler`, Debian libjna-java; run that script once first).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
CACHE=${AZMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azmx}
K="$CACHE/kotlin/node_modules/kotlin-compiler"
JNA=/usr/share/java/jna.jar
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT="$TARGET_DIR/azmx-kotlin-example"
rm -rf "$OUT/gen"
bindings/uniffi-bindgen/generate.sh kotlin "$OUT/gen"
"$K/bin/kotlinc" -nowarn -cp "$JNA" "$OUT/gen/dev/azmx/sync/azmx_sync.kt" \
  bindings/kotlin/src/main/kotlin/dev/azmx/sync/FastEnvelope.kt examples/kotlin/SealSnippet.kt \
  -d "$OUT/example.jar"
exec java -Djna.library.path="$TARGET_DIR/debug" -cp "$OUT/example.jar:$K/lib/kotlin-stdlib.jar:$JNA" SealSnippetKt
