//! The license authority key: an Ed25519 key pair derived from the recovery
//! receipt, so that only someone holding the receipt can register or revoke
//! devices and set anything license-wide (`docs/PROTOCOL.md` §11).
//!
//! ```text
//! ikm  = PBKDF2 output of §1 (the envelope key's 32 bytes; no second PBKDF2)
//! seed = HKDF-SHA256(ikm, salt = none (32 zero bytes),
//!                    info = "azmx.sync.authority.v1:" || licenseId, L = 32)
//! key  = Ed25519 key pair from seed (RFC 8032)
//! ```
//!
//! The license key stays what it was (the entitlement to use a relay); the
//! relay keeps only the authority's *public* key and checks the statements
//! of `crate::canonical_authority` against it.
//!
//! [`ReceiptKeys::derive`] gives the envelope key and the authority key from
//! one receipt for the price of one PBKDF2; [`authority_public_key`] is the
//! operator-facing helper behind `azmx-sync authority-key`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use secrecy::SecretString;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::canonical::check_skew;
use crate::canonical_authority::AuthorityStatement;
use crate::error::Error;
use crate::kdf::EnvelopeKey;

/// HKDF `info` prefix; the license id is appended verbatim (as in the
/// PBKDF2 salt of §1).
pub const HKDF_INFO_PREFIX: &str = "azmx.sync.authority.v1:";

/// The envelope key and the authority key of one receipt and license.
///
/// Both come from a single PBKDF2 run: a host that needs both (every
/// device at `init`) pays ~100 ms once.
#[derive(Debug)]
pub struct ReceiptKeys {
    pub envelope: EnvelopeKey,
    pub authority: AuthorityKey,
}

impl ReceiptKeys {
    /// Derives both keys (PROTOCOL §1 and §11.1).
    pub fn derive(receipt: &str, license_id: &str) -> Result<Self, Error> {
        Self::derive_secret(SecretString::from(receipt), license_id)
    }

    /// Like [`derive`](Self::derive), taking ownership of the receipt in a
    /// secret container, which is zeroized when this returns.
    pub fn derive_secret(receipt: SecretString, license_id: &str) -> Result<Self, Error> {
        let envelope = EnvelopeKey::derive_secret(receipt, license_id)?;
        let authority = AuthorityKey::from_envelope_key(&envelope, license_id)?;
        Ok(Self {
            envelope,
            authority,
        })
    }
}

/// The authority public key of a receipt and license, for the operator:
/// `relay license add --authority-key` takes this text. Runs one PBKDF2.
pub fn authority_public_key(
    receipt: SecretString,
    license_id: &str,
) -> Result<AuthorityPublicKey, Error> {
    Ok(ReceiptKeys::derive_secret(receipt, license_id)?
        .authority
        .public_key())
}

/// The license authority's signing key. Zeroized on drop (ed25519-dalek's
/// `SigningKey` is `ZeroizeOnDrop`); `Debug` shows only the public key;
/// equality is constant-time; no API returns the private bytes.
pub struct AuthorityKey {
    signing: SigningKey,
}

// The only field zeroizes itself on drop.
impl ZeroizeOnDrop for AuthorityKey {}

impl AuthorityKey {
    /// Derives the authority key from an envelope key already derived for
    /// `license_id` (HKDF only, no PBKDF2). The envelope key must be the one
    /// of this same license id, or the result matches no relay's key.
    pub fn from_envelope_key(envelope: &EnvelopeKey, license_id: &str) -> Result<Self, Error> {
        if license_id.is_empty() {
            return Err(Error::EmptyLicenseId);
        }
        Ok(Self::from_seed(&derive_seed(
            envelope.pbkdf2_output(),
            license_id,
        )))
    }

    /// Runs PBKDF2 then HKDF. Prefer [`ReceiptKeys::derive`] when the
    /// envelope key is needed too.
    pub fn derive(receipt: &str, license_id: &str) -> Result<Self, Error> {
        Ok(ReceiptKeys::derive(receipt, license_id)?.authority)
    }

    fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// Deterministic key from a seed. Only for known-answer vectors and tests.
    #[cfg(any(test, feature = "test-vectors"))]
    #[doc(hidden)]
    pub fn from_seed_for_vectors(seed: [u8; 32]) -> Self {
        Self::from_seed(&seed)
    }

    /// Hex of the HKDF output (the Ed25519 seed). Only for vectors and tests.
    #[cfg(any(test, feature = "test-vectors"))]
    #[doc(hidden)]
    pub fn seed_hex_for_vectors(&self) -> String {
        hex::encode(self.signing.as_bytes())
    }

    pub fn public_key(&self) -> AuthorityPublicKey {
        AuthorityPublicKey {
            key: self.signing.verifying_key(),
        }
    }

