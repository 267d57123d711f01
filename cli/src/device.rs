//! Device commands: the CLI as a sync host of the engine, with its stores
//! in SQLite (`store.rs`).

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azmx_sync_core::engine::{
    read_log_file, ActivityEvent, ActivityListener, CycleReport, EngineConfig, EventKind,
    SyncEngine, SyncError, ACTIVITY_FILE, STATE_FILE,
};
use azmx_sync_core::merge::{Record, RecordKey};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::error::{exit, CliError, CliResult};
use crate::receipt::{self, ReceiptArgs};
use crate::store::{body_text, next_time, next_version, Stores, DEFAULT_HANDLE};
use crate::ui::{self, Progress, Style};
use crate::Ctx;

// ------------------------------------------------------------- arguments --

#[derive(Args)]
pub struct InitArgs {
    /// Relay URL, e.g. http://relay.example:8787.
    #[arg(long, env = "AZMX_RELAY_URL", value_name = "URL")]
    relay: String,
    /// License id (from the relay operator).
    #[arg(long, env = "AZMX_LICENSE_ID", value_name = "LID")]
    license_id: String,
    /// License key (from the relay operator); it only lets a device register
    /// and cannot decrypt anything. $AZMX_LICENSE_KEY keeps it out of the
    /// process list.
    #[arg(
        long,
        env = "AZMX_LICENSE_KEY",
        hide_env_values = true,
        // Keys are base64url and may start with '-'.
        allow_hyphen_values = true,
        value_name = "KEY"
    )]
    license_key: String,
    /// This device's name, shown in `devices` (default: the host name).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    #[command(flatten)]
    receipt: ReceiptArgs,
}

#[derive(Args)]
pub struct SyncArgs {
    /// Keep syncing in the background (every --interval, and now) until Ctrl-C.
    #[arg(long)]
    watch: bool,
    /// Seconds between background cycles with --watch (clamped to 30–3600).
    #[arg(long, value_name = "SECS", default_value_t = 300, requires = "watch")]
    interval: u64,
    #[command(flatten)]
    receipt: ReceiptArgs,
}

#[derive(Subcommand)]
pub enum SnippetCmd {
    /// Save a snippet (TEXT `-` reads it from stdin).
    Add {
        /// Snippet id (default: a new random id).
        #[arg(long)]
        id: Option<String>,
        /// Handle the snippet is scoped to.
        #[arg(long, default_value = DEFAULT_HANDLE)]
        handle: String,
        text: String,
    },
    /// Replace a snippet's text (TEXT `-` reads it from stdin).
    Edit {
        id: String,
        text: String,
        /// Needed only when the id exists under several handles.
        #[arg(long)]
        handle: Option<String>,
    },
    /// Delete a snippet (on every device, after sync).
    Rm {
        id: String,
        /// Needed only when the id exists under several handles.
        #[arg(long)]
        handle: Option<String>,
    },
    /// List snippets.
    List {
        /// Only this handle.
        #[arg(long)]
        handle: Option<String>,
        /// Include deleted snippets (tombstones).
        #[arg(long)]
        deleted: bool,
    },
}

#[derive(Subcommand)]
pub enum TodoCmd {
    /// Replace a session's todo list. JSON_ITEMS is a JSON array of items
    /// ({"id","content","status"}) or of strings (`-` reads stdin);
    /// missing ids are numbered, missing statuses are "pending".
    Set {
        session: String,
        #[arg(value_name = "JSON_ITEMS")]
        items: String,
    },
    /// List todo lists (all sessions, or one).
    List { session: Option<String> },
}

#[derive(Subcommand)]
pub enum MemoryCmd {
    /// Store a fact under KEY (bumps its version).
    Put { key: String, text: String },
    /// Print the fact stored under KEY.
    Get { key: String },
    /// Delete the fact under KEY (bumps its version).
    Rm { key: String },
    /// List facts.
    List,
}

#[derive(Args)]
pub struct ActivityArgs {
    /// Keep printing new events until Ctrl-C.
    #[arg(long, short)]
    follow: bool,
    /// How many recent events to show.
    #[arg(long, short = 'n', default_value_t = 50)]
    limit: usize,
}

// ---------------------------------------------------------------- device --

/// An engine on a state directory, with the SQLite stores registered.
pub struct Device {
    pub engine: SyncEngine,
    pub stores: Stores,
}

impl Device {
    /// Opens (creating if needed) the device in `state_dir`: for `init`.
    pub fn create(state_dir: &Path) -> CliResult<Self> {
        Self::create_with(EngineConfig::new(state_dir))
    }

    /// Opens an initialised device; "not initialised" (creating nothing)
    /// when the state directory has no registration.
    pub fn open(state_dir: &Path) -> CliResult<Self> {
        Self::open_with(EngineConfig::new(state_dir))
    }

    pub fn open_with(config: EngineConfig) -> CliResult<Self> {
        if !config.state_dir.join(STATE_FILE).is_file() {
            return Err(CliError::not_initialised());
        }
        Self::create_with(config)
    }

    fn create_with(config: EngineConfig) -> CliResult<Self> {
        let state_dir = config.state_dir.clone();
        let engine =
            SyncEngine::with_builtin_transport(config).map_err(|e| CliError::from_sync(e, None))?;
        let stores = Stores::open(&state_dir)?;
        for s in stores.all() {
            engine
                .register_store(s.spec.clone(), Arc::new(s.clone()))
                .map_err(|e| CliError::from_sync(e, None))?;
        }
        Ok(Self { engine, stores })
    }

