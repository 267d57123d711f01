//! Host stores: the adapter struct, the snapshot reply function and the
//! bridge behind the core's `StoreAdapter`.

use std::ffi::{c_char, c_void, CString};

use azmx_sync_bridge::host::snapshot_records_json;
use azmx_sync_core::engine::{HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record};

use super::super::error::AzmxStatus;
use super::super::guard::{bytes, ffi_boundary, null};

/// What a change asks the host store to do with its record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AzmxChangeOp {
    /// Create the record (there was no live copy).
    Insert = 0,
    /// Replace the live copy with this record.
    Update = 1,
    /// Delete the live copy; the record is the winning tombstone, which the
    /// store must keep (and return from `snapshot`) so the delete syncs.
    Delete = 2,
}

/// One merged change handed to a store's `apply` callback. Every pointer
/// is valid only during the callback; copy what you keep.
#[repr(C)]
#[derive(Debug)]
pub struct AzmxChange {
    /// What to do.
    pub op: AzmxChangeOp,
    /// The record's scope (snippet handle), or NULL for unscoped stores.
    pub scope: *const c_char,
    /// The record's id (NUL-terminated UTF-8).
    pub id: *const c_char,
    /// 1 for a tombstone (then `op` is `DELETE`), else 0.
    pub deleted: i32,
    /// The whole record (tombstones included) as one NUL-terminated JSON
    /// object: store it as is and return it from `snapshot`.
    pub record_json: *const c_char,
    /// Length of `record_json` in bytes, without the NUL.
    pub record_json_len: usize,
}

/// Where a `snapshot` callback puts its records: pass it to
/// [`azmx_snapshot_out_set`]. Opaque; owned by the engine.
pub struct AzmxSnapshotOut {
    json: Option<Vec<u8>>,
}

/// A host store. `snapshot` hands back every record of the store,
/// tombstones included (a record that just disappears is not a delete);
/// `apply` writes merged changes and must be idempotent (after a crash the
/// same changes may come again). The struct is copied at registration.
///
/// Callback rules (also for [`AzmxHttpTransport`]):
/// - Return 0 on success. Any other value fails the engine call with a
///   typed status (`HOST_CALLBACK_FAILED` for a store, `RELAY_UNREACHABLE`
///   for the transport), never undefined behaviour; the message names the
///   store, the callback and the value, never record contents.
/// - Callbacks run on the thread that called the engine (`sync_now`,
///   `register`, `export`, ...) and, after `azmx_engine_start`, on the
///   engine's scheduler thread; an export/import may overlap a background
///   cycle, so with `azmx_engine_start` make them thread-safe.
/// - Do not call `azmx_engine_*` functions of the same engine from a
///   callback (deadlock); the `azmx_*_set` reply functions and the
///   engine-independent functions are fine. Do not unwind (C++
///   exceptions, `longjmp`) out of a callback.
/// - Pointers handed to a callback are valid only during that call.
/// - `user_data` must stay valid until `azmx_engine_free` has returned;
///   no callback of that engine runs after it.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AzmxStoreAdapter {
    /// Passed back as the first argument of every callback.
    pub user_data: *mut c_void,
    /// Calls `azmx_snapshot_out_set(out, json, len)` once with a JSON array
    /// of records (not calling it means an empty store), then returns 0.
    pub snapshot:
        Option<unsafe extern "C" fn(user_data: *mut c_void, out: *mut AzmxSnapshotOut) -> i32>,
    /// Receives `count` changes (`count` ≥ 1) and returns 0 once they are
    /// stored.
    pub apply: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            changes: *const AzmxChange,
            count: usize,
        ) -> i32,
    >,
}

/// Hands a snapshot's records to the engine: `records_json` is
/// `records_json_len` bytes of a JSON array of records (no NUL needed). The
/// bytes are copied; a second call replaces the first. Only valid inside a
/// `snapshot` callback, on the `out` it received.
///
/// Errors: `NULL_POINTER`. The JSON is parsed after the callback returns; if
/// it is not an array of records the engine call fails with
/// `HOST_CALLBACK_FAILED`.
///
/// # Safety
/// `out` the pointer the callback received; `records_json` NULL (only with
/// length 0) or readable for `records_json_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_snapshot_out_set(
    out: *mut AzmxSnapshotOut,
    records_json: *const u8,
    records_json_len: usize,
) -> AzmxStatus {
    // SAFETY: `out` is NULL or the live sink the engine passed to this
    // callback (not aliased during the call); the JSON is NULL or readable.
    ffi_boundary!("azmx_snapshot_out_set", unsafe {
        let out = out.as_mut().ok_or_else(|| null("out"))?;
        out.json = Some(bytes(records_json, records_json_len, "records_json")?.to_vec());
        Ok(())
    })
}

/// A C store adapter behind the core's `StoreAdapter` trait.
pub(crate) struct CStore {
    pub adapter: AzmxStoreAdapter,
}

// SAFETY: the adapter is a pair of C function pointers and an opaque
// `user_data`; the C host promises (module docs, header) that they may be
// called from the engine's threads and that `user_data` outlives the engine.
unsafe impl Send for CStore {}
// SAFETY: as above; the callbacks are documented to be called concurrently
// only when the host starts the scheduler, and then to be thread-safe.
unsafe impl Sync for CStore {}

fn c_string(s: &str, what: &str) -> Result<CString, HostError> {
    CString::new(s).map_err(|_| HostError::new(format!("a record's {what} contains a NUL byte")))
}

