//! Signed requests to the relay, with the error handling that has a way
//! forward: clock correction on `clock_skew`, backoff on network errors,
//! `Retry-After` on 429 and on the relay's `503 busy` and `503
//! shutting_down` (all end as [`SyncError::RateLimited`]: nothing was
//! done, the same request goes again later), `Revoked` on the relay's
//! `403 revoked`. Other refusals, `507 quota_exceeded` among them, are
//! [`SyncError::Relay`] with the relay's code.
//!
//! An answer's meaning comes from the relay's status *and* error code
//! together: proxies, WAFs and captive portals answer 403 or 404 too, and
//! taking their answer for the relay's would stop sync for good (revoked)
//! or skip a blob (pruned).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::error::SyncError;
use super::events::{ActivityLog, EventKind};
use super::host::{Clock, HttpRequest, HttpResponse, HttpTransport};
use crate::authority::AuthorityKey;
use crate::canonical::SignedRequest;
use crate::canonical_authority::AuthorityStatement;
use crate::identity::DeviceIdentity;
use crate::protocol::headers::{
    AUTHORITY_SIGNATURE, CONTENT_TYPE, DEVICE_ID, JSON, OCTET_STREAM, RETRY_AFTER, SEQ, SHA256,
    SIGNATURE, TS,
};
use crate::protocol::{
    routes, to_json, DeviceInfo, DevicesResponse, ErrorBody, ErrorCode, InitRequest, InitResponse,
    PruneRequest, PruneResponse, RevokeRequest,
};

mod authority;
pub use authority::InitAuthority;

/// The license authority key and the statement it signs for a request's
/// `ts` (PROTOCOL §11.3): sent as `X-Authority-Signature`.
type AuthorityHeader<'a> = Option<(&'a AuthorityKey, &'a dyn Fn(i64) -> AuthorityStatement)>;

/// Network attempts per request before giving up for this cycle.
const NETWORK_ATTEMPTS: u32 = 3;
/// The largest clock correction taken from a relay's `serverTime` (a day).
pub const MAX_CLOCK_CORRECTION_SECS: i64 = 86_400;
/// A `Retry-After` up to this is waited out inside the cycle.
const MAX_INLINE_RETRY_AFTER: u64 = 5;

/// A code of this client's own, for an answer it cannot use.
const BAD_RESPONSE: &str = "bad_response";

/// A relay answer that is not a success.
pub struct Refusal {
    pub status: u16,
    pub body: ErrorBody,
}

impl Refusal {
    /// The relay's own `code`: its status and its body agree (a proxy's
    /// 403 or 404 is not the relay's).
    fn is(&self, code: ErrorCode) -> bool {
        self.status == code.status() && self.body.is(code)
    }
}

pub enum PushOutcome {
    Stored,
    Conflict {
        last_seq: u64,
        existing_sha256: Option<String>,
    },
    /// `413 too_large`: nothing was stored; `maxBytes` as the relay said
    /// (untrusted: the engine bounds it).
    TooLarge {
        max_bytes: Option<u64>,
    },
}

/// A blob to fetch, as the engine tracks it: what a pull lists, and what
/// the quarantine and the parked bundles keep to fetch it again.
#[derive(Debug)]
pub struct PullItem {
    pub device_id: String,
    pub seq: u64,
    pub sha256: String,
    /// The relay's `createdAt` (unix seconds; 0 when absent): what the
    /// blob's records are bounded by (`merge::ArrivalBounds`).
    pub created_at: i64,
}

impl From<crate::protocol::PullItem> for PullItem {
    fn from(i: crate::protocol::PullItem) -> Self {
        Self {
            device_id: i.device_id,
            seq: i.seq,
            sha256: i.sha256,
            created_at: i.created_at,
        }
    }
}

/// One pull page, its items as the engine tracks them.
#[derive(Debug)]
pub struct PullPage {
    pub items: Vec<PullItem>,
    pub next_cursor: String,
    pub has_more: bool,
}

/// The key-check blob and the sha256 the relay gave for it.
pub type KeycheckBlob = (Vec<u8>, Option<String>);

