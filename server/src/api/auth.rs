//! "An authenticated, live device", written once: the signed-request
//! checks in the order of `docs/PROTOCOL.md` §10, then revocation (read
//! fresh, never cached).

use std::sync::Arc;

use azmx_sync_core::canonical::{check_skew, DeviceKey, SignedRequest};

use super::error::ApiError;
use super::parse::SigHeaders;
use super::AppState;

/// The immutable parts of a registered device (cached by id).
pub(crate) struct AuthDevice {
    pub(crate) device_id: String,
    pub(crate) license_id: String,
    /// Parsed once: decompressing the key on every request cost ~5 µs of
    /// the ~45 µs a push spent verifying (docs/BENCHMARKS.md, relay).
    pub(crate) key: DeviceKey,
}

impl AppState {
    /// Authenticates a signed request and checks that its device is not
    /// revoked. `make` builds the request from the device id and ts of the
    /// headers (the handler adds its own fields).
    pub(crate) async fn live_device(
        &self,
        sh: &SigHeaders<'_>,
        make: impl FnOnce(String, i64) -> SignedRequest,
    ) -> Result<Arc<AuthDevice>, ApiError> {
        let dev = self.signed_device(sh, make).await?;
        self.ensure_live(&dev).await?;
        Ok(dev)
    }

    /// Like [`live_device`](Self::live_device) without the revocation
    /// check, for push (its store step checks it atomically).
    pub(crate) async fn signed_device(
        &self,
        sh: &SigHeaders<'_>,
        make: impl FnOnce(String, i64) -> SignedRequest,
    ) -> Result<Arc<AuthDevice>, ApiError> {
        self.authenticate(make(sh.device_id.to_string(), sh.ts), sh.signature)
            .await
    }

    /// Canonical (400) → device (401 unknown_device) → signature (401
    /// bad_signature) → skew (401 clock_skew) → rate limit (429).
    async fn authenticate(
        &self,
        req: SignedRequest,
        signature: &str,
    ) -> Result<Arc<AuthDevice>, ApiError> {
        let canonical = req.canonical()?;
        let device_id = req.device_id().unwrap_or_default();
        let dev = self.lookup(device_id).await?;
        dev.key.verify(canonical.as_bytes(), signature)?;
        let now = self.now();
        check_skew(req.ts(), now, self.limits.max_skew_secs)
            .map_err(|e| self.clock_skew(e, now))?;
        self.rate_limit(&dev.device_id)?;
        Ok(dev)
    }

    async fn lookup(&self, device_id: &str) -> Result<Arc<AuthDevice>, ApiError> {
        if let Some(d) = self
            .devices
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(device_id)
        {
            return Ok(d.clone());
        }
        let rec = self
            .storage
            .device(device_id)
            .await?
            .ok_or_else(ApiError::unknown_device)?;
        let d = Arc::new(AuthDevice {
            key: DeviceKey::parse(&rec.public_key)?,
            device_id: rec.device_id,
            license_id: rec.license_id,
        });
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(d.device_id.clone(), d.clone());
        Ok(d)
    }

    /// 401 `clock_skew` with the relay's time.
    pub(crate) fn clock_skew(&self, e: azmx_sync_core::Error, now: i64) -> ApiError {
        let mut e = ApiError::from(e);
        e.body.server_time = Some(now);
        e
    }

    pub(crate) fn rate_limit(&self, key: &str) -> Result<(), ApiError> {
        self.rate.check(key).map_err(|wait| {
            self.metrics.rate_limited(crate::metrics::Limiter::device);
            ApiError::rate_limited(wait.as_secs_f64().ceil().max(1.0) as u64)
        })
    }

    /// 403 `revoked` unless the device is live (read fresh, never cached).
    async fn ensure_live(&self, dev: &AuthDevice) -> Result<(), ApiError> {
        match self.storage.device(&dev.device_id).await? {
            None => Err(ApiError::unknown_device()),
            Some(d) if d.revoked_at.is_some() => Err(ApiError::revoked()),
            Some(_) => Ok(()),
        }
    }
}
