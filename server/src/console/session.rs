//! Console sign-in state: the server-side session table, the cookie that
//! names a session, and the checks a state-changing request must pass
//! (CSRF token, Origin/Referer).
//!
//! A session id is 32 random bytes; the table is keyed by its SHA-256, so
//! a lookup's timing says nothing about stored ids. Ids, tokens and the
//! admin token are never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::header::{COOKIE, HOST, ORIGIN, REFERER};
use axum::http::HeaderMap;
use subtle::ConstantTimeEq;

use crate::{random_bytes, sha256};

/// The session cookie's name.
pub(crate) const COOKIE_NAME: &str = "azmx_console";
/// A session unused this long is gone.
pub(crate) const IDLE_SECS: i64 = 30 * 60;
/// A session older than this is gone, used or not.
pub(crate) const MAX_AGE_SECS: i64 = 12 * 3600;
/// Sessions kept at once; signing in past it ends the least recently used.
pub(crate) const MAX_SESSIONS: usize = 256;

struct Session {
    csrf: String,
    created: i64,
    seen: i64,
}

impl Session {
    fn live(&self, now: i64) -> bool {
        now >= self.created
            && now - self.created < MAX_AGE_SECS
            && now.saturating_sub(self.seen) < IDLE_SECS
    }
}

/// The sessions of signed-in operators, in memory only (a restart signs
/// everyone out).
#[derive(Default)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<[u8; 32], Session>>,
}

/// A live session as a request sees it.
pub(crate) struct SignedIn {
    /// The token every form of this session carries.
    pub(crate) csrf: String,
}

impl Sessions {
    /// Starts a session; returns its id (for the cookie).
    pub(crate) fn create(&self, now: i64) -> String {
        let id = azmx_sync_core::b64::encode(&random_bytes::<32>());
        let csrf = azmx_sync_core::b64::encode(&random_bytes::<32>());
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.live(now));
        }
        if map.len() >= MAX_SESSIONS {
            let oldest = map.iter().min_by_key(|(_, s)| s.seen).map(|(k, _)| *k);
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        let session = Session {
            csrf,
            created: now,
            seen: now,
        };
        map.insert(sha256(id.as_bytes()), session);
        id
    }

    /// The live session `id` names, marked used at `now`.
    pub(crate) fn get(&self, id: &str, now: i64) -> Option<SignedIn> {
        let key = sha256(id.as_bytes());
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get_mut(&key)?;
        if !s.live(now) {
            map.remove(&key);
            return None;
        }
        s.seen = s.seen.max(now);
        Some(SignedIn {
            csrf: s.csrf.clone(),
        })
    }

    pub(crate) fn remove(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&sha256(id.as_bytes()));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.lock().unwrap().len()
    }
}

/// The session id the request's `Cookie` headers carry, if any.
pub(crate) fn cookie_id(h: &HeaderMap) -> Option<String> {
    h.get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 64)
}

/// `Set-Cookie` for a new session: script cannot read it, other sites'
/// requests do not carry it, only console paths get it; `Secure` when the
/// browser is on https (the relay's own TLS or a TLS proxy's).
pub(crate) fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={id}; HttpOnly; SameSite=Strict; Path={}{}",
        super::paths::COOKIE_PATH,
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that deletes the session cookie.
pub(crate) fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path={}; Max-Age=0{}",
        super::paths::COOKIE_PATH,
        if secure { "; Secure" } else { "" }
    )
}

/// Constant-time equality of two secrets of any length (compared as
/// SHA-256 digests, so the length does not show either).
pub(crate) fn same_secret(given: &str, expected: &str) -> bool {
    bool::from(sha256(given.as_bytes()).ct_eq(&sha256(expected.as_bytes())))
}

/// Whether `given` is the admin token whose SHA-256 is `expected`
/// (constant time, as the admin API compares it).
pub(crate) fn admin_token_ok(given: &str, expected: &[u8; 32]) -> bool {
    bool::from(sha256(given.trim().as_bytes()).ct_eq(expected))
}

/// The page a state-changing request came from, when it is one of this
/// relay's own.
pub(crate) struct OurPage {
    /// The browser is on `https://`: the relay's own TLS, or a TLS proxy
    /// in front of a relay that speaks plain HTTP on loopback.
    pub(crate) https: bool,
}

