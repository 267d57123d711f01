#!/usr/bin/env bash
# Python bindings (uniffi): `pip install ./bindings/python` (maturin, dev
# profile, reusing the workspace build), pytest, and a quick fast-path
# benchmark against `cryptography`. Installs what it needs (apt python3-venv,
# pip into $ROOT/.venv). Prints its own pass/fail counts; non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
START=$SECONDS
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt python3-venv
VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "maturin>=1.9,<2" pytest cryptography

# `pip install` from the repository, through maturin's PEP 517 backend. The
# dev profile (MATURIN_PEP517_ARGS) reuses the workspace's debug build instead
# of a release build of every dependency; --no-build-isolation uses the
# maturin installed above. tools/cargo lets maturin run the workspace's pinned
# uniffi-bindgen (see the comment in that file).
echo "building and installing the wheel (pip install ./bindings/python)"
PATH="$ROOT/bindings/python/tools:$VENV/bin:$PATH" MATURIN_PEP517_ARGS="--profile dev" \
  "$VENV/bin/pip" install -q --disable-pip-version-check --no-build-isolation \
  --force-reinstall --no-deps ./bindings/python
# test_engine.py runs a real relay: the workspace CLI's `relay serve`.
workspace_build
BUILT=$SECONDS

# Run from a directory where `import azmx_sync` can only mean the installed package.
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/azmx-python"
LOG="$OUT/tests.txt"
mkdir -p "$OUT"
set +e
(cd "$ROOT/bindings/python/tests" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider \
  --junitxml="$OUT/junit.xml" .) >"$LOG" 2>&1
RC=$?
set -e
tail -25 "$LOG"
read -r PASSED FAILED < <("$VENV/bin/python" - "$OUT/junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
total = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(total - bad - skipped, bad)
PY
)

echo
echo "example: examples/python/seal_snippet.py"
EXAMPLE=ok
(cd "$OUT" && "$VENV/bin/python" "$ROOT/examples/python/seal_snippet.py") || EXAMPLE=FAILED
echo "example: examples/python/two_devices.py"
(cd "$OUT" && "$VENV/bin/python" "$ROOT/examples/python/two_devices.py" >/dev/null) || EXAMPLE=FAILED
echo "example: $EXAMPLE"

echo
echo "fast-path benchmark (debug build, informational; release figures: docs/BENCHMARKS.md):"
"$VENV/bin/python" "$ROOT/bindings/python/bench/bench_fast.py" --quick || true

echo
echo "python: $PASSED passed, $FAILED failed (build+install $((BUILT - START)) s, total $((SECONDS - START)) s)"
[ "$RC" = 0 ] && [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ] && [ "$EXAMPLE" = ok ]
