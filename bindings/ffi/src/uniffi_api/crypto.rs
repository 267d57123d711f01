//! The envelope key and blob integrity: generated from
//! `bindings/exports.toml` (`crypto/generated.rs`, included here so that
//! uniffi sees the items in this module, as it always did).

include!("crypto/generated.rs");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_show_nothing_secret() {
        let k = EnvelopeKey::derive("  receipt-abc \n".into(), "lid".into()).unwrap();
        assert_eq!(format!("{k:?}"), "EnvelopeKey(<redacted>)");
        assert_eq!(k.to_string(), "EnvelopeKey(<redacted>)");
        let blob = k.seal(b"hi".to_vec());
        assert_eq!(k.open(blob).unwrap(), b"hi");
        let other = EnvelopeKey::derive("receipt-abc".into(), "lid".into()).unwrap();
        assert!(*k == *other);
    }
}
