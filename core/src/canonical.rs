//! Signed requests: pinned canonical strings, signing input for ed25519.
//!
//! Every canonical is `<verb>|<field>|...|<ts>`: fields joined by `|`, no
//! escaping. A field that could contain `|` or a control character is
//! rejected, never escaped, so each canonical has exactly one parse. See
//! `docs/PROTOCOL.md` for the table of verbs and fields.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::error::Error;

/// Maximum allowed |ts − now| in seconds (±5 min).
pub const MAX_SKEW_SECS: i64 = 300;
/// Maximum length of license ids, device ids and cursors, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Maximum length of a device name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// One request a device signs. `ts` is unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedRequest {
    /// `init|<licenseId>|<publicKey>|<deviceName>|<ts>`: device registration,
    /// proving possession of the private key behind `publicKey`.
    Init {
        license_id: String,
        public_key: String,
        device_name: String,
        ts: i64,
    },
    /// `push|<deviceId>|<seq>|<sha256>|<ts>`: the seed's pinned format.
    Push {
        device_id: String,
        seq: u64,
        sha256: String,
        ts: i64,
    },
    /// `pull|<deviceId>|<since>|<limit>|<ts>`; `since` is the opaque cursor
    /// (empty for "from the beginning").
    Pull {
        device_id: String,
        since: String,
        limit: u32,
        ts: i64,
    },
    /// `blob|<deviceId>|<ownerDeviceId>|<seq>|<ts>`: fetch one blob.
    Blob {
        device_id: String,
        owner_device_id: String,
        seq: u64,
        ts: i64,
    },
    /// `revoke|<deviceId>|<targetDeviceId>|<ts>`.
    Revoke {
        device_id: String,
        target_device_id: String,
        ts: i64,
    },
    /// `keycheck-put|<deviceId>|<sha256>|<ts>`: set the license's key-check blob.
    KeycheckPut {
        device_id: String,
        sha256: String,
        ts: i64,
    },
    /// `keycheck-get|<deviceId>|<ts>`.
    KeycheckGet { device_id: String, ts: i64 },
    /// `prune|<deviceId>|<checkpointSeq>|<ts>`: drop this device's own blobs
    /// with seq < checkpointSeq, which a checkpoint at that seq supersedes.
    Prune {
        device_id: String,
        checkpoint_seq: u64,
        ts: i64,
    },
    /// `devices|<deviceId>|<ts>`: list the license's devices (metadata only).
    Devices { device_id: String, ts: i64 },
}

