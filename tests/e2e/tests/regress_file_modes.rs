//! Issue 11 defect 11 (engine files): every file the engine writes in its
//! state directory, the activity log and the lock file included, is 0600.

use std::os::unix::fs::PermissionsExt;

use azmx_sync_e2e::*;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_activity_log_and_every_state_file_are_owner_only() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    a.add_snippet("h", "x", "y", now_ms());
    a.sync();
    let dir = a.state.path();
    let log = dir.join(azmx_sync_core::engine::ACTIVITY_FILE);
    assert!(log.exists());
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{} is {:o}", p.display(), mode(&p));
    }
}

#[test]
fn an_activity_log_left_world_readable_is_tightened() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let log = a.state.path().join(azmx_sync_core::engine::ACTIVITY_FILE);
    std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).unwrap();
    a.sync();
    assert_eq!(mode(&log), 0o600);
}
