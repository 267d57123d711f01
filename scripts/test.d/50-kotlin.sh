#!/usr/bin/env bash
# Kotlin/JVM bindings (uniffi): generate the Kotlin with the pinned bindgen,
# compile it with FastEnvelope.kt and the tests using a real kotlinc (npm
# `kotlin-compiler`), run the tests on the JVM against target/debug's
# libazmx_sync through JNA (Debian libjna-java). Installs what it needs;
# prints its own pass/fail counts; non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
START=$SECONDS
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
CACHE=${AZMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azmx}
KOTLIN_VERSION=${AZMX_KOTLIN_VERSION:-2}

need_apt libjna-java
command -v java >/dev/null || need_apt openjdk-17-jre-headless
command -v npm >/dev/null || need_apt nodejs npm
JNA=/usr/share/java/jna.jar

K="$CACHE/kotlin/node_modules/kotlin-compiler"
if [ ! -x "$K/bin/kotlinc" ]; then
  echo "npm install kotlin-compiler@$KOTLIN_VERSION into $CACHE/kotlin"
  mkdir -p "$CACHE/kotlin"
  npm install --prefix "$CACHE/kotlin" --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION"
fi

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BUILD="$TARGET_DIR/azmx-kotlin"
rm -rf "$BUILD/gen"
bindings/uniffi-bindgen/generate.sh kotlin "$BUILD/gen"
SOURCES=("$BUILD/gen/dev/azmx/sync/azmx_sync.kt"
         bindings/kotlin/src/main/kotlin/dev/azmx/sync/FastEnvelope.kt
         bindings/kotlin/src/test/kotlin/AzmxSyncTest.kt
         bindings/kotlin/src/test/kotlin/EngineTest.kt
         examples/kotlin/SealSnippet.kt
         examples/kotlin/TwoDevices.kt)
# kotlinc takes ~30-60 s: reuse the jar when no source changed.
HASH=$(cat "${SOURCES[@]}" | sha256sum | cut -c1-16)
JAR="$BUILD/tests-$HASH.jar"
if [ ! -f "$JAR" ]; then
  echo "kotlinc (${#SOURCES[@]} files)"
  rm -f "$BUILD"/tests-*.jar
  "$K/bin/kotlinc" -nowarn -cp "$JNA" "${SOURCES[@]}" -d "$JAR.tmp.jar" 2>&1 | grep -v "^warning" || true
  [ -f "$JAR.tmp.jar" ] || { echo "kotlin: compilation failed"; exit 1; }
  mv "$JAR.tmp.jar" "$JAR"
fi
BUILT=$SECONDS

set +e
# AZMX_LIB_DIR: run against another build of the library (e.g. target/release).
java -Djna.library.path="${AZMX_LIB_DIR:-$TARGET_DIR/debug}" -cp "$JAR:$K/lib/kotlin-stdlib.jar:$JNA" AzmxSyncTestKt \
  | tee "$BUILD/tests.txt"
RC=${PIPESTATUS[0]}
set -e
echo "example: examples/kotlin/SealSnippet.kt"
EXAMPLE=ok
java -Djna.library.path="${AZMX_LIB_DIR:-$TARGET_DIR/debug}" -cp "$JAR:$K/lib/kotlin-stdlib.jar:$JNA" SealSnippetKt \
  || EXAMPLE=FAILED
echo "example: $EXAMPLE"
# EngineTest.kt: the SyncEngine with Kotlin host traits against a real relay
# (the workspace CLI's `relay serve`).
workspace_build
set +e
AZMX_SYNC_BIN="$TARGET_DIR/debug/azmx-sync" java -Djna.library.path="${AZMX_LIB_DIR:-$TARGET_DIR/debug}" \
  -cp "$JAR:$K/lib/kotlin-stdlib.jar:$JNA" EngineTestKt | tee "$BUILD/engine-tests.txt"
ERC=${PIPESTATUS[0]}
set -e
[ "$ERC" = 0 ] || RC=$ERC
echo "example: examples/kotlin/TwoDevices.kt"
AZMX_SYNC_BIN="$TARGET_DIR/debug/azmx-sync" java -Djna.library.path="${AZMX_LIB_DIR:-$TARGET_DIR/debug}" \
  -cp "$JAR:$K/lib/kotlin-stdlib.jar:$JNA" TwoDevicesKt >/dev/null || EXAMPLE=FAILED
echo "example: $EXAMPLE"
read -r EP EF < <(sed -nE 's/^kotlin engine: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$BUILD/engine-tests.txt"; echo)
read -r KP KF < <(sed -nE 's/^kotlin: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$BUILD/tests.txt"; echo)
if [ -n "${EP:-}" ] && [ -n "${KP:-}" ]; then
  SUMMARY="kotlin: $((KP + EP)) passed, $((KF + EF)) failed"
else
  SUMMARY="kotlin: ${KP:-0} passed, $(( ${KF:-0} + ${EF:-1} )) failed (missing summary)"
fi
echo "$SUMMARY (build $((BUILT - START)) s, total $((SECONDS - START)) s)"
[ "$RC" = 0 ] && [ "$EXAMPLE" = ok ]
