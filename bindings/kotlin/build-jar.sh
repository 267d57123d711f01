#!/usr/bin/env bash
# Builds the Kotlin/JVM library as one jar:
#
#   bindings/kotlin/build-jar.sh        # -> target/kotlin/azmx-sync.jar
#
# It holds the uniffi-generated Kotlin (package dev.azmx.sync) and
# FastEnvelope.kt, compiled, plus libazmx_sync for this platform as a JNA
# class-path resource (<os>-<arch>/libazmx_sync.so), so an application needs
# only the jar, JNA and the Kotlin standard library on its class path; no
# -Djna.library.path. Needs cargo, python3, `java`, `kotlinc` (on PATH or
# $KOTLINC) and JNA 5 ($JNA_JAR, default /usr/share/java/jna.jar: Debian
# libjna-java). libazmx_sync is built `--release` unless
# AZMX_SYNC_CARGO_ARGS gives other cargo build arguments.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
KOTLINC=${KOTLINC:-kotlinc}
JNA_JAR=${JNA_JAR:-/usr/share/java/jna.jar}
command -v "$KOTLINC" >/dev/null || { echo "build-jar.sh: no kotlinc (put it on PATH or set KOTLINC)" >&2; exit 1; }
[ -f "$JNA_JAR" ] || { echo "build-jar.sh: no JNA jar at $JNA_JAR (set JNA_JAR)" >&2; exit 1; }
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
OUT="$TARGET_DIR/kotlin"
WORK="$OUT/build"
rm -rf "$WORK" && mkdir -p "$WORK"

# The library: the cdylib artifact cargo reports (its path depends on the profile).
read -r -a CARGO_ARGS <<<"${AZMX_SYNC_CARGO_ARGS:---release}"
LIB=$(cargo build --manifest-path bindings/ffi/Cargo.toml --message-format=json-render-diagnostics "${CARGO_ARGS[@]}" \
  | python3 -c '
import json, sys
found = []
for line in sys.stdin:  # all of it: cargo must not see a closed pipe
    m = json.loads(line) if line.startswith("{") else {}
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "azmx_sync" and not m["profile"]["test"]:
        found += [f for f in m["filenames"] if f.endswith((".so", ".dylib", ".dll"))]
print(found[0] if found else "")')
[ -n "$LIB" ] || { echo "build-jar.sh: cargo built no libazmx_sync" >&2; exit 1; }

# The Kotlin of that library, by the pinned bindgen (a default workspace member).
cargo run -q --bin uniffi-bindgen -- generate --no-format --library "$LIB" \
  --config "$ROOT/uniffi.toml" --language kotlin --out-dir "$WORK/gen"
"$KOTLINC" -nowarn -cp "$JNA_JAR" "$WORK/gen/dev/azmx/sync/azmx_sync.kt" \
  bindings/kotlin/src/main/kotlin/dev/azmx/sync/FastEnvelope.kt -d "$WORK/classes.jar" 2>&1 | grep -v '^warning' || true
[ -f "$WORK/classes.jar" ] || { echo "build-jar.sh: kotlinc failed" >&2; exit 1; }

# JNA's resource prefix for this platform (com.sun.jna.Platform.RESOURCE_PREFIX).
case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) os=$(uname -s | tr 'A-Z' 'a-z') ;; esac
case "$(uname -m)" in x86_64 | amd64) arch=x86-64 ;; aarch64 | arm64) arch=aarch64 ;; *) arch=$(uname -m) ;; esac
python3 - "$WORK/classes.jar" "$OUT/azmx-sync.jar.tmp" "$LIB" "$os-$arch/$(basename "$LIB")" <<'PY'
import shutil, sys, zipfile
src, dest, lib, entry = sys.argv[1:]
shutil.copyfile(src, dest)
with zipfile.ZipFile(dest, "a", zipfile.ZIP_DEFLATED) as jar:
    jar.write(lib, entry)
PY
mv "$OUT/azmx-sync.jar.tmp" "$OUT/azmx-sync.jar"
echo "$OUT/azmx-sync.jar ($os-$arch/$(basename "$LIB") from $LIB)"
