//! Which folder is this device's memory: `--memory-dir` / `AZMX_MEMORY_DIR`
//! if given (and then remembered in the state directory, so `sync --watch`
//! or a service started without it uses the same folder), else the one the
//! state directory remembers, else `~/.azmx/memory-global/`.
//!
//! A workspace's memory folder (`<workspace>/.azmx/memory/`) is refused:
//! it never syncs by design (workspace paths differ across machines).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{CliError, CliResult};

/// The file in the state directory naming the memory folder.
pub const RECORD_FILE: &str = "memory-dir";

static GIVEN: OnceLock<PathBuf> = OnceLock::new();

/// The folder given on the command line or in the environment (once, at start).
pub fn set_given(dir: Option<PathBuf>) {
    if let Some(d) = dir {
        let _ = GIVEN.set(d);
    }
}

pub fn default_dir() -> PathBuf {
    dirs::home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".azmx")
        .join("memory-global")
}

fn recorded(state_dir: &Path) -> Option<PathBuf> {
    let text = crate::state_file::read_small(&state_dir.join(RECORD_FILE))?;
    let line = text.lines().next()?.trim_end();
    (!line.is_empty() && line.len() <= 4096).then(|| PathBuf::from(line))
}

/// The memory folder of the device in `state_dir` (nothing is created).
pub fn resolve(state_dir: &Path) -> CliResult<PathBuf> {
    let dir = GIVEN
        .get()
        .cloned()
        .or_else(|| recorded(state_dir))
        .unwrap_or_else(default_dir);
    let dir = std::path::absolute(&dir)
        .map_err(|e| CliError::usage(format!("memory folder {}: {e}", dir.display())))?;
    refuse_workspace_memory(&dir)?;
    Ok(dir)
}

/// Remembers `dir` as the memory folder of the (existing) state directory.
pub fn remember(state_dir: &Path, dir: &Path) -> CliResult {
    let Some(text) = dir.to_str() else {
        return Ok(()); // not UTF-8: used when given, not remembered
    };
    if recorded(state_dir).as_deref() == Some(dir) || !state_dir.is_dir() {
        return Ok(());
    }
    super::files::write_atomic(state_dir, RECORD_FILE, format!("{text}\n").as_bytes()).map_err(
        |e| {
            CliError::generic(format!(
                "cannot write {}: {e}",
                state_dir.join(RECORD_FILE).display()
            ))
        },
    )
}

fn is_workspace_memory(dir: &Path) -> bool {
    let parts: Vec<_> = dir.components().map(|c| c.as_os_str()).collect();
    parts
        .windows(2)
        .any(|w| w[0] == ".azmx" && w[1] == "memory")
}

/// Refuses a folder that is, or is inside, a workspace's `.azmx/memory/`
/// (also through a symlink).
pub fn refuse_workspace_memory(dir: &Path) -> CliResult {
    let real = std::fs::canonicalize(dir).ok();
    if is_workspace_memory(dir) || real.as_deref().is_some_and(is_workspace_memory) {
        return Err(CliError::usage(format!(
            "{} is a workspace memory folder (<workspace>/.azmx/memory/): workspace memory \
             never syncs, by design (workspace paths differ across machines)",
            dir.display()
        ))
        .hint(
            "use the global memory folder ~/.azmx/memory-global/ (the default) or another folder",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_memory_folders_are_refused() {
        for d in [
            "/w/proj/.azmx/memory",
            "/w/proj/.azmx/memory/sub",
            "/home/u/.azmx/memory",
        ] {
            assert!(refuse_workspace_memory(Path::new(d)).is_err(), "{d}");
        }
        for d in [
            "/home/u/.azmx/memory-global",
            "/w/memory",
            "/w/.azmx/memoryx",
        ] {
            assert!(refuse_workspace_memory(Path::new(d)).is_ok(), "{d}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_to_workspace_memory_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let ws = t.path().join("proj/.azmx/memory");
        std::fs::create_dir_all(&ws).unwrap();
        let link = t.path().join("looks-global");
        std::os::unix::fs::symlink(&ws, &link).unwrap();
        assert!(refuse_workspace_memory(&link).is_err());
    }

    #[test]
    fn the_folder_is_remembered_in_the_state_directory() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("mem");
        remember(t.path(), &dir).unwrap();
        assert_eq!(recorded(t.path()), Some(dir));
        assert!(default_dir().ends_with(".azmx/memory-global"));
    }
}
