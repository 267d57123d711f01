//! One sync cycle: push (outbox first, then the new bundle), then pull.
//! Every step that matters is written to the state directory before the
//! next, so a kill at any point loses nothing and duplicates nothing.

mod apply;
mod changes;
mod crash;
mod merge_page;
mod parked;
mod parts;
mod plan;
mod pull;
mod push;
mod quarantine;

pub(crate) use apply::reject_out_of_bounds;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::error::SyncError;
use super::events::{lock, EventKind};
use super::relay_client::RelayClient;
use super::state::{key_string, short_hash, CycleDelta, CycleSummary, EngineState, PageDelta};
use super::{keycheck, CycleReport, HostError, Registered, StoreAdapter, SyncEngine, Unsynced};
use crate::kdf::EnvelopeKey;
use crate::merge::{Record, StoreSpec};

/// The relay session every step of a cycle works in.
#[derive(Clone, Copy)]
struct Session<'a> {
    engine: &'a SyncEngine,
    client: &'a RelayClient,
    key: &'a EnvelopeKey,
    device_id: &'a str,
    lid: &'a str,
}

impl<'a> Session<'a> {
    fn parts(
        self,
    ) -> (
        &'a SyncEngine,
        &'a RelayClient,
        &'a EnvelopeKey,
        &'a str,
        &'a str,
    ) {
        (self.engine, self.client, self.key, self.device_id, self.lid)
    }
}

/// A registered store as a cycle uses it: name, spec, the host's adapter.
type RegisteredStore = (String, StoreSpec, Arc<dyn StoreAdapter>);

pub(crate) fn run(engine: &SyncEngine, trigger: &str) -> Result<CycleReport, SyncError> {
    let started = Instant::now();
    engine.emit(EventKind::CycleStarted {
        trigger: trigger.into(),
    });
    let _dir_lock = engine.inner.dir.lock()?;
    // Another process may have advanced the state since we loaded it.
    {
        let mut st = lock(&engine.inner.state);
        engine.inner.dir.reload(&mut st)?;
        // A torn last line (a crash mid-append) would hide every line
        // appended after it; a long journal slows every load: fold it in.
        let dir = &engine.inner.dir;
        if dir.journal_torn() || dir.journal_outgrown(dir.journal_len()) {
            engine.inner.dir.save(&st)?;
        }
    }
    let mut report = CycleReport::default();
    let mut result = run_inner(engine, &mut report);
    report.duration_ms = started.elapsed().as_millis() as u64;
    let ok = result.is_ok();
    {
        let mut st = lock(&engine.inner.state);
        let now = engine.inner.config.clock.now_ms();
        st.last_cycle = Some(CycleSummary {
            at_ms: now,
            ok,
            error_code: result.as_ref().err().map(|e| e.code().to_string()),
            duration_ms: report.duration_ms,
        });
        let prev_success = st.last_success_ms;
        if ok {
            st.last_success_ms = Some(now);
        }
        let revoked = matches!(result, Err(SyncError::Revoked)) && !st.revoked;
        if revoked {
            st.revoked = true;
        }
        // A cycle whose state cannot be written did not finish: say so (the
        // journal still holds its pages, so the next cycle resumes from them).
        if let Err(e) = save_cycle_end(engine, &st, revoked) {
            if result.is_ok() {
                if let Some(c) = st.last_cycle.as_mut() {
                    c.ok = false;
                    c.error_code = Some(e.code().to_string());
                }
                st.last_success_ms = prev_success;
                result = Err(e);
            }
        }
    }
    let ok = result.is_ok();
    engine.emit(EventKind::CycleFinished {
        duration_ms: report.duration_ms,
        pushed: report.pushed_seq.is_some(),
        pulled_blobs: report.pulled_blobs,
        ok,
    });
    result.map(|()| report)
}

