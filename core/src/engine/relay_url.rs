//! Which relay URLs the engine talks to: `https://` anywhere, plain
//! `http://` only to this machine (127.0.0.0/8, `::1`, `localhost`) unless
//! the host allowed insecure HTTP (`EngineConfig::allow_insecure_http`).
//!
//! Plain HTTP to another machine sends the license key (at `register`),
//! device ids, sizes and times in clear, and lets anyone on the path drop,
//! delay or replay requests; the sealed data stays sealed, but that is all.
//! The rule is checked at `register` and again before every request, so a
//! state directory registered before the rule existed (or by a host that
//! allowed it then) gets the same typed error, naming the fix, instead of
//! syncing in clear.
//!
//! The URL is parsed with the `url` crate, the parser the built-in
//! transport's HTTP client uses: the host checked here is the host
//! connected to (`http://evil.example\@127.0.0.1/` is `evil.example`).

use std::net::IpAddr;

use super::error::SyncError;

/// What a relay URL is, for the rule above and for `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayTransportSecurity {
    /// `https://`: TLS, the certificate checked by the transport.
    Tls,
    /// `http://` to this machine: nothing crosses a network.
    LoopbackHttp,
    /// `http://` to another machine: refused unless allowed.
    InsecureHttp,
}

/// Classifies `url`; `Config` for a URL that is not `http(s)://HOST…`.
pub fn relay_transport_security(url: &str) -> Result<RelayTransportSecurity, SyncError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| SyncError::Config(format!("relay URL `{url}` is not a valid URL: {e}")))?;
    let host = parsed
        .host()
        .ok_or_else(|| SyncError::Config(format!("relay URL `{url}` has no host")))?;
    match parsed.scheme() {
        "https" => Ok(RelayTransportSecurity::Tls),
        "http" if is_loopback(&host) => Ok(RelayTransportSecurity::LoopbackHttp),
        "http" => Ok(RelayTransportSecurity::InsecureHttp),
        other => Err(SyncError::Config(format!(
            "relay URL must start with https:// (or http:// to this machine), got `{other}:`"
        ))),
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(a) => a.is_loopback(),
        url::Host::Ipv6(a) => match a.to_ipv4_mapped() {
            Some(v4) => v4.is_loopback(),
            None => IpAddr::V6(*a).is_loopback(),
        },
    }
}

/// The rule: `Ok` for `https://` and loopback `http://`, and for any
/// `http://` when `allow_insecure_http`; else
/// [`SyncError::InsecureRelayUrl`] naming the host.
pub fn check_relay_url(url: &str, allow_insecure_http: bool) -> Result<(), SyncError> {
    match relay_transport_security(url)? {
        RelayTransportSecurity::InsecureHttp if !allow_insecure_http => {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or_default();
            Err(SyncError::InsecureRelayUrl { host })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RelayTransportSecurity::*;

    #[test]
    fn loopback_http_is_allowed_and_other_http_is_not() {
        for url in [
            "http://127.0.0.1:8787",
            "http://127.9.8.7/",
            "http://localhost:1",
            "http://LOCALHOST",
            "http://[::1]:8787",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert_eq!(
                relay_transport_security(url).unwrap(),
                LoopbackHttp,
                "{url}"
            );
            check_relay_url(url, false).unwrap();
        }
        for url in [
            "http://10.255.255.1:1",
            "http://example.invalid",
            "http://localhost.example.com",
            "http://127.0.0.1.example.com",
            "http://[::2]",
            "http://0.0.0.0:8787",
            // WHATWG parsing: the backslash ends the host for http.
            "http://evil.example\\@127.0.0.1/",
            "http://localhost@evil.example/",
        ] {
            assert_eq!(
                relay_transport_security(url).unwrap(),
                InsecureHttp,
                "{url}"
            );
            match check_relay_url(url, false) {
                Err(SyncError::InsecureRelayUrl { host }) => assert!(!host.is_empty()),
                other => panic!("{url}: {other:?}"),
            }
            check_relay_url(url, true).unwrap();
        }
    }

    #[test]
    fn https_is_allowed_and_other_schemes_are_config_errors() {
        assert_eq!(
            relay_transport_security("https://relay.example").unwrap(),
            Tls
        );
        check_relay_url("https://10.0.0.1:8787", false).unwrap();
        for url in [
            "ftp://relay.example",
            "relay.example:8787",
            "file:///tmp/x",
            "http://",
        ] {
            assert!(
                matches!(check_relay_url(url, true), Err(SyncError::Config(_))),
                "{url}"
            );
        }
    }
}
