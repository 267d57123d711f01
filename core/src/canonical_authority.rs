//! Statements signed by the license authority key (`crate::authority`),
//! in the style of the device canonicals of [`crate::canonical`]:
//! `<verb>|<field>|...|<ts>`, fields joined by `|`, no escaping, and a
//! field that could contain `|` or a control character is rejected, so each
//! statement has exactly one parse. `docs/PROTOCOL.md` §11 is the contract.
//!
//! Every verb starts with `authority-`, so no statement parses as a device
//! request and no device request parses as a statement: neither key kind
//! can be made to sign the other kind's strings (both `sign_canonical`s
//! parse before signing), whatever keys a deployment ends up with.
//! Each statement names the license, so a signature never carries over to
//! another license.

use crate::canonical::{
    check_id, check_name, check_sha, check_skew, parse_public_key, parse_ts, Fields,
};
use crate::error::Error;

/// The verbs, in the order of `docs/PROTOCOL.md` §11.2.
pub const AUTHORITY_VERBS: [&str; 4] = [
    "authority-register",
    "authority-revoke",
    "authority-keycheck",
    "authority-set",
];

/// One statement the license authority signs. `ts` is unix seconds and
/// is held to the same ±300 s window as device requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorityStatement {
    /// `authority-register|<licenseId>|<publicKey>|<deviceName>|<ts>`: the
    /// receipt's holder lets this device key register. The same fields as
    /// the device's own `init` canonical (the relay rebuilds both from one
    /// `POST /sync/init` body); the device id does not exist yet, so the
    /// device is named by its public key.
    RegisterDevice {
        license_id: String,
        public_key: String,
        device_name: String,
        ts: i64,
    },
    /// `authority-revoke|<licenseId>|<targetDeviceId>|<ts>`.
    RevokeDevice {
        license_id: String,
        target_device_id: String,
        ts: i64,
    },
    /// `authority-keycheck|<licenseId>|<sha256>|<ts>`: set the license's
    /// key-check blob (PROTOCOL §7) to the blob with this SHA-256.
    SetKeycheck {
        license_id: String,
        sha256: String,
        ts: i64,
    },
    /// `authority-set|<licenseId>|<authorityKey>|<ts>`: claim an unset
    /// license for this authority key (trust on first use, only while the
    /// operator leaves the window open). Signed by that same key: proof
    /// of possession.
    SetAuthority {
        license_id: String,
        authority_key: String,
        ts: i64,
    },
}

