#!/usr/bin/env bash
# Runs examples/c/two_devices.c against a local relay: builds the CLI (the
# relay) and libazmx_sync if needed, creates a license, serves on a free
# loopback port, builds and runs the program, then stops the relay.
#
#   ./examples/c/two_devices.sh            (from anywhere; Rust, cc, make needed)
#
# Environment: AZMX_CLI (an azmx-sync binary to use instead of building
# one), and LIBDIR / OUT / NATIVE_LIBS as for examples/c/Makefile.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh   # ROOT, TARGET, relay_license, relay_start, relay_stop
# One workspace build gives both (scripts/test.d/lib.sh, workspace_build).
if [ -z "${AZMX_CLI:-}" ] || [ -z "${LIBDIR:-}" ]; then workspace_build; fi
AZMX_CLI=${AZMX_CLI:-$TARGET/debug/azmx-sync}
OUT="${OUT:-$TARGET/c-example}"
make -s -C "$ROOT/examples/c" two-devices-build LIBDIR="${LIBDIR:-$TARGET/debug}" OUT="$OUT"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/azmx-c-two-devices-XXXXXX")
trap 'relay_stop; rm -rf "$WORK"' EXIT

# 1. A relay with one license.
LICENSE_KEY=$(relay_license "$AZMX_CLI" "$WORK/relay" lic_c_example)
relay_start "$AZMX_CLI" "$WORK/relay" || die "the relay did not start"

# 2. Two devices: the laptop writes and syncs, the desktop syncs and prints.
AZMX_LICENSE_KEY="$LICENSE_KEY" TMPDIR="$WORK" \
  "$OUT/two_devices" "$RELAY_URL" lic_c_example
