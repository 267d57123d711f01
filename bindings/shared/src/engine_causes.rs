//! [`engine_causes!`]: the engine causes whose fields and message are the
//! same in [`ApiError`](crate::ApiError) and in a binding's own error enum
//! (uniffi's `SyncError` must be declared in its crate): the variants, their
//! docs and messages are written here once, and so is the mapping from
//! `ApiError`.

/// Declares `enum $name` with `$head` variants, then the shared engine
/// causes (`RateLimited`, the two relay causes under the names given, the
/// store, configuration, state-directory and export causes), then `$tail`.
/// The enum must derive `thiserror::Error`. With `map fn_name`, also
/// `fn fn_name(ApiError) -> Result<Self, ApiError>`: the shared cause as
/// this enum's variant, or the error back.
#[macro_export]
macro_rules! engine_causes {
    (
        $(#[$attr:meta])*
        $vis:vis enum $name:ident { $($head:tt)* }
        engine causes as ($network:ident, $relay:ident) $(, map $map:ident)?;
        then { $($tail:tt)* }
    ) => {
        $(#[$attr])*
        $vis enum $name {
            $($head)*
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
            $($tail)*
        }

        $(
        impl $name {
            /// This enum's variant for a shared engine cause, else `e` back.
            fn $map(e: $crate::ApiError) -> ::std::result::Result<Self, $crate::ApiError> {
                use $crate::ApiError as A;
                Ok(match e {
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
