//! [`SyncError`]: the typed error of every uniffi export.
//!
//! Each variant becomes its own type in the foreign languages
//! (`SyncError.DecryptFailed` in Python and Swift, `SyncException.DecryptFailed`
//! in Kotlin), so hosts match on the type, never on a message. Fields carry
//! no secret and no user content: no receipt, key bytes, plaintext, record
//! bodies or record ids.
//!
//! The causes and their mapping from the core are the facade's
//! ([`ApiError`]); this file declares the foreign types and maps
//! `ApiError` onto them, once. Variant names kept from before the facade
//! (`Network`, `StoreFailed`, `BlobIntegrityError`, `Other`) are listed in
//! `bindings/surface.toml`.

use azmx_sync_bridge::ApiError;
use azmx_sync_core::error::KeyFileProblem;
use azmx_sync_core::merge::{StoreNameError as StoreNameProblem, TodoInvalid};
use azmx_sync_core::Error as CoreError;

// Core types exported as they are (`remote`, under the foreign name the
// bindings always had): uniffi reads these declarations, no mirror type or
// conversion exists, and a drift from the core's definition (a variant or
// field added, renamed or retyped) does not compile.

/// What is wrong with a device key file.
#[uniffi::remote(Enum)]
pub enum KeyFileProblem {
    /// The directory that should hold the key file does not exist.
    MissingDirectory,
    /// The file grants access to group or others (`mode` is the permission bits).
    InsecurePermissions { mode: u32 },
    /// Truncated, too long, or a bad header/checksum.
    Corrupt,
    /// The file could not be read or written.
    Io,
}

/// Why a store name was refused.
#[uniffi::remote(Enum)]
pub enum StoreNameProblem {
    Empty,
    TooLong,
    BadStart,
    BadChar,
    /// Names with a `workspace` word: workspace-scoped data never syncs.
    WorkspaceScoped,
}

azmx_sync_bridge::mirror_enum! {
    /// Which todo-list invariant is broken (items by 0-based index; no content).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
    pub enum TodoProblem from TodoInvalid {
        NotAnObject, MissingItems, TooManyItems { count: u64 }, ItemNotAnObject { index: u64 },
        MissingId { index: u64 }, EmptyId { index: u64 }, IdTooLong { index: u64 },
        DuplicateId { index: u64, first: u64 }, MissingContent { index: u64 },
        EmptyContent { index: u64 }, ContentTooLong { index: u64 }, BadStatus { index: u64 },
        MultipleInProgress { index: u64 },
    } else {
        /// A reason added to the core after these bindings were written.
        Other
    }
}

azmx_sync_bridge::shared_causes! {
    /// Every error an export can raise, one variant (one foreign type) per cause.
    ///
    /// `HostCallback` is what a foreign callback's unexpected exception becomes
    /// on its way back into Rust (then the message of a `StoreFailed` or
    /// `Network`); it is declared so the foreign error hierarchy is stable.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
    pub enum SyncError {
        before {}
        envelope causes,
        between {
            /// The receipt does not match the license's key-check blob (engine).
            #[error("the recovery receipt does not match the one this license was set up with")]
            WrongReceipt,
            /// A blob's SHA-256 differs from the one it travelled with: corruption,
            /// reported before (and instead of) any decrypt.
            #[error("blob integrity check failed: expected sha256 {expected}, got {actual}")]
            BlobIntegrityError { expected: String, actual: String },
            #[error("key file {path}: {problem:?}")]
            KeyFile {
                path: String,
                problem: KeyFileProblem,
            },
        }
        field causes,
        then {
            /// `skew_secs` is `ts − now` (signed) so a client can correct its clock.
            #[error("clock skew of {skew_secs} s exceeds the allowed ±{max_secs} s")]
            ClockSkew { skew_secs: i64, max_secs: i64 },
            /// This device was revoked for the license (engine).
            #[error("this device has been revoked")]
            Revoked,
            /// `what` names the argument (e.g. `incoming[3].body`), never its content.
            #[error("{what} is not valid JSON (line {line}, column {column})")]
            InvalidJson {
                what: String,
                line: u64,
                column: u64,
            },
            #[error("invalid todo list: {problem:?}")]
            InvalidTodos { problem: TodoProblem },
            #[error("invalid store name: {problem:?}")]
            InvalidStoreName { problem: StoreNameProblem },
            /// `builtin_store` was asked for a name that is not built in.
            #[error("no built-in store is named `{name}`")]
            UnknownStore { name: String },
            /// A spec uses a built-in store's name with a different contract or validator.
            #[error("store `{name}` is built in and cannot be redefined")]
            BuiltinStoreRedefined { name: String },
            /// Host code (a foreign trait implementation) threw something unexpected.
            #[error("host callback failed: {reason}")]
            HostCallback { reason: String },
            /// No recovery receipt has been given yet (engine `set_receipt`).
            #[error("no recovery receipt set")]
            NoReceipt,
            /// The device is not registered with a relay yet (engine `register`).
            #[error("this device is not registered with a relay")]
            NotRegistered,
        }
        engine causes as (Network, Relay),
        after {
            /// A cause these bindings do not have a type for; `code` is its stable
            /// machine code (the core's, or the facade's in lower case).
            #[error("{code}: {detail}")]
            Other { code: String, detail: String },
        }
    }
    map shared_cause
}

