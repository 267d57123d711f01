//! Unpadded base64url (RFC 4648 §5), strict: decoding rejects padding,
//! the standard alphabet, whitespace and non-canonical trailing bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::Error;

/// Encodes bytes as unpadded base64url.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes canonical unpadded base64url; anything else is [`Error::InvalidBase64`].
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    // The default engine config already rejects non-zero trailing bits, so a
    // decoded value has exactly one text form.
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| Error::InvalidBase64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        assert_eq!(encode(b"\xfb\xff"), "-_8");
        assert_eq!(decode("-_8").unwrap(), b"\xfb\xff");
        assert!(matches!(decode("-_8="), Err(Error::InvalidBase64)));
        assert!(matches!(decode("+/8"), Err(Error::InvalidBase64)));
        assert!(
            matches!(decode("-_9"), Err(Error::InvalidBase64)),
            "non-canonical trailing bits"
        );
        assert!(matches!(decode("ab cd"), Err(Error::InvalidBase64)));
        assert!(matches!(decode("a"), Err(Error::InvalidBase64)));
    }
}
