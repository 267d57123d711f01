//! The license authority on the relay (PROTOCOL §11): a license with an
//! authority key refuses `init`, `revoke` and the key-check PUT that only
//! the license key backs; with the authority's signature they pass; a
//! license without one keeps the v1 rules. Real relay on loopback.

mod common;

use azmx_sync_core::{AuthorityKey, AuthorityStatement, DeviceIdentity};
use azmx_sync_relay::{add_license_with_authority, set_authority_key};
use azmx_sync_test_support::client::init_body;
use common::{Device, Env, Resp};
use serde_json::Value;

/// An authority key as a device derives it from a receipt (one PBKDF2 of
/// §1, then §11.1; the license id is part of the derivation, a fixed one
/// here: the relay only ever sees the public half).
fn authority(n: u8) -> AuthorityKey {
    AuthorityKey::derive(&format!("test receipt {n}"), "lic_authority_tests").unwrap()
}

fn get_authority(env: &Env, lid: &str, key: &str) -> Resp {
    let h = [
        ("X-License-Id", lid.to_string()),
        ("X-License-Key", key.to_string()),
    ];
    env.call("GET", "/sync/authority", &h, b"")
}

/// An `init` body for a new identity, with `extra` fields merged in.
fn init_with(
    env: &Env,
    lid: &str,
    key: &str,
    id: &DeviceIdentity,
    extra: &[(&str, String)],
) -> Resp {
    let mut b = init_body(lid, key, id, "phone", env.now());
    for (k, v) in extra {
        b[*k] = Value::String(v.clone());
    }
    env.post_json("/sync/init", &[], b)
}

fn register_sig(a: &AuthorityKey, lid: &str, id: &DeviceIdentity, ts: i64) -> String {
    a.sign(&AuthorityStatement::RegisterDevice {
        license_id: lid.into(),
        public_key: id.public_key(),
        device_name: "phone".into(),
        ts,
    })
    .unwrap()
}

/// A device registered with the authority's signature.
fn device(env: &Env, a: &AuthorityKey, lid: &str, key: &str) -> Device {
    let id = env.identity();
    let sig = register_sig(a, lid, &id, env.now());
    let r = init_with(env, lid, key, &id, &[("authoritySignature", sig)]);
    assert_eq!(r.status, 201, "{:?}", r.json());
    Device {
        id: r.json()["deviceId"].as_str().unwrap().into(),
        identity: std::sync::Arc::new(id),
        lid: lid.into(),
    }
}

#[test]
fn a_protected_license_needs_the_authority_for_init_revoke_and_keycheck() {
    let env = Env::start();
    let (a, other) = (authority(7), authority(8));
    let lid = "lic_auth";
    let key = add_license_with_authority(&env.data_dir(), lid, Some(&a.public_key())).unwrap();

    // GET /sync/authority: the key to license-key holders; unknown id and
    // wrong key are one answer.
    let r = get_authority(&env, lid, &key);
    assert_eq!(r.status, 200);
    let j = r.json();
    assert_eq!(
        j["authorityKey"].as_str(),
        Some(a.public_key().to_string().as_str())
    );
    assert_eq!(
        (j["licenseId"].as_str(), j["claimOpen"].as_bool()),
        (Some(lid), Some(false))
    );
    assert_eq!(j["serverTime"].as_i64(), Some(env.now()));
    let wrong = get_authority(&env, lid, "nope").err(401, "bad_license");
    let unknown = get_authority(&env, "lic_nobody", &key).err(401, "bad_license");
    assert_eq!(wrong, unknown);
    env.call("GET", "/sync/authority", &[], b"")
        .err(400, "malformed");

    // init: the license key alone is not enough.
    let id = env.identity();
    init_with(&env, lid, &key, &id, &[]).err(403, "authority_required");
    let bad = register_sig(&other, lid, &id, env.now());
    init_with(&env, lid, &key, &id, &[("authoritySignature", bad)])
        .err(401, "bad_authority_signature");
    // Signed for another device key: does not carry over.
    let elsewhere = register_sig(&a, lid, &env.identity(), env.now());
    init_with(&env, lid, &key, &id, &[("authoritySignature", elsewhere)])
        .err(401, "bad_authority_signature");
    // A claim for another key: the license has one already.
    let claim = [
        ("authorityKey", other.public_key().to_string()),
        ("authorityClaim", "x".to_string()),
        ("authoritySignature", register_sig(&a, lid, &id, env.now())),
    ];
    init_with(&env, lid, &key, &id, &claim).err(409, "authority_exists");
    init_with(&env, lid, &key, &id, &claim[..1]).err(400, "malformed");
    let ok = register_sig(&a, lid, &id, env.now());
    let r = init_with(&env, lid, &key, &id, &[("authoritySignature", ok.clone())]);
    assert_eq!(r.status, 201, "{:?}", r.json());
    // A retry is idempotent; and nothing was registered by the refusals.
    assert_eq!(
        init_with(&env, lid, &key, &id, &[("authoritySignature", ok)]).status,
        200
    );

    let d1 = device(&env, &a, lid, &key);
    let d2 = device(&env, &a, lid, &key);

    // Key-check PUT.
    env.keycheck_put_as(&d1, b"kc", None)
        .err(403, "authority_required");
    env.keycheck_put_as(&d1, b"kc", Some(&other))
        .err(401, "bad_authority_signature");
    assert_eq!(env.keycheck_get(&d1).status, 404);
    assert_eq!(env.keycheck_put_as(&d1, b"kc", Some(&a)).status, 201);

    // Revoke.
    env.revoke_as(&d1, &d2.id, None)
        .err(403, "authority_required");
    env.revoke_as(&d1, &d2.id, Some(&other))
        .err(401, "bad_authority_signature");
    assert_eq!(env.push(&d2, 1, b"still live").status, 201);
    let r = env.revoke_as(&d1, &d2.id, Some(&a));
    assert_eq!(
        (r.status, r.json()["revoked"].as_str()),
        (200, Some(d2.id.as_str()))
    );
    env.push(&d2, 2, b"x").err(403, "revoked");

    // Reads, pushes, prunes need no authority signature.
    assert_eq!(env.push(&d1, 1, b"mine").status, 201);
    assert_eq!(env.pull(&d1, None, None).status, 200);
    assert_eq!(env.keycheck_get(&d1).status, 200);
}

