//! The pull half of a cycle: pages of blobs from the relay, each verified,
//! opened and merged, the cursor journalled with what it passed.

use std::collections::HashMap;

use super::apply::bound_arrivals;
use super::crash::crash_point;
use super::merge_page::merge_apply;
use super::parked::{check_parked_bound, park, unpark};
use super::quarantine::bound_quarantine;
use super::{stores, Session};
use crate::engine::bundle::Bundle;
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::integrity_check::PageCheck;
use crate::engine::relay_client::PullItem;
use crate::engine::state::{PageDelta, ParkedBundle, QuarantineEntry};
use crate::engine::{CycleReport, SyncEngine};
use crate::integrity::{sha256_hex, verify_blob};
use crate::kdf::EnvelopeKey;
use crate::merge::Record;

pub(super) fn pull(s: Session<'_>, report: &mut CycleReport) -> Result<(), SyncError> {
    let (engine, client, _, device_id, _) = s.parts();
    let identity = &engine.inner.identity;
    // Bundles kept for stores registered since: merge what they carry now.
    unpark(s, report)?;
    // Quarantined bundles get another chance each cycle, a bounded number of times.
    let retry: Vec<QuarantineEntry> = lock(&engine.inner.state)
        .quarantine
        .iter()
        .filter(|q| !q.gave_up)
        .cloned()
        .collect();
    if !retry.is_empty() {
        let items: Vec<PullItem> = retry
            .iter()
            .map(|q| PullItem {
                device_id: q.device_id.clone(),
                seq: q.seq,
                sha256: q.sha256.clone(),
                created_at: q.created_at,
            })
            .collect();
        report.pulled_blobs += items.len() as u64;
        let cursor = lock(&engine.inner.state).cursor.clone();
        // Not a listing: the integrity checks do not see retries.
        process_items(s, &items, &cursor, Listing::Retry, report)?;
    }
    loop {
        let since = lock(&engine.inner.state).cursor.clone();
        let page = client.pull(identity, device_id, &since, engine.inner.config.pull_page)?;
        report.pulled_blobs += page.items.len() as u64;
        if !page.items.is_empty() {
            engine.emit(EventKind::Pulled {
                blobs: page.items.len() as u64,
            });
        }
        let last = !page.has_more || page.items.is_empty();
        let listing = if last {
            Listing::LastPage
        } else {
            Listing::Page
        };
        process_items(s, &page.items, &page.next_cursor, listing, report)?;
        if last {
            return Ok(());
        }
    }
}

/// Where the items of [`process_items`] come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    /// Quarantined bundles tried again (not a listing: not checked).
    Retry,
    /// A pull page, and the last page of a pull (claims are judged there).
    Page,
    LastPage,
}

