//! `service install|uninstall|status`: the background cycle as a systemd
//! user unit (Linux) or a launchd agent (macOS), running with the key the
//! OS secret store keeps (`init --remember` / `login`). The text comes from
//! `crate::service_unit`; nothing here enables or starts it.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::device::Device;
use crate::error::{exit, CliError, CliResult};
use crate::key_source::this_device;
use crate::render::{print_json, Style};
use crate::secret_store;
use crate::service_unit::{self, ServiceSpec};
use crate::Ctx;

#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Write the service for this state directory (systemd user unit or
    /// launchd agent); it syncs with the key kept by `init --remember`.
    Install(InstallArgs),
    /// Remove the service file.
    Uninstall,
    /// Whether the service file exists and (systemd) whether it runs.
    Status,
}

#[derive(Args)]
pub struct InstallArgs {
    /// Seconds between background cycles (clamped to 30–3600).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    interval: u64,
    /// Write it even though no key is kept in the secret store (it would
    /// stop at start with exit code 3 until `azmx-sync login`).
    #[arg(long)]
    force: bool,
}

/// The service manager of this platform and where its file goes.
enum Manager {
    Systemd { unit: PathBuf },
    Launchd { plist: PathBuf, log: PathBuf },
}

fn manager() -> CliResult<Manager> {
    if cfg!(target_os = "macos") {
        let home = dirs::home_dir()
            .ok_or_else(|| CliError::generic("no home directory for ~/Library/LaunchAgents"))?;
        return Ok(Manager::Launchd {
            plist: home
                .join("Library/LaunchAgents")
                .join(format!("{}.plist", service_unit::LAUNCHD_LABEL)),
            log: home.join("Library/Logs/azmx-sync/azmx-sync.log"),
        });
    }
    if cfg!(unix) {
        // $XDG_CONFIG_HOME or ~/.config, where the user manager looks.
        let config = dirs::config_dir()
            .ok_or_else(|| CliError::generic("no configuration directory (~/.config)"))?;
        return Ok(Manager::Systemd {
            unit: config.join("systemd/user").join(service_unit::SYSTEMD_UNIT),
        });
    }
    Err(CliError::generic(
        "`service` writes systemd user units (Linux) and launchd agents (macOS); this platform \
         has neither: run `azmx-sync sync --watch` from its own scheduler",
    ))
}

impl Manager {
    fn path(&self) -> &Path {
        match self {
            Manager::Systemd { unit } => unit,
            Manager::Launchd { plist, .. } => plist,
        }
    }
}

pub fn service(ctx: &Ctx, cmd: ServiceCmd) -> CliResult {
    match cmd {
        ServiceCmd::Install(a) => install(ctx, a),
        ServiceCmd::Uninstall => uninstall(ctx),
        ServiceCmd::Status => status(ctx),
    }
}

fn install(ctx: &Ctx, a: InstallArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    if !a.force && !key_is_kept(&dev, &ctx.state_dir) {
        return Err(CliError::new(
            exit::RECEIPT,
            format!(
                "no key of this device is kept in {}: the service could not sync without a \
                 person to give the receipt. Nothing was written",
                secret_store::store_name()
            ),
        )
        .hint("run `azmx-sync login` (or `init --remember`) first; --force writes it anyway"));
    }
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| CliError::generic(format!("cannot find this program's path: {e}")))?;
    let state_dir = ctx.state_dir.canonicalize()?;
    let spec = ServiceSpec {
        exe: &exe,
        state_dir: &state_dir,
        interval_secs: a.interval,
    };
    let m = manager()?;
    let text = match &m {
        Manager::Systemd { .. } => service_unit::systemd_unit(&spec),
        Manager::Launchd { log, .. } => service_unit::launchd_plist(&spec, log),
    }
    .map_err(CliError::usage)?;
    if let Manager::Launchd { log, .. } = &m {
        if let Some(dir) = log.parent() {
            create_private_dir(dir)?;
        }
    }
    write_private(m.path(), &text)?;
    if ctx.json {
        print_json(&json!({ "installed": true, "path": m.path(), "stateDir": state_dir }));
        return Ok(());
    }
    let s = Style::stdout();
    println!("{} wrote {}", s.green("ok"), m.path().display());
    match &m {
        Manager::Systemd { .. } => {
            println!("start    systemctl --user daemon-reload && systemctl --user enable --now azmx-sync");
            println!("logs     journalctl --user -u azmx-sync -f");
        }
        Manager::Launchd { plist, log } => {
            println!("start    launchctl load -w {}", plist.display());
            println!("logs     tail -f {}", log.display());
        }
    }
    Ok(())
}