/// Writes what the end of a cycle changed: one journal line (O(1)) with its
/// summary and the change tokens, or, when the journal is torn or long or
/// the device was just revoked, the whole state.
fn save_cycle_end(engine: &SyncEngine, st: &EngineState, revoked: bool) -> Result<(), SyncError> {
    let dir = &engine.inner.dir;
    if revoked || dir.journal_torn() || dir.journal_outgrown(dir.journal_len()) {
        return dir.save(st);
    }
    dir.append_cycle_end(&mut PageDelta {
        cursor: st.cursor.clone(),
        cycle: Some(CycleDelta {
            last_cycle: st.last_cycle.clone(),
            last_success_ms: st.last_success_ms,
            changes: st.changes.clone(),
        }),
        ..PageDelta::default()
    })
    .map(|_| ())
}

fn run_inner(engine: &SyncEngine, report: &mut CycleReport) -> Result<(), SyncError> {
    if lock(&engine.inner.state).revoked {
        engine.emit(EventKind::Revoked);
        return Err(SyncError::Revoked);
    }
    // Registration comes before the receipt (set_receipt needs a device), so
    // an unregistered engine reports the first missing step.
    let (client, device_id, lid) = engine.session()?;
    let key = engine.key()?;
    let result = (|| {
        keycheck::verify(engine, &client, &key, &device_id, &lid)?;
        let s = Session {
            engine,
            client: &client,
            key: &key,
            device_id: &device_id,
            lid: &lid,
        };
        push::push(s, report)?;
        pull::pull(s, report)
    })();
    // Keep a clock correction learnt during this cycle.
    let offset = client.offset.load(Ordering::Relaxed);
    let mut st = lock(&engine.inner.state);
    if st.clock_offset_secs != offset {
        st.clock_offset_secs = offset;
        engine.inner.dir.save(&st)?;
    }
    result
}

fn stores(engine: &SyncEngine) -> Vec<RegisteredStore> {
    lock(&engine.inner.stores)
        .iter()
        .map(|Registered { spec, adapter }| {
            (
                spec.name.as_str().to_string(),
                spec.clone(),
                Arc::clone(adapter),
            )
        })
        .collect()
}

/// The host's records of one store. A failure is logged as a `storeError`
/// event, like a failed `apply`, so the activity log names the store either way.
fn snapshot(
    engine: &SyncEngine,
    store: &str,
    adapter: &dyn StoreAdapter,
) -> Result<Vec<Record>, SyncError> {
    adapter
        .snapshot()
        .map_err(|e| store_failed(engine, store, e))
}

/// A host store's failure, logged as a `storeError` event and returned typed.
fn store_failed(engine: &SyncEngine, store: &str, e: HostError) -> SyncError {
    engine.emit(EventKind::StoreError {
        store: store.into(),
        message: e.message.clone(),
    });
    SyncError::Store {
        store: store.into(),
        message: e.message,
    }
}

pub(crate) fn unsynced(engine: &SyncEngine) -> Result<Unsynced, SyncError> {
    let held = lock(&engine.inner.state).changes.clone();
    let mut out = Unsynced::default();
    for (name, _spec, adapter) in stores(engine) {
        // Only what changed since the kept token can be off the relay (the
        // token is kept once everything before it is on the relay); the new
        // token is not kept: this is a count, not a cycle.
        let read = changes::read_store(engine, &name, adapter.as_ref(), held.get(&name))?;
        let hashes: Vec<(String, String)> = read
            .records
            .iter()
            .map(|r| (key_string(&r.key()), short_hash(r)))
            .collect();
        let st = lock(&engine.inner.state);
        let known = st.known.get(&name);
        for (r, (k, h)) in read.records.iter().zip(&hashes) {
            if known.and_then(|m| m.get(k)) != Some(h) {
                out.count += 1;
                out.oldest_updated_at_ms = Some(
                    out.oldest_updated_at_ms
                        .map_or(r.updated_at, |o| o.min(r.updated_at)),
                );
            }
        }
    }
    Ok(out)
}
