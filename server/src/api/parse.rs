//! Reading requests: headers, numbers, the pull query, bodies (bounded),
//! draining a body left unread so the connection stays usable, and
//! discarding the body of a request refused before it was read.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, EXPECT};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use azmx_sync_core::integrity::sha256_hex;
use azmx_sync_core::protocol::{headers, PullQuery};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use crate::{DEFAULT_PULL_LIMIT, MAX_JSON_BYTES};

pub(crate) fn header<'a>(h: &'a HeaderMap, name: &'static str) -> Result<&'a str, ApiError> {
    // Messages name headers in lower case, as the relay always has.
    let v = h.get(name).ok_or_else(|| {
        ApiError::malformed(format!("missing header {}", name.to_ascii_lowercase()))
    })?;
    v.to_str().map_err(|_| {
        ApiError::malformed(format!(
            "header {} is not visible ASCII",
            name.to_ascii_lowercase()
        ))
    })
}

/// Decimal u64 without sign or leading zeros (the canonical's form).
pub(crate) fn parse_u64(field: &str, v: &str) -> Result<u64, ApiError> {
    let ok = !v.is_empty()
        && v.len() <= 20
        && v.bytes().all(|b| b.is_ascii_digit())
        && (v == "0" || !v.starts_with('0'));
    if !ok {
        return Err(ApiError::malformed(format!(
            "{field} is not a canonical decimal integer"
        )));
    }
    v.parse()
        .map_err(|_| ApiError::malformed(format!("{field} out of range")))
}

/// A seq the relay can store (≤ i64::MAX).
pub(crate) fn parse_seq(field: &str, v: &str) -> Result<u64, ApiError> {
    let n = parse_u64(field, v)?;
    if n > i64::MAX as u64 {
        return Err(ApiError::malformed(format!("{field} exceeds 2^63-1")));
    }
    Ok(n)
}

fn parse_ts(v: &str) -> Result<i64, ApiError> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let n = parse_u64(headers::TS, digits)?;
    if neg && n == 0 {
        return Err(ApiError::malformed("X-Ts is negative zero"));
    }
    // Every i64 is a valid ts (§5), so the magnitude of a negative one may
    // be 2^63 (i64::MIN), which has no positive i64.
    let ts = if neg {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    };
    ts.ok_or_else(|| ApiError::malformed("X-Ts out of range"))
}

/// The headers every signed request carries.
pub(crate) struct SigHeaders<'a> {
    pub(crate) device_id: &'a str,
    pub(crate) ts: i64,
    pub(crate) signature: &'a str,
}

pub(crate) fn sig_headers(h: &HeaderMap) -> Result<SigHeaders<'_>, ApiError> {
    Ok(SigHeaders {
        device_id: header(h, headers::DEVICE_ID)?,
        ts: parse_ts(header(h, headers::TS)?)?,
        signature: header(h, headers::SIGNATURE)?,
    })
}

/// The pull query: `(since, limit)`, `since` `""` and `limit`
/// [`DEFAULT_PULL_LIMIT`] when absent. `limit` is not clamped here: the
/// signed value is the one sent.
pub(crate) fn pull_query(q: Option<&str>) -> Result<(String, u32), ApiError> {
    let q: PullQuery = serde_urlencoded::from_str(q.unwrap_or(""))
        .map_err(|_| ApiError::malformed("invalid query string"))?;
    let limit = match q.limit.as_deref() {
        None => DEFAULT_PULL_LIMIT,
        Some(l) => u32::try_from(parse_u64("limit", l)?)
            .map_err(|_| ApiError::malformed("limit out of range"))?,
    };
    if limit == 0 {
        return Err(ApiError::malformed("limit must be at least 1"));
    }
    Ok((q.since.unwrap_or_default(), limit))
}

/// A pull cursor (`c_` + decimal) to the position after which to list.
pub(crate) fn parse_cursor(since: &str) -> Result<i64, ApiError> {
    if since.is_empty() {
        return Ok(0);
    }
    let n = since
        .strip_prefix("c_")
        .ok_or_else(|| ApiError::malformed("since is not a cursor returned by this relay"))
        .and_then(|d| parse_u64("since", d))?;
    i64::try_from(n).map_err(|_| ApiError::malformed("since out of range"))
}

