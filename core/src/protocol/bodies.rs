//! Request and response bodies, one type per route and direction.
//! Numbers keep the relay's types: seqs, sizes and counts `u64`, times
//! (unix seconds) `i64`.

use serde::{Deserialize, Serialize};

/// `POST /sync/init` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InitRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub license_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::license_key))]
    pub license_key: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::public_key))]
    pub public_key: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::device_name))]
    pub device_name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub ts: i64,
    /// Over `init|licenseId|publicKey|deviceName|ts`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::signature))]
    pub signature: String,
    /// The license authority's signature over
    /// `authority-register|licenseId|publicKey|deviceName|ts` (PROTOCOL
    /// §11): required once the license has an authority key. Left out of
    /// the body when `None`, so a v1 body keeps its bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::nullable_signature))]
    pub authority_signature: Option<String>,
    /// A claim (trust on first use, §11.4): the authority public key to set
    /// on a license that has none, while the operator's window is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::nullable_key))]
    pub authority_key: Option<String>,
    /// With `authority_key`: its signature over
    /// `authority-set|licenseId|authorityKey|ts` (proof of possession).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::nullable_signature))]
    pub authority_claim: Option<String>,
}

/// `POST /sync/init` answer (201 new device, 200 known key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InitResponse {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub device_id: String,
    #[serde(default, deserialize_with = "super::lenient")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub server_time: i64,
}

/// `POST /sync/push` answer (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PushResponse {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::seq))]
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub server_time: i64,
}

/// `GET /sync/pull` query. Both are text so the relay can tell an absent
/// value from a malformed one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullQuery {
    pub since: Option<String>,
    pub limit: Option<String>,
}

/// One listed blob of `GET /sync/pull`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullItem {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub device_id: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::seq))]
    pub seq: u64,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::sha256))]
    pub sha256: String,
    #[serde(default, deserialize_with = "super::lenient")]
    pub size: u64,
    #[serde(default, deserialize_with = "super::lenient")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub created_at: i64,
}

/// `GET /sync/pull` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PullPage {
    pub items: Vec<PullItem>,
    /// Always present: the last item's position, or `since` unchanged.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::cursor))]
    pub next_cursor: String,
    #[serde(default)]
    pub has_more: bool,
    #[serde(default, deserialize_with = "super::lenient")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub server_time: i64,
}

/// `POST /sync/revoke` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RevokeRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub target_device_id: String,
}

/// `POST /sync/revoke` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RevokeResponse {
    /// The target device id.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub revoked: String,
}

/// `PUT /sync/keycheck` answer (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct KeycheckPutResponse {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::sha256))]
    pub sha256: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub server_time: i64,
}

/// `POST /sync/prune` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PruneRequest {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::seq))]
    pub checkpoint_seq: u64,
}

/// `POST /sync/prune` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PruneResponse {
    /// Blobs deleted.
    #[serde(default)]
    pub pruned: u64,
}

/// Per-device metadata (never blob contents, keys or key hashes), as
/// `GET /sync/devices` and the admin listing send it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceInfo {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub device_id: String,
    /// The name given at the first `init`.
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::device_name))]
    pub name: String,
    /// Registration time.
    #[serde(default, deserialize_with = "super::lenient")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub created_at: i64,
    /// Last accepted push, `null` before the first.
    #[serde(default)]
    pub last_push_at: Option<i64>,
    /// Last pull, `null` before the first.
    #[serde(default)]
    pub last_pull_at: Option<i64>,
    /// Blobs stored now (after pruning).
    #[serde(default)]
    pub blob_count: u64,
    /// Their total size in bytes.
    #[serde(default)]
    pub sealed_bytes: u64,
    #[serde(default)]
    pub revoked: bool,
}

/// `GET /sync/devices` and `GET /admin/licenses/{lid}/devices` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DevicesResponse {
    /// In registration order.
    pub devices: Vec<DeviceInfo>,
}

/// `GET /sync/authority` answer (200): the license's authority public
/// key, asked with the license id and key only (no device yet), so a device
/// can compare it with the one its receipt derives before registering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AuthorityResponse {
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::id))]
    pub license_id: String,
    /// base64url, or `null` for a license that has none yet.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::nullable_key))]
    pub authority_key: Option<String>,
    /// The license has no key and its operator's claim window is open: the
    /// next `init` may claim it (§11.4).
    #[serde(default)]
    pub claim_open: bool,
    #[serde(default, deserialize_with = "super::lenient")]
    #[cfg_attr(feature = "openapi", schema(schema_with = super::openapi::unix_seconds))]
    pub server_time: i64,
}

/// `GET /healthz` answer (200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    pub ok: bool,
}