    pub fn relay_url(&self) -> Option<String> {
        self.engine.status().relay_url
    }

    /// The device id, or "not initialised".
    pub fn require_id(&self) -> CliResult<String> {
        self.engine
            .device_id()
            .ok_or_else(CliError::not_initialised)
    }

    pub fn sync_err(&self, e: SyncError) -> CliError {
        CliError::from_sync(e, self.relay_url().as_deref())
    }

    /// Gives the engine the receipt (derives the key on a thread).
    fn give_receipt(&self, args: &ReceiptArgs) -> CliResult {
        let r = receipt::read(args)?;
        self.engine.set_receipt(r).map_err(|e| self.sync_err(e))
    }
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn read_text_arg(text: String) -> CliResult<String> {
    if text == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s.trim_end_matches(['\n', '\r']).to_string())
    } else {
        Ok(text)
    }
}

fn default_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "azmx-device".into())
}

// ------------------------------------------------------------------ init --

pub fn init(ctx: &Ctx, a: InitArgs) -> CliResult {
    if !(a.relay.starts_with("http://") || a.relay.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "--relay must be an http:// or https:// URL, got `{}`",
            a.relay
        )));
    }
    let relay = a.relay.trim_end_matches('/').to_string();
    let name = a.name.unwrap_or_else(default_name);
    // The receipt first: a prompt should come before any network wait.
    let receipt = receipt::read(&a.receipt)?;
    let dev = Device::create(&ctx.state_dir)?;
    let device_id = dev
        .engine
        .register(&relay, &a.license_id, &a.license_key, &name)
        .map_err(|e| CliError::from_sync(e, Some(&relay)))?;
    dev.engine
        .set_receipt(receipt)
        .map_err(|e| dev.sync_err(e))?;
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::WrongReceipt) => {
            return Err(CliError::new(
                exit::RECEIPT,
                format!(
                    "wrong recovery receipt: it does not match the one license {} was set up \
                     with. The device is registered ({device_id}) but will not sync with this \
                     receipt; no data was changed",
                    a.license_id
                ),
            )
            .hint("run `azmx-sync init` again with the receipt from your activation email"));
        }
        Err(e) => return Err(dev.sync_err(e)),
    }
    if ctx.json {
        print_json(&json!({
            "deviceId": device_id,
            "name": name,
            "relay": relay,
            "licenseId": a.license_id,
            "stateDir": ctx.state_dir,
            "receiptChecked": true,
        }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "{} registered {} as {} with {} (license {})",
        s.green("ok"),
        s.bold(&name),
        s.cyan(&device_id),
        relay,
        a.license_id
    );
    println!(
        "{} recovery receipt matches this license's key check",
        s.green("ok")
    );
    println!("state    {}", ctx.state_dir.display());
    println!(
        "next     azmx-sync sync   {}",
        s.dim("(the receipt is never stored: sync, export and import ask for it again)")
    );
    Ok(())
}

// ---------------------------------------------------------------- status --

pub fn status(ctx: &Ctx) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let st = dev.engine.status();
    if st.device_id.is_none() {
        return Err(CliError::not_initialised());
    }
    let unsynced = dev.engine.unsynced().map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        let mut v = serde_json::to_value(&st).unwrap_or_default();
        v["unsynced"] = serde_json::to_value(&unsynced).unwrap_or_default();
        v["stateDir"] = json!(ctx.state_dir);
        print_json(&v);
        return Ok(());
    }
    let s = Style::stdout();
    let mut rows: Vec<(String, String)> = Vec::new();
    rows.push((
        "device".into(),
        format!(
            "{}  {}",
            s.bold(st.device_name.as_deref().unwrap_or("?")),
            st.device_id.clone().unwrap_or_default()
        ),
    ));
    rows.push((
        "relay".into(),
        format!(
            "{}  (license {})",
            st.relay_url.clone().unwrap_or_default(),
            st.license_id.clone().unwrap_or_default()
        ),
    ));
    rows.push(("state".into(), ctx.state_dir.display().to_string()));
    let last = match &st.last_cycle {
        None => s.dim("never"),
        Some(c) if c.ok => format!(
            "{}, {} ({} ms)",
            s.green("ok"),
            ui::ago(c.at_ms),
            c.duration_ms
        ),
        Some(c) => format!(
            "{} ({}), {}{}",
            s.red("failed"),
            c.error_code.as_deref().unwrap_or("error"),
            ui::ago(c.at_ms),
            st.last_success_ms
                .map(|t| format!("; last success {}", ui::ago(t)))
                .unwrap_or_else(|| "; never succeeded".into())
        ),
    };
    rows.push(("last sync".into(), last));
    rows.push((
        "unsynced".into(),
        if unsynced.count == 0 {
            "none".into()
        } else {
            format!(
                "{}, oldest {}",
                s.yellow(&ui::plural(unsynced.count, "change", "changes")),
                unsynced
                    .oldest_updated_at_ms
                    .map(ui::ago)
                    .unwrap_or_default()
            )
        },
    ));
    if st.outbox_pending {
        rows.push((
            "outbox".into(),
            s.yellow("1 push sealed and waiting; the next sync sends it"),
        ));
    }
    let q_live = st.quarantine.iter().filter(|q| !q.gave_up).count();
    rows.push((
        "quarantine".into(),
        if st.quarantine.is_empty() {
            "none".into()
        } else {
            s.red(&format!(
                "{} ({} retried each sync, {} given up)",
                ui::plural(st.quarantine.len() as u64, "bundle", "bundles"),
                q_live,
                st.quarantine.len() - q_live
            ))
        },
    ));
    if st.clock_offset_secs != 0 {
        rows.push((
            "clock".into(),
            format!(
                "corrected: the relay's clock is {} s {} this machine's",
                st.clock_offset_secs.abs(),
                if st.clock_offset_secs > 0 {
                    "ahead of"
                } else {
                    "behind"
                }
            ),
        ));
    }
    if st.revoked {
        rows.push((
            "revoked".into(),
            s.red("yes: this device can no longer sync"),
        ));
    }
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in &rows {
        println!("{}  {v}", s.dim(&format!("{k:<w$}")));
    }
    for q in &st.quarantine {
        println!(
            "{}  {} seq {}: {} ({}{})",
            " ".repeat(w),
            q.device_id,
            q.seq,
            q.reason,
            ui::plural(q.attempts as u64, "attempt", "attempts"),
            if q.gave_up { ", given up" } else { "" }
        );
    }
    Ok(())
}