/// The marker names this registration and the store has its entry.
fn key_is_kept(dev: &Device, state_dir: &Path) -> bool {
    match (secret_store::marker(state_dir), this_device(dev)) {
        (Some(kept), Some(me)) if kept == me => {
            matches!(secret_store::load(&kept), Ok(Some(_)))
        }
        _ => false,
    }
}

fn uninstall(ctx: &Ctx) -> CliResult {
    let m = manager()?;
    let removed = match std::fs::remove_file(m.path()) {
        Ok(()) => true,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        print_json(&json!({ "removed": removed, "path": m.path() }));
        return Ok(());
    }
    if !removed {
        println!("no service file at {}", m.path().display());
        return Ok(());
    }
    println!(
        "{} removed {}",
        Style::stdout().green("ok"),
        m.path().display()
    );
    match &m {
        Manager::Systemd { .. } => println!(
            "stop     systemctl --user disable --now azmx-sync; systemctl --user daemon-reload"
        ),
        Manager::Launchd { .. } => {
            println!("stop     launchctl remove {}", service_unit::LAUNCHD_LABEL)
        }
    }
    Ok(())
}

fn status(ctx: &Ctx) -> CliResult {
    let m = manager()?;
    let installed = m.path().is_file();
    let kept = secret_store::marker(&ctx.state_dir).is_some();
    let state = match &m {
        Manager::Systemd { .. } => ask(
            "systemctl",
            &["--user", "is-active", service_unit::SYSTEMD_UNIT],
        ),
        Manager::Launchd { .. } => ask("launchctl", &["list", service_unit::LAUNCHD_LABEL])
            .map(|(ok, _)| (ok, if ok { "loaded" } else { "not loaded" }.to_string())),
    };
    if ctx.json {
        print_json(&json!({
            "installed": installed,
            "path": m.path(),
            "active": state.as_ref().map(|(_, s)| s),
            "keyRemembered": kept,
        }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "service  {} {}",
        if installed {
            s.green("installed")
        } else {
            s.dim("not installed")
        },
        m.path().display()
    );
    match state {
        Some((_, text)) => println!("state    {text}"),
        None => println!("state    unknown (no service manager command found)"),
    }
    println!(
        "key      {}",
        if kept {
            format!("kept in {}", secret_store::store_name())
        } else {
            "not kept: the service cannot run unattended (`azmx-sync login`)".to_string()
        }
    );
    Ok(())
}

/// Runs a service manager query: `None` when the command is not there,
/// else whether it succeeded and its first line of output (or error).
fn ask(cmd: &str, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
        &out.stderr
    } else {
        &out.stdout
    })
    .lines()
    .next()
    .unwrap_or("")
    .chars()
    .take(200)
    .collect::<String>();
    Some((out.status.success(), text))
}

fn create_private_dir(dir: &Path) -> CliResult {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)?;
    Ok(())
}

/// Writes `text` to `path` (0600, replacing it atomically).
fn write_private(path: &Path, text: &str) -> CliResult {
    use std::io::Write;
    let dir = path
        .parent()
        .ok_or_else(|| CliError::generic("the service path has no directory"))?;
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| CliError::from(e.error))?;
    Ok(())
}
