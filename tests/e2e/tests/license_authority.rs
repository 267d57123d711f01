//! Issue 13, the license authority (PROTOCOL §11) end to end: a real relay
//! on loopback whose license has an authority key, and real engines that
//! give the receipt before `register` (§11.5).

use std::sync::Arc;

use azmx_sync_core::authority::authority_public_key;
use azmx_sync_core::engine::{EngineConfig, SyncEngine, SyncError, UreqTransport, STATE_FILE};
use azmx_sync_core::merge::StoreSpec;
use azmx_sync_e2e::*;
use azmx_sync_relay::{
    add_license, add_license_with_authority, admin_devices, set_authority_key, Relay, RelayConfig,
};
use secrecy::SecretString;

const LID: &str = "lic_authority";

/// A relay whose one license has the authority key of `RECEIPT`, or none
/// (`protected == false`).
fn relay(protected: bool) -> RelayFixture {
    let dir = tempfile::tempdir().unwrap();
    let license_key = if protected {
        let key = authority_public_key(SecretString::from(RECEIPT), LID).unwrap();
        add_license_with_authority(dir.path(), LID, Some(&key)).unwrap()
    } else {
        add_license(dir.path(), LID).unwrap()
    };
    let relay = Relay::start(RelayConfig::new(dir.path())).unwrap();
    RelayFixture {
        relay: Some(relay),
        dir,
        license_id: LID.into(),
        license_key,
    }
}

/// An engine with the three stores, not registered yet.
fn device(name: &str) -> Device {
    let state = tempfile::tempdir().unwrap();
    let engine = SyncEngine::new(
        EngineConfig::new(state.path()),
        Arc::new(UreqTransport::default()),
    )
    .unwrap();
    let d = Device {
        engine,
        snippets: Arc::new(MemStore::default()),
        todos: Arc::new(MemStore::default()),
        memory: Arc::new(MemStore::default()),
        state,
        name: name.into(),
    };
    for (spec, store) in [
        (StoreSpec::snippets(), &d.snippets),
        (StoreSpec::todos(), &d.todos),
        (StoreSpec::memory(), &d.memory),
    ] {
        d.engine.register_store(spec, store.clone()).unwrap();
    }
    d
}

/// The receipt first, then `register` (the order §11.5 needs).
fn enrol(relay: &RelayFixture, d: &Device, receipt: Option<&str>) -> Result<String, SyncError> {
    if let Some(r) = receipt {
        d.engine.set_receipt(SecretString::from(r)).unwrap();
    }
    d.engine
        .register(&relay.url(), LID, &relay.license_key, &d.name)
}

fn relay_devices(relay: &RelayFixture) -> Vec<String> {
    admin_devices(relay.dir.path(), LID)
        .unwrap()
        .into_iter()
        .map(|d| d.name)
        .collect()
}

#[test]
fn the_right_receipt_registers_and_syncs_and_a_wrong_one_registers_nothing() {
    let relay = relay(true);
    let a = device("laptop");
    let b = device("desktop");
    enrol(&relay, &a, Some(RECEIPT)).unwrap();
    enrol(&relay, &b, Some(RECEIPT)).unwrap();
    assert_eq!(a.engine.license_authority_found(), Some(true));
    let t = now_ms();
    a.add_snippet("work", "s1", "signed by the authority", t);
    a.sync();
    b.sync();
    assert_eq!(
        b.snippet_text("work", "s1").as_deref(),
        Some("signed by the authority")
    );

    let wrong = device("intruder");
    let err = enrol(&relay, &wrong, Some("RCPT-NOT-THE-RIGHT-ONE")).unwrap_err();
    assert!(matches!(err, SyncError::WrongReceipt), "{err:?}");
    assert!(
        !wrong.state.path().join(STATE_FILE).exists(),
        "nothing saved"
    );
    assert_eq!(wrong.engine.device_id(), None);
    let mut names = relay_devices(&relay);
    names.sort();
    assert_eq!(names, ["desktop", "laptop"], "no device registered");
    // Listed through a registered device too.
    assert_eq!(a.engine.devices().unwrap().len(), 2);
}

#[test]
fn the_license_key_alone_can_neither_register_nor_revoke() {
    // A license-key holder registered while the license had no authority
    // (§11.6); then the operator sets the key.
    let relay = relay(false);
    let owner = device("owner");
    let attacker = device("attacker");
    enrol(&relay, &owner, Some(RECEIPT)).unwrap();
    assert_eq!(owner.engine.license_authority_found(), Some(false));
    enrol(&relay, &attacker, None).unwrap();
    let key = authority_public_key(SecretString::from(RECEIPT), LID).unwrap();
    assert!(set_authority_key(relay.dir.path(), LID, &key).unwrap());

    // Without the receipt: no new device, no revocation.
    let late = device("late");
    let err = enrol(&relay, &late, None).unwrap_err();
    assert!(
        matches!(&err, SyncError::Relay { code, .. } if code == "authority_required"),
        "{err:?}"
    );
    let err = attacker.engine.revoke(&owner.id()).unwrap_err();
    assert!(
        matches!(&err, SyncError::Relay { code, .. } if code == "authority_required"),
        "{err:?}"
    );
    assert!(!owner.engine.devices().unwrap().iter().any(|d| d.revoked));

    // The receipt's holder revokes the intruder.
    owner.engine.revoke(&attacker.id()).unwrap();
    let listed = owner.engine.devices().unwrap();
    assert!(listed
        .iter()
        .any(|d| d.device_id == attacker.id() && d.revoked));
    assert!(matches!(attacker.engine.devices(), Err(SyncError::Revoked)));
}
