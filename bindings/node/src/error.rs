//! Typed JS errors: every failure is a JS `Error` whose `code` property is a
//! stable string (`'DECRYPT_FAILED'`, `'BLOB_INTEGRITY'`, ...). The error is
//! the facade's [`ApiError`]; its table gives the code Node throws
//! ([`ErrorKind::node_code`](azmx_sync_bridge::ErrorKind::node_code)) and
//! its details become extra properties (`expected`/`actual`, `skewSecs`,
//! ...), never inside a message that callers would have to parse. Messages
//! never carry a receipt, key bytes, a private key or record contents.

use azmx_sync_bridge::call::catch_panic;
use azmx_sync_bridge::{ApiError, DetailValue};
use napi::bindgen_prelude::{JsObjectValue, Object};
use napi::{Env, Status};

/// Builds the JS error object for `e` and throws it; returns the
/// "exception pending" error napi-rs expects back.
pub(crate) fn throw(env: &Env, e: &ApiError) -> napi::Error {
    match build(env, e) {
        Ok(obj) => match env.throw(obj) {
            Ok(()) => napi::Error::from_status(Status::PendingException),
            Err(err) => err,
        },
        // Could not build the object (env tearing down): plain error.
        Err(_) => napi::Error::new(Status::GenericFailure, e.to_string()),
    }
}

/// The JS error object for `e` (not thrown).
pub(crate) fn build<'env>(env: &'env Env, e: &ApiError) -> napi::Result<Object<'env>> {
    let mut obj = env.create_error(napi::Error::new(Status::GenericFailure, e.to_string()))?;
    obj.set_named_property("code", e.kind().node_code())?;
    for (name, value) in e.details() {
        match value {
            DetailValue::Text(s) => obj.set_named_property(name, s)?,
            DetailValue::Number(n) => obj.set_named_property(name, n)?,
        }
    }
    Ok(obj)
}

/// Runs the body of an exported function: a panic becomes a `PANIC` error
/// (never an abort of the host process), an [`ApiError`] becomes a thrown
/// JS error with its `code`.
pub(crate) fn guard<T>(
    env: &Env,
    name: &str,
    body: impl FnOnce() -> Result<T, ApiError>,
) -> napi::Result<T> {
    catch_panic(name, body).map_err(|e| throw(env, &e))
}
