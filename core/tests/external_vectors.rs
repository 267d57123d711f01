//! External known-answer tests: RFC 8032 (ed25519), RFC 7914 §11 and the
//! 600k-iteration PBKDF2-HMAC-SHA256 case, and Project Wycheproof
//! (AES-256-GCM with 96-bit IV and 128-bit tag, ed25519, PBKDF2-HMAC-SHA256).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use azmx_sync_core::{b64, canonical, DeviceIdentity, EnvelopeKey};
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use wycheproof::TestResult;

#[test]
fn rfc8032_ed25519() {
    // (secret key, public key, message, signature) from RFC 8032 §7.1.
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];
    for (sk, pk, msg, sig) in cases {
        let seed: [u8; 32] = hex::decode(sk).unwrap().try_into().unwrap();
        let id = DeviceIdentity::from_seed_for_vectors(seed);
        assert_eq!(id.public_key(), b64::encode(&hex::decode(pk).unwrap()));
        let signing = SigningKey::from_bytes(&seed);
        let msg = hex::decode(msg).unwrap();
        assert_eq!(hex::encode(signing.sign(&msg).to_bytes()), sig);
        canonical::verify_signature(
            &id.public_key(),
            &msg,
            &b64::encode(&hex::decode(sig).unwrap()),
        )
        .unwrap();
    }
    println!("RFC 8032 ed25519: {} cases passed", cases.len());
}

fn pbkdf2_hex(password: &[u8], salt: &[u8], iters: u32, len: usize) -> String {
    let mut out = vec![0u8; len];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iters, &mut out);
    hex::encode(out)
}

#[test]
fn rfc7914_and_600k_pbkdf2_sha256() {
    assert_eq!(
        pbkdf2_hex(b"passwd", b"salt", 1, 64),
        "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"
    );
    assert_eq!(
        pbkdf2_hex(b"Password", b"NaCl", 80000, 64),
        "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d"
    );
    assert_eq!(
        pbkdf2_hex(b"password", b"salt", 600_000, 20),
        "669cfe52482116fda1aa2cbe409b2f56c8e45637"
    );
    // The same primitive through the public API: salt = prefix + lid.
    let key = EnvelopeKey::derive("password", "lic").unwrap();
    assert_eq!(
        key.to_hex_for_vectors(),
        pbkdf2_hex(b"password", b"azmx.sync.envelope.v1:lic", 600_000, 32)
    );
    println!("RFC 7914 + 600k PBKDF2-HMAC-SHA256: 3 cases passed");
}

#[test]
fn wycheproof_aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let (mut ran, mut skipped) = (0, 0);
    for group in &set.test_groups {
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            ran += 1;
            let cipher = Aes256Gcm::new_from_slice(&t.key).unwrap();
            let nonce = &Nonce::try_from(&t.nonce[..]).unwrap();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let dec = cipher.decrypt(
                nonce,
                Payload {
                    msg: &ct_tag,
                    aad: &t.aad,
                },
            );
            match t.result {
                TestResult::Valid | TestResult::Acceptable => {
                    assert_eq!(dec.as_deref().ok(), Some(&t.pt[..]), "tc {}", t.tc_id);
                    let enc = cipher
                        .encrypt(
                            nonce,
                            Payload {
                                msg: &t.pt,
                                aad: &t.aad,
                            },
                        )
                        .unwrap();
                    assert_eq!(enc, ct_tag, "tc {}", t.tc_id);
                    // Through our envelope format when there is no AAD.
                    if t.aad.is_empty() {
                        let key =
                            EnvelopeKey::from_bytes_for_vectors(t.key[..].try_into().unwrap());
                        let mut blob = vec![0x01];
                        blob.extend_from_slice(&t.nonce);
                        blob.extend_from_slice(&ct_tag);
                        assert_eq!(key.open(&blob).unwrap(), &t.pt[..], "tc {}", t.tc_id);
                    }
                }
                TestResult::Invalid => assert!(dec.is_err(), "tc {} must fail", t.tc_id),
            }
        }
    }
    assert!(ran > 50, "ran {ran}");
    println!("Wycheproof aes_gcm_test (AES-256, 96-bit IV, 128-bit tag): {ran} cases passed, {skipped} other-size cases not applicable");
}

#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        let pk = b64::encode(&group.key.pk);
        for t in &group.tests {
            ran += 1;
            let ours = canonical::verify_signature(&pk, &t.msg, &b64::encode(&t.sig)).is_ok();
            let raw = VerifyingKey::from_bytes(group.key.pk[..].try_into().unwrap())
                .ok()
                .zip(ed25519_dalek::Signature::from_slice(&t.sig).ok())
                .map(|(vk, sig)| vk.verify(&t.msg, &sig).is_ok())
                .unwrap_or(false);
            match t.result {
                TestResult::Valid => assert!(ours && raw, "tc {} must verify", t.tc_id),
                TestResult::Invalid => assert!(!ours, "tc {} must not verify", t.tc_id),
                TestResult::Acceptable => {}
            }
        }
    }
    assert!(ran > 100, "ran {ran}");
    println!("Wycheproof ed25519_test: {ran} cases passed");
}

#[test]
fn wycheproof_pbkdf2_hmac_sha256() {
    let set =
        wycheproof::pbkdf2::TestSet::load(wycheproof::pbkdf2::TestName::Pbkdf2HmacSha256).unwrap();
    let mut ran = 0;
    for group in &set.test_groups {
        for t in &group.tests {
            let got = pbkdf2_hex(&t.password, &t.salt, t.iteration_count as u32, t.dk_len);
            let ok = got == hex::encode(&t.dk[..]);
            match t.result {
                TestResult::Valid => assert!(ok, "tc {}", t.tc_id),
                TestResult::Invalid => assert!(!ok, "tc {}", t.tc_id),
                TestResult::Acceptable => {}
            }
            ran += 1;
        }
    }
    assert!(ran > 10, "ran {ran}");
    println!("Wycheproof pbkdf2_hmacsha256_test: {ran} cases passed");
}
