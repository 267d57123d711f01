//! The relay wire contract, written once: the relay (`server/`) answers
//! with these types and the engine's relay client (`engine::relay_client`)
//! reads them. `docs/PROTOCOL.md` §10 is the prose that goes with it.
//!
//! - [`routes`]: every path the relay serves (and how a client fills one in);
//! - [`headers`]: the header names of signed requests and the content types;
//! - the request and response bodies of each route ([`InitRequest`] …
//!   [`DevicesResponse`]) and the one [`DeviceInfo`];
//! - [`ErrorBody`] and [`ErrorCode`]: every error answer and its codes.
//!
//! Bodies are JSON, camelCase. Where a client never needed a field of an
//! answer it is read leniently (absent, `null` or mistyped gives the
//! default), so such an answer still reads as before. Write bodies with [`to_json`], never with `serde_json::to_vec`
//! directly: see there why.

mod bodies;
mod error_body;
pub mod headers;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod routes;

pub use bodies::{
    AuthorityResponse, DeviceInfo, DevicesResponse, HealthResponse, InitRequest, InitResponse,
    KeycheckPutResponse, PruneRequest, PruneResponse, PullItem, PullPage, PullQuery, PushResponse,
    RevokeRequest, RevokeResponse,
};
pub use error_body::{ErrorBody, ErrorCode};

/// The JSON text of a body as it goes on the wire. It goes through
/// [`serde_json::Value`], whose objects keep their keys sorted: the wire
/// has always had sorted keys (it was written with `json!`), and a field
/// moved inside a struct must not reorder it. Fails only for a type whose
/// `Serialize` fails; none in this module does.
pub fn to_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, serde_json::Error> {
    Ok(serde_json::to_value(body)?.to_string().into_bytes())
}

/// Reads a field the engine never needed leniently: a value of another
/// type (or `null`) becomes the default instead of making the whole
/// answer unreadable. For answers only; the relay reads requests strictly.
fn lenient<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned + Default,
{
    let v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

#[cfg(test)]
mod tests;
