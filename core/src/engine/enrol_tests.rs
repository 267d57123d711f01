//! The receipt before `register` and the license authority (PROTOCOL
//! §11.5), against a scripted relay.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use secrecy::SecretString;

use crate::authority::ReceiptKeys;
use crate::canonical_authority::AuthorityStatement;
use crate::engine::host::{HostError, HttpRequest, HttpResponse, HttpTransport};
use crate::engine::{EngineConfig, SyncEngine, SyncError, STATE_FILE};
use crate::protocol::headers::AUTHORITY_SIGNATURE;
use crate::protocol::{routes, InitRequest};

const LID: &str = "lic_a";
const RECEIPT: &str = "receipt-one";

/// The receipt's keys, derived once for all tests (PBKDF2 is slow on purpose).
fn keys() -> &'static ReceiptKeys {
    static KEYS: OnceLock<ReceiptKeys> = OnceLock::new();
    KEYS.get_or_init(|| ReceiptKeys::derive(RECEIPT, LID).unwrap())
}

/// A relay that knows `GET /sync/authority` when `authority` is `Some`
/// (an older relay answers 404), registers every `init` as `dev_1` and
/// accepts revocations; it records every request.
struct Relay {
    authority: Mutex<Option<Option<String>>>,
    claim_open: bool,
    seen: Mutex<Vec<HttpRequest>>,
}

impl Relay {
    fn new(authority: Option<Option<String>>) -> Arc<Self> {
        Arc::new(Self {
            authority: Mutex::new(authority),
            claim_open: false,
            seen: Mutex::new(Vec::new()),
        })
    }
    /// What `GET /sync/authority` answers from now on.
    fn answer(&self, authority: Option<Option<String>>) {
        *self.authority.lock().unwrap() = authority;
    }
    fn paths(&self) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .map(|r| format!("{} {}", r.method, path_of(&r.url)))
            .collect()
    }
    fn last(&self, path: &str) -> HttpRequest {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .rev()
            .find(|r| r.url.ends_with(path))
            .cloned()
            .unwrap()
    }
}

/// The path of a request URL (any scheme and host).
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("", |i| &rest[i..])
}

fn ask() -> String {
    format!("GET {}", routes::AUTHORITY)
}

fn init() -> String {
    format!("POST {}", routes::INIT)
}

fn json(status: u16, v: serde_json::Value) -> HttpResponse {
    HttpResponse {
        status,
        headers: BTreeMap::new(),
        body: v.to_string().into_bytes(),
    }
}

impl HttpTransport for Relay {
    fn send(&self, r: HttpRequest) -> Result<HttpResponse, HostError> {
        self.seen.lock().unwrap().push(r.clone());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let authority = self.authority.lock().unwrap().clone();
        Ok(match path_of(&r.url) {
            routes::AUTHORITY => match &authority {
                None => json(404, serde_json::json!({"error":"not_found","message":"m"})),
                Some(key) => json(
                    200,
                    serde_json::json!({"licenseId": LID, "authorityKey": key, "claimOpen": self.claim_open,
                                       "serverTime": now}),
                ),
            },
            routes::KEYCHECK if r.method == "GET" => {
                json(404, serde_json::json!({"error":"not_found","message":"m"}))
            }
            routes::INIT => json(
                201,
                serde_json::json!({"deviceId":"dev_1","serverTime":now}),
            ),
            _ => json(200, serde_json::json!({})),
        })
    }
}

fn engine(relay: &Arc<Relay>) -> (SyncEngine, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EngineConfig::new(dir.path());
    config.persist_activity = false;
    let e = SyncEngine::new(config, relay.clone()).unwrap();
    (e, dir)
}

fn register(e: &SyncEngine) -> Result<String, SyncError> {
    e.register("http://localhost", LID, "license-key", "laptop")
}

fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[test]
fn a_receipt_before_register_is_kept_then_signs_the_registration() {
    let public = keys().authority.public_key();
    let relay = Relay::new(Some(Some(public.to_string())));
    let (e, _dir) = engine(&relay);
    e.set_receipt(SecretString::from(RECEIPT)).unwrap();
    // Kept, not derived: the license id is not known yet.
    assert!(e.status().receipt_set);
    assert!(matches!(
        *e.inner.key.lock().unwrap(),
        super::KeySlot::Empty
    ));
    assert!(relay.paths().is_empty(), "nothing sent before register");

    assert_eq!(register(&e).unwrap(), "dev_1");
    assert_eq!(relay.paths(), [ask(), init()]);
    let asked = relay.last(routes::AUTHORITY);
    assert_eq!(header(&asked, "X-License-Id"), Some(LID));
    assert_eq!(header(&asked, "X-License-Key"), Some("license-key"));
    let init: InitRequest = serde_json::from_slice(&relay.last(routes::INIT).body).unwrap();
    let statement = AuthorityStatement::RegisterDevice {
        license_id: LID.into(),
        public_key: e.public_key(),
        device_name: "laptop".into(),
        ts: init.ts,
    };
    public
        .verify(
            &statement,
            init.authority_signature.as_deref().unwrap(),
            init.ts,
            300,
        )
        .unwrap();
    assert_eq!((init.authority_key, init.authority_claim), (None, None));
    // The envelope key is where `set_receipt` would have put it.
    assert_eq!(*e.key().unwrap(), keys().envelope);
    assert_eq!(e.license_authority_found(), Some(true));

    // Revoking another device is signed by the authority too.
    e.revoke("dev_2").unwrap();
    let revoke = relay.last(routes::REVOKE);
    let ts: i64 = header(&revoke, "X-Ts").unwrap().parse().unwrap();
    let statement = AuthorityStatement::RevokeDevice {
        license_id: LID.into(),
        target_device_id: "dev_2".into(),
        ts,
    };
    public
        .verify(
            &statement,
            header(&revoke, AUTHORITY_SIGNATURE).unwrap(),
            ts,
            300,
        )
        .unwrap();
}

#[test]
fn a_wrong_receipt_is_refused_before_init_and_writes_nothing() {
    let relay = Relay::new(Some(Some(keys().authority.public_key().to_string())));
    let (e, dir) = engine(&relay);
    e.set_receipt(SecretString::from("not-the-receipt"))
        .unwrap();
    let err = register(&e).unwrap_err();
    // Both fingerprints, so a claim that went to someone else's key shows.
    let license = keys().authority.public_key().fingerprint();
    let Some(SyncError::WrongReceipt { authority: Some(m) }) = Some(&err) else {
        panic!("{err:?}")
    };
    assert_eq!(m.license, license);
    assert_eq!(m.receipt.len(), license.len());
    assert_ne!(m.receipt, license);
    let text = err.to_string();
    assert!(
        text.contains(&m.receipt) && text.contains(&license),
        "{text}"
    );
    assert!(!text.contains("not-the-receipt"), "{text}");
    assert_eq!(relay.paths(), [ask()], "no init sent");
    assert!(!dir.path().join(STATE_FILE).exists(), "no state saved");
    assert_eq!(e.device_id(), None);
    // The wrong receipt's keys are gone: nothing can sync with them.
    assert!(!e.status().receipt_set);
    assert!(matches!(e.key(), Err(SyncError::NoReceipt)));
}

#[test]
fn register_without_a_receipt_is_v1() {
    let relay = Relay::new(Some(Some(keys().authority.public_key().to_string())));
    let (e, _dir) = engine(&relay);
    register(&e).unwrap();
    assert_eq!(relay.paths(), [init()], "no authority asked");
    let body = String::from_utf8(relay.last(routes::INIT).body).unwrap();
    assert!(!body.contains("authority"), "{body}");
    assert_eq!(e.license_authority_found(), None);
    // The old order: the receipt after register derives both keys; the
    // revocation then carries the authority signature (ignored by a
    // license without a key).
    e.set_receipt(SecretString::from(RECEIPT)).unwrap();
    assert_eq!(*e.key().unwrap(), keys().envelope);
    e.revoke("dev_2").unwrap();
    assert!(header(&relay.last(routes::REVOKE), AUTHORITY_SIGNATURE).is_some());
}

