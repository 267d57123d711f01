#!/usr/bin/env bash
# Python bindings (uniffi), installed the way a user installs them: in a new
# virtualenv with nothing else in it, `pip install ./bindings/python`; in a
# second one, the wheel of `pip wheel ./bindings/python -w DIR` with
# `pip install WHEEL`. pip builds in its isolated build environment with
# maturin from PyPI. A seal/open smoke runs in each; pytest (the package's
# `test` extra), the examples and a quick fast-path benchmark run against the
# wheel's install. Prints its own pass/fail counts; non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
START=$SECONDS
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt python3-venv
# The commands are the user's; only the build profile is CI's: maturin builds
# the dev profile (MATURIN_PEP517_ARGS) in the workspace's target dir (cargo's
# default for the workspace, named for clarity), where the other scripts'
# build already compiled every dependency, instead of a release build of all.
export MATURIN_PEP517_ARGS=${MATURIN_PEP517_ARGS:---profile dev}
export CARGO_TARGET_DIR=$TARGET
OUT="$TARGET/azmx-python"
rm -rf "$OUT" && mkdir -p "$OUT"
PIP_QUIET=(--disable-pip-version-check --no-input)

# smoke VENV: `import azmx_sync` must be the venv's install (run from a
# directory with no azmx_sync in it), and a sealed blob must open.
smoke() {
  (cd "$OUT" && "$1/bin/python" - "$1" <<'PY'
import os, sys
import azmx_sync
venv = os.path.realpath(sys.argv[1])
assert os.path.realpath(azmx_sync.__file__).startswith(venv + os.sep), azmx_sync.__file__
key = azmx_sync.EnvelopeKey.derive("smoke-receipt", "lic_smoke")
blob = key.seal(b"hello from pip")
assert key.open(blob) == b"hello from pip"
assert key.open_fast(key.seal_fast(b"x" * 100_000)) == b"x" * 100_000
print(f"    {os.path.relpath(azmx_sync.__file__, venv)}: seal/open ok")
PY
  )
}

# step NAME LOG CMD...: runs CMD with its output in LOG (tail shown on failure).
step() {
  local name=$1 log=$2
  shift 2
  if "$@" >"$log" 2>&1; then ok "$name"; else tail -30 "$log"; ko "$name (log: $log)"; return 1; fi
}

echo "--- pip install ./bindings/python (new venv) ---"
python3 -m venv "$OUT/venv-install"
if step "pip install ./bindings/python" "$OUT/install.log" \
     "$OUT/venv-install/bin/pip" install "${PIP_QUIET[@]}" ./bindings/python; then
  smoke "$OUT/venv-install" && ok "import azmx_sync after pip install" || ko "import azmx_sync after pip install"
fi

echo "--- pip wheel ./bindings/python, pip install WHEEL (another new venv) ---"
VENV="$OUT/venv-wheel"
python3 -m venv "$VENV"
WHEEL=
if step "pip wheel ./bindings/python -w $OUT/wheels" "$OUT/wheel.log" \
     "$VENV/bin/pip" wheel "${PIP_QUIET[@]}" ./bindings/python -w "$OUT/wheels"; then
  WHEEL=$(ls "$OUT"/wheels/azmx_sync-*.whl 2>/dev/null | head -1)
  [ -n "$WHEEL" ] && ok "wheel $(basename "$WHEEL")" || ko "no azmx_sync wheel in $OUT/wheels"
fi
if [ -n "$WHEEL" ] && step "pip install $(basename "$WHEEL")" "$OUT/wheel-install.log" \
     "$VENV/bin/pip" install "${PIP_QUIET[@]}" "$WHEEL"; then
  smoke "$VENV" && ok "import azmx_sync from the wheel" || ko "import azmx_sync from the wheel"
fi
BUILT=$SECONDS
if [ -z "$WHEEL" ] || ! step "pip install WHEEL[test] (pytest, cryptography)" "$OUT/extras.log" \
     "$VENV/bin/pip" install "${PIP_QUIET[@]}" "$WHEEL[test]"; then
  echo "python: $PASS passed, $((FAIL + 1)) failed (no installed wheel to test)"
  exit 1
fi

# test_engine.py and two_devices.py run a real relay: the workspace CLI's
# `relay serve`.
workspace_build

echo "--- pytest bindings/python/tests (against the wheel's install) ---"
LOG="$OUT/tests.txt"
set +e
(cd "$ROOT/bindings/python/tests" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  --junitxml="$OUT/junit.xml" .) >"$LOG" 2>&1
RC=$?
set -e
tail -25 "$LOG"
read -r TPASS TFAIL < <("$VENV/bin/python" - "$OUT/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(total - bad - skipped, bad)
PY
)
if [ "$RC" = 0 ] && [ "$TFAIL" = 0 ] && [ "$TPASS" -gt 0 ]; then
  ok "pytest: $TPASS passed"
else
  ko "pytest: $TPASS passed, $TFAIL failed (log: $LOG)"
fi

echo "--- examples ---"
(cd "$OUT" && "$VENV/bin/python" "$ROOT/examples/python/seal_snippet.py") >"$OUT/seal_snippet.log" 2>&1 \
  && ok "examples/python/seal_snippet.py" || { cat "$OUT/seal_snippet.log"; ko "examples/python/seal_snippet.py"; }
(cd "$OUT" && "$VENV/bin/python" "$ROOT/examples/python/two_devices.py") >"$OUT/two_devices.log" 2>&1 \
  && ok "examples/python/two_devices.py" || { cat "$OUT/two_devices.log"; ko "examples/python/two_devices.py"; }

echo
echo "fast-path benchmark (debug build, informational; release figures: docs/BENCHMARKS.md):"
"$VENV/bin/python" "$ROOT/bindings/python/bench/bench_fast.py" --quick || true

echo
echo "python: $PASS passed, $FAIL failed (installs $((BUILT - START)) s, total $((SECONDS - START)) s)"
if ((FAIL)); then
  printf '  failed: %s\n' "${FAILED[@]}"
  exit 1
fi
