use std::collections::BTreeMap;
use std::sync::Mutex;

use super::*;
use crate::engine::host::{HostError, SystemClock};

/// Answers every request with the next canned answer, counting sends.
struct Canned(Mutex<Vec<HttpResponse>>, AtomicI64);

impl HttpTransport for Canned {
    fn send(&self, _r: HttpRequest) -> Result<HttpResponse, HostError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        let mut v = self.0.lock().unwrap();
        Ok(if v.len() > 1 {
            v.remove(0)
        } else {
            v[0].clone()
        })
    }
}

fn answer(status: u16, code: &str, retry: Option<&str>) -> HttpResponse {
    let mut headers = BTreeMap::new();
    if let Some(r) = retry {
        headers.insert("retry-after".to_string(), r.to_string());
    }
    HttpResponse {
        status,
        headers,
        body: format!(r#"{{"error":"{code}","message":"m"}}"#).into_bytes(),
    }
}

fn push_with(answers: Vec<HttpResponse>) -> (Result<PushOutcome, SyncError>, i64) {
    let t = Arc::new(Canned(Mutex::new(answers), AtomicI64::new(0)));
    let c = RelayClient {
        transport: t.clone(),
        base_url: "http://localhost".into(),
        clock: Arc::new(SystemClock { offset_ms: 0 }),
        offset: AtomicI64::new(0),
        log: Arc::new(ActivityLog::new(None)),
    };
    let id = DeviceIdentity::from_seed_for_vectors([7; 32]);
    let r = c.push(&id, "dev_a", 1, &"0".repeat(64), b"blob");
    (r, t.1.load(Ordering::SeqCst))
}

/// Issue 13: the relay's `503 busy` is a slow-down, not a failure: a
/// short `Retry-After` is waited out and the same push sent again; a
/// long one ends the cycle as `RateLimited` (the push stays queued).
#[test]
fn busy_is_retried_like_a_rate_limit() {
    let (r, sends) = push_with(vec![answer(503, "busy", Some("1")), answer(201, "", None)]);
    assert!(matches!(r, Ok(PushOutcome::Stored)), "{:?}", r.err());
    assert_eq!(sends, 2);
    let (r, sends) = push_with(vec![answer(503, "busy", Some("60"))]);
    assert!(
        matches!(
            r,
            Err(SyncError::RateLimited {
                retry_after_secs: 60
            })
        ),
        "{:?}",
        r.err()
    );
    assert_eq!(sends, 1);
    // Another 503 (a failed store, a proxy) is not a slow-down.
    let (r, _) = push_with(vec![answer(503, "storage_failed", Some("1"))]);
    assert!(
        matches!(&r, Err(SyncError::Relay { status: 503, code, .. }) if code == "storage_failed"),
        "{:?}",
        r.err()
    );
}

/// Issue 15: a relay draining before a restart answers `503
/// shutting_down`; nothing was stored, so the push is retried like `busy`
/// (after a short `Retry-After`, in the cycle) and, with a long one, ends
/// the cycle as `RateLimited` with the push still queued, never as a
/// relay refusal.
#[test]
fn shutting_down_is_retried_like_busy() {
    let (r, sends) = push_with(vec![
        answer(503, "shutting_down", Some("1")),
        answer(201, "", None),
    ]);
    assert!(matches!(r, Ok(PushOutcome::Stored)), "{:?}", r.err());
    assert_eq!(sends, 2);
    let (r, _) = push_with(vec![answer(503, "shutting_down", Some("30"))]);
    assert!(
        matches!(
            r,
            Err(SyncError::RateLimited {
                retry_after_secs: 30
            })
        ),
        "{:?}",
        r.err()
    );
}

/// Issue 13: a full license quota reaches the host with its code.
#[test]
fn quota_exceeded_is_a_typed_relay_refusal() {
    let (r, sends) = push_with(vec![answer(507, "quota_exceeded", None)]);
    assert!(
        matches!(&r, Err(SyncError::Relay { status: 507, code, .. }) if code == "quota_exceeded"),
        "{:?}",
        r.err()
    );
    assert_eq!(sends, 1);
}
