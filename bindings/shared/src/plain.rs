//! Core values as plain JSON values, for a host that takes objects rather
//! than text (Node): results and activity events.

use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::events::EventView;

/// `v` with every integer above `u32::MAX` as a double: JS numbers are
/// exact to 2^53, and napi-rs refuses larger integers without BigInt
/// support (which Node-API 4 lacks).
pub fn small_ints(v: Value) -> Value {
    match v {
        Value::Number(n) if n.as_u64().is_some_and(|u| u > u32::MAX as u64) => {
            serde_json::Number::from_f64(n.as_f64().unwrap_or(0.0))
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        Value::Array(a) => Value::Array(a.into_iter().map(small_ints).collect()),
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, small_ints(v))).collect()),
        other => other,
    }
}

/// A core value in its serde (camelCase) form, as [`small_ints`].
pub fn to_plain<T: Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v)
        .map(small_ints)
        .map_err(|e| ApiError::internal(e.to_string()))
}

/// An activity event as one object: `{ atMs, type, severity, ...fields }`.
pub fn event_object(event: EventView) -> Value {
    let mut m = event.fields;
    m.insert("atMs".into(), event.at_ms.into());
    m.insert("type".into(), event.kind.into());
    m.insert("severity".into(), event.severity.as_str().into());
    small_ints(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn large_numbers_become_doubles() {
        let v = small_ints(json!({ "a": [1, 4_294_967_296u64], "b": "x" }));
        assert_eq!(v["a"][0].as_u64(), Some(1));
        assert!(v["a"][1].is_f64());
        assert_eq!(v["a"][1].as_f64(), Some(4_294_967_296.0));
        assert_eq!(v["b"], "x");
    }
}
