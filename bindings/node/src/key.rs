//! `EnvelopeKey`, `sha256Hex`, `verifyBlob`: generated from
//! `bindings/exports.toml` into [`generated`]; here the receipt argument
//! and `deriveAsync`'s task, which only Node has.

use napi::bindgen_prelude::{AsyncTask, Either, ToNapiValue, Uint8Array};
use napi::{Env, Task};
use zeroize::{Zeroize, Zeroizing};

use azmx_sync_bridge::ApiError;

use crate::error::build;

mod generated;

pub use generated::*;

/// Takes the receipt out of a JS string (a Rust copy, zeroized on drop) or a
/// `Uint8Array`/`Buffer` (copied, then the caller's bytes are overwritten
/// with zeros).
pub(crate) fn take_receipt(
    receipt: Either<String, Uint8Array>,
) -> Result<Zeroizing<String>, ApiError> {
    match receipt {
        Either::A(s) => Ok(Zeroizing::new(s)),
        Either::B(mut bytes) => {
            // SAFETY: the typed array is owned by JS and not accessed by JS
            // while this synchronous call runs; we only overwrite its bytes.
            let view = unsafe { bytes.as_mut() };
            let copy = Zeroizing::new(view.to_vec());
            view.zeroize();
            let text = String::from_utf8(copy.to_vec()).map_err(|e| {
                let mut raw = e.into_bytes();
                raw.zeroize();
                ApiError::invalid_argument("the receipt is not valid UTF-8")
            })?;
            Ok(Zeroizing::new(text))
        }
    }
}

/// `deriveAsync`: argument errors reject the promise too (never a
/// synchronous throw).
fn derive_async(
    receipt: Either<String, Uint8Array>,
    license_id: String,
) -> Result<AsyncTask<DeriveTask>, ApiError> {
    let (receipt, error) = match take_receipt(receipt) {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
    };
    Ok(AsyncTask::new(DeriveTask {
        receipt,
        license_id,
        error,
    }))
}

/// The work of [`EnvelopeKey::derive_async`].
pub struct DeriveTask {
    receipt: Option<Zeroizing<String>>,
    license_id: String,
    error: Option<ApiError>,
}

impl Task for DeriveTask {
    type Output = Option<azmx_sync_core::EnvelopeKey>;
    type JsValue = EnvelopeKey;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let Some(receipt) = self.receipt.take() else {
            return Ok(None); // `error` is already set
        };
        let result = std::panic::catch_unwind(|| {
            azmx_sync_core::EnvelopeKey::derive(&receipt, &self.license_id)
        });
        match result {
            Ok(Ok(key)) => Ok(Some(key)),
            Ok(Err(e)) => {
                self.error = Some(e.into());
                Ok(None)
            }
            Err(_) => {
                self.error = Some(ApiError::panic_in("EnvelopeKey.deriveAsync"));
                Ok(None)
            }
        }
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        match output {
            Some(inner) => Ok(EnvelopeKey { inner }),
            None => {
                let e = self
                    .error
                    .take()
                    .unwrap_or_else(|| ApiError::internal("derive failed"));
                // Reject with the typed error object itself (napi-rs hands a
                // retained JS value to the promise verbatim).
                let obj = build(&env, &e)?;
                Err(napi::Error::from(obj.into_unknown(&env)?))
            }
        }
    }
}
