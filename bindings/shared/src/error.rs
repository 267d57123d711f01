//! [`ApiError`], the one public error of every binding, and its table.
//!
//! Each variant is one public cause. The table ([`ErrorKind`]) gives each
//! its stable string code (the C status name, also Node's `code`), its C
//! status number (`AzmxStatus`, unchanged since the C ABI shipped) and the
//! code Node keeps for compatibility where it differs. The core → public
//! mapping is written here once; bindings only translate `ApiError` into
//! their own error type.
//!
//! Messages (Display) are the core's own messages where the error comes
//! from the core (displayed through the core's error where it has no
//! fields), so no binding's text changed when the mapping moved here.
//! None carries a secret or user content: no receipt, key bytes, record
//! bodies or record ids.

use azmx_sync_core::engine::SyncError as EngineError;
use azmx_sync_core::error::KeyFileProblem;
use azmx_sync_core::merge::{StoreNameError, TodoInvalid};
use azmx_sync_core::Error as CoreError;

/// Declares [`ErrorKind`] (one row per [`ApiError`] variant) with its
/// columns, and [`ApiError::kind`]; a variant missing from the table does
/// not compile.
macro_rules! error_table {
    ($( $kind:ident = $status:literal, $code:literal, node $node:literal; )*) => {
        /// The row key of the error table: an [`ApiError`] variant without
        /// its fields.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorKind { $($kind,)* }

        impl ErrorKind {
            /// Every row, in table order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$kind,)*];

            /// The stable string code (`"DECRYPT_FAILED"`).
            pub const fn code(self) -> &'static str {
                match self { $(Self::$kind => $code,)* }
            }

            /// The C ABI's status number (`AzmxStatus`).
            pub const fn c_status(self) -> i32 {
                match self { $(Self::$kind => $status,)* }
            }

            /// The code Node throws: [`code`](Self::code) except where an
            /// older Node name is kept for compatibility.
            pub const fn node_code(self) -> &'static str {
                match self { $(Self::$kind => $node,)* }
            }
        }

        impl ApiError {
            /// This error's row in the table.
            pub fn kind(&self) -> ErrorKind {
                match self { $(Self::$kind { .. } => ErrorKind::$kind,)* }
            }
        }
    };
}