#[test]
fn a_license_without_authority_or_an_older_relay_registers_as_v1() {
    for authority in [Some(None), None] {
        let relay = Relay::new(authority.clone());
        let (e, _dir) = engine(&relay);
        e.set_receipt(SecretString::from(RECEIPT)).unwrap();
        register(&e).unwrap();
        assert_eq!(relay.paths(), [ask(), init()], "{authority:?}");
        let body = String::from_utf8(relay.last(routes::INIT).body).unwrap();
        assert!(!body.contains("authority"), "{authority:?}: {body}");
        assert_eq!(e.license_authority_found(), Some(false));
        assert_eq!(*e.key().unwrap(), keys().envelope);
    }
}

#[test]
fn host_derived_keys_before_register_are_checked_like_a_receipt() {
    let other = ReceiptKeys::derive("another-receipt", LID).unwrap();
    let relay = Relay::new(Some(Some(keys().authority.public_key().to_string())));
    let (e, _dir) = engine(&relay);
    let receipt = other.authority.public_key().fingerprint();
    e.set_receipt_keys(LID, Arc::new(other.envelope), Arc::new(other.authority));
    let err = register(&e).unwrap_err();
    assert!(
        matches!(&err, SyncError::WrongReceipt { authority: Some(m) } if m.receipt == receipt),
        "{err:?}"
    );
    assert_eq!(relay.paths(), [ask()]);
    // A key given alone has no authority partner: v1, as before.
    e.set_envelope_key(Arc::new(
        crate::kdf::EnvelopeKey::derive(RECEIPT, LID).unwrap(),
    ));
    register(&e).unwrap();
    assert_eq!(relay.paths().last(), Some(&init()));
}

#[test]
fn an_open_claim_window_is_claimed_with_proof_of_possession() {
    let relay = Arc::new(Relay {
        authority: Mutex::new(Some(None)),
        claim_open: true,
        seen: Mutex::new(Vec::new()),
    });
    let (e, _dir) = engine(&relay);
    e.set_receipt(SecretString::from(RECEIPT)).unwrap();
    register(&e).unwrap();
    let init: InitRequest = serde_json::from_slice(&relay.last(routes::INIT).body).unwrap();
    let public = keys().authority.public_key();
    assert_eq!(init.authority_key, Some(public.to_string()));
    let claim = AuthorityStatement::SetAuthority {
        license_id: LID.into(),
        authority_key: public.to_string(),
        ts: init.ts,
    };
    public
        .verify(
            &claim,
            init.authority_claim.as_deref().unwrap(),
            init.ts,
            300,
        )
        .unwrap();
    assert!(init.authority_signature.is_some());
    assert_eq!(e.license_authority_found(), Some(true));
}

fn problems(e: &SyncEngine) -> (u64, Option<crate::engine::IntegrityProblem>) {
    let st = e.status();
    (
        st.integrity_problems,
        st.last_integrity_problem.map(|p| p.problem),
    )
}

