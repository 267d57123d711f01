//! The storage conformance suite: every [`Storage`] backend must pass all of
//! it. Run it from a test file with [`storage_conformance_tests!`], giving
//! an async function that makes a fresh, empty [`Fixture`]:
//!
//! ```ignore
//! async fn fresh() -> azmx_sync_relay::storage::conformance::Fixture { ... }
//! azmx_sync_relay::storage_conformance_tests!(fresh);
//! ```
//!
//! The checks panic (assert) on a violation; they are ordinary async
//! functions so a backend can also call them one by one.
//!
//! [`storage_conformance_tests!`]: crate::storage_conformance_tests

use std::sync::Arc;

use bytes::Bytes;

use super::{KeycheckPut, NewBlob, NewDevice, PushOutcome, Quota, Storage, StorageError};

mod authority;
mod push_days;
mod rules;
pub use authority::license_authority;
pub use push_days::push_days;
pub use rules::{
    claim_window, concurrent_claims, concurrent_device_cap, device_cap,
    key_rotation_and_keycheck_authority,
};

/// A fresh, empty backend plus whatever must live as long as it (a temp
/// directory, a database handle).
pub struct Fixture {
    pub storage: Arc<dyn Storage>,
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

const T0: i64 = 1_700_000_000;

fn sha(data: &[u8]) -> String {
    azmx_sync_core::integrity::sha256_hex(data)
}

async fn license(s: &dyn Storage, lid: &str) {
    s.add_license(lid, [7; 32], None, T0).await.unwrap();
}

async fn device(s: &dyn Storage, lid: &str, id: &str) -> String {
    let r = s
        .register_device(NewDevice {
            license_id: lid.into(),
            device_id: id.into(),
            public_key: format!("pk-{id}"),
            name: format!("name {id}"),
            now: T0,
        })
        .await
        .unwrap();
    assert!(r.created);
    r.device.device_id
}

/// The blob `dev` pushes at `seq`: `data` and its hash, at `T0 + seq`.
fn new_blob(dev: &str, seq: u64, data: &[u8]) -> NewBlob {
    NewBlob {
        device_id: dev.into(),
        seq,
        sha256: sha(data),
        data: Bytes::copy_from_slice(data),
        now: T0 + seq as i64,
    }
}

async fn push(s: &dyn Storage, dev: &str, seq: u64, data: &[u8]) -> PushOutcome {
    s.push(new_blob(dev, seq, data)).await.unwrap()
}

fn stored(seq: u64) -> PushOutcome {
    PushOutcome::Stored {
        seq,
        created_at: T0 + seq as i64,
    }
}

/// A refused push: the device's last seq, and the blob already stored at
/// the requested seq (if any).
fn conflict(last_seq: u64, existing: Option<&[u8]>) -> PushOutcome {
    PushOutcome::Conflict {
        last_seq,
        existing_sha256: existing.map(sha),
    }
}

/// Licenses: create once, read the key hash back, refuse duplicates.
pub async fn licenses(s: Arc<dyn Storage>) {
    assert_eq!(s.license_key_hash("lic_a").await.unwrap(), None);
    s.add_license("lic_a", [1; 32], None, T0).await.unwrap();
    assert_eq!(s.license_key_hash("lic_a").await.unwrap(), Some([1; 32]));
    let e = s.add_license("lic_a", [2; 32], None, T0).await.unwrap_err();
    assert!(matches!(e, StorageError::LicenseExists), "{e:?}");
    assert_eq!(s.license_key_hash("lic_a").await.unwrap(), Some([1; 32]));
    assert_eq!(s.devices("lic_a").await.unwrap(), Some(vec![]));
    assert_eq!(s.devices("lic_nope").await.unwrap(), None);
}

/// Registration is idempotent per (license, public key).
pub async fn registration(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let nd = |lid: &str, id: &str, pk: &str| NewDevice {
        license_id: lid.into(),
        device_id: id.into(),
        public_key: pk.into(),
        name: "laptop".into(),
        now: T0,
    };
    let r = s
        .register_device(nd("lic_a", "dev_1", "pk1"))
        .await
        .unwrap();
    assert!(r.created);
    assert_eq!(r.device.device_id, "dev_1");
    // Same key, same license: the same device, whatever id was proposed.
    let r2 = s
        .register_device(nd("lic_a", "dev_2", "pk1"))
        .await
        .unwrap();
    assert!(!r2.created);
    assert_eq!(r2.device, r.device);
    assert_eq!(s.device("dev_2").await.unwrap(), None);
    // Same key, other license: a different device.
    let r3 = s
        .register_device(nd("lic_b", "dev_3", "pk1"))
        .await
        .unwrap();
    assert!(r3.created);
    let d = s.device("dev_3").await.unwrap().unwrap();
    assert_eq!(d.license_id, "lic_b");
    assert_eq!(d.public_key, "pk1");
    assert_eq!(d.revoked_at, None);
    let e = s
        .register_device(nd("lic_nope", "dev_4", "pk4"))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::UnknownLicense), "{e:?}");
    assert_eq!(s.device("dev_4").await.unwrap(), None);
    // A revoked device stays revoked when its key registers again.
    assert!(s.revoke("lic_a", "dev_1", T0 + 5).await.unwrap());
    let r4 = s
        .register_device(nd("lic_a", "dev_5", "pk1"))
        .await
        .unwrap();
    assert!(!r4.created);
    assert_eq!(r4.device.device_id, "dev_1");
    assert_eq!(r4.device.revoked_at, Some(T0 + 5));
}

