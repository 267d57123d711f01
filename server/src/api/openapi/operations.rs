//! One OpenAPI operation per route of the router: its parameters (signing
//! headers, query, path), its request body with the relay's size limit,
//! its success answer and the error codes its handler and the layers in
//! front of it can answer with (`docs/PROTOCOL.md` §10).

use azmx_sync_core::protocol::openapi as fields;
use azmx_sync_core::protocol::{
    headers, routes, AuthorityResponse, DevicesResponse, ErrorCode, HealthResponse, InitRequest,
    InitResponse, KeycheckPutResponse, PruneRequest, PruneResponse, PullPage, PushResponse,
    RevokeRequest, RevokeResponse,
};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter, ParameterIn};
use utoipa::openapi::request_body::{RequestBody, RequestBodyBuilder};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{
    ContentBuilder, Header, KnownFormat, Ref, Required, ResponseBuilder, ResponsesBuilder,
    SchemaFormat,
};
use utoipa::ToSchema;

use super::errors;
use crate::{Limits, MAX_JSON_BYTES, MAX_KEYCHECK_BYTES, MAX_PULL_LIMIT};

/// The name of the admin bearer token's security scheme.
pub(super) const ADMIN_TOKEN: &str = "adminToken";

/// Answers of every request that gets past `/healthz`'s exemption: the
/// per-address limit, the body admission and the request deadline.
const ADMISSION: &[ErrorCode] = &[
    ErrorCode::RateLimited,
    ErrorCode::LengthRequired,
    ErrorCode::TooLarge,
    ErrorCode::Busy,
    ErrorCode::Timeout,
];
/// What authenticating a signed request can answer (§10 steps 1–5), and a
/// store that fails underneath.
const SIGNED: &[ErrorCode] = &[
    ErrorCode::Malformed,
    ErrorCode::UnknownDevice,
    ErrorCode::BadSignature,
    ErrorCode::ClockSkew,
    ErrorCode::RateLimited,
    ErrorCode::Internal,
    ErrorCode::StorageFailed,
];
/// The authority signature checks of revoke and the key-check PUT (§11.4).
const AUTHORITY: &[ErrorCode] = &[
    ErrorCode::AuthorityRequired,
    ErrorCode::BadAuthoritySignature,
];

/// A route, its method and its operation.
pub(super) struct Route {
    pub(super) path: &'static str,
    pub(super) method: HttpMethod,
    pub(super) operation: Operation,
}

/// The header, path and query parameters shared by several operations,
/// for `components.parameters`.
pub(super) fn shared_parameters() -> Vec<(&'static str, Parameter)> {
    vec![
        (
            "DeviceId",
            header(
                headers::DEVICE_ID,
                fields::id(),
                "the `deviceId` that `POST /sync/init` returned",
            ),
        ),
        (
            "Ts",
            header(
                headers::TS,
                pattern(fields::TS_PATTERN),
                "the request's unix seconds, canonical decimal (within ±300 s of the relay's clock)",
            ),
        ),
        (
            "Signature",
            header(
                headers::SIGNATURE,
                fields::signature(),
                "base64url Ed25519 signature by the device's key over the request's canonical \
                 string (PROTOCOL §5: `verb|deviceId|...|ts`, fields from the headers, query, path \
                 or JSON body as §10 lists)",
            ),
        ),
        (
            "Sha256",
            header(
                headers::SHA256,
                fields::sha256(),
                "hex SHA-256 of the body",
            ),
        ),
        (
            "AuthoritySignature",
            Parameter::builder()
                .name(headers::AUTHORITY_SIGNATURE)
                .parameter_in(ParameterIn::Header)
                .required(Required::False)
                .schema(Some(fields::signature()))
                .description(Some(
                    "base64url signature by the license authority key over the request's \
                     authority statement (PROTOCOL §11.2); required once the license has an \
                     authority key",
                ))
                .build(),
        ),
    ]
}

fn param_ref(name: &str) -> Ref {
    Ref::new(format!("#/components/parameters/{name}"))
}

fn pattern(p: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(p))
        .build()
}

fn header(name: &str, schema: Object, description: &str) -> Parameter {
    Parameter::builder()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::True)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

fn path_param(name: &str, schema: Object, description: &str) -> Parameter {
    Parameter::builder()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(schema))
        .description(Some(description))
        .build()
}

