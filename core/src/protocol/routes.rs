//! The paths the relay serves. A `{name}` segment is filled in by the
//! client ([`blob_path`], [`admin_devices_path`]) and matched by the
//! relay's router (axum's syntax).

/// `GET`: liveness, unauthenticated.
pub const HEALTHZ: &str = "/healthz";
/// `GET`: the relay's API in OpenAPI 3.1 (JSON), unauthenticated.
pub const OPENAPI: &str = "/openapi.json";
/// `POST`: register a device.
pub const INIT: &str = "/sync/init";
/// `POST`: store a sealed blob.
pub const PUSH: &str = "/sync/push";
/// `GET`, query [`PullQuery`](super::PullQuery): list peers' blobs.
pub const PULL: &str = "/sync/pull";
/// `GET`: fetch one blob.
pub const BLOB: &str = "/sync/blob/{owner}/{seq}";
/// `POST`: revoke a device of the license.
pub const REVOKE: &str = "/sync/revoke";
/// `PUT` sets, `GET` reads the license's key-check blob.
pub const KEYCHECK: &str = "/sync/keycheck";
/// `POST`: drop the caller's superseded blobs.
pub const PRUNE: &str = "/sync/prune";
/// `GET`: the license's devices.
pub const DEVICES: &str = "/sync/devices";
/// `GET` with the license id and key headers: the license's authority
/// public key ([`AuthorityResponse`](super::AuthorityResponse)).
pub const AUTHORITY: &str = "/sync/authority";
/// `GET` with the admin bearer token: a license's devices.
pub const ADMIN_DEVICES: &str = "/admin/licenses/{lid}/devices";
/// `GET`: the relay's metrics in the Prometheus text format (0.0.4), with
/// the admin bearer token on the main listener, without one on the
/// separate metrics listener (`serve --metrics-listen`).
pub const METRICS: &str = "/metrics";

/// [`PULL`] with its query (`since` percent-encoded).
pub fn pull_path(since: &str, limit: u32) -> String {
    format!("{PULL}?since={}&limit={limit}", urlencode(since))
}

/// [`BLOB`] for one blob (`owner` percent-encoded).
pub fn blob_path(owner: &str, seq: u64) -> String {
    // The encoded owner has no `{`, so the second replace cannot hit it.
    BLOB.replace("{owner}", &urlencode(owner))
        .replace("{seq}", &seq.to_string())
}

/// [`ADMIN_DEVICES`] for one license (`license_id` percent-encoded).
pub fn admin_devices_path(license_id: &str) -> String {
    ADMIN_DEVICES.replace("{lid}", &urlencode(license_id))
}

/// Percent-encodes all but RFC 3986's unreserved characters (one path
/// segment or query value).
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
