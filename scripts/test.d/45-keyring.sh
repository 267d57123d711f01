#!/usr/bin/env bash
# Unattended sync with the OS secret store and the service unit, on Linux:
# cli/tests/keyring.rs against a real Secret Service (GNOME Keyring, started
# unlocked in a private D-Bus session with a throwaway HOME, so no real
# keyring is touched) and cli/tests/service.rs (the systemd user unit,
# checked by `systemd-analyze --user verify`). Installs gnome-keyring,
# dbus-daemon (dbus-run-session), libsecret-tools (secret-tool, to inspect
# the store) and, when systemd-analyze is missing, systemd. Prints pass/fail
# counts; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh

need_apt gnome-keyring dbus-daemon libsecret-tools
command -v systemd-analyze >/dev/null || need_apt systemd

# cargo and rustup find their homes through HOME unless told: keep them.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
KHOME=$(mktemp -d /tmp/azmx-keyring.XXXXXX)
trap 'rm -rf "$KHOME"' EXIT
mkdir -m 700 "$KHOME/runtime"
LOG="$KHOME/cargo-test.log"

# The login keyring is created unlocked with a throwaway password read on
# stdin (an empty one makes the daemon ask a prompter, which is absent).
HOME="$KHOME" XDG_DATA_HOME="$KHOME/.local/share" XDG_RUNTIME_DIR="$KHOME/runtime" \
  dbus-run-session -- sh -c '
    printf "azmx-test-keyring" | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
      || { echo "gnome-keyring-daemon did not start" >&2; exit 1; }
    AZMX_TEST_SECRET_SERVICE=1 exec cargo test --workspace --test keyring --test service \
      -- --include-ignored --nocapture' 2>&1 | grep -v "Failed to set fd limit" | tee "$LOG"
RC=${PIPESTATUS[0]}
cargo_counts "$LOG"
SKIPPED=$(grep -c '^skipped' "$LOG")
echo "keyring/service: $PASSED passed, $FAILED failed, $SKIPPED skipped ($(($(date +%s) - T0)) s)"
[[ $RC -eq 0 && $FAILED -eq 0 && $PASSED -gt 0 ]] || die "failures"