/// An operation signed by a device: the three signing headers first.
fn signed(id: &str, summary: &str) -> OperationBuilder {
    OperationBuilder::new()
        .operation_id(Some(id))
        .summary(Some(summary))
        .tag("sync")
        .parameter_ref(param_ref("DeviceId"))
        .parameter_ref(param_ref("Ts"))
        .parameter_ref(param_ref("Signature"))
}

fn json_ok<T: ToSchema>(status: u16, description: &str) -> (u16, utoipa::openapi::Response) {
    let r = ResponseBuilder::new()
        .description(description)
        .content(
            headers::JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(T::name())))
                .build(),
        )
        .build();
    (status, r)
}

fn bytes_ok(description: &str) -> (u16, utoipa::openapi::Response) {
    let r = ResponseBuilder::new()
        .description(description)
        .content(
            headers::OCTET_STREAM,
            ContentBuilder::new().schema(Some(binary(None))).build(),
        )
        .header(headers::SHA256, errors::sha256_header())
        .build();
    (200, r)
}

fn binary(max: Option<usize>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .max_length(max)
        .build()
}

fn json_body<T: ToSchema>() -> RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .description(Some(format!(
            "JSON, at most {MAX_JSON_BYTES} bytes, with a `Content-Length`"
        )))
        .content(
            headers::JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(T::name())))
                .build(),
        )
        .build()
}

fn bytes_body(max: usize, what: &str) -> RequestBody {
    RequestBodyBuilder::new()
        .required(Some(Required::True))
        .description(Some(format!(
            "{what}: raw bytes, at most {max} bytes, with a `Content-Length`"
        )))
        .content(
            headers::OCTET_STREAM,
            ContentBuilder::new()
                .schema(Some(binary(Some(max))))
                .build(),
        )
        .build()
}

/// Finishes an operation: its success answers and its error answers.
fn finish(
    b: OperationBuilder,
    ok: Vec<(u16, utoipa::openapi::Response)>,
    codes: &[&[ErrorCode]],
    extra: &[(u16, &str, Header)],
) -> Operation {
    let mut r = ResponsesBuilder::new();
    for (status, resp) in ok {
        r = r.response(status.to_string(), resp);
    }
    let codes: Vec<ErrorCode> = codes.iter().flat_map(|c| c.iter().copied()).collect();
    b.responses(errors::responses(r, &codes, extra)).build()
}

fn route(path: &'static str, method: HttpMethod, operation: Operation) -> Route {
    Route {
        path,
        method,
        operation,
    }
}

