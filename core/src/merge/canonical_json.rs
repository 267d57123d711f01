//! Canonical JSON: the one serialisation of a JSON value that every device
//! computes identically, used to hash records for the deterministic tie-break
//! and for change detection.
//!
//! Rules (deliberately small, close to RFC 8785 but not claiming to be it):
//! - object keys are sorted by their UTF-8 bytes (ascending), whatever order
//!   the map was built in (even if `serde_json/preserve_order` is enabled by
//!   some other crate in the build);
//! - no whitespace anywhere;
//! - strings are escaped exactly as `serde_json` escapes them (`"`, `\` and
//!   control characters; everything else is written as raw UTF-8);
//! - numbers are written as `serde_json` writes them (integers in decimal,
//!   floats in shortest round-trip form, always with a `.` or an exponent),
//!   except that `-0.0` is written as `0.0`: `serde_json` considers the two
//!   equal, so their serialisations must be equal too.
//!
//! With these rules two [`Value`]s are equal (`==`) exactly when their
//! canonical serialisations are equal, which the merge engine relies on.

use serde_json::Value;

/// Serialises `value` as canonical JSON (sorted keys, no whitespace).
///
/// ```
/// use azmx_sync_core::merge::canonical_json;
/// let v = serde_json::json!({"b": [1, 2.5, null], "a": {"y": true, "x": "\n"}});
/// assert_eq!(canonical_json(&v), r#"{"a":{"x":"\n","y":true},"b":[1,2.5,null]}"#);
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

/// Appends the canonical serialisation of `value` to `out`.
pub fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if n.as_f64() == Some(0.0) && n.is_f64() {
                // Covers both 0.0 and -0.0 (which compare equal).
                out.push_str("0.0");
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            // `str`'s `Ord` is byte-wise on UTF-8, which is what we want.
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_canonical(out, v);
            }
            out.push('}');
        }
    }
}

/// Appends `s` as a JSON string literal, escaped like `serde_json` does.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is a char boundary.
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_escape_like_serde_json() {
        let s: String = (0u8..0x80)
            .map(|b| b as char)
            .chain("é€😀".chars())
            .collect();
        assert_eq!(
            canonical_json(&Value::String(s.clone())),
            serde_json::to_string(&s).unwrap()
        );
    }

    #[test]
    fn negative_zero_is_zero() {
        let a = json!(0.0);
        let b = json!(-0.0);
        assert_eq!(a, b);
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&json!(0)), "0");
    }
}
