//! Records and merge outcomes as JSON, for the bindings that carry them as
//! JSON text or plain objects (C, Node).
//!
//! A record is the core's camelCase JSON object:
//! `{"id", "scope"?, "updatedAt" (ms), "version"?, "deleted"?, "deviceId", "body"?}`.
//! The outcome is
//! `{"store", "state": [record...], "changes": [{"op": "insert"|"update"|"delete", "record"}...],
//!   "counts": {"applied", "keptLocal", "rejectedInvalid", "unchanged"},
//!   "rejected": [{"key": {"scope"?, "id"}, "code", "message", "detail"?}...]}`.

use azmx_sync_core::merge::{
    InvalidReason, MergeOutcome, Record, RecordKey, StoreSpec, StoreState,
};
use serde_json::{json, Value};

use crate::error::ApiError;

/// Parses a JSON argument without echoing any of its content: serde_json
/// messages can quote values, and record bodies are user plaintext.
pub fn parse_json<'a, T>(
    json: &'a str,
    what: &str,
    from_str: impl FnOnce(&'a str) -> serde_json::Result<T>,
) -> Result<T, ApiError> {
    from_str(json).map_err(|e| ApiError::invalid_json(what, &e))
}

/// A rejected record: its key, the reason's code and message, and the
/// reason's detail (e.g. the todo problem) when it has one.
pub fn rejected_json(key: &RecordKey, reason: &InvalidReason) -> Value {
    let (code, detail) = match serde_json::to_value(reason).unwrap_or(Value::Null) {
        Value::String(s) => (s, None),
        Value::Object(m) if m.len() == 1 => {
            let (k, v) = m.into_iter().next().expect("one entry");
            (k, Some(v))
        }
        _ => ("invalid".to_string(), None),
    };
    let key = serde_json::to_value(key).unwrap_or(Value::Null);
    let mut o = json!({ "key": key, "code": code, "message": reason.to_string() });
    if let Some(d) = detail {
        o["detail"] = d;
    }
    o
}

/// The merge outcome document (see the module docs).
pub fn outcome_json(store: &str, o: &MergeOutcome) -> Value {
    json!({
        "store": store,
        "state": o.state,
        "changes": o.changes,
        "counts": o.counts,
        "rejected": o.rejected.iter().map(|(k, r)| rejected_json(k, r)).collect::<Vec<_>>(),
    })
}

/// Parses a JSON argument into `T` (see [`parse_json`]).
pub fn parse_as<T: serde::de::DeserializeOwned>(json: &str, what: &str) -> Result<T, ApiError> {
    parse_json(json, what, serde_json::from_str)
}

/// A merge's outcome and the store it was for (C's document names it).
pub struct Merged {
    pub store: String,
    pub outcome: MergeOutcome,
}

impl Merged {
    /// The outcome document (see the module docs).
    pub fn json(&self) -> String {
        outcome_json(&self.store, &self.outcome).to_string()
    }
}

/// Merges `incoming` into `local` under `spec`'s contract (`merge_records`
/// of every binding).
pub fn merge_records(
    spec: StoreSpec,
    local: impl Into<StoreState>,
    incoming: Vec<Record>,
) -> Merged {
    let outcome = azmx_sync_core::merge::merge(&spec, &local.into(), incoming);
    Merged {
        store: spec.name.as_str().to_string(),
        outcome,
    }
}
