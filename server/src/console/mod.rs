//! The admin console: server-rendered HTML pages under `/admin/`, served
//! only when an admin token is configured (otherwise the paths are
//! unknown, 404, as the admin API is). Reading needs no JavaScript; every
//! page is rendered by the relay from the same metadata the admin API
//! lists (never a blob's bytes: the relay cannot read them anyway).
//!
//! - [`session`]: sign-in sessions, the cookie, CSRF and Origin checks;
//! - [`pages`]: the licenses and license pages;
//! - [`actions`]: sign-in/out, revoke a device, rotate a license key;
//! - [`chart`]: the per-day activity chart (inline SVG + table);
//! - [`layout`]: the page shell and how times and sizes are written;
//! - [`paths`]: the console's paths.
//!
//! Failed sign-ins cost the peer a token of the relay's per-address
//! limiter for failed authentication (`api::admission`): their answers
//! carry [`ErrorCode::Unauthorized`] as the admin API's do.

mod actions;
mod chart;
mod layout;
mod pages;
pub(crate) mod paths;
mod session;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};

use crate::storage::Storage;
use crate::Clock;
use session::{Sessions, SignedIn};

/// The console's Content-Security-Policy: only this relay's stylesheet,
/// forms that post back to it, no scripts, no frames, no base URL.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE_CSS: &str = include_str!("style.css");

/// What the console's handlers share.
pub(crate) struct Console {
    storage: Arc<dyn Storage>,
    clock: Clock,
    token_hash: [u8; 32],
    /// The relay serves TLS itself: the cookie gets `Secure` and the
    /// Origin check expects `https`.
    secure: bool,
    sessions: Sessions,
}

impl Console {
    pub(crate) fn new(
        storage: Arc<dyn Storage>,
        clock: Clock,
        token_hash: [u8; 32],
        secure: bool,
    ) -> Arc<Self> {
        Arc::new(Self {
            storage,
            clock,
            token_hash,
            secure,
            sessions: Sessions::default(),
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The request's live session, if it has one.
    fn signed_in(&self, h: &axum::http::HeaderMap) -> Option<SignedIn> {
        let id = session::cookie_id(h)?;
        self.sessions.get(&id, self.now())
    }
}

/// The console's routes; none without a console (no admin token).
pub(crate) fn router<S: Clone + Send + Sync + 'static>(console: Option<Arc<Console>>) -> Router<S> {
    let Some(c) = console else {
        return Router::new();
    };
    Router::new()
        .route(paths::ROOT, get(to_home))
        .route(paths::HOME, get(pages::licenses))
        .route(paths::STYLE, get(style))
        .route(paths::LOGIN, get(actions::login_form).post(actions::login))
        .route(paths::LOGOUT, post(actions::logout))
        .route(paths::LICENSE, get(pages::license))
        .route(
            paths::REVOKE,
            get(actions::revoke_confirm).post(actions::revoke),
        )
        .route(
            paths::ROTATE,
            get(actions::rotate_confirm).post(actions::rotate),
        )
        .layer(axum::middleware::from_fn(protect))
        .with_state(c)
}

/// Headers on every console answer: the CSP, no sniffing, no framing, no
/// caching (pages show device metadata and, once, a license key), and a
/// referrer kept to this relay (so `Origin` on a POST is never `null`).
async fn protect(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLE_CSS,
    )
        .into_response()
}

async fn to_home() -> Response {
    see_other(paths::HOME)
}

/// A page answer.
fn html_page(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        markup.into_string(),
    )
        .into_response()
}

/// `303 See Other` to a console path (after a POST, or to sign in).
fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// A page that says what went wrong, in the console's shell.
fn problem(status: StatusCode, signed_in: Option<&SignedIn>, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        p role="alert" { (message) }
        p { a href=(paths::HOME) { "Back to the licenses" } }
    };
    html_page(
        status,
        layout::page(title, signed_in.map(|s| s.csrf.as_str()), body),
    )
}

/// A storage failure as a page; the error is logged (it never carries
/// blob bytes or secrets), the page says only that it failed.
fn storage_failed(e: crate::storage::StorageError, s: Option<&SignedIn>) -> Response {
    tracing::error!(error = %e, "console: storage failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        s,
        "The relay's store failed; see the relay's log.",
    )
}
