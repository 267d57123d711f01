//! The console's paths. They are pages for a browser, not the wire: no
//! client builds them and no body shape goes with them, so they live here
//! rather than in core/src/protocol (scripts/check_architecture.py exempts
//! this one file from its route-literal rule; docs/ARCHITECTURE.md says why).

use azmx_sync_core::protocol::routes::urlencode;

/// Without the slash: redirected to [`HOME`].
pub(crate) const ROOT: &str = "/admin";
/// The licenses page.
pub(crate) const HOME: &str = "/admin/";
pub(crate) const LOGIN: &str = "/admin/login";
pub(crate) const LOGOUT: &str = "/admin/logout";
pub(crate) const STYLE: &str = "/admin/console.css";
/// A license's devices and chart.
pub(crate) const LICENSE: &str = "/admin/licenses/{lid}";
/// `GET` asks, `POST` (with the CSRF token) revokes.
pub(crate) const REVOKE: &str = "/admin/licenses/{lid}/devices/{did}/revoke";
/// `GET` asks, `POST` (with the CSRF token) rotates and shows the key once.
pub(crate) const ROTATE: &str = "/admin/licenses/{lid}/rotate-key";
/// The session cookie's `Path`: every console page, nothing else.
pub(crate) const COOKIE_PATH: &str = ROOT;

pub(crate) fn license(lid: &str) -> String {
    LICENSE.replace("{lid}", &urlencode(lid))
}

pub(crate) fn revoke(lid: &str, did: &str) -> String {
    // The encoded id has no `{`, so the second replace cannot hit it.
    REVOKE
        .replace("{lid}", &urlencode(lid))
        .replace("{did}", &urlencode(did))
}

pub(crate) fn rotate(lid: &str) -> String {
    ROTATE.replace("{lid}", &urlencode(lid))
}
