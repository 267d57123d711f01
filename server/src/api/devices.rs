//! The device routes: register, revoke, prune, list.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use azmx_sync_core::canonical::{check_skew, verify_signature, SignedRequest};
use azmx_sync_core::canonical_authority::AuthorityStatement;
use azmx_sync_core::protocol::{
    DevicesResponse, InitRequest, InitResponse, PruneRequest, PruneResponse, RevokeRequest,
    RevokeResponse,
};

use super::authority::{
    authority_exists, authority_moving, check_init, claim_closed, device_limit, AUTHORITY_ATTEMPTS,
};
use super::error::{json_response, ApiError, ApiResult};
use super::parse::{read_json, sig_headers};
use super::AppState;
use crate::storage::{NewDevice, RegisterOutcome, RevokeOutcome, StorageError};

pub(crate) async fn init(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: InitRequest = read_json(&h, body).await?;
    let req = SignedRequest::Init {
        license_id: b.license_id.clone(),
        public_key: b.public_key.clone(),
        device_name: b.device_name.clone(),
        ts: b.ts,
    };
    let canonical = req.canonical()?;
    let license = st.license_with_key(&b.license_id, &b.license_key).await?;
    verify_signature(&b.public_key, canonical.as_bytes(), &b.signature)?;
    let now = st.now();
    check_skew(b.ts, now, st.limits.max_skew_secs).map_err(|e| st.clock_skew(e, now))?;
    let mut check = check_init(&license, &b, now, st.limits.max_skew_secs)?;
    st.rate_limit(&format!("license:{}", b.license_id))?;
    let new_id = format!("dev_{}", hex::encode(crate::random_bytes::<8>()));
    let mut attempts = 0;
    let reg = loop {
        let outcome = st
            .storage
            .register_device_checked(
                NewDevice {
                    license_id: b.license_id.clone(),
                    device_id: new_id.clone(),
                    public_key: b.public_key.clone(),
                    name: b.device_name.clone(),
                    now,
                },
                check,
            )
            .await
            .map_err(|e| match e {
                StorageError::UnknownLicense => ApiError::bad_license(),
                e => e.into(),
            })?;
        match outcome {
            RegisterOutcome::Registered(reg) => break reg,
            RegisterOutcome::AuthorityChanged => {}
            RegisterOutcome::AuthorityExists => return Err(authority_exists()),
            RegisterOutcome::ClaimClosed => return Err(claim_closed()),
            RegisterOutcome::DeviceLimit { max } => return Err(device_limit(max)),
        }
        // The operator changed the license's authority since the check:
        // check the request again against the license as it is now.
        attempts += 1;
        if attempts >= AUTHORITY_ATTEMPTS {
            return Err(authority_moving());
        }
        let license = st.license_with_key(&b.license_id, &b.license_key).await?;
        check = check_init(&license, &b, now, st.limits.max_skew_secs)?;
    };
    if reg.device.revoked_at.is_some() {
        return Err(ApiError::revoked());
    }
    let status = if reg.created {
        tracing::info!(device = %reg.device.device_id, license = %reg.device.license_id, "device registered");
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json_response(
        status,
        &InitResponse {
            device_id: reg.device.device_id,
            server_time: now,
        },
    ))
}

pub(crate) async fn revoke(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: RevokeRequest = read_json(&h, body).await?;
    let sh = sig_headers(&h)?;
    let dev = st
        .live_device(&sh, |device_id, ts| SignedRequest::Revoke {
            device_id,
            target_device_id: b.target_device_id.clone(),
            ts,
        })
        .await?;
    let statement = AuthorityStatement::RevokeDevice {
        license_id: dev.license_id.clone(),
        target_device_id: b.target_device_id.clone(),
        ts: sh.ts,
    };
    let mut check = st
        .require_authority(&dev.license_id, &h, statement.clone())
        .await?;
    let now = st.now();
    let mut attempts = 0;
    // The key is compared again inside the revocation's transaction (as
    // for the key-check PUT): one set by the operator meanwhile is seen.
    loop {
        match st
            .storage
            .revoke_checked(&dev.license_id, &b.target_device_id, now, check)
            .await?
        {
            RevokeOutcome::Revoked => break,
            RevokeOutcome::UnknownDevice => return Err(ApiError::not_found()),
            RevokeOutcome::AuthorityChanged => {}
        }
        attempts += 1;
        if attempts >= AUTHORITY_ATTEMPTS {
            return Err(authority_moving());
        }
        check = st
            .require_authority(&dev.license_id, &h, statement.clone())
            .await?;
    }
    tracing::info!(device = %dev.device_id, target = %b.target_device_id, "device revoked");
    Ok(json_response(
        StatusCode::OK,
        &RevokeResponse {
            revoked: b.target_device_id,
        },
    ))
}

pub(crate) async fn prune(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let b: PruneRequest = read_json(&h, body).await?;
    let dev = st
        .live_device(&sig_headers(&h)?, |device_id, ts| SignedRequest::Prune {
            device_id,
            checkpoint_seq: b.checkpoint_seq,
            ts,
        })
        .await?;
    let pruned = st.storage.prune(&dev.device_id, b.checkpoint_seq).await?;
    Ok(json_response(StatusCode::OK, &PruneResponse { pruned }))
}

pub(crate) async fn devices(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let dev = st
        .live_device(&sig_headers(&h)?, |device_id, ts| SignedRequest::Devices {
            device_id,
            ts,
        })
        .await?;
    let devices = st
        .storage
        .devices(&dev.license_id)
        .await?
        .unwrap_or_default();
    Ok(json_response(StatusCode::OK, &DevicesResponse { devices }))
}
