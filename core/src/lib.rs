//! azmx-sync core: the crypto-and-protocol heart of cross-device sync.
//!
//! Nothing in this crate knows about FFI, HTTP servers or databases. It holds:
//! - [`kdf`]: the envelope key, derived from the recovery receipt with PBKDF2;
//! - [`receipt`]: typable receipts with a checksum, and a strength verdict;
//! - [`authority`]: the license authority key, derived from the same PBKDF2
//!   output with HKDF, and [`canonical_authority`], the statements it signs;
//! - [`envelope`]: the v1 sealed-envelope format (`0x01 | iv | ciphertext+tag`);
//! - [`integrity`]: SHA-256 blob verification, run before any decrypt;
//! - [`identity`]: the device's ed25519 key, kept in a 0600 key file;
//! - [`canonical`]: the pinned signed-request strings and their verification;
//! - [`merge`]: per-store merge contracts;
//! - [`protocol`]: the relay's routes, headers and JSON bodies, shared with
//!   the relay.
//!
//! The wire contract is specified in `docs/PROTOCOL.md`.

pub mod authority;
pub mod b64;
pub mod canonical;
pub mod canonical_authority;
pub mod engine;
pub mod envelope;
pub mod error;
mod fsutil;
pub mod identity;
pub mod integrity;
pub mod kdf;
pub mod merge;
pub mod protocol;
pub mod receipt;

pub use authority::{AuthorityKey, AuthorityPublicKey, ReceiptKeys};
pub use canonical::{SignedRequest, MAX_SKEW_SECS};
pub use canonical_authority::AuthorityStatement;
pub use envelope::{
    open, open_into, open_text, opened_len, seal, seal_into, seal_text, sealed_len,
    ENVELOPE_VERSION, MIN_ENVELOPE_LEN,
};
pub use error::Error;
pub use identity::DeviceIdentity;
pub use integrity::{sha256_hex, verify_blob};
pub use kdf::EnvelopeKey;