// ------------------------------------------------------------------ sync --

/// Collects the events of one command and drives the progress line.
struct Collector {
    events: Mutex<Vec<ActivityEvent>>,
    progress: ui::ProgressHandle,
    pulled: Mutex<(u64, u64)>,
}

impl ActivityListener for Collector {
    fn on_event(&self, e: &ActivityEvent) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e.clone());
        }
        if let Ok(mut p) = self.pulled.lock() {
            match &e.kind {
                EventKind::Pulled { blobs } => p.0 += blobs,
                EventKind::Applied {
                    inserted,
                    updated,
                    deleted,
                    ..
                } => p.1 += inserted + updated + deleted,
                _ => {}
            }
            self.progress.set(format!(
                "syncing: {} pulled, {} applied",
                ui::plural(p.0, "bundle", "bundles"),
                ui::plural(p.1, "change", "changes")
            ));
        }
    }
}

fn short(h: &str) -> String {
    h.chars().take(12).collect::<String>() + "…"
}

/// A sentence for an event that deserves the user's attention, and whether
/// it is a warning (else a note).
fn notice(e: &ActivityEvent) -> Option<(bool, String)> {
    Some(match &e.kind {
        EventKind::BlobIntegrityError {
            device_id,
            seq,
            expected,
            actual,
        } => (
            true,
            format!(
                "blobIntegrityError: bundle {seq} from {device_id} is corrupt on the relay \
                 (SHA-256 {} expected, {} stored); it is quarantined and retried on later \
                 syncs, and the rest of the pull applied",
                short(expected),
                short(actual)
            ),
        ),
        EventKind::DecryptFailed { device_id, seq } => (
            true,
            format!(
                "bundle {seq} from {device_id} could not be decrypted (sealed with another \
                 receipt?); quarantined"
            ),
        ),
        EventKind::ContextMismatch {
            device_id,
            seq,
            field,
        } => (
            true,
            format!(
                "bundle {seq} from {device_id} does not belong where the relay served it \
                 ({field} differs); quarantined, nothing from it applied"
            ),
        ),
        EventKind::BundleInvalid {
            device_id,
            seq,
            reason,
        } => (
            true,
            format!("bundle {seq} from {device_id} is invalid ({reason}); quarantined"),
        ),
        EventKind::QuarantineGaveUp {
            device_id,
            seq,
            reason,
        } => (
            true,
            format!(
                "gave up on bundle {seq} from {device_id} ({reason}) after repeated failures; \
                 the other device's later checkpoint will carry its records"
            ),
        ),
        EventKind::QuarantineEvicted {
            device_id,
            seq,
            reason,
        } => (
            true,
            format!(
                "dropped bundle {seq} from {device_id} ({reason}) from the quarantine, which is \
                 full; the other device's later checkpoint will carry its records"
            ),
        ),
        EventKind::RecordRejected { store, id, reason } => (
            true,
            format!("incoming {store} record `{id}` rejected ({reason}); the local copy was kept"),
        ),
        EventKind::QuarantineCleared { device_id, seq } => (
            false,
            format!("bundle {seq} from {device_id} applied after an earlier failure"),
        ),
        EventKind::ClockCorrected { offset_secs } => (
            false,
            format!(
                "clock skew corrected: the relay's clock is {} s {} this machine's; requests \
                 now use the relay's time",
                offset_secs.abs(),
                if *offset_secs > 0 {
                    "ahead of"
                } else {
                    "behind"
                }
            ),
        ),
        EventKind::UnknownStore { store, .. } => (
            false,
            format!("ignored records of store `{store}`, which this version does not know"),
        ),
        _ => return None,
    })
}

fn print_notices(events: &[ActivityEvent]) {
    let s = Style::stderr();
    for e in events {
        if let Some((warn, text)) = notice(e) {
            if warn {
                eprintln!("{} {text}", s.yellow(&s.bold("warning:")));
            } else {
                eprintln!("{} {text}", s.cyan("note:"));
            }
        }
    }
}

