//! Encrypted export/import (the Free tier's manual path).
//!
//! File format (UTF-8 text, three lines):
//! ```text
//! azmx-export v1
//! {"format":"azmx.export.v1","licenseId":"…","createdAtMs":…,"stores":["snippets",…],"records":N}
//! <base64url envelope v1 of {"format":"azmx.export.v1","licenseId":"…","stores":[{"store":…,"records":[…]}]}>
//! ```
//! The header is informational (never trusted); the sealed payload repeats
//! the license id and is checked on import. Import merges with each store's
//! contract, so it is idempotent and additive.

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::bundle::StoreRecords;
use super::error::SyncError;
use super::events::{lock, EventKind};
use super::state::key_string;
use super::SyncEngine;
use crate::fsutil::{parent_dir, write_private_atomically};
use crate::kdf::EnvelopeKey;
use crate::merge::{merge_in_place, ArrivalBounds, Record, StoreState};

pub const EXPORT_MAGIC: &str = "azmx-export v1";
const EXPORT_FORMAT: &str = "azmx.export.v1";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    format: String,
    license_id: String,
    stores: Vec<StoreRecords>,
}

/// The text of an export file holding `stores` of license `license_id`
/// (the format above), sealed with `key`.
pub fn encode_export(
    key: &EnvelopeKey,
    license_id: String,
    created_at_ms: i64,
    stores: Vec<StoreRecords>,
) -> Result<String, SyncError> {
    let count: u64 = stores.iter().map(|s| s.records.len() as u64).sum();
    let header = serde_json::json!({
        "format": EXPORT_FORMAT,
        "licenseId": license_id,
        "createdAtMs": created_at_ms,
        "stores": stores.iter().map(|s| s.store.clone()).collect::<Vec<_>>(),
        "records": count,
    });
    let payload = zeroize::Zeroizing::new(
        serde_json::to_vec(&Payload {
            format: EXPORT_FORMAT.into(),
            license_id,
            stores,
        })
        .map_err(|e| SyncError::ExportFormat(e.to_string()))?,
    );
    Ok(format!(
        "{EXPORT_MAGIC}\n{header}\n{}\n",
        crate::envelope::seal_text(key, &payload)
    ))
}

/// Reads an export file's text: the magic line, the header (skipped, never
/// trusted), then the sealed payload, opened with `key` and checked to
/// belong to `license_id`. Returns its stores in file order, not yet
/// validated (import merges them, which validates every record). Kept apart
/// from [`import`] so the parsing of this untrusted file can be fuzzed
/// without an engine (`fuzz/`).
pub fn decode_export(
    text: &str,
    key: &EnvelopeKey,
    license_id: &str,
) -> Result<Vec<StoreRecords>, SyncError> {
    let mut lines = text.lines();
    if lines.next() != Some(EXPORT_MAGIC) {
        return Err(SyncError::ExportFormat(
            "not an azmx export file (bad first line)".into(),
        ));
    }
    let _header = lines
        .next()
        .ok_or_else(|| SyncError::ExportFormat("missing header line".into()))?;
    let sealed = lines
        .next()
        .ok_or_else(|| SyncError::ExportFormat("missing sealed payload".into()))?;
    let plaintext = zeroize::Zeroizing::new(
        crate::envelope::open_text(key, sealed.trim()).map_err(|e| match e {
            crate::Error::DecryptFailed => SyncError::wrong_receipt(),
            other => SyncError::Core(other),
        })?,
    );
    let payload: Payload = serde_json::from_slice(&plaintext)
        .map_err(|_| SyncError::ExportFormat("sealed payload is not an export".into()))?;
    if payload.format != EXPORT_FORMAT || payload.license_id != license_id {
        return Err(SyncError::ExportFormat(
            "export belongs to another license".into(),
        ));
    }
    Ok(payload.stores)
}

