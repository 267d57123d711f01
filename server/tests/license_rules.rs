//! The operator's license rules over HTTP (PROTOCOL §11.4): the
//! first-device claim window, the device cap, a rotated license key and
//! the operator's own revocation. Real relay on loopback; the rules are
//! written straight on its store while it runs, as `relay license ...`
//! does.

mod common;

use azmx_sync_core::{AuthorityKey, AuthorityStatement, DeviceIdentity};
use azmx_sync_relay::storage::Storage;
use azmx_sync_relay::{
    add_license_with_rules, revoke_device, rotate_license_key, set_max_devices, LicenseRules,
    RelayError, SqliteStorage, StoreRef,
};
use azmx_sync_test_support::client::init_body;
use common::{Device, Env, Resp};
use serde_json::Value;

fn authority(n: u8) -> AuthorityKey {
    AuthorityKey::derive(&format!("rules receipt {n}"), "lic_rules_tests").unwrap()
}

fn get_authority(env: &Env, lid: &str, key: &str) -> Value {
    let h = [
        ("X-License-Id", lid.to_string()),
        ("X-License-Key", key.to_string()),
    ];
    let r = env.call("GET", "/sync/authority", &h, b"");
    assert_eq!(r.status, 200, "{:?}", r.json());
    r.json()
}

