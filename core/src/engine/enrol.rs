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

use super::error::{AuthorityMismatch, SyncError};
use super::events::{lock, EventKind};
use super::integrity_check::{IntegrityKind, IntegrityProblem};
use super::relay_client::{InitAuthority, RelayClient};
use super::state::EngineState;
use super::{KeySlot, SyncEngine};
use crate::authority::{AuthorityKey, AuthorityPublicKey, ReceiptKeys};
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

/// The authority key that signs a license-wide request (`revoke`, the
/// key-check PUT) of `license_id`: `None` for a license this device never
/// found a key for (the request goes as in v1), and `NoReceipt` when the
/// license has one (the state keeps it) but the engine holds no receipt for
/// it: an unsigned request is what §11.5 step 3 rules out.
pub(crate) fn signing_authority(
    engine: &SyncEngine,
    license_id: &str,
) -> Result<Option<Arc<AuthorityKey>>, SyncError> {
    match authority_for(engine, license_id) {
        Some(key) => Ok(Some(key)),
        None if pinned_authority(engine, license_id).is_some() => Err(SyncError::NoReceipt),
        None => Ok(None),
    }
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
    let client = engine.client_for(relay_url, 0)?;
    let (authority, fresh_envelope) = match receipt_keys(engine, license_id)? {
        Some((authority, envelope)) => (Some(authority), envelope),
        None => (None, None),
    };
    let pinned = pinned_authority(engine, license_id);
    let mode = match &authority {
        Some(key) => check_authority(engine, &client, license_id, license_key, key, pinned)?,
        // The license had an authority key: no v1 `init` (§11.5 step 3).
        None if pinned.is_some() => return Err(SyncError::NoReceipt),
        None => InitAuthority::None,
    };
    let matched = match (&mode, &authority) {
        (InitAuthority::Register(_) | InitAuthority::Claim(_), Some(key)) => {
            Some(key.public_key().to_string())
        }
        _ => None,
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
        Registration {
            relay_url,
            license_id,
            device_id: &device_id,
            device_name,
            authority_key: matched,
        },
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

/// PROTOCOL §11.5 steps 1–3: the relay's authority key against the
/// receipt's, and against the key this device's state keeps (`pinned`). A
/// different key drops the receipt's keys and is `WrongReceipt` naming both
/// fingerprints, before `init` and before any write (no event either: the
/// activity log is a file in the state directory). A relay that answers
/// another key than the pinned one, or none, is reported as a relay-integrity
/// problem; with none, the pinned key stands in for the license's, so the
/// device keeps sending signed requests instead of v1 ones.
fn check_authority<'a>(
    engine: &SyncEngine,
    client: &RelayClient,
    license_id: &str,
    license_key: &str,
    key: &'a AuthorityKey,
    pinned: Option<AuthorityPublicKey>,
) -> Result<InitAuthority<'a>, SyncError> {
    let found = client.license_authority(license_id, license_key)?;
    if let Some(pinned) = pinned.filter(|p| found.key != Some(*p)) {
        report_authority_change(engine, license_id, &pinned, found.key.as_ref())?;
    }
    let ours = key.public_key();
    match found.key.or(pinned) {
        Some(license_key) if license_key != ours => {
            *lock(&engine.inner.key) = KeySlot::Empty;
            forget_authority(engine);
            engine.inner.keycheck_ok.store(false, Ordering::SeqCst);
            Err(SyncError::WrongReceipt {
                authority: Some(AuthorityMismatch {
                    receipt: ours.fingerprint(),
                    license: license_key.fingerprint(),
                }),
            })
        }
        _ if found.key.is_none() && found.claim_open => Ok(InitAuthority::Claim(key)),
        Some(_) => Ok(InitAuthority::Register(key)),
        None => Ok(InitAuthority::None),
    }
}

/// The authority key this device's state keeps for `license_id` (§11.5
/// step 3).
fn pinned_authority(engine: &SyncEngine, license_id: &str) -> Option<AuthorityPublicKey> {
    let st = lock(&engine.inner.state);
    if st.license_id.as_deref() != Some(license_id) {
        return None;
    }
    // The state file is the device's own (0600): a key that does not parse
    // there was damaged locally, and the relay's answer decides as on a
    // first registration.
    st.authority_key
        .as_deref()
        .and_then(|k| AuthorityPublicKey::parse(k).ok())
}

/// Counts an `authorityChanged` problem in the state (for status) and
/// emits it, like a pull's detections. The pinned key stays.
fn report_authority_change(
    engine: &SyncEngine,
    license_id: &str,
    pinned: &AuthorityPublicKey,
    found: Option<&AuthorityPublicKey>,
) -> Result<(), SyncError> {
    let problem = IntegrityProblem {
        expected_authority: Some(pinned.fingerprint()),
        found_authority: found.map(AuthorityPublicKey::fingerprint),
        ..IntegrityProblem::new(IntegrityKind::AuthorityChanged, license_id, 0, 0)
    };
    {
        let inner = &engine.inner;
        let _dir_lock = inner.dir.lock()?;
        let mut st = lock(&inner.state);
        *st = inner.dir.load()?;
        st.integrity
            .record(std::slice::from_ref(&problem), inner.config.clock.now_ms());
        inner.dir.save(&st)?;
    }
    engine.emit(EventKind::RelayIntegrity(problem));
    Ok(())
}

/// What `register` saves.
struct Registration<'a> {
    relay_url: &'a str,
    license_id: &'a str,
    device_id: &'a str,
    device_name: &'a str,
    /// The license's authority key when the receipt's matched it (or
    /// claimed it); `None` keeps what the state has.
    authority_key: Option<String>,
}

/// Saves the registration under the state directory's lock, like a cycle,
/// and from what is on disk: another process may be running a cycle on this
/// directory, and its state (cursors, journal pages) must neither
/// interleave with this save nor be overwritten by an older copy.
fn save_registration(
    engine: &SyncEngine,
    client: &RelayClient,
    r: Registration<'_>,
) -> Result<(), SyncError> {
    let inner = &engine.inner;
    let _dir_lock = inner.dir.lock()?;
    let mut st = lock(&inner.state);
    *st = inner.dir.load()?;
    if st.license_id.as_deref() != Some(r.license_id) {
        *st = EngineState::default();
    }
    st.relay_url = Some(r.relay_url.to_string());
    st.license_id = Some(r.license_id.to_string());
    st.device_id = Some(r.device_id.to_string());
    st.device_name = Some(r.device_name.to_string());
    st.revoked = false;
    st.clock_offset_secs = client.offset.load(Ordering::Relaxed);
    if r.authority_key.is_some() {
        st.authority_key = r.authority_key;
    }
    inner.dir.save(&st)
}

#[cfg(test)]
#[path = "enrol_tests.rs"]
mod tests;
