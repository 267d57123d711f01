//! Bounds on the two numbers a writer picks freely, `updatedAt` and
//! `version`, so that no record can pin a key forever (issue 13; see
//! `docs/MERGE.md`, "Bounded time and versions").
//!
//! A device that holds the receipt can write any record. Without bounds a
//! record stamped `updatedAt = i64::MAX` or `version = u64::MAX` wins every
//! merge on every device, and no later edit can outbid it (`+1` saturates).
//! With them, every accepted record can be beaten by an ordinary edit made
//! later ([`next_write_time`], [`next_version`]).
//!
//! Every bound here depends only on the record and on the blob that carried
//! it (the relay's `createdAt`, the same for every reader), never on what the
//! reader already holds: two devices that see the same records still decide
//! the same, whatever the order. The reader's own clock only stands in for a
//! `createdAt` that is missing or implausibly far ahead.

use super::error::InvalidReason;
use super::record::Record;

/// The largest `version` accepted on arrival ([`Record::check_shape`]) and
/// produced by [`next_version`]: 2^53 − 1, the largest integer a JavaScript
/// number (Node/Electron hosts) holds exactly.
pub const MAX_VERSION: u64 = (1 << 53) - 1;

/// How far an incoming record's `updatedAt` may run ahead of the time its
/// blob reached the relay: 10 minutes. Wider than the relay's tolerance for
/// device clocks ([`CREATED_AT_SKEW_MS`], 5 minutes), so an honest device
/// whose clock the relay accepts is never refused, and short enough that a
/// pinned record is beaten by an edit made ten minutes later.
pub const MAX_FUTURE_DRIFT_MS: i64 = 10 * 60 * 1000;

/// The range a configured drift must be in
/// ([`EngineConfig::max_future_drift_ms`](crate::engine::EngineConfig)):
/// at least one second, because the relay's `createdAt` is in whole seconds
/// (a record written in the second of its push may be up to 999 ms after
/// it), and at most one day, past which a pin outlives any edit a user would
/// make to beat it. A host-given number outside is a config error, not
/// silently clamped.
pub const FUTURE_DRIFT_RANGE_MS: std::ops::RangeInclusive<i64> = 1_000..=24 * 60 * 60 * 1000;

/// How far ahead of the reader's clock a relay's `createdAt` may be and still
/// be believed: the relay's own tolerance for device clocks
/// ([`MAX_SKEW_SECS`](crate::canonical::MAX_SKEW_SECS), 5 minutes; a test
/// keeps the two equal without making merge depend on the protocol code).
pub const CREATED_AT_SKEW_MS: i64 = 5 * 60 * 1000;

/// The bounds one blob's records must meet on arrival.
///
/// - `reference_ms` is the blob's `createdAt` (relay seconds × 1000), unless
///   that is missing (`0`, as the lenient reader gives for an absent or
///   mistyped field), negative, or more than [`CREATED_AT_SKEW_MS`] ahead of
///   the reader's clock: then it is the reader's clock.
/// - a record's `updatedAt` must be at most `reference_ms + max_drift_ms`
///   ([`InvalidReason::FutureTimestamp`]);
/// - its `version`, if any, must be at most that same number
///   ([`InvalidReason::VersionAheadOfTime`]): a counter bumped at most once per
///   millisecond since the epoch never gets there, so honest versions always
///   pass, while a pinned version stays ~2^53 / 1.8·10^12 ≈ 5000 times below
///   [`MAX_VERSION`], so `+1` always has room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrivalBounds {
    reference_ms: i64,
    latest_ms: i64,
}

impl ArrivalBounds {
    /// The bounds of a blob the relay lists with `created_at_secs`, read by a
    /// device whose clock (relay-corrected) says `reader_now_ms`, allowing
    /// `max_drift_ms` (normally [`MAX_FUTURE_DRIFT_MS`]; negative counts as 0).
    pub fn for_blob(created_at_secs: i64, reader_now_ms: i64, max_drift_ms: i64) -> Self {
        let created_ms = created_at_secs.saturating_mul(1000);
        let believable =
            created_at_secs > 0 && created_ms <= reader_now_ms.saturating_add(CREATED_AT_SKEW_MS);
        let reference_ms = if believable {
            created_ms
        } else {
            reader_now_ms
        };
        ArrivalBounds {
            reference_ms,
            latest_ms: reference_ms.saturating_add(max_drift_ms.max(0)),
        }
    }

    /// The time the blob's records are measured against (ms since the epoch).
    pub fn reference_ms(&self) -> i64 {
        self.reference_ms
    }

    /// The latest `updatedAt` accepted.
    pub fn latest_updated_at_ms(&self) -> i64 {
        self.latest_ms
    }

    /// The largest `version` accepted: the latest time in ms, and never more
    /// than [`MAX_VERSION`] (which [`Record::check_shape`] enforces anyway).
    pub fn latest_version(&self) -> u64 {
        u64::try_from(self.latest_ms).unwrap_or(0).min(MAX_VERSION)
    }

