#!/usr/bin/env bash
# One benchmark run that prints every ratio side by side, and regenerates the
# tables of docs/BENCHMARKS.md between its <!-- bench:begin --> and
# <!-- bench:end --> markers (the prose outside them is hand-written):
#
#   scripts/bench.sh                 # full run (~30-60 min on 2 cores), rewrites docs/
#   BENCH_QUICK=1 scripts/bench.sh   # smoke run: short loops, small sizes; docs untouched
#
# Measures, in this order: PBKDF2-600k and AES-256-GCM seal/open 1 KiB and
# 1 MiB of the Rust core (criterion) against OpenSSL (Python `cryptography`);
# the Python and Kotlin bulk paths against their platform's AES-GCM
# (cryptography; javax.crypto); merge 100k into 100k (criterion); relay
# pushes/s and p99 at 1/8/64 devices with the relay in its own process (its
# CPU per push apart from the load generator's); the scale curves (1k..1M
# records, tests/e2e/benches/scale). Records the machine (lscpu, nproc), the
# date and the load average before and after. Results: target/bench/.
#
# Knobs: BENCH_QUICK=1; BENCH_DOCS=0|1 (rewrite docs/BENCHMARKS.md and
# docs/scale-curves.svg; default 1 for a full run, 0 for a quick one);
# BENCH_ONLY="crypto bindings merge relay scale" (a subset); SCALE_SIZES,
# SCALE_BODIES, RELAY_LOAD_SECS pass through; BENCH_COMMIT names the code
# measured when it is not `git describe --dirty` of the checkout. Installs what it needs like the
# test scripts (apt for JNA/Java, npm for kotlinc, pip into $ROOT/.venv).
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/test.d/lib.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
QUICK=${BENCH_QUICK:-0}
DOCS=${BENCH_DOCS:-$([ "$QUICK" = 1 ] && echo 0 || echo 1)}
ONLY=${BENCH_ONLY:-crypto bindings merge relay scale}
OUT="$TARGET/bench"
mkdir -p "$OUT"
rm -f "$OUT"/{openssl,python-fast,kotlin-fast,relay-load,machine,scale}.json "$OUT"/{scale,summary}.md "$OUT/criterion-since"
touch "$OUT/criterion-since" # criterion results older than this are not this run's
STEPS_FAILED=()
want() { [[ " $ONLY " == *" $1 "* ]]; }
# run NAME CMD...: runs a step with its log in $OUT/NAME.log; a failed step
# is reported and the run goes on.
run() {
  local name=$1
  shift
  echo "--- $name ($(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg))"
  if "$@" >"$OUT/$name.log" 2>&1; then
    tail -n "${SHOW_LINES:-0}" "$OUT/$name.log"
  else
    tail -20 "$OUT/$name.log"
    echo "    $name FAILED (log: $OUT/$name.log)"
    STEPS_FAILED+=("$name")
  fi
}

python3 - "$OUT/machine.json" "$QUICK" <<'PY'
import json, os, subprocess, sys, time
cpu = subprocess.run("lscpu | sed -n 's/^Model name: *//p' | head -1", shell=True,
                     capture_output=True, text=True).stdout.strip()
