//! Issue 11 defect 3: import must not resurrect deletes for a host whose
//! store keeps no tombstones (the engine keeps them for it), and a delete
//! that arrives by import must be kept by the engine like a pulled one.

mod faults;

use azmx_sync_e2e::*;
use faults::DictDevice;

#[test]
fn importing_an_older_export_does_not_resurrect_a_pulled_delete() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = DictDevice::new(&relay, "b-dict");
    let t0 = now_ms();
    a.add_snippet("h", "x", "first", t0);
    a.sync();
    b.engine.sync_now().unwrap();
    assert_eq!(b.snippets.text("h", "x").as_deref(), Some("first"));
    let export = b.state.path().join("before-delete.azmx");
    b.engine.export(&export).unwrap();

    a.delete_snippet("h", "x", t0 + 1000);
    a.sync();
    b.engine.sync_now().unwrap();
    assert_eq!(b.snippets.text("h", "x"), None, "the delete was pulled");

    b.engine.import(&export).unwrap();
    assert_eq!(
        b.snippets.text("h", "x"),
        None,
        "an older export brought back a record deleted by a peer"
    );
    b.engine.sync_now().unwrap();
    a.sync();
    assert_eq!(b.snippets.text("h", "x"), None);
    assert!(a.snippets.get(Some("h"), "x").unwrap().deleted);
}

#[test]
fn a_delete_arriving_by_import_is_kept_against_later_pulls() {
    let relay = RelayFixture::start();
    let a = Device::new(&relay, "a");
    let b = DictDevice::new(&relay, "b-dict");
    let c = Device::new(&relay, "c");
    let t0 = now_ms();
    a.add_snippet("h", "x", "first", t0);
    a.sync();
    b.engine.sync_now().unwrap();
    c.sync();
    // C edits offline; A deletes later and hands the delete over by export
    // only (A does not sync).
    c.add_snippet("h", "x", "c's older edit", t0 + 1500);
    a.delete_snippet("h", "x", t0 + 2000);
    let export = a.state.path().join("with-delete.azmx");
    a.engine.export(&export).unwrap();
    b.engine.import(&export).unwrap();
    assert_eq!(b.snippets.text("h", "x"), None, "the import deleted it");

    // C's edit is older than the imported delete: it must lose on B, and
    // B's delete must reach C.
    c.sync();
    b.engine.sync_now().unwrap();
    assert_eq!(
        b.snippets.text("h", "x"),
        None,
        "a pull of an older edit resurrected a delete that came by import"
    );
    c.sync();
    assert!(
        c.snippets.get(Some("h"), "x").unwrap().deleted,
        "the imported delete was never pushed"
    );
}