    /// `Ok(())` if `rec` is within the bounds. The shape checks
    /// ([`Record::check_shape`]) are separate and still run in the merge.
    pub fn check(&self, rec: &Record) -> Result<(), InvalidReason> {
        if rec.updated_at > self.latest_ms {
            return Err(InvalidReason::FutureTimestamp);
        }
        match rec.version {
            Some(v) if v > MAX_VERSION => Err(InvalidReason::VersionTooLarge),
            Some(v) if v > self.latest_version() => Err(InvalidReason::VersionAheadOfTime),
            _ => Ok(()),
        }
    }
}

/// The `updatedAt` of a local edit of `current` (its record before the edit,
/// a tombstone included): now, but always after `current`, so the edit wins
/// under `LwwByTime` / `LwwPerGroup` even when `current` came from a device
/// whose clock ran ahead (by at most the drift bound, once it arrived) or
/// this clock stepped back. Saturates instead of overflowing.
///
/// ```
/// use azmx_sync_core::merge::{next_write_time, Record};
/// let pinned = Record::tombstone("k", None, 2_000, None, "dev_peer");
/// assert_eq!(next_write_time(Some(&pinned), 1_000), 2_001);
/// assert_eq!(next_write_time(None, 1_000), 1_000);
/// ```
pub fn next_write_time(current: Option<&Record>, now_ms: i64) -> i64 {
    match current {
        Some(c) => now_ms.max(c.updated_at.saturating_add(1)),
        None => now_ms,
    }
}