pub struct RelayClient {
    pub transport: Arc<dyn HttpTransport>,
    pub base_url: String,
    pub clock: Arc<dyn Clock>,
    /// Seconds to add to the device clock to get the relay's.
    pub offset: AtomicI64,
    pub log: Arc<ActivityLog>,
}

impl RelayClient {
    pub fn now_secs(&self) -> i64 {
        self.clock
            .now_secs()
            .saturating_add(self.offset.load(Ordering::Relaxed))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }

    /// Sends with network retries and rate-limit handling; returns any HTTP answer.
    fn send_raw(&self, req: &HttpRequest) -> Result<HttpResponse, SyncError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.transport.send(req.clone()) {
                Ok(resp) if resp.status == 429 || is_busy(&resp) => {
                    let retry = resp
                        .header(RETRY_AFTER)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .unwrap_or(1);
                    self.log.emit(
                        self.clock.now_ms(),
                        EventKind::RateLimited {
                            retry_after_secs: retry,
                        },
                    );
                    if retry <= MAX_INLINE_RETRY_AFTER && attempt < NETWORK_ATTEMPTS {
                        std::thread::sleep(Duration::from_secs(retry));
                        continue;
                    }
                    return Err(SyncError::RateLimited {
                        retry_after_secs: retry,
                    });
                }
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    // The same certificate fails the same way: no retry.
                    if let Some(problem) = e.certificate {
                        self.log.emit(
                            self.clock.now_ms(),
                            EventKind::NetworkError {
                                message: e.message.clone(),
                            },
                        );
                        return Err(SyncError::Certificate {
                            problem,
                            detail: e.message,
                        });
                    }
                    if attempt >= NETWORK_ATTEMPTS {
                        self.log.emit(
                            self.clock.now_ms(),
                            EventKind::NetworkError {
                                message: e.message.clone(),
                            },
                        );
                        return Err(SyncError::Network { message: e.message });
                    }
                    std::thread::sleep(Duration::from_millis(150 << attempt));
                }
            }
        }
    }

    /// Builds, signs and sends a request; on `clock_skew` corrects the
    /// offset from the relay's `serverTime` and retries once.
    fn signed(
        &self,
        identity: &DeviceIdentity,
        method: &str,
        path: &str,
        make: &dyn Fn(i64) -> (SignedRequest, Vec<(String, String)>),
        body: &[u8],
    ) -> Result<Result<HttpResponse, Refusal>, SyncError> {
        self.signed_with(identity, method, path, make, None, body)
    }

    /// [`signed`](Self::signed), plus the license authority's signature
    /// over its statement of the same `ts` when `authority` is given.
    fn signed_with(
        &self,
        identity: &DeviceIdentity,
        method: &str,
        path: &str,
        make: &dyn Fn(i64) -> (SignedRequest, Vec<(String, String)>),
        authority: AuthorityHeader,
        body: &[u8],
    ) -> Result<Result<HttpResponse, Refusal>, SyncError> {
        for attempt in 0..2 {
            let (req, extra) = make(self.now_secs());
            let sig = identity.sign(&req)?;
            let mut headers = vec![
                (TS.to_string(), req.ts().to_string()),
                (SIGNATURE.to_string(), sig),
            ];
            if let Some(id) = req.device_id() {
                headers.push((DEVICE_ID.to_string(), id.to_string()));
            }
            if let Some((key, statement)) = authority {
                headers.push((
                    AUTHORITY_SIGNATURE.to_string(),
                    key.sign(&statement(req.ts()))?,
                ));
            }
            headers.extend(extra);
            let http = HttpRequest {
                method: method.into(),
                url: self.url(path),
                headers,
                body: body.to_vec(),
            };
            let resp = self.send_raw(&http)?;
            if (200..300).contains(&resp.status) {
                return Ok(Ok(resp));
            }
            let refusal = refusal(&resp);
            if attempt == 0 && self.correct_clock(&refusal)? {
                continue;
            }
            return Ok(Err(self.classify(refusal)?));
        }
        unreachable!("the loop returns on its second pass")
    }

    /// On `clock_skew` with the relay's `serverTime`, adopts the relay's clock
    /// (offset kept for later requests) and says the request can be retried.
    /// `serverTime` is untrusted: a correction beyond
    /// [`MAX_CLOCK_CORRECTION_SECS`] is refused with a typed error and not
    /// applied (a device clock a day off is for its owner to fix; a relay
    /// claiming so is lying or broken).
    fn correct_clock(&self, r: &Refusal) -> Result<bool, SyncError> {
        let Some(server) = r
            .body
            .server_time
            .filter(|_| r.body.is(ErrorCode::ClockSkew))
        else {
            return Ok(false);
        };
        let offset = server
            .checked_sub(self.clock.now_secs())
            .filter(|o| o.unsigned_abs() <= MAX_CLOCK_CORRECTION_SECS.unsigned_abs());
        let Some(offset) = offset else {
            let skew_secs = self.clock.now_secs().saturating_sub(server);
            self.log.emit(
                self.clock.now_ms(),
                EventKind::RelayError {
                    status: r.status,
                    code: ErrorCode::ClockSkew.as_str().into(),
                },
            );
            return Err(SyncError::ClockSkew { skew_secs });
        };
        self.offset.store(offset, Ordering::Relaxed);
        self.log.emit(
            self.clock.now_ms(),
            EventKind::ClockCorrected {
                offset_secs: offset,
            },
        );
        Ok(true)
    }

    /// Turns terminal refusals into errors; leaves the rest to the caller.
    fn classify(&self, r: Refusal) -> Result<Refusal, SyncError> {
        if r.is(ErrorCode::Revoked) {
            self.log.emit(self.clock.now_ms(), EventKind::Revoked);
            return Err(SyncError::Revoked);
        }
        if r.is(ErrorCode::ClockSkew) {
            return Err(SyncError::ClockSkew {
                skew_secs: r
                    .body
                    .server_time
                    .map(|s| self.now_secs().saturating_sub(s))
                    .unwrap_or_default(),
            });
        }
        Ok(r)
    }

    fn fail(&self, r: Refusal) -> SyncError {
        self.log.emit(
            self.clock.now_ms(),
            EventKind::RelayError {
                status: r.status,
                code: r.body.error.clone(),
            },
        );
        SyncError::Relay {
            status: r.status,
            code: r.body.error,
            message: r.body.message,
        }
    }

    pub fn init(
        &self,
        identity: &DeviceIdentity,
        license_id: &str,
        license_key: &str,
        device_name: &str,
        authority: &InitAuthority,
    ) -> Result<String, SyncError> {
        for attempt in 0..2 {
            let ts = self.now_secs();
            let req = SignedRequest::Init {
                license_id: license_id.into(),
                public_key: identity.public_key(),
                device_name: device_name.into(),
                ts,
            };
            let mut body = InitRequest {
                license_id: license_id.into(),
                license_key: license_key.into(),
                public_key: identity.public_key(),
                device_name: device_name.into(),
                ts,
                signature: identity.sign(&req)?,
                authority_signature: None,
                authority_key: None,
                authority_claim: None,
            };
            authority.fill(&mut body)?;
            let resp = self.send_raw(&HttpRequest {
                method: "POST".into(),
                url: self.url(routes::INIT),
                headers: vec![(CONTENT_TYPE.into(), JSON.into())],
                body: to_json(&body).unwrap_or_default(),
            })?;
            if (200..300).contains(&resp.status) {
                let a: InitResponse = parse_json(&resp)?;
                return Ok(a.device_id);
            }
            let r = refusal(&resp);
            if attempt == 0 && self.correct_clock(&r)? {
                continue;
            }
            if r.is(ErrorCode::Revoked) {
                self.log.emit(self.clock.now_ms(), EventKind::Revoked);
                return Err(SyncError::Revoked);
            }
            return Err(self.fail(r));
        }
        unreachable!("the loop returns on its second pass")
    }

    pub fn push(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        seq: u64,
        sha256: &str,
        blob: &[u8],
    ) -> Result<PushOutcome, SyncError> {
        let make = |ts| {
            (
                SignedRequest::Push {
                    device_id: device_id.into(),
                    seq,
                    sha256: sha256.into(),
                    ts,
                },
                vec![
                    (SEQ.to_string(), seq.to_string()),
                    (SHA256.to_string(), sha256.to_string()),
                    (CONTENT_TYPE.to_string(), OCTET_STREAM.to_string()),
                ],
            )
        };
        match self.signed(identity, "POST", routes::PUSH, &make, blob)? {
            Ok(_) => Ok(PushOutcome::Stored),
            Err(r) if r.is(ErrorCode::SeqConflict) => {
                // The device continues at `lastSeq + 1`: an absent or absurd
                // value from the relay would wrap or burn the seq space.
                match r.body.last_seq {
                    Some(last_seq) if last_seq <= MAX_LAST_SEQ => Ok(PushOutcome::Conflict {
                        last_seq,
                        existing_sha256: r.body.existing_sha256().map(String::from),
                    }),
                    _ => Err(SyncError::Relay {
                        status: 409,
                        code: BAD_RESPONSE.into(),
                        message: format!(
                            "the relay's seq_conflict answer has no lastSeq in 0..={MAX_LAST_SEQ}"
                        ),
                    }),
                }
            }
            Err(r) if r.is(ErrorCode::TooLarge) => Ok(PushOutcome::TooLarge {
                max_bytes: r.body.max_bytes,
            }),
            Err(r) => Err(self.fail(r)),
        }
    }

    pub fn pull(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        since: &str,
        limit: u32,
    ) -> Result<PullPage, SyncError> {
        let make = |ts| {
            (
                SignedRequest::Pull {
                    device_id: device_id.into(),
                    since: since.into(),
                    limit,
                    ts,
                },
                vec![],
            )
        };
        let path = routes::pull_path(since, limit);
        match self.signed(identity, "GET", &path, &make, &[])? {
            Ok(resp) => {
                let page: crate::protocol::PullPage = parse_json(&resp)?;
                Ok(PullPage {
                    items: page.items.into_iter().map(PullItem::from).collect(),
                    next_cursor: page.next_cursor,
                    has_more: page.has_more,
                })
            }
            Err(r) => Err(self.fail(r)),
        }
    }

    /// Fetches one blob. `Ok(None)` when the relay no longer has it (pruned).
    pub fn blob(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        owner: &str,
        seq: u64,
    ) -> Result<Option<Vec<u8>>, SyncError> {
        let make = |ts| {
            (
                SignedRequest::Blob {
                    device_id: device_id.into(),
                    owner_device_id: owner.into(),
                    seq,
                    ts,
                },
                vec![],
            )
        };
        let path = routes::blob_path(owner, seq);
        match self.signed(identity, "GET", &path, &make, &[])? {
            Ok(resp) => Ok(Some(resp.body)),
            Err(r) if r.is(ErrorCode::NotFound) => Ok(None),
            Err(r) => Err(self.fail(r)),
        }
    }

    pub fn keycheck_get(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
    ) -> Result<Option<KeycheckBlob>, SyncError> {
        let make = |ts| {
            (
                SignedRequest::KeycheckGet {
                    device_id: device_id.into(),
                    ts,
                },
                vec![],
            )
        };
        match self.signed(identity, "GET", routes::KEYCHECK, &make, &[])? {
            Ok(resp) => {
                let sha = resp.header(SHA256).map(String::from);
                Ok(Some((resp.body, sha)))
            }
            Err(r) if r.is(ErrorCode::NotFound) => Ok(None),
            Err(r) => Err(self.fail(r)),
        }
    }

    /// Sets the key-check blob; `Ok(false)` when another device set it first.
    /// `authority` (the key and the license id) signs
    /// `authority-keycheck` (PROTOCOL §11.3) when the engine has it.
    pub fn keycheck_put(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        blob: &[u8],
        authority: Option<(&AuthorityKey, &str)>,
    ) -> Result<bool, SyncError> {
        let sha = crate::integrity::sha256_hex(blob);
        let make = |ts| {
            (
                SignedRequest::KeycheckPut {
                    device_id: device_id.into(),
                    sha256: sha.clone(),
                    ts,
                },
                vec![(SHA256.to_string(), sha.clone())],
            )
        };
        let statement = |ts| AuthorityStatement::SetKeycheck {
            license_id: authority.map(|a| a.1).unwrap_or_default().into(),
            sha256: sha.clone(),
            ts,
        };
        let auth: AuthorityHeader = authority.map(|a| (a.0, &statement as _));
        match self.signed_with(identity, "PUT", routes::KEYCHECK, &make, auth, blob)? {
            Ok(_) => Ok(true),
            Err(r) if r.is(ErrorCode::KeycheckExists) => Ok(false),
            Err(r) => Err(self.fail(r)),
        }
    }

    pub fn prune(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        checkpoint_seq: u64,
    ) -> Result<u64, SyncError> {
        let make = |ts| {
            (
                SignedRequest::Prune {
                    device_id: device_id.into(),
                    checkpoint_seq,
                    ts,
                },
                vec![(CONTENT_TYPE.to_string(), JSON.to_string())],
            )
        };
        let body = to_json(&PruneRequest { checkpoint_seq }).unwrap_or_default();
        match self.signed(identity, "POST", routes::PRUNE, &make, &body)? {
            Ok(resp) => Ok(parse_json::<PruneResponse>(&resp)
                .map(|a| a.pruned)
                .unwrap_or(0)),
            Err(r) => Err(self.fail(r)),
        }
    }

    /// `authority` as for [`keycheck_put`](Self::keycheck_put), signing
    /// `authority-revoke`.
    pub fn revoke(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
        target: &str,
        authority: Option<(&AuthorityKey, &str)>,
    ) -> Result<(), SyncError> {
        let make = |ts| {
            (
                SignedRequest::Revoke {
                    device_id: device_id.into(),
                    target_device_id: target.into(),
                    ts,
                },
                vec![(CONTENT_TYPE.to_string(), JSON.to_string())],
            )
        };
        let body = to_json(&RevokeRequest {
            target_device_id: target.into(),
        })
        .unwrap_or_default();
        let statement = |ts| AuthorityStatement::RevokeDevice {
            license_id: authority.map(|a| a.1).unwrap_or_default().into(),
            target_device_id: target.into(),
            ts,
        };
        let auth: AuthorityHeader = authority.map(|a| (a.0, &statement as _));
        match self.signed_with(identity, "POST", routes::REVOKE, &make, auth, &body)? {
            Ok(_) => Ok(()),
            Err(r) => Err(self.fail(r)),
        }
    }

    pub fn devices(
        &self,
        identity: &DeviceIdentity,
        device_id: &str,
    ) -> Result<Vec<DeviceInfo>, SyncError> {
        let make = |ts| {
            (
                SignedRequest::Devices {
                    device_id: device_id.into(),
                    ts,
                },
                vec![],
            )
        };
        match self.signed(identity, "GET", routes::DEVICES, &make, &[])? {
            Ok(resp) => Ok(parse_json::<DevicesResponse>(&resp)?.devices),
            Err(r) => Err(self.fail(r)),
        }
    }
}