/// Fetches, verifies, opens and merges a list of blobs, then saves the
/// cursor. Bad blobs are quarantined; records of stores not registered are
/// parked; the rest apply. A listing's order and links are checked for a
/// relay that withholds, reorders or rolls back (`integrity_check`).
fn process_items(
    s: Session<'_>,
    items: &[PullItem],
    next_cursor: &str,
    listing: Listing,
    report: &mut CycleReport,
) -> Result<(), SyncError> {
    let (engine, client, key, device_id, lid) = s.parts();
    let mut incoming: HashMap<String, Vec<Record>> = HashMap::new();
    let registered = stores(engine);
    let is_registered = |name: &str| registered.iter().any(|(n, _, _)| n == name);
    let (mut quarantine, mut parked, mut integrity, cursor_before) = {
        let st = lock(&engine.inner.state);
        let i = st.integrity.clone();
        (
            st.quarantine.clone(),
            st.parked.clone(),
            i,
            st.cursor.clone(),
        )
    };
    let mut check = (listing != Listing::Retry)
        .then(|| PageCheck::new(&mut integrity, device_id, &cursor_before));
    let mut to_park: Vec<(String, Vec<u8>)> = Vec::new();
    for item in items {
        let Some(blob) =
            client.blob(&engine.inner.identity, device_id, &item.device_id, item.seq)?
        else {
            // Pruned after a checkpoint of its owner superseded it.
            quarantine.retain(|q| !(q.device_id == item.device_id && q.seq == item.seq));
            continue;
        };
        match open_bundle(engine, key, lid, item, &blob) {
            Ok(bundle) => {
                if let Some(c) = check.as_mut() {
                    c.opened(&item.device_id, item.seq, &item.sha256, bundle.links());
                }
                if let Some(pos) = quarantine
                    .iter()
                    .position(|q| q.device_id == item.device_id && q.seq == item.seq)
                {
                    quarantine.remove(pos);
                    engine.emit(EventKind::QuarantineCleared {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                    });
                }
                // Records stamped too far ahead of this blob are refused here,
                // before they are merged or parked.
                let mut bundle = bundle;
                bound_arrivals(s, item.created_at, &mut bundle.stores, report);
                let mut carried = Vec::new();
                let mut missing = Vec::new();
                // A checkpoint's part holds only some records: it must not
                // replace older parked bundles.
                let whole_checkpoint = bundle.whole_checkpoint();
                for s in bundle.stores {
                    if is_registered(&s.store) {
                        if !s.records.is_empty() {
                            carried.push(s.store.clone());
                        }
                        incoming.entry(s.store).or_default().extend(s.records);
                        continue;
                    }
                    engine.emit(EventKind::UnknownStore {
                        store: s.store.clone(),
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                    });
                    // A name no host can register could never be merged.
                    if !s.records.is_empty() && crate::merge::StoreName::new(&*s.store).is_ok() {
                        carried.push(s.store.clone());
                        missing.push(s.store);
                    }
                }
                if !missing.is_empty() {
                    let sha256 = sha256_hex(&blob);
                    park(
                        &mut parked,
                        ParkedBundle {
                            device_id: item.device_id.clone(),
                            seq: item.seq,
                            sha256: sha256.clone(),
                            checkpoint: whole_checkpoint,
                            bytes: blob.len() as u64,
                            stores: carried,
                            missing,
                            created_at: item.created_at,
                        },
                    );
                    to_park.push((sha256, blob));
                }
            }
            Err(reason) => {
                if let Some(c) = check.as_mut() {
                    c.quarantined(&item.device_id, item.seq, &item.sha256);
                }
                report.quarantined += 1;
                let entry = match quarantine
                    .iter_mut()
                    .find(|q| q.device_id == item.device_id && q.seq == item.seq)
                {
                    Some(e) => e,
                    None => {
                        quarantine.push(QuarantineEntry {
                            device_id: item.device_id.clone(),
                            seq: item.seq,
                            sha256: item.sha256.clone(),
                            created_at: item.created_at,
                            ..Default::default()
                        });
                        quarantine.last_mut().expect("just pushed")
                    }
                };
                entry.attempts += 1;
                entry.reason = reason.clone();
                if entry.attempts >= engine.inner.config.max_quarantine_attempts {
                    entry.gave_up = true;
                    engine.emit(EventKind::QuarantineGaveUp {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                        reason,
                    });
                } else {
                    engine.emit(EventKind::Quarantined {
                        device_id: item.device_id.clone(),
                        seq: item.seq,
                        reason,
                        attempts: entry.attempts,
                    });
                }
            }
        }
    }
    bound_quarantine(engine, &mut quarantine);
    check_parked_bound(&parked)?;
    // Parked bytes are durable before the cursor passes their blobs.
    for (sha256, blob) in &to_park {
        if parked.iter().any(|p| &p.sha256 == sha256) {
            engine.inner.dir.write_parked(sha256, blob)?;
        }
    }
    crash_point("before-apply");
    let (known, tombstones) = merge_apply(engine, &registered, incoming, report)?;
    let mut found = check.map(PageCheck::finish).unwrap_or_default();
    if listing == Listing::LastPage {
        found.extend(integrity.finish_pull());
    }
    integrity.record(&found, engine.inner.config.clock.now_ms());
    let mut st = lock(&engine.inner.state);
    // One journal line per page, O(page): the cursor with what it passed.
    let mut delta = PageDelta {
        cursor: next_cursor.to_string(),
        known,
        tombstones,
        quarantine: (quarantine != st.quarantine).then_some(quarantine),
        parked: (parked != st.parked).then_some(parked),
        generation: 0,
        integrity: integrity.delta_from(&st.integrity),
        cycle: None,
        push: None,
    };
    let parked_changed = delta.parked.is_some();
    // An empty page that moved nothing (an idle cycle's pull) costs no
    // journal line and no fsync.
    let moved = delta.cursor != st.cursor
        || !delta.known.is_empty()
        || !delta.tombstones.is_empty()
        || delta.quarantine.is_some()
        || parked_changed
        || delta.integrity.is_some()
        || !found.is_empty();
    if !moved {
        return Ok(());
    }
    let journal_len = engine.inner.dir.append_page(&mut delta)?;
    delta.apply_to(&mut st);
    if engine.inner.dir.journal_outgrown(journal_len) {
        engine.inner.dir.save(&st)?;
    }
    if parked_changed {
        engine.inner.dir.prune_parked(&st.parked);
    }
    drop(st);
    // Reported once the page is durable: a page pulled again after a crash
    // starts from the same state and reports nothing twice.
    for p in found {
        engine.emit(EventKind::RelayIntegrity(p));
    }
    Ok(())
}

/// Verify → open → parse → check context. The error is the quarantine reason.
pub(super) fn open_bundle(
    engine: &SyncEngine,
    key: &EnvelopeKey,
    lid: &str,
    item: &PullItem,
    blob: &[u8],
) -> Result<Bundle, String> {
    if let Err(crate::Error::BlobIntegrity { expected, actual }) = verify_blob(&item.sha256, blob) {
        engine.emit(EventKind::BlobIntegrityError {
            device_id: item.device_id.clone(),
            seq: item.seq,
            expected,
            actual,
        });
        return Err("blob_integrity".into());
    }
    let plaintext = match key.open(blob) {
        Ok(p) => zeroize::Zeroizing::new(p),
        Err(e) => {
            engine.emit(EventKind::DecryptFailed {
                device_id: item.device_id.clone(),
                seq: item.seq,
            });
            return Err(e.code().into());
        }
    };
    let bundle: Bundle = match serde_json::from_slice(&plaintext) {
        Ok(b) => b,
        Err(_) => {
            engine.emit(EventKind::BundleInvalid {
                device_id: item.device_id.clone(),
                seq: item.seq,
                reason: "not a bundle".into(),
            });
            return Err("bundle_invalid".into());
        }
    };
    if let Err(field) = bundle.check_context(lid, &item.device_id, item.seq) {
        engine.emit(EventKind::ContextMismatch {
            device_id: item.device_id.clone(),
            seq: item.seq,
            field: field.as_str().into(),
        });
        return Err("context_mismatch".into());
    }
    Ok(bundle)
}
