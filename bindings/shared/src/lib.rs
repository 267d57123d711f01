//! `azmx-sync-bridge`: everything that is the same in every binding,
//! written once. The bindings (uniffi for Python/Kotlin/Swift in
//! `bindings/ffi/src/uniffi_api`, the C ABI in `bindings/ffi/src/c_api`,
//! Node in `bindings/node`) only map these types to their own.
//!
//! - [`error`]: [`ApiError`], the one public error, and its table
//!   ([`ErrorKind`]: stable code, C status number, Node code); the core →
//!   public mapping; [`error_details`]: its fields as `(camelCase, value)`.
//! - [`store_spec`]: the checked store spec (built-in names cannot be
//!   redefined), the one name for contracts and validators.
//! - [`engine`]: [`Engine`], the public method set of the sync engine.
//! - [`call`]: around each call: the panic boundary, the re-entry flag, the
//!   host objects callable during the call.
//! - [`events`]: activity events with their [`Severity`](events::Severity).
//! - [`host`]: what host callbacks hand back (snapshots, transport
//!   answers), in the core's form.
//! - [`records`]: `merge_records`; records and merge outcomes as JSON (C, Node).
//! - [`plain`]: results and events as plain JSON values (Node).
//! - [`schedule`]: the state of a schedule a host drives from its own
//!   timers (Node).
//! - [`identity`]: the `fingerprint_of` rule, `verify_signed`;
//!   [`crypto`]: envelope sizes.
//! - [`shared_causes`]: the causes ApiError shares with uniffi's error.
//! - [`forward`]: [`forward_methods!`], the facade's pass-through methods.
//! - [`mirror`]: macros for the enums a binding must declare itself.
//!
//! The list of exports per binding, and why some are absent from one, is
//! `bindings/surface.toml` (checked by `scripts/test.d/35-surface.sh`).
//!
//! No FFI here: no uniffi, no napi, no `extern "C"`.

pub mod call;
pub mod crypto;
pub mod engine;
pub mod error;
pub mod error_details;
pub mod events;
pub mod forward;
pub mod host;
pub mod identity;
pub mod mirror;
pub mod plain;
pub mod records;
pub mod schedule;
pub mod shared_causes;
pub mod store_spec;

pub use engine::Engine;
pub use error::{ApiError, ErrorKind};
pub use error_details::DetailValue;

#[cfg(test)]
mod tests;