fn report_lines(r: &CycleReport) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(seq) = r.pushed_seq {
        out.push((
            "pushed".into(),
            format!(
                "{} (seq {seq}, {} sealed{})",
                ui::plural(r.pushed_records, "record", "records"),
                ui::bytes(r.sealed_bytes),
                if r.checkpoint { ", checkpoint" } else { "" }
            ),
        ));
    }
    if r.pulled_blobs > 0 || r.applied_changes > 0 {
        out.push((
            "pulled".into(),
            format!(
                "{}, {} applied",
                ui::plural(r.pulled_blobs, "bundle", "bundles"),
                ui::plural(r.applied_changes, "change", "changes")
            ),
        ));
    }
    if r.quarantined > 0 {
        out.push((
            "quarantined".into(),
            ui::plural(r.quarantined, "bundle", "bundles"),
        ));
    }
    if r.rejected_records > 0 {
        out.push((
            "rejected".into(),
            ui::plural(r.rejected_records, "record", "records"),
        ));
    }
    out
}

pub fn sync(ctx: &Ctx, a: SyncArgs) -> CliResult {
    let mut config = EngineConfig::new(&ctx.state_dir);
    config.interval = Duration::from_secs(a.interval);
    let dev = Device::open_with(config)?;
    dev.require_id()?;
    dev.give_receipt(&a.receipt)?;
    if a.watch {
        return watch(ctx, &dev, a.interval);
    }
    let progress = Progress::start("syncing", !ctx.json);
    let collector = Arc::new(Collector {
        events: Mutex::new(Vec::new()),
        progress: progress.handle(),
        pulled: Mutex::new((0, 0)),
    });
    dev.engine.add_listener(collector.clone());
    let result = dev.engine.sync_now();
    progress.finish();
    let events = collector
        .events
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if !ctx.json {
                print_notices(&events);
            }
            return Err(dev.sync_err(e));
        }
    };
    if ctx.json {
        print_json(&json!({ "ok": true, "report": report, "events": events }));
        return Ok(());
    }
    let s = Style::stdout();
    println!(
        "{} synced with {} in {} ms",
        s.green("ok"),
        dev.relay_url().unwrap_or_default(),
        report.duration_ms
    );
    let lines = report_lines(&report);
    if lines.is_empty() {
        println!("   up to date: nothing to push, nothing new on the relay");
    }
    let w = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in lines {
        println!("   {}  {v}", s.dim(&format!("{k:<w$}")));
    }
    print_notices(&events);
    Ok(())
}

enum WatchMsg {
    Stop,
    Event(ActivityEvent),
}

struct Forward(Mutex<mpsc::Sender<WatchMsg>>);

impl ActivityListener for Forward {
    fn on_event(&self, e: &ActivityEvent) {
        if let Ok(tx) = self.0.lock() {
            let _ = tx.send(WatchMsg::Event(e.clone()));
        }
    }
}

fn watch(ctx: &Ctx, dev: &Device, interval: u64) -> CliResult {
    let s = Style::stdout();
    // A wrong receipt is the one thing a background loop cannot get past.
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::Network { message }) => eprintln!(
            "{} relay unreachable ({message}); will keep trying",
            Style::stderr().yellow("note:")
        ),
        Err(e) => return Err(dev.sync_err(e)),
    }
    let (tx, rx) = mpsc::channel();
    let stop_tx = tx.clone();
    ctrlc::set_handler(move || {
        let _ = stop_tx.send(WatchMsg::Stop);
    })
    .map_err(|e| CliError::generic(format!("cannot install the Ctrl-C handler: {e}")))?;
    dev.engine.add_listener(Arc::new(Forward(Mutex::new(tx))));
    dev.engine.start();
    dev.engine.trigger();
    let every = azmx_sync_core::engine::clamp_interval(Duration::from_secs(interval));
    if !ctx.json {
        println!(
            "watching {}: a sync now and every {} s; Ctrl-C stops",
            dev.relay_url().unwrap_or_default(),
            every.as_secs()
        );
    }
    let mut revoked = false;
    let mut last_error: Option<String> = None;
    while let Ok(msg) = rx.recv() {
        let e = match msg {
            WatchMsg::Stop => break,
            WatchMsg::Event(e) => e,
        };
        if ctx.json {
            println!("{}", serde_json::to_string(&e).unwrap_or_default());
        }
        match &e.kind {
            EventKind::NetworkError { message } => last_error = Some(message.clone()),
            EventKind::RelayError { status, code } => {
                last_error = Some(format!("relay refused: {status} {code}"))
            }
            EventKind::WrongReceipt => last_error = Some("wrong receipt".into()),
            EventKind::Revoked => revoked = true,
            EventKind::CycleFinished {
                duration_ms,
                pushed,
                pulled_blobs,
                ok,
            } if !ctx.json => {
                let what = match (pushed, *pulled_blobs) {
                    (false, 0) => "up to date".to_string(),
                    (true, 0) => "pushed".to_string(),
                    (false, n) => format!("pulled {}", ui::plural(n, "bundle", "bundles")),
                    (true, n) => format!("pushed, pulled {}", ui::plural(n, "bundle", "bundles")),
                };
                if *ok {
                    println!(
                        "{}  {} {what} ({duration_ms} ms)",
                        ui::utc(e.at_ms),
                        s.green("sync ok:")
                    );
                } else {
                    println!(
                        "{}  {} {}; retrying with backoff, nothing is lost",
                        ui::utc(e.at_ms),
                        s.red("sync failed:"),
                        last_error.take().unwrap_or_else(|| "error".into())
                    );
                }
            }
            _ if !ctx.json => print_notices(std::slice::from_ref(&e)),
            _ => {}
        }
        if revoked {
            break;
        }
    }
    dev.engine.stop();
    if revoked {
        return Err(CliError::revoked());
    }
    if !ctx.json {
        println!("stopped cleanly");
    }
    Ok(())
}