impl From<ApiError> for SyncError {
    fn from(e: ApiError) -> Self {
        let e = match Self::shared_cause(e) {
            Ok(shared) => return shared,
            Err(e) => e,
        };
        match e {
            ApiError::BlobIntegrity { expected, actual } => {
                Self::BlobIntegrityError { expected, actual }
            }
            ApiError::KeyFile { path, problem } => Self::KeyFile { path, problem },
            ApiError::ClockSkew {
                skew_secs,
                max_secs,
            } => Self::ClockSkew {
                skew_secs,
                max_secs: max_secs.unwrap_or(azmx_sync_core::MAX_SKEW_SECS),
            },
            ApiError::InvalidJson {
                what, line, column, ..
            } => Self::InvalidJson { what, line, column },
            ApiError::InvalidTodos { problem } => Self::InvalidTodos {
                problem: problem.into(),
            },
            ApiError::InvalidStoreName { problem } => Self::InvalidStoreName { problem },
            ApiError::BuiltinStoreRedefined { name } => Self::BuiltinStoreRedefined { name },
            ApiError::UnknownStore { name } => Self::UnknownStore { name },
            ApiError::WrongReceipt { .. } => Self::WrongReceipt,
            ApiError::NoReceipt => Self::NoReceipt,
            ApiError::NotRegistered => Self::NotRegistered,
            ApiError::Revoked => Self::Revoked,
            ApiError::Internal { code, detail } => Self::Other { code, detail },
            // Causes of the C ABI and Node only (NULL pointers, re-entry,
            // panics...): their message is their `detail`.
            other => Self::Other {
                code: other.code().to_ascii_lowercase(),
                detail: other.to_string(),
            },
        }
    }
}

/// `?` on a core result inside an export: through the facade's mapping.
macro_rules! via_api_error {
    ($($from:ty),*) => {$(
        impl From<$from> for SyncError {
            fn from(e: $from) -> Self {
                ApiError::from(e).into()
            }
        }
    )*};
}

via_api_error!(
    CoreError,
    azmx_sync_core::engine::SyncError,
    TodoInvalid,
    StoreNameProblem
);

/// An exception thrown by host code inside a foreign-trait callback arrives
/// as a typed [`SyncError::HostCallback`], never as a crash.
impl From<uniffi::UnexpectedUniFFICallbackError> for SyncError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Self::HostCallback { reason: e.reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use azmx_sync_core::engine::SyncError as EngineError;

    #[test]
    fn core_errors_map_to_distinct_variants() {
        assert_eq!(
            SyncError::from(CoreError::DecryptFailed),
            SyncError::DecryptFailed
        );
        assert!(matches!(
            SyncError::from(CoreError::BlobIntegrity {
                expected: "a".into(),
                actual: "b".into()
            }),
            SyncError::BlobIntegrityError { .. }
        ));
        assert!(matches!(
            SyncError::from(CoreError::ClockSkew {
                skew_secs: -301,
                max_secs: 300
            }),
            SyncError::ClockSkew {
                skew_secs: -301,
                max_secs: 300
            }
        ));
        assert_eq!(
            SyncError::from(ApiError::panic_in("x")),
            SyncError::Other {
                code: "panic".into(),
                detail: "internal error: panic inside x".into()
            }
        );
        assert_eq!(
            SyncError::from(ApiError::RelayUnreachable { detail: "d".into() }),
            SyncError::Network { detail: "d".into() }
        );
        let cb = SyncError::from(uniffi::UnexpectedUniFFICallbackError::new("boom"));
        assert!(matches!(cb, SyncError::HostCallback { .. }));
    }

    #[test]
    fn engine_errors_map_to_typed_variants() {
        assert_eq!(
            SyncError::from(EngineError::WrongReceipt { authority: None }),
            SyncError::WrongReceipt
        );
        assert_eq!(SyncError::from(EngineError::Revoked), SyncError::Revoked);
        assert_eq!(
            SyncError::from(EngineError::ClockSkew { skew_secs: -400 }),
            SyncError::ClockSkew {
                skew_secs: -400,
                max_secs: azmx_sync_core::MAX_SKEW_SECS
            }
        );
        assert!(matches!(
            SyncError::from(EngineError::Core(CoreError::BlobIntegrity {
                expected: "a".into(),
                actual: "b".into()
            })),
            SyncError::BlobIntegrityError { .. }
        ));
        assert!(matches!(
            SyncError::from(EngineError::Store {
                store: "notes".into(),
                message: "boom".into()
            }),
            SyncError::StoreFailed { .. }
        ));
        assert_eq!(
            SyncError::from(EngineError::Internal {
                message: "x".into()
            }),
            SyncError::Other {
                code: "internal".into(),
                detail: "internal error: x".into()
            }
        );
    }
}
