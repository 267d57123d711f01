//! Wrong-receipt detection before anything is touched.
//!
//! The first device of a license seals a small key-check blob
//! (`{"format":"azmx.keycheck.v1","licenseId":…}`) and stores it on the
//! relay (set once). Every device opens it before its first push or pull: a
//! mistyped receipt fails there with `WrongReceipt`, before any local or
//! remote change.

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
            if client.keycheck_put(identity, device_id, &blob)? {
                engine.inner.keycheck_ok.store(true, Ordering::SeqCst);
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
    let ok = key
        .open(&blob)
        .ok()
        .and_then(|pt| serde_json::from_slice::<serde_json::Value>(&pt).ok())
        .is_some_and(|v| v["format"] == KEYCHECK_FORMAT && v["licenseId"] == license_id);
    if !ok {
        engine.emit(EventKind::WrongReceipt);
        return Err(SyncError::WrongReceipt);
    }
    engine.inner.keycheck_ok.store(true, Ordering::SeqCst);
    Ok(())
}
