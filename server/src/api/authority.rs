//! The license authority (PROTOCOL §11): the license check shared by
//! `init` and `GET /sync/authority`, that route, and the authority
//! signatures a license with an authority key requires.
//!
//! A license without a key and without an open claim window keeps the v1
//! rules (§11.6): nothing here asks it for anything. Each check returns the
//! [`AuthorityCheck`] the storage write then repeats inside its own
//! transaction, so a key set or a window opened between the check and the
//! write is seen (the handler checks again against the fresh license).

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
use crate::storage::{AuthorityCheck, LicenseRecord};

/// How often a handler checks again when the license's authority changed
/// between its check and its write; an operator's change is rare, so a
/// request that keeps losing the race is answered `503 busy`.
pub(crate) const AUTHORITY_ATTEMPTS: usize = 3;

/// The answer after [`AUTHORITY_ATTEMPTS`] lost races.
pub(crate) fn authority_moving() -> ApiError {
    let mut e = ApiError::new(
        ErrorCode::Busy,
        "the license's authority changed while the request ran; send it again",
    );
    e.body.retry_after = Some(1);
    e
}

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
    /// `statement`; one without needs nothing. The key is read fresh (an
    /// operator may set it while the relay runs); the result is the key
    /// the write must still find.
    pub(crate) async fn require_authority(
        &self,
        license_id: &str,
        h: &HeaderMap,
        statement: AuthorityStatement,
    ) -> Result<AuthorityCheck, ApiError> {
        let stored = match self.storage.license(license_id).await? {
            Some(l) => l.authority_key,
            None => None,
        };
        let Some(text) = stored else {
            return Ok(AuthorityCheck::Is(None));
        };
        let key = stored_key(&text)?;
        if h.get(headers::AUTHORITY_SIGNATURE).is_none() {
            return Err(authority_required());
        }
        let sig = header(h, headers::AUTHORITY_SIGNATURE)?;
        verify(&key, &statement, sig, self.now(), self.limits.max_skew_secs)?;
        Ok(AuthorityCheck::Is(Some(text)))
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

pub(crate) fn authority_exists() -> ApiError {
    ApiError::new(
        ErrorCode::AuthorityExists,
        "this license already has another authority key",
    )
}

pub(crate) fn claim_closed() -> ApiError {
    ApiError::new(
        ErrorCode::AuthorityClaimClosed,
        "this license takes no claim: its operator sets its authority key",
    )
}

/// `init` of a new device on a license at its cap (§11.4).
pub(crate) fn device_limit(max: u32) -> ApiError {
    ApiError::new(
        ErrorCode::DeviceLimit,
        format!(
            "this license already has its {max} devices: revoke one (or ask the operator to \
             raise the limit) before adding another"
        ),
    )
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
/// and skew checks and before rate limit and registration. Returns what
/// the registration must find (or do: a claim) in its transaction.
pub(crate) fn check_init(
    license: &LicenseRecord,
    b: &InitRequest,
    now: i64,
    max_skew_secs: i64,
) -> Result<AuthorityCheck, ApiError> {
    let claim = match (&b.authority_key, &b.authority_claim) {
        (Some(k), Some(c)) => Some((k, c)),
        (None, None) => None,
        _ => {
            return Err(ApiError::malformed(
                "authorityKey and authorityClaim go together",
            ))
        }
    };
    let register = AuthorityStatement::RegisterDevice {
        license_id: b.license_id.clone(),
        public_key: b.public_key.clone(),
        device_name: b.device_name.clone(),
        ts: b.ts,
    };
    let Some(stored) = license.authority_key.as_deref() else {
        let open = license.claim_open(now);
        return match (claim, open) {
            (Some((k, c)), true) => {
                check_claim(&b.license_id, k, c, b, &register, now, max_skew_secs)
            }
            (Some(_), false) => Err(claim_closed()),
            // The window is for the first device with the receipt: a v1
            // registration now would let any license-key holder in first.
            (None, true) => Err(ApiError::new(
                ErrorCode::AuthorityRequired,
                "this license's claim window is open: init must claim it with the \
                 receipt's authority key",
            )),
            (None, false) => Ok(AuthorityCheck::Is(None)),
        };
    };
    let key = stored_key(stored)?;
    if let Some((claimed, _)) = claim {
        let same = AuthorityPublicKey::parse(claimed).map(|c| c.as_bytes() == key.as_bytes())?;
        if !same {
            return Err(authority_exists());
        }
    }
    let Some(sig) = b.authority_signature.as_deref() else {
        return Err(authority_required());
    };
    verify(&key, &register, sig, now, max_skew_secs)?;
    Ok(AuthorityCheck::Is(Some(stored.to_string())))
}

/// A claim during an open window: the claimed key must sign both the
/// claim (`authority-set`, proof of possession) and the registration.
fn check_claim(
    license_id: &str,
    claimed: &str,
    claim_sig: &str,
    b: &InitRequest,
    register: &AuthorityStatement,
    now: i64,
    max_skew_secs: i64,
) -> Result<AuthorityCheck, ApiError> {
    let key = AuthorityPublicKey::parse(claimed)?;
    let set = AuthorityStatement::SetAuthority {
        license_id: license_id.to_string(),
        authority_key: key.to_string(),
        ts: b.ts,
    };
    verify(&key, &set, claim_sig, now, max_skew_secs)?;
    let Some(sig) = b.authority_signature.as_deref() else {
        return Err(authority_required());
    };
    verify(&key, register, sig, now, max_skew_secs)?;
    Ok(AuthorityCheck::Claim(key.to_string()))
}

/// `GET /sync/authority`: the license's authority public key, to holders
/// of the license key (§11.3).
pub(crate) async fn authority(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let license_id = header(&h, headers::LICENSE_ID)?;
    let license_key = header(&h, headers::LICENSE_KEY)?;
    check_id("licenseId", license_id)?;
    let license = st.license_with_key(license_id, license_key).await?;
    st.rate_limit(&format!("license:{license_id}"))?;
    let now = st.now();
    let claim_open = license.claim_open(now);
    Ok(json_response(
        StatusCode::OK,
        &AuthorityResponse {
            license_id: license.license_id,
            authority_key: license.authority_key,
            claim_open,
            server_time: now,
        },
    ))
}
