//! Reading a store for a push: whole, or only the keys its host says
//! changed since the token kept in the state (`StoreAdapter::changes_since`).
//!
//! Reading whole is always correct; reading by token is as correct as the
//! host's report. So the engine reads whole whenever it has no token (the
//! first cycle, a state reset, a host that cannot tell), when the host does
//! not know the token, answers with an error or an oversized token, reports
//! more keys than a partial read is worth, every
//! `EngineConfig::full_snapshot_every`-th cycle, and for every checkpoint. A
//! host that leaves a change out is caught at the first of those.

use super::snapshot;
use crate::engine::error::SyncError;
use crate::engine::host::{ChangeSet, MAX_CHANGED_KEYS, MAX_CHANGE_TOKEN_BYTES};
use crate::engine::state::StoreChanges;
use crate::engine::{StoreAdapter, SyncEngine};
use crate::merge::Record;

/// One store as read for this cycle.
pub(super) struct StoreRead {
    pub records: Vec<Record>,
    /// Every record of the store (else only those of the reported keys).
    pub whole: bool,
    /// The token to keep once this cycle's changes are on the relay; `None`
    /// drops the store's token (its host cannot tell).
    pub next: Option<StoreChanges>,
}

/// Reads `store`: only the keys changed since `held` when the host can say
/// which and no full read is due, else every record.
pub(super) fn read_store(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn StoreAdapter,
    held: Option<&StoreChanges>,
) -> Result<StoreRead, SyncError> {
    let every = engine.inner.config.full_snapshot_every.max(1);
    let token = held.and_then(|h| hex::decode(&h.token).ok());
    // Asked before any read, so a write landing during the reads below is
    // after the new token and is reported again next time.
    let asked = match adapter.changes_since(token.as_deref()) {
        Ok(Some(cs)) if cs.token.len() <= MAX_CHANGE_TOKEN_BYTES => Some(cs),
        // No capability, a host error or an oversized token: read whole,
        // keep no token.
        _ => None,
    };
    let Some(ChangeSet { token: next, keys }) = asked else {
        return whole(engine, store, adapter, None);
    };
    let partial_reads = held.map_or(0, |h| h.partial_reads);
    let next_token = hex::encode(&next);
    let partial = match keys {
        Some(keys)
            if token.is_some()
                && partial_reads.saturating_add(1) < every
                && keys.len() <= MAX_CHANGED_KEYS =>
        {
            if keys.is_empty() {
                Some(Vec::new())
            } else {
                // A failed partial read falls back to the full one (whose
                // failure, if it fails too, fails the cycle).
                adapter.snapshot_keys(&keys).ok()
            }
        }
        _ => None,
    };
    match partial {
        Some(records) => Ok(StoreRead {
            records,
            whole: false,
            next: Some(StoreChanges {
                token: next_token,
                partial_reads: partial_reads.saturating_add(1),
            }),
        }),
        None => whole(
            engine,
            store,
            adapter,
            Some(StoreChanges {
                token: next_token,
                partial_reads: 0,
            }),
        ),
    }
}

/// Every record of `store`; `next` is the token asked for before the read.
fn whole(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn StoreAdapter,
    next: Option<StoreChanges>,
) -> Result<StoreRead, SyncError> {
    Ok(StoreRead {
        records: snapshot(engine, store, adapter)?,
        whole: true,
        next,
    })
}
