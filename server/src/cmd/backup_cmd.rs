//! `backup` and `restore` of the SQLite store (PostgreSQL has its own
//! tools: pg_dump and pg_restore).

use super::args::{BackupArgs, RestoreArgs, StoreArgs};
use super::config::Store;
use super::error::CmdError;
use super::run::Outcome;
use crate::storage::sqlite::backup::{self, BackupError, BackupSummary};

/// What `backup` and `restore` print: the counts, metadata only.
pub fn summary_line(verb: &str, summary: &BackupSummary) -> String {
    format!(
        "{verb}: {} licenses, {} devices, {} blobs ({} sealed bytes), schema version {}, \
         {} bytes",
        summary.licenses,
        summary.devices,
        summary.blobs,
        summary.sealed_bytes,
        summary.schema_version,
        summary.file_bytes
    )
}

/// `backup` and `restore` for `azmx-sync --json relay ...`: where, and the
/// counts.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryBody<'a> {
    /// The backup file written (`backup`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The data directory filled (`restore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    #[serde(flatten)]
    pub summary: &'a BackupSummary,
}

fn sqlite_dir(store: &StoreArgs, postgres_hint: &str) -> Result<std::path::PathBuf, CmdError> {
    match store.store()? {
        Store::Sqlite(dir) => Ok(dir),
        Store::Postgres(_) => Err(CmdError::usage(
            "backup and restore are for the embedded SQLite store; this relay uses PostgreSQL",
        )
        .hint(postgres_hint)),
    }
}

pub fn backup(a: BackupArgs) -> Result<Outcome, CmdError> {
    let dir = sqlite_dir(&a.store, "use pg_dump (see server/deploy/README.md)")?;
    let summary = backup::backup(&dir, &a.out).map_err(cmd_error)?;
    Ok(Outcome::BackedUp {
        file: a.out,
        summary,
    })
}

pub fn restore(a: RestoreArgs) -> Result<Outcome, CmdError> {
    let dir = sqlite_dir(&a.store, "use pg_restore (see server/deploy/README.md)")?;
    let summary = backup::restore(&a.from, &dir).map_err(cmd_error)?;
    Ok(Outcome::Restored { dir, summary })
}

fn cmd_error(e: BackupError) -> CmdError {
    let text = e.to_string();
    match e {
        BackupError::OutputExists(_) => {
            CmdError::usage(text).hint("name a new file, or move the old one away first")
        }
        BackupError::DataDirInUse(_) => CmdError::usage(text)
            .hint("stop the relay, move the data directory aside, and restore into an empty one"),
        BackupError::NoDatabase(_) => {
            CmdError::usage(text).hint("pass the data directory the relay serves from")
        }
        BackupError::NotABackup { .. } => CmdError::usage(text)
            .hint("nothing was changed; restore a file written by `azmx-sync-relay backup`"),
        BackupError::PositionsExhausted { .. } => CmdError::usage(text).hint(
            "nothing was changed; this backup cannot be restored without reusing pull positions",
        ),
        _ => CmdError::failure(text),
    }
}
