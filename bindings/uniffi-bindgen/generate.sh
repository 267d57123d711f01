#!/usr/bin/env bash
# Generates uniffi bindings of libazmx_sync in library mode with the pinned
# workspace bindgen and the root uniffi.toml.
#
#   bindings/uniffi-bindgen/generate.sh LANGUAGE OUT_DIR [LIBRARY]
#
# LANGUAGE: python | kotlin | swift. LIBRARY defaults to
# $CARGO_TARGET_DIR (or target)/debug/libazmx_sync.so, built here with
# `cargo rustc -p azmx-sync-ffi --lib --crate-type cdylib` (exactly the build
# maturin makes, so the Python, Kotlin and Swift scripts share one build)
# (the bindgen is built separately with `-p uniffi-bindgen`: building both in
# one cargo invocation would unify uniffi's `cli` feature into the library).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LANGUAGE=${1:?language}
OUT=${2:?out dir}
LIB=${3:-}
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
# libazmx_sync.so and uniffi-bindgen from the one workspace build the test
# scripts share (scripts/test.d/lib.sh, workspace_build): per-package builds
# would resolve features again and rebuild much of the dependency graph.
. scripts/test.d/lib.sh
workspace_build
LIB=${LIB:-$TARGET_DIR/debug/libazmx_sync.so}
mkdir -p "$OUT"
"$TARGET_DIR/debug/uniffi-bindgen" generate --no-format --library "$LIB" \
  --config "$ROOT/uniffi.toml" --language "$LANGUAGE" --out-dir "$OUT"
