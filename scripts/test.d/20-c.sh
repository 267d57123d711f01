#!/usr/bin/env bash
# C ABI tests: header check (pinned cbindgen), API-surface review list, the C
# test suites (tests/c/test_c_api.c; tests/c/test_c_engine.c against a real
# relay on loopback) against the static and the shared libazmx_sync, one
# valgrind run of each, the C examples, and the header as C++. Installs what it needs on a fresh
# Debian bookworm (apt: gcc, make, valgrind; cargo: cbindgen 0.29.4).
# Prints its own pass/fail counts; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
OUT="$TARGET/c-tests"
mkdir -p "$OUT"
CBINDGEN_VERSION=0.29.4

# --- tools ------------------------------------------------------------------
need_apt gcc g++ libc6-dev make valgrind
CBINDGEN="${CARGO_HOME:-$HOME/.cargo}/bin/cbindgen"
if ! "$CBINDGEN" --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "cargo install cbindgen $CBINDGEN_VERSION (a few minutes, once)"
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION" || die "cargo install cbindgen failed"
fi

# --- build the library (cdylib + staticlib) ----------------------------------
echo "cargo build ${WORKSPACE_BUILD[*]} (libazmx_sync and the relay CLI)"
workspace_build || die "cargo build ${WORKSPACE_BUILD[*]} failed"
LIBDIR="$TARGET/debug"

# Native libraries the staticlib needs: those of the Rust standard library
# (what rustc prints for an empty staticlib; no dependency of azmx-sync-ffi
# links a system library). Asking about the crate itself (`cargo rustc
# --crate-type staticlib`) would rebuild it and its dependencies with
# per-package features; a link failure of the static test names a missing one.
NATIVE_LIBS=$(printf '' | rustc --crate-type staticlib --crate-name azmx_native_libs \
  --print native-static-libs -o "$OUT/native-libs.a" - 2>&1 | sed -n 's/.*native-static-libs: //p' | tail -1)
[ -n "$NATIVE_LIBS" ] || die "could not read native-static-libs"
# Test a snapshot: the target dir is shared, and a concurrent cargo run may
# replace (or, with another crate-type, delete) the libraries mid-test.
snapshot() {
  rm -rf "$OUT/lib" && mkdir -p "$OUT/lib" \
    && cp "$LIBDIR/libazmx_sync.so" "$LIBDIR/libazmx_sync.a" "$OUT/lib/" 2>/dev/null
}
snapshot || die "libazmx_sync.{so,a} missing from $LIBDIR"
LIBDIR="$OUT/lib"

# --- a relay on loopback for the engine tests and the two-device example -----
# The workspace CLI's `relay serve` (as the Python and Node tests do); one
# license per run so runs do not see each other's records.
CLI="$TARGET/debug/azmx-sync"
RELAY_DATA=$(mktemp -d "${TMPDIR:-/tmp}/azmx-c-relay-XXXXXX")
RELAY_PID=
cleanup() {
  [ -n "$RELAY_PID" ] && kill "$RELAY_PID" 2>/dev/null && wait "$RELAY_PID" 2>/dev/null
  rm -rf "$RELAY_DATA"
}
trap cleanup EXIT
declare -A LICENSE_KEY
for run in static shared valgrind; do
  LICENSE_KEY[$run]=$(relay_license "$CLI" "$RELAY_DATA" "lic_c_$run")
  [ -n "${LICENSE_KEY[$run]}" ] || die "relay license add lic_c_$run failed"
done
relay_start "$CLI" "$RELAY_DATA" || die "the relay did not start"
echo "relay at $RELAY_URL"

echo
echo "--- header and API surface ---"
# 1. The committed header equals what the pinned cbindgen generates.
"$CBINDGEN" --quiet --config cbindgen.toml --output "$OUT/azmx_sync.h" bindings/ffi/src/c_api/mod.rs
if diff -u include/azmx_sync.h "$OUT/azmx_sync.h" >"$OUT/header.diff"; then
  ok "include/azmx_sync.h is up to date (cbindgen $CBINDGEN_VERSION)"
else
  cat "$OUT/header.diff"
  ko "include/azmx_sync.h differs from cbindgen output (regenerate: cbindgen --config cbindgen.toml --output include/azmx_sync.h bindings/ffi/src/c_api/mod.rs)"
