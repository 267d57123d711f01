//! Issue 11 defect 10 (untrusted numbers): `lastSeq` in a relay's
//! `409 seq_conflict` is untrusted. An absurd value must be refused as a
//! typed relay error, not overflow the engine's next seq (a panic in debug
//! builds, a wrap to seq 0 in release) nor make the device skip to the end
//! of the seq space.

mod faults;

use azmx_sync_core::engine::SyncError;
use azmx_sync_e2e::*;
use faults::{DictDevice, Fault};

#[test]
fn an_absurd_last_seq_is_refused_and_never_applied() {
    let relay = RelayFixture::start();
    let b = DictDevice::new(&relay, "b");
    b.put("h", "first", "from b", now_ms());
    b.engine.sync_now().unwrap();
    for lie in [u64::MAX, u64::MAX - 1, 1u64 << 60] {
        let before = b.engine.status().next_seq;
        b.put("h", &format!("x{lie}"), "edit", now_ms());
        b.transport.arm(Fault::Answer {
            status: 409,
            body: format!(r#"{{"error":"seq_conflict","message":"taken","lastSeq":{lie}}}"#)
                .into_bytes(),
        });
        let err = b.engine.sync_now().unwrap_err();
        assert!(
            matches!(&err, SyncError::Relay { code, .. } if code == "bad_response"),
            "lie {lie}: {err:?}"
        );
        b.transport.disarm();
        assert!(
            b.engine.status().next_seq == before,
            "lie {lie} applied: next seq {}",
            b.engine.status().next_seq
        );
        b.engine.sync_now().unwrap();
    }
    assert_eq!(b.engine.unsynced().unwrap().count, 0);
}
