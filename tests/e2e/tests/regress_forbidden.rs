//! Issue 11 defect 8: only the relay's `403 revoked` means revoked. A 403
//! from a proxy, a WAF or a captive portal (or a 403 with another code) is
//! a relay error for that cycle; sync resumes when the path is clear.

mod faults;

use azmx_sync_core::engine::{EngineConfig, SyncEngine, SyncError};
use azmx_sync_e2e::*;
use faults::{DictDevice, Fault, FaultTransport};

fn proxy_answers() -> Vec<Fault> {
    vec![
        Fault::Answer {
            status: 403,
            body: b"<html><body>Access denied by corporate proxy</body></html>".to_vec(),
        },
        Fault::Answer {
            status: 403,
            body: br#"{"error":"forbidden","message":"blocked by WAF"}"#.to_vec(),
        },
    ]
}

#[test]
fn a_403_that_is_not_the_relays_revoked_does_not_stop_sync() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = DictDevice::new(&relay, "b");
    for (i, fault) in proxy_answers().into_iter().enumerate() {
        b.put("h", &format!("x{i}"), "from b", now_ms());
        b.transport.arm(fault);
        let err = b.engine.sync_now().unwrap_err();
        assert!(
            matches!(err, SyncError::Relay { status: 403, .. }),
            "case {i}: {err:?}"
        );
        assert!(!b.engine.status().revoked, "case {i}: marked revoked");
        b.transport.disarm();
        b.engine.sync_now().unwrap();
        a.sync();
        assert_eq!(
            a.snippet_text("h", &format!("x{i}")).as_deref(),
            Some("from b")
        );
    }
}

#[test]
fn a_proxy_403_at_registration_is_not_revoked() {
    let relay = RelayFixture::start();
    for fault in proxy_answers() {
        let state = tempfile::tempdir().unwrap();
        let transport = std::sync::Arc::new(FaultTransport::default());
        transport.arm(fault);
        let engine = SyncEngine::new(EngineConfig::new(state.path()), transport.clone()).unwrap();
        let err = engine
            .register(&relay.url(), &relay.license_id, &relay.license_key, "c")
            .unwrap_err();
        assert!(
            matches!(err, SyncError::Relay { status: 403, .. }),
            "{err:?}"
        );
        transport.disarm();
        engine
            .register(&relay.url(), &relay.license_id, &relay.license_key, "c")
            .unwrap();
    }
}

#[test]
fn the_relays_revoked_answer_still_stops_sync() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = DictDevice::new(&relay, "b");
    a.engine.revoke(&b.engine.device_id().unwrap()).unwrap();
    b.put("h", "x", "from b", now_ms());
    assert!(matches!(b.engine.sync_now(), Err(SyncError::Revoked)));
    assert!(b.engine.status().revoked);
}