fi
git ls-files --error-unmatch include/azmx_sync.h >/dev/null 2>&1 \
  && ok "include/azmx_sync.h is committed" || ko "include/azmx_sync.h is not committed"

# 2. Functions of the header == the reviewed list == what the tests call.
grep -vE '^\s*//' include/azmx_sync.h | grep -oE '\bazmx_[a-z0-9_]+\(' | tr -d '(' | sort -u >"$OUT/header-fns.txt"
grep -vE '^\s*(#|$)' tests/c/api-surface.txt | awk '{print $1}' | sort -u >"$OUT/reviewed-fns.txt"
if diff -u "$OUT/reviewed-fns.txt" "$OUT/header-fns.txt"; then
  ok "header functions match tests/c/api-surface.txt ($(wc -l <"$OUT/header-fns.txt") functions)"
else
  ko "header functions differ from tests/c/api-surface.txt (review the new entry point)"
fi
C_TESTS=(tests/c/test_c_api.c tests/c/test_c_engine.c)
untested=$(while read -r f; do grep -q "\b$f(" "${C_TESTS[@]}" || echo "$f"; done <"$OUT/header-fns.txt")
[ -z "$untested" ] && ok "every entry point is called by the C tests (${C_TESTS[*]})" \
  || ko "entry points without a C test: $untested"
# Every status a C caller can provoke is asserted somewhere (INTERNAL and
# PANIC are not reachable through the API; the panic boundary has Rust tests).
unasserted=$(grep -oE 'AZMX_STATUS_[A-Z_0-9]+' include/azmx_sync.h | sort -u \
  | grep -vE 'AZMX_STATUS_(INTERNAL|PANIC)$' \
  | while read -r s; do grep -qE "CHECK_STATUS\(.*$s\)|^\s+$s\);" "${C_TESTS[@]}" || echo "$s"; done)
[ -z "$unasserted" ] && ok "every reachable status code is asserted by the C tests" \
  || ko "status codes never asserted: $unasserted"
# Every exported header function is really in both libraries.
nm -D --defined-only "$LIBDIR/libazmx_sync.so" >"$OUT/so-symbols.txt"
missing=$(while read -r f; do grep -q " T $f$" "$OUT/so-symbols.txt" || echo "$f"; done <"$OUT/header-fns.txt")
[ -z "$missing" ] && ok "every header function is exported by libazmx_sync.so" || ko "not exported: $missing"

# 3. The header compiles as C++ (cpp_compat).
if echo '#include "azmx_sync.h"
int main() { AzmxBuffer b = {nullptr, 0, 0}; azmx_buffer_free(&b); return AZMX_STATUS_OK; }' \
  | g++ -std=c++17 -Wall -Werror -Iinclude -x c++ - -o "$OUT/cxx-check" -L"$LIBDIR" -l:libazmx_sync.so 2>"$OUT/cxx.log"; then
  ok "header compiles and links as C++"
else
  cat "$OUT/cxx.log"; ko "header does not compile as C++"
fi

echo
echo "--- C tests ---"
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -Iinclude)
run_suite() { # name binary [runner...]
  local name=$1 bin=$2; shift 2
  local log="$OUT/$name.log"
  if "$@" "$bin" >"$log" 2>&1; then
    ok "$name: $(grep -E '^c tests:' "$log")"
  else
    grep -E 'FAIL|c tests:|==[0-9]+== .*(Invalid|uninitialised|definitely|indirectly|possibly|ERROR SUMMARY)' "$log" | head -40
    ko "$name (log: $log)"
  fi
}
if gcc "${CFLAGS[@]}" tests/c/test_c_api.c -o "$OUT/test_static" \
     "$LIBDIR/libazmx_sync.a" $NATIVE_LIBS -pthread 2>"$OUT/build-static.log"; then
  ok "built against libazmx_sync.a (+ $NATIVE_LIBS)"
  ldd "$OUT/test_static" >"$OUT/ldd-static.txt" 2>&1
  grep -q azmx_sync "$OUT/ldd-static.txt" && ko "static test binary depends on libazmx_sync.so" \
    || ok "static test binary has no libazmx_sync.so dependency"
  run_suite "static" "$OUT/test_static"
