//! The per-day push aggregate the admin console charts: for each
//! (license, UTC day), how many pushes the relay accepted and how many
//! sealed bytes they carried. Written in the push's own transaction on
//! every backend, so the chart never disagrees with what was stored. It
//! holds counts only: no blob bytes, no hashes of blobs or keys.

use rusqlite::{params, Connection};

use super::StorageError;

/// Seconds in a UTC day (unix time has no leap seconds).
pub const SECS_PER_DAY: i64 = 86_400;
/// Most days one [`Storage::push_days`](super::Storage::push_days) answer
/// holds (a bound on what a console page renders).
pub const MAX_PUSH_DAYS: u32 = 400;

/// One UTC day of a license's accepted pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushDay {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Pushes accepted that day.
    pub pushes: u64,
    /// Sealed bytes those pushes stored (pruning later does not lower it).
    pub sealed_bytes: u64,
}

/// The UTC day of unix time `ts`.
pub fn day_of(ts: i64) -> i64 {
    ts.div_euclid(SECS_PER_DAY)
}

/// SQLite, inside the push transaction: counts one stored push.
pub(super) fn sqlite_count_push(
    conn: &Connection,
    license_id: &str,
    now: i64,
    size: i64,
) -> Result<(), StorageError> {
    conn.prepare_cached(
        "INSERT INTO push_days (license_id, day, pushes, sealed_bytes) VALUES (?1, ?2, 1, ?3)
         ON CONFLICT (license_id, day) DO UPDATE
         SET pushes = pushes + 1, sealed_bytes = sealed_bytes + excluded.sealed_bytes",
    )
    .and_then(|mut s| s.execute(params![license_id, day_of(now), size]))
    .map(|_| ())
    .map_err(super::sqlite::backend)
}

/// SQLite: the license's days from `since_day` on, oldest first.
pub(super) fn sqlite_push_days(
    conn: &Connection,
    license_id: &str,
    since_day: i64,
) -> Result<Vec<PushDay>, StorageError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT day, pushes, sealed_bytes FROM push_days
             WHERE license_id = ?1 AND day >= ?2 ORDER BY day LIMIT ?3",
        )
        .map_err(super::sqlite::backend)?;
    let rows = stmt
        .query_map(params![license_id, since_day, MAX_PUSH_DAYS], |r| {
            Ok(PushDay {
                day: r.get(0)?,
                pushes: r.get::<_, i64>(1)?.max(0) as u64,
                sealed_bytes: r.get::<_, i64>(2)?.max(0) as u64,
            })
        })
        .map_err(super::sqlite::backend)?;
    rows.collect::<Result<_, _>>()
        .map_err(super::sqlite::backend)
}

/// PostgreSQL: the license's days from `since_day` on, oldest first.
pub(super) async fn pg_push_days(
    c: &impl deadpool_postgres::GenericClient,
    license_id: &str,
    since_day: i64,
) -> Result<Vec<PushDay>, StorageError> {
    let rows = c
        .query(
            "SELECT day, pushes, sealed_bytes FROM push_days
             WHERE license_id = $1 AND day >= $2 ORDER BY day LIMIT $3",
            &[&license_id, &since_day, &i64::from(MAX_PUSH_DAYS)],
        )
        .await
        .map_err(super::postgres::backend)?;
    Ok(rows
        .iter()
        .map(|r| PushDay {
            day: r.get(0),
            pushes: r.get::<_, i64>(1).max(0) as u64,
            sealed_bytes: r.get::<_, i64>(2).max(0) as u64,
        })
        .collect())
}
