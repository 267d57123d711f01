//! Conformance: the license authority key (PROTOCOL §11.4).

use std::sync::Arc;

use bytes::Bytes;

use super::{device, T0};
use crate::storage::{KeycheckPut, Storage, StorageError};

const K1: &str = "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg";
const K2: &str = "krpLanc3E4ujYqKkXMCyXNWn-8hfbXdMWkHQ2iVuGKs";

/// Stored and read back with the license, nullable, listed by id;
/// setting a new key drops the key-check blob, setting the same one
/// changes nothing, an unknown license is refused.
pub async fn license_authority(s: Arc<dyn Storage>) {
    let s = s.as_ref();
    s.add_license("lic_b", [2; 32], Some(K1), T0).await.unwrap();
    s.add_license("lic_a", [1; 32], None, T0 + 1).await.unwrap();
    let a = s.license("lic_a").await.unwrap().unwrap();
    assert_eq!(
        (a.key_hash, a.authority_key, a.created_at),
        ([1; 32], None, T0 + 1)
    );
    let b = s.license("lic_b").await.unwrap().unwrap();
    assert_eq!(
        (b.key_hash, b.authority_key.as_deref()),
        ([2; 32], Some(K1))
    );
    assert!(s.license("lic_none").await.unwrap().is_none());
    let ids: Vec<_> = s
        .licenses()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.license_id)
        .collect();
    assert_eq!(ids, ["lic_a", "lic_b"]);

    let dev = device(s, "lic_a", "dev_a").await;
    let put = s
        .keycheck_put("lic_a", &dev, "ab", Bytes::from_static(b"kc"), T0)
        .await;
    assert_eq!(put.unwrap(), KeycheckPut::Stored);
    // Setting a key drops the key-check blob set without the authority.
    assert!(s.set_authority_key("lic_a", K2).await.unwrap());
    assert!(s.keycheck_get("lic_a").await.unwrap().is_none());
    let a = s.license("lic_a").await.unwrap().unwrap();
    assert_eq!(a.authority_key.as_deref(), Some(K2));
    // The same key again: nothing changes, the blob set since stays.
    let put = s
        .keycheck_put("lic_a", &dev, "cd", Bytes::from_static(b"k2"), T0)
        .await;
    assert_eq!(put.unwrap(), KeycheckPut::Stored);
    assert!(!s.set_authority_key("lic_a", K2).await.unwrap());
    assert!(s.keycheck_get("lic_a").await.unwrap().is_some());
    // Replacing it drops the blob again; the other license is untouched.
    assert!(s.set_authority_key("lic_a", K1).await.unwrap());
    assert!(s.keycheck_get("lic_a").await.unwrap().is_none());
    let b = s.license("lic_b").await.unwrap().unwrap();
    assert_eq!(b.authority_key.as_deref(), Some(K1));
    assert!(matches!(
        s.set_authority_key("lic_none", K1).await,
        Err(StorageError::UnknownLicense)
    ));
    assert!(s.license("lic_none").await.unwrap().is_none());
}
