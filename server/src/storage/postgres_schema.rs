//! The PostgreSQL schema, created (and brought up to date) idempotently at
//! connect time by `PostgresStorage::migrate`.

/// Schema version this relay writes; a database with a newer one is refused.
pub(super) const SCHEMA_VERSION: i64 = 4;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS relay_meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS licenses (
    license_id    TEXT PRIMARY KEY,
    key_hash      BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    -- Last pull position handed out for this license (never decreases).
    next_position BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS devices (
    device_id    TEXT PRIMARY KEY,
    license_id   TEXT NOT NULL REFERENCES licenses(license_id),
    public_key   TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_seq     BIGINT NOT NULL DEFAULT 0,
    last_push_at BIGINT,
    last_pull_at BIGINT,
    blob_count   BIGINT NOT NULL DEFAULT 0,
    sealed_bytes BIGINT NOT NULL DEFAULT 0,
    ord          BIGSERIAL,
    UNIQUE (license_id, public_key)
);
CREATE INDEX IF NOT EXISTS devices_by_license ON devices(license_id, created_at, ord);
CREATE TABLE IF NOT EXISTS blobs (
    license_id TEXT NOT NULL,
    position   BIGINT NOT NULL,
    device_id  TEXT NOT NULL REFERENCES devices(device_id),
    seq        BIGINT NOT NULL,
    sha256     TEXT NOT NULL,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    data       BYTEA NOT NULL,
    PRIMARY KEY (license_id, position),
    UNIQUE (device_id, seq)
);
CREATE TABLE IF NOT EXISTS keychecks (
    license_id TEXT PRIMARY KEY REFERENCES licenses(license_id),
    device_id  TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    data       BYTEA NOT NULL
);
-- Columns of licenses added after version 1, NULL for every license that
-- was there before: version 2, the license authority's public key
-- (PROTOCOL §11; such licenses keep the v1 rules, §11.6); version 3, the
-- operator's license rules (§11.4), the end of a first-device claim window
-- and a cap on live devices (none). Each is altered only when missing:
-- ALTER TABLE takes an exclusive lock on licenses even when IF NOT EXISTS
-- makes it a no-op, and a relay starting while another serves pushes
-- (which lock a license row, then write devices, which CREATE INDEX above
-- holds shared) would deadlock.
DO $$
DECLARE
    col TEXT[];
BEGIN
    FOREACH col SLICE 1 IN ARRAY ARRAY[
        ['authority_key', 'TEXT'],
        ['claim_until', 'BIGINT'],
        ['max_devices', 'BIGINT']
    ] LOOP
        IF NOT EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema()
              AND table_name = 'licenses' AND column_name = col[1]
        ) THEN
            EXECUTE format('ALTER TABLE licenses ADD COLUMN %I %s', col[1], col[2]);
        END IF;
    END LOOP;
END
$$;
-- Version 4: the per-day push aggregate the admin console charts
-- (storage::push_days). A database from before starts it from the blobs
-- it still holds (pushes whose blobs were pruned are not counted); the
-- backfill runs only when the table is created. No foreign key: licenses
-- are never deleted, and creating one would lock licenses against pushes.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_name = 'push_days'
    ) THEN
        CREATE TABLE push_days (
            license_id   TEXT NOT NULL,
            day          BIGINT NOT NULL,
            pushes       BIGINT NOT NULL,
            sealed_bytes BIGINT NOT NULL,
            PRIMARY KEY (license_id, day)
        );
        INSERT INTO push_days (license_id, day, pushes, sealed_bytes)
            SELECT license_id, created_at / 86400, COUNT(*), SUM(size) FROM blobs
            GROUP BY license_id, created_at / 86400;
    END IF;
END
$$;
";