// --------------------------------------------------------------- snippets --

fn new_id(prefix: &str) -> String {
    use rand_core::{OsRng, RngCore};
    let mut b = [0u8; 5];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}{}", hex::encode(b))
}

fn snippet_json(r: &Record) -> Value {
    json!({
        "handle": r.scope,
        "id": r.id,
        "text": r.body.as_ref().and_then(|b| b.to_value().get("text").cloned()),
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
        "deleted": r.deleted,
    })
}

/// The handle of snippet `id`: the given one, or the only handle holding a
/// live snippet with that id.
fn find_handle(stores: &Stores, id: &str, handle: Option<String>) -> CliResult<String> {
    if let Some(h) = handle {
        return Ok(h);
    }
    let hits: Vec<String> = stores
        .snippets
        .live()?
        .into_iter()
        .filter(|r| r.id == id)
        .filter_map(|r| r.scope)
        .collect();
    match hits.len() {
        0 => Err(CliError::generic(format!("no snippet `{id}`"))
            .hint("`azmx-sync snippet list` shows the ids")),
        1 => Ok(hits[0].clone()),
        _ => Err(CliError::usage(format!(
            "snippet `{id}` exists under several handles ({}); pass --handle",
            hits.join(", ")
        ))),
    }
}

pub fn snippet(ctx: &Ctx, cmd: SnippetCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        SnippetCmd::List { handle, deleted } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let rows: Vec<Record> = stores
                .snippets
                .all()?
                .into_iter()
                .filter(|r| deleted || !r.deleted)
                .filter(|r| handle.is_none() || r.scope == handle)
                .collect();
            if ctx.json {
                print_json(&Value::Array(rows.iter().map(snippet_json).collect()));
                return Ok(());
            }
            if rows.is_empty() {
                println!("no snippets");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.scope.clone().unwrap_or_default(),
                        r.id.clone(),
                        ui::ago(r.updated_at),
                        if r.deleted {
                            s.dim("(deleted)")
                        } else {
                            ui::one_line(&body_text(r), 60)
                        },
                    ]
                })
                .collect();
            ui::table(&["HANDLE", "ID", "UPDATED", "TEXT"], &table);
            Ok(())
        }
        SnippetCmd::Add { id, handle, text } => {
            let text = read_text_arg(text)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let id = id.unwrap_or_else(|| new_id("s_"));
            let key = RecordKey::new(Some(handle.clone()), id.clone());
            let rec = dev.stores.snippets.write(&key, |cur| {
                if cur.is_some_and(|c| !c.deleted) {
                    return Err(CliError::usage(format!(
                        "snippet `{id}` already exists under handle `{handle}`"
                    ))
                    .hint(format!("use `azmx-sync snippet edit {id} TEXT`")));
                }
                Ok(Record::new(
                    &id,
                    Some(handle.clone()),
                    next_time(cur),
                    None,
                    &device_id,
                    json!({ "text": text }),
                ))
            })?;
            if ctx.json {
                print_json(&snippet_json(&rec));
            } else {
                println!("added snippet {} (handle {})", s.cyan(&rec.id), handle);
            }
            Ok(())
        }
        SnippetCmd::Edit { id, text, handle } => {
            let text = read_text_arg(text)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let handle = find_handle(&dev.stores, &id, handle)?;
            let key = RecordKey::new(Some(handle.clone()), id.clone());
            let rec = dev.stores.snippets.write(&key, |cur| match cur {
                Some(c) if !c.deleted => Ok(Record::new(
                    &id,
                    Some(handle.clone()),
                    next_time(cur),
                    None,
                    &device_id,
                    json!({ "text": text }),
                )),
                _ => Err(
                    CliError::generic(format!("no snippet `{id}` under handle `{handle}`"))
                        .hint("`azmx-sync snippet list` shows the ids"),
                ),
            })?;
            if ctx.json {
                print_json(&snippet_json(&rec));
            } else {
                println!("edited snippet {} (handle {})", s.cyan(&rec.id), handle);
            }
            Ok(())
        }
        SnippetCmd::Rm { id, handle } => {
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let handle = find_handle(&dev.stores, &id, handle)?;
            let key = RecordKey::new(Some(handle.clone()), id.clone());
            let rec = dev.stores.snippets.write(&key, |cur| match cur {
                Some(c) if !c.deleted => Ok(Record::tombstone(
                    &id,
                    Some(handle.clone()),
                    next_time(cur),
                    None,
                    &device_id,
                )),
                _ => Err(CliError::generic(format!(
                    "no snippet `{id}` under handle `{handle}`"
                ))),
            })?;
            if ctx.json {
                print_json(&snippet_json(&rec));
            } else {
                println!(
                    "deleted snippet {} (handle {}); the delete reaches your other devices on sync",
                    s.cyan(&rec.id),
                    handle
                );
            }
            Ok(())
        }
    }
}

// ------------------------------------------------------------------ todos --

