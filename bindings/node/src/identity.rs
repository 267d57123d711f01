//! `DeviceIdentity`, `verifySigned`, `fingerprintOf`.

use napi::Env;
use napi_derive::napi;

use azmx_sync_bridge::ApiError;
use azmx_sync_core::identity::DeviceIdentity as CoreIdentity;

use crate::error::guard;

/// This device's ed25519 identity, kept in a 0600 key file.
///
/// There is no way to get the private key out: the only operations are the
/// public key, its fingerprint and signing of the pinned canonical request
/// strings. The object has no own properties; `toString()`/`toJSON()` show
/// the public key and `<redacted>`. The key is zeroized when the object is
/// garbage-collected.
#[napi]
pub struct DeviceIdentity {
    inner: CoreIdentity,
}

impl DeviceIdentity {
    fn open(
        path: &str,
        load: impl FnOnce(&str) -> Result<CoreIdentity, azmx_sync_core::Error>,
    ) -> Result<Self, ApiError> {
        if path.is_empty() {
            return Err(ApiError::invalid_argument("the path is empty"));
        }
        Ok(DeviceIdentity { inner: load(path)? })
    }
}

#[napi]
impl DeviceIdentity {
    /// Loads the key file at `path`, or creates it (atomically, mode 0600)
    /// when missing. The directory must exist. Throws `KEY_FILE` (with
    /// `path`, `problem`: `'missingDirectory' | 'insecurePermissions' |
    /// 'corrupt' | 'io'`, and `mode` for insecure permissions).
    #[napi(factory)]
    pub fn load_or_create(env: Env, path: String) -> napi::Result<Self> {
        guard(&env, "DeviceIdentity.loadOrCreate", || {
            Self::open(&path, |p| CoreIdentity::load_or_create(p))
        })
    }

    /// Loads an existing key file; never creates one.
    #[napi(factory)]
    pub fn load(env: Env, path: String) -> napi::Result<Self> {
        guard(&env, "DeviceIdentity.load", || {
            Self::open(&path, |p| CoreIdentity::load(p))
        })
    }

    /// The 32-byte ed25519 public key, unpadded base64url.
    #[napi]
    pub fn public_key(&self) -> String {
        self.inner.public_key()
    }

    /// Human-comparable fingerprint, e.g. `3f2a-91c0-77de-0b14`.
    #[napi]
    pub fn fingerprint(&self) -> String {
        self.inner.device_fingerprint()
    }

    /// Signs a canonical request string (`push|<deviceId>|<seq>|<sha256>|<ts>`
    /// and the other pinned forms of docs/PROTOCOL.md); returns the base64url
    /// signature. Anything else throws `MALFORMED_FIELD`: the key is not a
    /// signing oracle.
    #[napi]
    pub fn sign_canonical(&self, env: Env, canonical: String) -> napi::Result<String> {
        guard(&env, "DeviceIdentity.signCanonical", || {
            Ok(self.inner.sign_canonical(&canonical)?)
        })
    }

    /// `"DeviceIdentity(publicKey=…, privateKey=<redacted>)"`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> String {
        format!(
            "DeviceIdentity(publicKey={}, privateKey=<redacted>)",
            self.inner.public_key()
        )
    }

    /// Same as `toString()`.
    #[napi(js_name = "toJSON")]
    pub fn to_json(&self) -> String {
        self.to_js_string()
    }
}

/// What a verified canonical request says.
#[napi(object)]
pub struct VerifiedRequest {
    /// `init`, `push`, `pull`, `blob`, `revoke`, `keycheck-put`, ...
    pub verb: String,
    /// The signing device; absent for `init`.
    pub device_id: Option<String>,
    /// The signed timestamp, unix seconds.
    pub ts: i64,
}

/// Verifies a signed canonical as the relay does: parse (`MALFORMED_FIELD`),
/// ed25519 signature (`BAD_SIGNATURE`), then `|ts − now| ≤ maxSkewSecs`
/// (`CLOCK_SKEW`, with `skewSecs` = ts − now and `maxSecs`). `now` defaults
/// to the current time (unix seconds), `maxSkewSecs` to 300.
#[napi]
pub fn verify_signed(
    env: Env,
    public_key: String,
    canonical: String,
    signature: String,
    now: Option<i64>,
    max_skew_secs: Option<i64>,
) -> napi::Result<VerifiedRequest> {
    guard(&env, "verifySigned", || {
        let now = match now {
            Some(n) => n,
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        };
        let max = max_skew_secs.unwrap_or(azmx_sync_core::MAX_SKEW_SECS);
        let req = azmx_sync_core::canonical::verify(&public_key, &canonical, &signature, now, max)?;
        Ok(VerifiedRequest {
            verb: req.verb().to_string(),
            device_id: req.device_id().map(str::to_string),
            ts: req.ts(),
        })
    })
}

/// The fingerprint of a base64url public key, to compare with a peer's
/// `DeviceIdentity.fingerprint()`. Throws `MALFORMED_FIELD`.
#[napi]
pub fn fingerprint_of(env: Env, public_key: String) -> napi::Result<String> {
    guard(&env, "fingerprintOf", || {
        azmx_sync_bridge::identity::fingerprint_of(&public_key)
    })
}
