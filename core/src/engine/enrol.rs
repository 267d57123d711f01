//! Registration and the receipt's keys, with the license authority
//! (PROTOCOL §11.5).
//!
//! The receipt may come before or after `register`. After (the order every
//! host used before §11): the keys are derived on a thread for the
//! registered license, as always. Before: the engine does not know the
//! license yet, so it keeps the receipt (a `SecretString`, zeroized on
//! drop) until `register` names it; `register` then derives both keys with
//! one PBKDF2, asks the relay for the license's authority key and refuses a
//! receipt whose authority key differs (`WrongReceipt`) before anything is
//! sent to `init` or written to the state directory.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use secrecy::SecretString;

use super::error::SyncError;
use super::events::{lock, EventKind};
use super::relay_client::{InitAuthority, RelayClient};
use super::state::EngineState;
use super::{KeySlot, SyncEngine};
use crate::authority::{AuthorityKey, ReceiptKeys};
use crate::kdf::EnvelopeKey;

/// The receipt kept for a `register` that has not happened yet, and the
/// authority key next to the envelope key (`Inner::key`).
#[derive(Default)]
pub(crate) struct AuthoritySlot {
    /// A receipt given before `register`: used (and dropped, zeroized) by
    /// the next `register`.
    pending: Option<SecretString>,
    /// The authority key and the license id it was derived for.
    key: Option<(String, Arc<AuthorityKey>)>,
    /// What the last `register` of this process found: `Some(true)` the
    /// license has an authority key (and this receipt's matched it),
    /// `Some(false)` it has none.
    relay_has_authority: Option<bool>,
}

pub(crate) fn set_receipt(engine: &SyncEngine, receipt: SecretString) -> Result<(), SyncError> {
    let inner = &engine.inner;
    let Some(lid) = lock(&inner.state).license_id.clone() else {
        // Before `register`: the license id (part of both derivations) is
        // not known yet. A second call replaces (and zeroizes) the first.
        lock(&inner.authority).pending = Some(receipt);
        inner.keycheck_ok.store(false, Ordering::SeqCst);
        return Ok(());
    };
    lock(&inner.authority).pending = None;
    *lock(&inner.key) = KeySlot::Deriving;
    inner.keycheck_ok.store(false, Ordering::SeqCst);
    let inner = Arc::clone(&engine.inner);
    std::thread::Builder::new()
        .name("azmx-kdf".into())
        .spawn(move || {
            let derived = ReceiptKeys::derive_secret(receipt, &lid);
            let slot = match derived {
                Ok(keys) => {
                    // The authority key first: whoever waits on the key
                    // slot finds its partner in place.
                    lock(&inner.authority).key = Some((lid, Arc::new(keys.authority)));
                    KeySlot::Ready(Arc::new(keys.envelope))
                }
                Err(e) => {
                    lock(&inner.authority).key = None;
                    KeySlot::Failed(e.code().to_string())
                }
            };
            let ready = matches!(slot, KeySlot::Ready(_));
            *lock(&inner.key) = slot;
            inner.key_cv.notify_all();
            if ready {
                let now = inner.config.clock.now_ms();
                inner.log.emit(now, super::EventKind::KeyReady);
            }
        })
        .map_err(|e| SyncError::Config(format!("cannot start the key thread: {e}")))?;
    Ok(())
}

/// Both keys, given by a host that derived them (`ReceiptKeys`) for
/// `license_id`.
pub(crate) fn set_keys(
    engine: &SyncEngine,
    license_id: &str,
    envelope: Arc<EnvelopeKey>,
    authority: Arc<AuthorityKey>,
) {
    {
        let mut slot = lock(&engine.inner.authority);
        slot.pending = None;
        slot.key = Some((license_id.to_string(), authority));
    }
    engine.install_envelope_key(envelope);
}

/// Drops a receipt kept for `register` and the authority key: a key given
/// alone (`set_envelope_key`) has no authority partner.
pub(crate) fn forget_authority(engine: &SyncEngine) {
    let mut slot = lock(&engine.inner.authority);
    slot.pending = None;
    slot.key = None;
}

/// The authority key for `license_id`, waiting for a derivation still
/// running. `None` without a receipt, or with one of another license.
pub(crate) fn authority_for(engine: &SyncEngine, license_id: &str) -> Option<Arc<AuthorityKey>> {
    if !matches!(*lock(&engine.inner.key), KeySlot::Empty) {
        // Only to wait: a failed derivation leaves no authority key either.
        let _ = engine.key();
    }
    lock(&engine.inner.authority)
        .key
        .as_ref()
        .filter(|(lid, _)| lid == license_id)
        .map(|(_, k)| Arc::clone(k))
}

/// A receipt waits for `register`.
pub(crate) fn receipt_pending(engine: &SyncEngine) -> bool {
    lock(&engine.inner.authority).pending.is_some()
}

