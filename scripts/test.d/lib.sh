# Helpers shared by the scripts/test.d/*.sh; each sources it after `cd` to
# the repository root:  . scripts/test.d/lib.sh
# Sets ROOT, TARGET (the cargo target dir), T0 (start time, s) and the
# PASS / FAIL / FAILED tallies that ok and ko keep.

ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
T0=$(date +%s)
PASS=0
FAIL=0
FAILED=()

ok() { PASS=$((PASS + 1)); echo "  ok   $*"; }
ko() { FAIL=$((FAIL + 1)); FAILED+=("$*"); echo "  FAIL $*"; }
die() { echo "$(basename "$0"): $*" >&2; exit 1; }

# workspace_build: every library, binary and test of the workspace in one
# cargo invocation, as `cargo test --workspace` builds them. The scripts use
# its target/debug artifacts (libazmx_sync.{so,a}, azmx-sync, uniffi-bindgen)
# instead of `cargo build -p X`: a per-package build resolves features for X
# alone, builds a second copy of much of the dependency graph (ring, syn,
# serde...) and swaps target/debug's artifacts for differently-featured ones.
# After test-all's `cargo test --workspace` this is a no-op.
WORKSPACE_BUILD=(--workspace --lib --bins --tests)
# Sums the "N passed" / "N failed" counts of a cargo test log ($1) into
# PASSED and FAILED (numbers), for a script's summary line.
cargo_counts() {
  PASSED=$(grep -Eo '[0-9]+ passed' "$1" | awk '{s+=$1} END {print s+0}')
  FAILED=$(grep -Eo '[0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')
}
workspace_build() {
  cargo build -q "${WORKSPACE_BUILD[@]}"
}

# need_apt PKG...: installs the Debian packages that are not installed yet.
need_apt() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    echo "apt install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq || true) && apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      || die "apt-get install ${missing[*]} failed"
  fi
}

# need_node: node and npm, from apt when either is missing (any version;
# 30-node.sh needs a newer one and takes it from npm).
need_node() {
  command -v node >/dev/null && command -v npm >/dev/null || need_apt nodejs npm
}

# npm_ci DIR [ARG...]: `npm ci ARG...` in DIR unless DIR/node_modules already
# holds what DIR/package-lock.json pins (a stamp copied there after the last
# `npm ci` that succeeded; `npm ci` empties node_modules, stamp included).
npm_ci() {
  local dir=$1; shift
  local stamp="$dir/node_modules/.package-lock.json.ci-stamp"
  cmp -s "$dir/package-lock.json" "$stamp" && return 0
  echo "npm ci (${dir#"$ROOT"/})"
  (cd "$dir" && npm ci --silent --no-audit --no-fund "$@") || die "npm ci in $dir failed"
  cp "$dir/package-lock.json" "$stamp"
}

# A relay on loopback for bindings tests and the two-device examples: the
# workspace CLI's `relay serve` (CLI is the path of an azmx-sync binary).
#
# relay_license CLI DATA_DIR LICENSE_ID: adds a license to the relay's data
# dir (created if missing) and prints its key.
relay_license() {
  "$1" relay license add "$3" --data-dir "$2" | awk '{k=$NF} END {print k}'
}

# relay_start CLI DATA_DIR: serves DATA_DIR on a free loopback port (log in
# DATA_DIR/serve.log); sets RELAY_PID and RELAY_URL. Non-zero, with the log
# on stderr, when the relay does not announce its URL. relay_stop ends it.
relay_start() {
  local cli=$1 data=$2
  "$cli" relay serve --data-dir "$data" --listen 127.0.0.1:0 >"$data/serve.log" 2>&1 &
  RELAY_PID=$!
  relay_wait "$data/serve.log" || { cat "$data/serve.log" >&2; return 1; }
}

# relay_wait OUT: for a relay started in the background as RELAY_PID with
# its stdout in OUT (any `serve` flags, environment or binary), waits up to
# 20 s for its `listening on URL` and sets RELAY_URL. Non-zero when the
# relay exits or never says it.
relay_wait() {
  RELAY_URL=
  for _ in $(seq 1 200); do
    RELAY_URL=$(sed -n 's/^listening on //p' "$1" | head -1)
    [ -n "$RELAY_URL" ] && return 0
    kill -0 "$RELAY_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

relay_stop() {
  if [ -n "${RELAY_PID:-}" ]; then
    kill "$RELAY_PID" 2>/dev/null || true
    wait "$RELAY_PID" 2>/dev/null || true
  fi
}
