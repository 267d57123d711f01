//! The console's forms: sign in and out, and the operator actions the
//! relay supports (revoke a device, rotate a license key), each a `GET`
//! that asks and a `POST` that acts. Every `POST` must come from this
//! relay's own pages (Origin/Referer) and, once signed in, carry the
//! session's CSRF token; the cookie is `SameSite=Strict` besides.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header::{HeaderValue, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use azmx_sync_core::protocol::ErrorCode;
use maud::html;

use super::layout::page;
use super::session::{self, SignedIn};
use super::{html_page, paths, problem, see_other, storage_failed, Console};
use crate::storage::StorageError;

/// The value of form field `name` in an `application/x-www-form-urlencoded`
/// body.
fn field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn with_cookie(mut resp: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    resp
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.card method="post" action=(paths::LOGIN) {
            label for="token" { "Admin token" }
            input #token type="password" name="token" required autocomplete="current-password"
                autofocus;
            button type="submit" { "Sign in" }
        }
        p.muted { "The token is the relay's " code { "--admin-token" } " (or "
            code { "AZMX_ADMIN_TOKEN" } "). Repeated wrong tokens make this address wait." }
    };
    html_page(status, page("Sign in", None, body))
}

pub(super) async fn login_form(State(c): State<Arc<Console>>, h: HeaderMap) -> Response {
    if c.signed_in(&h).is_some() {
        return see_other(paths::HOME);
    }
    login_page(StatusCode::OK, None)
}

pub(super) async fn login(State(c): State<Arc<Console>>, h: HeaderMap, body: Bytes) -> Response {
    let Some(from) = session::our_page(&h, c.secure) else {
        return problem(
            StatusCode::FORBIDDEN,
            None,
            "This form must be sent from the console's own page.",
        );
    };
    let given = field(&body, "token").unwrap_or_default();
    if !session::admin_token_ok(&given, &c.token_hash) {
        let mut resp = login_page(StatusCode::UNAUTHORIZED, Some("Wrong admin token."));
        // Counted by the relay's limiter on failed authentication.
        resp.extensions_mut().insert(ErrorCode::Unauthorized);
        return resp;
    }
    if let Some(old) = session::cookie_id(&h) {
        c.sessions.remove(&old);
    }
    let id = c.sessions.create(c.now());
    tracing::info!("console: operator signed in");
    // `Secure` whenever the browser is on https, a TLS proxy's included.
    let cookie = session::set_cookie(&id, c.secure || from.https);
    with_cookie(see_other(paths::HOME), &cookie)
}

/// The session of a `POST` that passed the origin and CSRF checks, or
/// the answer to give instead (boxed: a `Response` is large).
fn checked_post(c: &Console, h: &HeaderMap, body: &[u8]) -> Result<SignedIn, Box<Response>> {
    if session::our_page(h, c.secure).is_none() {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            None,
            "This form must be sent from the console's own page.",
        )));
    }
    let Some(s) = c.signed_in(h) else {
        return Err(Box::new(see_other(paths::LOGIN)));
    };
    let given = field(body, "csrf").unwrap_or_default();
    if !session::same_secret(&given, &s.csrf) {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            Some(&s),
            "This form is stale or was not sent from the console; reload the page and try again.",
        )));
    }
    Ok(s)
}

pub(super) async fn logout(State(c): State<Arc<Console>>, h: HeaderMap, body: Bytes) -> Response {
    if let Err(resp) = checked_post(&c, &h, &body) {
        return *resp;
    }
    if let Some(id) = session::cookie_id(&h) {
        c.sessions.remove(&id);
    }
    with_cookie(see_other(paths::LOGIN), &session::clear_cookie(c.secure))
}