error_table! {
    InvalidArgument = 1, "INVALID_ARGUMENT", node "INVALID_ARGUMENT";
    NullPointer = 2, "NULL_POINTER", node "NULL_POINTER";
    BufferTooSmall = 3, "BUFFER_TOO_SMALL", node "BUFFER_TOO_SMALL";
    EmptyReceipt = 10, "EMPTY_RECEIPT", node "EMPTY_RECEIPT";
    EmptyLicenseId = 11, "EMPTY_LICENSE_ID", node "EMPTY_LICENSE_ID";
    InvalidBase64 = 12, "INVALID_BASE64", node "INVALID_BASE64";
    EnvelopeTooShort = 13, "ENVELOPE_TOO_SHORT", node "ENVELOPE_TOO_SHORT";
    UnsupportedVersion = 14, "UNSUPPORTED_VERSION", node "UNSUPPORTED_VERSION";
    DecryptFailed = 15, "DECRYPT_FAILED", node "DECRYPT_FAILED";
    BlobIntegrity = 16, "BLOB_INTEGRITY", node "BLOB_INTEGRITY";
    KeyFile = 17, "KEY_FILE", node "KEY_FILE";
    MalformedField = 18, "MALFORMED_FIELD", node "MALFORMED_FIELD";
    BadSignature = 19, "BAD_SIGNATURE", node "BAD_SIGNATURE";
    ClockSkew = 20, "CLOCK_SKEW", node "CLOCK_SKEW";
    InvalidJson = 30, "INVALID_JSON", node "INVALID_JSON";
    InvalidTodos = 31, "INVALID_RECORD", node "INVALID_RECORD";
    InvalidStoreName = 32, "INVALID_STORE_NAME", node "INVALID_STORE_NAME";
    // C and Node report it as an invalid store name (`problem:
    // builtinRedefined` in Node); uniffi has its own type for it.
    BuiltinStoreRedefined = 32, "BUILTIN_STORE_REDEFINED", node "INVALID_STORE_NAME";
    UnknownStore = 33, "UNKNOWN_STORE", node "UNKNOWN_STORE";
    WrongReceipt = 40, "WRONG_RECEIPT", node "WRONG_RECEIPT";
    NoReceipt = 41, "NO_RECEIPT", node "NO_RECEIPT";
    NotRegistered = 42, "NOT_REGISTERED", node "NOT_REGISTERED";
    Revoked = 43, "REVOKED", node "REVOKED";
    RelayUnreachable = 44, "RELAY_UNREACHABLE", node "NETWORK";
    RateLimited = 45, "RATE_LIMITED", node "RATE_LIMITED";
    RelayError = 46, "RELAY_ERROR", node "RELAY_ERROR";
    StoreFailed = 47, "HOST_CALLBACK_FAILED", node "STORE_ERROR";
    // The C ABI has always reported engine configuration mistakes (a store
    // registered twice) as INVALID_ARGUMENT.
    Config = 1, "CONFIG", node "CONFIG";
    StateDir = 48, "STATE_DIR", node "STATE_IO";
    ExportFormat = 49, "EXPORT_FORMAT", node "EXPORT_FORMAT";
    // Node only: a call from inside the engine's own store callback (C and
    // uniffi callbacks run under the core's cycle lock and cannot re-enter).
    Busy = 98, "BUSY", node "BUSY";
    Internal = 98, "INTERNAL", node "INTERNAL";
    Panic = 99, "PANIC", node "PANIC";
}

/// The C status names and numbers (`AzmxStatus`), `OK` included. Every
/// [`ErrorKind`] whose code is one of these names has its number; the
/// others share a number with a listed reason (see [`ErrorKind::c_name`]).
pub const C_STATUSES: &[(i32, &str)] = &[
    (0, "OK"),
    (1, "INVALID_ARGUMENT"),
    (2, "NULL_POINTER"),
    (3, "BUFFER_TOO_SMALL"),
    (10, "EMPTY_RECEIPT"),
    (11, "EMPTY_LICENSE_ID"),
    (12, "INVALID_BASE64"),
    (13, "ENVELOPE_TOO_SHORT"),
    (14, "UNSUPPORTED_VERSION"),
    (15, "DECRYPT_FAILED"),
    (16, "BLOB_INTEGRITY"),
    (17, "KEY_FILE"),
    (18, "MALFORMED_FIELD"),
    (19, "BAD_SIGNATURE"),
    (20, "CLOCK_SKEW"),
    (30, "INVALID_JSON"),
    (31, "INVALID_RECORD"),
    (32, "INVALID_STORE_NAME"),
    (33, "UNKNOWN_STORE"),
    (40, "WRONG_RECEIPT"),
    (41, "NO_RECEIPT"),
    (42, "NOT_REGISTERED"),
    (43, "REVOKED"),
    (44, "RELAY_UNREACHABLE"),
    (45, "RATE_LIMITED"),
    (46, "RELAY_ERROR"),
    (47, "HOST_CALLBACK_FAILED"),
    (48, "STATE_DIR"),
    (49, "EXPORT_FORMAT"),
    (98, "INTERNAL"),
    (99, "PANIC"),
];

impl ErrorKind {
    /// The name of this kind's C status (`"INVALID_ARGUMENT"` for `Config`).
    pub fn c_name(self) -> &'static str {
        c_status_name(self.c_status()).expect("every kind has a C status")
    }
}

