//! Typed errors of the merge module. No variant carries user content (ids,
//! bodies, handles): these values end up in the activity log.

use serde::Serialize;
use thiserror::Error;

use super::todos::TodoInvalid;

/// Why an incoming record was rejected. The local record (if any) is kept and
/// the rest of the batch is merged normally.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum InvalidReason {
    /// `deleted` is true but a body is present.
    #[error("tombstone carries a body")]
    TombstoneWithBody,
    /// `deleted` is false but the body is missing or JSON `null`.
    #[error("live record has no body")]
    MissingBody,
    /// `updated_at` is before the Unix epoch.
    #[error("negative updatedAt")]
    NegativeTimestamp,
    /// `updated_at` runs further ahead of the relay's `createdAt` of the
    /// blob that carried it than the drift bound allows (see
    /// [`ArrivalBounds`](super::ArrivalBounds)).
    #[error("updatedAt too far ahead of the time its bundle reached the relay")]
    FutureTimestamp,
    /// `version` is above [`MAX_VERSION`](super::MAX_VERSION) (2^53 − 1).
    #[error("version above 2^53 - 1")]
    VersionTooLarge,
    /// `version` is above the time ceiling of the blob that carried it (see
    /// [`ArrivalBounds`](super::ArrivalBounds)).
    #[error("version too far ahead of the time its bundle reached the relay")]
    VersionAheadOfTime,
    /// Empty id.
    #[error("empty id")]
    EmptyId,
    /// Id longer than [`MAX_ID_BYTES`](super::record::MAX_ID_BYTES).
    #[error("id too long")]
    IdTooLong,
    /// Id contains a control character.
    #[error("control character in id")]
    ControlCharInId,
    /// Id looks like a machine-local filesystem path.
    #[error("id looks like a filesystem path")]
    PathLikeId,
    /// Empty device id.
    #[error("empty deviceId")]
    EmptyDeviceId,
    /// Device id longer than [`MAX_DEVICE_ID_BYTES`](super::record::MAX_DEVICE_ID_BYTES).
    #[error("deviceId too long")]
    DeviceIdTooLong,
    /// Device id contains a control character.
    #[error("control character in deviceId")]
    ControlCharInDeviceId,
    /// Scope present but empty.
    #[error("empty scope")]
    EmptyScope,
    /// Scope longer than [`MAX_SCOPE_BYTES`](super::record::MAX_SCOPE_BYTES).
    #[error("scope too long")]
    ScopeTooLong,
    /// Scope contains a control character.
    #[error("control character in scope")]
    ControlCharInScope,
    /// Scope looks like a filesystem path (or contains a path separator).
    #[error("scope looks like a filesystem path")]
    PathLikeScope,
    /// The store is scoped (snippets: by handle) but the record has no scope.
    #[error("record has no scope in a scoped store")]
    MissingScope,
    /// The store is not scoped but the record has a scope.
    #[error("record has a scope in an unscoped store")]
    UnexpectedScope,
    /// The store merges by version but the record has none.
    #[error("record has no version in a versioned store")]
    MissingVersion,
    /// The todo list broke an invariant of [`validate_todos`](super::validate_todos).
    #[error("invalid todo list: {0}")]
    Todo(#[from] TodoInvalid),
    /// Rejected by a host-registered validator; the code is chosen by the host
    /// and must not contain user content.
    #[error("rejected by store validator: {0}")]
    Custom(&'static str),
}

impl InvalidReason {
    /// A stable snake_case code for logs and activity events (the `Display`
    /// text is for people and may change). A host validator's
    /// [`Custom`](InvalidReason::Custom) code is returned as is.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TombstoneWithBody => "tombstone_with_body",
            Self::MissingBody => "missing_body",
            Self::NegativeTimestamp => "negative_timestamp",
            Self::FutureTimestamp => "future_timestamp",
            Self::VersionTooLarge => "version_too_large",
            Self::VersionAheadOfTime => "version_ahead_of_time",
            Self::EmptyId => "empty_id",
            Self::IdTooLong => "id_too_long",
            Self::ControlCharInId => "control_char_in_id",
            Self::PathLikeId => "path_like_id",
            Self::EmptyDeviceId => "empty_device_id",
            Self::DeviceIdTooLong => "device_id_too_long",
            Self::ControlCharInDeviceId => "control_char_in_device_id",
            Self::EmptyScope => "empty_scope",
            Self::ScopeTooLong => "scope_too_long",
            Self::ControlCharInScope => "control_char_in_scope",
            Self::PathLikeScope => "path_like_scope",
            Self::MissingScope => "missing_scope",
            Self::UnexpectedScope => "unexpected_scope",
            Self::MissingVersion => "missing_version",
            Self::Todo(_) => "invalid_todo",
            Self::Custom(code) => code,
        }
    }
}

/// A store name that [`StoreName::new`](super::StoreName::new) refused.
/// Exhaustive: the bindings export it as is (uniffi's `StoreNameProblem`).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum StoreNameError {
    /// Empty name.
    #[error("store name is empty")]
    Empty,
    /// More than 64 characters.
    #[error("store name longer than 64 characters")]
    TooLong,
    /// First character is not `a-z`.
    #[error("store name must start with a lowercase letter")]
    BadStart,
    /// A character outside `[a-z0-9_-]` (this rules out `/`, `\`, `.`, `~`
    /// and `:`, so a path can never be a store name).
    #[error("store name may only contain a-z, 0-9, '_' and '-'")]
    BadChar,
    /// The name says it holds workspace-scoped data, which never syncs.
    #[error("workspace-scoped stores cannot be synced")]
    WorkspaceScoped,
}

/// [`Registry::register`](super::Registry::register) failed.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// A store with this name is already registered.
    #[error("a store with this name is already registered")]
    Duplicate,
}
