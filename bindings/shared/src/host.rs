//! What a host's callbacks hand back to the engine, put in the core's form
//! once for every binding: a store's snapshot (as JSON text or as a plain
//! JSON value) and a transport's answer. Error messages name the position
//! or the field, never record contents.

use azmx_sync_core::engine::HttpResponse;
use azmx_sync_core::merge::Record;
use serde_json::Value;

/// The records of a snapshot given as JSON text (C), or why they are not
/// records: the position only, as serde's messages can quote contents.
pub fn snapshot_records_json(json: &[u8]) -> Result<Vec<Record>, String> {
    serde_json::from_slice(json).map_err(|e| {
        format!(
            "host callback `snapshot` gave invalid records JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}

/// The records a `snapshot()` returned, or why they are not records (the
/// message names the field, never its content). A `null` field counts as
/// absent: JS `{ deleted: undefined }` arrives as null.
pub fn snapshot_records(value: Value) -> Result<Vec<Record>, String> {
    let Value::Array(mut list) = value else {
        return Err("snapshot() must return an array of records".into());
    };
    for r in &mut list {
        if let Value::Object(m) = r {
            m.retain(|_, v| !v.is_null());
        }
    }
    serde_json::from_value::<Vec<Record>>(Value::Array(list))
        .map_err(|e| format!("snapshot() returned an invalid record: {e}"))
}

/// A host transport's answer: header names in lower case, as the core
/// looks them up (hosts give them in any case; a repeated name keeps its
/// last value).
pub fn http_response(
    status: u16,
    headers: impl IntoIterator<Item = (String, String)>,
    body: Vec<u8>,
) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect(),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snapshots_take_nulls_as_absent_and_refuse_non_arrays() {
        let r = snapshot_records(json!([
            { "id": "a", "updatedAt": 1, "deviceId": "d", "deleted": null, "scope": null }
        ]))
        .unwrap();
        assert_eq!((r[0].id.as_str(), r[0].deleted), ("a", false));
        assert!(snapshot_records(json!({})).unwrap_err().contains("array"));
        let e = snapshot_records(json!([{ "id": 5, "body": "secret" }])).unwrap_err();
        assert!(
            e.starts_with("snapshot() returned an invalid record"),
            "{e}"
        );
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn snapshot_text_errors_give_the_position_only() {
        let r = snapshot_records_json(br#"[{"id":"a","updatedAt":1,"deviceId":"d"}]"#).unwrap();
        assert_eq!(r[0].id, "a");
        let e = snapshot_records_json(br#"[{"id": "a", "body": "top secret"#).unwrap_err();
        assert!(e.contains("invalid records JSON (line 1"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn header_names_are_lower_cased_and_the_last_repeat_wins() {
        let r = http_response(
            200,
            [("Retry-After", "1"), ("X-A", "a"), ("retry-after", "2")]
                .map(|(n, v)| (n.to_string(), v.to_string())),
            b"x".to_vec(),
        );
        assert_eq!((r.status, r.header("RETRY-AFTER")), (200, Some("2")));
        assert_eq!(r.headers.keys().collect::<Vec<_>>(), ["retry-after", "x-a"]);
        assert_eq!(r.body, b"x");
    }
}
