//! Bundles kept for stores this device has not registered yet: parked when
//! pulled, merged once their stores are registered.

use std::collections::HashMap;

use super::apply::{bound_arrivals, record_merged};
use super::merge_page::merge_apply;
use super::pull::open_bundle;
use super::{stores, Session};
use crate::engine::error::SyncError;
use crate::engine::events::{lock, EventKind};
use crate::engine::relay_client::PullItem;
use crate::engine::state::{ParkedBundle, MAX_PARKED_BUNDLES, MAX_PARKED_BYTES};
use crate::engine::CycleReport;
use crate::merge::Record;

/// Adds a bundle to the parked list. A checkpoint holds every record of its
/// device, so it replaces that device's older parked bundles whose stores it
/// carries too.
pub(super) fn park(parked: &mut Vec<ParkedBundle>, new: ParkedBundle) {
    if parked.iter().any(|p| p.sha256 == new.sha256) {
        return;
    }
    if new.checkpoint {
        parked.retain(|p| {
            !(p.device_id == new.device_id
                && p.seq < new.seq
                && p.missing.iter().all(|m| new.stores.contains(m)))
        });
    }
    parked.push(new);
}

pub(super) fn check_parked_bound(parked: &[ParkedBundle]) -> Result<(), SyncError> {
    let bytes: u64 = parked.iter().map(|p| p.bytes).sum();
    if parked.len() <= MAX_PARKED_BUNDLES && bytes <= MAX_PARKED_BYTES {
        return Ok(());
    }
    let mut names: Vec<&str> = parked
        .iter()
        .flat_map(|p| p.missing.iter().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    names.truncate(8);
    Err(SyncError::Config(format!(
        "records of stores this device has not registered ({}) fill the space kept for them \
         ({MAX_PARKED_BUNDLES} bundles, {} MiB); register those stores: the pull stopped \
         before them and resumes then, nothing is lost",
        names.join(", "),
        MAX_PARKED_BYTES >> 20,
    )))
}

/// Merges the parked bundles' records of stores registered since they were
/// parked, then forgets the bundles nothing is missing from any more.
pub(super) fn unpark(s: Session<'_>, report: &mut CycleReport) -> Result<(), SyncError> {
    let (engine, client, key, device_id, lid) = s.parts();
    let registered = stores(engine);
    let is_registered = |name: &str| registered.iter().any(|(n, _, _)| n == name);
    let mut parked = lock(&engine.inner.state).parked.clone();
    if !parked
        .iter()
        .any(|p| p.missing.iter().any(|m| is_registered(m)))
    {
        engine.inner.dir.prune_parked(&parked);
        return Ok(());
    }
    let mut incoming: HashMap<String, Vec<Record>> = HashMap::new();
    for p in parked.iter_mut() {
        if !p.missing.iter().any(|m| is_registered(m)) {
            continue;
        }
        let item = PullItem {
            device_id: p.device_id.clone(),
            seq: p.seq,
            sha256: p.sha256.clone(),
            created_at: p.created_at,
        };
        // The kept copy first; if it is unreadable, the relay may still have it.
        let local = engine
            .inner
            .dir
            .read_parked(&p.sha256)
            .and_then(|b| open_bundle(engine, key, lid, &item, &b).ok());
        let bundle = match local {
            Some(b) => Some(b),
            None => client
                .blob(&engine.inner.identity, device_id, &p.device_id, p.seq)?
                .and_then(|b| open_bundle(engine, key, lid, &item, &b).ok()),
        };
        let Some(bundle) = bundle else {
            engine.emit(EventKind::BundleInvalid {
                device_id: p.device_id.clone(),
                seq: p.seq,
                reason: "kept bundle unreadable and gone from the relay".into(),
            });
            p.missing.clear();
            continue;
        };
        let mut bundle = bundle;
        bound_arrivals(s, p.created_at, &mut bundle.stores, report);
        for s in bundle.stores {
            if p.missing.contains(&s.store) && is_registered(&s.store) {
                incoming.entry(s.store).or_default().extend(s.records);
            }
        }
        p.missing.retain(|m| !is_registered(m));
    }
    parked.retain(|p| !p.missing.is_empty());
    let (known_updates, new_tombstones) = merge_apply(engine, &registered, incoming, report)?;
    let mut st = lock(&engine.inner.state);
    record_merged(&mut st, known_updates, new_tombstones);
    st.parked = parked;
    engine.inner.dir.save(&st)?;
    engine.inner.dir.prune_parked(&st.parked);
    Ok(())
}
