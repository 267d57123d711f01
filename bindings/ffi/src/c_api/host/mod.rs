//! What a C host supplies to the sync engine: store adapters ([`store`])
//! and, optionally, an HTTP transport ([`transport`]), as structs of
//! function pointers plus a `void *user_data`, and the bridges that put
//! them behind the core's `StoreAdapter` and `HttpTransport` traits.
//!
//! Records cross as JSON text: the core's camelCase record objects
//! `{"id", "scope"?, "updatedAt", "version"?, "deleted"?, "deviceId", "body"?}`
//! (see `azmx_merge`), produced and parsed with serde of the core types.
//!
//! The callback rules (return values, threads, reentrancy, pointer and
//! `user_data` lifetimes) are written once, on
//! [`AzmxStoreAdapter`](store::AzmxStoreAdapter), where the header shows them.

// cbindgen writes the functions module by module in declaration order:
// one group per module keeps rustfmt from sorting them.
pub mod store;

pub mod transport;

pub(crate) use store::CStore;
pub use store::{AzmxChange, AzmxStoreAdapter};
pub use transport::AzmxHttpTransport;
pub(crate) use transport::CTransport;
