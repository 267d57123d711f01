//! The relay's API as an OpenAPI 3.1 document, built from the protocol
//! (`azmx_sync_core::protocol`): the body schemas are the wire types'
//! `ToSchema` derives, the paths the route constants, the parameters the
//! header names and field rules, the error answers [`ErrorCode::ALL`] with
//! each code's status. [`operations`] says what each route takes and
//! answers, [`errors`] how error answers are described.
//!
//! `docs/openapi.json` is [`openapi_json`] for the default limits
//! (`cargo run -p xtask -- gen-openapi` writes it; the test command checks
//! it); a relay serves the same document for its own limits at
//! `routes::OPENAPI`. The operator console's HTML pages are not in it:
//! they are pages for a browser (sign-in form, cookie session, CSRF
//! token), not an API a program calls.

mod errors;
mod operations;

use std::sync::Arc;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use azmx_sync_core::protocol::{
    headers, AuthorityResponse, DeviceInfo, DevicesResponse, HealthResponse, InitRequest,
    InitResponse, KeycheckPutResponse, PruneRequest, PruneResponse, PullItem, PullPage,
    PushResponse, RevokeRequest, RevokeResponse,
};
use serde_json::Value;
use utoipa::openapi::path::{PathItem, Paths};
use utoipa::openapi::schema::{Components, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::AppState;
use crate::{Limits, MAX_JSON_BYTES, MAX_KEYCHECK_BYTES};

/// `GET /openapi.json`: the document for this relay's limits.
pub(crate) async fn serve(State(st): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(headers::JSON))],
        openapi_json(&st.limits),
    )
        .into_response()
}

/// The OpenAPI document as the relay serves it and `docs/openapi.json`
/// holds it: pretty JSON, object keys sorted, a final newline.
pub fn openapi_json(limits: &Limits) -> String {
    let value = serde_json::to_value(document(limits)).unwrap_or(Value::Null);
    let mut text = serde_json::to_string_pretty(&sorted(value)).unwrap_or_default();
    text.push('\n');
    text
}

/// Object keys in sorted order whatever `serde_json`'s map is built with,
/// so the document is the same bytes in every build.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

pub(crate) fn document(limits: &Limits) -> OpenApi {
    let mut paths = Paths::new();
    for r in operations::all(limits) {
        match paths.paths.get_mut(r.path) {
            Some(item) => item.merge_operations(PathItem::new(r.method, r.operation)),
            None => {
                paths
                    .paths
                    .insert(r.path.to_string(), PathItem::new(r.method, r.operation));
            }
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("azmx-sync relay")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(description(limits)))
                .build(),
        )
        .paths(paths)
        .components(Some(components()))
        .tags(Some([
            TagBuilder::new()
                .name("sync")
                .description(Some("what devices call"))
                .build(),
            TagBuilder::new()
                .name("admin")
                .description(Some("the operator's API (admin bearer token)"))
                .build(),
            TagBuilder::new()
                .name("operator")
                .description(Some("unauthenticated probes"))
                .build(),
        ]))
        .build()
}

fn description(limits: &Limits) -> String {
    format!(
        "The blind relay of azmx-sync: it stores sealed blobs, lists them to the license's \
         other devices and serves them back; it holds no key that opens a blob. The normative \
         text is docs/PROTOCOL.md §10 (HTTP API) and §11 (license authority).\n\n\
         Signed requests: every `/sync/*` route except `init` and `authority` carries \
         `X-Device-Id`, `X-Ts` and `X-Signature`, an Ed25519 signature over the request's \
         canonical string (§5). The relay checks, in this order: headers and fields (400), \
         device (401 `unknown_device`), signature (401 `bad_signature`), clock within ±{skew} s \
         (401 `clock_skew` with `serverTime`), per-device rate (429), revocation (403).\n\n\
         Limits: push bodies at most {push} bytes, key-check bodies {keycheck} bytes, JSON \
         bodies {json} bytes, each with a `Content-Length` (411 without one, 413 over it); a \
         whole request at most {timeout} s (408). Failed authentications cost the peer's \
         address tokens: once they are gone every request of the address answers 429. \
         Unknown paths answer 404 `not_found`, a known path with another method 405 \
         `method_not_allowed`.",
        skew = limits.max_skew_secs,
        push = limits.max_body_bytes,
        keycheck = MAX_KEYCHECK_BYTES,
        json = MAX_JSON_BYTES,
        timeout = limits.request_timeout.as_secs(),
    )
}

fn components() -> Components {
    let mut c = Components::new();
    for (name, schema) in [
        (InitRequest::name(), InitRequest::schema()),
        (RevokeRequest::name(), RevokeRequest::schema()),
        (PruneRequest::name(), PruneRequest::schema()),
    ] {
        c.schemas.insert(name.into_owned(), schema);
    }
    // Answers: the relay writes every field of these (none is skipped
    // when empty), so every property is required, though a client reads
    // some of them leniently.
    for (name, schema) in [
        (InitResponse::name(), InitResponse::schema()),
        (PushResponse::name(), PushResponse::schema()),
        (PullItem::name(), PullItem::schema()),
        (PullPage::name(), PullPage::schema()),
        (RevokeResponse::name(), RevokeResponse::schema()),
        (KeycheckPutResponse::name(), KeycheckPutResponse::schema()),
        (PruneResponse::name(), PruneResponse::schema()),
        (DeviceInfo::name(), DeviceInfo::schema()),
        (DevicesResponse::name(), DevicesResponse::schema()),
        (AuthorityResponse::name(), AuthorityResponse::schema()),
        (HealthResponse::name(), HealthResponse::schema()),
    ] {
        c.schemas.insert(name.into_owned(), all_required(schema));
    }
    c.schemas.extend(errors::schemas());
    for (name, p) in operations::shared_parameters() {
        c.parameters.insert(name.to_string(), p.into());
    }
    c.security_schemes.insert(
        operations::ADMIN_TOKEN.to_string(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "the token the relay was started with (`--admin-token`, \
                     `AZMX_ADMIN_TOKEN`), compared in constant time",
                ))
                .build(),
        )
        .into(),
    );
    c
}

fn all_required(schema: RefOr<Schema>) -> RefOr<Schema> {
    match schema {
        RefOr::T(Schema::Object(mut o)) => {
            o.required = o.properties.keys().cloned().collect();
            RefOr::T(Schema::Object(o))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests;
