//! Conformance: the operator's license rules (PROTOCOL §11.4): the
//! first-device claim window, the device cap, a rotated license key, and
//! the authority check repeated inside registration and the key-check
//! write.

use std::sync::Arc;

use bytes::Bytes;

use super::{license, T0};
use crate::storage::{
    AuthorityCheck, KeycheckPut, KeycheckWrite, NewDevice, RegisterOutcome, RevokeOutcome, Storage,
    StorageError,
};

const K1: &str = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg";
const K2: &str = "krpLanc3E4ujYqKkXMCyXNWn-8hfbXdMWkHQ2iVuGKs";

fn nd(lid: &str, id: &str, now: i64) -> NewDevice {
    NewDevice {
        license_id: lid.into(),
        device_id: id.into(),
        public_key: format!("pk-{id}"),
        name: "laptop".into(),
        now,
    }
}

async fn reg(s: &dyn Storage, lid: &str, id: &str, check: AuthorityCheck) -> RegisterOutcome {
    s.register_device_checked(nd(lid, id, T0), check)
        .await
        .unwrap()
}

fn created(o: &RegisterOutcome) -> bool {
    matches!(o, RegisterOutcome::Registered(r) if r.created)
}

async fn put_kc(s: &dyn Storage, lid: &str, dev: &str, check: AuthorityCheck) -> KeycheckPut {
    let put = KeycheckWrite {
        license_id: lid,
        device_id: dev,
        sha256: "ab",
        data: Bytes::from_static(b"kc"),
        now: T0,
    };
    s.keycheck_put_checked(put, check).await.unwrap()
}

/// A window is set on a license without a key only; a claim during it sets
/// the key, closes the window and drops the key-check blob with the
/// registration; after it every refusal writes nothing.
pub async fn claim_window(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    license(s, "lic_w").await;
    assert!(s.set_claim_window("lic_w", Some(T0 + 60)).await.unwrap());
    let l = s.license("lic_w").await.unwrap().unwrap();
    assert_eq!(l.claim_until, Some(T0 + 60));
    assert!(l.claim_open(T0) && !l.claim_open(T0 + 60));
    // During the window, a v1 registration decided before it opened is
    // seen as stale.
    let o = reg(s, "lic_w", "dev_v1", AuthorityCheck::Is(None)).await;
    assert_eq!(o, RegisterOutcome::AuthorityChanged);
    assert!(s.device("dev_v1").await.unwrap().is_none());
    // A key-check blob set without the authority meanwhile.
    let any = reg(s, "lic_w", "dev_0", AuthorityCheck::Any).await;
    assert!(created(&any));
    assert_eq!(
        put_kc(s, "lic_w", "dev_0", AuthorityCheck::Is(None)).await,
        KeycheckPut::Stored
    );
    let o = reg(s, "lic_w", "dev_1", AuthorityCheck::Claim(K1.into())).await;
    assert!(created(&o), "{o:?}");
    let l = s.license("lic_w").await.unwrap().unwrap();
    assert_eq!(
        (l.authority_key.as_deref(), l.claim_until),
        (Some(K1), None)
    );
    assert!(s.keycheck_get("lic_w").await.unwrap().is_none());
    // Another key: refused; the same key: an ordinary registration.
    let o = reg(s, "lic_w", "dev_2", AuthorityCheck::Claim(K2.into())).await;
    assert_eq!(o, RegisterOutcome::AuthorityExists);
    assert!(s.device("dev_2").await.unwrap().is_none());
    let o = reg(s, "lic_w", "dev_3", AuthorityCheck::Claim(K1.into())).await;
    assert!(created(&o));
    let o = reg(s, "lic_w", "dev_4", AuthorityCheck::Is(Some(K2.into()))).await;
    assert_eq!(o, RegisterOutcome::AuthorityChanged);
    // No window on a license with a key.
    assert!(!s.set_claim_window("lic_w", Some(T0 + 99)).await.unwrap());
    assert_eq!(s.license("lic_w").await.unwrap().unwrap().claim_until, None);

    // A window that has ended (or was closed) takes no claim.
    license(s, "lic_c").await;
    assert!(s.set_claim_window("lic_c", Some(T0)).await.unwrap());
    let o = reg(s, "lic_c", "dev_5", AuthorityCheck::Claim(K1.into())).await;
    assert_eq!(o, RegisterOutcome::ClaimClosed);
    assert!(s.set_claim_window("lic_c", None).await.unwrap());
    let o = reg(s, "lic_c", "dev_6", AuthorityCheck::Claim(K1.into())).await;
    assert_eq!(o, RegisterOutcome::ClaimClosed);
    assert_eq!(
        s.license("lic_c").await.unwrap().unwrap().authority_key,
        None
    );
    assert!(created(
        &reg(s, "lic_c", "dev_7", AuthorityCheck::Is(None)).await
    ));
    // A revoked device claims nothing.
    assert!(s.set_claim_window("lic_c", Some(T0 + 60)).await.unwrap());
    assert!(s.revoke("lic_c", "dev_7", T0).await.unwrap());
    let o = reg(s, "lic_c", "dev_7", AuthorityCheck::Claim(K1.into())).await;
    assert!(matches!(o, RegisterOutcome::Registered(r) if r.device.revoked_at.is_some()));
    assert_eq!(
        s.license("lic_c").await.unwrap().unwrap().authority_key,
        None
    );
    assert!(matches!(
        s.set_claim_window("lic_none", Some(T0)).await,
        Err(StorageError::UnknownLicense)
    ));
}