pub(crate) fn relay_has_authority(engine: &SyncEngine) -> Option<bool> {
    lock(&engine.inner.authority).relay_has_authority
}

/// `register` (see [`SyncEngine::register`]).
pub(crate) fn register(
    engine: &SyncEngine,
    relay_url: &str,
    license_id: &str,
    license_key: &str,
    device_name: &str,
) -> Result<String, SyncError> {
    crate::canonical::check_id("licenseId", license_id)?;
    crate::canonical::check_name(device_name)?;
    let client = engine.client_for(relay_url, 0);
    let (authority, fresh_envelope) = match receipt_keys(engine, license_id)? {
        Some((authority, envelope)) => (Some(authority), envelope),
        None => (None, None),
    };
    let mode = match &authority {
        Some(key) => check_authority(engine, &client, license_id, license_key, key)?,
        None => InitAuthority::None,
    };
    let found = match mode {
        InitAuthority::None => authority.as_ref().map(|_| false),
        InitAuthority::Register(_) | InitAuthority::Claim(_) => Some(true),
    };
    if let (Some(authority), Some(envelope)) = (&authority, fresh_envelope) {
        // Kept even if `init` fails below (a network error): a retry of
        // `register` finds the keys without the receipt.
        lock(&engine.inner.authority).key = Some((license_id.to_string(), Arc::clone(authority)));
        engine.install_envelope_key(envelope);
    }
    let identity = &engine.inner.identity;
    let device_id = client.init(identity, license_id, license_key, device_name, &mode)?;
    save_registration(
        engine,
        &client,
        relay_url,
        license_id,
        &device_id,
        device_name,
    )?;
    if found.is_some() {
        lock(&engine.inner.authority).relay_has_authority = found;
    }
    engine.emit(EventKind::Registered {
        device_id: device_id.clone(),
    });
    Ok(device_id)
}

/// The authority key, and the envelope key when it was derived just now.
type DerivedKeys = (Arc<AuthorityKey>, Option<Arc<EnvelopeKey>>);

/// The receipt's keys for `license_id`: derived now from a receipt given
/// before `register` (both keys, one PBKDF2; the envelope key is returned
/// for the key slot, where `set_receipt` would have put it, once the
/// relay's authority key agrees), or the authority key already derived for
/// this license (its envelope key is in the slot already). `None` without
/// a receipt for this license.
fn receipt_keys(engine: &SyncEngine, license_id: &str) -> Result<Option<DerivedKeys>, SyncError> {
    let pending = lock(&engine.inner.authority).pending.take();
    let Some(receipt) = pending else {
        return Ok(authority_for(engine, license_id).map(|k| (k, None)));
    };
    let keys = ReceiptKeys::derive_secret(receipt, license_id)?;
    Ok(Some((
        Arc::new(keys.authority),
        Some(Arc::new(keys.envelope)),
    )))
}

/// PROTOCOL §11.5 steps 1–2: the relay's authority key against the
/// receipt's. A different key drops the receipt's keys and is
/// `WrongReceipt`, before `init` and before any write (no event either:
/// the activity log is a file in the state directory).
fn check_authority<'a>(
    engine: &SyncEngine,
    client: &RelayClient,
    license_id: &str,
    license_key: &str,
    key: &'a AuthorityKey,
) -> Result<InitAuthority<'a>, SyncError> {
    let found = client.license_authority(license_id, license_key)?;
    match found.key {
        Some(relay_key) if relay_key == key.public_key() => Ok(InitAuthority::Register(key)),
        Some(_) => {
            *lock(&engine.inner.key) = KeySlot::Empty;
            forget_authority(engine);
            engine.inner.keycheck_ok.store(false, Ordering::SeqCst);
            Err(SyncError::WrongReceipt)
        }
        None if found.claim_open => Ok(InitAuthority::Claim(key)),
        None => Ok(InitAuthority::None),
    }
}

/// Saves the registration under the state directory's lock, like a cycle,
/// and from what is on disk: another process may be running a cycle on this
/// directory, and its state (cursors, journal pages) must neither
/// interleave with this save nor be overwritten by an older copy.
fn save_registration(
    engine: &SyncEngine,
    client: &RelayClient,
    relay_url: &str,
    license_id: &str,
    device_id: &str,
    device_name: &str,
) -> Result<(), SyncError> {
    let inner = &engine.inner;
    let _dir_lock = inner.dir.lock()?;
    let mut st = lock(&inner.state);
    *st = inner.dir.load()?;
    if st.license_id.as_deref() != Some(license_id) {
        *st = EngineState::default();
    }
    st.relay_url = Some(relay_url.to_string());
    st.license_id = Some(license_id.to_string());
    st.device_id = Some(device_id.to_string());
    st.device_name = Some(device_name.to_string());
    st.revoked = false;
    st.clock_offset_secs = client.offset.load(Ordering::Relaxed);
    inner.dir.save(&st)
}

#[cfg(test)]
#[path = "enrol_tests.rs"]
mod tests;
