//! The CLI's local stores: snippets and todos in one SQLite database
//! (`stores.sqlite3`) in the state directory, one table per store, holding
//! every record's JSON — tombstones included, as the engine's host contract
//! asks; memory in its folder (`memory_folder.rs`). Each is a
//! [`StoreAdapter`] for the engine, exactly as an app's database would be.
//! The `memory` table is what memory was before it became a folder: its
//! records move into the folder once, when the device opens. Triggers keep
//! a change counter per table (`store_changes.rs`), so an idle cycle reads
//! nothing.

use std::path::Path;
use std::sync::{Arc, Mutex};

use azmx_sync_core::engine::{ChangeSet, HostError, StoreAdapter};
use azmx_sync_core::merge::{Change, Record, RecordKey, StoreSpec};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::error::{CliError, CliResult};
use crate::memory_folder::{location, MemoryFolder};

pub const DB_FILE: &str = "stores.sqlite3";

/// The three built-in stores and their tables.
pub const SNIPPETS: &str = "snippets";
pub const TODOS: &str = "todos";
pub const MEMORY: &str = "memory";

/// Snippets without `--handle` live under this handle.
pub const DEFAULT_HANDLE: &str = "default";

const SCHEMA_VERSION: i64 = 1;

/// A shared connection to `stores.sqlite3`.
#[derive(Clone)]
pub struct LocalDb {
    conn: Arc<Mutex<Connection>>,
}

impl LocalDb {
    pub fn open(state_dir: &Path) -> CliResult<Self> {
        std::fs::create_dir_all(state_dir).map_err(|e| {
            CliError::generic(format!(
                "cannot create the state directory {}: {e}",
                state_dir.display()
            ))
        })?;
        let path = state_dir.join(DB_FILE);
        let conn = Connection::open(&path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        Self::setup(conn, &path)
    }

    /// An empty in-memory database with the schema, for reading a state
    /// directory that has none yet (nothing is created on disk).
    fn empty() -> CliResult<Self> {
        Self::setup(Connection::open_in_memory()?, Path::new(":memory:"))
    }

    fn setup(conn: Connection, path: &Path) -> CliResult<Self> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous=FULL;")?;
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if v > SCHEMA_VERSION {
            return Err(CliError::generic(format!(
                "{} was written by a newer azmx-sync (schema {v})",
                path.display()
            ))
            .hint("upgrade azmx-sync"));
        }
        let mut ddl = String::from("BEGIN IMMEDIATE;");
        for table in [SNIPPETS, TODOS, MEMORY] {
            // scope '' stands for "no scope" (an empty scope is invalid in a record).
            ddl.push_str(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (
                    scope      TEXT    NOT NULL,
                    id         TEXT    NOT NULL,
                    updated_at INTEGER NOT NULL,
                    version    INTEGER,
                    deleted    INTEGER NOT NULL,
                    device_id  TEXT    NOT NULL,
                    record     TEXT    NOT NULL,
                    PRIMARY KEY (scope, id)
                ) WITHOUT ROWID;"
            ));
        }
        // What changed, for the engine's idle cycle (store_changes.rs).
        ddl.push_str(&crate::store_changes::ddl(&[SNIPPETS, TODOS, MEMORY]));
        ddl.push_str(&format!("PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"));
        conn.execute_batch(&ddl)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn store(&self, spec: StoreSpec) -> SqliteStore {
        let table = match spec.name.as_str() {
            SNIPPETS => SNIPPETS,
            TODOS => TODOS,
            _ => MEMORY,
        };
        SqliteStore {
            db: self.clone(),
            table,
            spec,
        }
    }
}

/// One store's table.
#[derive(Clone)]
pub struct SqliteStore {
    db: LocalDb,
    table: &'static str,
    pub spec: StoreSpec,
}

fn scope_col(scope: &Option<String>) -> &str {
    scope.as_deref().unwrap_or("")
}