/// The position a cursor names, as [`parse_cursor`] reads it back.
pub(crate) fn cursor(position: i64) -> String {
    format!("c_{position}")
}

pub(crate) fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(CONTENT_LENGTH)?.to_str().ok()?.parse().ok()
}

/// 413 `too_large` when the declared length is over `limit` (checked
/// before any other work).
pub(crate) fn check_declared_length(h: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    if content_length(h).is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(limit));
    }
    Ok(())
}

/// Reads a body up to `limit` bytes; past it, 413 `too_large`.
pub(crate) async fn read_body(h: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    check_declared_length(h, limit)?;
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut buf: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| ApiError::malformed("could not read the request body").closing())?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total > limit {
            return Err(ApiError::too_large(limit));
        }
        match first.take() {
            None if buf.is_empty() => first = Some(data),
            Some(f) => {
                buf.reserve(total.min(limit));
                buf.extend_from_slice(&f);
                buf.extend_from_slice(&data);
            }
            None => buf.extend_from_slice(&data),
        }
    }
    Ok(match first {
        Some(f) => f,
        None => Bytes::from(buf),
    })
}

/// Reads the body the handler left in `slot` (up to `limit`) and checks
/// it against the request's `X-Sha256`.
pub(crate) async fn read_checked_body(
    h: &HeaderMap,
    slot: &mut Option<Body>,
    limit: usize,
    sha256: &str,
) -> Result<Bytes, ApiError> {
    let data = read_body(h, slot.take().unwrap_or_default(), limit).await?;
    if sha256_hex(&data) != sha256 {
        return Err(ApiError::sha256_mismatch());
    }
    Ok(data)
}

/// Reads and discards a body we answer early (an auth failure before the
/// body was needed), so the connection stays usable for keep-alive. Gives up
/// past `limit` bytes; the caller's answer then closes the connection.
async fn drain(body: Body, limit: usize) -> bool {
    let mut body = body;
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { return false };
        if let Ok(data) = frame.into_data() {
            total += data.len();
            if total > limit {
                return false;
            }
        }
    }
    true
}

/// The least the relay reads and throws away after refusing a body it
/// had not read. A device learns the push limit from the `413` itself
/// (`maxBytes`), so its first oversize push is whatever it had batched:
/// with the default 8 MiB limit, up to 8 times that still gets the answer.
/// Reading costs bandwidth only (one chunk at a time, never held), keeps one
/// connection slot (`--max-connections` bounds them) for at most the
/// request timeout, and is no more than a peer could already make the
/// relay read with a limit-sized push that fails authentication.
const LINGER_FLOOR_BYTES: usize = 64 << 20;

/// The most a refused body may declare and still be read to its end:
/// [`LINGER_FLOOR_BYTES`], or twice the push limit when that is more, so
/// every body the relay could have taken (refused `busy`, `429`,
/// `shutting_down`) is covered whatever the operator set.
fn linger_cap(max_body_bytes: usize) -> usize {
    LINGER_FLOOR_BYTES.max(max_body_bytes.saturating_mul(2))
}

/// The answer to a request refused before its body was read. A client
/// that writes its whole body before reading (the device's ureq transport
/// does) would get a broken pipe or a reset, never the answer, if the
/// relay closed with the body still coming: so the answer goes out at once
/// with `Connection: close`, and the body is read and dropped unparsed
/// (nginx's "lingering close") before the connection closes: hyper goes on
/// reading a body someone still holds after the answer is written, and
/// closes the connection when that body ends or is dropped. It holds no
/// body budget (nothing is kept) and is not counted as a request in
/// flight. A body declared past [`linger_cap`], one still coming after
/// `timeout` or past the cap (chunked), and one the client waits to be
/// invited to send (`Expect: 100-continue`) are not waited for: the
/// connection closes at once.
pub(crate) fn refuse_unread(
    e: ApiError,
    req: Request,
    max_body_bytes: usize,
    timeout: Duration,
) -> Response {
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return e.into_response();
    }
    let cap = linger_cap(max_body_bytes);
    let invited = parts
        .headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let within = content_length(&parts.headers).is_none_or(|n| n <= cap as u64);
    if within && !invited {
        tokio::spawn(async move {
            if !matches!(
                tokio::time::timeout(timeout, drain(body, cap)).await,
                Ok(true)
            ) {
                tracing::debug!("a refused body was not read to its end; closing");
            }
        });
    }
    e.closing().into_response()
}