/// Accepts an array of items (objects or strings) or `{"items": [...]}`;
/// numbers missing ids and defaults missing statuses to "pending".
fn todo_body(raw: &str) -> CliResult<Value> {
    let v: Value = serde_json::from_str(raw).map_err(|e| {
        CliError::usage(format!("JSON_ITEMS is not valid JSON ({e})")).hint(
            r#"e.g. '[{"id":"1","content":"write tests","status":"in_progress"}]' or '["a","b"]'"#,
        )
    })?;
    let items = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("items") {
            Some(Value::Array(a)) => a,
            _ => return Err(CliError::usage("JSON_ITEMS object has no `items` array")),
        },
        _ => return Err(CliError::usage("JSON_ITEMS must be a JSON array of items")),
    };
    let items: Vec<Value> = items
        .into_iter()
        .enumerate()
        .map(|(i, it)| match it {
            Value::String(content) => {
                json!({ "id": (i + 1).to_string(), "content": content, "status": "pending" })
            }
            Value::Object(mut o) => {
                o.entry("id").or_insert_with(|| json!((i + 1).to_string()));
                o.entry("status").or_insert_with(|| json!("pending"));
                Value::Object(o)
            }
            other => other,
        })
        .collect();
    let body = json!({ "items": items });
    azmx_sync_core::merge::validate_todos(&body)
        .map_err(|e| CliError::usage(format!("invalid todo list: {e}")))?;
    Ok(body)
}

fn todo_json(r: &Record) -> Value {
    json!({
        "session": r.id,
        "items": r.body.as_ref().and_then(|b| b.to_value().get("items").cloned()).unwrap_or(json!([])),
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
    })
}

pub fn todo(ctx: &Ctx, cmd: TodoCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        TodoCmd::Set { session, items } => {
            let items = read_text_arg(items)?;
            let body = todo_body(&items)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let key = RecordKey::new(None, session.clone());
            let rec = dev.stores.todos.write(&key, |cur| {
                Ok(Record::new(
                    &session,
                    None,
                    next_time(cur),
                    None,
                    &device_id,
                    body,
                ))
            })?;
            if ctx.json {
                print_json(&todo_json(&rec));
            } else {
                let n = rec
                    .body
                    .as_ref()
                    .and_then(|b| b.to_value()["items"].as_array().map(Vec::len))
                    .unwrap_or(0);
                println!(
                    "set todo list {} ({})",
                    s.cyan(&session),
                    ui::plural(n as u64, "item", "items")
                );
            }
            Ok(())
        }
        TodoCmd::List { session } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let lists: Vec<Record> = stores
                .todos
                .live()?
                .into_iter()
                .filter(|r| session.as_ref().is_none_or(|sid| &r.id == sid))
                .collect();
            if ctx.json {
                print_json(&Value::Array(lists.iter().map(todo_json).collect()));
                return Ok(());
            }
            if lists.is_empty() {
                println!("no todo lists");
                return Ok(());
            }
            for r in &lists {
                let items = r
                    .body
                    .as_ref()
                    .and_then(|b| b.to_value()["items"].as_array().cloned())
                    .unwrap_or_default();
                println!(
                    "{}  {}",
                    s.bold(&r.id),
                    s.dim(&format!(
                        "{} · updated {}",
                        ui::plural(items.len() as u64, "item", "items"),
                        ui::ago(r.updated_at)
                    ))
                );
                for it in items {
                    let mark = match it["status"].as_str() {
                        Some("completed") => s.green("[x]"),
                        Some("in_progress") => s.yellow("[>]"),
                        _ => "[ ]".to_string(),
                    };
                    println!(
                        "  {mark} {}",
                        ui::one_line(it["content"].as_str().unwrap_or(""), 100)
                    );
                }
            }
            Ok(())
        }
    }
}

// ----------------------------------------------------------------- memory --

fn memory_json(r: &Record) -> Value {
    json!({
        "key": r.id,
        "text": r.body.as_ref().and_then(|b| b.to_value().get("fact").cloned()),
        "version": r.version,
        "updatedAt": r.updated_at,
        "deviceId": r.device_id,
        "deleted": r.deleted,
    })
}

pub fn memory(ctx: &Ctx, cmd: MemoryCmd) -> CliResult {
    let s = Style::stdout();
    match cmd {
        MemoryCmd::Put { key, text } => {
            let text = read_text_arg(text)?;
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let rec = dev
                .stores
                .memory
                .write(&RecordKey::new(None, key.clone()), |cur| {
                    let version = next_version(cur);
                    Ok(Record::new(
                        &key,
                        None,
                        next_time(cur),
                        Some(version),
                        &device_id,
                        json!({ "fact": text }),
                    ))
                })?;
            if ctx.json {
                print_json(&memory_json(&rec));
            } else {
                println!(
                    "stored {} (version {})",
                    s.cyan(&key),
                    rec.version.unwrap_or(0)
                );
            }
            Ok(())
        }
        MemoryCmd::Get { key } => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            match stores.memory.get(None, &key)? {
                Some(r) if !r.deleted => {
                    if ctx.json {
                        print_json(&memory_json(&r));
                    } else {
                        println!("{}", body_text(&r));
                    }
                    Ok(())
                }
                _ => Err(CliError::generic(format!("no memory under `{key}`"))
                    .hint("`azmx-sync memory list` shows the keys")),
            }
        }
        MemoryCmd::Rm { key } => {
            let dev = Device::open(&ctx.state_dir)?;
            let device_id = dev.require_id()?;
            let rec =
                dev.stores
                    .memory
                    .write(&RecordKey::new(None, key.clone()), |cur| match cur {
                        Some(c) if !c.deleted => Ok(Record::tombstone(
                            &key,
                            None,
                            next_time(cur),
                            Some(next_version(Some(c))),
                            &device_id,
                        )),
                        _ => Err(CliError::generic(format!("no memory under `{key}`"))),
                    })?;
            if ctx.json {
                print_json(&memory_json(&rec));
            } else {
                println!(
                    "deleted {} (version {}); the delete reaches your other devices on sync",
                    s.cyan(&key),
                    rec.version.unwrap_or(0)
                );
            }
            Ok(())
        }
        MemoryCmd::List => {
            let stores = Stores::open_for_reading(&ctx.state_dir)?;
            let rows = stores.memory.live()?;
            if ctx.json {
                print_json(&Value::Array(rows.iter().map(memory_json).collect()));
                return Ok(());
            }
            if rows.is_empty() {
                println!("no memory");
                return Ok(());
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.id.clone(),
                        r.version.unwrap_or(0).to_string(),
                        ui::ago(r.updated_at),
                        ui::one_line(&body_text(r), 60),
                    ]
                })
                .collect();
            ui::table(&["KEY", "VERSION", "UPDATED", "TEXT"], &table);
            Ok(())
        }
    }
}

