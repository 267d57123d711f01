//! Activity events as every binding shows them: time, type name, severity
//! and the event's own fields.

use azmx_sync_core::engine::{ActivityEvent, EventKind};
use serde_json::{Map, Value};

/// How much an event deserves the user's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// Routine progress (cycle started, pushed, pulled, ...).
    Info,
    /// Something failed or was set aside but sync goes on (a rejected
    /// record, a quarantined bundle, an unreachable relay).
    Warning,
    /// Sync cannot go on as it is until the user acts (wrong receipt,
    /// revoked device) or data was refused for good.
    Error,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// The severity of an event kind. Warnings and errors together are the
/// events the CLI highlights.
pub fn severity(kind: &EventKind) -> Severity {
    use EventKind as K;
    match kind {
        K::WrongReceipt
        | K::Revoked
        | K::BlobIntegrityError { .. }
        | K::DecryptFailed { .. }
        | K::QuarantineGaveUp { .. }
        | K::QuarantineEvicted { .. } => Severity::Error,
        K::ContextMismatch { .. }
        | K::BundleInvalid { .. }
        | K::Quarantined { .. }
        | K::RecordRejected { .. }
        | K::NetworkError { .. }
        | K::RelayError { .. }
        | K::StoreError { .. } => Severity::Warning,
        _ => Severity::Info,
    }
}

/// One event in binding-neutral form. `fields` never carry record bodies,
/// the receipt or key bytes: only ids, counts, sizes, codes.
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub at_ms: i64,
    /// The event's type name (`pushed`, `blobIntegrityError`, ...).
    pub kind: String,
    pub severity: Severity,
    /// The event's fields in camelCase, without `atMs` and `type`.
    pub fields: Map<String, Value>,
    /// The whole event as the activity log writes it (`{"atMs", "type", ...}`).
    pub json: String,
}

impl From<&ActivityEvent> for EventView {
    fn from(e: &ActivityEvent) -> Self {
        let mut fields = match serde_json::to_value(&e.kind) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        };
        fields.remove("type");
        Self {
            at_ms: e.at_ms,
            kind: e.type_name(),
            severity: severity(&e.kind),
            fields,
            json: serde_json::to_string(e).unwrap_or_default(),
        }
    }
}
