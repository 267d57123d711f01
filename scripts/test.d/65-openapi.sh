#!/usr/bin/env bash
# The relay's OpenAPI description (issue 15):
# 1. docs/openapi.json is what the relay's code generates (regenerated with
#    `cargo run -p xtask -- gen-openapi` into the tree, then git diff), as
#    20-c.sh does for the C header; server/tests/openapi.rs checks that a
#    relay serves exactly that file.
# 2. schemathesis (pinned, PyPI) against a real relay (target/debug/
#    azmx-sync-relay) with a license and an admin token, through
#    tests/openapi/relay_hooks.py, which registers devices with real Ed25519
#    keys and signs every request as a device does. Checks: no 5xx, every
#    status, content type, header and body as the description says. Each
#    request has a timeout, so a hang is a failure, not a stuck run.
#
# The relay runs with its rate limits off (--rate-per-sec 0,
# --unauth-rate-per-sec 0): thousands of requests from one address, many of
# them deliberately unauthenticated, would otherwise all be 429 after the
# first seconds. A 429 still matches the description; it just tests nothing
# else. server/tests/limits.rs tests the limits themselves.
# schemathesis warns that push and the key-check PUT "mostly reject" valid
# data: most of those requests get a 4xx on purpose (the key check is set
# once and then answers 409, generated seqs collide, some bodies are sent
# with another X-Sha256). Those answers are documented and checked.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
SCHEMATHESIS_VERSION=4.32.5
# Examples per operation and phase: 13 operations, ~4 phases.
MAX_EXAMPLES=${AZMX_OPENAPI_EXAMPLES:-200}

echo "cargo run -p xtask -- gen-openapi (then git diff docs/openapi.json)"
cargo run -q -p xtask -- gen-openapi >/dev/null || die "xtask gen-openapi failed"
if git diff --exit-code -- docs/openapi.json >/dev/null; then
  ok "docs/openapi.json is what the relay generates"
else
  git diff --stat -- docs/openapi.json
  ko "docs/openapi.json was stale (regenerated in the tree: commit it)"
fi

need_apt python3-venv
VENV="$ROOT/.venv"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q " $SCHEMATHESIS_VERSION\$"; then
  echo "pip install schemathesis==$SCHEMATHESIS_VERSION cryptography"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" cryptography \
    || die "pip install schemathesis failed"
fi

workspace_build
RELAY="$TARGET/debug/azmx-sync-relay"
OUT="$TARGET/azmx-openapi"
rm -rf "$OUT"
mkdir -p "$OUT/data"
chmod 700 "$OUT/data"
LID=lic_schemathesis
ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$("$RELAY" license add "$LID" --no-authority --data-dir "$OUT/data" | awk '{k=$NF} END {print k}')
[ -n "$KEY" ] || die "license add printed no key"

AZMX_ADMIN_TOKEN=$ADMIN_TOKEN RUST_LOG=azmx_sync_relay=debug "$RELAY" serve \
  --data-dir "$OUT/data" --listen 127.0.0.1:0 --rate-per-sec 0 --unauth-rate-per-sec 0 \
  >"$OUT/relay.out" 2>"$OUT/relay.log" &
RELAY_PID=$!
trap 'kill $RELAY_PID 2>/dev/null || true; wait $RELAY_PID 2>/dev/null || true' EXIT
relay_wait "$OUT/relay.out" || { cat "$OUT/relay.out" "$OUT/relay.log" >&2; die "the relay did not start"; }
URL=$RELAY_URL

echo "schemathesis $SCHEMATHESIS_VERSION against $URL (max $MAX_EXAMPLES examples per operation and phase)"
set +e
(
  # schemathesis keeps a cache in its working directory: keep it in target/.
  cd "$OUT"
  AZMX_RELAY_URL=$URL AZMX_LICENSE_ID=$LID AZMX_LICENSE_KEY=$KEY AZMX_ADMIN_TOKEN=$ADMIN_TOKEN \
  AZMX_OPENAPI_COUNTS="$OUT/counts.json" SCHEMATHESIS_HOOKS=relay_hooks PYTHONPATH="$ROOT/tests/openapi" \
  timeout 900 "$VENV/bin/schemathesis" run "$URL/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --mode all --max-examples "$MAX_EXAMPLES" --seed 15 --workers 2 \
    --request-timeout 10 --max-failures 50 --suppress-health-check all \
    --report junit --report-junit-path "$OUT/junit.xml" \
    >"$OUT/schemathesis.log" 2>&1
)
RC=$?
set -e
tail -40 "$OUT/schemathesis.log"
REQUESTS=$("$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['requests'])" "$OUT/counts.json" 2>/dev/null || echo 0)
ANSWERED=$(grep -c 'azmx_sync_relay::api: request' "$OUT/relay.log" || true)
echo "  requests: $REQUESTS sent by schemathesis, $ANSWERED logged by the relay; by status:"
"$VENV/bin/python" -c "import json,sys; d=json.load(open(sys.argv[1])); print('   ', d['byStatus'])" "$OUT/counts.json" 2>/dev/null || true
if [ "$RC" = 0 ]; then
  ok "schemathesis: no failure in $REQUESTS requests"
else
  ko "schemathesis found failures (exit $RC; $OUT/schemathesis.log)"
fi
[ "$REQUESTS" -ge 2000 ] && ok "at least 2000 requests ($REQUESTS)" || ko "only $REQUESTS requests (want at least 2000)"
if grep -q "panicked" "$OUT/relay.log"; then ko "the relay panicked (see $OUT/relay.log)"; fi

echo "65-openapi: $PASS passed, $FAIL failed in $(( $(date +%s) - T0 )) s"
[ "$FAIL" = 0 ]
