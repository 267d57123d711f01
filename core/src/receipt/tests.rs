//! Unit tests of AZR1 receipts and of `assess`, and the published vectors.

use super::*;
use secrecy::ExposeSecret;

#[test]
fn generated_receipts_check_and_are_strong() {
    for _ in 0..200 {
        let r = generate();
        let r = r.expose_secret();
        assert_eq!(r.len(), RECEIPT_LEN);
        assert_eq!(check_format(r), Ok(Format::Azr1), "{r}");
        let s = assess(r);
        assert_eq!(s.weakness, None, "{r}");
        assert_eq!(s.estimated_bits, RANDOM_BITS);
    }
    assert_ne!(generate().expose_secret(), generate().expose_secret());
}

#[test]
fn every_single_substitution_is_caught_and_located() {
    let r = generate();
    let r = r.expose_secret();
    let mut located = 0;
    let mut total = 0;
    for (pos, orig) in r.char_indices() {
        if orig == SEPARATOR || pos < PREFIX.len() {
            continue;
        }
        let group = 1 + r[..pos].matches(SEPARATOR).count();
        for &c in ALPHABET.iter().filter(|&&c| char::from(c) != orig) {
            let mut typo = r.to_string();
            typo.replace_range(pos..pos + 1, &char::from(c).to_string());
            total += 1;
            match check_format(&typo) {
                Err(FormatError::Checksum { group: Some(g) }) => {
                    assert_eq!(g, group);
                    located += 1;
                }
                Err(FormatError::Checksum { group: None }) => {}
                other => panic!("{typo}: {other:?}"),
            }
        }
    }
    // Spurious candidates elsewhere are ~0.1% likely per typo.
    assert!(located * 100 >= total * 98, "{located}/{total}");
}

#[test]
fn typed_errors_name_the_group_and_never_the_text() {
    // Fixed data: every group has a letter, so lower-casing changes it.
    let data: [u8; DATA_CHARS] = *b"K7M3Q8XW2TNBHJ4RCV6YEZ9PFA5G";
    let r = assemble(&data, &checksum(&data));
    let r = r.as_str();
    assert_eq!(check_format(r), Ok(Format::Azr1));
    let cases: Vec<(String, FormatError)> = vec![
        (
            r[..r.len() - 5].to_string(),
            FormatError::GroupCount { found: 8 },
        ),
        (
            format!("{}X{}", &r[..7], &r[7..]),
            FormatError::GroupLength { group: 2, found: 5 },
        ),
        (
            format!("{}O{}", &r[..11], &r[12..]),
            FormatError::AmbiguousLetter { group: 3 },
        ),
        (r.to_ascii_lowercase(), FormatError::Lowercase { group: 1 }),
        (
            format!("AZR1{}", r[4..].to_ascii_lowercase()),
            FormatError::Lowercase { group: 2 },
        ),
        (
            format!("{}*{}", &r[..16], &r[17..]),
            FormatError::InvalidCharacter { group: 4 },
        ),
        (format!("{r}-"), FormatError::GroupCount { found: 10 }),
    ];
    for (typo, want) in cases {
        let got = check_format(&typo).unwrap_err();
        assert_eq!(got, want, "{typo}");
        let msg = got.to_string();
        for g in typo.split(SEPARATOR).skip(1) {
            assert!(g.len() < 3 || !msg.contains(g), "{msg} leaks {g}");
        }
    }
}

#[test]
fn vendor_receipts_are_never_checked() {
    for r in [
        "RCPT-7F3A-99C2",
        "3q2-7Wc",
        "AZR1",
        "AZR1 K7M3",
        "xAZR1-0000",
        "azr-1",
        "\u{a0}AZR1-0000",
    ] {
        assert_eq!(check_format(r), Ok(Format::Other), "{r}");
    }
    // Surrounding ASCII whitespace is trimmed first (PROTOCOL §1).
    let g = generate();
    let padded = format!(" \t{}\r\n", g.expose_secret());
    assert_eq!(check_format(&padded), Ok(Format::Azr1));
}

#[test]
fn obvious_weaknesses() {
    use Weakness::*;
    let weak = |r: &str| assess(r).weakness;
    assert_eq!(weak(""), Some(TooShort { chars: 0 }));
    assert_eq!(weak("RCPT-7F3A-99C2"), Some(TooShort { chars: 14 }));
    assert_eq!(weak("aaaaaaaaaaaaaaaaaaaaaaaa"), Some(Repeated));
    assert_eq!(weak("K7M3-K7M3-K7M3-K7M3-K7M3"), Some(Repeated));
    assert_eq!(weak("abcdefghijklmnopqrstuvwxyz"), Some(CommonSequence));
    assert_eq!(weak("0123456789-9876543210"), Some(CommonSequence));
    assert_eq!(weak("qwertyuiop-asdfghjkl"), Some(CommonSequence));
    assert_eq!(weak("password-password-1"), Some(CommonSequence));
    assert!(matches!(weak("8273619450283746"), Some(LowEntropy { .. })));
    // One repeated data group with a valid checksum: still weak.
    let data: [u8; DATA_CHARS] = *b"K7M3K7M3K7M3K7M3K7M3K7M3K7M3";
    let r = assemble(&data, &checksum(&data));
    assert_eq!(check_format(&r), Ok(Format::Azr1));
    assert_eq!(weak(&r), Some(Repeated));
    // Not weak: random-looking vendor receipts and the CLI tests' one.
    // So is a phrase of four common words (about 44 bits really): the
    // verdict flags the obvious only, it is no dictionary check.
    for r in [
        "RCPT-CLI-7F3A-99C2-44D1",
        "Zt4kQ9+vR2mW8xLp1NcY3bHs",
        "correct horse battery staple",
    ] {
        assert_eq!(weak(r), None, "{r}");
    }
}

/// The published vectors (checked independently in Python by
/// tests/vectors/check_vectors.py).
#[test]
fn receipt_vectors() {
    let v: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/vectors/receipt-v1.json")).unwrap();
    let f = &v["format"];
    assert_eq!(f["alphabet"], std::str::from_utf8(ALPHABET).unwrap());
    assert_eq!(f["prefix"], PREFIX);
    assert_eq!(f["checksum_domain"], CHECKSUM_DOMAIN);
    assert_eq!(f["random_bits"], RANDOM_BITS);
    for c in v["valid"].as_array().unwrap() {
        let data: [u8; DATA_CHARS] = c["data"].as_str().unwrap().as_bytes().try_into().unwrap();
        let check = checksum(&data);
        assert_eq!(c["checksum"], std::str::from_utf8(&check).unwrap());
        assert_eq!(c["receipt"], assemble(&data, &check));
    }
    let checks = v["check"].as_array().unwrap();
    assert!(checks.len() >= 15);
    for c in checks {
        let r = c["receipt"].as_str().unwrap();
        let (result, group) = match check_format(r) {
            Ok(Format::Azr1) => ("azr1", None),
            Ok(Format::Other) => ("other", None),
            Err(e) => (e.code(), e.group()),
        };
        assert_eq!(c["result"], result, "{c}");
        assert_eq!(c["group"].as_u64(), group.map(|g| g as u64), "{c}");
    }
}

#[test]
fn assess_is_bounded_on_long_input() {
    let long = "ab".repeat(1_000_000);
    assert_eq!(assess(&long).weakness, Some(Weakness::Repeated));
}
