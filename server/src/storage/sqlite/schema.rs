//! The database schema, its migrations, and how connections are set up.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use super::backend;
use crate::storage::StorageError;

pub(super) const SCHEMA_VERSION: i64 = 5;
/// Bits of a position below the epoch: an epoch holds 2^40 pushes per
/// license, and 2^23 epochs (relay starts) fit in an i64.
pub(super) const EPOCH_SHIFT: u32 = 40;
/// The highest epoch a start may begin.
pub(super) const MAX_EPOCH: i64 = (1 << (63 - EPOCH_SHIFT)) - 1;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS licenses (
    license_id TEXT PRIMARY KEY,
    key_hash   BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    device_id    TEXT PRIMARY KEY,
    license_id   TEXT NOT NULL REFERENCES licenses(license_id),
    public_key   TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_seq     INTEGER NOT NULL DEFAULT 0,
    last_push_at INTEGER,
    last_pull_at INTEGER,
    blob_count   INTEGER NOT NULL DEFAULT 0,
    sealed_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (license_id, public_key)
);
CREATE INDEX IF NOT EXISTS devices_by_license ON devices(license_id, created_at);
-- Schema version 1; `MIGRATE_V2` brings it to the current version.
CREATE TABLE IF NOT EXISTS blobs (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    license_id TEXT NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices(device_id),
    seq        INTEGER NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL,
    UNIQUE (device_id, seq)
);
CREATE INDEX IF NOT EXISTS blobs_by_license ON blobs(license_id, id);
CREATE TABLE IF NOT EXISTS keychecks (
    license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
    device_id  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    data       BLOB NOT NULL
);
";

/// Version 1 to 2: per-license pull positions (v1 used the global
/// AUTOINCREMENT id; those ids stay the positions of existing blobs, so a
/// device's cursor keeps working), and the position epoch, started above
/// every id v1 ever handed out.
const MIGRATE_V2: &str = "
ALTER TABLE licenses ADD COLUMN last_position INTEGER NOT NULL DEFAULT 0;
ALTER TABLE blobs ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET position = id;
UPDATE licenses SET last_position = COALESCE(
    (SELECT MAX(b.position) FROM blobs b WHERE b.license_id = licenses.license_id), 0);
DROP INDEX IF EXISTS blobs_by_license;
CREATE UNIQUE INDEX blobs_by_position ON blobs(license_id, position);
CREATE TABLE relay_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO relay_meta (key, value) VALUES ('epoch',
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'blobs'), 0) >> 40);
";

/// Version 2 to 3: the license authority's public key (PROTOCOL §11),
/// NULL for every existing license (they keep the v1 rules, §11.6).
const MIGRATE_V3: &str = "ALTER TABLE licenses ADD COLUMN authority_key TEXT;";

/// Version 3 to 4: the operator's license rules (PROTOCOL §11.4): the end
/// of a first-device claim window and a cap on live devices, both NULL
/// (no window, no cap) for every existing license.
const MIGRATE_V4: &str = "
ALTER TABLE licenses ADD COLUMN claim_until INTEGER;
ALTER TABLE licenses ADD COLUMN max_devices INTEGER;
";

/// Version 4 to 5: the per-day push aggregate the admin console charts
/// (`storage::push_days`). Existing data dirs start it from the blobs they
/// still hold: pushes whose blobs were pruned before the upgrade are not
/// counted.
const MIGRATE_V5: &str = "
CREATE TABLE push_days (
    license_id   TEXT NOT NULL REFERENCES licenses(license_id),
    day          INTEGER NOT NULL,
    pushes       INTEGER NOT NULL,
    sealed_bytes INTEGER NOT NULL,
    PRIMARY KEY (license_id, day)
) WITHOUT ROWID;
INSERT INTO push_days (license_id, day, pushes, sealed_bytes)
    SELECT license_id, created_at / 86400, COUNT(*), SUM(size) FROM blobs
    GROUP BY license_id, created_at / 86400;
";

/// How a write becomes durable before it is acknowledged. Both modes
/// How long a connection waits for another process's lock (e.g. `license
/// add` beside a serving relay) before `database is locked`.
const LOCK_WAIT_MS: i32 = 30_000;

/// SQLite's busy handler: retry every millisecond. The default handler
/// (`busy_timeout`) backs off to 100 ms between tries, and a serving relay
/// under load takes the write lock again within microseconds of each
/// commit, so an operator command in a second process starved for the
/// whole timeout (`second_process::kill_twice_under_registrations_and_
/// pushes_full` failed with `database is locked`). A 1 ms poll finds the
/// gaps between the relay's batches.
fn wait_for_lock(tries: i32) -> bool {
    if tries >= LOCK_WAIT_MS {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_millis(1));
    true
}

pub(super) fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_lock))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidQuery);
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

pub(super) fn open_reader(path: &Path) -> Result<Connection, StorageError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(backend)?;
    conn.busy_handler(Some(wait_for_lock)).map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Brings the schema to the current version and starts a new position
/// epoch, in one transaction committed with `synchronous=FULL` (durable
/// before any position of the epoch is handed out). Returns the epoch's
/// first position.
pub(super) fn migrate(conn: &Connection) -> Result<i64, StorageError> {
    exec(conn, "BEGIN IMMEDIATE").map_err(backend)?;
    let r = (|| {
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(backend)?;
        if v > SCHEMA_VERSION {
            return Err(StorageError::Backend(format!(
                "database schema version {v} is newer than this relay ({SCHEMA_VERSION})"
            )));
        }
        if v < 1 {
            conn.execute_batch(SCHEMA).map_err(backend)?;
        }
        if v < 2 {
            conn.execute_batch(MIGRATE_V2).map_err(backend)?;
        }
        if v < 3 {
            conn.execute_batch(MIGRATE_V3).map_err(backend)?;
        }
        if v < 4 {
            conn.execute_batch(MIGRATE_V4).map_err(backend)?;
        }
        if v < 5 {
            conn.execute_batch(MIGRATE_V5).map_err(backend)?;
        }
        conn.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
            .map_err(backend)?;
        let epoch: i64 = conn
            .query_row(
                "UPDATE relay_meta SET value = value + 1 WHERE key = 'epoch' RETURNING value",
                [],
                |r| r.get(0),
            )
            .map_err(backend)?;
        if !(1..=MAX_EPOCH).contains(&epoch) {
            return Err(StorageError::OutOfRange("position epoch"));
        }
        Ok(epoch << EPOCH_SHIFT)
    })();
    match r {
        Ok(base) => {
            exec(conn, "COMMIT").map_err(backend)?;
            Ok(base)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

pub(super) fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}
