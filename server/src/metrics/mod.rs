//! The relay's metrics, rendered in the Prometheus text format (0.0.4) at
//! `/metrics`. server/README.md's "Metrics" table lists each one.
//!
//! Why `prometheus-client`: it is the Prometheus project's own Rust
//! client, small (four light dependencies, no default features), and
//! registry-based: each running relay owns its registry, so several relays
//! in one process (the tests, an embedding application) never mix their
//! numbers, unlike a process-global recorder (`metrics` + its exporter).
//! Its label sets are typed, which keeps ids out of them by construction.
//!
//! Privacy rule: no label ever carries a device id, license id, token or
//! body. Labels are the route TEMPLATE (`/sync/blob/{owner}/{seq}`, never
//! the path), the method, the status, the protocol error code and the
//! limiter: small fixed sets.

mod process;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azmx_sync_core::protocol::{routes, ErrorCode};
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::storage::StorageObserver;

/// `Content-Type` of the answer.
pub(crate) use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Seconds: a push from its headers to its acknowledgement.
const PUSH_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds: one commit or one fsync.
const DISK_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Writes in one group commit (the SQLite batch limit defaults to 512).
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The request's method; anything else is `OTHER` (a client may send any
/// token as a method: it must not become a new series).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(clippy::upper_case_acronyms)]
pub(crate) enum Method {
    GET,
    HEAD,
    POST,
    PUT,
    DELETE,
    OTHER,
}

impl Method {
    pub(crate) fn of(m: &axum::http::Method) -> Self {
        use axum::http::Method as M;
        match *m {
            M::GET => Self::GET,
            M::HEAD => Self::HEAD,
            M::POST => Self::POST,
            M::PUT => Self::PUT,
            M::DELETE => Self::DELETE,
            _ => Self::OTHER,
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route template the router matched, or `unmatched`.
    endpoint: String,
    method: Method,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectLabels {
    /// [`ErrorCode::as_str`]: the `error` field of the answer.
    code: &'static str,
}

/// Which limit refused a request with `429 rate_limited`.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum Limiter {
    /// The per-device token bucket (`--rate-per-sec`).
    device,
    /// The per-address bucket of failed authentications
    /// (`--unauth-rate-per-sec`).
    address,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimiterLabels {
    limiter: Limiter,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// One relay's metrics. Recording is a few atomic operations; rendering
/// reads the registry.
pub(crate) struct RelayMetrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rejects: Family<RejectLabels, Counter>,
    rate_limited: Family<LimiterLabels, Counter>,
    push_bytes: Counter,
    push_seconds: Histogram,
    commit_writes: Histogram,
    commit_seconds: Histogram,
    fsync_seconds: Histogram,
    storage_bytes: Gauge,
}

impl std::fmt::Debug for RelayMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayMetrics").finish_non_exhaustive()
    }
}

impl RelayMetrics {
    pub(crate) fn new() -> Arc<Self> {
        let m = Self {
            registry: Registry::default(),
            requests: Family::default(),
            rejects: Family::default(),
            rate_limited: Family::default(),
            push_bytes: Counter::default(),
            push_seconds: Histogram::new(PUSH_BUCKETS),
            commit_writes: Histogram::new(BATCH_BUCKETS),
            commit_seconds: Histogram::new(DISK_BUCKETS),
            fsync_seconds: Histogram::new(DISK_BUCKETS),
            storage_bytes: Gauge::default(),
        };
        Arc::new(m.registered())
    }

