//! Issue 13, the license authority (PROTOCOL §11) end to end: a real relay
//! on loopback whose license has an authority key, and real engines that
//! give the receipt before `register` (§11.5).

use std::sync::Arc;

use azmx_sync_core::authority::authority_public_key;
use azmx_sync_core::engine::{
    EngineConfig, IntegrityKind, SyncEngine, SyncError, UreqTransport, STATE_FILE,
};
use azmx_sync_core::merge::StoreSpec;
use azmx_sync_e2e::*;
use azmx_sync_relay::{
    add_license, add_license_with_authority, add_license_with_rules, admin_devices, licenses,
    set_authority_key, LicenseRules, Relay, RelayConfig, StoreRef,
};
use secrecy::SecretString;

const LID: &str = "lic_authority";

/// A relay whose one license has the authority key of `RECEIPT`, or none
/// (`protected == false`).
fn relay(protected: bool) -> RelayFixture {
    relay_with(|dir| {
        if protected {
            let key = authority_public_key(SecretString::from(RECEIPT), LID).unwrap();
            add_license_with_authority(dir, LID, Some(&key)).unwrap()
        } else {
            add_license(dir, LID).unwrap()
        }
    })
}

/// A relay whose one license `add` creates (returning its license key).
fn relay_with(add: impl FnOnce(&std::path::Path) -> String) -> RelayFixture {
    let dir = tempfile::tempdir().unwrap();
    let license_key = add(dir.path());
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
    assert!(
        matches!(&err, SyncError::WrongReceipt { authority: Some(_) }),
        "{err:?}"
    );
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

/// The fingerprint of the authority key `receipt` derives for the license.
fn fingerprint(receipt: &str) -> String {
    authority_public_key(SecretString::from(receipt), LID)
        .unwrap()
        .fingerprint()
}

#[test]
fn a_claim_in_the_window_sets_the_key_and_another_receipt_then_sees_both_fingerprints() {
    // The operator opened a first-device claim window (PROTOCOL §11.4).
    let relay = relay_with(|dir| {
        let rules = LicenseRules {
            claim_window_secs: Some(600),
            ..LicenseRules::default()
        };
        add_license_with_rules(StoreRef::Sqlite(dir), LID, &rules).unwrap()
    });
    let first = device("first");
    enrol(&relay, &first, Some(RECEIPT)).unwrap();
    assert_eq!(first.engine.license_authority_found(), Some(true));
    let key = authority_public_key(SecretString::from(RECEIPT), LID).unwrap();
    let listed = licenses(relay.dir.path()).unwrap();
    assert_eq!(listed[0].authority_key, Some(key.to_string()), "claimed");
    first.add_snippet("work", "s1", "claimed", now_ms());
    first.sync();

    // Someone else's receipt (or the owner's, after a hijacked claim):
    // refused before init, naming both keys' fingerprints.
    let other = "ANOTHER-RECEIPT-FOR-THE-SAME-LICENSE";
    let second = device("second");
    let err = enrol(&relay, &second, Some(other)).unwrap_err();
    match &err {
        SyncError::WrongReceipt { authority: Some(m) } => {
            assert_eq!(m.license, fingerprint(RECEIPT));
            assert_eq!(m.receipt, fingerprint(other));
        }
        _ => panic!("{err:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&fingerprint(RECEIPT)) && text.contains(&fingerprint(other)));
    assert!(!text.contains(other), "never the receipt: {text}");
    assert!(
        !second.state.path().join(STATE_FILE).exists(),
        "nothing saved"
    );
    assert_eq!(relay_devices(&relay), ["first"], "no device registered");
}

#[test]
fn a_relay_that_switches_the_licenses_key_is_a_relay_integrity_problem() {
    let relay = relay(true);
    let a = device("laptop");
    enrol(&relay, &a, Some(RECEIPT)).unwrap();
    assert_eq!(a.engine.status().integrity_problems, 0);

    // The relay's answer changes to another key (an operator's mistake or a
    // hostile relay): the next registration reports it and is refused.
    let other = authority_public_key(SecretString::from("SOMEONE-ELSES-RECEIPT"), LID).unwrap();
    assert!(set_authority_key(relay.dir.path(), LID, &other).unwrap());
    let err = a
        .engine
        .register(&relay.url(), LID, &relay.license_key, &a.name)
        .unwrap_err();
    assert!(
        matches!(&err, SyncError::WrongReceipt { authority: Some(m) } if m.license == other.fingerprint()),
        "{err:?}"
    );
    let st = a.engine.status();
    assert_eq!(st.integrity_problems, 1);
    let p = st.last_integrity_problem.unwrap().problem;
    assert_eq!(p.kind, IntegrityKind::AuthorityChanged);
    assert_eq!(p.expected_authority, Some(fingerprint(RECEIPT)));
    assert_eq!(p.found_authority, Some(other.fingerprint()));
    assert!(a.event_types().iter().any(|e| e == "relayIntegrity"));
}