    /// Signs a statement's canonical; returns the base64url signature.
    pub fn sign(&self, statement: &AuthorityStatement) -> Result<String, Error> {
        let canonical = statement.canonical()?;
        Ok(crate::b64::encode(
            &self.signing.sign(canonical.as_bytes()).to_bytes(),
        ))
    }

    /// Signs a statement given as text, after checking it parses as one:
    /// the key is never a signing oracle for arbitrary bytes (nor for a
    /// device request).
    pub fn sign_canonical(&self, canonical: &str) -> Result<String, Error> {
        self.sign(&AuthorityStatement::parse(canonical)?)
    }
}

/// HKDF-SHA256 with no salt: the input is already a uniformly random
/// 32-byte PBKDF2 output, which is what RFC 5869 §3.1 allows a zero salt
/// for; the label and license id go in `info`, the RFC's place for context.
/// The `hkdf` crate's internal HMAC state is not zeroized (nor is the
/// `pbkdf2` crate's); the output is.
fn derive_seed(ikm: &[u8; 32], license_id: &str) -> Zeroizing<[u8; 32]> {
    let mut seed = Zeroizing::new([0u8; 32]);
    let info = format!("{HKDF_INFO_PREFIX}{license_id}");
    Hkdf::<Sha256>::new(None, ikm)
        .expand(info.as_bytes(), seed.as_mut())
        // Only fails for outputs over 255 × 32 bytes.
        .expect("32 bytes is a valid HKDF-SHA256 length");
    seed
}

impl PartialEq for AuthorityKey {
    /// Constant-time comparison of the secret seeds.
    fn eq(&self, other: &Self) -> bool {
        self.signing
            .as_bytes()
            .ct_eq(other.signing.as_bytes())
            .into()
    }
}
impl Eq for AuthorityKey {}

impl std::fmt::Debug for AuthorityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorityKey")
            .field("public_key", &self.public_key().to_string())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

/// A license's authority public key. Text form: base64url of the 32 bytes
/// (43 characters). Parsing refuses anything that is not canonical
/// base64url of a valid, not small-order Ed25519 point.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuthorityPublicKey {
    key: VerifyingKey,
}

impl AuthorityPublicKey {
    /// Parses the text form. Errors: [`Error::InvalidBase64`], or
    /// [`Error::MalformedField`] with field `authorityKey` (wrong length,
    /// not a point, small-order point).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let malformed = |reason| Error::MalformedField {
            field: "authorityKey",
            reason,
        };
        let bytes: [u8; 32] = crate::b64::decode(text)?
            .try_into()
            .map_err(|_| malformed("not 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|_| malformed("not a valid ed25519 point"))?;
        // A small-order key would verify forged signatures under the
        // non-strict rules; strict verification refuses it anyway, but an
        // operator typing one in should hear so at once.
        if key.is_weak() {
            return Err(malformed("a small-order ed25519 point"));
        }
        Ok(Self { key })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.key.as_bytes()
    }

    /// The 16-hex-digit fingerprint people compare (as for devices, §4).
    pub fn fingerprint(&self) -> String {
        crate::identity::fingerprint_of(self.key.as_bytes())
    }

    /// Verifies `signature` (base64url) over a statement the caller rebuilt
    /// from a request's own fields, then the clock window. Order and
    /// errors as in §5: `malformed_field`, `bad_signature`, `clock_skew`.
    pub fn verify(
        &self,
        statement: &AuthorityStatement,
        signature: &str,
        now: i64,
        max_skew_secs: i64,
    ) -> Result<(), Error> {
        let canonical = statement.canonical()?;
        self.verify_signature(canonical.as_bytes(), signature)?;
        check_skew(statement.ts(), now, max_skew_secs)
    }

    /// Strict Ed25519 verification of raw bytes (non-canonical `S` and
    /// small-order `R` refused).
    pub(crate) fn verify_signature(&self, message: &[u8], signature: &str) -> Result<(), Error> {
        let sig: [u8; 64] = crate::b64::decode(signature)
            .map_err(|_| Error::BadSignature)?
            .try_into()
            .map_err(|_| Error::BadSignature)?;
        self.key
            .verify_strict(message, &Signature::from_bytes(&sig))
            .map_err(|_| Error::BadSignature)
    }
}

impl std::fmt::Display for AuthorityPublicKey {
    /// The base64url text form.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::b64::encode(self.key.as_bytes()))
    }
}

impl std::fmt::Debug for AuthorityPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuthorityPublicKey({self})")
    }
}

impl std::str::FromStr for AuthorityPublicKey {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_764_288_000;

    fn register(pk: &str, ts: i64) -> AuthorityStatement {
        AuthorityStatement::RegisterDevice {
            license_id: "lic_a".into(),
            public_key: pk.into(),
            device_name: "laptop".into(),
            ts,
        }
    }