impl SignedRequest {
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Init { .. } => "init",
            Self::Push { .. } => "push",
            Self::Pull { .. } => "pull",
            Self::Blob { .. } => "blob",
            Self::Revoke { .. } => "revoke",
            Self::KeycheckPut { .. } => "keycheck-put",
            Self::KeycheckGet { .. } => "keycheck-get",
            Self::Prune { .. } => "prune",
            Self::Devices { .. } => "devices",
        }
    }

    pub fn ts(&self) -> i64 {
        match self {
            Self::Init { ts, .. }
            | Self::Push { ts, .. }
            | Self::Pull { ts, .. }
            | Self::Blob { ts, .. }
            | Self::Revoke { ts, .. }
            | Self::KeycheckPut { ts, .. }
            | Self::KeycheckGet { ts, .. }
            | Self::Prune { ts, .. }
            | Self::Devices { ts, .. } => *ts,
        }
    }

    /// The signing device's id (`None` for `init`, which has no id yet).
    pub fn device_id(&self) -> Option<&str> {
        match self {
            Self::Init { .. } => None,
            Self::Push { device_id, .. }
            | Self::Pull { device_id, .. }
            | Self::Blob { device_id, .. }
            | Self::Revoke { device_id, .. }
            | Self::KeycheckPut { device_id, .. }
            | Self::KeycheckGet { device_id, .. }
            | Self::Prune { device_id, .. }
            | Self::Devices { device_id, .. } => Some(device_id),
        }
    }

    /// Checks every field against the contract.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Self::Init {
                license_id,
                public_key,
                device_name,
                ..
            } => {
                check_id("licenseId", license_id)?;
                check_public_key(public_key)?;
                check_name(device_name)
            }
            Self::Push {
                device_id, sha256, ..
            }
            | Self::KeycheckPut {
                device_id, sha256, ..
            } => {
                check_id("deviceId", device_id)?;
                check_sha("sha256", sha256)
            }
            Self::Pull {
                device_id, since, ..
            } => {
                check_id("deviceId", device_id)?;
                check_cursor(since)
            }
            Self::Blob {
                device_id,
                owner_device_id,
                ..
            } => {
                check_id("deviceId", device_id)?;
                check_id("ownerDeviceId", owner_device_id)
            }
            Self::Revoke {
                device_id,
                target_device_id,
                ..
            } => {
                check_id("deviceId", device_id)?;
                check_id("targetDeviceId", target_device_id)
            }
            Self::KeycheckGet { device_id, .. }
            | Self::Prune { device_id, .. }
            | Self::Devices { device_id, .. } => check_id("deviceId", device_id),
        }
    }

    /// The exact UTF-8 string that is signed. Fails on an invalid field.
    pub fn canonical(&self) -> Result<String, Error> {
        self.validate()?;
        let v = self.verb();
        Ok(match self {
            Self::Init {
                license_id,
                public_key,
                device_name,
                ts,
            } => format!("{v}|{license_id}|{public_key}|{device_name}|{ts}"),
            Self::Push {
                device_id,
                seq,
                sha256,
                ts,
            } => format!("{v}|{device_id}|{seq}|{sha256}|{ts}"),
            Self::Pull {
                device_id,
                since,
                limit,
                ts,
            } => format!("{v}|{device_id}|{since}|{limit}|{ts}"),
            Self::Blob {
                device_id,
                owner_device_id,
                seq,
                ts,
            } => format!("{v}|{device_id}|{owner_device_id}|{seq}|{ts}"),
            Self::Revoke {
                device_id,
                target_device_id,
                ts,
            } => format!("{v}|{device_id}|{target_device_id}|{ts}"),
            Self::KeycheckPut {
                device_id,
                sha256,
                ts,
            } => format!("{v}|{device_id}|{sha256}|{ts}"),
            Self::Prune {
                device_id,
                checkpoint_seq,
                ts,
            } => format!("{v}|{device_id}|{checkpoint_seq}|{ts}"),
            Self::KeycheckGet { device_id, ts } | Self::Devices { device_id, ts } => {
                format!("{v}|{device_id}|{ts}")
            }
        })
    }

    /// Parses a canonical string back into a request; the inverse of
    /// [`canonical`](Self::canonical) (round-trips byte for byte).
    pub fn parse(canonical: &str) -> Result<Self, Error> {
        let f = Fields::split(canonical);
        let req = match f.verb() {
            "init" => {
                let [license_id, public_key, device_name, ts] = f.exact()?;
                Self::Init {
                    license_id: license_id.into(),
                    public_key: public_key.into(),
                    device_name: device_name.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "push" => {
                let [device_id, seq, sha256, ts] = f.exact()?;
                Self::Push {
                    device_id: device_id.into(),
                    seq: parse_u64("seq", seq)?,
                    sha256: sha256.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "pull" => {
                let [device_id, since, limit, ts] = f.exact()?;
                Self::Pull {
                    device_id: device_id.into(),
                    since: since.into(),
                    limit: u32::try_from(parse_u64("limit", limit)?).map_err(|_| {
                        Error::MalformedField {
                            field: "limit",
                            reason: "out of range",
                        }
                    })?,
                    ts: parse_ts(ts)?,
                }
            }
            "blob" => {
                let [device_id, owner_device_id, seq, ts] = f.exact()?;
                Self::Blob {
                    device_id: device_id.into(),
                    owner_device_id: owner_device_id.into(),
                    seq: parse_u64("seq", seq)?,
                    ts: parse_ts(ts)?,
                }
            }
            "revoke" => {
                let [device_id, target_device_id, ts] = f.exact()?;
                Self::Revoke {
                    device_id: device_id.into(),
                    target_device_id: target_device_id.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "keycheck-put" => {
                let [device_id, sha256, ts] = f.exact()?;
                Self::KeycheckPut {
                    device_id: device_id.into(),
                    sha256: sha256.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "keycheck-get" => {
                let [device_id, ts] = f.exact()?;
                Self::KeycheckGet {
                    device_id: device_id.into(),
                    ts: parse_ts(ts)?,
                }
            }
            "prune" => {
                let [device_id, checkpoint_seq, ts] = f.exact()?;
                Self::Prune {
                    device_id: device_id.into(),
                    checkpoint_seq: parse_u64("checkpointSeq", checkpoint_seq)?,
                    ts: parse_ts(ts)?,
                }
            }
            "devices" => {
                let [device_id, ts] = f.exact()?;
                Self::Devices {
                    device_id: device_id.into(),
                    ts: parse_ts(ts)?,
                }
            }
            _ => {
                return Err(Error::MalformedField {
                    field: "verb",
                    reason: "unknown verb",
                })
            }
        };
        req.validate()?;
        Ok(req)
    }
}

/// A canonical string split at `|`, read as exactly as many fields as its
/// verb has (the device requests here, the authority statements in
/// `canonical_authority`): one splitting rule for every signed string.
pub(crate) struct Fields<'a>(Vec<&'a str>);

impl<'a> Fields<'a> {
    pub(crate) fn split(canonical: &'a str) -> Self {
        Self(canonical.split('|').collect())
    }

    pub(crate) fn verb(&self) -> &'a str {
        self.0[0]
    }

    /// The `N` fields after the verb, or `malformed_field` when the verb has
    /// another number of fields.
    pub(crate) fn exact<const N: usize>(&self) -> Result<[&'a str; N], Error> {
        <[&str; N]>::try_from(&self.0[1..]).map_err(|_| Error::MalformedField {
            field: "canonical",
            reason: "wrong number of fields for this verb",
        })
    }
}

/// Verifies a signed canonical: parse (malformed field), ed25519 signature
/// (bad signature), then `|ts − now| ≤ max_skew_secs` (clock skew, carrying
/// the signed skew `ts − now` so a client can correct its clock).
///
/// `public_key` and `signature` are unpadded base64url. Strict verification:
/// non-canonical and small-order points are rejected.
pub fn verify(
    public_key: &str,
    canonical: &str,
    signature: &str,
    now: i64,
    max_skew_secs: i64,
) -> Result<SignedRequest, Error> {
    let req = SignedRequest::parse(canonical)?;
    verify_signature(public_key, canonical.as_bytes(), signature)?;
    check_skew(req.ts(), now, max_skew_secs)?;
    Ok(req)
}

/// Verifies `signature` over `message` with `public_key` (both base64url).
pub fn verify_signature(public_key: &str, message: &[u8], signature: &str) -> Result<(), Error> {
    DeviceKey::parse(public_key)?.verify(message, signature)
}

/// A device's public key decoded and decompressed once, for a verifier
/// that checks many requests of the same device (the relay caches one per
/// device): decompressing the point costs about a tenth of a verification.
#[derive(Debug, Clone)]
pub struct DeviceKey(VerifyingKey);

impl DeviceKey {
    /// Parses an unpadded base64url key (a malformed field otherwise).
    pub fn parse(public_key: &str) -> Result<Self, Error> {
        parse_public_key(public_key).map(Self)
    }

    /// Strict verification of a base64url `signature` over `message`, as
    /// [`verify_signature`]: non-canonical and small-order points rejected.
    pub fn verify(&self, message: &[u8], signature: &str) -> Result<(), Error> {
        let sig_bytes: [u8; 64] = crate::b64::decode(signature)
            .map_err(|_| Error::BadSignature)?
            .try_into()
            .map_err(|_| Error::BadSignature)?;
        self.0
            .verify_strict(message, &Signature::from_bytes(&sig_bytes))
            .map_err(|_| Error::BadSignature)
    }
}

/// Fails with [`Error::ClockSkew`] when `|ts − now| > max_skew_secs`.
pub fn check_skew(ts: i64, now: i64, max_skew_secs: i64) -> Result<(), Error> {
    let skew = ts.saturating_sub(now);
    if skew.unsigned_abs() > max_skew_secs.unsigned_abs() {
        return Err(Error::ClockSkew {
            skew_secs: skew,
            max_secs: max_skew_secs,
        });
    }
    Ok(())
}

pub(crate) fn parse_public_key(public_key: &str) -> Result<VerifyingKey, Error> {
    let bytes: [u8; 32] = crate::b64::decode(public_key)
        .map_err(|_| malformed("publicKey", "not base64url"))?
        .try_into()
        .map_err(|_| malformed("publicKey", "not 32 bytes"))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| malformed("publicKey", "not a valid ed25519 point"))
}

fn malformed(field: &'static str, reason: &'static str) -> Error {
    Error::MalformedField { field, reason }
}

/// License ids, device ids: 1..=128 bytes of printable ASCII other than `|`.
pub fn check_id(field: &'static str, v: &str) -> Result<(), Error> {
    if v.is_empty() {
        return Err(malformed(field, "empty"));
    }
    if v.len() > MAX_ID_LEN {
        return Err(malformed(field, "longer than 128 bytes"));
    }
    if !v.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'|') {
        return Err(malformed(
            field,
            "contains `|`, whitespace, control or non-ASCII characters",
        ));
    }
    Ok(())
}

fn check_cursor(v: &str) -> Result<(), Error> {
    if v.is_empty() {
        return Ok(());
    }
    check_id("since", v)
}

fn check_public_key(v: &str) -> Result<(), Error> {
    parse_public_key(v).map(|_| ())
}

/// Device names: 1..=64 characters, no `|`, no control characters.
pub fn check_name(v: &str) -> Result<(), Error> {
    let n = v.chars().count();
    if n == 0 {
        return Err(malformed("deviceName", "empty"));
    }
    if n > MAX_NAME_CHARS {
        return Err(malformed("deviceName", "longer than 64 characters"));
    }
    if v.chars().any(|c| c == '|' || c.is_control()) {
        return Err(malformed(
            "deviceName",
            "contains `|` or a control character",
        ));
    }
    Ok(())
}

pub(crate) fn check_sha(field: &'static str, v: &str) -> Result<(), Error> {
    if crate::integrity::is_sha256_hex(v) {
        Ok(())
    } else {
        Err(malformed(field, "not 64 lowercase hex digits"))
    }
}

/// Decimal u64 without sign or leading zeros.
fn parse_u64(field: &'static str, v: &str) -> Result<u64, Error> {
    let canonical =
        !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) && (v == "0" || !v.starts_with('0'));
    if !canonical {
        return Err(malformed(field, "not a canonical decimal integer"));
    }
    v.parse().map_err(|_| malformed(field, "out of range"))
}

/// Decimal i64 unix seconds; `-` allowed, no `+`, no leading zeros.
pub(crate) fn parse_ts(v: &str) -> Result<i64, Error> {
    let (neg, digits) = match v.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, v),
    };
    let n =
        parse_u64("ts", digits).map_err(|_| malformed("ts", "not a canonical decimal integer"))?;
    if neg && n == 0 {
        return Err(malformed("ts", "negative zero"));
    }
    // Every i64 is a valid ts and `canonical()` writes any of them, so a
    // negative one's magnitude may be 2^63 (i64::MIN), which no positive
    // i64 holds (found by fuzz/canonical_roundtrip).
    let ts = if neg {
        0i64.checked_sub_unsigned(n)
    } else {
        i64::try_from(n).ok()
    };
    ts.ok_or_else(|| malformed("ts", "out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn ts_i64_min_round_trips() {
        // Found by fuzz/canonical_roundtrip: canonical() wrote
        // `-9223372036854775808` and parse refused it as out of range.
        let r = SignedRequest::Devices {
            device_id: "dev_a".into(),
            ts: i64::MIN,
        };
        let text = r.canonical().unwrap();
        assert_eq!(text, "devices|dev_a|-9223372036854775808");
        assert_eq!(SignedRequest::parse(&text).unwrap(), r);
        assert!(SignedRequest::parse("devices|dev_a|-9223372036854775809").is_err());
        assert!(SignedRequest::parse("devices|dev_a|9223372036854775808").is_err());
    }

    #[test]
    fn push_matches_the_pinned_format() {
        let r = SignedRequest::Push {
            device_id: "dev_1".into(),
            seq: 42,
            sha256: SHA.into(),
            ts: 1_700_000_000,
        };
        let c = r.canonical().unwrap();
        assert_eq!(c, format!("push|dev_1|42|{SHA}|1700000000"));
        assert_eq!(SignedRequest::parse(&c).unwrap(), r);
    }

    #[test]
    fn pipe_and_control_characters_are_rejected_not_escaped() {
        let r = SignedRequest::Revoke {
            device_id: "a|b".into(),
            target_device_id: "c".into(),
            ts: 1,
        };
        assert!(matches!(
            r.canonical(),
            Err(Error::MalformedField {
                field: "deviceId",
                ..
            })
        ));
        let r = SignedRequest::Devices {
            device_id: "a\nb".into(),
            ts: 1,
        };
        assert!(r.canonical().is_err());
        assert!(check_name("laptop|x").is_err());
        assert!(check_name("bad\u{7}").is_err());
        assert!(check_name("Ana’s laptop").is_ok());
    }

    #[test]
    fn non_canonical_numbers_are_malformed() {
        for bad in [
            format!("push|d|01|{SHA}|1"),
            format!("push|d|+1|{SHA}|1"),
            format!("push|d|1|{SHA}|-0"),
            format!("push|d|1|{SHA}|01"),
            format!("push|d|18446744073709551616|{SHA}|1"),
            format!("push|d|1|{}|1", SHA.to_uppercase()),
            "push|d|1|1".to_string(),
            "nope|d|1".to_string(),
        ] {
            assert!(SignedRequest::parse(&bad).is_err(), "{bad}");
        }
        assert_eq!(SignedRequest::parse("keycheck-get|d|-5").unwrap().ts(), -5);
    }

    #[test]
    fn skew_is_signed_and_bounded() {
        check_skew(1000, 1300, 300).unwrap();
        check_skew(1300, 1000, 300).unwrap();
        match check_skew(1000, 1301, 300) {
            Err(Error::ClockSkew {
                skew_secs,
                max_secs,
            }) => {
                assert_eq!((skew_secs, max_secs), (-301, 300))
            }
            other => panic!("{other:?}"),
        }
        assert!(check_skew(i64::MIN, i64::MAX, 300).is_err());
    }
}
