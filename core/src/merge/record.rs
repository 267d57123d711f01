//! The unit of replication: [`Record`], its identity [`RecordKey`] and its
//! canonical content hash.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::body::Body;
use super::bounds::MAX_VERSION;
use super::canonical_json::write_string;
use super::error::InvalidReason;

/// Longest accepted record id, in bytes.
pub const MAX_ID_BYTES: usize = 256;
/// Longest accepted scope (snippet handle), in bytes.
pub const MAX_SCOPE_BYTES: usize = 128;
/// Longest accepted device id, in bytes.
pub const MAX_DEVICE_ID_BYTES: usize = 128;

/// Identity of a record inside one store: the optional scope (the snippet
/// handle) and the id. The same id under two scopes is two records.
///
/// Ordered by scope first (`None` before any handle), then id, byte-wise.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordKey {
    /// Scope (snippet handle); `None` for stores that are not scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Record id, unique within its scope.
    pub id: String,
}

impl RecordKey {
    /// Builds a key.
    pub fn new(scope: Option<String>, id: impl Into<String>) -> Self {
        RecordKey {
            scope,
            id: id.into(),
        }
    }
}

/// A borrowed view of a record key, so that maps keyed by [`RecordKey`] can
/// be searched with a [`Record`] without allocating a key.
pub(crate) trait KeyView {
    fn key_scope(&self) -> Option<&str>;
    fn key_id(&self) -> &str;
}

impl KeyView for RecordKey {
    fn key_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    fn key_id(&self) -> &str {
        &self.id
    }
}

impl KeyView for Record {
    fn key_scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
    fn key_id(&self) -> &str {
        &self.id
    }
}

// Same order as `RecordKey`'s derived `Ord` (scope, then id), as `Borrow`
// requires.
impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key_scope() == other.key_scope() && self.key_id() == other.key_id()
    }
}
impl Eq for dyn KeyView + '_ {}
impl PartialOrd for dyn KeyView + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn KeyView + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key_scope()
            .cmp(&other.key_scope())
            .then_with(|| self.key_id().cmp(other.key_id()))
    }
}
impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for RecordKey {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

/// One version of one record of one store, as stored locally and as carried
/// (encrypted) between devices.
///
/// Invariant: `body` is `None` exactly when `deleted` is true (a tombstone
/// carries no content). [`Record::new`] and [`Record::tombstone`] build valid
/// records; records arriving from a peer are checked by the merge engine and
/// rejected with [`InvalidReason::TombstoneWithBody`] or
/// [`InvalidReason::MissingBody`] when the invariant is broken.
///
/// Serialised in camelCase (`id`, `scope`, `updatedAt`, `version`, `deleted`,
/// `deviceId`, `body`); `scope`, `version` and `body` are omitted when `None`.
///
/// `Debug` never prints the body: bodies are user plaintext and must not reach
/// logs. Only the key, `updated_at`, `version`, `deleted` and `device_id` are
/// shown.
#[derive(PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// Record id (snippet id, todo session id, memory chunk id, ...).
    pub id: String,
    /// Snippet handle; `None` for stores that are not scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Last write time, milliseconds since the Unix epoch, set by the writer.
    pub updated_at: i64,
    /// Monotonic write counter for stores merged by version (memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Tombstone flag: `true` means "this record was deliberately deleted".
    #[serde(default)]
    pub deleted: bool,
    /// Id of the device that wrote this version.
    pub device_id: String,
    /// Opaque content; `None` iff `deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
}

impl Record {
    /// A live record. Pass `scope: None` for unscoped stores and
    /// `version: None` for stores that do not count versions. `body` is a
    /// [`Body`] or a `serde_json::Value` (canonicalised here, once).
    pub fn new(
        id: impl Into<String>,
        scope: Option<String>,
        updated_at: i64,
        version: Option<u64>,
        device_id: impl Into<String>,
        body: impl Into<Body>,
    ) -> Self {
        // Written once: the fields of a write, then the body that makes it live.
        Self::tombstone(id, scope, updated_at, version, device_id).with_body(body.into())
    }

    /// A tombstone: an explicit delete, written at `updated_at` (and, for
    /// versioned stores, with a bumped `version`). It has no body.
    pub fn tombstone(
        id: impl Into<String>,
        scope: Option<String>,
        updated_at: i64,
        version: Option<u64>,
        device_id: impl Into<String>,
    ) -> Self {
        Record {
            id: id.into(),
            scope,
            updated_at,
            version,
            deleted: true,
            device_id: device_id.into(),
            body: None,
        }
    }

    /// The same write, live with `body` (body present iff not deleted).
    fn with_body(self, body: Body) -> Self {
        Record {
            deleted: false,
            body: Some(body),
            ..self
        }
    }

    /// An empty, allocation-free stand-in used to move records out of a
    /// batch. Never stored or returned.
    pub(crate) fn placeholder() -> Self {
        Self::tombstone(String::new(), None, 0, None, String::new())
    }

    /// The record's identity inside its store (clones scope and id).
    pub fn key(&self) -> RecordKey {
        RecordKey {
            scope: self.scope.clone(),
            id: self.id.clone(),
        }
    }

    /// `true` for a tombstone.
    pub fn is_tombstone(&self) -> bool {
        self.deleted
    }

