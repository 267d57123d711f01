//! Prints the relay's OpenAPI document for the default limits, as
//! `docs/openapi.json` holds it (`cargo run -p xtask -- gen-openapi`
//! writes that file with it; a relay serves the same at /openapi.json).

fn main() {
    let limits = azmx_sync_relay::Limits::default();
    print!("{}", azmx_sync_relay::openapi_json(&limits));
}