/// Claims racing on one open window: exactly one key wins.
pub async fn concurrent_claims(s: Arc<dyn Storage>) {
    license(&*s, "lic_race").await;
    assert!(s.set_claim_window("lic_race", Some(T0 + 60)).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let key = if i % 2 == 0 { K1 } else { K2 };
            let id = format!("dev_r{i}");
            let o = reg(&*s, "lic_race", &id, AuthorityCheck::Claim(key.into())).await;
            (key, o)
        }));
    }
    let mut winners = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            (key, RegisterOutcome::Registered(r)) => {
                assert!(r.created);
                winners.insert(key);
            }
            (_, RegisterOutcome::AuthorityExists) => {}
            (_, o) => panic!("unexpected {o:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "{winners:?}");
    let l = s.license("lic_race").await.unwrap().unwrap();
    assert_eq!(l.authority_key.as_deref(), winners.into_iter().next());
}

/// The cap counts live devices of the license, never an existing one.
pub async fn device_cap(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    license(s, "lic_cap").await;
    license(s, "lic_free").await;
    s.set_max_devices("lic_cap", Some(2)).await.unwrap();
    assert_eq!(
        s.license("lic_cap").await.unwrap().unwrap().max_devices,
        Some(2)
    );
    for id in ["dev_c1", "dev_c2"] {
        assert!(created(&reg(s, "lic_cap", id, AuthorityCheck::Any).await));
    }
    let o = reg(s, "lic_cap", "dev_c3", AuthorityCheck::Any).await;
    assert_eq!(o, RegisterOutcome::DeviceLimit { max: 2 });
    assert!(s.device("dev_c3").await.unwrap().is_none());
    let e = s.register_device(nd("lic_cap", "dev_c3", T0)).await;
    assert!(
        matches!(e, Err(StorageError::DeviceLimit { max: 2 })),
        "{e:?}"
    );
    // Re-registering an existing device is not counted.
    let again = s.register_device(nd("lic_cap", "dev_c1", T0)).await;
    assert!(!again.unwrap().created);
    // Another license is not affected; a revoked device frees its place.
    assert!(created(
        &reg(s, "lic_free", "dev_f1", AuthorityCheck::Any).await
    ));
    assert!(s.revoke("lic_cap", "dev_c1", T0).await.unwrap());
    assert!(created(
        &reg(s, "lic_cap", "dev_c3", AuthorityCheck::Any).await
    ));
    s.set_max_devices("lic_cap", None).await.unwrap();
    assert!(created(
        &reg(s, "lic_cap", "dev_c4", AuthorityCheck::Any).await
    ));
    assert!(matches!(
        s.set_max_devices("lic_none", Some(1)).await,
        Err(StorageError::UnknownLicense)
    ));
}