/// A state-changing request must come from a console page of this relay:
/// its `Origin` (or, without one, its `Referer`) names the request's own
/// `Host`, over `https` (or `http` too when the relay does not serve TLS
/// itself: behind a TLS proxy the browser's scheme is not the relay's).
/// Neither header: refused (browsers send `Origin` on every POST;
/// `Referrer-Policy: same-origin` keeps it non-null).
pub(crate) fn our_page(h: &HeaderMap, tls: bool) -> Option<OurPage> {
    let host = h.get(HOST)?.to_str().ok()?;
    let (from, is_origin) = match h.get(ORIGIN) {
        Some(o) => (o, true),
        None => (h.get(REFERER)?, false),
    };
    let (scheme, rest) = from.to_str().ok()?.split_once("://")?;
    let https = match scheme {
        "https" => true,
        "http" if !tls => false,
        _ => return None,
    };
    let rest = rest.strip_prefix(host)?;
    let same = if is_origin {
        rest.is_empty()
    } else {
        rest.starts_with('/')
    };
    same.then_some(OurPage { https })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn sessions_expire_when_idle_or_old_and_stay_bounded() {
        let s = Sessions::default();
        let id = s.create(1000);
        let csrf = s.get(&id, 1000).unwrap().csrf;
        assert_eq!(csrf.len(), 43);
        assert!(s.get("not-a-session", 1000).is_none());
        // Used within the idle window: still there, and the window moves.
        assert!(s.get(&id, 1000 + IDLE_SECS - 1).is_some());
        assert!(s.get(&id, 1000 + 2 * IDLE_SECS - 2).is_some());
        assert!(s.get(&id, 1000 + 3 * IDLE_SECS).is_none(), "idle too long");
        assert!(s.get(&id, 1000).is_none(), "an expired session is gone");
        let old = s.create(0);
        let mut t = 0;
        while t < MAX_AGE_SECS {
            assert!(s.get(&old, t).is_some());
            t += IDLE_SECS - 1;
        }
        assert!(
            s.get(&old, MAX_AGE_SECS).is_none(),
            "older than the max age"
        );
        let ids: Vec<String> = (0..MAX_SESSIONS + 10).map(|i| s.create(i as i64)).collect();
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(
            s.get(&ids[0], 300).is_none(),
            "least recently used went first"
        );
        assert!(s.get(ids.last().unwrap(), 300).is_some());
        s.remove(ids.last().unwrap());
        assert!(s.get(ids.last().unwrap(), 300).is_none());
        assert_ne!(ids[1], ids[2]);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_bounded() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("a=1; azmx_console=abc ; b=2"),
        );
        assert_eq!(cookie_id(&h).as_deref(), Some("abc"));
        let mut long = HeaderMap::new();
        let v = format!("azmx_console={}", "x".repeat(65));
        long.append(COOKIE, HeaderValue::from_str(&v).unwrap());
        assert_eq!(cookie_id(&long), None);
        assert_eq!(cookie_id(&HeaderMap::new()), None);
        let c = set_cookie("abc", true);
        for part in ["HttpOnly", "SameSite=Strict", "Path=/admin", "Secure"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(!set_cookie("abc", false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }

    #[test]
    fn secrets_compare_whole_and_the_admin_token_trimmed() {
        assert!(same_secret("csrf-token", "csrf-token"));
        assert!(!same_secret("csrf-token", "csrf-toke"));
        assert!(!same_secret("", "csrf-token"));
        let h = sha256(b"s3cret");
        assert!(admin_token_ok("s3cret", &h));
        assert!(admin_token_ok(" s3cret\n", &h));
        assert!(!admin_token_ok("s3cre", &h));
    }

    fn headers(pairs: &[(axum::http::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn same_origin(h: &HeaderMap, tls: bool) -> bool {
        our_page(h, tls).is_some()
    }

    #[test]
    fn only_this_relays_pages_may_post() {
        let host = (HOST, "127.0.0.1:8080");
        assert!(same_origin(
            &headers(&[host.clone(), (ORIGIN, "http://127.0.0.1:8080")]),
            false
        ));
        assert!(!same_origin(
            &headers(&[host.clone(), (ORIGIN, "http://127.0.0.1:8080")]),
            true
        ));
        assert!(!same_origin(
            &headers(&[host.clone(), (ORIGIN, "http://evil.example")]),
            false
        ));
        assert!(!same_origin(
            &headers(&[host.clone(), (ORIGIN, "null")]),
            false
        ));
        let referer = (REFERER, "http://127.0.0.1:8080/admin/login");
        assert!(same_origin(&headers(&[host.clone(), referer]), false));
        let tricky = (REFERER, "http://127.0.0.1:8080.evil.example/admin/");
        assert!(!same_origin(&headers(&[host.clone(), tricky]), false));
        assert!(
            !same_origin(&headers(&[host]), false),
            "no Origin, no Referer"
        );
        assert!(!same_origin(
            &headers(&[(ORIGIN, "http://127.0.0.1:8080")]),
            false
        ));
    }

    #[test]
    fn behind_a_tls_proxy_the_https_page_may_post() {
        // The relay speaks plain HTTP on loopback; the browser is on the
        // proxy's https:// origin, and the proxy passes its Host on.
        let host = (HOST, "relay.example.org:8787");
        let https = |h: HeaderMap, tls| our_page(&h, tls).map(|p| p.https);
        let origin = (ORIGIN, "https://relay.example.org:8787");
        assert_eq!(https(headers(&[host.clone(), origin]), false), Some(true));
        let referer = (REFERER, "https://relay.example.org:8787/admin/login");
        assert_eq!(https(headers(&[host.clone(), referer]), false), Some(true));
        let plain = (ORIGIN, "http://relay.example.org:8787");
        assert_eq!(
            https(headers(&[host.clone(), plain.clone()]), false),
            Some(false)
        );
        assert_eq!(
            https(headers(&[host, plain]), true),
            None,
            "a relay serving TLS itself takes https pages only"
        );
    }
}