    fn registered(mut self) -> Self {
        // Every code and limiter starts at 0, so a rate over the first
        // reject is defined and the series are there to alert on.
        for code in ErrorCode::ALL {
            self.rejects
                .get_or_create(&RejectLabels {
                    code: code.as_str(),
                })
                .inc_by(0);
        }
        for limiter in [Limiter::device, Limiter::address] {
            self.rate_limited
                .get_or_create(&LimiterLabels { limiter })
                .inc_by(0);
        }
        // The standard process metrics keep their standard names (no
        // prefix): dashboards and alerts written for any exporter use them.
        self.registry
            .register_collector(Box::new(process::ProcessCollector));
        let r = self.registry.sub_registry_with_prefix("azmx_relay");
        r.register(
            "requests",
            "Requests answered, by route template, method and status",
            self.requests.clone(),
        );
        r.register(
            "rejects",
            "Error answers, by protocol error code",
            self.rejects.clone(),
        );
        r.register(
            "rate_limited",
            "Requests refused with 429, by the limit that refused them",
            self.rate_limited.clone(),
        );
        r.register(
            "push_bytes",
            "Sealed bytes of acknowledged pushes",
            self.push_bytes.clone(),
        );
        r.register(
            "push_duration_seconds",
            "Acknowledged pushes, from the request's headers to the answer \
             (body read, signature check, durable commit)",
            self.push_seconds.clone(),
        );
        r.register(
            "commit_batch_writes",
            "Writes per commit (SQLite: per group commit; PostgreSQL: 1)",
            self.commit_writes.clone(),
        );
        r.register(
            "commit_duration_seconds",
            "One COMMIT (with its WAL fsync under SQLite durability=full and on PostgreSQL)",
            self.commit_seconds.clone(),
        );
        r.register(
            "wal_fsync_duration_seconds",
            "One fsync of the SQLite WAL that acknowledges committed writes \
             (durability=pipelined only)",
            self.fsync_seconds.clone(),
        );
        r.register(
            "storage_bytes",
            "Bytes the store takes on disk (SQLite: database, WAL and shm files; \
             PostgreSQL: the relay's tables and indexes), sampled at each scrape",
            self.storage_bytes.clone(),
        );
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let start = Gauge::<i64>::default();
        start.set(started);
        r.register("start_time_seconds", "Unix time the relay started", start);
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        r.register("build_info", "The relay's version (always 1)", build);
        self
    }

    /// One answered request. `endpoint` is the matched route template
    /// (`None`: no route matched), `body_len` the request's
    /// `Content-Length`.
    pub(crate) fn request(
        &self,
        endpoint: Option<&str>,
        method: Method,
        status: u16,
        code: Option<ErrorCode>,
        body_len: u64,
        elapsed: Duration,
    ) {
        let endpoint = endpoint.unwrap_or("unmatched");
        self.requests
            .get_or_create(&RequestLabels {
                endpoint: endpoint.to_string(),
                method,
                status,
            })
            .inc();
        if let Some(code) = code {
            self.rejects
                .get_or_create(&RejectLabels {
                    code: code.as_str(),
                })
                .inc();
        }
        // 201: stored durably (a retried push already stored is a 409).
        if endpoint == routes::PUSH && status == 201 {
            self.push_bytes.inc_by(body_len);
            self.push_seconds.observe(elapsed.as_secs_f64());
        }
    }

    /// A request refused by a rate limit.
    pub(crate) fn rate_limited(&self, limiter: Limiter) {
        self.rate_limited
            .get_or_create(&LimiterLabels { limiter })
            .inc();
    }

    /// The text of a scrape, with the store's size as just sampled
    /// (`None`: keep the last sample).
    pub(crate) fn render(&self, storage_bytes: Option<u64>) -> String {
        if let Some(n) = storage_bytes {
            self.storage_bytes.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        let mut out = String::with_capacity(16 * 1024);
        if let Err(e) =
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
        {
            // Only a failing writer errors, and a String never fails.
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

impl StorageObserver for RelayMetrics {
    fn commit(&self, writes: usize, commit: Duration) {
        self.commit_writes.observe(writes as f64);
        self.commit_seconds.observe(commit.as_secs_f64());
    }

    fn wal_fsync(&self, fsync: Duration) {
        self.fsync_seconds.observe(fsync.as_secs_f64());
    }
}