/// Seq must be strictly greater than the last accepted seq; conflicts
/// report lastSeq and the sha of the blob stored at the requested seq.
pub async fn push_sequencing(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let b = device(&*s, "lic_a", "dev_b").await;
    assert_eq!(push(&*s, &a, 0, b"zero").await, conflict(0, None));
    assert_eq!(push(&*s, &a, 1, b"one").await, stored(1));
    assert_eq!(
        push(&*s, &a, 5, b"five").await,
        stored(5),
        "gaps are allowed"
    );
    assert_eq!(
        push(&*s, &a, 5, b"five again").await,
        conflict(5, Some(b"five"))
    );
    assert_eq!(push(&*s, &a, 3, b"three").await, conflict(5, None));
    // Per device: b starts from 0.
    assert_eq!(push(&*s, &b, 1, b"b-one").await, stored(1));
    assert_eq!(
        push(&*s, "dev_nope", 1, b"x").await,
        PushOutcome::UnknownDevice
    );
    assert!(s.revoke("lic_a", &a, T0).await.unwrap());
    assert_eq!(push(&*s, &a, 6, b"six").await, PushOutcome::Revoked);
    assert_eq!(s.blob("lic_a", &a, 6).await.unwrap(), None);
    let e = s
        .push(NewBlob {
            now: T0,
            ..new_blob(&b, u64::MAX, b"x")
        })
        .await;
    assert!(
        matches!(e, Err(StorageError::OutOfRange(_))),
        "seq beyond i64::MAX: {e:?}"
    );
    let got = s.blob("lic_a", &a, 5).await.unwrap().unwrap();
    assert_eq!((got.sha256, &got.data[..]), (sha(b"five"), &b"five"[..]));
}

/// 16 concurrent pushes of the same (device, seq): exactly one is stored.
pub async fn concurrent_same_seq(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let s = s.clone();
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            let data = vec![i; 100];
            (i, push(&*s, &a, 1, &data).await)
        }));
    }
    let mut winners = Vec::new();
    let mut conflicts = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (i, PushOutcome::Stored { seq: 1, .. }) => winners.push(i),
            (
                _,
                PushOutcome::Conflict {
                    last_seq: 1,
                    existing_sha256,
                },
            ) => conflicts.push(existing_sha256),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one winner");
    assert_eq!(conflicts.len(), 15);
    let win_sha = sha(&[winners[0]; 100]);
    assert!(conflicts
        .iter()
        .all(|c| c.as_deref() == Some(win_sha.as_str())));
    let devs = s.devices("lic_a").await.unwrap().unwrap();
    assert_eq!((devs[0].blob_count, devs[0].sealed_bytes), (1, 100));
    let got = s.blob("lic_a", &a, 1).await.unwrap().unwrap();
    assert_eq!(got.sha256, win_sha);
}

