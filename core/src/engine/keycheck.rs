//! Wrong-receipt detection before anything is touched.
//!
//! The first device of a license seals a small key-check blob
//! (`{"format":"azmx.keycheck.v1","licenseId":…}`) and stores it on the
//! relay (set once). Every device opens it before its first push or pull: a
//! mistyped receipt fails there with `WrongReceipt`, before any local or
//! remote change.
//!
//! Once verified, the blob is kept in the state directory (`keycheck.blob`),
//! so a later process (each CLI `sync`, an app restart) checks its key
//! locally instead of asking the relay again. Opening that copy proves the
//! key is the one that was verified: nobody without the key can seal a blob
//! that opens under it. If the local copy does not open (a different
//! receipt, or a damaged file), the relay's copy decides, as on first use.

use std::sync::atomic::Ordering;

use super::error::SyncError;
use super::events::EventKind;
use super::relay_client::RelayClient;
use super::SyncEngine;
use crate::kdf::EnvelopeKey;

pub const KEYCHECK_FORMAT: &str = "azmx.keycheck.v1";

pub(crate) fn verify(
    engine: &SyncEngine,
    client: &RelayClient,
    key: &EnvelopeKey,
    device_id: &str,
    license_id: &str,
) -> Result<(), SyncError> {
    if engine.inner.keycheck_ok.load(Ordering::SeqCst) {
        return Ok(());
    }
    if let Some(local) = engine.inner.dir.read_keycheck_blob() {
        if opens_as_keycheck(key, &local, license_id) {
            engine.inner.keycheck_ok.store(true, Ordering::SeqCst);
            return Ok(());
        }
    }
    let identity = &engine.inner.identity;
    let stored = match client.keycheck_get(identity, device_id)? {
        Some(found) => found,
        None => {
            let plaintext = serde_json::to_vec(&serde_json::json!({
                "format": KEYCHECK_FORMAT,
                "licenseId": license_id,
            }))
            .unwrap_or_default();
            let blob = key.seal(&plaintext);
            // Signed by the license authority too when the engine has its
            // key (PROTOCOL §11.3); a license without one ignores it, and
            // one this device knows has a key gets no unsigned PUT.
            let authority = super::enrol::signing_authority(engine, license_id)?;
            let authority = authority.as_deref().map(|k| (k, license_id));
            if client.keycheck_put(identity, device_id, &blob, authority)? {
                remember(engine, &blob);
                return Ok(());
            }
            // Another device set it first: check against theirs.
            client
                .keycheck_get(identity, device_id)?
                .ok_or_else(|| SyncError::Relay {
                    status: 404,
                    code: "not_found".into(),
                    message: "the key-check blob vanished".into(),
                })?
        }
    };
    let (blob, sha) = stored;
    if let Some(sha) = sha {
        crate::integrity::verify_blob(&sha, &blob)?;
    }
    if !opens_as_keycheck(key, &blob, license_id) {
        engine.emit(EventKind::WrongReceipt);
        return Err(SyncError::wrong_receipt());
    }
    remember(engine, &blob);
    Ok(())
}

fn opens_as_keycheck(key: &EnvelopeKey, blob: &[u8], license_id: &str) -> bool {
    key.open(blob)
        .ok()
        .and_then(|pt| serde_json::from_slice::<serde_json::Value>(&pt).ok())
        .is_some_and(|v| v["format"] == KEYCHECK_FORMAT && v["licenseId"] == license_id)
}

/// Marks the key verified for this process and keeps the blob for the next.
fn remember(engine: &SyncEngine, blob: &[u8]) {
    engine.inner.keycheck_ok.store(true, Ordering::SeqCst);
    // Only a cache: failing to write it costs one request next time.
    let _ = engine.inner.dir.write_keycheck_blob(blob);
}
