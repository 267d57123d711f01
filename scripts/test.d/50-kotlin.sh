#!/usr/bin/env bash
# Kotlin/JVM bindings (uniffi): builds the library jar as
# bindings/kotlin/README.md says (bindings/kotlin/build-jar.sh, with a real
# kotlinc from npm `kotlin-compiler`), compiles the tests and examples
# against that jar and runs them on the JVM with the jar, JNA (Debian
# libjna-java) and the Kotlin stdlib on the class path; libazmx_sync is the
# copy inside the jar. Installs what it needs; prints its own pass/fail
# counts; non-zero on failure.
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
rm -rf "$BUILD" && mkdir -p "$BUILD"
# The jar exactly as bindings/kotlin/README.md builds it (kotlinc on PATH);
# AZMX_SYNC_CARGO_ARGS (CI only): the shared workspace build's arguments
# instead of `--release`, so the library is not compiled a second time.
echo "bindings/kotlin/build-jar.sh"
LIBJAR="$TARGET_DIR/kotlin/azmx-sync.jar"
rm -f "$LIBJAR"
PATH="$K/bin:$PATH" AZMX_SYNC_CARGO_ARGS="${WORKSPACE_BUILD[*]}" bindings/kotlin/build-jar.sh
[ -f "$LIBJAR" ] || { echo "kotlin: build-jar.sh made no $LIBJAR"; echo "kotlin: 0 passed, 1 failed"; exit 1; }
# The tests and examples are applications of that jar: compiled against it,
# run with it on the class path (libazmx_sync comes out of the jar; no
# -Djna.library.path unless AZMX_LIB_DIR names another build, e.g.
# target/release, which JNA then finds first).
SOURCES=(bindings/kotlin/src/test/kotlin/AzmxSyncTest.kt
         bindings/kotlin/src/test/kotlin/EngineTest.kt
         examples/kotlin/SealSnippet.kt
         examples/kotlin/TwoDevices.kt)
JAR="$BUILD/tests.jar"
echo "kotlinc (${#SOURCES[@]} files, against azmx-sync.jar)"
"$K/bin/kotlinc" -nowarn -cp "$LIBJAR:$JNA" "${SOURCES[@]}" -d "$JAR" 2>&1 | grep -v "^warning" || true
[ -f "$JAR" ] || { echo "kotlin: compilation failed"; echo "kotlin: 0 passed, 1 failed"; exit 1; }
BUILT=$SECONDS
CP="$JAR:$LIBJAR:$K/lib/kotlin-stdlib.jar:$JNA"
JAVA=(java)
[ -n "${AZMX_LIB_DIR:-}" ] && JAVA+=(-Djna.library.path="$AZMX_LIB_DIR")

set +e
"${JAVA[@]}" -cp "$CP" AzmxSyncTestKt | tee "$BUILD/tests.txt"
RC=${PIPESTATUS[0]}
set -e
echo "example: examples/kotlin/SealSnippet.kt"
EXAMPLE=ok
# jna.debug_load: JNA names where it loaded libazmx_sync from; it must be the jar.
"${JAVA[@]}" -Djna.debug_load=true -cp "$CP" SealSnippetKt 2>"$BUILD/jna-load.txt" || EXAMPLE=FAILED
if [ -z "${AZMX_LIB_DIR:-}" ] && ! grep -q "jar:file:.*azmx-sync.jar" "$BUILD/jna-load.txt"; then
  grep -i azmx_sync "$BUILD/jna-load.txt" | head -5
  echo "kotlin: libazmx_sync was not loaded from azmx-sync.jar"; EXAMPLE=FAILED
fi
echo "example: $EXAMPLE"
# EngineTest.kt: the SyncEngine with Kotlin host traits against a real relay
# (the workspace CLI's `relay serve`).
workspace_build
set +e
AZMX_SYNC_BIN="$TARGET_DIR/debug/azmx-sync" "${JAVA[@]}" -cp "$CP" EngineTestKt | tee "$BUILD/engine-tests.txt"
ERC=${PIPESTATUS[0]}
set -e
[ "$ERC" = 0 ] || RC=$ERC
echo "example: examples/kotlin/TwoDevices.kt"
AZMX_SYNC_BIN="$TARGET_DIR/debug/azmx-sync" "${JAVA[@]}" -cp "$CP" TwoDevicesKt >/dev/null || EXAMPLE=FAILED
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