/// Many devices pushing at once: all stored, each device's seqs in order.
pub async fn concurrent_devices(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    let mut devs = Vec::new();
    for i in 0..8 {
        devs.push(device(&*s, "lic_a", &format!("dev_{i}")).await);
    }
    let mut tasks = Vec::new();
    for d in devs.clone() {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            for seq in 1..=20u64 {
                let out = push(&*s, &d, seq, format!("{d}-{seq}").as_bytes()).await;
                assert_eq!(out, stored(seq));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let reader = device(&*s, "lic_a", "dev_reader").await;
    let page = s.pull("lic_a", &reader, 0, 1000).await.unwrap();
    assert_eq!(page.items.len(), 160);
    assert!(!page.has_more);
    assert!(page.items.windows(2).all(|w| w[0].position < w[1].position));
    for d in &devs {
        let seqs: Vec<u64> = page
            .items
            .iter()
            .filter(|m| &m.device_id == d)
            .map(|m| m.seq)
            .collect();
        assert_eq!(seqs, (1..=20).collect::<Vec<_>>(), "per-device order");
    }
}

/// Pull lists other devices' blobs of the same license, paged, in a stable order.
pub async fn pull_paging(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let b = device(&*s, "lic_a", "dev_b").await;
    let c = device(&*s, "lic_a", "dev_c").await;
    let x = device(&*s, "lic_b", "dev_x").await;
    assert_eq!(push(&*s, &a, 1, b"a1").await, stored(1));
    assert_eq!(push(&*s, &b, 1, b"b1").await, stored(1));
    assert_eq!(push(&*s, &x, 1, b"x1").await, stored(1));
    assert_eq!(push(&*s, &a, 2, b"a2").await, stored(2));
    assert_eq!(push(&*s, &c, 1, b"c1").await, stored(1));
    assert_eq!(push(&*s, &b, 2, b"b2").await, stored(2));
    // c sees a1, b1, a2, b2 — not its own, not license b's.
    let all = s.pull("lic_a", &c, 0, 100).await.unwrap();
    let got: Vec<(String, u64)> = all
        .items
        .iter()
        .map(|m| (m.device_id.clone(), m.seq))
        .collect();
    assert_eq!(
        got,
        vec![
            (a.clone(), 1),
            (b.clone(), 1),
            (a.clone(), 2),
            (b.clone(), 2)
        ]
    );
    assert!(!all.has_more);
    let first = &all.items[0];
    assert_eq!(
        (first.sha256.as_str(), first.size, first.created_at),
        (sha(b"a1").as_str(), 2, T0 + 1)
    );
    // Paging: 3 + 1, each page continuing after the last position.
    let p1 = s.pull("lic_a", &c, 0, 3).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    assert!(p1.has_more);
    let p2 = s.pull("lic_a", &c, p1.items[2].position, 3).await.unwrap();
    assert_eq!(p2.items, all.items[3..].to_vec());
    assert!(!p2.has_more);
    // Exactly `limit` left: has_more is false.
    let p3 = s.pull("lic_a", &c, p1.items[0].position, 3).await.unwrap();
    assert_eq!(p3.items, all.items[1..].to_vec());
    assert!(!p3.has_more);
    let p4 = s.pull("lic_a", &c, all.items[3].position, 3).await.unwrap();
    assert!(p4.items.is_empty() && !p4.has_more);
    // Revoked devices' blobs stay listed and readable.
    assert!(s.revoke("lic_a", &a, T0).await.unwrap());
    assert_eq!(s.pull("lic_a", &c, 0, 100).await.unwrap(), all);
    assert!(s.blob("lic_a", &a, 1).await.unwrap().is_some());
    // License b's device sees nothing of license a.
    let xb = s.pull("lic_b", &x, 0, 100).await.unwrap();
    assert!(xb.items.is_empty());
    // touch_pull shows up in the metadata.
    s.touch_pull(&c, T0 + 99).await.unwrap();
    let devs = s.devices("lic_a").await.unwrap().unwrap();
    let dc = devs.iter().find(|d| d.device_id == c).unwrap();
    assert_eq!(dc.last_pull_at, Some(T0 + 99));
}

/// Positions are per license: pushes in one license do not move another
/// license's positions, so a cursor reveals nothing about other tenants.
pub async fn positions_per_license(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let b1 = device(&*s, "lic_b", "dev_b1").await;
    let b2 = device(&*s, "lic_b", "dev_b2").await;
    assert_eq!(push(&*s, &b1, 1, b"b1").await, stored(1));
    let first = s.pull("lic_b", &b2, 0, 10).await.unwrap().items;
    assert_eq!(first.len(), 1);
    for seq in 1..=25 {
        assert_eq!(push(&*s, &a, seq, b"a").await, stored(seq));
    }
    assert_eq!(push(&*s, &b1, 2, b"b2").await, stored(2));
    let next = s
        .pull("lic_b", &b2, first[0].position, 10)
        .await
        .unwrap()
        .items;
    assert_eq!(next.len(), 1);
    assert_eq!(
        next[0].position,
        first[0].position + 1,
        "25 pushes in lic_a moved lic_b's positions"
    );
}

/// Blob fetch: only within the license; absent seqs are None.
pub async fn blob_fetch(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    assert_eq!(push(&*s, &a, 1, b"secret-ish").await, stored(1));
    let got = s.blob("lic_a", &a, 1).await.unwrap().unwrap();
    assert_eq!(&got.data[..], b"secret-ish");
    assert_eq!(got.sha256, sha(b"secret-ish"));
    assert_eq!(s.blob("lic_b", &a, 1).await.unwrap(), None, "other license");
    assert_eq!(s.blob("lic_a", &a, 2).await.unwrap(), None);
    assert_eq!(s.blob("lic_a", "dev_nope", 1).await.unwrap(), None);
    assert_eq!(s.blob("lic_a", &a, u64::MAX).await.unwrap(), None);
}

/// Revoke: only within the license; idempotent.
pub async fn revoke(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let x = device(&*s, "lic_b", "dev_x").await;
    assert!(!s.revoke("lic_a", &x, T0).await.unwrap(), "other license");
    assert!(!s.revoke("lic_a", "dev_nope", T0).await.unwrap());
    assert_eq!(s.device(&x).await.unwrap().unwrap().revoked_at, None);
    assert!(s.revoke("lic_a", &a, T0 + 1).await.unwrap());
    assert!(s.revoke("lic_a", &a, T0 + 2).await.unwrap(), "idempotent");
    assert_eq!(
        s.device(&a).await.unwrap().unwrap().revoked_at,
        Some(T0 + 1)
    );
    let devs = s.devices("lic_a").await.unwrap().unwrap();
    assert!(devs[0].revoked);
}

/// Key check: set once per license, readable after.
pub async fn keycheck(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    license(&*s, "lic_b").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    assert_eq!(s.keycheck_get("lic_a").await.unwrap(), None);
    let put = |data: &'static [u8]| {
        let s = s.clone();
        let a = a.clone();
        async move {
            s.keycheck_put("lic_a", &a, &sha(data), Bytes::from_static(data), T0)
                .await
                .unwrap()
        }
    };
    assert_eq!(put(b"kc1").await, KeycheckPut::Stored);
    assert_eq!(
        put(b"kc2").await,
        KeycheckPut::Exists {
            sha256: sha(b"kc1")
        }
    );
    let got = s.keycheck_get("lic_a").await.unwrap().unwrap();
    assert_eq!((&got.data[..], got.sha256), (&b"kc1"[..], sha(b"kc1")));
    assert_eq!(s.keycheck_get("lic_b").await.unwrap(), None);
}

/// Prune: drops own blobs below the checkpoint; last_seq survives.
pub async fn prune(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let b = device(&*s, "lic_a", "dev_b").await;
    for seq in 1..=5 {
        assert_eq!(push(&*s, &a, seq, &[seq as u8; 10]).await, stored(seq));
    }
    assert_eq!(push(&*s, &b, 1, b"b1").await, stored(1));
    assert_eq!(s.prune(&a, 4).await.unwrap(), 3);
    assert_eq!(s.prune(&a, 4).await.unwrap(), 0);
    assert_eq!(s.blob("lic_a", &a, 3).await.unwrap(), None);
    assert!(s.blob("lic_a", &a, 4).await.unwrap().is_some());
    assert!(
        s.blob("lic_a", &b, 1).await.unwrap().is_some(),
        "only own blobs"
    );
    let page = s.pull("lic_a", &b, 0, 100).await.unwrap();
    assert_eq!(
        page.items.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![4, 5]
    );
    // lastSeq survives: an old seq still conflicts.
    assert_eq!(push(&*s, &a, 2, b"again").await, conflict(5, None));
    let devs = s.devices("lic_a").await.unwrap().unwrap();
    let da = devs.iter().find(|d| d.device_id == a).unwrap();
    assert_eq!((da.blob_count, da.sealed_bytes), (2, 20));
    // Positions are never reused after pruning the last row.
    let last = page.items.last().unwrap().position;
    assert_eq!(s.prune(&a, u64::MAX).await.unwrap(), 2);
    assert_eq!(push(&*s, &a, 6, b"six").await, stored(6));
    let after = s.pull("lic_a", &b, 0, 100).await.unwrap();
    assert_eq!(after.items.len(), 1);
    assert!(
        after.items[0].position > last,
        "position reused after prune"
    );
}

/// Device metadata follows pushes, pulls and revocation.
pub async fn device_metadata(s: Arc<dyn Storage>) {
    license(&*s, "lic_a").await;
    let a = device(&*s, "lic_a", "dev_a").await;
    let b = device(&*s, "lic_a", "dev_b").await;
    assert_eq!(push(&*s, &a, 1, &[0; 1000]).await, stored(1));
    assert_eq!(push(&*s, &a, 2, &[0; 24]).await, stored(2));
    s.touch_pull(&b, T0 + 50).await.unwrap();
    s.revoke("lic_a", &b, T0 + 60).await.unwrap();
    let devs = s.devices("lic_a").await.unwrap().unwrap();
    assert_eq!(devs.len(), 2);
    let da = devs.iter().find(|d| d.device_id == a).unwrap();
    assert_eq!(da.name, format!("name {a}"));
    assert_eq!(da.created_at, T0);
    assert_eq!(
        (
            da.blob_count,
            da.sealed_bytes,
            da.last_push_at,
            da.last_pull_at,
            da.revoked
        ),
        (2, 1024, Some(T0 + 2), None, false)
    );
    let db = devs.iter().find(|d| d.device_id == b).unwrap();
    assert_eq!(
        (
            db.blob_count,
            db.sealed_bytes,
            db.last_push_at,
            db.last_pull_at,
            db.revoked
        ),
        (0, 0, None, Some(T0 + 50), true)
    );
}

async fn push_q(s: &dyn Storage, dev: &str, seq: u64, data: &[u8], q: Quota) -> PushOutcome {
    s.push_within(new_blob(dev, seq, data), q).await.unwrap()
}

/// Per-license quotas: bytes and blobs summed over the license's devices
/// (revoked ones included), checked after the seq check, nothing stored
/// when refused, room back after a prune, other licenses unaffected.
pub async fn quota(s: Arc<dyn Storage>) {
    license(&*s, "lic_q").await;
    license(&*s, "lic_other").await;
    let a = device(&*s, "lic_q", "dev_qa").await;
    let b = device(&*s, "lic_q", "dev_qb").await;
    let o = device(&*s, "lic_other", "dev_qo").await;
    let q = Quota {
        max_bytes: 100,
        max_blobs: 3,
    };
    assert_eq!(push_q(&*s, &a, 1, &[1; 60], q).await, stored(1));
    // 60 + 41 > 100: refused, not stored, seq 2 still free.
    let full = PushOutcome::QuotaExceeded {
        used_bytes: 60,
        used_blobs: 1,
    };
    assert_eq!(push_q(&*s, &b, 2, &[2; 41], q).await, full);
    assert_eq!(s.pull("lic_q", &a, 0, 10).await.unwrap().items, vec![]);
    // Exactly at the byte limit fits.
    assert_eq!(push_q(&*s, &b, 2, &[2; 40], q).await, stored(2));
    // A retry of a stored seq is a conflict (with its sha), not a quota answer.
    let again = push_q(&*s, &b, 2, &[2; 40], q).await;
    assert!(
        matches!(again, PushOutcome::Conflict { last_seq: 2, .. }),
        "{again:?}"
    );
    assert_eq!(push_q(&*s, &a, 3, &[], q).await, stored(3));
    // Three blobs: the count refuses the fourth, even an empty one.
    let out = push_q(&*s, &a, 4, &[], q).await;
    assert_eq!(
        out,
        PushOutcome::QuotaExceeded {
            used_bytes: 100,
            used_blobs: 3
        }
    );
    // Revoked devices' blobs still count.
    assert!(s.revoke("lic_q", &b, T0).await.unwrap());
    assert!(matches!(
        push_q(&*s, &a, 4, &[], q).await,
        PushOutcome::QuotaExceeded { .. }
    ));
    // Other licenses have their own totals; no quota means no limit.
    assert_eq!(push_q(&*s, &o, 1, &[3; 100], q).await, stored(1));
    assert_eq!(push(&*s, &a, 4, &[4; 500]).await, stored(4));
    // Pruning gives the room back.
    assert_eq!(s.prune(&a, 4).await.unwrap(), 2);
    assert_eq!(
        push_q(
            &*s,
            &a,
            5,
            &[5; 10],
            Quota {
                max_bytes: 600,
                max_blobs: 3
            }
        )
        .await,
        stored(5)
    );
    assert!(matches!(
        push_q(
            &*s,
            &a,
            6,
            &[6; 51],
            Quota {
                max_bytes: 600,
                max_blobs: 0
            }
        )
        .await,
        PushOutcome::QuotaExceeded {
            used_bytes: 550,
            used_blobs: 3
        }
    ));
}

/// Concurrent pushes of several devices of one license never overshoot
/// the quota together.
pub async fn concurrent_quota(s: Arc<dyn Storage>) {
    license(&*s, "lic_cq").await;
    let q = Quota {
        max_bytes: 0,
        max_blobs: 5,
    };
    let mut tasks = Vec::new();
    for d in 0..4 {
        let dev = device(&*s, "lic_cq", &format!("dev_cq{d}")).await;
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0;
            for seq in 1..=4 {
                if let PushOutcome::Stored { .. } = push_q(&*s, &dev, seq, &[d; 8], q).await {
                    stored += 1;
                }
            }
            stored
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, 5);
    let page = s.pull("lic_cq", "nobody", 0, 100).await.unwrap();
    assert_eq!(page.items.len(), 5);
}

/// Generates one `#[tokio::test]` per conformance check. `$fresh` is an
/// async fn returning a fresh, empty [`Fixture`]. The calling crate needs
/// tokio with `macros` and `rt-multi-thread`.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($fresh:path) => {
        $crate::storage_conformance_tests!(@each $fresh;
            licenses registration push_sequencing concurrent_same_seq concurrent_devices
            pull_paging positions_per_license blob_fetch revoke keycheck prune device_metadata
            quota concurrent_quota license_authority claim_window concurrent_claims device_cap
            concurrent_device_cap key_rotation_and_keycheck_authority push_days);
    };
    (@each $fresh:path; $($check:ident)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let fixture: $crate::storage::conformance::Fixture = $fresh().await;
                $crate::storage::conformance::$check(fixture.storage.clone()).await;
                drop(fixture);
            }
        )*
    };
}