/// The name of a C status number, `None` for a number that is not one.
pub fn c_status_name(status: i32) -> Option<&'static str> {
    C_STATUSES
        .iter()
        .find(|(n, _)| *n == status)
        .map(|(_, name)| *name)
}

crate::shared_causes! {
    /// Every public error, one variant per cause.
    ///
    /// Field names are what Node shows as properties (in camelCase, see
    /// [`ApiError::details`]); `detail` fields hold a secret-free message.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum ApiError {
        before {
            /// An argument has an invalid value (bad UTF-8, unknown enum value, ...).
            #[error("{detail}")]
            InvalidArgument { detail: String },
            /// A required C pointer argument is NULL.
            #[error("{detail}")]
            NullPointer { detail: String },
            /// A caller-owned C output buffer is too small.
            #[error("{detail}")]
            BufferTooSmall { detail: String },
        }
        envelope causes,
        between {
            /// A blob's SHA-256 differs from the one it travelled with.
            #[error("blob integrity check failed: expected sha256 {expected}, got {actual}")]
            BlobIntegrity { expected: String, actual: String },
            #[error("key file {path}: {problem}")]
            KeyFile {
                path: String,
                problem: KeyFileProblem,
            },
        }
        field causes,
        then {
            /// `skew_secs` is `ts − now`. `max_secs` is the allowed skew of a
            /// signed-request check; `None` when the relay measured the skew.
            #[error("{}", skew_message(*skew_secs, *max_secs))]
            ClockSkew {
                skew_secs: i64,
                max_secs: Option<i64>,
            },
            /// `what` names the argument (`local_json`, `incoming[3].body`), never
            /// its content; `problem` is serde's error category.
            #[error("`{what}` is not valid JSON for this call: {problem} at line {line}, column {column}")]
            InvalidJson {
                what: String,
                problem: &'static str,
                line: u64,
                column: u64,
            },
            #[error("invalid todo list: {problem}")]
            InvalidTodos { problem: TodoInvalid },
            #[error("{problem}")]
            InvalidStoreName { problem: StoreNameError },
            /// A built-in store's name with another contract or validator.
            #[error("store `{name}` is built in and cannot be redefined")]
            BuiltinStoreRedefined { name: String },
            #[error("no built-in store is named `{name}` (snippets, todos, memory)")]
            UnknownStore { name: String },
            /// `detail` is the engine's message: with the two license
            /// authority fingerprints when the relay's key told the receipt
            /// apart (never the receipt).
            #[error("{detail}")]
            WrongReceipt { detail: String },
            #[error("{}", EngineError::NoReceipt)]
            NoReceipt,
            #[error("{}", EngineError::NotRegistered)]
            NotRegistered,
            #[error("{}", EngineError::Revoked)]
            Revoked,
        }
        engine causes as (RelayUnreachable, RelayError),
        after {
            /// The engine was called from inside one of its own store callbacks.
            #[error("{detail}")]
            Busy { detail: String },
            /// A cause no binding classifies yet; `code` is the core's machine code
            /// (`"internal"` when there is none).
            #[error("{detail}")]
            Internal { code: String, detail: String },
            /// A Rust panic caught at a binding boundary (`detail` names the entry
            /// point, never the payload).
            #[error("{detail}")]
            Panic { detail: String },
        }
    }
}

fn skew_message(skew_secs: i64, max_secs: Option<i64>) -> String {
    match max_secs {
        Some(max) => format!("clock skew of {skew_secs} s exceeds the allowed ±{max} s"),
        None => format!("clock skew of {skew_secs} s against the relay"),
    }
}

impl ApiError {
    /// The stable string code (`"DECRYPT_FAILED"`).
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// The C status number (`AzmxStatus`).
    pub fn c_status(&self) -> i32 {
        self.kind().c_status()
    }

