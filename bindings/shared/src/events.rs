//! Activity events as every binding shows them: time, type name, severity
//! (the core's) and the event's own fields.

use azmx_sync_core::engine::ActivityEvent;
/// The core's one severity scale (`EventKind::severity`), which the CLI
/// uses too.
pub use azmx_sync_core::engine::Severity;
use serde_json::{Map, Value};

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
            severity: e.kind.severity(),
            fields,
            json: serde_json::to_string(e).unwrap_or_default(),
        }
    }
}
