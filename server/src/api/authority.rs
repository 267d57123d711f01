//! The license authority (PROTOCOL §11): the license check shared by
//! `init` and `GET /sync/authority`, that route, and the authority
//! signatures a license with an authority key requires.
//!
//! A license without a key keeps the v1 rules (§11.6): nothing here asks
//! it for anything. The first-device claim window (§11.4) is not in this
//! version: a claim is only accepted as an idempotent retry on a license
//! that already has that key.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use azmx_sync_core::authority::AuthorityPublicKey;
use azmx_sync_core::canonical::check_id;
use azmx_sync_core::canonical_authority::AuthorityStatement;
use azmx_sync_core::protocol::{headers, AuthorityResponse, ErrorCode, InitRequest};
use subtle::ConstantTimeEq;

use super::error::{json_response, ApiError, ApiResult};
use super::parse::header;
use super::AppState;
use crate::storage::LicenseRecord;

impl AppState {
    /// The license named by `license_id` if `license_key` is its key.
    /// Unknown id and wrong key are the same `401 bad_license`; the
    /// comparison is constant-time over SHA-256 digests (a dummy one for
    /// unknown ids).
    pub(crate) async fn license_with_key(
        &self,
        license_id: &str,
        license_key: &str,
    ) -> Result<LicenseRecord, ApiError> {
        let stored = self.storage.license(license_id).await?;
        let given = crate::sha256(license_key.as_bytes());
        let expected = stored.as_ref().map_or([0xa5; 32], |l| l.key_hash);
        let key_ok: bool = given.ct_eq(&expected).into();
        match stored {
            Some(l) if key_ok => Ok(l),
            _ => Err(ApiError::bad_license()),
        }
    }

    /// Step 7's first check for `revoke` and the key-check PUT (§11.4):
    /// a license with an authority key needs `X-Authority-Signature` over
    /// `statement`; one without needs nothing.
    pub(crate) async fn require_authority(
        &self,
        license_id: &str,
        h: &HeaderMap,
        statement: AuthorityStatement,
    ) -> Result<(), ApiError> {
        let Some(key) = self.authority_key(license_id).await? else {
            return Ok(());
        };
        if h.get(headers::AUTHORITY_SIGNATURE).is_none() {
            return Err(authority_required());
        }
        let sig = header(h, headers::AUTHORITY_SIGNATURE)?;
        verify(&key, &statement, sig, self.now(), self.limits.max_skew_secs)
    }

    /// The license's authority key, read fresh (an operator may set it
    /// while the relay runs).
    async fn authority_key(
        &self,
        license_id: &str,
    ) -> Result<Option<AuthorityPublicKey>, ApiError> {
        let Some(l) = self.storage.license(license_id).await? else {
            return Ok(None);
        };
        l.authority_key.as_deref().map(stored_key).transpose()
    }
}

/// A stored key that no longer parses is corruption: refuse (500), never
/// fall back to the v1 rules.
fn stored_key(text: &str) -> Result<AuthorityPublicKey, ApiError> {
    AuthorityPublicKey::parse(text).map_err(|_| {
        tracing::error!("a stored license authority key does not parse");
        ApiError::internal()
    })
}

fn authority_required() -> ApiError {
    ApiError::new(
        ErrorCode::AuthorityRequired,
        "this license has an authority key: the request needs its signature",
    )
}

/// Strict signature, then the clock window; a signature that does not
/// verify is `401 bad_authority_signature`.
fn verify(
    key: &AuthorityPublicKey,
    statement: &AuthorityStatement,
    signature: &str,
    now: i64,
    max_skew_secs: i64,
) -> Result<(), ApiError> {
    key.verify(statement, signature, now, max_skew_secs)
        .map_err(|e| match e {
            azmx_sync_core::Error::BadSignature => ApiError::new(
                ErrorCode::BadAuthoritySignature,
                "the authority signature does not verify with the license's authority key",
            ),
            e => ApiError::from(e),
        })
}

/// `init`'s authority rules (§11.4), after the license, device signature
/// and skew checks and before rate limit and registration.
pub(crate) fn check_init(
    license: &LicenseRecord,
    b: &InitRequest,
    now: i64,
    max_skew_secs: i64,
) -> Result<(), ApiError> {
    let claim = match (&b.authority_key, &b.authority_claim) {
        (Some(k), Some(_)) => Some(k),
        (None, None) => None,
        _ => {
            return Err(ApiError::malformed(
                "authorityKey and authorityClaim go together",
            ))
        }
    };
    let Some(stored) = license.authority_key.as_deref() else {
        return match claim {
            // No claim window in this version: every window is closed.
            Some(_) => Err(ApiError::new(
                ErrorCode::AuthorityClaimClosed,
                "this license takes no claim: its operator sets its authority key",
            )),
            None => Ok(()),
        };
    };
    let key = stored_key(stored)?;
    if let Some(claimed) = claim {
        let same = AuthorityPublicKey::parse(claimed).map(|c| c.as_bytes() == key.as_bytes())?;
        if !same {
            return Err(ApiError::new(
                ErrorCode::AuthorityExists,
                "this license already has another authority key",
            ));
        }
    }
    let Some(sig) = b.authority_signature.as_deref() else {
        return Err(authority_required());
    };
    let statement = AuthorityStatement::RegisterDevice {
        license_id: b.license_id.clone(),
        public_key: b.public_key.clone(),
        device_name: b.device_name.clone(),
        ts: b.ts,
    };
    verify(&key, &statement, sig, now, max_skew_secs)
}

/// `GET /sync/authority`: the license's authority public key, to holders
/// of the license key (§11.3).
pub(crate) async fn authority(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let license_id = header(&h, headers::LICENSE_ID)?;
    let license_key = header(&h, headers::LICENSE_KEY)?;
    check_id("licenseId", license_id)?;
    let license = st.license_with_key(license_id, license_key).await?;
    st.rate_limit(&format!("license:{license_id}"))?;
    Ok(json_response(
        StatusCode::OK,
        &AuthorityResponse {
            license_id: license.license_id,
            authority_key: license.authority_key,
            claim_open: false,
            server_time: st.now(),
        },
    ))
}