#[test]
fn the_licenses_key_is_kept_and_a_later_change_is_a_relay_integrity_problem() {
    use crate::engine::IntegrityKind;
    let public = keys().authority.public_key();
    let relay = Relay::new(Some(Some(public.to_string())));
    let (e, dir) = engine(&relay);
    e.set_receipt(SecretString::from(RECEIPT)).unwrap();
    register(&e).unwrap();
    let saved = crate::engine::state::StateDir::open(dir.path())
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(saved.authority_key, Some(public.to_string()));
    assert_eq!(problems(&e).0, 0, "the same key again is no problem");
    register(&e).unwrap();
    assert_eq!(problems(&e).0, 0);

    // The relay now says the license has no key: reported, and the
    // re-registration still carries the authority's signature (no v1).
    relay.answer(Some(None));
    register(&e).unwrap();
    let (count, last) = problems(&e);
    let last = last.unwrap();
    assert_eq!((count, last.kind), (1, IntegrityKind::AuthorityChanged));
    assert_eq!(last.device_id, LID);
    assert_eq!(last.expected_authority, Some(public.fingerprint()));
    assert_eq!(last.found_authority, None);
    let init: InitRequest = serde_json::from_slice(&relay.last(routes::INIT).body).unwrap();
    assert!(init.authority_signature.is_some());

    // Another key: reported, and the receipt no longer matches the license.
    let other = ReceiptKeys::derive("another-receipt", LID)
        .unwrap()
        .authority
        .public_key();
    relay.answer(Some(Some(other.to_string())));
    let before = relay.paths().len();
    let err = register(&e).unwrap_err();
    assert!(
        matches!(&err, SyncError::WrongReceipt { authority: Some(m) }
            if m.license == other.fingerprint() && m.receipt == public.fingerprint()),
        "{err:?}"
    );
    assert_eq!(relay.paths()[before..], [ask()], "no init sent");
    let (count, last) = problems(&e);
    assert_eq!(count, 2);
    assert_eq!(last.unwrap().found_authority, Some(other.fingerprint()));
    // The kept key is still the one that matched, across a restart too.
    drop(e);
    let e = SyncEngine::new(
        {
            let mut c = EngineConfig::new(dir.path());
            c.persist_activity = false;
            c
        },
        relay.clone(),
    )
    .unwrap();
    assert_eq!(problems(&e).0, 2);

    // Without the receipt nothing license-wide goes out unsigned: not a v1
    // `init`, not a revocation, not the key-check PUT.
    relay.answer(Some(None));
    let before = relay.paths().len();
    assert!(matches!(register(&e), Err(SyncError::NoReceipt)));
    assert!(matches!(e.revoke("dev_2"), Err(SyncError::NoReceipt)));
    e.set_envelope_key(Arc::new(
        crate::kdf::EnvelopeKey::derive(RECEIPT, LID).unwrap(),
    ));
    assert!(matches!(e.verify_receipt(), Err(SyncError::NoReceipt)));
    let sent: Vec<String> = relay.paths()[before..].to_vec();
    assert!(
        !sent
            .iter()
            .any(|p| p.starts_with("POST") || p.starts_with("PUT")),
        "{sent:?}"
    );
}

/// Plain HTTP to another machine: refused at `register` before any
/// request, and before every request of a state saved with such a URL
/// (by a host that allowed it then); allowed only when the config says so.
#[test]
fn plain_http_to_another_machine_is_refused_unless_allowed() {
    let relay = Relay::new(None);
    let (e, dir) = engine(&relay);
    let far = "http://10.255.255.1:1";
    match e.register(far, LID, "license-key", "laptop") {
        Err(SyncError::InsecureRelayUrl { host }) => assert_eq!(host, "10.255.255.1"),
        other => panic!("{other:?}"),
    }
    assert!(relay.paths().is_empty(), "{:?}", relay.paths());
    assert!(!dir.path().join(STATE_FILE).exists());
    drop(e);

    let open = |allow: bool| {
        let mut config = EngineConfig::new(dir.path());
        config.persist_activity = false;
        config.allow_insecure_http = allow;
        SyncEngine::new(config, relay.clone()).unwrap()
    };
    let allowed = open(true);
    allowed.register(far, LID, "license-key", "laptop").unwrap();
    let sent = relay.paths().len();
    assert!(sent > 0);
    drop(allowed);

    let saved = open(false);
    assert!(matches!(
        saved.devices(),
        Err(SyncError::InsecureRelayUrl { .. })
    ));
    assert!(matches!(
        saved.sync_now(),
        Err(SyncError::InsecureRelayUrl { .. })
    ));
    assert_eq!(relay.paths().len(), sent, "nothing sent");
    assert_eq!(
        SyncError::InsecureRelayUrl { host: "h".into() }.code(),
        "insecure_http"
    );
}
