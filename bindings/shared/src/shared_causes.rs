//! [`shared_causes!`]: the causes whose fields and message are the same in
//! [`ApiError`](crate::ApiError) and in a binding's own error enum (uniffi's
//! `SyncError` must be declared in its crate): the envelope, field and
//! engine causes. Their variants, docs and messages are written here once,
//! and so is the mapping from `ApiError`.

/// Declares `enum $name`: the `before` variants, the envelope causes
/// (`EmptyReceipt` … `DecryptFailed`), the `between` variants, the field
/// causes (`MalformedField`, `BadSignature`), the `then` variants, the engine
/// causes (`RateLimited`, the two relay causes under the names given, the
/// store, configuration, state-directory and export causes), then the
/// `after` variants. The enum must derive `thiserror::Error`. With
/// `map fn_name`, also `fn fn_name(ApiError) -> Result<Self, ApiError>`: a
/// shared cause as this enum's variant, or the error back.
#[macro_export]
macro_rules! shared_causes {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident {
            before { $($before:tt)* }
            envelope causes,
            between { $($between:tt)* }
            field causes,
            then { $($then:tt)* }
            engine causes as ($network:ident, $relay:ident),
            after { $($after:tt)* }
        }
        $(map $map:ident)?
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $($before)*
            #[error("{}", ::azmx_sync_core::Error::EmptyReceipt)]
            EmptyReceipt,
            #[error("{}", ::azmx_sync_core::Error::EmptyLicenseId)]
            EmptyLicenseId,
            /// Text is not canonical unpadded base64url.
            #[error("{}", ::azmx_sync_core::Error::InvalidBase64)]
            InvalidBase64,
            #[error("envelope is {len} bytes, shorter than the 29-byte minimum")]
            EnvelopeTooShort { len: u64 },
            #[error("{}", ::azmx_sync_core::Error::UnsupportedVersion(*version))]
            UnsupportedVersion { version: u8 },
            /// The AES-GCM tag did not verify: wrong key or tampered ciphertext.
            #[error("{}", ::azmx_sync_core::Error::DecryptFailed)]
            DecryptFailed,
            $($between)*
            #[error("malformed field `{field}`: {reason}")]
            MalformedField { field: String, reason: String },
            #[error("{}", ::azmx_sync_core::Error::BadSignature)]
            BadSignature,
            $($then)*
            /// The relay asked the engine to slow down.
            #[error("relay rate limit; retry after {retry_after_secs} s")]
            RateLimited { retry_after_secs: u64 },
            /// The relay could not be reached (or the host transport failed).
            #[error("relay unreachable: {detail}")]
            $network { detail: String },
            /// The relay answered with an error the engine cannot act on.
            #[error("relay error {status} `{code}`: {detail}")]
            $relay {
                status: u16,
                code: String,
                detail: String,
            },
            /// A host store adapter failed (`detail`: the host's message as given).
            /// (Fields are named `detail`, not `message`: Kotlin exceptions own `message`.)
            #[error("store `{store}` failed: {detail}")]
            StoreFailed { store: String, detail: String },
            /// Engine configuration problem (store registered twice, ...).
            #[error("invalid configuration: {detail}")]
            Config { detail: String },
            /// Reading or writing the engine's state directory failed.
            #[error("state directory {path}: {detail}")]
            StateDir { path: String, detail: String },
            /// Export/import file problem.
            #[error("export file: {detail}")]
            ExportFormat { detail: String },
            $($after)*
        }

        $(
        impl $name {
            /// This enum's variant for a shared cause, else `e` back.
            fn $map(e: $crate::ApiError) -> ::std::result::Result<Self, $crate::ApiError> {
                use $crate::ApiError as A;
                Ok(match e {
                    A::EmptyReceipt => Self::EmptyReceipt,
                    A::EmptyLicenseId => Self::EmptyLicenseId,
                    A::InvalidBase64 => Self::InvalidBase64,
                    A::EnvelopeTooShort { len } => Self::EnvelopeTooShort { len },
                    A::UnsupportedVersion { version } => Self::UnsupportedVersion { version },
                    A::DecryptFailed => Self::DecryptFailed,
                    A::MalformedField { field, reason } => Self::MalformedField { field, reason },
                    A::BadSignature => Self::BadSignature,
                    A::RateLimited { retry_after_secs } => Self::RateLimited { retry_after_secs },
                    A::RelayUnreachable { detail } => Self::$network { detail },
                    A::RelayError { status, code, detail } => Self::$relay { status, code, detail },
                    A::StoreFailed { store, detail } => Self::StoreFailed { store, detail },
                    A::Config { detail } => Self::Config { detail },
                    A::StateDir { path, detail } => Self::StateDir { path, detail },
                    A::ExportFormat { detail } => Self::ExportFormat { detail },
                    other => return Err(other),
                })
            }
        }
        )?
    };
}
