//! The relay serves its OpenAPI description at `/openapi.json`, and what a
//! relay with the default limits serves is exactly the committed
//! `docs/openapi.json` (which `cargo run -p xtask -- gen-openapi` writes).

mod common;

use azmx_sync_core::protocol::routes;
use common::Env;

fn committed() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json");
    std::fs::read_to_string(path).expect("docs/openapi.json is committed")
}

#[test]
fn the_served_document_is_the_committed_one() {
    let env = Env::start();
    let resp = env
        .agent
        .get(&format!("{}{}", env.url, routes::OPENAPI))
        .call()
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let served = resp.into_string().unwrap();
    assert!(
        served == committed(),
        "GET /openapi.json differs from docs/openapi.json: run `cargo run -p xtask -- gen-openapi`"
    );
    let doc: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
}

/// A relay with other limits describes those (the push body limit).
#[test]
fn a_relay_describes_its_own_limits() {
    let env = Env::start_with(|c| c.limits.max_body_bytes = 65_536);
    let text = env
        .agent
        .get(&format!("{}{}", env.url, routes::OPENAPI))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schema = &doc["paths"][routes::PUSH]["post"]["requestBody"]["content"]
        ["application/octet-stream"]["schema"];
    assert_eq!(schema["maxLength"], 65_536);
}