fn row_record(json: String) -> rusqlite::Result<Record> {
    serde_json::from_str(&json).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

fn get_tx(conn: &Connection, table: &str, key: &RecordKey) -> rusqlite::Result<Option<Record>> {
    conn.prepare_cached(&format!(
        "SELECT record FROM {table} WHERE scope = ?1 AND id = ?2"
    ))?
    .query_row(params![scope_col(&key.scope), key.id], |r| {
        row_record(r.get(0)?)
    })
    .optional()
}

fn upsert_tx(conn: &Connection, table: &str, r: &Record) -> rusqlite::Result<()> {
    let json =
        serde_json::to_string(r).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table} (scope, id, updated_at, version, deleted, device_id, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
    ))?
    .execute(params![
        scope_col(&r.scope),
        r.id,
        r.updated_at,
        r.version.map(|v| v as i64),
        r.deleted,
        r.device_id,
        json
    ])?;
    Ok(())
}

impl SqliteStore {
    /// Every record, tombstones included, ordered by scope then id.
    pub fn all(&self) -> CliResult<Vec<Record>> {
        let conn = self.db.lock();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT record FROM {} ORDER BY scope, id",
            self.table
        ))?;
        let rows = stmt.query_map([], |r| row_record(r.get(0)?))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn live(&self) -> CliResult<Vec<Record>> {
        Ok(self.all()?.into_iter().filter(|r| !r.deleted).collect())
    }

    pub fn get(&self, scope: Option<&str>, id: &str) -> CliResult<Option<Record>> {
        let conn = self.db.lock();
        Ok(get_tx(
            &conn,
            self.table,
            &RecordKey::new(scope.map(String::from), id),
        )?)
    }

    /// A local write: reads the current version of `key` and stores what
    /// `make` builds from it, in one immediate transaction (so a concurrent
    /// `sync` cannot slip in between). The new record is validated with the
    /// store's own rules first.
    pub fn write(
        &self,
        key: &RecordKey,
        make: impl FnOnce(Option<&Record>) -> CliResult<Record>,
    ) -> CliResult<Record> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = get_tx(&tx, self.table, key)?;
        let rec = make(current.as_ref())?;
        self.spec.validate_incoming(&rec).map_err(|reason| {
            CliError::usage(format!("invalid {} record: {reason}", self.table))
        })?;
        upsert_tx(&tx, self.table, &rec)?;
        tx.commit()?;
        Ok(rec)
    }

    /// Empties the table (the former memory table, once moved).
    fn clear(&self) -> CliResult {
        let conn = self.db.lock();
        conn.execute(&format!("DELETE FROM {}", self.table), [])?;
        Ok(())
    }

    fn apply_changes(&self, changes: Vec<Change>) -> rusqlite::Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for c in changes {
            let r = c.record();
            // A local write may have landed since the engine's snapshot: keep
            // whichever version the store's contract says wins.
            if let Some(cur) = get_tx(&tx, self.table, &r.key())? {
                if self.spec.contract.compare(r, &cur) == std::cmp::Ordering::Less {
                    continue;
                }
            }
            upsert_tx(&tx, self.table, r)?;
        }
        tx.commit()
    }
}

impl StoreAdapter for SqliteStore {
    fn snapshot(&self) -> Result<Vec<Record>, HostError> {
        self.all()
            .map_err(|e| HostError::new(format!("sqlite {}: {}", self.table, e.message)))
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), HostError> {
        self.apply_changes(changes)
            .map_err(|e| HostError::new(format!("sqlite {}: {e}", self.table)))
    }

    fn changes_since(&self, token: Option<&[u8]>) -> Result<Option<ChangeSet>, HostError> {
        crate::store_changes::changes_since(&mut self.db.lock(), self.table, token)
            .map_err(|e| HostError::new(format!("sqlite {}: {e}", self.table)))
    }

    fn snapshot_keys(&self, keys: &[RecordKey]) -> Result<Vec<Record>, HostError> {
        crate::store_changes::records(&mut self.db.lock(), self.table, keys, get_tx)
            .map_err(|e| HostError::new(format!("sqlite {}: {e}", self.table)))
    }
}

/// A store the CLI writes to: reads the current version of a key and
/// stores what `make` builds from it, atomically with respect to a sync.
pub trait LocalWrite {
    fn spec(&self) -> &StoreSpec;
    fn write(
        &self,
        key: &RecordKey,
        make: impl FnOnce(Option<&Record>) -> CliResult<Record>,
    ) -> CliResult<Record>;
}

impl LocalWrite for SqliteStore {
    fn spec(&self) -> &StoreSpec {
        &self.spec
    }
    fn write(
        &self,
        key: &RecordKey,
        make: impl FnOnce(Option<&Record>) -> CliResult<Record>,
    ) -> CliResult<Record> {
        SqliteStore::write(self, key, make)
    }
}

