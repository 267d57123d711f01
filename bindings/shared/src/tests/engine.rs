//! The facade engine without a relay (the binding tests run it against
//! one): registration rules, errors before registration, secrets wiped.

use std::sync::{Arc, Mutex};

use azmx_sync_core::engine::{HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record};

use crate::engine::{clamp_interval_secs, Engine};
use crate::events::{EventView, Severity};
use crate::store_spec::{check_store_spec, custom_store_spec, Contract, ValidatorKind};
use crate::ErrorKind;

#[derive(Default)]
struct MemStore(Mutex<Vec<Record>>);

impl StoreAdapter for MemStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        Ok(self.0.lock().unwrap().clone())
    }
    fn apply(&self, _: Vec<Change>) -> Result<(), HostError> {
        Ok(())
    }
}

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::new(dir.path().join("state"), None).unwrap();
    (dir, e)
}

#[test]
fn a_fresh_engine_is_unregistered_and_says_so() {
    let (_dir, e) = engine();
    assert_eq!(format!("{e:?}"), "SyncEngine(unregistered)");
    assert_eq!(e.device_id(), None);
    assert!(!e.fingerprint().is_empty());
    assert!(!e.public_key().is_empty());
    assert!(e.recent_activity(10).is_empty());
    assert_eq!(e.sync_now().unwrap_err().kind(), ErrorKind::NotRegistered);
    assert!(!e.status().receipt_set);
}

#[test]
fn stores_register_once_under_checked_specs() {
    let (_dir, e) = engine();
    let store = || Arc::new(MemStore::default()) as Arc<dyn StoreAdapter>;
    e.register_snippets(store()).unwrap();
    assert_eq!(
        e.register_snippets(store()).unwrap_err().kind(),
        ErrorKind::Config
    );
    let todos = check_store_spec("todos", Contract::LwwPerGroup, ValidatorKind::Todos).unwrap();
    e.register_store(todos, store()).unwrap();
    let err = custom_store_spec("memory", Contract::LwwByVersion, ValidatorKind::NoScope);
    assert_eq!(err.unwrap_err().kind(), ErrorKind::BuiltinStoreRedefined);
    let notes = custom_store_spec("notes", Contract::LwwByTime, ValidatorKind::ShapeOnly).unwrap();
    e.register_store(notes, store()).unwrap();
    assert_eq!(e.unsynced().unwrap().count, 0);
}

#[test]
fn a_receipt_before_registration_is_kept_for_register() {
    let (_dir, e) = engine();
    e.set_receipt("receipt-abc".into()).unwrap();
    assert!(e.status().receipt_set);
    assert!(!format!("{e:?}").contains("receipt-abc"));
}

#[test]
fn intervals_clamp_like_the_core() {
    assert_eq!(clamp_interval_secs(1.0), 30.0);
    assert_eq!(clamp_interval_secs(f64::NAN), 30.0);
    assert_eq!(clamp_interval_secs(1e12), 3600.0);
    assert_eq!(clamp_interval_secs(90.0), 90.0);
}

#[test]
fn event_views_carry_the_cores_severity() {
    use azmx_sync_core::engine::{ActivityEvent, EventKind};
    let e = ActivityEvent {
        at_ms: 5,
        kind: EventKind::NetworkError {
            message: "refused".into(),
        },
    };
    let v = EventView::from(&e);
    assert_eq!(v.kind, "networkError");
    assert_eq!(v.severity, Severity::Warning);
    assert_eq!(
        v.fields.get("message").and_then(|m| m.as_str()),
        Some("refused")
    );
    assert!(!v.fields.contains_key("type"));
    assert!(v.json.contains("\"atMs\":5"));
}