else
  cat "$OUT/build-static.log"; ko "build against the static library"
fi
if gcc "${CFLAGS[@]}" tests/c/test_c_api.c -o "$OUT/test_shared" \
     -L"$LIBDIR" -l:libazmx_sync.so -Wl,-rpath,"$LIBDIR" -pthread 2>"$OUT/build-shared.log"; then
  ok "built against libazmx_sync.so"
  ldd "$OUT/test_shared" >"$OUT/ldd-shared.txt" 2>&1
  grep -q "libazmx_sync.so => $LIBDIR/libazmx_sync.so" "$OUT/ldd-shared.txt" \
    && ok "shared test binary loads $LIBDIR/libazmx_sync.so" || ko "shared test binary does not load libazmx_sync.so"
  run_suite "shared" "$OUT/test_shared"
  # Once under valgrind: any invalid read/write, uninitialised use or leak fails.
  run_suite "valgrind (shared)" "$OUT/test_shared" \
    valgrind -q --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible
else
  cat "$OUT/build-shared.log"; ko "build against the shared library"
fi

# The engine suite: a real relay on loopback, one license per run.
engine_suite() { # name license-run binary [runner...]
  local name=$1 run=$2; shift 2
  AZMX_TEST_RELAY_URL="$RELAY_URL" AZMX_TEST_LICENSE_ID="lic_c_$run" \
    AZMX_TEST_LICENSE_KEY="${LICENSE_KEY[$run]}" run_suite "$name" "$@"
}
if gcc "${CFLAGS[@]}" tests/c/test_c_engine.c -o "$OUT/engine_static" \
     "$LIBDIR/libazmx_sync.a" $NATIVE_LIBS -pthread 2>"$OUT/build-engine-static.log" \
   && gcc "${CFLAGS[@]}" tests/c/test_c_engine.c -o "$OUT/engine_shared" \
     -L"$LIBDIR" -l:libazmx_sync.so -Wl,-rpath,"$LIBDIR" -pthread 2>"$OUT/build-engine-shared.log"; then
  ok "built tests/c/test_c_engine.c (static and shared)"
  engine_suite "engine (static)" static "$OUT/engine_static"
  engine_suite "engine (shared)" shared "$OUT/engine_shared"
  engine_suite "engine valgrind (shared)" valgrind "$OUT/engine_shared" \
    valgrind -q --error-exitcode=1 --suppressions=tests/c/valgrind.supp --leak-check=full --show-leak-kinds=definite,indirect,possible \
      --errors-for-leak-kinds=definite,indirect,possible
else
  cat "$OUT"/build-engine-*.log; ko "build tests/c/test_c_engine.c"
fi

echo
echo "--- C example ---"
if make -s -C examples/c all LIBDIR="$LIBDIR" OUT="$TARGET/c-example" NATIVE_LIBS="$NATIVE_LIBS" >"$OUT/example-build.log" 2>&1; then
  ok "examples/c builds (shared and static)"
  for v in shared static; do
    if "$TARGET/c-example/example-$v" >"$OUT/example-$v.log" 2>&1 \
       && grep -q "relay-side verify: OK" "$OUT/example-$v.log" \
       && grep -q "open with another receipt: DECRYPT_FAILED" "$OUT/example-$v.log"; then
      ok "examples/c runs ($v)"
    else
      cat "$OUT/example-$v.log"; ko "examples/c run ($v)"
    fi
  done
else
  cat "$OUT/example-build.log"; ko "examples/c build"
fi
# The two-device example exactly as the README runs it (its own relay).
if AZMX_CLI="$CLI" LIBDIR="$LIBDIR" OUT="$TARGET/c-example" NATIVE_LIBS="$NATIVE_LIBS" \
     examples/c/two_devices.sh >"$OUT/two-devices.log" 2>&1 \
   && grep -q "desktop sees: .*hello from the laptop" "$OUT/two-devices.log"; then
  ok "examples/c/two_devices.sh: the desktop sees the laptop's snippet"
else
  cat "$OUT/two-devices.log"; ko "examples/c/two_devices.sh"
fi

echo
echo "C: $PASS passed, $FAIL failed ($(( $(date +%s) - T0 )) s)"
if ((FAIL)); then
  printf '  failed: %s\n' "${FAILED[@]}"
  exit 1
fi