pub(crate) fn export(engine: &SyncEngine, path: &Path) -> Result<u64, SyncError> {
    let key = engine.key()?;
    // A mistyped receipt would write a file nobody can open: check it against
    // the relay's key-check blob when the relay can be reached (export is the
    // offline path too, so an unreachable relay does not block it).
    match engine.verify_receipt() {
        Ok(()) | Err(SyncError::Network { .. }) | Err(SyncError::NotRegistered) => {}
        Err(e) => return Err(e),
    }
    let lid = lock(&engine.inner.state)
        .license_id
        .clone()
        .ok_or(SyncError::NotRegistered)?;
    let mut stores = Vec::new();
    for r in lock(&engine.inner.stores).iter() {
        let records = r.adapter.snapshot().map_err(|e| SyncError::Store {
            store: r.spec.name.as_str().into(),
            message: e.message,
        })?;
        stores.push(StoreRecords {
            store: r.spec.name.as_str().into(),
            records,
        });
    }
    let count: u64 = stores.iter().map(|s| s.records.len() as u64).sum();
    let text = encode_export(&key, lid, engine.inner.config.clock.now_ms(), stores)?;
    write_private_atomically(path, &parent_dir(path), text.as_bytes()).map_err(|e| {
        SyncError::State {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    })?;
    engine.emit(EventKind::Exported {
        records: count,
        bytes: text.len() as u64,
    });
    Ok(count)
}

pub(crate) fn import(engine: &SyncEngine, path: &Path) -> Result<u64, SyncError> {
    let key = engine.key()?;
    let lid = lock(&engine.inner.state)
        .license_id
        .clone()
        .ok_or(SyncError::NotRegistered)?;
    let text = std::fs::read_to_string(path).map_err(|e| SyncError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut payload_stores = decode_export(&text, &key, &lid)?;
    // The time bound of a pull (docs/MERGE.md, "Bounded time and
    // versions"), measured from this device's clock (relay-corrected): an
    // export file has no relay time, and the time its header names is the
    // writer's word. A record refused in a blob is refused here too.
    // (An offset beyond the correction bound counts as none, as in
    // `client_for`.)
    let offset = lock(&engine.inner.state).clock_offset_secs;
    let offset_ms =
        if offset.unsigned_abs() <= super::relay_client::MAX_CLOCK_CORRECTION_SECS as u64 {
            offset.saturating_mul(1000)
        } else {
            0
        };
    let bounds = ArrivalBounds::for_blob(
        0,
        engine.inner.config.clock.now_ms().saturating_add(offset_ms),
        engine.inner.config.max_future_drift_ms,
    );
    super::cycle::reject_out_of_bounds(engine, &bounds, &mut payload_stores);
    // One writer of the engine state at a time: a cycle in this process
    // (cycle lock) or in another one (directory lock) must not interleave
    // with the tombstones recorded below.
    let _cycle = lock(&engine.inner.cycle_lock);
    let _dir_lock = engine.inner.dir.lock()?;
    *lock(&engine.inner.state) = engine.inner.dir.load()?;
    let mut applied = 0u64;
    let mut new_tombstones: Vec<(String, Record)> = Vec::new();
    let stores = lock(&engine.inner.stores)
        .iter()
        .map(|r| (r.spec.clone(), std::sync::Arc::clone(&r.adapter)))
        .collect::<Vec<_>>();
    for s in payload_stores {
        let Some((spec, adapter)) = stores.iter().find(|(sp, _)| sp.name.as_str() == s.store)
        else {
            continue;
        };
        let store_err = |e: super::HostError| SyncError::Store {
            store: s.store.clone(),
            message: e.message,
        };
        let mut local = StoreState::new();
        for r in adapter.snapshot().map_err(store_err)? {
            local.insert(r);
        }
        // A host that keeps no tombstones relies on the engine's: without
        // them an older live copy in the file would win over a delete.
        let engine_tombs = lock(&engine.inner.state)
            .tombstones
            .get(&s.store)
            .cloned()
            .unwrap_or_default();
        for t in engine_tombs {
            let stronger = local
                .get(&t.key())
                .is_none_or(|cur| spec.contract.compare(&t, cur) == std::cmp::Ordering::Greater);
            if stronger {
                local.insert(t);
            }
        }
        let before: HashSet<String> = local.tombstones().map(|t| key_string(&t.key())).collect();
        let incoming_keys: Vec<_> = s.records.iter().map(|r| r.key()).collect();
        let report = merge_in_place(spec, &mut local, s.records);
        applied += report.changes.len() as u64;
        if !report.changes.is_empty() {
            adapter.apply(report.changes).map_err(store_err)?;
        }
        // As a pull does: a delete that won here is kept by the engine, so
        // an older write pulled later cannot bring the record back, and the
        // next push carries the delete to the peers.
        for k in incoming_keys {
            if let Some(r) = local.get(&k) {
                if r.deleted && !before.contains(&key_string(&k)) {
                    new_tombstones.push((s.store.clone(), r.clone()));
                }
            }
        }
    }
    if !new_tombstones.is_empty() {
        let mut st = lock(&engine.inner.state);
        for (store, t) in new_tombstones {
            let list = st.tombstones.entry(store).or_default();
            list.retain(|x| x.key() != t.key());
            list.push(t);
        }
        engine.inner.dir.save(&st)?;
    }
    engine.emit(EventKind::Imported { records: applied });
    Ok(applied)
}
