//! The sync routes: push, pull, blob, key check.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use azmx_sync_core::canonical::SignedRequest;
use azmx_sync_core::canonical_authority::AuthorityStatement;
use azmx_sync_core::protocol::{
    headers, ErrorCode, KeycheckPutResponse, PullItem, PullPage, PushResponse,
};

use super::authority::{authority_moving, AUTHORITY_ATTEMPTS};
use super::error::{bytes_response, json_response, ApiError, ApiResult};
use super::parse::{
    check_declared_length, cursor, finish, header, parse_cursor, parse_seq, parse_u64, pull_query,
    read_checked_body, sig_headers,
};
use super::AppState;
use crate::storage::{KeycheckPut, KeycheckWrite, NewBlob, PushOutcome};
use crate::{MAX_KEYCHECK_BYTES, MAX_PULL_LIMIT};

pub(crate) async fn push(State(st): State<Arc<AppState>>, h: HeaderMap, body: Body) -> ApiResult {
    let mut slot = Some(body);
    let r = push_inner(&st, &h, &mut slot).await;
    finish(r, slot, st.limits.max_body_bytes).await
}

async fn push_inner(st: &AppState, h: &HeaderMap, slot: &mut Option<Body>) -> ApiResult {
    let limit = st.limits.max_body_bytes;
    // Refuse a declared oversize body before any other work.
    check_declared_length(h, limit)?;
    let sh = sig_headers(h)?;
    let seq = parse_seq(headers::SEQ, header(h, headers::SEQ)?)?;
    let sha256 = header(h, headers::SHA256)?;
    let dev = st
        .signed_device(&sh, |device_id, ts| SignedRequest::Push {
            device_id,
            seq,
            sha256: sha256.to_string(),
            ts,
        })
        .await?;
    let data = read_checked_body(h, slot, limit, sha256).await?;
    let now = st.now();
    let blob = NewBlob {
        device_id: dev.device_id.clone(),
        seq,
        sha256: sha256.to_string(),
        data,
        now,
    };
    match st.storage.push_within(blob, st.limits.quota).await? {
        PushOutcome::Stored { seq, .. } => Ok(json_response(
            StatusCode::CREATED,
            &PushResponse {
                seq,
                server_time: now,
            },
        )),
        PushOutcome::Conflict {
            last_seq,
            existing_sha256,
        } => {
            let mut e = ApiError::new(
                ErrorCode::SeqConflict,
                format!("seq must be greater than the last accepted seq {last_seq}"),
            );
            e.body.last_seq = Some(last_seq);
            e.body.existing_sha256 = Some(existing_sha256);
            Err(e)
        }
        PushOutcome::UnknownDevice => Err(ApiError::unknown_device()),
        PushOutcome::Revoked => Err(ApiError::revoked()),
        PushOutcome::QuotaExceeded {
            used_bytes,
            used_blobs,
        } => {
            let q = st.limits.quota;
            Err(ApiError::new(
                ErrorCode::QuotaExceeded,
                format!(
                    "the license is at its storage quota ({used_bytes} of {} bytes, \
                     {used_blobs} of {} blobs; 0 = no limit): prune to make room",
                    q.max_bytes, q.max_blobs
                ),
            ))
        }
    }
}

pub(crate) async fn pull(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    RawQuery(q): RawQuery,
) -> ApiResult {
    let (since, limit) = pull_query(q.as_deref())?;
    let after = parse_cursor(&since)?;
    let dev = st
        .live_device(&sig_headers(&h)?, |device_id, ts| SignedRequest::Pull {
            device_id,
            since: since.clone(),
            limit,
            ts,
        })
        .await?;
    let page = st
        .storage
        .pull(
            &dev.license_id,
            &dev.device_id,
            after,
            limit.min(MAX_PULL_LIMIT),
        )
        .await?;
    let now = st.now();
    st.touch_pull(&dev.device_id, now).await;
    let next_cursor = match page.items.last() {
        Some(m) => cursor(m.position),
        None => since,
    };
    let items = page
        .items
        .into_iter()
        .map(|m| PullItem {
            device_id: m.device_id,
            seq: m.seq,
            sha256: m.sha256,
            size: m.size,
            created_at: m.created_at,
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &PullPage {
            items,
            next_cursor,
            has_more: page.has_more,
            server_time: now,
        },
    ))
}