// --------------------------------------------------------------- activity --

/// One event as a short aligned line: time, type, details.
pub fn event_line(e: &ActivityEvent) -> String {
    let s = Style::stdout();
    let name = e.type_name();
    let detail = match &e.kind {
        EventKind::CycleStarted { trigger } => trigger.clone(),
        EventKind::CycleFinished {
            duration_ms,
            pushed,
            pulled_blobs,
            ok,
        } => format!(
            "{} · {}pulled {} · {duration_ms} ms",
            if *ok { "ok" } else { "failed" },
            if *pushed { "pushed · " } else { "" },
            pulled_blobs
        ),
        EventKind::Pushed {
            seq,
            sealed_bytes,
            records,
            checkpoint,
        } => format!(
            "seq {seq} · {} · {}{}",
            ui::plural(*records, "record", "records"),
            ui::bytes(*sealed_bytes),
            if *checkpoint { " · checkpoint" } else { "" }
        ),
        EventKind::Pulled { blobs } => ui::plural(*blobs, "bundle", "bundles"),
        EventKind::Applied {
            store,
            inserted,
            updated,
            deleted,
            kept_local,
            rejected,
            ..
        } => format!(
            "{store}: +{inserted} ~{updated} -{deleted} · kept local {kept_local} · rejected {rejected}"
        ),
        EventKind::Registered { device_id } => device_id.clone(),
        EventKind::Pruned {
            checkpoint_seq,
            pruned,
        } => format!("{pruned} superseded by checkpoint {checkpoint_seq}"),
        EventKind::NetworkError { message } => message.clone(),
        EventKind::RelayError { status, code } => format!("{status} {code}"),
        EventKind::RateLimited { retry_after_secs } => format!("retry after {retry_after_secs} s"),
        EventKind::StoreError { store, message } => format!("{store}: {message}"),
        EventKind::Exported { records, bytes } => format!(
            "{} · {}",
            ui::plural(*records, "record", "records"),
            ui::bytes(*bytes)
        ),
        EventKind::Imported { records } => ui::plural(*records, "change", "changes"),
        EventKind::Quarantined {
            device_id,
            seq,
            reason,
            attempts,
        } => format!("{device_id} seq {seq} · {reason} · attempt {attempts}"),
        EventKind::CycleSkipped { reason } => format!("{reason:?}").to_lowercase(),
        EventKind::PushRetried { seq } => format!("seq {seq}"),
        EventKind::SeqResynced { last_seq } => format!("relay's last seq {last_seq}"),
        _ => notice(e)
            .map(|(_, t)| t.split_once(": ").map_or(t.clone(), |(_, r)| r.to_string()))
            .unwrap_or_default(),
    };
    let warn = matches!(
        e.kind,
        EventKind::BlobIntegrityError { .. }
            | EventKind::DecryptFailed { .. }
            | EventKind::ContextMismatch { .. }
            | EventKind::BundleInvalid { .. }
            | EventKind::Quarantined { .. }
            | EventKind::QuarantineGaveUp { .. }
            | EventKind::QuarantineEvicted { .. }
            | EventKind::RecordRejected { .. }
            | EventKind::WrongReceipt
            | EventKind::Revoked
            | EventKind::NetworkError { .. }
            | EventKind::RelayError { .. }
            | EventKind::StoreError { .. }
    );
    let padded = format!("{name:<19}");
    let name = if warn { s.yellow(&padded) } else { padded };
    format!("{}  {name}  {detail}", s.dim(&ui::utc(e.at_ms)))
        .trim_end()
        .to_string()
}

pub fn activity(ctx: &Ctx, a: ActivityArgs) -> CliResult {
    let path = ctx.state_dir.join(ACTIVITY_FILE);
    let print = |events: &[ActivityEvent]| {
        for e in events {
            if ctx.json {
                println!("{}", serde_json::to_string(e).unwrap_or_default());
            } else {
                println!("{}", event_line(e));
            }
        }
    };
    let all = read_log_file(&path);
    let start = all.len().saturating_sub(a.limit);
    if all.is_empty() && !a.follow && !ctx.json {
        println!("no activity yet");
    }
    print(&all[start..]);
    if !a.follow {
        return Ok(());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
        .map_err(|e| CliError::generic(format!("cannot install the Ctrl-C handler: {e}")))?;
    let mut last: Option<ActivityEvent> = all.last().cloned();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(300));
        let now = read_log_file(&path);
        let from = match &last {
            None => 0,
            Some(l) => now.iter().rposition(|e| e == l).map(|i| i + 1).unwrap_or(0),
        };
        if from < now.len() {
            print(&now[from..]);
            last = now.last().cloned();
        }
    }
    Ok(())
}

