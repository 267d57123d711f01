//! Test certificates, made at test time (rcgen): a CA, a relay
//! certificate for `localhost` and `127.0.0.1` signed by it, and a second,
//! unrelated CA (the "unknown authority" case). The CLI's TLS test uses
//! [`TestPki::write`]; the Python test runs the `azmx-test-certs` binary,
//! which calls the same function.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// The PEM files [`TestPki::write`] made.
#[derive(Debug, Clone)]
pub struct TestPki {
    /// The CA that signed the relay's certificate.
    pub ca: PathBuf,
    /// A CA that signed nothing the relay serves.
    pub other_ca: PathBuf,
    /// The relay's certificate (`localhost`, `127.0.0.1`, `::1`).
    pub cert: PathBuf,
    /// Its private key (0600).
    pub key: PathBuf,
}

impl TestPki {
    /// Writes `ca.pem`, `other-ca.pem`, `relay-cert.pem` and
    /// `relay-key.pem` into `dir`.
    pub fn write(dir: &Path) -> Self {
        let ca = ca("azmx-sync test CA");
        let other = ca_pem("azmx-sync unrelated test CA");
        let key = KeyPair::generate().expect("relay key");
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])
        .expect("relay certificate params");
        params
            .distinguished_name
            .push(DnType::CommonName, "azmx-sync test relay");
        let cert = params.signed_by(&key, &ca).expect("sign relay certificate");
        let pki = Self {
            ca: dir.join("ca.pem"),
            other_ca: dir.join("other-ca.pem"),
            cert: dir.join("relay-cert.pem"),
            key: dir.join("relay-key.pem"),
        };
        std::fs::write(&pki.ca, ca.pem()).expect("write ca.pem");
        std::fs::write(&pki.other_ca, other).expect("write other-ca.pem");
        std::fs::write(&pki.cert, cert.pem()).expect("write relay-cert.pem");
        write_private(&pki.key, &key.serialize_pem());
        pki
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let key = KeyPair::generate().expect("CA key");
    CertifiedIssuer::self_signed(ca_params(name), key).expect("self-sign CA")
}

fn ca_pem(name: &str) -> String {
    ca(name).pem()
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .expect("write relay-key.pem");
}