/// Opens `lid`'s claim window until `until` on the relay's clock (the
/// operator command counts from the system clock; the test relay's clock
/// is manual).
fn open_window(env: &Env, lid: &str, until: Option<i64>) {
    let s = SqliteStorage::open(&env.data_dir()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert!(rt.block_on(s.set_claim_window(lid, until)).unwrap());
}

/// `init` of `id` with `fields` added.
fn init_with(
    env: &Env,
    lid: &str,
    key: &str,
    id: &DeviceIdentity,
    fields: &[(&str, String)],
) -> Resp {
    let mut b = init_body(lid, key, id, "phone", env.now());
    for (k, v) in fields {
        b[*k] = Value::String(v.clone());
    }
    env.post_json("/sync/init", &[], b)
}

/// The three claim fields: `claim_by` signs the claim, `a` the
/// registration; both name `a`'s key.
fn claim(
    env: &Env,
    lid: &str,
    id: &DeviceIdentity,
    a: &AuthorityKey,
    claim_by: &AuthorityKey,
) -> Vec<(&'static str, String)> {
    let ts = env.now();
    let set = AuthorityStatement::SetAuthority {
        license_id: lid.into(),
        authority_key: a.public_key().to_string(),
        ts,
    };
    let register = AuthorityStatement::RegisterDevice {
        license_id: lid.into(),
        public_key: id.public_key(),
        device_name: "phone".into(),
        ts,
    };
    vec![
        ("authorityKey", a.public_key().to_string()),
        ("authorityClaim", claim_by.sign(&set).unwrap()),
        ("authoritySignature", a.sign(&register).unwrap()),
    ]
}

fn device_from(r: &Resp, id: DeviceIdentity, lid: &str) -> Device {
    Device {
        id: r.json()["deviceId"].as_str().unwrap().into(),
        identity: std::sync::Arc::new(id),
        lid: lid.into(),
    }
}

#[test]
fn the_first_device_with_the_receipt_claims_an_open_window() {
    let env = Env::start();
    let (lid, key) = ("lic_claim", env.license("lic_claim"));
    // A v1 device and the key-check blob it set before the window.
    let v1 = env.device(lid, &key);
    assert_eq!(env.keycheck_put(&v1, b"lock-out").status, 201);
    open_window(&env, lid, Some(env.now() + 600));
    let j = get_authority(&env, lid, &key);
    assert_eq!(
        (j["authorityKey"].is_null(), j["claimOpen"].as_bool()),
        (true, Some(true))
    );

    let (a, b) = (authority(1), authority(2));
    let id = env.identity();
    // No claim during the window: the license key alone is not enough.
    init_with(&env, lid, &key, &id, &[]).err(403, "authority_required");
    // A claim whose proof of possession another key signed.
    init_with(&env, lid, &key, &id, &claim(&env, lid, &id, &a, &b))
        .err(401, "bad_authority_signature");
    let mut no_sig = claim(&env, lid, &id, &a, &a);
    no_sig.pop();
    init_with(&env, lid, &key, &id, &no_sig).err(403, "authority_required");
    assert_eq!(
        get_authority(&env, lid, &key)["claimOpen"].as_bool(),
        Some(true)
    );

    let r = init_with(&env, lid, &key, &id, &claim(&env, lid, &id, &a, &a));
    assert_eq!(r.status, 201, "{:?}", r.json());
    let first = device_from(&r, id, lid);
    let j = get_authority(&env, lid, &key);
    assert_eq!(
        j["authorityKey"].as_str(),
        Some(a.public_key().to_string().as_str())
    );
    assert_eq!(j["claimOpen"].as_bool(), Some(false));
    // The blob set without the authority went with the claim.
    assert_eq!(env.keycheck_get(&first).status, 404);
    // Another key is refused; the same claim again is an ordinary init.
    let other = env.identity();
    init_with(&env, lid, &key, &other, &claim(&env, lid, &other, &b, &b))
        .err(409, "authority_exists");
    let r = init_with(&env, lid, &key, &other, &claim(&env, lid, &other, &a, &a));
    assert_eq!(r.status, 201, "{:?}", r.json());
    // From now on the license is protected: v1 init and revoke are refused.
    init_with(&env, lid, &key, &env.identity(), &[]).err(403, "authority_required");
    env.revoke(&first, &v1.id).err(403, "authority_required");
}

#[test]
fn a_closed_window_takes_no_claim_and_keeps_the_v1_rules() {
    let env = Env::start();
    let (lid, key) = ("lic_closed", env.license("lic_closed"));
    open_window(&env, lid, Some(env.now() + 60));
    env.clock
        .store(env.now() + 60, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        get_authority(&env, lid, &key)["claimOpen"].as_bool(),
        Some(false)
    );
    let (a, id) = (authority(3), env.identity());
    init_with(&env, lid, &key, &id, &claim(&env, lid, &id, &a, &a))
        .err(403, "authority_claim_closed");
    assert_eq!(init_with(&env, lid, &key, &id, &[]).status, 201);
    assert!(get_authority(&env, lid, &key)["authorityKey"].is_null());
}

#[test]
fn two_claims_at_once_one_wins() {
    let env = Env::start();
    let (lid, key) = ("lic_race", env.license("lic_race"));
    open_window(&env, lid, Some(env.now() + 600));
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let tasks: Vec<_> = (0..4)
            .map(|i| {
                let (env, key) = (&env, &key);
                sc.spawn(move || {
                    let (a, id) = (authority(10 + i), env.identity());
                    let r = init_with(env, lid, key, &id, &claim(env, lid, &id, &a, &a));
                    if r.status != 201 {
                        r.err(409, "authority_exists");
                    }
                    r.status
                })
            })
            .collect();
        tasks.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
}

#[test]
fn the_device_cap_counts_live_devices() {
    let env = Env::start();
    let lid = "lic_cap";
    let rules = LicenseRules {
        max_devices: Some(2),
        ..LicenseRules::default()
    };
    let key = add_license_with_rules(StoreRef::Sqlite(&env.data_dir()), lid, &rules).unwrap();
    let a = env.device(lid, &key);
    let _b = env.device(lid, &key);
    let id = env.identity();
    let j = env
        .init(lid, &key, &id, "third", env.now())
        .err(403, "device_limit");
    assert!(j["message"].as_str().unwrap().contains('2'), "{j}");
    // Re-init of a registered device is not counted.
    assert_eq!(
        env.init(lid, &key, &a.identity, "laptop", env.now()).status,
        200
    );
    // The operator revokes one: room for the third.
    revoke_device(StoreRef::Sqlite(&env.data_dir()), lid, &a.id).unwrap();
    assert_eq!(env.init(lid, &key, &id, "third", env.now()).status, 201);
    env.init(lid, &key, &env.identity(), "fourth", env.now())
        .err(403, "device_limit");
    set_max_devices(StoreRef::Sqlite(&env.data_dir()), lid, None).unwrap();
    assert_eq!(
        env.init(lid, &key, &env.identity(), "fourth", env.now())
            .status,
        201
    );
    let bad = set_max_devices(StoreRef::Sqlite(&env.data_dir()), lid, Some(0));
    assert!(matches!(bad, Err(RelayError::InvalidRule(_))), "{bad:?}");
}

#[test]
fn a_rotated_license_key_replaces_the_old_one_at_once() {
    let env = Env::start();
    let (key, a, _b) = env.license_with_two_devices("lic_rot");
    let new = rotate_license_key(StoreRef::Sqlite(&env.data_dir()), "lic_rot").unwrap();
    assert_ne!(new, key);
    env.init("lic_rot", &key, &env.identity(), "x", env.now())
        .err(401, "bad_license");
    let h = [
        ("X-License-Id", "lic_rot".to_string()),
        ("X-License-Key", key),
    ];
    env.call("GET", "/sync/authority", &h, b"")
        .err(401, "bad_license");
    assert_eq!(
        env.init("lic_rot", &new, &env.identity(), "x", env.now())
            .status,
        201
    );
    // Registered devices sign with their device keys: they keep syncing.
    assert_eq!(env.push(&a, 1, b"still here").status, 201);
    assert!(matches!(
        rotate_license_key(StoreRef::Sqlite(&env.data_dir()), "lic_nobody"),
        Err(RelayError::UnknownLicense(_))
    ));
}

#[test]
fn the_operator_revokes_without_the_receipt() {
    let env = Env::start();
    let a_key = authority(20);
    let rules = LicenseRules {
        authority_key: Some(a_key.public_key()),
        ..LicenseRules::default()
    };
    let lid = "lic_op";
    let key = add_license_with_rules(StoreRef::Sqlite(&env.data_dir()), lid, &rules).unwrap();
    let id = env.identity();
    let sig = a_key
        .sign(&AuthorityStatement::RegisterDevice {
            license_id: lid.into(),
            public_key: id.public_key(),
            device_name: "phone".into(),
            ts: env.now(),
        })
        .unwrap();
    let r = init_with(&env, lid, &key, &id, &[("authoritySignature", sig)]);
    assert_eq!(r.status, 201, "{:?}", r.json());
    let d = device_from(&r, id, lid);
    let store = env.data_dir();
    revoke_device(StoreRef::Sqlite(&store), lid, &d.id).unwrap();
    env.push(&d, 1, b"x").err(403, "revoked");
    // Idempotent; unknown devices and licenses are named.
    revoke_device(StoreRef::Sqlite(&store), lid, &d.id).unwrap();
    assert!(matches!(
        revoke_device(StoreRef::Sqlite(&store), lid, "dev_nobody"),
        Err(RelayError::UnknownDevice(_))
    ));
    assert!(matches!(
        revoke_device(StoreRef::Sqlite(&store), "lic_nobody", &d.id),
        Err(RelayError::UnknownLicense(_))
    ));
}
