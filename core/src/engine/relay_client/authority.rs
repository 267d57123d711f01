//! The license authority on the wire (PROTOCOL §11.3): asking the relay for
//! a license's authority key before a device exists, and the authority
//! fields of `init`.

use super::{parse_json, refusal, RelayClient, BAD_RESPONSE};
use crate::authority::{AuthorityKey, AuthorityPublicKey};
use crate::canonical_authority::AuthorityStatement;
use crate::engine::error::SyncError;
use crate::engine::host::HttpRequest;
use crate::protocol::headers::{LICENSE_ID, LICENSE_KEY};
use crate::protocol::{routes, AuthorityResponse, InitRequest};

/// What `init` carries of the license authority.
pub enum InitAuthority<'a> {
    /// Nothing: a v1 body (a license without authority, or no receipt).
    None,
    /// `authoritySignature` over `authority-register`: the license has this
    /// authority key and the device derived the same one.
    Register(&'a AuthorityKey),
    /// A claim (§11.4): the license has no key and its window is open;
    /// `authorityKey` + `authorityClaim` + `authoritySignature`.
    Claim(&'a AuthorityKey),
}

impl InitAuthority<'_> {
    /// Signs the body's own fields, so the relay rebuilds the same
    /// statements from what it receives.
    pub(super) fn fill(&self, body: &mut InitRequest) -> Result<(), SyncError> {
        let key = match self {
            Self::None => return Ok(()),
            Self::Register(k) | Self::Claim(k) => *k,
        };
        body.authority_signature = Some(key.sign(&AuthorityStatement::RegisterDevice {
            license_id: body.license_id.clone(),
            public_key: body.public_key.clone(),
            device_name: body.device_name.clone(),
            ts: body.ts,
        })?);
        if let Self::Claim(_) = self {
            let public = key.public_key().to_string();
            body.authority_claim = Some(key.sign(&AuthorityStatement::SetAuthority {
                license_id: body.license_id.clone(),
                authority_key: public.clone(),
                ts: body.ts,
            })?);
            body.authority_key = Some(public);
        }
        Ok(())
    }
}

/// A license's authority as its relay reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LicenseAuthority {
    /// `None`: the license has no authority key (or the relay predates §11).
    pub key: Option<AuthorityPublicKey>,
    /// No key yet, and the operator's claim window is open.
    pub claim_open: bool,
}

impl RelayClient {
    /// `GET /sync/authority` with the license id and key in headers (never
    /// the query: access logs keep URLs). A relay from before §11 answers
    /// `404` (no such route): that is a license without authority, which is
    /// what such a relay enforces. A key that does not parse is the relay's
    /// fault, not a reason to fall back to v1.
    pub fn license_authority(
        &self,
        license_id: &str,
        license_key: &str,
    ) -> Result<LicenseAuthority, SyncError> {
        let resp = self.send_raw(&HttpRequest {
            method: "GET".into(),
            url: self.url(routes::AUTHORITY),
            headers: vec![
                (LICENSE_ID.into(), license_id.into()),
                (LICENSE_KEY.into(), license_key.into()),
            ],
            body: Vec::new(),
        })?;
        if resp.status == 404 {
            return Ok(LicenseAuthority::default());
        }
        if !(200..300).contains(&resp.status) {
            return Err(self.fail(refusal(&resp)));
        }
        let answer: AuthorityResponse = parse_json(&resp)?;
        let bad = |message: &str| SyncError::Relay {
            status: resp.status,
            code: BAD_RESPONSE.into(),
            message: message.into(),
        };
        if answer.license_id != license_id {
            return Err(bad("the relay answered for another license"));
        }
        let key = answer
            .authority_key
            .as_deref()
            .map(AuthorityPublicKey::parse)
            .transpose()
            .map_err(|_| bad("the relay's authorityKey is not a valid public key"))?;
        Ok(LicenseAuthority {
            claim_open: key.is_none() && answer.claim_open,
            key,
        })
    }
}