/// Every route the router serves with an API answer (`routes`), in the
/// order of PROTOCOL §10.
pub(super) fn all(limits: &Limits) -> Vec<Route> {
    use ErrorCode as E;
    vec![
        route(
            routes::INIT,
            HttpMethod::Post,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("init"))
                    .summary(Some("Register a device"))
                    .tag("sync")
                    .description(Some(
                        "Signed in the body (`init|licenseId|publicKey|deviceName|ts` with the \
                         device's own key: proof of possession). The same public key again \
                         answers 200 with the same `deviceId`.",
                    ))
                    .request_body(Some(json_body::<InitRequest>())),
                vec![
                    json_ok::<InitResponse>(201, "a new device"),
                    json_ok::<InitResponse>(200, "this public key is already registered"),
                ],
                &[
                    ADMISSION,
                    &[
                        E::Malformed,
                        E::BadLicense,
                        E::BadSignature,
                        E::ClockSkew,
                        E::BadAuthoritySignature,
                        E::Revoked,
                        E::AuthorityRequired,
                        E::AuthorityClaimClosed,
                        E::DeviceLimit,
                        E::AuthorityExists,
                        E::Internal,
                        E::StorageFailed,
                    ],
                ],
                &[],
            ),
        ),
        route(
            routes::PUSH,
            HttpMethod::Post,
            finish(
                signed("push", "Store a sealed blob")
                    .description(Some(
                        "Canonical `push|X-Device-Id|X-Seq|X-Sha256|X-Ts`. Acknowledged only \
                         once durable; a retry of the same seq and bytes is recognised by \
                         `existingSha256` in the 409.",
                    ))
                    .parameter(header(
                        headers::SEQ,
                        pattern(fields::SEQ_PATTERN),
                        "the push's seq, canonical decimal, at most 2^63 − 1, greater than the \
                         device's last accepted seq",
                    ))
                    .parameter_ref(param_ref("Sha256"))
                    .request_body(Some(bytes_body(limits.max_body_bytes, "the sealed blob"))),
                vec![json_ok::<PushResponse>(201, "stored durably")],
                &[
                    ADMISSION,
                    SIGNED,
                    &[
                        E::Sha256Mismatch,
                        E::Revoked,
                        E::SeqConflict,
                        E::QuotaExceeded,
                    ],
                ],
                &[],
            ),
        ),
        route(
            routes::PULL,
            HttpMethod::Get,
            finish(
                signed("pull", "List the other devices' blobs")
                    .description(Some(
                        "Canonical `pull|X-Device-Id|since|limit|X-Ts` with the query's values \
                         (absent `since` is \"\", absent `limit` is 100; the signed limit is \
                         the one sent, even when the relay serves fewer).",
                    ))
                    .parameter(
                        Parameter::builder()
                            .name("since")
                            .parameter_in(ParameterIn::Query)
                            .schema(Some(fields::cursor()))
                            .description(Some(
                                "a `nextCursor` this relay returned; absent or empty: from the start",
                            )),
                    )
                    .parameter(
                        Parameter::builder()
                            .name("limit")
                            .parameter_in(ParameterIn::Query)
                            .schema(Some(fields::integer(
                                1u32,
                                u32::MAX,
                                &format!("page size (default 100; above {MAX_PULL_LIMIT} served as {MAX_PULL_LIMIT})"),
                            ))),
                    ),
                vec![json_ok::<PullPage>(200, "a page of the listing")],
                &[ADMISSION, SIGNED, &[E::Revoked]],
                &[],
            ),
        ),
        route(
            routes::BLOB,
            HttpMethod::Get,
            finish(
                signed("blob", "Fetch one blob")
                    .description(Some(
                        "Canonical `blob|X-Device-Id|owner|seq|X-Ts` with the path's values. \
                         A blob of another license answers like a missing one.",
                    ))
                    .parameter(path_param(
                        "owner",
                        fields::id(),
                        "the device that pushed the blob",
                    ))
                    .parameter(path_param("seq", fields::seq(), "its seq")),
                vec![bytes_ok("the sealed blob")],
                &[ADMISSION, SIGNED, &[E::Revoked, E::NotFound]],
                &[],
            ),
        ),
        route(
            routes::REVOKE,
            HttpMethod::Post,
            finish(
                signed("revoke", "Revoke a device of the license")
                    .description(Some(
                        "Canonical `revoke|X-Device-Id|targetDeviceId|X-Ts`. Idempotent.",
                    ))
                    .parameter_ref(param_ref("AuthoritySignature"))
                    .request_body(Some(json_body::<RevokeRequest>())),
                vec![json_ok::<RevokeResponse>(200, "revoked")],
                &[ADMISSION, SIGNED, AUTHORITY, &[E::Revoked, E::NotFound]],
                &[],
            ),
        ),
        route(
            routes::KEYCHECK,
            HttpMethod::Put,
            finish(
                signed("keycheckPut", "Set the license's key-check blob (once)")
                    .description(Some("Canonical `keycheck-put|X-Device-Id|X-Sha256|X-Ts`."))
                    .parameter_ref(param_ref("Sha256"))
                    .parameter_ref(param_ref("AuthoritySignature"))
                    .request_body(Some(bytes_body(MAX_KEYCHECK_BYTES, "the sealed key check"))),
                vec![json_ok::<KeycheckPutResponse>(201, "set")],
                &[
                    ADMISSION,
                    SIGNED,
                    AUTHORITY,
                    &[E::Sha256Mismatch, E::Revoked, E::KeycheckExists],
                ],
                &[],
            ),
        ),
        route(
            routes::KEYCHECK,
            HttpMethod::Get,
            finish(
                signed("keycheckGet", "Read the license's key-check blob")
                    .description(Some("Canonical `keycheck-get|X-Device-Id|X-Ts`.")),
                vec![bytes_ok("the sealed key check")],
                &[ADMISSION, SIGNED, &[E::Revoked, E::NotFound]],
                &[],
            ),
        ),
        route(
            routes::PRUNE,
            HttpMethod::Post,
            finish(
                signed("prune", "Drop the caller's blobs below a checkpoint")
                    .description(Some("Canonical `prune|X-Device-Id|checkpointSeq|X-Ts`."))
                    .request_body(Some(json_body::<PruneRequest>())),
                vec![json_ok::<PruneResponse>(200, "pruned")],
                &[ADMISSION, SIGNED, &[E::Revoked]],
                &[],
            ),
        ),
        route(
            routes::DEVICES,
            HttpMethod::Get,
            finish(
                signed("devices", "The license's devices (metadata only)")
                    .description(Some("Canonical `devices|X-Device-Id|X-Ts`.")),
                vec![json_ok::<DevicesResponse>(200, "in registration order")],
                &[ADMISSION, SIGNED, &[E::Revoked]],
                &[],
            ),
        ),
        route(
            routes::AUTHORITY,
            HttpMethod::Get,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("authority"))
                    .summary(Some("The license's authority public key"))
                    .tag("sync")
                    .description(Some(
                        "Asked with the license id and key (no device yet), so a device can \
                         compare the key with the one its receipt derives before registering.",
                    ))
                    .parameter(header(headers::LICENSE_ID, fields::id(), "the license"))
                    .parameter(header(
                        headers::LICENSE_KEY,
                        pattern("^[!-~]{1,1024}$"),
                        "the license's key (a header, never the query: it stays out of access logs)",
                    )),
                vec![json_ok::<AuthorityResponse>(200, "the license's authority")],
                &[
                    ADMISSION,
                    &[E::Malformed, E::BadLicense, E::Internal, E::StorageFailed],
                ],
                &[],
            ),
        ),
        route(
            routes::ADMIN_DEVICES,
            HttpMethod::Get,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("adminDevices"))
                    .summary(Some("Operator view of a license's devices"))
                    .tag("admin")
                    .description(Some(
                        "Only when the relay has an admin token (`--admin-token`): without \
                         one every admin request answers 404.",
                    ))
                    .security(SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new()))
                    .parameter(path_param("lid", fields::id(), "the license")),
                vec![json_ok::<DevicesResponse>(200, "in registration order")],
                &[
                    ADMISSION,
                    &[
                        E::Unauthorized,
                        E::Malformed,
                        E::NotFound,
                        E::Internal,
                        E::StorageFailed,
                    ],
                ],
                &[(401, "WWW-Authenticate", errors::www_authenticate())],
            ),
        ),
        route(
            routes::METRICS,
            HttpMethod::Get,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("metrics"))
                    .summary(Some("Metrics in the Prometheus text format (0.0.4)"))
                    .tag("admin")
                    .description(Some(
                        "With the admin token on this listener (404 without one configured); \
                         a private `--metrics-listen` address serves it without a token.",
                    ))
                    .security(SecurityRequirement::new(ADMIN_TOKEN, Vec::<String>::new())),
                vec![(
                    200,
                    ResponseBuilder::new()
                        .description("the relay's metrics")
                        .content(
                            "text/plain",
                            ContentBuilder::new()
                                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                                .build(),
                        )
                        .build(),
                )],
                &[ADMISSION, &[E::Unauthorized, E::NotFound]],
                &[(401, "WWW-Authenticate", errors::www_authenticate())],
            ),
        ),
        route(
            routes::HEALTHZ,
            HttpMethod::Get,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("healthz"))
                    .summary(Some("Liveness"))
                    .tag("operator")
                    .description(Some("Unauthenticated, never rate-limited.")),
                vec![json_ok::<HealthResponse>(200, "up")],
                &[&[E::Timeout]],
                &[],
            ),
        ),
        route(
            routes::OPENAPI,
            HttpMethod::Get,
            finish(
                OperationBuilder::new()
                    .operation_id(Some("openapi"))
                    .summary(Some("This description"))
                    .tag("operator")
                    .description(Some("OpenAPI 3.1, unauthenticated.")),
                vec![(
                    200,
                    ResponseBuilder::new()
                        .description("the OpenAPI document")
                        .content(
                            headers::JSON,
                            ContentBuilder::new()
                                .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                                .build(),
                        )
                        .build(),
                )],
                &[ADMISSION],
                &[],
            ),
        ),
    ]
}