/// Finishes a body-taking handler: if it failed before it took the body,
/// drain the body so the connection can be reused (or close it).
pub(crate) async fn finish(r: ApiResult, body: Option<Body>, limit: usize) -> ApiResult {
    match (r, body) {
        (Err(e), Some(b)) if !e.close => {
            if drain(b, limit).await {
                Err(e)
            } else {
                Err(e.closing())
            }
        }
        (r, _) => r,
    }
}

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    h: &HeaderMap,
    body: Body,
) -> Result<T, ApiError> {
    let bytes = read_body(h, body, MAX_JSON_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json messages name the field/position, never echo values at length.
        ApiError::malformed(format!(
            "invalid JSON body: {}",
            truncate(&e.to_string(), 200)
        ))
    })
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Entry points for the cargo-fuzz targets in `fuzz/`: they are a separate
/// crate and can only call `pub` items, while the parsers above stay
/// crate-private. Each runs exactly the parser a handler runs on untrusted
/// input and drops the HTTP error (the fuzzers check for panics and
/// round trips, not messages). Not part of the relay's API.
#[doc(hidden)]
pub mod fuzzing {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    pub use axum::http::HeaderMap;
    use axum::http::{HeaderName, HeaderValue};

    use super::*;

    /// A header map from raw pairs; pairs that are not valid HTTP are
    /// skipped, as hyper would refuse them before a handler runs.
    pub fn header_map(pairs: &[(&[u8], &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                h.append(n, v);
            }
        }
        h
    }

    /// [`sig_headers`]: `(device id, ts, signature)`.
    pub fn sig_headers(h: &HeaderMap) -> Option<(String, i64, String)> {
        let s = super::sig_headers(h).ok()?;
        Some((s.device_id.to_owned(), s.ts, s.signature.to_owned()))
    }

    /// [`pull_query`].
    pub fn pull_query(q: Option<&str>) -> Option<(String, u32)> {
        super::pull_query(q).ok()
    }

    /// [`parse_seq`].
    pub fn parse_seq(v: &str) -> Option<u64> {
        super::parse_seq("seq", v).ok()
    }

    /// [`parse_cursor`] and its inverse [`cursor`].
    pub fn parse_cursor(since: &str) -> Option<i64> {
        super::parse_cursor(since).ok()
    }

    pub fn cursor(position: i64) -> String {
        super::cursor(position)
    }

    /// [`check_declared_length`]: `false` when the relay answers 413.
    pub fn declared_length_ok(h: &HeaderMap, limit: usize) -> bool {
        super::check_declared_length(h, limit).is_ok()
    }

    /// [`read_body`] over a body already in memory: the bytes, or `None`
    /// for 413. The body is complete, so the future never waits.
    pub fn read_body(h: &HeaderMap, body: Vec<u8>, limit: usize) -> Option<Vec<u8>> {
        ready(super::read_body(h, Body::from(body), limit))
            .ok()
            .map(|b| b.to_vec())
    }

    /// [`read_json`] over a body already in memory.
    pub fn read_json<T: for<'de> Deserialize<'de>>(h: &HeaderMap, body: Vec<u8>) -> Option<T> {
        ready(super::read_json(h, Body::from(body))).ok()
    }

    /// Polls a future whose body is in memory: it completes on the first
    /// poll (a `Pending` here would be a bug the fuzzer should report).
    fn ready<F: Future>(f: F) -> F::Output {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("a body held in memory never waits"),
        }
    }
}
