#!/usr/bin/env bash
# PostgreSQL backend of the relay: the storage conformance suite, the HTTP
# tests and the two-relays-one-database test against a real, throwaway
# PostgreSQL cluster (apt `postgresql` if missing). The cluster lives in a temp
# directory, listens on a free loopback port, and is stopped and removed on
# exit. Prints pass/fail counts; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
. scripts/test.d/lib.sh

# --- PostgreSQL binaries -------------------------------------------------------
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
PGBIN=$(find_bin)
if [[ -z "$PGBIN" || ! -x "$PGBIN/initdb" ]]; then
  need_apt postgresql
  PGBIN=$(find_bin)
  [[ -x "$PGBIN/initdb" ]] || die "initdb not found after install"
fi

# Run a PostgreSQL tool as the `postgres` user when we are root (initdb
# refuses root), else as ourselves.
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- throwaway cluster ---------------------------------------------------------
PGTMP=$(mktemp -d /tmp/azmx-pg.XXXXXX)
chmod 755 "$PGTMP"
[[ $(id -u) -eq 0 ]] && chown postgres: "$PGTMP"
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$PGTMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
as_pg "$PGBIN/initdb" -D "$PGTMP/data" -U postgres -A trust --no-sync >"$PGTMP/initdb.log" 2>&1 \
  || { cat "$PGTMP/initdb.log"; die "initdb failed"; }
as_pg "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$PGTMP -c max_connections=200" \
  start >/dev/null || { cat "$PGTMP/log"; die "pg_ctl start failed"; }
echo "postgres $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($PGTMP)"
export AZMX_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres"

# --- tests ----------------------------------------------------------------------
TESTS=()
for f in server/tests/postgres*.rs; do TESTS+=(--test "$(basename "$f" .rs)"); done
LOG="$PGTMP/cargo-test.log"
cargo test --workspace "${TESTS[@]}" 2>&1 | tee "$LOG"
RC=${PIPESTATUS[0]}
cargo_counts "$LOG"
SKIPPED=$(grep -c 'skipped: AZMX_TEST_DATABASE_URL not set' "$LOG")
echo "postgres: $PASSED passed, $FAILED failed, $SKIPPED skipped ($(($(date +%s) - T0)) s)"
[[ $RC -eq 0 && $FAILED -eq 0 && $SKIPPED -eq 0 ]] || die "failures"

# The convergence simulator with PostgreSQL in the mix (one scenario in three
# runs on it when AZMX_TEST_DATABASE_URL is set; docs/RELIABILITY.md).
SIM_SCENARIOS=${SIM_PG_SCENARIOS:-45} SIM_SECONDS=120 \
  cargo test --workspace --test sim convergence -- --nocapture 2>&1 | tee "$PGTMP/sim.log" | grep -E "sim summary|violation|SIM_SEED|test result"
[[ ${PIPESTATUS[0]} -eq 0 ]] || die "simulator with PostgreSQL failed"
