//! Typed JS errors: every failure is a JS `Error` whose `code` property is a
//! stable string (`'DECRYPT_FAILED'`, `'BLOB_INTEGRITY'`, ...). The codes are
//! the C ABI's status names, i.e. the core's `Error::code()` in upper case.
//! Details travel as extra properties (`expected`/`actual`, `skewSecs`, ...),
//! never inside a message that callers would have to parse. Messages never
//! carry a receipt, key bytes, a private key or record contents.

use std::panic::{catch_unwind, AssertUnwindSafe};

use azmx_sync_core::engine::SyncError;
use azmx_sync_core::error::KeyFileProblem;
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, Status};

/// An extra property of a thrown error.
pub(crate) enum Prop {
    Str(String),
    Num(f64),
}

/// A failure on its way to JS.
pub(crate) struct NodeError {
    pub code: &'static str,
    pub message: String,
    pub props: Vec<(&'static str, Prop)>,
}

impl NodeError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        NodeError {
            code,
            message: message.into(),
            props: Vec::new(),
        }
    }

    pub fn with(mut self, name: &'static str, value: Prop) -> Self {
        self.props.push((name, value));
        self
    }

    pub fn str(self, name: &'static str, value: impl Into<String>) -> Self {
        self.with(name, Prop::Str(value.into()))
    }

    pub fn num(self, name: &'static str, value: impl Into<f64>) -> Self {
        self.with(name, Prop::Num(value.into()))
    }
}

/// Core error code (`"decrypt_failed"`) to the JS code (`"DECRYPT_FAILED"`).
fn upper(code: &str) -> &'static str {
    // The core's codes are a fixed set; map them to static strings.
    match code {
        "empty_receipt" => "EMPTY_RECEIPT",
        "empty_license_id" => "EMPTY_LICENSE_ID",
        "invalid_base64" => "INVALID_BASE64",
        "envelope_too_short" => "ENVELOPE_TOO_SHORT",
        "unsupported_version" => "UNSUPPORTED_VERSION",
        "decrypt_failed" => "DECRYPT_FAILED",
        "blob_integrity" => "BLOB_INTEGRITY",
        "key_file" => "KEY_FILE",
        "malformed_field" => "MALFORMED_FIELD",
        "bad_signature" => "BAD_SIGNATURE",
        "clock_skew" => "CLOCK_SKEW",
        _ => "INTERNAL",
    }
}

impl From<azmx_sync_core::Error> for NodeError {
    fn from(e: azmx_sync_core::Error) -> Self {
        use azmx_sync_core::Error as E;
        use KeyFileProblem as P;
        // The core's messages are written to be secret-free.
        let base = NodeError::new(upper(e.code()), e.to_string());
        match e {
            E::EnvelopeTooShort { len } => base.num("length", len as f64),
            E::UnsupportedVersion(v) => base.num("version", v),
            E::BlobIntegrity { expected, actual } => {
                base.str("expected", expected).str("actual", actual)
            }
            E::KeyFile { path, problem } => {
                let base = base.str("path", path.to_string_lossy());
                match problem {
                    P::MissingDirectory => base.str("problem", "missingDirectory"),
                    P::InsecurePermissions { mode } => {
                        base.str("problem", "insecurePermissions").num("mode", mode)
                    }
                    P::Corrupt => base.str("problem", "corrupt"),
                    P::Io => base.str("problem", "io"),
                }
            }
            E::MalformedField { field, reason } => base.str("field", field).str("reason", reason),
            E::ClockSkew {
                skew_secs,
                max_secs,
            } => base
                .num("skewSecs", skew_secs as f64)
                .num("maxSecs", max_secs as f64),
            _ => base,
        }
    }
}

impl From<SyncError> for NodeError {
    fn from(e: SyncError) -> Self {
        use SyncError as S;
        let msg = e.to_string();
        match e {
            S::WrongReceipt => NodeError::new("WRONG_RECEIPT", msg),
            S::NoReceipt => NodeError::new("NO_RECEIPT", msg),
            S::NotRegistered => NodeError::new("NOT_REGISTERED", msg),
            S::Revoked => NodeError::new("REVOKED", msg),
            S::ClockSkew { skew_secs } => {
                NodeError::new("CLOCK_SKEW", msg).num("skewSecs", skew_secs as f64)
            }
            S::RateLimited { retry_after_secs } => {
                NodeError::new("RATE_LIMITED", msg).num("retryAfterSecs", retry_after_secs as f64)
            }
            S::Network { .. } => NodeError::new("NETWORK", msg),
            S::Relay { status, code, .. } => NodeError::new("RELAY_ERROR", msg)
                .num("status", status)
                .str("relayCode", code),
            S::Store { store, .. } => NodeError::new("STORE_ERROR", msg).str("store", store),
            S::Config(_) => NodeError::new("CONFIG", msg),
            S::State { path, .. } => NodeError::new("STATE_IO", msg).str("path", path),
            S::ExportFormat(_) => NodeError::new("EXPORT_FORMAT", msg),
            S::Core(c) => NodeError::from(c),
            _ => NodeError::new("INTERNAL", msg),
        }
    }
}

/// Builds the JS error object for `e` and throws it; returns the
/// "exception pending" error napi-rs expects back.
pub(crate) fn throw(env: &Env, e: NodeError) -> napi::Error {
    match build(env, &e) {
        Ok(obj) => match env.throw(obj) {
            Ok(()) => napi::Error::from_status(Status::PendingException),
            Err(err) => err,
        },
        // Could not build the object (env tearing down): plain error.
        Err(_) => napi::Error::new(Status::GenericFailure, e.message),
    }
}

/// The JS error object for `e` (not thrown).
pub(crate) fn build<'env>(env: &'env Env, e: &NodeError) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, e.message.clone()))?;
    obj.set_named_property("code", e.code)?;
    for (name, value) in &e.props {
        match value {
            Prop::Str(s) => obj.set_named_property(name, s.as_str())?,
            Prop::Num(n) => obj.set_named_property(name, *n)?,
        }
    }
    Ok(obj)
}

/// Runs the body of an exported function: a panic becomes a `PANIC` error
/// (never an abort of the host process), a [`NodeError`] becomes a thrown
/// JS error with its `code`.
pub(crate) fn guard<T>(
    env: &Env,
    name: &str,
    body: impl FnOnce() -> Result<T, NodeError>,
) -> napi::Result<T> {
    // AssertUnwindSafe: after a panic nothing observes the body's state again;
    // the wrapped core objects are immutable after creation.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(throw(env, e)),
        // The panic payload is deliberately not copied into the message.
        Err(_) => Err(throw(
            env,
            NodeError::new("PANIC", format!("internal error: panic inside {name}")),
        )),
    }
}
