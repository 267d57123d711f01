//! The field rules of the wire (PROTOCOL §5 and §10) as JSON Schema, for
//! the OpenAPI description the relay serves: the `schema_with` functions
//! the body types' `ToSchema` derives use, and the patterns and bounds the
//! relay's header and query parameters reuse. Behind the `openapi` feature
//! (the relay turns it on; devices never need it).
//!
//! Patterns are ECMA-262 (OpenAPI 3.1) and mean what the code checks:
//! `canonical::check_id`, `check_name`, the strict base64url of keys and
//! signatures, the canonical decimals of `parse_u64`/`parse_ts`.

use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{KnownFormat, SchemaFormat};
use utoipa::Number;

use crate::canonical::{MAX_ID_LEN, MAX_NAME_CHARS};

/// `licenseId`, `deviceId` and the other ids: 1–128 bytes of `0x21–0x7E`
/// except `|` (`check_id`).
pub const ID_PATTERN: &str = "^[!-{}~]{1,128}$";
/// `deviceName`: 1–64 Unicode scalar values, no `|`, no control character
/// (Unicode category Cc, as Rust's `char::is_control`).
pub const NAME_PATTERN: &str = "^[^|\\u0000-\\u001F\\u007F-\\u009F]{1,64}$";
/// base64url without padding of 32 bytes (an Ed25519 public key, a license
/// authority key): 43 characters, the last one carrying 4 bits and two
/// zero bits (a decoder refuses non-zero trailing bits).
pub const KEY32_PATTERN: &str = "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$";
/// base64url without padding of a 64-byte Ed25519 signature: 86
/// characters, the last one carrying 2 bits and four zero bits.
pub const SIGNATURE_PATTERN: &str = "^[A-Za-z0-9_-]{85}[AQgw]$";
/// A blob's SHA-256: 64 lowercase hex digits.
pub const SHA256_PATTERN: &str = "^[0-9a-f]{64}$";
/// A canonical decimal u64 of at most 19 digits (seqs are at most
/// 2^63 − 1; a larger 19-digit value is refused with `400 malformed`).
pub const SEQ_PATTERN: &str = "^(0|[1-9][0-9]{0,18})$";
/// A canonical decimal i64 (`X-Ts`): `-` allowed, no `+`, no leading
/// zeros, no `-0`.
pub const TS_PATTERN: &str = "^(0|-?[1-9][0-9]{0,18})$";
/// A pull cursor as this relay hands them out: empty, or `c_` and a
/// canonical decimal.
pub const CURSOR_PATTERN: &str = "^(c_(0|[1-9][0-9]{0,18}))?$";
/// The largest seq the relay stores (its stores keep seqs as i64).
pub const MAX_SEQ: u64 = i64::MAX as u64;

fn string(pattern: &str, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .description(Some(description))
}

fn nullable(b: ObjectBuilder) -> Object {
    b.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .build()
}

/// An id (`check_id`).
pub fn id() -> Object {
    string(
        ID_PATTERN,
        "1–128 bytes of printable ASCII (0x21–0x7E) except `|` (PROTOCOL §5)",
    )
    .min_length(Some(1))
    .max_length(Some(MAX_ID_LEN))
    .build()
}

/// A device name (`check_name`).
pub fn device_name() -> Object {
    string(
        NAME_PATTERN,
        "1–64 characters, no `|`, no control characters",
    )
    .min_length(Some(1))
    .max_length(Some(MAX_NAME_CHARS))
    .build()
}

/// An Ed25519 public key.
pub fn public_key() -> Object {
    string(
        KEY32_PATTERN,
        "base64url (no padding) of a valid 32-byte Ed25519 point",
    )
    .build()
}

/// An Ed25519 signature.
pub fn signature() -> Object {
    string(
        SIGNATURE_PATTERN,
        "base64url (no padding) of a 64-byte Ed25519 signature",
    )
    .build()
}

/// A license authority key, or `null`.
pub fn nullable_key() -> Object {
    nullable(string(
        KEY32_PATTERN,
        "base64url (no padding) of a license authority Ed25519 public key (PROTOCOL §11)",
    ))
}

/// An optional authority signature (`null` or absent: none).
pub fn nullable_signature() -> Object {
    nullable(string(
        SIGNATURE_PATTERN,
        "base64url (no padding) of a 64-byte Ed25519 signature by the license authority key (PROTOCOL §11)",
    ))
}

/// The license's secret key.
pub fn license_key() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "the license's secret key (base64url of 32 random bytes, from `license add`); \
             the relay keeps only its SHA-256",
        ))
        .max_length(Some(1024))
        .build()
}

/// A SHA-256 in hex.
pub fn sha256() -> Object {
    string(SHA256_PATTERN, "hex SHA-256 of the sealed blob").build()
}

/// The SHA-256 stored at the requested seq, or `null` when none is.
pub fn nullable_sha256() -> Object {
    nullable(string(
        SHA256_PATTERN,
        "hex SHA-256 of the blob stored there, `null` when none is",
    ))
}

/// A pull cursor.
pub fn cursor() -> Object {
    string(
        CURSOR_PATTERN,
        "opaque pull cursor: send it back as `since`",
    )
    .max_length(Some(MAX_ID_LEN))
    .build()
}

/// A seq (0 ≤ seq ≤ 2^63 − 1).
pub fn seq() -> Object {
    integer(0u64, MAX_SEQ, "a device's push sequence number")
}

/// Unix seconds (any i64).
pub fn unix_seconds() -> Object {
    integer(i64::MIN, i64::MAX, "unix seconds")
}

/// An integer in `min..=max`.
pub fn integer(min: impl Into<Number>, max: impl Into<Number>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(min))
        .maximum(Some(max))
        .description(Some(description))
        .build()
}