// -------------------------------------------------------- export / import --

pub fn export(ctx: &Ctx, file: &Path, receipt: &ReceiptArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    dev.give_receipt(receipt)?;
    // A file sealed with a mistyped receipt would be useless: check it first
    // when the relay is there (export also works offline).
    let mut checked = true;
    match dev.engine.verify_receipt() {
        Ok(()) => {}
        Err(SyncError::Network { .. }) => {
            checked = false;
            if !ctx.json {
                eprintln!(
                    "{} relay unreachable: the receipt could not be checked; the file is \
                     sealed with the receipt you gave",
                    Style::stderr().yellow("note:")
                );
            }
        }
        Err(e) => return Err(dev.sync_err(e)),
    }
    let progress = Progress::start("exporting", !ctx.json);
    let n = dev.engine.export(file).map_err(|e| dev.sync_err(e));
    progress.finish();
    let n = n?;
    if ctx.json {
        print_json(&json!({ "records": n, "file": file, "receiptChecked": checked }));
    } else {
        println!(
            "{} exported {} to {} (encrypted with your receipt's key; 0600)",
            Style::stdout().green("ok"),
            ui::plural(n, "record", "records"),
            file.display()
        );
    }
    Ok(())
}

pub fn import(ctx: &Ctx, file: &Path, receipt: &ReceiptArgs) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    dev.require_id()?;
    if !file.is_file() {
        return Err(CliError::usage(format!("no such file: {}", file.display())));
    }
    dev.give_receipt(receipt)?;
    let progress = Progress::start("importing", !ctx.json);
    let n = dev.engine.import(file).map_err(|e| dev.sync_err(e));
    progress.finish();
    let n = n?;
    if ctx.json {
        print_json(&json!({ "applied": n, "file": file }));
    } else {
        println!(
            "{} imported {}: {} applied (merged with each store's rules; importing again changes nothing)",
            Style::stdout().green("ok"),
            file.display(),
            ui::plural(n, "change", "changes")
        );
    }
    Ok(())
}

// ------------------------------------------------------- devices / revoke --

pub fn devices(ctx: &Ctx) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let me = dev.require_id()?;
    let list = dev.engine.devices().map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        let v: Vec<Value> = list
            .iter()
            .map(|d| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                v["thisDevice"] = json!(d.device_id == me);
                v
            })
            .collect();
        print_json(&Value::Array(v));
        return Ok(());
    }
    let s = Style::stdout();
    let secs = |t: Option<i64>| t.map(|t| ui::ago(t * 1000)).unwrap_or_else(|| "-".into());
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                if d.device_id == me {
                    "*".into()
                } else {
                    " ".into()
                },
                d.device_id.clone(),
                d.name.clone(),
                secs(d.created_at.into()),
                secs(d.last_push_at),
                secs(d.last_pull_at),
                d.blob_count.to_string(),
                ui::bytes(d.sealed_bytes),
                if d.revoked {
                    s.red("revoked")
                } else {
                    s.green("active")
                },
            ]
        })
        .collect();
    ui::table(
        &[
            "",
            "DEVICE",
            "NAME",
            "ADDED",
            "LAST PUSH",
            "LAST PULL",
            "BLOBS",
            "SEALED",
            "STATUS",
        ],
        &rows,
    );
    println!("{}", s.dim("* this device"));
    Ok(())
}

pub fn revoke(ctx: &Ctx, target: &str) -> CliResult {
    let dev = Device::open(&ctx.state_dir)?;
    let me = dev.require_id()?;
    dev.engine.revoke(target).map_err(|e| dev.sync_err(e))?;
    if ctx.json {
        print_json(&json!({ "revoked": target, "thisDevice": target == me }));
    } else if target == me {
        println!("revoked {target}: this device can no longer sync");
    } else {
        println!(
            "revoked {target}: it can no longer push or pull; what it pushed before stays readable to the others"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn todo_items_are_completed_and_validated() {
        let b = todo_body(r#"["a", {"content":"b","status":"in_progress"}]"#).unwrap();
        assert_eq!(b["items"][0]["id"], "1");
        assert_eq!(b["items"][0]["status"], "pending");
        assert_eq!(b["items"][1]["id"], "2");
        assert!(todo_body("not json").is_err());
        assert!(todo_body(
            r#"[{"content":"a","status":"in_progress"},{"content":"b","status":"in_progress"}]"#
        )
        .is_err());
        assert!(todo_body(r#"{"items":[]}"#).is_ok());
    }

    #[test]
    fn a_quarantine_eviction_is_a_warning() {
        let e = ActivityEvent {
            at_ms: 0,
            kind: EventKind::QuarantineEvicted {
                device_id: "dev_x".into(),
                seq: 7,
                reason: "decrypt_failed".into(),
            },
        };
        let (warn, text) = notice(&e).expect("evictions are shown");
        assert!(warn);
        assert!(text.contains("bundle 7 from dev_x"), "{text}");
    }
}