#[test]
fn a_license_without_an_authority_key_keeps_the_v1_rules() {
    let env = Env::start();
    let (key, a, b) = env.license_with_two_devices("lic_v1");
    let r = get_authority(&env, "lic_v1", &key);
    assert_eq!(r.status, 200);
    assert!(r.json()["authorityKey"].is_null(), "{:?}", r.json());
    // A claim: the operator opened no window, so it is closed.
    let auth = authority(9);
    let id = env.identity();
    let claim = [
        ("authorityKey", auth.public_key().to_string()),
        ("authorityClaim", "x".to_string()),
    ];
    init_with(&env, "lic_v1", &key, &id, &claim).err(403, "authority_claim_closed");
    // An authority signature on a license without a key is ignored.
    let sig = register_sig(&auth, "lic_v1", &id, env.now());
    assert_eq!(
        init_with(&env, "lic_v1", &key, &id, &[("authoritySignature", sig)]).status,
        201
    );
    assert_eq!(env.keycheck_put(&a, b"kc").status, 201);
    assert_eq!(env.revoke(&a, &b.id).status, 200);
}

#[test]
fn setting_a_key_protects_the_license_and_drops_its_keycheck() {
    let env = Env::start();
    let (key, a, b) = env.license_with_two_devices("lic_later");
    // Set by a license-key holder, before the authority existed.
    assert_eq!(env.keycheck_put(&a, b"lock-out").status, 201);
    let auth = authority(11);
    assert!(set_authority_key(&env.data_dir(), "lic_later", &auth.public_key()).unwrap());
    // A running relay sees it at once.
    let r = get_authority(&env, "lic_later", &key);
    assert_eq!(
        r.json()["authorityKey"].as_str(),
        Some(auth.public_key().to_string().as_str())
    );
    assert_eq!(env.keycheck_get(&a).status, 404);
    assert!(!set_authority_key(&env.data_dir(), "lic_later", &auth.public_key()).unwrap());
    // Registered devices keep working; new ones and changes need it now.
    assert_eq!(env.push(&a, 1, b"x").status, 201);
    let id = env.identity();
    env.init("lic_later", &key, &id, "phone", env.now())
        .err(403, "authority_required");
    env.revoke(&a, &b.id).err(403, "authority_required");
    env.keycheck_put(&a, b"again")
        .err(403, "authority_required");
    assert_eq!(env.keycheck_put_as(&a, b"sealed", Some(&auth)).status, 201);
    assert!(matches!(
        set_authority_key(&env.data_dir(), "lic_nobody", &auth.public_key()),
        Err(azmx_sync_relay::RelayError::UnknownLicense(_))
    ));
}