/// Concurrent registrations of new devices never overshoot the cap.
pub async fn concurrent_device_cap(s: Arc<dyn Storage>) {
    license(&*s, "lic_cc").await;
    s.set_max_devices("lic_cc", Some(3)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            reg(&*s, "lic_cc", &format!("dev_cc{i}"), AuthorityCheck::Any).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            o if created(&o) => ok += 1,
            RegisterOutcome::DeviceLimit { max: 3 } => {}
            o => panic!("unexpected {o:?}"),
        }
    }
    assert_eq!(ok, 3);
    assert_eq!(s.devices("lic_cc").await.unwrap().unwrap().len(), 3);
}

/// A rotated key hash replaces the old one; the key-check write sees the
/// authority key as it is at the write.
pub async fn key_rotation_and_keycheck_authority(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    license(s, "lic_k").await;
    s.set_license_key_hash("lic_k", [9; 32]).await.unwrap();
    assert_eq!(s.license_key_hash("lic_k").await.unwrap(), Some([9; 32]));
    assert!(matches!(
        s.set_license_key_hash("lic_none", [9; 32]).await,
        Err(StorageError::UnknownLicense)
    ));
    assert!(created(
        &reg(s, "lic_k", "dev_k", AuthorityCheck::Any).await
    ));
    // Checked against a key the license does not have: nothing stored.
    let o = put_kc(s, "lic_k", "dev_k", AuthorityCheck::Is(Some(K1.into()))).await;
    assert_eq!(o, KeycheckPut::AuthorityChanged);
    assert!(s.keycheck_get("lic_k").await.unwrap().is_none());
    // The operator sets a key after a v1 check: the v1 write is refused.
    assert!(s.set_authority_key("lic_k", K1).await.unwrap());
    let o = put_kc(s, "lic_k", "dev_k", AuthorityCheck::Is(None)).await;
    assert_eq!(o, KeycheckPut::AuthorityChanged);
    assert!(s.keycheck_get("lic_k").await.unwrap().is_none());
    let o = put_kc(s, "lic_k", "dev_k", AuthorityCheck::Is(Some(K1.into()))).await;
    assert_eq!(o, KeycheckPut::Stored);
    // The same for a revocation checked before the key was set.
    let o = s.revoke_checked("lic_k", "dev_k", T0, AuthorityCheck::Is(None));
    assert_eq!(o.await.unwrap(), RevokeOutcome::AuthorityChanged);
    assert_eq!(s.device("dev_k").await.unwrap().unwrap().revoked_at, None);
    let o = s.revoke_checked(
        "lic_k",
        "dev_nobody",
        T0,
        AuthorityCheck::Is(Some(K1.into())),
    );
    assert_eq!(o.await.unwrap(), RevokeOutcome::UnknownDevice);
    let o = put_kc(s, "lic_k", "dev_k", AuthorityCheck::Is(Some(K1.into()))).await;
    assert_eq!(
        o,
        KeycheckPut::Exists {
            sha256: "ab".into()
        }
    );
    let o = s.revoke_checked(
        "lic_k",
        "dev_k",
        T0 + 1,
        AuthorityCheck::Is(Some(K1.into())),
    );
    assert_eq!(o.await.unwrap(), RevokeOutcome::Revoked);
    assert_eq!(
        s.device("dev_k").await.unwrap().unwrap().revoked_at,
        Some(T0 + 1)
    );
    assert!(matches!(
        s.keycheck_put_checked(
            KeycheckWrite {
                license_id: "lic_none",
                device_id: "dev_k",
                sha256: "ab",
                data: Bytes::new(),
                now: T0,
            },
            AuthorityCheck::Any,
        )
        .await,
        Err(StorageError::UnknownLicense)
    ));
}