impl StoreAdapter for CStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        let f = self
            .adapter
            .snapshot
            .ok_or_else(|| HostError::new("the store adapter has no `snapshot` callback"))?;
        let mut out = AzmxSnapshotOut { json: None };
        // SAFETY: a C callback given by the host with its user_data; `out`
        // is a live sink for the duration of the call.
        let rc = unsafe { f(self.adapter.user_data, &mut out) };
        if rc != 0 {
            return Err(HostError::new(format!(
                "host callback `snapshot` returned {rc}"
            )));
        }
        let Some(json) = out.json else {
            return Ok(Vec::new());
        };
        snapshot_records_json(&json).map_err(HostError::new)
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        let f = self
            .adapter
            .apply
            .ok_or_else(|| HostError::new("the store adapter has no `apply` callback"))?;
        if changes.is_empty() {
            return Ok(());
        }
        // Owned C strings first, then the C view borrowing them.
        let mut owned = Vec::with_capacity(changes.len());
        for c in &changes {
            let (op, r) = match c {
                Change::Insert(r) => (AzmxChangeOp::Insert, r),
                Change::Update(r) => (AzmxChangeOp::Update, r),
                Change::Delete(r) => (AzmxChangeOp::Delete, r),
            };
            let json = serde_json::to_string(r)
                .map_err(|_| HostError::new("a merged record could not be serialised"))?;
            let scope = r
                .scope
                .as_deref()
                .map(|s| c_string(s, "scope"))
                .transpose()?;
            owned.push((
                op,
                scope,
                c_string(&r.id, "id")?,
                r.deleted,
                c_string(&json, "JSON")?,
            ));
        }
        let view: Vec<AzmxChange> = owned
            .iter()
            .map(|(op, scope, id, deleted, json)| AzmxChange {
                op: *op,
                scope: scope.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
                id: id.as_ptr(),
                deleted: i32::from(*deleted),
                record_json: json.as_ptr(),
                record_json_len: json.as_bytes().len(),
            })
            .collect();
        // SAFETY: a C callback given by the host with its user_data; `view`
        // and the strings it points to live until after the call.
        let rc = unsafe { f(self.adapter.user_data, view.as_ptr(), view.len()) };
        drop(view);
        drop(owned);
        if rc != 0 {
            return Err(HostError::new(format!(
                "host callback `apply` returned {rc}"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azmx_sync_core::engine::StoreAdapter;

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn failing_snapshot(_: *mut c_void, _: *mut AzmxSnapshotOut) -> i32 {
        -4
    }

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn secret_snapshot(_: *mut c_void, out: *mut AzmxSnapshotOut) -> i32 {
        let json = br#"[{"id": "a", "body": "top secret plaintext"#;
        // SAFETY: `out` is the live sink the bridge passed in.
        unsafe { azmx_snapshot_out_set(out, json.as_ptr(), json.len()) as i32 }
    }

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn no_snapshot(_: *mut c_void, _: *mut AzmxSnapshotOut) -> i32 {
        0
    }

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn count_apply(ud: *mut c_void, changes: *const AzmxChange, n: usize) -> i32 {
        // SAFETY: the test passes a live `usize` as user_data and the
        // bridge passes `n` valid changes.
        unsafe {
            *(ud as *mut usize) += n;
            let c = &*changes;
            assert_eq!(c.op, AzmxChangeOp::Insert);
            assert!(c.scope.is_null());
            assert_eq!(std::ffi::CStr::from_ptr(c.id).to_str().unwrap(), "k1");
            let json = std::ffi::CStr::from_ptr(c.record_json).to_bytes();
            assert_eq!(json.len(), c.record_json_len);
            let back: Record = serde_json::from_slice(json).unwrap();
            assert_eq!(back.id, "k1");
        }
        0
    }

    fn adapter(
        ud: *mut c_void,
        snapshot: unsafe extern "C" fn(*mut c_void, *mut AzmxSnapshotOut) -> i32,
    ) -> CStore {
        CStore {
            adapter: AzmxStoreAdapter {
                user_data: ud,
                snapshot: Some(snapshot),
                apply: Some(count_apply),
            },
        }
    }

    #[test]
    fn nonzero_callbacks_become_host_errors() {
        let e = adapter(std::ptr::null_mut(), failing_snapshot)
            .snapshot()
            .unwrap_err();
        assert_eq!(e.message, "host callback `snapshot` returned -4");
    }

    #[test]
    fn invalid_snapshot_json_is_reported_without_its_content() {
        let e = adapter(std::ptr::null_mut(), secret_snapshot)
            .snapshot()
            .unwrap_err();
        assert!(e.message.contains("invalid records JSON"), "{}", e.message);
        assert!(!e.message.contains("secret"), "{}", e.message);
    }

    #[test]
    fn no_snapshot_set_is_an_empty_store_and_apply_sees_each_change() {
        let mut applied = 0usize;
        let store = adapter((&mut applied as *mut usize).cast(), no_snapshot);
        assert!(store.snapshot().unwrap().is_empty());
        let rec: Record = serde_json::from_str(
            r#"{"id":"k1","updatedAt":1,"deviceId":"dev_1","body":{"text":"x"}}"#,
        )
        .unwrap();
        store.apply(vec![Change::Insert(rec)]).unwrap();
        store.apply(Vec::new()).unwrap();
        assert_eq!(applied, 1);
    }
}
