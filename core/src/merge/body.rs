//! [`Body`]: a record's content, held as its canonical JSON text.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use super::canonical_json::canonical_json;

/// The content of a live record: an immutable JSON document, stored once as
/// its canonical JSON text (see [`canonical_json`]) behind a reference count.
///
/// A merge copies every winner into both the state and the change list and
/// drops every losing incoming record. Held as one shared allocation, a copy
/// is a refcount bump and a drop is at most one free, where a
/// [`serde_json::Value`] tree costs an allocation per string, array and
/// object. Because the text is canonical, two bodies are equal exactly when
/// their texts are byte-equal, which is also when the [`Value`]s they were
/// built from are `==`.
///
/// Serialises as the JSON value itself (not as a string), so a record's wire
/// form is unchanged. With `serde_json` the text is written as is; other
/// serialisers would see `serde_json`'s raw-value wrapper, so serialise
/// records with `serde_json` (the only format this crate uses). Deserialising
/// accepts any JSON value from any format and canonicalises it.
///
/// `Debug` prints `Body(..)` and nothing else: bodies are user plaintext and
/// must not reach logs.
#[derive(Clone)]
pub struct Body(Arc<RawValue>);

impl Body {
    /// Canonicalises `value` once and keeps the text.
    pub fn from_value(value: &Value) -> Body {
        Body::from_canonical(canonical_json(value))
    }

    /// Parses `json` (any JSON text, any key order or whitespace) and keeps
    /// its canonical form. The error says where the text is malformed and
    /// carries none of its content.
    pub fn from_json(json: &str) -> Result<Body, serde_json::Error> {
        let value: Value = serde_json::from_str(json)?;
        Ok(Body::from_value(&value))
    }

    /// `text` must be the canonical serialisation of some value.
    fn from_canonical(text: String) -> Body {
        let raw = RawValue::from_string(text).expect("canonical JSON is valid JSON");
        Body(Arc::from(raw))
    }

    /// The body as a `serde_json` value tree (a fresh copy).
    pub fn to_value(&self) -> Value {
        Value::deserialize(&mut self.reader()).expect("a body holds valid JSON")
    }

    /// A reader of the body's own text. The text was written from a value
    /// that existed in memory, so it is read back whatever its depth:
    /// serde_json's nesting limit is for untrusted input, which `from_json`
    /// and `Deserialize` still apply.
    pub(crate) fn reader(&self) -> serde_json::Deserializer<serde_json::de::StrRead<'_>> {
        let mut de = serde_json::Deserializer::from_str(self.as_json_str());
        de.disable_recursion_limit();
        de
    }

    /// The canonical JSON text: sorted keys, no whitespace.
    pub fn as_json_str(&self) -> &str {
        self.0.get()
    }

    /// `true` if the body is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.as_json_str() == "null"
    }

    /// Parses the text into `T`, borrowing strings from it where `T` allows.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.as_json_str())
    }
}

impl From<Value> for Body {
    fn from(value: Value) -> Body {
        Body::from_value(&value)
    }
}

impl From<&Value> for Body {
    fn from(value: &Value) -> Body {
        Body::from_value(value)
    }
}

impl From<Body> for Value {
    fn from(body: Body) -> Value {
        body.to_value()
    }
}

impl PartialEq for Body {
    fn eq(&self, other: &Body) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.as_json_str() == other.as_json_str()
    }
}

impl Eq for Body {}

impl PartialEq<Value> for Body {
    fn eq(&self, other: &Value) -> bool {
        self.as_json_str() == canonical_json(other)
    }
}

impl Hash for Body {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_json_str().hash(state);
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // User plaintext: not even the length is shown.
        f.write_str("Body(..)")
    }
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Body, D::Error> {
        // Through a `Value` rather than a raw value: incoming text may be in
        // any key order and spacing, and must be canonicalised before it is
        // compared or hashed.
        Value::deserialize(d).map(|v| Body::from_value(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_give_equal_bodies_whatever_the_key_order() {
        let a =
            Body::from_json(r#"{ "b": [1, 2.5, -0.0], "a": {"y": true, "x": "\u00e9"} }"#).unwrap();
        let b = Body::from(json!({"a": {"x": "é", "y": true}, "b": [1, 2.5, 0.0]}));
        assert_eq!(a, b);
        assert_eq!(
            a.as_json_str(),
            r#"{"a":{"x":"é","y":true},"b":[1,2.5,0.0]}"#
        );
        assert_ne!(a, Body::from(json!({"a": 1})));
        assert_eq!(a, a.to_value());
    }

    #[test]
    fn serialises_inline_and_round_trips() {
        let body = Body::from(json!({"text": "hi", "n": 1.5}));
        let text = serde_json::to_string(&body).unwrap();
        assert_eq!(text, r#"{"n":1.5,"text":"hi"}"#);
        assert_eq!(serde_json::from_str::<Body>(&text).unwrap(), body);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"text": "hi", "n": 1.5})
        );
        let from_value: Body = serde_json::from_value(json!({"text": "hi", "n": 1.5})).unwrap();
        assert_eq!(from_value, body);
    }

    #[test]
    fn debug_hides_content() {
        let body = Body::from(json!({"secret": "hunter2"}));
        let shown = format!("{body:?} {:?}", Some(&body));
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret"),
            "{shown}"
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        assert!(Body::from_json("{\"a\":").is_err());
        assert!(Body::from_json("").is_err());
        assert!(Body::from_json("null").unwrap().is_null());
    }

    #[test]
    fn deep_values_read_back() {
        let mut v = json!({"items": []});
        for _ in 0..300 {
            v = json!([v]);
        }
        let body = Body::from(&v);
        assert_eq!(body.to_value(), v);
        // Untrusted text keeps serde_json's limit.
        assert!(Body::from_json(body.as_json_str()).is_err());
    }
}