flags = open("/proc/cpuinfo").read().split("flags", 1)[-1].split("\n", 1)[0]
rev = os.environ.get("BENCH_COMMIT") or subprocess.run(
    ["git", "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
json.dump({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cpu": cpu,
           "nproc": os.cpu_count(), "cpuFlags": [f for f in ("aes", "vaes", "pclmulqdq", "sha_ni", "avx2", "avx512f")
                                                  if f" {f} " in flags + " "],
           "loadavgBefore": " ".join(open("/proc/loadavg").read().split()[:3]),
           "commit": rev, "quick": sys.argv[2] == "1"}, open(sys.argv[1], "w"))
PY
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg); quick=$QUICK"

# Python with `cryptography` (the OpenSSL reference) in $ROOT/.venv.
VENV="$ROOT/.venv"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt python3-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import cryptography' 2>/dev/null \
  || "$VENV/bin/pip" install -q --disable-pip-version-check cryptography

# Criterion: short settings in a quick run.
CRIT=(--warm-up-time 2 --measurement-time 5)
[ "$QUICK" = 1 ] && CRIT=(--warm-up-time 0.5 --measurement-time 1 --sample-size 10)

if want crypto; then
  run openssl "$VENV/bin/python" scripts/bench/openssl_ref.py "$OUT/openssl.json" $([ "$QUICK" = 1 ] && echo --quick)
  run crypto cargo bench -p azmx-sync-core --bench crypto -- "${CRIT[@]}" \
    'kdf/pbkdf2|envelope/(seal|open)/(1024|1048576)$'
fi

if want bindings; then
  # Python: the release wheel, built by pip from the source tree (maturin,
  # as 40-python.sh installs it) into .venv.
  run python-build env CARGO_TARGET_DIR="$TARGET" "$VENV/bin/pip" install -q --disable-pip-version-check \
    --force-reinstall ./bindings/python
  run python-fast "$VENV/bin/python" bindings/python/bench/bench_fast.py --json "$OUT/python-fast.json" \
    $([ "$QUICK" = 1 ] && echo --quick)
  # Kotlin: the jar as bindings/kotlin/README.md builds it (release library),
  # with kotlinc from npm and JNA from Debian, as 50-kotlin.sh does.
  kotlin_bench() {
    need_apt libjna-java
    command -v java >/dev/null || need_apt openjdk-17-jre-headless
    command -v npm >/dev/null || need_apt nodejs npm
    local cache=${AZMX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/azmx} jna=/usr/share/java/jna.jar
    local k="$cache/kotlin/node_modules/kotlin-compiler"
    if [ ! -x "$k/bin/kotlinc" ]; then
      mkdir -p "$cache/kotlin"
      npm install --prefix "$cache/kotlin" --no-audit --no-fund --silent "kotlin-compiler@${AZMX_KOTLIN_VERSION:-2}"
    fi
    PATH="$k/bin:$PATH" bindings/kotlin/build-jar.sh || return 1
    local lib="$TARGET/kotlin/azmx-sync.jar" jar="$OUT/kotlin-bench.jar"
    "$k/bin/kotlinc" -nowarn -cp "$lib:$jna" bindings/kotlin/bench/BenchFast.kt -d "$jar" || return 1
    java -cp "$jar:$lib:$k/lib/kotlin-stdlib.jar:$jna" BenchFastKt $([ "$QUICK" = 1 ] && echo --quick) \
      | tail -1 >"$OUT/kotlin-fast.json"
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$OUT/kotlin-fast.json"
  }
  run kotlin-fast kotlin_bench
fi

if want merge; then
  run merge cargo bench -p azmx-sync-core --bench merge -- "${CRIT[@]}" \
    $([ "$QUICK" = 1 ] && echo 'merge_100k_into_100k/merge_in_place/snippets' || echo 'merge_100k_into_100k(_cpu)?/merge_in_place/')
fi

# The relay binary for the load and scale runs: its own process, so its RSS
# and CPU are its own.
if want relay || want scale; then
  # As shipped: the `dist` profile (release with LTO; Cargo.toml).
  run relay-build cargo build --profile dist -p azmx-sync-relay --bin azmx-sync-relay
fi
if want relay; then
  run relay-load env RELAY_LOAD_BIN="$TARGET/dist/azmx-sync-relay" RELAY_LOAD_JSON="$OUT/relay-load.json" \
    RELAY_LOAD_SECS="${RELAY_LOAD_SECS:-$([ "$QUICK" = 1 ] && echo 1 || echo 8)}" \
    RELAY_LOAD_LEVELS="${RELAY_LOAD_LEVELS:-1,8,64}" cargo bench -p azmx-sync-relay --bench load
fi
if want scale; then
  if [ "$QUICK" = 1 ]; then
    export SCALE_SIZES=${SCALE_SIZES:-1000,10000} SCALE_BODIES=${SCALE_BODIES:-100} SCALE_REPEATS=${SCALE_REPEATS:-1}
  fi
  run scale env SCALE_RELAY_BIN="$TARGET/dist/azmx-sync-relay" SCALE_OUT="$OUT/scale.json" \
    cargo bench -p azmx-sync-e2e --bench scale
  SVG="$OUT/scale-curves.svg"
  [ "$DOCS" = 1 ] && SVG=docs/scale-curves.svg
  [ -f "$OUT/scale.json" ] && python3 scripts/bench/scale_report.py "$OUT/scale.json" --svg "$SVG" --md "$OUT/scale.md"
fi

python3 - "$OUT/machine.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["loadavgAfter"] = " ".join(open("/proc/loadavg").read().split()[:3])
json.dump(m, open(sys.argv[1], "w"))
PY
DOC_ARGS=()
[ "$DOCS" = 1 ] && DOC_ARGS=(--docs docs/BENCHMARKS.md)
python3 scripts/bench/report.py "$OUT" --criterion "$TARGET/criterion" --md "$OUT/summary.md" "${DOC_ARGS[@]}"
if ((${#STEPS_FAILED[@]})); then
  echo "bench: failed steps: ${STEPS_FAILED[*]}"
  exit 1
fi
echo "bench: all steps ran; tables in $OUT/summary.md$([ "$DOCS" = 1 ] && echo ' and docs/BENCHMARKS.md')"
