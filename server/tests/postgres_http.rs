//! The relay over HTTP with the PostgreSQL backend (a fresh database per
//! test on the server at `AZMX_TEST_DATABASE_URL`): the full device flow,
//! two relay instances serving one license from one database, and the
//! binary's `--database-url` / `AZMX_DATABASE_URL`.
//!
//! Without `AZMX_TEST_DATABASE_URL` each test prints
//! "skipped: AZMX_TEST_DATABASE_URL not set" and passes;
//! `scripts/test.d/15-postgres.sh` always sets it.

mod common;

use std::process::{Command, Stdio};

use azmx_sync_core::sha256_hex;
use azmx_sync_relay::{add_license_postgres, RelayConfig};
use azmx_sync_test_support::{output_ok, printed_key, RelayProcess};
use common::postgres::fresh_database;
use common::{seqs, Env, ADMIN};
use serde_json::json;

fn pg_env(db: &str) -> Env {
    let db = db.to_string();
    Env::start_with(move |c: &mut RelayConfig| c.database_url = Some(db))
}

#[test]
fn full_flow_on_postgres() {
    let Some(db) = fresh_database() else { return };
    let env = pg_env(&db);
    let key = add_license_postgres(&db, "lic_pg").unwrap();
    // Wrong key.
    env.init("lic_pg", "AAAA", &env.identity(), "x", env.now())
        .err(401, "bad_license");
    common::flow::full_flow(&env, "lic_pg", &key);

    // A replayed seq names the stored blob; pages of one item.
    let key = add_license_postgres(&db, "lic_pg2").unwrap();
    let (a, b) = (env.device("lic_pg2", &key), env.device("lic_pg2", &key));
    assert_eq!(env.push(&a, 1, b"sealed-one").status, 201);
    assert_eq!(env.push(&a, 2, b"sealed-two").status, 201);
    let j = env.push(&a, 2, b"dup").err(409, "seq_conflict");
    assert_eq!(j["existingSha256"], sha256_hex(b"sealed-two"));
    let p1 = env.pull(&b, None, Some(1)).json();
    assert_eq!((seqs(&p1), &p1["hasMore"]), (vec![1], &json!(true)));
    let p2 = env.pull(&b, p1["nextCursor"].as_str(), Some(1)).json();
    assert_eq!((seqs(&p2), &p2["hasMore"]), (vec![2], &json!(false)));
}

#[test]
fn two_relays_share_one_database() {
    let Some(db) = fresh_database() else { return };
    let relay_a = pg_env(&db);
    let relay_b = pg_env(&db);
    assert_ne!(relay_a.url, relay_b.url);
    let key = add_license_postgres(&db, "lic_shared").unwrap();
    // One device registers on each relay.
    let laptop = relay_a.device("lic_shared", &key);
    let phone = relay_b.device("lic_shared", &key);
    // The phone's key is already known to relay A: idempotent there too.
    let r = relay_a.init("lic_shared", &key, &phone.identity, "phone", relay_a.now());
    assert_eq!(
        (r.status, r.json()["deviceId"].as_str()),
        (200, Some(phone.id.as_str()))
    );

    // Push via A, pull and fetch via B.
    for seq in 1..=5u64 {
        assert_eq!(
            relay_a
                .push(&laptop, seq, format!("s{seq}").as_bytes())
                .status,
            201
        );
    }
    let j = relay_b.pull(&phone, None, None).json();
    assert_eq!(seqs(&j), vec![1, 2, 3, 4, 5]);
    let r = relay_b.blob(&phone, &laptop.id, 4);
    assert_eq!((r.status, r.body.as_slice()), (200, &b"s4"[..]));
    // A cursor from B continues on A.
    assert_eq!(relay_b.push(&laptop, 6, b"s6").status, 201);
    let j = relay_a.pull(&phone, j["nextCursor"].as_str(), None).json();
    assert_eq!(seqs(&j), vec![6]);
    // Seq checks hold across relays.
    relay_b.push(&laptop, 6, b"other").err(409, "seq_conflict");

    // 16 concurrent pushes of one (device, seq), alternating relays.
    let statuses: Vec<u16> = Env::race_pushes(&[&relay_a, &relay_b], &laptop, 7, 16, 256)
        .into_iter()
        .map(|(_, status, _)| status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        15,
        "{statuses:?}"
    );

    // Revoke via B: A refuses the device at once.
    assert_eq!(relay_b.revoke(&phone, &laptop.id).status, 200);
    relay_a.push(&laptop, 8, b"x").err(403, "revoked");
    let admin = relay_a.admin("lic_shared", Some(ADMIN)).json();
    assert_eq!(admin, relay_b.admin("lic_shared", Some(ADMIN)).json());
    assert_eq!(admin["devices"].as_array().unwrap().len(), 2);
}

const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

#[test]
fn binary_selects_postgres_from_database_url() {
    let Some(db) = fresh_database() else { return };
    // license add with --database-url (no --data-dir needed).
    let key = printed_key(&output_ok(
        Command::new(BIN)
            .args(["license", "add", "lic_bin", "--database-url", &db])
            .env_remove("AZMX_RELAY_DATA_DIR"),
    ));
    assert_eq!(azmx_sync_core::b64::decode(&key).unwrap().len(), 32);
    // Duplicate, URL from the environment.
    let out = Command::new(BIN)
        .args(["license", "add", "lic_bin"])
        .env("AZMX_DATABASE_URL", &db)
        .env_remove("AZMX_RELAY_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // Not a postgres URL.
    let out = Command::new(BIN)
        .args(["license", "add", "lic_x", "--database-url", "mysql://h/db"])
        .output()
        .unwrap();
    assert!(!out.status.success());

    let relay = RelayProcess::spawn(
        Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("AZMX_DATABASE_URL", &db)
            .env_remove("AZMX_RELAY_DATA_DIR")
            .stderr(Stdio::piped()),
    );
    let r = ureq::get(&format!("{}/healthz", relay.url)).call().unwrap();
    assert_eq!(r.status(), 200);
    drop(relay);
    // admin devices reads the same database.
    let out =
        output_ok(Command::new(BIN).args(["admin", "devices", "lic_bin", "--database-url", &db]));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        r#"{"devices":[]}"#
    );
}