/// Highest `lastSeq` the engine accepts from a relay (2^53 − 1: exact in
/// every binding's numbers, and a push a second for 285 million years).
pub(crate) const MAX_LAST_SEQ: u64 = (1 << 53) - 1;

/// The relay's `503 busy` (its budget of request bytes in flight is full)
/// and `503 shutting_down` (it is draining before a restart): nothing was
/// done, so both are retried like a 429 (the push stays queued). Other
/// 503s (`storage_failed`, a proxy's) are not.
fn is_busy(resp: &HttpResponse) -> bool {
    resp.status == ErrorCode::Busy.status() && {
        let r = refusal(resp);
        r.is(ErrorCode::Busy) || r.is(ErrorCode::ShuttingDown)
    }
}

fn refusal(resp: &HttpResponse) -> Refusal {
    Refusal {
        status: resp.status,
        body: serde_json::from_slice(&resp.body).unwrap_or_else(|_| ErrorBody {
            error: format!("http_{}", resp.status),
            message: "the relay answered without a JSON error body".into(),
            ..Default::default()
        }),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(resp: &HttpResponse) -> Result<T, SyncError> {
    serde_json::from_slice(&resp.body).map_err(|_| SyncError::Relay {
        status: resp.status,
        code: BAD_RESPONSE.into(),
        message: "the relay's answer is not the expected JSON".into(),
    })
}

#[cfg(test)]
mod tests;