pub(super) async fn revoke_confirm(
    State(c): State<Arc<Console>>,
    h: HeaderMap,
    Path((lid, did)): Path<(String, String)>,
) -> Response {
    let Some(s) = c.signed_in(&h) else {
        return see_other(paths::LOGIN);
    };
    let device = match c.storage.devices(&lid).await {
        Ok(d) => d
            .unwrap_or_default()
            .into_iter()
            .find(|d| d.device_id == did),
        Err(e) => return storage_failed(e, Some(&s)),
    };
    let Some(d) = device else {
        return problem(
            StatusCode::NOT_FOUND,
            Some(&s),
            "No such device in this license.",
        );
    };
    let body = html! {
        @if d.revoked {
            p { "Device " strong { (d.name) } " is already revoked." }
        } @else {
            p.warning role="note" { "Revoking " strong { (d.name) } " (" code { (d.device_id) } ") of license "
                code { (lid) } " cannot be undone: it can no longer push, pull or register again. "
                "Its blobs stay for the other devices until they are pruned." }
            form.card method="post" action=(paths::revoke(&lid, &did)) {
                input type="hidden" name="csrf" value=(s.csrf);
                button.danger type="submit" { "Revoke " (d.name) }
            }
        }
        p { a href=(paths::license(&lid)) { "Back to the license" } }
    };
    html_page(StatusCode::OK, page("Revoke a device", Some(&s.csrf), body))
}

pub(super) async fn revoke(
    State(c): State<Arc<Console>>,
    h: HeaderMap,
    Path((lid, did)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let s = match checked_post(&c, &h, &body) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    match c.storage.revoke(&lid, &did, c.now()).await {
        Ok(true) => {
            tracing::info!(license = %lid, device = %did, "console: device revoked");
            see_other(&paths::license(&lid))
        }
        Ok(false) => problem(
            StatusCode::NOT_FOUND,
            Some(&s),
            "No such device in this license.",
        ),
        Err(e) => storage_failed(e, Some(&s)),
    }
}

pub(super) async fn rotate_confirm(
    State(c): State<Arc<Console>>,
    h: HeaderMap,
    Path(lid): Path<String>,
) -> Response {
    let Some(s) = c.signed_in(&h) else {
        return see_other(paths::LOGIN);
    };
    match c.storage.license(&lid).await {
        Ok(Some(_)) => {}
        Ok(None) => return problem(StatusCode::NOT_FOUND, Some(&s), "No such license."),
        Err(e) => return storage_failed(e, Some(&s)),
    }
    let body = html! {
        p.warning role="note" { "Rotating the key of license " code { (lid) } " makes the current key stop "
            "working at once. Registered devices keep syncing (they sign with their own keys); "
            "a new device needs the new key, which is shown once." }
        form.card method="post" action=(paths::rotate(&lid)) {
            input type="hidden" name="csrf" value=(s.csrf);
            button.danger type="submit" { "Rotate the license key" }
        }
        p { a href=(paths::license(&lid)) { "Back to the license" } }
    };
    html_page(
        StatusCode::OK,
        page("Rotate a license key", Some(&s.csrf), body),
    )
}

pub(super) async fn rotate(
    State(c): State<Arc<Console>>,
    h: HeaderMap,
    Path(lid): Path<String>,
    body: Bytes,
) -> Response {
    let s = match checked_post(&c, &h, &body) {
        Ok(s) => s,
        Err(resp) => return *resp,
    };
    let (key, hash) = crate::operator::new_license_key();
    match c.storage.set_license_key_hash(&lid, hash).await {
        Ok(()) => {}
        Err(StorageError::UnknownLicense) => {
            return problem(StatusCode::NOT_FOUND, Some(&s), "No such license.")
        }
        Err(e) => return storage_failed(e, Some(&s)),
    }
    tracing::info!(license = %lid, "console: license key rotated");
    let body = html! {
        p.warning role="alert" { "This is the only time the new key is shown: the relay keeps only "
            "its hash. Copy it now and hand it to the license's owner over a trusted channel." }
        p { label for="new-key" { "New license key for " code { (lid) } } }
        p { output #new-key { code.key { (key) } } }
        p { a href=(paths::license(&lid)) { "Back to the license" } }
    };
    html_page(StatusCode::OK, page("New license key", Some(&s.csrf), body))
}