    /// Canonical serialisation of the whole record: the camelCase JSON object
    /// of its serde form (fields that are `None` omitted), keys sorted, no
    /// whitespace. Equal to `canonical_json(&serde_json::to_value(self)?)`.
    pub fn canonical(&self) -> String {
        let body_len = self.body.as_ref().map_or(0, |b| b.as_json_str().len());
        let mut out = String::with_capacity(112 + self.id.len() + self.device_id.len() + body_len);
        // Keys in byte order: body, deleted, deviceId, id, scope, updatedAt, version.
        out.push('{');
        if let Some(body) = &self.body {
            out.push_str("\"body\":");
            out.push_str(body.as_json_str());
            out.push(',');
        }
        out.push_str(if self.deleted {
            "\"deleted\":true"
        } else {
            "\"deleted\":false"
        });
        out.push_str(",\"deviceId\":");
        write_string(&mut out, &self.device_id);
        out.push_str(",\"id\":");
        write_string(&mut out, &self.id);
        if let Some(scope) = &self.scope {
            out.push_str(",\"scope\":");
            write_string(&mut out, scope);
        }
        out.push_str(",\"updatedAt\":");
        out.push_str(&self.updated_at.to_string());
        if let Some(v) = self.version {
            out.push_str(",\"version\":");
            out.push_str(&v.to_string());
        }
        out.push('}');
        out
    }

    /// SHA-256 of [`Record::canonical`]: the last tie-break of every contract
    /// order, and a cheap identity for change detection. Two records have the
    /// same hash exactly when they are equal (`==`).
    pub fn content_hash(&self) -> [u8; 32] {
        Sha256::digest(self.canonical().as_bytes()).into()
    }

    /// Checks the store-independent shape rules of a record received from a
    /// peer: body present iff live (and not JSON `null`), non-empty bounded
    /// ids without control characters, non-negative timestamp, a `version`
    /// of at most [`MAX_VERSION`], and no
    /// filesystem path in the id or scope (see `docs/MERGE.md`, "Why
    /// workspace memory cannot be registered").
    pub fn check_shape(&self) -> Result<(), InvalidReason> {
        match (self.deleted, &self.body) {
            (true, Some(_)) => return Err(InvalidReason::TombstoneWithBody),
            (false, None) => return Err(InvalidReason::MissingBody),
            (false, Some(body)) if body.is_null() => return Err(InvalidReason::MissingBody),
            _ => {}
        }
        if self.updated_at < 0 {
            return Err(InvalidReason::NegativeTimestamp);
        }
        if self.version.is_some_and(|v| v > MAX_VERSION) {
            return Err(InvalidReason::VersionTooLarge);
        }
        check_text(&self.id, MAX_ID_BYTES, Field::Id)?;
        if looks_like_absolute_path(&self.id) {
            return Err(InvalidReason::PathLikeId);
        }
        check_text(&self.device_id, MAX_DEVICE_ID_BYTES, Field::DeviceId)?;
        if let Some(scope) = &self.scope {
            check_text(scope, MAX_SCOPE_BYTES, Field::Scope)?;
            if looks_like_absolute_path(scope) || scope.contains(['/', '\\']) {
                return Err(InvalidReason::PathLikeScope);
            }
        }
        Ok(())
    }
}

impl Clone for Record {
    fn clone(&self) -> Self {
        Record {
            id: self.id.clone(),
            scope: self.scope.clone(),
            updated_at: self.updated_at,
            version: self.version,
            deleted: self.deleted,
            device_id: self.device_id.clone(),
            body: self.body.clone(),
        }
    }

    /// Reuses `self`'s string allocations instead of freeing and allocating;
    /// the body is shared.
    fn clone_from(&mut self, src: &Self) {
        self.id.clone_from(&src.id);
        self.scope.clone_from(&src.scope);
        self.updated_at = src.updated_at;
        self.version = src.version;
        self.deleted = src.deleted;
        self.device_id.clone_from(&src.device_id);
        self.body.clone_from(&src.body);
    }
}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body is user plaintext: never print it, not even its length.
        f.debug_struct("Record")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("updated_at", &self.updated_at)
            .field("version", &self.version)
            .field("deleted", &self.deleted)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy)]
enum Field {
    Id,
    DeviceId,
    Scope,
}

fn check_text(s: &str, max: usize, field: Field) -> Result<(), InvalidReason> {
    let (empty, long, ctrl) = match field {
        Field::Id => (
            InvalidReason::EmptyId,
            InvalidReason::IdTooLong,
            InvalidReason::ControlCharInId,
        ),
        Field::DeviceId => (
            InvalidReason::EmptyDeviceId,
            InvalidReason::DeviceIdTooLong,
            InvalidReason::ControlCharInDeviceId,
        ),
        Field::Scope => (
            InvalidReason::EmptyScope,
            InvalidReason::ScopeTooLong,
            InvalidReason::ControlCharInScope,
        ),
    };
    let has_control = if s.is_ascii() {
        s.bytes().any(|b| b < 0x20 || b == 0x7f)
    } else {
        s.chars().any(char::is_control)
    };
    if s.is_empty() {
        Err(empty)
    } else if s.len() > max {
        Err(long)
    } else if has_control {
        Err(ctrl)
    } else {
        Ok(())
    }
}

/// `true` for strings that name a location on one machine's filesystem:
/// absolute POSIX paths (`/...`), home-relative paths (`~...`), Windows
/// drive or UNC paths (`C:\...`, `C:/...`, `\\...`), and anything with a `..`
/// path segment. Such values would be dead pointers on another machine.
pub fn looks_like_absolute_path(s: &str) -> bool {
    let b = s.as_bytes();
    if matches!(b.first(), Some(b'/' | b'\\' | b'~')) {
        return true;
    }
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        // `C:`, `C:\x`, `C:/x`: a drive. Ids such as `a:b` stay valid.
        if b.len() == 2 || matches!(b[2], b'/' | b'\\') {
            return true;
        }
    }
    s.contains("..") && s.split(['/', '\\']).any(|seg| seg == "..")
}