pub(crate) async fn blob(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    path: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult {
    let Path((owner, seq)) = path.map_err(|_| ApiError::malformed("invalid path"))?;
    let seq = parse_u64("seq", &seq)?;
    let dev = st
        .live_device(&sig_headers(&h)?, |device_id, ts| SignedRequest::Blob {
            device_id,
            owner_device_id: owner.clone(),
            seq,
            ts,
        })
        .await?;
    let b = st
        .storage
        .blob(&dev.license_id, &owner, seq)
        .await?
        .ok_or_else(ApiError::not_found)?;
    bytes_response(b.data, &b.sha256)
}

pub(crate) async fn keycheck_put(
    State(st): State<Arc<AppState>>,
    h: HeaderMap,
    body: Body,
) -> ApiResult {
    let mut slot = Some(body);
    let r = keycheck_put_inner(&st, &h, &mut slot).await;
    finish(r, slot, MAX_KEYCHECK_BYTES).await
}

async fn keycheck_put_inner(st: &AppState, h: &HeaderMap, slot: &mut Option<Body>) -> ApiResult {
    check_declared_length(h, MAX_KEYCHECK_BYTES)?;
    let sh = sig_headers(h)?;
    let sha256 = header(h, headers::SHA256)?;
    let dev = st
        .live_device(&sh, |device_id, ts| SignedRequest::KeycheckPut {
            device_id,
            sha256: sha256.to_string(),
            ts,
        })
        .await?;
    let statement = AuthorityStatement::SetKeycheck {
        license_id: dev.license_id.clone(),
        sha256: sha256.to_string(),
        ts: sh.ts,
    };
    let mut check = st
        .require_authority(&dev.license_id, h, statement.clone())
        .await?;
    let data = read_checked_body(h, slot, MAX_KEYCHECK_BYTES, sha256).await?;
    let now = st.now();
    let mut attempts = 0;
    // The key is compared again inside the write's transaction: one set
    // by the operator after the check above must not let a blob checked
    // against the old key (or none) in.
    let put = loop {
        let put = KeycheckWrite {
            license_id: &dev.license_id,
            device_id: &dev.device_id,
            sha256,
            data: data.clone(),
            now,
        };
        match st.storage.keycheck_put_checked(put, check).await? {
            KeycheckPut::AuthorityChanged => {}
            put => break put,
        }
        attempts += 1;
        if attempts >= AUTHORITY_ATTEMPTS {
            return Err(authority_moving());
        }
        check = st
            .require_authority(&dev.license_id, h, statement.clone())
            .await?;
    };
    match put {
        KeycheckPut::Stored => Ok(json_response(
            StatusCode::CREATED,
            &KeycheckPutResponse {
                sha256: sha256.to_string(),
                server_time: now,
            },
        )),
        KeycheckPut::AuthorityChanged => Err(authority_moving()),
        KeycheckPut::Exists { sha256 } => {
            let mut e = ApiError::new(
                ErrorCode::KeycheckExists,
                "the key-check blob of this license is already set",
            );
            e.body.existing_sha256 = Some(Some(sha256));
            Err(e)
        }
    }
}

pub(crate) async fn keycheck_get(State(st): State<Arc<AppState>>, h: HeaderMap) -> ApiResult {
    let dev = st
        .live_device(&sig_headers(&h)?, |device_id, ts| {
            SignedRequest::KeycheckGet { device_id, ts }
        })
        .await?;
    let b = st
        .storage
        .keycheck_get(&dev.license_id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    bytes_response(b.data, &b.sha256)
}
