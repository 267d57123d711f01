//! What the host supplies: store adapters, an HTTP transport, an activity
//! listener and (for tests) a clock.

use std::collections::{BTreeMap, HashSet};

use crate::merge::{Change, Record, RecordKey};

/// The largest change token the engine keeps (bytes); a longer one is
/// ignored and the store is read whole every cycle.
pub const MAX_CHANGE_TOKEN_BYTES: usize = 1024;

/// More reported keys than this and the engine reads the store whole: the
/// host's answer is bounded, and past it one snapshot costs less than many
/// lookups. A host may answer `keys: None` instead of listing more.
pub const MAX_CHANGED_KEYS: usize = 10_000;

/// What a store says changed since a token it handed out earlier
/// ([`StoreAdapter::changes_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeSet {
    /// The store's position now, taken before the engine's reads that
    /// follow: every write after this point must show up in the answer to
    /// `changes_since(Some(token))`. Opaque to the engine, at most
    /// [`MAX_CHANGE_TOKEN_BYTES`]. It must name the store's instance too
    /// (a database recreated, a counter kept in memory by another process:
    /// include a random id made with the counter), so a token from another
    /// instance is answered with `keys: None`.
    pub token: Vec<u8>,
    /// The keys written (inserted, updated, deleted, by the user or by
    /// [`StoreAdapter::apply`]) since the token asked about. Reporting a key
    /// that did not change costs a read; leaving out one that did delays it
    /// until the engine's next full read (a checkpoint, or every
    /// `EngineConfig::full_snapshot_every` cycles). `None`: the store cannot
    /// tell (no token asked about, a token it does not know, one ahead of
    /// its position after a restore): the engine reads everything.
    pub keys: Option<Vec<RecordKey>>,
}

/// An error raised by host code (a store adapter or a transport). The
/// message must not contain user plaintext; it is logged as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HostError {
    pub message: String,
    /// Set by a transport whose TLS connection failed on the relay's
    /// certificate: the engine then reports [`SyncError::Certificate`]
    /// (not retried) instead of a network error.
    ///
    /// [`SyncError::Certificate`]: crate::engine::SyncError::Certificate
    pub certificate: Option<crate::engine::CertificateProblem>,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            certificate: None,
        }
    }

    /// A refused TLS certificate (`message` describes it).
    pub fn certificate(
        problem: crate::engine::CertificateProblem,
        message: impl Into<String>,
    ) -> Self {
        Self {
            message: message.into(),
            certificate: Some(problem),
        }
    }
}

/// One registered store, implemented by the host.
pub trait StoreAdapter: Send + Sync {
    /// Every record of the store, tombstones included. A host that deletes
    /// a record must keep (or return) a tombstone for it: a record that just
    /// disappears from the snapshot is not a delete ("no silent deletes").
    fn snapshot(&self) -> Result<Vec<Record>, HostError>;
    /// Writes merged changes. Called only with real changes. Must be
    /// idempotent: after a crash the same changes may be applied again.
    ///
    /// The changes were computed from an earlier `snapshot`; the user may
    /// have saved a newer version of a record since. Write a change only if
    /// it still wins against the record the store holds now by the store's
    /// contract (`spec.contract.compare(change.record(), &current) == Greater`, under
    /// the same lock as the user's writes), else keep the current record:
    /// the engine has not marked it as on the relay, so the next cycle
    /// pushes it. A host that writes every change as given loses an edit
    /// saved between the two calls (the simulator found this: docs/RELIABILITY.md).
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError>;
    /// Optional: what changed since `token` (one this store returned
    /// earlier; `None` asks only for the current position). With it an idle
    /// cycle reads nothing and a busy one only the keys reported, instead
    /// of snapshotting and hashing every record. The default, `Ok(None)`,
    /// says the store cannot tell: every cycle calls [`snapshot`]. An error
    /// is not a cycle failure: the engine reads the store whole instead.
    ///
    /// [`snapshot`]: StoreAdapter::snapshot
    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        let _ = token;
        Ok(None)
    }
    /// The records (tombstones included) of `keys`, leaving out keys the
    /// store does not hold. Called only right after `changes_since`
    /// answered `Some`: with the keys it reported (a push), or with the
    /// keys of the records a pull brings, which the store may never have
    /// held. The default filters [`snapshot`](StoreAdapter::snapshot).
    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        let wanted: HashSet<&RecordKey> = keys.iter().collect();
        let mut all = self.snapshot()?;
        all.retain(|r| wanted.contains(&r.key()));
        Ok(all)
    }
}

/// An HTTP request the engine asks the host to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The relay's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// Sends HTTP requests. Any non-2xx status is a normal response, not an
/// error; `Err` means the request could not be completed (DNS, connect,
/// timeout, TLS...).
pub trait HttpTransport: Send + Sync {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError>;
}

/// Wraps a host callback so that a panic inside it becomes a [`HostError`]
/// for the one call: host code is outside the engine's control, and an
/// unwinding panic would otherwise end the cycle half way and poison the
/// engine's locks. The panic's payload is dropped unread: it may carry
/// user data.
pub(crate) struct CatchPanics<T: ?Sized>(pub std::sync::Arc<T>);

impl<T: ?Sized> CatchPanics<T> {
    fn call<R>(
        &self,
        what: &str,
        f: impl FnOnce(&T) -> Result<R, HostError>,
    ) -> Result<R, HostError> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&self.0)))
            .unwrap_or_else(|_| Err(HostError::new(format!("the host {what} panicked"))))
    }
}

impl<T: StoreAdapter + ?Sized> StoreAdapter for CatchPanics<T> {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.call("store adapter (snapshot)", |s| s.snapshot())
    }
    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.call("store adapter (apply)", |s| s.apply(changes))
    }
    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        self.call("store adapter (changes_since)", |s| s.changes_since(token))
    }
    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        self.call("store adapter (snapshot_keys)", |s| s.snapshot_keys(keys))
    }
}

impl<T: HttpTransport + ?Sized> HttpTransport for CatchPanics<T> {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, HostError> {
        self.call("transport", |t| t.send(request))
    }
}

/// Receives every activity event as it happens.
pub trait ActivityListener: Send + Sync {
    fn on_event(&self, event: &crate::engine::ActivityEvent);
}

/// Wall clock in unix seconds and milliseconds. Injectable so tests can
/// run a device with a skewed clock.
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The system clock, optionally shifted by a fixed offset (for tests and
/// demos of clock correction).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock {
    pub offset_ms: i64,
}

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        now.saturating_add(self.offset_ms)
    }
}
