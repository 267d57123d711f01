//! Issue 11 defect 10 (client side): a `serverTime` from a `clock_skew`
//! answer is untrusted. A correction beyond a day is refused with a typed
//! clock-skew error and never applied, so no request carries a wild `X-Ts`.

mod faults;

use azmx_sync_core::engine::SyncError;
use azmx_sync_e2e::*;
use faults::{DictDevice, Fault};

#[test]
fn an_absurd_server_time_is_refused_and_never_applied() {
    let relay = RelayFixture::start();
    let b = DictDevice::new(&relay, "b");
    let now = now_ms() / 1000;
    for lie in [now + 10 * 86_400, now - 10 * 86_400, i64::MAX, i64::MIN, 0] {
        b.put("h", &format!("x{lie}"), "from b", now_ms());
        b.transport.sent_ts.lock().unwrap().clear();
        b.transport.arm(Fault::SkewOnce { server_time: lie });
        let err = b.engine.sync_now().unwrap_err();
        assert!(
            matches!(err, SyncError::ClockSkew { .. }),
            "lie {lie}: {err:?}"
        );
        assert_eq!(b.engine.status().clock_offset_secs, 0, "lie {lie} applied");
        b.engine.sync_now().unwrap();
        let now = now_ms() / 1000;
        for ts in b.transport.sent_ts.lock().unwrap().iter() {
            assert!((ts - now).abs() <= 86_400, "lie {lie}: sent X-Ts {ts}");
        }
    }
}

#[test]
fn a_plausible_correction_is_still_applied() {
    let relay = RelayFixture::start();
    let d = Device::with_options(&relay, "skewed", RECEIPT, 3_600_000, 16);
    d.add_snippet("h", "x", "y", now_ms());
    d.sync();
    assert!((d.engine.status().clock_offset_secs + 3600).abs() <= 2);
}