impl AuthorityStatement {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::RegisterDevice { .. } => AUTHORITY_VERBS[0],
            Self::RevokeDevice { .. } => AUTHORITY_VERBS[1],
            Self::SetKeycheck { .. } => AUTHORITY_VERBS[2],
            Self::SetAuthority { .. } => AUTHORITY_VERBS[3],
        }
    }

    pub fn ts(&self) -> i64 {
        match self {
            Self::RegisterDevice { ts, .. }
            | Self::RevokeDevice { ts, .. }
            | Self::SetKeycheck { ts, .. }
            | Self::SetAuthority { ts, .. } => *ts,
        }
    }

    pub fn license_id(&self) -> &str {
        match self {
            Self::RegisterDevice { license_id, .. }
            | Self::RevokeDevice { license_id, .. }
            | Self::SetKeycheck { license_id, .. }
            | Self::SetAuthority { license_id, .. } => license_id,
        }
    }

    /// Checks every field against the contract (the field rules of §5).
    pub fn validate(&self) -> Result<(), Error> {
        check_id("licenseId", self.license_id())?;
        match self {
            Self::RegisterDevice {
                public_key,
                device_name,
                ..
            } => {
                parse_public_key(public_key)?;
                check_name(device_name)
            }
            Self::RevokeDevice {
                target_device_id, ..
            } => check_id("targetDeviceId", target_device_id),
            Self::SetKeycheck { sha256, .. } => check_sha("sha256", sha256),
            Self::SetAuthority { authority_key, .. } => {
                crate::authority::AuthorityPublicKey::parse(authority_key).map(|_| ())
            }
        }
    }

    /// The exact UTF-8 string that is signed. Fails on an invalid field.
    pub fn canonical(&self) -> Result<String, Error> {
        self.validate()?;
        let v = self.verb();
        Ok(match self {
            Self::RegisterDevice {
                license_id,
                public_key,
                device_name,
                ts,
            } => format!("{v}|{license_id}|{public_key}|{device_name}|{ts}"),
            Self::RevokeDevice {
                license_id,
                target_device_id,
                ts,
            } => format!("{v}|{license_id}|{target_device_id}|{ts}"),
            Self::SetKeycheck {
                license_id,
                sha256,
                ts,
            } => format!("{v}|{license_id}|{sha256}|{ts}"),
            Self::SetAuthority {
                license_id,
                authority_key,
                ts,
            } => format!("{v}|{license_id}|{authority_key}|{ts}"),
        })
    }

    /// Parses a statement back; the inverse of
    /// [`canonical`](Self::canonical) (round-trips byte for byte).
    pub fn parse(canonical: &str) -> Result<Self, Error> {
        let f = Fields::split(canonical);
        let stmt = match f.verb() {
            "authority-register" => {
                let [license_id, public_key, device_name, ts] = f.exact()?;
                Self::RegisterDevice {
                    license_id: license_id.into(),
                    public_key: public_key.into(),
                    device_name: device_name.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "authority-revoke" => {
                let [license_id, target_device_id, ts] = f.exact()?;
                Self::RevokeDevice {
                    license_id: license_id.into(),
                    target_device_id: target_device_id.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "authority-keycheck" => {
                let [license_id, sha256, ts] = f.exact()?;
                Self::SetKeycheck {
                    license_id: license_id.into(),
                    sha256: sha256.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "authority-set" => {
                let [license_id, authority_key, ts] = f.exact()?;
                Self::SetAuthority {
                    license_id: license_id.into(),
                    authority_key: authority_key.into(),
                    ts: parse_ts(ts)?,
                }
            }
            _ => {
                return Err(Error::MalformedField {
                    field: "canonical",
                    reason: "unknown authority verb",
                })
            }
        };
        stmt.validate()?;
        Ok(stmt)
    }
}

/// Verifies a statement given as text, in the order of §5: parse and
/// validate (`malformed_field`), strict Ed25519 signature with the
/// authority public key (`bad_signature`), then `|ts − now| ≤ max_skew_secs`
/// (`clock_skew`). Returns the parsed statement.
///
/// A relay rebuilds the statement from the request's own fields and calls
/// [`AuthorityPublicKey::verify`](crate::authority::AuthorityPublicKey::verify)
/// instead; this is for a canonical that arrives as text.
pub fn verify(
    authority_key: &str,
    canonical: &str,
    signature: &str,
    now: i64,
    max_skew_secs: i64,
) -> Result<AuthorityStatement, Error> {
    let stmt = AuthorityStatement::parse(canonical)?;
    let key = crate::authority::AuthorityPublicKey::parse(authority_key)?;
    key.verify_signature(canonical.as_bytes(), signature)?;
    check_skew(stmt.ts(), now, max_skew_secs)?;
    Ok(stmt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::SignedRequest;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn device_pk() -> String {
        crate::DeviceIdentity::from_seed_for_vectors([9; 32]).public_key()
    }

    fn all() -> Vec<AuthorityStatement> {
        let auth = crate::authority::AuthorityKey::from_seed_for_vectors([4; 32])
            .public_key()
            .to_string();
        vec![
            AuthorityStatement::RegisterDevice {
                license_id: "lic_a".into(),
                public_key: device_pk(),
                device_name: "Ana’s laptop".into(),
                ts: 1_764_288_000,
            },
            AuthorityStatement::RevokeDevice {
                license_id: "lic_a".into(),
                target_device_id: "dev_0123456789abcdef".into(),
                ts: -5,
            },
            AuthorityStatement::SetKeycheck {
                license_id: "lic_a".into(),
                sha256: SHA.into(),
                ts: 0,
            },
            AuthorityStatement::SetAuthority {
                license_id: "lic_a".into(),
                authority_key: auth,
                ts: 1,
            },
        ]
    }

    #[test]
    fn every_statement_round_trips_and_never_parses_as_a_device_request() {
        for stmt in all() {
            let c = stmt.canonical().unwrap();
            assert!(c.starts_with(&format!("{}|lic_a|", stmt.verb())), "{c}");
            assert_eq!(AuthorityStatement::parse(&c).unwrap(), stmt);
            assert!(SignedRequest::parse(&c).is_err(), "{c}");
        }
    }

    #[test]
    fn device_requests_never_parse_as_statements() {
        for c in [
            "revoke|dev_a|dev_b|1".to_string(),
            format!("keycheck-put|dev_a|{SHA}|1"),
            format!("init|lic_a|{}|laptop|1", device_pk()),
        ] {
            SignedRequest::parse(&c).unwrap();
            assert!(AuthorityStatement::parse(&c).is_err(), "{c}");
        }
    }

    #[test]
    fn pipes_controls_and_bad_fields_are_rejected_not_escaped() {
        let pk = device_pk();
        for bad in [
            "authority-revoke|lic|a|b|1".to_string(),
            "authority-revoke|lic a|dev|1".to_string(),
            "authority-revoke||dev|1".to_string(),
            "authority-revoke|lic|dev\u{7f}|1".to_string(),
            "authority-revoke|lic|dev|01".to_string(),
            "authority-revoke|lic|dev|-0".to_string(),
            "authority-revoke|lic|dev|+1".to_string(),
            "authority-revoke|lic|dev|1|".to_string(),
            format!("authority-keycheck|lic|{}|1", SHA.to_uppercase()),
            format!("authority-keycheck|lic|{}|1", &SHA[1..]),
            format!("authority-register|lic|{pk}|bad\nname|1"),
            format!("authority-register|lic|{pk}||1"),
            format!("authority-register|lic|{pk}=|laptop|1"),
            "authority-set|lic|AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|1".to_string(),
            format!("authority-set|lic|{pk}x|1"),
            "Authority-revoke|lic|dev|1".to_string(),
            format!("authority-revoke|{}|dev|1", "l".repeat(129)),
            String::new(),
        ] {
            assert!(
                matches!(
                    AuthorityStatement::parse(&bad),
                    Err(Error::MalformedField { .. } | Error::InvalidBase64)
                ),
                "{bad:?}"
            );
        }
        let r = AuthorityStatement::RevokeDevice {
            license_id: "a|b".into(),
            target_device_id: "dev".into(),
            ts: 1,
        };
        assert!(matches!(
            r.canonical(),
            Err(Error::MalformedField {
                field: "licenseId",
                ..
            })
        ));
    }
}