    #[test]
    fn one_pbkdf2_gives_both_keys_bound_to_receipt_and_license() {
        let a = ReceiptKeys::derive(" receipt-1\n", "lic_a").unwrap();
        assert_eq!(
            a.envelope,
            EnvelopeKey::derive("receipt-1", "lic_a").unwrap()
        );
        let again = AuthorityKey::from_envelope_key(&a.envelope, "lic_a").unwrap();
        assert_eq!(a.authority, again);
        // Another license id changes the key even with the same PBKDF2
        // output (the id is in HKDF's info too).
        let other_lid = AuthorityKey::from_envelope_key(&a.envelope, "lic_b").unwrap();
        assert_ne!(a.authority, other_lid);
        let other_receipt = ReceiptKeys::derive("receipt-2", "lic_a").unwrap();
        assert_ne!(
            a.authority.public_key(),
            other_receipt.authority.public_key()
        );
        assert_eq!(
            authority_public_key(SecretString::from("receipt-1"), "lic_a").unwrap(),
            a.authority.public_key()
        );
        assert!(matches!(
            AuthorityKey::from_envelope_key(&a.envelope, ""),
            Err(Error::EmptyLicenseId)
        ));
        assert!(matches!(
            ReceiptKeys::derive(" \t", "lic_a"),
            Err(Error::EmptyReceipt)
        ));
    }

    #[test]
    fn debug_hides_the_private_key() {
        let k = AuthorityKey::from_seed_for_vectors([0xab; 32]);
        let seed_hex = k.seed_hex_for_vectors();
        let dbg = format!("{k:?}");
        assert!(
            dbg.contains("<redacted>") && !dbg.contains(&seed_hex),
            "{dbg}"
        );
        assert!(dbg.contains(&k.public_key().to_string()), "{dbg}");
    }

    #[test]
    fn public_key_text_round_trips_and_bad_text_is_typed() {
        let pk = AuthorityKey::from_seed_for_vectors([5; 32]).public_key();
        let text = pk.to_string();
        assert_eq!(text.len(), 43);
        assert_eq!(AuthorityPublicKey::parse(&text).unwrap(), pk);
        assert_eq!(text.parse::<AuthorityPublicKey>().unwrap(), pk);
        assert_eq!(pk.fingerprint().len(), 19);
        assert!(matches!(
            AuthorityPublicKey::parse(&format!("{text}=")),
            Err(Error::InvalidBase64)
        ));
        assert!(matches!(
            AuthorityPublicKey::parse(&text[..42]),
            Err(Error::InvalidBase64 | Error::MalformedField { .. })
        ));
        assert!(matches!(
            AuthorityPublicKey::parse(&crate::b64::encode(&[1; 31])),
            Err(Error::MalformedField {
                field: "authorityKey",
                reason: "not 32 bytes"
            })
        ));
        // All zeros decodes to a point of order 4.
        assert!(matches!(
            AuthorityPublicKey::parse(&crate::b64::encode(&[0; 32])),
            Err(Error::MalformedField {
                reason: "a small-order ed25519 point",
                ..
            })
        ));
    }

    #[test]
    fn signs_statements_only_and_verifies_strictly_then_the_clock() {
        let k = AuthorityKey::from_seed_for_vectors([6; 32]);
        let pk = k.public_key();
        let dev = crate::DeviceIdentity::from_seed_for_vectors([7; 32]).public_key();
        let stmt = register(&dev, T);
        let sig = k.sign(&stmt).unwrap();
        pk.verify(&stmt, &sig, T + 300, 300).unwrap();
        assert_eq!(
            crate::canonical_authority::verify(
                &pk.to_string(),
                &stmt.canonical().unwrap(),
                &sig,
                T,
                300
            )
            .unwrap(),
            stmt
        );
        assert!(matches!(
            pk.verify(&stmt, &sig, T + 301, 300),
            Err(Error::ClockSkew {
                skew_secs: -301,
                ..
            })
        ));
        // A bad signature is reported as such even when the clock is off too.
        let other = register(&dev, T + 1);
        assert!(matches!(
            pk.verify(&other, &sig, T + 10_000, 300),
            Err(Error::BadSignature)
        ));
        let wrong = AuthorityKey::from_seed_for_vectors([8; 32]).public_key();
        assert!(matches!(
            wrong.verify(&stmt, &sig, T, 300),
            Err(Error::BadSignature)
        ));
        assert!(matches!(
            pk.verify(&stmt, "not-a-signature", T, 300),
            Err(Error::BadSignature)
        ));
        // Not an oracle: device requests and free text are refused.
        assert!(k.sign_canonical("devices|dev_1|1700000000").is_err());
        assert!(k.sign_canonical("anything").is_err());
        assert_eq!(k.sign_canonical(&stmt.canonical().unwrap()).unwrap(), sig);
    }

    #[test]
    fn a_device_key_refuses_to_sign_statements() {
        let dev = crate::DeviceIdentity::from_seed_for_vectors([6; 32]);
        let stmt = register(&dev.public_key(), T);
        assert!(dev.sign_canonical(&stmt.canonical().unwrap()).is_err());
    }
}
