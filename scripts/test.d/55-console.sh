#!/usr/bin/env bash
# The relay's admin console in a real browser: Debian's Chromium driven by
# playwright-core (tests/browser, pinned in package-lock.json). A real relay
# (target/debug/azmx-sync-relay) with an admin token and a license; two
# devices of the real CLI (target/debug/azmx-sync) sync records with known
# plaintext; then in the browser (tests/browser/console.test.mjs): a wrong
# token refused, sign-in, the license's two devices, one revoked through
# the confirmation step, the device table's screenshot
# (target/artifacts/console-devices.png), the table read again with
# JavaScript off, and every console answer free of the plaintext. Last, the
# revoked device's next sync fails as revoked, with a 403 in the relay log.
# Installs what it needs (apt chromium, npm ci). Exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh
PKG="$ROOT/tests/browser"
ARTIFACTS="$TARGET/artifacts"
mkdir -p "$ARTIFACTS"

need_apt chromium
need_node
[ -x /usr/bin/chromium ] || die "no /usr/bin/chromium"
echo "$(/usr/bin/chromium --version 2>/dev/null), node $(node --version)"
npm_ci "$PKG"

workspace_build || die "cargo build ${WORKSPACE_BUILD[*]} failed"
RELAY_BIN="$TARGET/debug/azmx-sync-relay"
CLI="$TARGET/debug/azmx-sync"
[ -x "$RELAY_BIN" ] && [ -x "$CLI" ] || die "no $RELAY_BIN or $CLI"

WORK=$(mktemp -d)
RELAY_PID=
cleanup() {
  relay_stop
  rm -rf "$WORK"
}
trap cleanup EXIT

# --- a relay with an admin token and one license ---------------------------------
LID=lic_console
TOKEN="console-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
DATA="$WORK/relay"
KEY=$("$RELAY_BIN" license add "$LID" --data-dir "$DATA" | awk '{k=$NF} END {print k}')
[ -n "$KEY" ] || die "license add printed no key"
AZMX_ADMIN_TOKEN="$TOKEN" "$RELAY_BIN" serve --data-dir "$DATA" --listen 127.0.0.1:0 \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
RELAY_PID=$!
relay_wait "$WORK/serve.out" || { cat "$WORK/serve.log" >&2; die "the relay did not start"; }
URL=$RELAY_URL
echo "relay at $URL"

# --- two devices of the real CLI sync records with known plaintext ----------------
export AZMX_RECEIPT="RCPT-CONSOLE-7F3A-99C2-44D1"
dev() { # dev NAME ARGS...: the CLI as device NAME (its own state and memory folder)
  local name=$1; shift
  AZMX_MEMORY_DIR="$WORK/$name-memory" "$CLI" --state-dir "$WORK/$name" "$@"
}
MARK=$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
P1="console plaintext one $MARK"
P2="console plaintext two $MARK"
P3="console-secret-$MARK"
steps_ok=1
run() { "$@" >>"$WORK/cli.log" 2>&1 || { echo "  failed: $*" >>"$WORK/cli.log"; steps_ok=0; }; }
run dev laptop init --relay "$URL" --license-id "$LID" --license-key "$KEY" --name laptop
run dev phone init --relay "$URL" --license-id "$LID" --license-key "$KEY" --name phone
run dev laptop memory put editor "$P1"
run dev laptop memory put token-note "$P3"
run dev laptop sync
run dev phone sync
run dev phone memory put phone-note "$P2"
run dev phone sync
run dev laptop sync
got=$(dev phone memory get editor 2>/dev/null)
if [ "$steps_ok" = 1 ] && [ "$got" = "$P1" ]; then
  ok "two CLI devices synced (the phone reads the laptop's record)"
else
  cat "$WORK/cli.log"; ko "two CLI devices synced"
fi
KEEP=$(dev laptop --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["deviceId"])')
REVOKE=$(dev phone --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["deviceId"])')
PLAINTEXTS=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$P1" "$P2" "$P3")

# --- the browser ------------------------------------------------------------------
if (cd "$PKG" && RELAY_URL="$URL" ADMIN_TOKEN="$TOKEN" LICENSE_ID="$LID" KEEP_ID="$KEEP" \
      REVOKE_ID="$REVOKE" REVOKE_NAME=phone PLAINTEXTS="$PLAINTEXTS" ARTIFACTS="$ARTIFACTS" \
      node console.test.mjs) 2>&1 | tee "$WORK/browser.log"; then
  ok "browser: $(tail -1 "$WORK/browser.log")"
else
  ko "browser: $(tail -1 "$WORK/browser.log")"
fi
[ -s "$ARTIFACTS/console-devices.png" ] && ok "screenshot $ARTIFACTS/console-devices.png" \
  || ko "no screenshot"

# --- the revoked device's next sync -----------------------------------------------
dev phone sync >"$WORK/revoked.out" 2>&1
code=$?
if [ "$code" = 5 ] && grep -qi "revoked" "$WORK/revoked.out" \
   && grep "request refused" "$WORK/serve.log" | grep "$REVOKE" | grep -q "403"; then
  ok "the revoked phone's sync fails as revoked (exit 5, 403 in the relay log)"
else
  cat "$WORK/revoked.out"; ko "revoked phone: exit $code"
fi
if dev laptop sync >>"$WORK/cli.log" 2>&1; then ok "the laptop still syncs"; else ko "the laptop still syncs"; fi
# The admin token, the session cookie and the plaintext never reach the log.
if grep -q -e "$TOKEN" -e "$MARK" -e "azmx_console=" "$WORK/serve.log"; then
  ko "the relay log carries a secret or plaintext"
else
  ok "the relay log carries no token, cookie or plaintext"
fi

echo "console: $PASS passed, $FAIL failed ($(( $(date +%s) - T0 )) s)"
[ "$FAIL" = 0 ]
