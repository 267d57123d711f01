//! What a C host supplies to the sync engine: store adapters and,
//! optionally, an HTTP transport, as structs of function pointers plus a
//! `void *user_data`.
//!
//! Records cross as JSON text: the core's camelCase record objects
//! `{"id", "scope"?, "updatedAt", "version"?, "deleted"?, "deviceId", "body"?}`
//! (see `azmx_merge`), produced and parsed with serde of the core types.
//!
//! **Callback rules.**
//! - A callback returns 0 on success. Any other value is a failure the
//!   engine reports as a typed status (`HOST_CALLBACK_FAILED` for a store,
//!   `RELAY_UNREACHABLE` for the transport, which is retried); it is never
//!   undefined behaviour. The engine's message names the store, the
//!   callback and the returned value, never record contents.
//! - Callbacks run on the thread that called the engine function
//!   (`azmx_engine_sync_now`, `_register`, `_export`, ...), and, after
//!   `azmx_engine_start`, on the engine's scheduler thread. The engine runs
//!   one cycle at a time, but an export/import may overlap a background
//!   cycle: a host using `azmx_engine_start` must make its callbacks
//!   thread-safe (e.g. a mutex around its store).
//! - A callback must not call an `azmx_engine_*` function of the same
//!   engine (that would deadlock); it may call the `azmx_*_set` reply
//!   functions below and any engine-independent `azmx_*` function. It must
//!   not unwind (C++ exceptions, `longjmp`) out of the callback.
//! - Every pointer handed to a callback is valid only during that call.
//! - `user_data` must stay valid until `azmx_engine_free` has returned
//!   (after which no callback of that engine runs again).

use std::collections::BTreeMap;
use std::ffi::{c_char, c_void, CString};

use azmx_sync_core::engine::{self as core, HostError};
use azmx_sync_core::merge::{Change, Record};

use super::error::AzmxStatus;
use super::guard::{bytes, call, text, Failure};

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

/// One HTTP header (NUL-terminated name and value).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AzmxHttpHeader {
    /// Header name.
    pub name: *const c_char,
    /// Header value.
    pub value: *const c_char,
}

/// A request the engine asks the host transport to send. Valid only
/// during the callback.
#[repr(C)]
#[derive(Debug)]
pub struct AzmxHttpRequest {
    /// `"GET"`, `"POST"`, `"PUT"`...
    pub method: *const c_char,
    /// The full URL.
    pub url: *const c_char,
    /// `header_count` headers.
    pub headers: *const AzmxHttpHeader,
    /// Number of headers.
    pub header_count: usize,
    /// The body (may be NULL when `body_len` is 0).
    pub body: *const u8,
    /// Body length in bytes.
    pub body_len: usize,
}

/// Where a transport callback puts the relay's answer: pass it to
/// [`azmx_http_response_set`]. Opaque; owned by the engine.
pub struct AzmxHttpResponseOut {
    response: Option<core::HttpResponse>,
}

/// A host HTTP transport (for apps with their own networking stack). The
/// callback sends the request, calls `azmx_http_response_set` with the
/// answer (any status, 4xx/5xx included, is a normal answer) and returns
/// 0; it returns nonzero only when no answer could be had (connect
/// failure, timeout...). The struct is copied at engine creation. Callback
/// rules: see [`AzmxStoreAdapter`].
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct AzmxHttpTransport {
    /// Passed back as the first argument of `send`.
    pub user_data: *mut c_void,
    /// Sends one request.
    pub send: Option<
        unsafe extern "C" fn(
            user_data: *mut c_void,
            request: *const AzmxHttpRequest,
            response: *mut AzmxHttpResponseOut,
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
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_snapshot_out_set", || {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: readable for records_json_len bytes per the contract.
        let json = unsafe { bytes(records_json, records_json_len, "records_json") }?;
        // SAFETY: non-NULL, and per the contract the live sink the engine
        // passed to this callback, not aliased during the call.
        unsafe { (*out).json = Some(json.to_vec()) };
        Ok(())
    })
}