/// The `version` of a local edit of `current` (a delete included):
/// `current + 1`, capped at [`MAX_VERSION`]. Under `LwwByVersion` it beats
/// every version that can arrive from a peer, since arrivals stay below the
/// time ceiling of [`ArrivalBounds`], far under the cap.
///
/// ```
/// use azmx_sync_core::merge::{next_version, Record, MAX_VERSION};
/// let v = |n| Record::tombstone("k", None, 1, Some(n), "dev_peer");
/// assert_eq!(next_version(Some(&v(41))), 42);
/// assert_eq!(next_version(Some(&v(u64::MAX))), MAX_VERSION);
/// assert_eq!(next_version(None), 1);
/// ```
pub fn next_version(current: Option<&Record>) -> u64 {
    current
        .and_then(|c| c.version)
        .unwrap_or(0)
        .saturating_add(1)
        .min(MAX_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000_000;

    fn live(updated_at: i64, version: Option<u64>) -> Record {
        Record::new(
            "k",
            None,
            updated_at,
            version,
            "dev_a",
            json!({"fact": "f"}),
        )
    }

    #[test]
    fn updated_at_may_run_ahead_of_the_blob_by_the_drift_only() {
        let b = ArrivalBounds::for_blob(NOW / 1000, NOW, MAX_FUTURE_DRIFT_MS);
        assert_eq!(b.reference_ms(), NOW);
        let edge = NOW + MAX_FUTURE_DRIFT_MS;
        assert_eq!(b.check(&live(edge, None)), Ok(()));
        assert_eq!(b.check(&live(NOW - 86_400_000, None)), Ok(()));
        for far in [edge + 1, i64::MAX] {
            assert_eq!(
                b.check(&live(far, None)),
                Err(InvalidReason::FutureTimestamp)
            );
            let tomb = Record::tombstone("k", None, far, None, "dev_a");
            assert_eq!(b.check(&tomb), Err(InvalidReason::FutureTimestamp));
        }
    }

    #[test]
    fn an_old_blob_bounds_its_records_by_its_own_time_not_the_readers() {
        // A device joining a year later replays the blob and decides the same.
        let created = NOW / 1000;
        let then = ArrivalBounds::for_blob(created, NOW, MAX_FUTURE_DRIFT_MS);
        let later = ArrivalBounds::for_blob(created, NOW + 365 * 86_400_000, MAX_FUTURE_DRIFT_MS);
        assert_eq!(then, later);
        assert_eq!(
            later.check(&live(NOW + MAX_FUTURE_DRIFT_MS + 1, None)),
            Err(InvalidReason::FutureTimestamp)
        );
    }

    #[test]
    fn the_skew_window_is_the_relays() {
        assert_eq!(CREATED_AT_SKEW_MS, crate::canonical::MAX_SKEW_SECS * 1000);
    }

    #[test]
    fn an_unbelievable_created_at_falls_back_to_the_readers_clock() {
        let ahead = (NOW + CREATED_AT_SKEW_MS) / 1000;
        assert_eq!(
            ArrivalBounds::for_blob(ahead, NOW, MAX_FUTURE_DRIFT_MS).reference_ms(),
            NOW + CREATED_AT_SKEW_MS,
            "within the skew window the relay is believed"
        );
        for lie in [ahead + 1, i64::MAX, 0, -5, i64::MIN] {
            let b = ArrivalBounds::for_blob(lie, NOW, MAX_FUTURE_DRIFT_MS);
            assert_eq!(b.reference_ms(), NOW, "createdAt {lie}");
            assert_eq!(b.latest_updated_at_ms(), NOW + MAX_FUTURE_DRIFT_MS);
        }
    }

    #[test]
    fn the_drift_is_configurable_and_never_negative() {
        let b = ArrivalBounds::for_blob(NOW / 1000, NOW, 1_000);
        assert_eq!(b.check(&live(NOW + 1_000, None)), Ok(()));
        assert!(b.check(&live(NOW + 1_001, None)).is_err());
        let b = ArrivalBounds::for_blob(NOW / 1000, NOW, -5);
        assert_eq!(b.latest_updated_at_ms(), NOW);
        let b = ArrivalBounds::for_blob(i64::MAX / 1000, i64::MAX, i64::MAX);
        assert_eq!(b.latest_updated_at_ms(), i64::MAX, "saturates");
    }

    #[test]
    fn versions_may_not_run_ahead_of_time() {
        let b = ArrivalBounds::for_blob(NOW / 1000, NOW, MAX_FUTURE_DRIFT_MS);
        let ceiling = (NOW + MAX_FUTURE_DRIFT_MS) as u64;
        assert_eq!(b.latest_version(), ceiling);
        assert_eq!(b.check(&live(NOW, Some(1))), Ok(()));
        assert_eq!(b.check(&live(NOW, Some(ceiling))), Ok(()));
        for (pin, why) in [
            (ceiling + 1, InvalidReason::VersionAheadOfTime),
            (MAX_VERSION, InvalidReason::VersionAheadOfTime),
            (MAX_VERSION + 1, InvalidReason::VersionTooLarge),
            (u64::MAX, InvalidReason::VersionTooLarge),
        ] {
            assert_eq!(b.check(&live(NOW, Some(pin))), Err(why.clone()));
            let tomb = Record::tombstone("k", None, NOW, Some(pin), "dev_a");
            assert_eq!(b.check(&tomb), Err(why));
        }
        // The ceiling leaves room for thousands of years of `+1`s.
        assert!(ceiling < MAX_VERSION / 4000);
        // A reader clock before the epoch accepts no version above 0.
        assert_eq!(
            ArrivalBounds::for_blob(0, -10_000_000, 0).latest_version(),
            0
        );
    }

    #[test]
    fn a_later_blob_accepts_the_edit_that_beats_a_pin_at_the_bounds() {
        let pin_blob = ArrivalBounds::for_blob(NOW / 1000, NOW, MAX_FUTURE_DRIFT_MS);
        let pin = live(
            pin_blob.latest_updated_at_ms(),
            Some(pin_blob.latest_version()),
        );
        assert_eq!(pin_blob.check(&pin), Ok(()));
        // An edit pushed one relay second later.
        let edit_blob = ArrivalBounds::for_blob(NOW / 1000 + 1, NOW + 1_000, MAX_FUTURE_DRIFT_MS);
        let edit = live(
            next_write_time(Some(&pin), NOW + 1_000),
            Some(next_version(Some(&pin))),
        );
        assert_eq!(edit_blob.check(&edit), Ok(()));
        assert!(edit.updated_at > pin.updated_at && edit.version > pin.version);
    }

    #[test]
    fn merge_rejects_versions_above_the_cap_and_keeps_the_rest_of_the_batch() {
        use crate::merge::{merge, Change, StoreSpec, StoreState};
        let spec = StoreSpec::memory();
        let local: StoreState = vec![live(NOW, Some(7))].into_iter().collect();
        let at_cap = Record::new(
            "j",
            None,
            NOW,
            Some(MAX_VERSION),
            "dev_b",
            json!({"fact": "c"}),
        );
        let incoming = vec![
            live(NOW, Some(MAX_VERSION + 1)),
            Record::tombstone("k", None, NOW, Some(u64::MAX), "dev_b"),
            at_cap.clone(),
        ];
        let out = merge(&spec, &local, incoming);
        assert_eq!(out.counts.rejected_invalid, 2);
        assert!(out
            .rejected
            .iter()
            .all(|(k, r)| k.id == "k" && *r == InvalidReason::VersionTooLarge));
        assert_eq!(
            out.state.get(&live(0, None).key()).unwrap().version,
            Some(7)
        );
        assert_eq!(out.changes, vec![Change::Insert(at_cap)]);
        assert_eq!(InvalidReason::VersionTooLarge.code(), "version_too_large");
    }

    #[test]
    fn next_write_time_and_version_saturate() {
        let far = live(i64::MAX, Some(u64::MAX));
        assert_eq!(next_write_time(Some(&far), NOW), i64::MAX);
        assert_eq!(next_version(Some(&far)), MAX_VERSION);
        let cap = live(NOW, Some(MAX_VERSION));
        assert_eq!(next_version(Some(&cap)), MAX_VERSION);
        let old = live(5, Some(3));
        assert_eq!(next_write_time(Some(&old), NOW), NOW);
        assert_eq!(next_version(Some(&old)), 4);
        assert_eq!(next_write_time(Some(&live(NOW + 9, None)), NOW), NOW + 10);
    }
}
