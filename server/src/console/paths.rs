//! The console's paths. They are pages for a browser, not the wire: no
//! client builds them and no body shape goes with them, so they live here
//! rather than in core/src/protocol (scripts/check_architecture.py exempts
//! this one file from its route-literal rule; docs/ARCHITECTURE.md says why).

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
    LICENSE.replace("{lid}", &encode(lid))
}

pub(crate) fn revoke(lid: &str, did: &str) -> String {
    // The encoded id has no `{`, so the second replace cannot hit it.
    REVOKE
        .replace("{lid}", &encode(lid))
        .replace("{did}", &encode(did))
}

pub(crate) fn rotate(lid: &str) -> String {
    ROTATE.replace("{lid}", &encode(lid))
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