/// The three stores of one device.
#[derive(Clone)]
pub struct Stores {
    pub snippets: SqliteStore,
    pub todos: SqliteStore,
    pub memory: MemoryFolder,
    former_memory: SqliteStore,
}

impl Stores {
    pub fn open(state_dir: &Path, memory_dir: &Path) -> CliResult<Self> {
        Ok(Self::on(LocalDb::open(state_dir)?, memory_dir))
    }

    fn on(db: LocalDb, memory_dir: &Path) -> Self {
        Self {
            snippets: db.store(StoreSpec::snippets()),
            todos: db.store(StoreSpec::todos()),
            memory: MemoryFolder::new(memory_dir.to_path_buf()),
            former_memory: db.store(StoreSpec::memory()),
        }
    }

    /// For listings: the stores if the state directory has them, else
    /// empty ones (a mistyped --state-dir creates nothing).
    pub fn open_for_reading(state_dir: &Path) -> CliResult<Self> {
        let db = if state_dir.join(DB_FILE).is_file() {
            LocalDb::open(state_dir)?
        } else {
            LocalDb::empty()?
        };
        Ok(Self::on(db, &location::resolve(state_dir)?))
    }

    /// Every store, as the engine registers them.
    pub fn adapters(&self) -> [(StoreSpec, Arc<dyn StoreAdapter>); 3] {
        [
            (self.snippets.spec.clone(), Arc::new(self.snippets.clone())),
            (self.todos.spec.clone(), Arc::new(self.todos.clone())),
            (self.memory.spec.clone(), Arc::new(self.memory.clone())),
        ]
    }

    #[cfg(test)]
    pub fn former_memory_for_tests(&self) -> &SqliteStore {
        &self.former_memory
    }

    /// Moves memory records kept in SQLite by an earlier version into the
    /// folder (needs the device id: the folder's index is per device).
    pub fn migrate_memory(&self) -> CliResult {
        let old = self.former_memory.all()?;
        if old.is_empty() {
            return Ok(());
        }
        self.memory.migrate(old)?;
        self.former_memory.clear()
    }
}

/// A write time that is now, but always after the version it replaces, so
/// a local edit wins over the local previous version even if the clock
/// stepped back, or the previous version came from a peer whose clock ran
/// ahead (core's `next_write_time`: saturating, never below `current + 1`).
pub fn next_time(current: Option<&Record>) -> i64 {
    azmx_sync_core::merge::next_write_time(current, crate::render::now_ms())
}

/// The version of a local edit of `current` (memory's contract orders by
/// version): `current + 1`, capped at 2^53 − 1 (core's `next_version`), the
/// most a peer accepts.
pub fn next_version(current: Option<&Record>) -> u64 {
    azmx_sync_core::merge::next_version(current)
}

/// The displayable text of a record body: its `text` (snippets) or `fact`
/// (memory) string, else the JSON.
pub fn body_text(r: &Record) -> String {
    match r.body.as_ref().map(|b| b.to_value()) {
        None => String::new(),
        Some(b) => b
            .get("text")
            .or_else(|| b.get("fact"))
            .and_then(|v| v.as_str())
            .map(String::from)
            .unwrap_or_else(|| b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn next_time_does_not_overflow_on_a_record_from_the_far_future() {
        // Issue 11 defect 10: `updated_at` comes from peers (untrusted).
        let far = Record::new("x", None, i64::MAX, None, "dev_peer", json!({"text": "t"}));
        assert_eq!(next_time(Some(&far)), i64::MAX);
        let past = Record::new("x", None, 5, None, "dev_peer", json!({"text": "t"}));
        assert!(next_time(Some(&past)) > 5);
    }

    #[test]
    fn next_version_does_not_overflow_on_a_record_from_a_peer() {
        // Issue 11 defect 10: `version` comes from peers (untrusted).
        let top = Record::new(
            "k",
            None,
            1,
            Some(u64::MAX),
            "dev_peer",
            json!({"fact": "f"}),
        );
        assert_eq!(next_version(Some(&top)), azmx_sync_core::merge::MAX_VERSION);
        let v3 = Record::new("k", None, 1, Some(3), "dev_peer", json!({"fact": "f"}));
        assert_eq!(next_version(Some(&v3)), 4);
        assert_eq!(next_version(None), 1);
    }
}
