//! Conformance-suite fixtures on SQLite.

use std::path::Path;
use std::sync::Arc;

use azmx_sync_relay::storage::conformance::Fixture;
use azmx_sync_relay::storage::SqliteStorage;

/// A fresh SQLite store that `open` makes in the `data` directory of a
/// temporary directory the fixture keeps alive.
pub fn sqlite_fixture(open: impl FnOnce(&Path) -> SqliteStorage) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(&dir.path().join("data"));
    Fixture {
        storage: Arc::new(storage),
        guard: Box::new(dir),
    }
}

/// [`sqlite_fixture`] with the default settings.
pub fn sqlite_default() -> Fixture {
    sqlite_fixture(|data| SqliteStorage::open(data).unwrap())
}
