use std::collections::BTreeSet;

use azmx_sync_core::protocol::{routes, ErrorCode};
use serde_json::Value;

use super::*;

fn doc() -> Value {
    serde_json::from_str(&openapi_json(&Limits::default())).unwrap()
}

/// Every JSON pointer a `$ref` names, found anywhere in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.insert(r.clone());
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_api_route_is_described_with_its_methods() {
    let d = doc();
    assert_eq!(d["openapi"], "3.1.0");
    let methods = |path: &str| -> BTreeSet<String> {
        d["paths"][path]
            .as_object()
            .unwrap_or_else(|| panic!("{path} is not described"))
            .keys()
            .cloned()
            .collect()
    };
    let one = |m: &str| BTreeSet::from([m.to_string()]);
    for path in [
        routes::HEALTHZ,
        routes::OPENAPI,
        routes::AUTHORITY,
        routes::PULL,
        routes::BLOB,
        routes::DEVICES,
        routes::ADMIN_DEVICES,
        routes::METRICS,
    ] {
        assert_eq!(methods(path), one("get"), "{path}");
    }
    for path in [routes::INIT, routes::PUSH, routes::REVOKE, routes::PRUNE] {
        assert_eq!(methods(path), one("post"), "{path}");
    }
    assert_eq!(
        methods(routes::KEYCHECK),
        BTreeSet::from(["get".to_string(), "put".to_string()])
    );
}

#[test]
fn every_reference_resolves() {
    let d = doc();
    let mut found = BTreeSet::new();
    refs(&d, &mut found);
    assert!(found.len() > 20, "{found:?}");
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(d.pointer(pointer).is_some(), "{r} does not resolve");
    }
}

#[test]
fn every_error_code_has_its_schema_and_its_status_somewhere() {
    let d = doc();
    let mut statuses = BTreeSet::new();
    for item in d["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            statuses.extend(op["responses"].as_object().unwrap().keys().cloned());
        }
    }
    for code in ErrorCode::ALL {
        let name = errors::schema_name(code);
        let s = &d["components"]["schemas"][&name];
        assert_eq!(
            s["allOf"][1]["properties"]["error"]["enum"][0],
            code.as_str()
        );
        // A described operation never answers 405: that is the answer to
        // a method the description does not list (said in `info`).
        if code != ErrorCode::MethodNotAllowed {
            assert!(statuses.contains(&code.status().to_string()), "{name}");
        }
    }
}

/// A 401 of a signed route lists exactly the codes of §10's steps 2–4.
#[test]
fn a_status_lists_the_codes_of_that_status() {
    let d = doc();
    let one_of = d["paths"][routes::PUSH]["post"]["responses"]["401"]["content"]
        ["application/json"]["schema"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["$ref"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string()
        })
        .collect::<BTreeSet<_>>();
    let want = [
        ErrorCode::UnknownDevice,
        ErrorCode::BadSignature,
        ErrorCode::ClockSkew,
    ]
    .map(errors::schema_name);
    assert_eq!(one_of, BTreeSet::from(want));
    let retry = &d["paths"][routes::PUSH]["post"]["responses"]["429"]["headers"]["Retry-After"];
    assert_eq!(retry["required"], true);
}

#[test]
fn the_served_limits_are_the_relays() {
    let limits = Limits {
        max_body_bytes: 1234,
        ..Limits::default()
    };
    let d: Value = serde_json::from_str(&openapi_json(&limits)).unwrap();
    let body = &d["paths"][routes::PUSH]["post"]["requestBody"]["content"]
        ["application/octet-stream"]["schema"];
    assert_eq!(body["maxLength"], 1234);
    assert_ne!(openapi_json(&limits), openapi_json(&Limits::default()));
}
