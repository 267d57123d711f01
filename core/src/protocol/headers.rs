//! Header names and content types. Names are written as clients send
//! them; HTTP compares them without case, and the relay's messages name
//! them in lower case.

/// The caller's `deviceId` (every signed request).
pub const DEVICE_ID: &str = "X-Device-Id";
/// The signed request's unix seconds, canonical decimal.
pub const TS: &str = "X-Ts";
/// base64url Ed25519 signature over the request's canonical string.
pub const SIGNATURE: &str = "X-Signature";
/// Push only: the seq, canonical decimal.
pub const SEQ: &str = "X-Seq";
/// Hex SHA-256 of a blob: sent with push and key-check PUT, answered with
/// every blob the relay serves.
pub const SHA256: &str = "X-Sha256";
/// base64url signature by the license authority key over the request's
/// authority statement (PROTOCOL §11): revoke and key-check PUT.
pub const AUTHORITY_SIGNATURE: &str = "X-Authority-Signature";
/// `GET /sync/authority`: the license asked about.
pub const LICENSE_ID: &str = "X-License-Id";
/// `GET /sync/authority`: that license's key (a header, never the query,
/// so it stays out of access logs).
pub const LICENSE_KEY: &str = "X-License-Key";
/// Seconds to wait, on `429 rate_limited`.
pub const RETRY_AFTER: &str = "Retry-After";
pub const CONTENT_TYPE: &str = "Content-Type";
/// The admin bearer token goes in `Authorization` after this prefix.
pub const BEARER_PREFIX: &str = "Bearer ";

/// Content type of JSON bodies.
pub const JSON: &str = "application/json";
/// Content type of blob bodies.
pub const OCTET_STREAM: &str = "application/octet-stream";
