//! Error answers in the description: one schema per [`ErrorCode`] (the
//! common [`ErrorBody`] with that code and the fields the code carries),
//! and per operation one response per status, listing exactly the codes
//! that operation can answer with at that status.

use std::collections::BTreeMap;

use azmx_sync_core::protocol::{headers, ErrorBody, ErrorCode};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{
    ContentBuilder, Header, Ref, RefOr, Response, ResponseBuilder, Responses, ResponsesBuilder,
};
use utoipa::{PartialSchema, ToSchema};

/// The fields an error body always carries with `code` (beyond `error`
/// and `message`), as the handlers fill them in.
fn carries(code: ErrorCode) -> &'static [&'static str] {
    match code {
        ErrorCode::ClockSkew => &["serverTime"],
        ErrorCode::SeqConflict => &["lastSeq", "existingSha256"],
        ErrorCode::KeycheckExists => &["existingSha256"],
        ErrorCode::TooLarge => &["maxBytes"],
        ErrorCode::RateLimited | ErrorCode::Busy => &["retryAfter"],
        _ => &[],
    }
}

/// The component name of a code's schema: `clock_skew` → `ClockSkewError`.
pub(super) fn schema_name(code: ErrorCode) -> String {
    let mut name = String::new();
    for word in code.as_str().split('_') {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    name + "Error"
}

/// `ErrorBody` and one schema per code, for `components.schemas`.
pub(super) fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut out = vec![(ErrorBody::name().into_owned(), ErrorBody::schema())];
    for code in ErrorCode::ALL {
        let mut own = ObjectBuilder::new().schema_type(Type::Object).property(
            "error",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([code.as_str()])),
        );
        for field in carries(code) {
            own = own.required(*field);
        }
        let schema = AllOfBuilder::new()
            .item(Ref::from_schema_name(ErrorBody::name()))
            .item(own.required("error").required("message"))
            .description(Some(format!(
                "`{}` (HTTP {})",
                code.as_str(),
                code.status()
            )))
            .build();
        out.push((schema_name(code), Schema::AllOf(schema).into()));
    }
    out
}

/// A header every answer of a response carries. utoipa's `Header` has no
/// `required` field (OpenAPI's Header Object does), so it is written as
/// an extension, which serialises as a plain member.
fn required_header(schema: impl Into<RefOr<Schema>>, description: &str) -> Header {
    let mut h = Header::new(schema);
    h.description = Some(description.to_string());
    h.extensions = Some(Extensions::from_iter([("required", true)]));
    h
}

fn retry_after(required: bool) -> Header {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some("^[1-9][0-9]*$"));
    let description = "seconds to wait before sending the request again";
    if required {
        required_header(schema, description)
    } else {
        let mut h = Header::new(schema);
        h.description = Some(description.to_string());
        h
    }
}

/// The response for one status: its codes, one of their schemas.
fn error_response(codes: &[ErrorCode], extra: &[(&str, Header)]) -> Response {
    let refs: Vec<Ref> = codes
        .iter()
        .map(|c| Ref::from_schema_name(schema_name(*c)))
        .collect();
    let schema: RefOr<Schema> = match &refs[..] {
        [one] => one.clone().into(),
        _ => {
            let mut one_of = OneOfBuilder::new();
            for r in refs {
                one_of = one_of.item(r);
            }
            Schema::OneOf(one_of.build()).into()
        }
    };
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let mut b = ResponseBuilder::new()
        .description(format!("`{}`", names.join("`, `")))
        .content(
            headers::JSON,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    let with_retry = codes.iter().filter(|c| carries_retry_after(**c)).count();
    if with_retry > 0 {
        b = b.header(headers::RETRY_AFTER, retry_after(with_retry == codes.len()));
    }
    for (name, h) in extra {
        b = b.header(*name, h.clone());
    }
    b.build()
}

fn carries_retry_after(code: ErrorCode) -> bool {
    carries(code).contains(&"retryAfter")
}

/// Codes this module places on operations (see [`super::operations`]);
/// every other code of [`ErrorCode::ALL`] (one added to the protocol
/// later) is documented on every operation until it is placed.
pub(super) const PLACED: &[ErrorCode] = &[
    ErrorCode::Malformed,
    ErrorCode::Sha256Mismatch,
    ErrorCode::BadLicense,
    ErrorCode::UnknownDevice,
    ErrorCode::BadSignature,
    ErrorCode::ClockSkew,
    ErrorCode::Unauthorized,
    ErrorCode::Revoked,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::Timeout,
    ErrorCode::SeqConflict,
    ErrorCode::KeycheckExists,
    ErrorCode::TooLarge,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
    ErrorCode::StorageFailed,
    ErrorCode::Busy,
    ErrorCode::LengthRequired,
    ErrorCode::QuotaExceeded,
    ErrorCode::AuthorityRequired,
    ErrorCode::BadAuthoritySignature,
    ErrorCode::AuthorityExists,
    ErrorCode::AuthorityClaimClosed,
    ErrorCode::DeviceLimit,
];

/// The error responses of an operation answering `codes` (plus the codes
/// no operation places), with `extra` headers on a status's response.
pub(super) fn responses(
    mut b: ResponsesBuilder,
    codes: &[ErrorCode],
    extra: &[(u16, &str, Header)],
) -> Responses {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    let unplaced = ErrorCode::ALL.into_iter().filter(|c| !PLACED.contains(c));
    for code in codes.iter().copied().chain(unplaced) {
        let list = by_status.entry(code.status()).or_default();
        if !list.contains(&code) {
            list.push(code);
        }
    }
    for (status, codes) in by_status {
        let headers: Vec<(&str, Header)> = extra
            .iter()
            .filter(|(s, _, _)| *s == status)
            .map(|(_, n, h)| (*n, h.clone()))
            .collect();
        b = b.response(status.to_string(), error_response(&codes, &headers));
    }
    b.build()
}

/// `WWW-Authenticate: Bearer` on the admin route's 401.
pub(super) fn www_authenticate() -> Header {
    required_header(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["Bearer"])),
        "the admin route's authentication scheme",
    )
}

/// `X-Sha256` on a blob answer.
pub(super) fn sha256_header() -> Header {
    required_header(
        azmx_sync_core::protocol::openapi::sha256(),
        "hex SHA-256 of the body: check it before opening the envelope",
    )
}