    /// A JSON argument that did not parse: where, and serde's category and
    /// position, never the text (serde messages can quote values).
    pub fn invalid_json(what: impl Into<String>, e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        Self::InvalidJson {
            what: what.into(),
            problem: match e.classify() {
                Category::Io => "I/O error",
                Category::Syntax => "syntax error",
                Category::Data => "wrong shape (not the expected records)",
                Category::Eof => "unexpected end",
            },
            line: e.line() as u64,
            column: e.column() as u64,
        }
    }

    pub fn invalid_argument(detail: impl Into<String>) -> Self {
        Self::InvalidArgument {
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal {
            code: "internal".into(),
            detail: detail.into(),
        }
    }

    /// The error for a panic caught inside `entry_point`.
    pub fn panic_in(entry_point: &str) -> Self {
        Self::Panic {
            detail: format!("internal error: panic inside {entry_point}"),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::EmptyReceipt => Self::EmptyReceipt,
            CoreError::EmptyLicenseId => Self::EmptyLicenseId,
            CoreError::InvalidBase64 => Self::InvalidBase64,
            CoreError::EnvelopeTooShort { len } => Self::EnvelopeTooShort { len: len as u64 },
            CoreError::UnsupportedVersion(version) => Self::UnsupportedVersion { version },
            CoreError::DecryptFailed => Self::DecryptFailed,
            CoreError::BlobIntegrity { expected, actual } => {
                Self::BlobIntegrity { expected, actual }
            }
            CoreError::KeyFile { path, problem } => Self::KeyFile {
                path: path.to_string_lossy().into_owned(),
                problem,
            },
            CoreError::MalformedField { field, reason } => Self::MalformedField {
                field: field.into(),
                reason: reason.into(),
            },
            CoreError::BadSignature => Self::BadSignature,
            CoreError::ClockSkew {
                skew_secs,
                max_secs,
            } => Self::ClockSkew {
                skew_secs,
                max_secs: Some(max_secs),
            },
            // The core's messages never carry secrets (see its `error` module).
            other => Self::Internal {
                code: other.code().into(),
                detail: other.to_string(),
            },
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            e @ EngineError::WrongReceipt { .. } => Self::WrongReceipt {
                detail: e.to_string(),
            },
            EngineError::NoReceipt => Self::NoReceipt,
            EngineError::NotRegistered => Self::NotRegistered,
            EngineError::Revoked => Self::Revoked,
            EngineError::ClockSkew { skew_secs } => Self::ClockSkew {
                skew_secs,
                max_secs: None,
            },
            EngineError::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
            EngineError::Network { message } => Self::RelayUnreachable { detail: message },
            EngineError::Relay {
                status,
                code,
                message,
            } => Self::RelayError {
                status,
                code,
                detail: message,
            },
            EngineError::Store { store, message } => Self::StoreFailed {
                store,
                detail: message,
            },
            EngineError::Config(detail) => Self::Config { detail },
            // A relay URL the engine refuses to use is a configuration
            // mistake; a refused certificate means the relay cannot be
            // reached safely. Both keep the core's message (the host, the
            // certificate problem), with no new public cause per binding.
            e @ EngineError::InsecureRelayUrl { .. } => Self::Config {
                detail: e.to_string(),
            },
            e @ EngineError::Certificate { .. } => Self::RelayUnreachable {
                detail: e.to_string(),
            },
            EngineError::State { path, message } => Self::StateDir {
                path,
                detail: message,
            },
            EngineError::ExportFormat(detail) => Self::ExportFormat { detail },
            EngineError::Core(c) => c.into(),
            // `SyncError` is non-exhaustive; a future cause keeps its code.
            other => Self::Internal {
                code: other.code().into(),
                detail: other.to_string(),
            },
        }
    }
}

impl From<TodoInvalid> for ApiError {
    fn from(problem: TodoInvalid) -> Self {
        Self::InvalidTodos { problem }
    }
}

impl From<StoreNameError> for ApiError {
    fn from(problem: StoreNameError) -> Self {
        Self::InvalidStoreName { problem }
    }
}
