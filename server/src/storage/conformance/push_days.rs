//! Conformance: the per-day push aggregate (the admin console's chart).

use std::sync::Arc;

use bytes::Bytes;

use super::{device, license, sha, T0};
use crate::storage::{day_of, NewBlob, PushDay, PushOutcome, Quota, Storage, SECS_PER_DAY};

async fn push_at(s: &dyn Storage, dev: &str, seq: u64, len: usize, now: i64, q: Quota) -> bool {
    let data = vec![seq as u8; len];
    let blob = NewBlob {
        device_id: dev.into(),
        seq,
        sha256: sha(&data),
        data: Bytes::from(data),
        now,
    };
    matches!(
        s.push_within(blob, q).await.unwrap(),
        PushOutcome::Stored { .. }
    )
}

fn day(day: i64, pushes: u64, sealed_bytes: u64) -> PushDay {
    PushDay {
        day,
        pushes,
        sealed_bytes,
    }
}

/// Every stored push counts once on its UTC day, per license; a conflict,
/// a revoked device's push and a push over quota do not; a prune does not
/// lower the totals; `since_day` filters, an unknown license is empty.
pub async fn push_days(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    let q = Quota::UNLIMITED;
    license(s, "lic_pd").await;
    license(s, "lic_pd_other").await;
    let a = device(s, "lic_pd", "dev_pda").await;
    let b = device(s, "lic_pd", "dev_pdb").await;
    let o = device(s, "lic_pd_other", "dev_pdo").await;
    let d0 = day_of(T0);
    let next = T0 + SECS_PER_DAY;
    assert!(push_at(s, &a, 1, 10, T0, q).await);
    assert!(push_at(s, &b, 1, 5, T0 + 1, q).await);
    assert!(push_at(s, &a, 2, 20, next, q).await);
    assert!(push_at(s, &o, 1, 7, T0, q).await);
    // Refused pushes: a conflict, over quota, a revoked device.
    assert!(!push_at(s, &a, 2, 99, next, q).await);
    let tiny = Quota {
        max_bytes: 1,
        max_blobs: 100,
    };
    assert!(!push_at(s, &b, 2, 50, next, tiny).await);
    assert!(s.revoke("lic_pd", &b, next).await.unwrap());
    assert!(!push_at(s, &b, 3, 50, next, q).await);
    let want = vec![day(d0, 2, 15), day(d0 + 1, 1, 20)];
    assert_eq!(s.push_days("lic_pd", 0).await.unwrap(), want);
    assert_eq!(s.prune(&a, 2).await.unwrap(), 1);
    assert_eq!(s.push_days("lic_pd", d0).await.unwrap(), want);
    assert_eq!(
        s.push_days("lic_pd", d0 + 1).await.unwrap(),
        vec![day(d0 + 1, 1, 20)]
    );
    assert_eq!(
        s.push_days("lic_pd_other", 0).await.unwrap(),
        vec![day(d0, 1, 7)]
    );
    assert!(s.push_days("lic_none", 0).await.unwrap().is_empty());
}
