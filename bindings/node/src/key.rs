//! `EnvelopeKey`, `sha256Hex`, `verifyBlob`.

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Buffer, Either, ToNapiValue, Uint8Array};
use napi::{Env, Task};
use napi_derive::napi;
use zeroize::{Zeroize, Zeroizing};

use azmx_sync_bridge::ApiError;

use crate::error::{build, guard};

const REDACTED: &str = "EnvelopeKey(<redacted>)";

/// The AES-256-GCM envelope key, derived from the recovery receipt.
///
/// The key bytes never reach JavaScript: no method returns them, the object
/// has no own properties (`util.inspect` shows `EnvelopeKey {}`), and
/// `toString()`/`toJSON()` return `"EnvelopeKey(<redacted>)"`. The bytes are
/// zeroized when the object is garbage-collected.
#[napi]
pub struct EnvelopeKey {
    inner: Arc<azmx_sync_core::EnvelopeKey>,
}

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

#[napi]
impl EnvelopeKey {
    /// PBKDF2-HMAC-SHA256 (600 000 iterations) of the receipt (surrounding
    /// ASCII whitespace trimmed), salted with the license id. Takes about
    /// 100 ms and blocks the thread: prefer `deriveAsync` on an Electron main
    /// process or a server. A `Uint8Array`/`Buffer` receipt is overwritten
    /// with zeros; a string receipt cannot be wiped on the JS side.
    ///
    /// Throws `EMPTY_RECEIPT`, `EMPTY_LICENSE_ID`, `INVALID_ARGUMENT` (bytes
    /// not UTF-8).
    #[napi(factory)]
    pub fn derive(
        env: Env,
        receipt: Either<String, Uint8Array>,
        license_id: String,
    ) -> napi::Result<Self> {
        guard(&env, "EnvelopeKey.derive", || {
            let receipt = take_receipt(receipt)?;
            let inner = azmx_sync_core::EnvelopeKey::derive(&receipt, &license_id)?;
            Ok(EnvelopeKey {
                inner: Arc::new(inner),
            })
        })
    }

    /// `derive` on the libuv thread pool: resolves to an `EnvelopeKey`, or
    /// rejects with the same typed errors.
    #[napi(ts_return_type = "Promise<EnvelopeKey>")]
    pub fn derive_async(
        env: Env,
        receipt: Either<String, Uint8Array>,
        license_id: String,
    ) -> napi::Result<AsyncTask<DeriveTask>> {
        guard(&env, "EnvelopeKey.deriveAsync", || {
            // Argument errors reject the promise too (never a synchronous throw).
            let (receipt, error) = match take_receipt(receipt) {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e)),
            };
            Ok(AsyncTask::new(DeriveTask {
                receipt,
                license_id,
                error,
            }))
        })
    }

    /// Seals `plaintext` into a v1 envelope blob (`0x01 | iv(12) |
    /// ciphertext | tag(16)`), with a fresh random IV.
    #[napi]
    pub fn seal(&self, env: Env, plaintext: &[u8]) -> napi::Result<Buffer> {
        guard(&env, "EnvelopeKey.seal", || {
            Ok(self.inner.seal(plaintext).into())
        })
    }

    /// Opens a v1 envelope blob. Throws, in check order:
    /// `ENVELOPE_TOO_SHORT`, `UNSUPPORTED_VERSION`, `DECRYPT_FAILED` (wrong
    /// receipt or tampered data). Never returns partial plaintext.
    #[napi]
    pub fn open(&self, env: Env, blob: &[u8]) -> napi::Result<Buffer> {
        guard(&env, "EnvelopeKey.open", || {
            Ok(self.inner.open(blob)?.into())
        })
    }

    /// Seals and returns the envelope's text form (unpadded base64url).
    #[napi]
    pub fn seal_text(&self, env: Env, plaintext: &[u8]) -> napi::Result<String> {
        guard(&env, "EnvelopeKey.sealText", || {
            Ok(azmx_sync_core::envelope::seal_text(&self.inner, plaintext))
        })
    }

    /// Opens the text form; `INVALID_BASE64` first, then as `open`.
    #[napi]
    pub fn open_text(&self, env: Env, text: String) -> napi::Result<Buffer> {
        guard(&env, "EnvelopeKey.openText", || {
            Ok(azmx_sync_core::envelope::open_text(&self.inner, &text)?.into())
        })
    }

    /// Constant-time comparison of two keys (same receipt and license).
    #[napi]
    pub fn equals(&self, other: &EnvelopeKey) -> bool {
        *self.inner == *other.inner
    }

    /// `"EnvelopeKey(<redacted>)"`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> String {
        REDACTED.to_string()
    }

    /// `"EnvelopeKey(<redacted>)"`, so `JSON.stringify` reveals nothing.
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> String {
        REDACTED.to_string()
    }
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
            Some(key) => Ok(EnvelopeKey {
                inner: Arc::new(key),
            }),
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

/// Lowercase hex SHA-256 of `data`.
#[napi]
pub fn sha256_hex(data: &[u8]) -> String {
    azmx_sync_core::sha256_hex(data)
}

/// Checks that `blob` hashes to `expectedSha256Hex` (64 lowercase hex
/// digits) before anything tries to decrypt it. Throws `BLOB_INTEGRITY`
/// (with `expected` and `actual` properties): storage corruption, distinct
/// from `DECRYPT_FAILED`.
#[napi]
pub fn verify_blob(env: Env, expected_sha256_hex: String, blob: &[u8]) -> napi::Result<()> {
    guard(&env, "verifyBlob", || {
        Ok(azmx_sync_core::verify_blob(&expected_sha256_hex, blob)?)
    })
}
