//! `gen-openapi [--check]`: writes `docs/openapi.json`, the relay's OpenAPI
//! document for its default limits, from the relay's own code (its
//! `openapi` example prints what a relay serves at `/openapi.json`).
//! `--check` writes nothing and fails when the committed file differs.
//!
//! The example is built with `--workspace`, so its dependencies resolve
//! with the workspace's features and reuse the workspace build instead of
//! compiling a second, differently-featured copy of them.

use std::path::Path;
use std::process::Command;

pub const PATH: &str = "docs/openapi.json";

/// Generates the document; `Ok(false)` when `check` found a difference.
pub fn generate(root: &Path, check: bool) -> Result<bool, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(root)
        .args(["build", "-q", "--workspace", "--example", "openapi"])
        .status()
        .map_err(|e| format!("{cargo}: {e}"))?;
    if !status.success() {
        return Err("cargo build --example openapi failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let exe = target.join("debug/examples/openapi");
    let out = Command::new(&exe)
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let full = root.join(PATH);
    let old = std::fs::read(&full).unwrap_or_default();
    if old == out.stdout {
        return Ok(true);
    }
    if check {
        eprintln!(
            "{PATH} differs from the relay's document: run `cargo run -p xtask -- gen-openapi`"
        );
        return Ok(false);
    }
    std::fs::write(&full, &out.stdout).map_err(|e| format!("{PATH}: {e}"))?;
    println!("wrote {PATH}");
    Ok(true)
}