/// Hands the relay's answer to the engine from a transport callback:
/// `status` (100–599), `header_count` headers (names in any case) and the
/// body. Everything is copied; a second call replaces the first. Only
/// valid inside a `send` callback, on the `response` it received.
///
/// Errors: `NULL_POINTER`, `INVALID_ARGUMENT` (status out of range, a
/// header not UTF-8).
///
/// # Safety
/// `response` the pointer the callback received; `headers` NULL (only with
/// `header_count` 0) or `header_count` valid headers of NUL-terminated
/// strings; `body` NULL (only with length 0) or readable for `body_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn azmx_http_response_set(
    response: *mut AzmxHttpResponseOut,
    status: u32,
    headers: *const AzmxHttpHeader,
    header_count: usize,
    body: *const u8,
    body_len: usize,
) -> AzmxStatus {
    // SAFETY (extern "C"): pointers NULL-checked and used per the contract;
    // panic boundary.
    call("azmx_http_response_set", || {
        if response.is_null() {
            return Err(Failure::null("response"));
        }
        if !(100..=599).contains(&status) {
            return Err(Failure::invalid("`status` is not an HTTP status (100-599)"));
        }
        if headers.is_null() && header_count > 0 {
            return Err(Failure::null("headers"));
        }
        let mut map = BTreeMap::new();
        for i in 0..header_count {
            // SAFETY: non-NULL with `header_count` elements per the contract.
            let h = unsafe { &*headers.add(i) };
            // SAFETY: NUL-terminated per the contract.
            let name = unsafe { text(h.name, "header name") }?;
            // SAFETY: NUL-terminated per the contract.
            let value = unsafe { text(h.value, "header value") }?;
            map.insert(name.to_ascii_lowercase(), value.to_string());
        }
        // SAFETY: readable for body_len bytes per the contract.
        let body = unsafe { bytes(body, body_len, "body") }?.to_vec();
        // SAFETY: non-NULL, and per the contract the live sink the engine
        // passed to this callback, not aliased during the call.
        unsafe {
            (*response).response = Some(core::HttpResponse {
                status: status as u16,
                headers: map,
                body,
            })
        };
        Ok(())
    })
}

// ------------------------------------------------------------- bridges --

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

impl core::StoreAdapter for CStore {
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
        // The position only: serde messages can quote record contents.
        serde_json::from_slice::<Vec<Record>>(&json).map_err(|e| {
            HostError::new(format!(
                "host callback `snapshot` gave invalid records JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })
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

/// A C HTTP transport behind the core's `HttpTransport` trait.
pub(crate) struct CTransport(pub AzmxHttpTransport);

// SAFETY: a C function pointer and an opaque `user_data` that the host
// promises (docs) may be used from the engine's threads for its lifetime.
unsafe impl Send for CTransport {}
// SAFETY: as above.
unsafe impl Sync for CTransport {}

impl core::HttpTransport for CTransport {
    fn send(&self, request: core::HttpRequest) -> Result<core::HttpResponse, HostError> {
        let f = self
            .0
            .send
            .ok_or_else(|| HostError::new("the HTTP transport has no `send` callback"))?;
        let bad = |_| HostError::new("an HTTP request field contains a NUL byte");
        let method = CString::new(request.method).map_err(bad)?;
        let url = CString::new(request.url).map_err(bad)?;
        let mut header_strings = Vec::with_capacity(request.headers.len());
        for (k, v) in request.headers {
            header_strings.push((CString::new(k).map_err(bad)?, CString::new(v).map_err(bad)?));
        }
        let headers: Vec<AzmxHttpHeader> = header_strings
            .iter()
            .map(|(k, v)| AzmxHttpHeader {
                name: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let req = AzmxHttpRequest {
            method: method.as_ptr(),
            url: url.as_ptr(),
            headers: headers.as_ptr(),
            header_count: headers.len(),
            body: request.body.as_ptr(),
            body_len: request.body.len(),
        };
        let mut out = AzmxHttpResponseOut { response: None };
        // SAFETY: a C callback given by the host with its user_data; `req`,
        // everything it points to and `out` live until after the call.
        let rc = unsafe { f(self.0.user_data, &req, &mut out) };
        if rc != 0 {
            return Err(HostError::new(format!(
                "host transport callback `send` returned {rc}"
            )));
        }
        out.response.ok_or_else(|| {
            HostError::new(
                "host transport callback `send` returned 0 without azmx_http_response_set",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azmx_sync_core::engine::{HttpTransport, StoreAdapter};

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

    // SAFETY (extern "C"): a test callback, called only by the bridge
    // with the pointers its contract describes.
    unsafe extern "C" fn silent_send(
        _: *mut c_void,
        _: *const AzmxHttpRequest,
        _: *mut AzmxHttpResponseOut,
    ) -> i32 {
        0
    }

    #[test]
    fn a_transport_without_an_answer_is_an_error_not_a_crash() {
        let t = CTransport(AzmxHttpTransport {
            user_data: std::ptr::null_mut(),
            send: Some(silent_send),
        });
        let e = t
            .send(core::HttpRequest {
                method: "GET".into(),
                url: "http://x/".into(),
                headers: vec![("A".into(), "b".into())],
                body: Vec::new(),
            })
            .unwrap_err();
        assert!(e.message.contains("without azmx_http_response_set"));
    }
}
