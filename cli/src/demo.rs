//! `azmx-sync demo`: the whole story in a few seconds, in-process, with a
//! real relay on a free loopback port and two real devices (engines with
//! the CLI's stores), all in a temporary directory that is removed
//! at the end. Every claim it makes is checked; any failed check makes it
//! exit non-zero.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use azmx_sync_core::engine::{ActivityEvent, ActivityListener, CycleReport, EventKind};
use azmx_sync_core::merge::{Record, RecordKey};
use azmx_sync_relay::{add_license, Relay, RelayConfig};
use secrecy::SecretString;
use serde_json::json;

use crate::device::Device;
use crate::error::{CliError, CliResult};
use crate::render::{self, Style};
use crate::store::{body_text, next_time, LocalWrite};

const SECTIONS: u32 = 7;
const LICENSE: &str = "lic_demo";

struct Recorder(Mutex<Vec<ActivityEvent>>);

impl ActivityListener for Recorder {
    fn on_event(&self, e: &ActivityEvent) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e.clone());
        }
    }
}

impl Recorder {
    fn take(&self) -> Vec<ActivityEvent> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

/// (store, scope, id, deleted, body) of one record.
type RecordView = (
    String,
    Option<String>,
    String,
    bool,
    Option<azmx_sync_core::merge::Body>,
);

struct DemoDevice {
    name: &'static str,
    dev: Device,
    id: String,
    events: Arc<Recorder>,
    /// Every user text this device wrote: none may reach the relay's files.
    plaintexts: RefCell<Vec<String>>,
}

impl DemoDevice {
    fn open(dir: &Path, name: &'static str, relay: &str, key: &str) -> CliResult<Self> {
        let dev = Device::create_in(dir, dir.join("memory-global"))?; // never the user's
        let id = dev
            .engine
            .register(relay, LICENSE, key, &format!("demo-{name}"))
            .map_err(|e| CliError::from_sync(e, Some(relay)))?;
        dev.registered_as(&id)?;
        let events = Arc::new(Recorder(Mutex::new(Vec::new())));
        dev.engine.add_listener(events.clone());
        Ok(Self {
            name,
            dev,
            id,
            events,
            plaintexts: RefCell::default(),
        })
    }

    /// Notes a user text written through [`Self::write`], for the search of
    /// the relay's files at the end.
    fn remember(&self, text: &str) {
        self.plaintexts.borrow_mut().push(text.into());
    }

    fn write(
        &self,
        store: &impl LocalWrite,
        key: RecordKey,
        body: Option<serde_json::Value>,
    ) -> CliResult<Record> {
        let id = self.id.clone();
        let versioned = store.spec().contract.requires_version();
        store.write(&key.clone(), |cur| {
            let at = next_time(cur);
            let version = versioned.then(|| crate::store::next_version(cur));
            Ok(match body {
                Some(b) => Record::new(key.id.clone(), key.scope.clone(), at, version, id, b),
                None => Record::tombstone(key.id.clone(), key.scope.clone(), at, version, id),
            })
        })
    }

    fn snippet(&self, handle: &str, id: &str, text: &str) -> CliResult<Record> {
        self.remember(text);
        self.write(
            &self.dev.stores.snippets,
            RecordKey::new(Some(handle.into()), id),
            Some(json!({ "text": text })),
        )
    }

    fn delete_snippet(&self, handle: &str, id: &str) -> CliResult<Record> {
        self.write(
            &self.dev.stores.snippets,
            RecordKey::new(Some(handle.into()), id),
            None,
        )
    }

    fn snippet_text(&self, handle: &str, id: &str) -> Option<String> {
        self.dev
            .stores
            .snippets
            .get(Some(handle), id)
            .ok()
            .flatten()
            .filter(|r| !r.deleted)
            .map(|r| body_text(&r))
    }

    /// Every record of every store, tombstones included: what "converged" compares.
    fn view(&self) -> Vec<RecordView> {
        let mut out = Vec::new();
        for (spec, s) in self.dev.stores.adapters() {
            for r in azmx_sync_core::engine::StoreAdapter::snapshot(&*s).unwrap_or_default() {
                out.push((
                    spec.name.as_str().to_string(),
                    r.scope,
                    r.id,
                    r.deleted,
                    r.body,
                ));
            }
        }
        out
    }

    fn live_view(&self) -> Vec<RecordView> {
        self.view().into_iter().filter(|r| !r.3).collect()
    }
}

struct Demo {
    s: Style,
    section: u32,
    checks: u32,
    failed: Vec<String>,
}

impl Demo {
    fn section(&mut self, title: &str) {
        self.section += 1;
        println!();
        println!(
            "{}",
            self.s
                .bold(&format!("[{}/{SECTIONS}] {title}", self.section))
        );
    }

    fn say(&self, text: impl AsRef<str>) {
        println!("      {}", text.as_ref());
    }

    /// A write `d` made, with the time the merge compares it by.
    fn say_write(&self, d: &DemoDevice, action: &str, r: &Record, tail: &str) {
        self.say(format!(
            "{:<8} {action} at {}{tail}",
            d.name,
            render::clock(r.updated_at)
        ));
    }

    fn check(&mut self, ok: bool, text: &str) -> bool {
        self.checks += 1;
        if ok {
            println!("  {}  {text}", self.s.green("ok"));
        } else {
            println!("  {} {text}", self.s.red(&self.s.bold("FAIL")));
            self.failed.push(text.to_string());
        }
        ok
    }

    fn sync(&self, d: &DemoDevice) -> CliResult<CycleReport> {
        let r = d.dev.engine.sync_now().map_err(|e| d.dev.sync_err(e))?;
        let mut parts = Vec::new();
        if let Some(seq) = r.pushed_seq {
            parts.push(format!(
                "pushed {} as bundle {seq} ({}{} sealed)",
                render::plural(r.pushed_records, "record", "records"),
                if r.checkpoint {
                    "a full snapshot, "
                } else {
                    ""
                },
                render::bytes(r.sealed_bytes)
            ));
        }
        if r.pulled_blobs > 0 {
            parts.push(format!(
                "pulled {}, {} applied",
                render::plural(r.pulled_blobs, "bundle", "bundles"),
                render::plural(r.applied_changes, "change", "changes")
            ));
        } else if r.applied_changes > 0 {
            parts.push(format!(
                "{} applied",
                render::plural(r.applied_changes, "change", "changes")
            ));
        }
        if r.quarantined > 0 {
            parts.push(self.s.yellow(&format!("{} quarantined", r.quarantined)));
        }
        if parts.is_empty() {
            parts.push("nothing new".into());
        }
        self.say(format!(
            "{} {}",
            self.s.dim(&format!("{:<8} sync:", d.name)),
            parts.join(", ")
        ));
        Ok(r)
    }
}

fn rand_hex(n: usize) -> String {
    use rand_core::{OsRng, RngCore};
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

pub fn run() -> CliResult {
    let started = Instant::now();
    let s = Style::stdout();
    let mut demo = Demo {
        s,
        section: 0,
        checks: 0,
        failed: Vec::new(),
    };
    println!(
        "{}",
        s.bold("azmx-sync demo: two devices, one relay, end-to-end encryption")
    );
    let tmp = tempfile::Builder::new()
        .prefix("azmx-sync-demo-")
        .tempdir()
        .map_err(|e| CliError::generic(format!("cannot create a temporary directory: {e}")))?;
    let result = story(&mut demo, tmp.path());
    let tmp_path = tmp.path().to_path_buf();
    let cleaned = tmp.close().is_ok() && !tmp_path.exists();
    if let Err(e) = result {
        println!();
        println!(
            "{} the demo stopped early: {}",
            s.red(&s.bold("demo FAILED:")),
            e.message
        );
        return Err(CliError::generic("the demo did not complete").hint(
            "the line above says what failed; `cargo test -p azmx-sync-cli` runs the same paths",
        ));
    }
    demo.check(cleaned, "temporary relay and device directories removed");
    println!();
    let secs = started.elapsed().as_secs_f64();
    if demo.failed.is_empty() {
        println!(
            "{} all {} checks in {secs:.1} s",
            s.green(&s.bold("demo passed:")),
            demo.checks
        );
        Ok(())
    } else {
        println!(
            "{} {} of {} checks failed ({secs:.1} s)",
            s.red(&s.bold("demo FAILED:")),
            demo.failed.len(),
            demo.checks
        );
        for f in &demo.failed {
            println!("  - {f}");
        }
        Err(CliError::generic(
            "the demo found a problem (see the FAIL lines)",
        ))
    }
}

fn story(demo: &mut Demo, root: &Path) -> CliResult {
    let s = demo.s;
    let relay_err = |e: azmx_sync_relay::RelayError| CliError::generic(format!("relay: {e}"));
    // ----------------------------------------------------------------- 1 --
    demo.section("Start a relay on this machine");
    let relay_dir = root.join("relay");
    let license_key = add_license(&relay_dir, LICENSE).map_err(relay_err)?;
    let relay = Relay::start(RelayConfig::new(&relay_dir)).map_err(relay_err)?;
    let url = relay.url();
    demo.say(format!(
        "relay    {}  (SQLite in a temporary directory)",
        s.cyan(&url)
    ));
    demo.say(format!(
        "license  {LICENSE} created; its key lets a device register, it cannot decrypt anything"
    ));

    // ----------------------------------------------------------------- 2 --
    demo.section("Set up two devices with the same recovery receipt");
    let receipt = format!("RCPT-{}", rand_hex(8).to_uppercase());
    let laptop = DemoDevice::open(&root.join("laptop"), "laptop", &url, &license_key)?;
    let desktop = DemoDevice::open(&root.join("desktop"), "desktop", &url, &license_key)?;
    for d in [&laptop, &desktop] {
        d.dev
            .engine
            .set_receipt(SecretString::from(receipt.clone()))
            .map_err(|e| d.dev.sync_err(e))?;
    }
    demo.say(format!(
        "laptop   {}  own state directory, own device key, own memory folder",
        s.cyan(&laptop.id)
    ));
    demo.say(format!("desktop  {}", s.cyan(&desktop.id)));
    demo.say("each derives the envelope key from the receipt (PBKDF2-SHA256, 600,000 rounds);");
    demo.say("the receipt never leaves the device and is never written to disk");
    let l = laptop.dev.engine.verify_receipt();
    let d = desktop.dev.engine.verify_receipt();
    demo.check(
        l.is_ok() && d.is_ok(),
        "the desktop opened the key check the laptop sealed: same receipt, same key",
    );

    // ----------------------------------------------------------------- 3 --
    demo.section("Write on the laptop, sync, read on the desktop");
    let snippets = [
        (
            "work",
            "standup",
            "Summarise yesterday's commits for the standup",
        ),
        (
            "work",
            "review",
            "Review this diff for error handling and naming",
        ),
        (
            "home",
            "plan",
            "Plan the week with three priorities and one stretch goal",
        ),
    ];
    for (h, id, text) in snippets {
        laptop.snippet(h, id, text)?;
    }
    let todo_items = json!([
        {"id": "1", "content": "Write the changelog for 1.2", "status": "completed"},
        {"id": "2", "content": "Tag the 1.2 release", "status": "in_progress"},
        {"id": "3", "content": "Announce the 1.2 release", "status": "pending"}
    ]);
    for it in todo_items.as_array().into_iter().flatten() {
        laptop.remember(it["content"].as_str().unwrap_or_default());
    }
    laptop.write(
        &laptop.dev.stores.todos,
        RecordKey::new(None, "release-1.2"),
        Some(json!({ "items": todo_items })),
    )?;
    let facts = [
        ("editor.indent", "Prefers four-space indentation in Rust"),
        ("shell", "Uses the fish shell on every machine"),
    ];
    for (k, f) in facts {
        laptop.write(
            &laptop.dev.stores.memory,
            RecordKey::new(None, k),
            Some(json!({ "fact": f })),
        )?;
        laptop.remember(f);
    }
    demo.say("laptop writes 3 snippets, 1 todo list (3 items) and 2 memory facts");
    demo.sync(&laptop)?;
    demo.sync(&desktop)?;
    demo.say("the desktop now has:");
    for r in desktop.dev.stores.snippets.live()? {
        demo.say(format!(
            "  snippet  {:<14} {}",
            format!("{}/{}", r.scope.clone().unwrap_or_default(), r.id),
            body_text(&r)
        ));
    }
    for r in desktop.dev.stores.todos.live()? {
        let items = r
            .body
            .as_ref()
            .and_then(|b| b.to_value()["items"].as_array().cloned())
            .unwrap_or_default();
        let marks: Vec<String> = items
            .iter()
            .map(|i| {
                let m = match i["status"].as_str() {
                    Some("completed") => "[x]",
                    Some("in_progress") => "[>]",
                    _ => "[ ]",
                };
                format!("{m} {}", i["content"].as_str().unwrap_or(""))
            })
            .collect();
        demo.say(format!("  todos    {:<14} {}", r.id, marks.join(", ")));
    }
    for r in desktop.dev.stores.memory.live()? {
        demo.say(format!(
            "  memory   {:<14} v{} {}",
            r.id,
            r.version.unwrap_or(0),
            body_text(&r)
        ));
    }
    let same = laptop.live_view() == desktop.live_view() && laptop.live_view().len() == 6;
    demo.check(
        same,
        "the desktop has everything the laptop wrote (3 snippets, 1 todo list, 2 memory facts)",
    );

    conflict(demo, &laptop, &desktop)?;
    delete_stays_deleted(demo, &laptop, &desktop)?;

    // ----------------------------------------------------------------- 6 --
    demo.section("Corrupt one stored bundle on the relay's disk");
    let t1 = "Write a failing test before fixing the bug";
    let t2 = "Explain the why, not the what, in comments";
    laptop.snippet("work", "tests", t1)?;
    let r1 = demo.sync(&laptop)?;
    laptop.snippet("work", "comments", t2)?;
    demo.sync(&laptop)?;
    let bad_seq = r1
        .pushed_seq
        .ok_or_else(|| CliError::generic("the laptop pushed nothing"))?;
    let db_path = relay_dir.join("relay.sqlite3");
    let db = rusqlite::Connection::open(&db_path)?;
    db.busy_timeout(Duration::from_secs(10))?;
    let original: Vec<u8> = db.query_row(
        "SELECT data FROM blobs WHERE device_id = ?1 AND seq = ?2",
        rusqlite::params![laptop.id, bad_seq as i64],
        |r| r.get(0),
    )?;
    let store_blob = |data: &[u8]| {
        db.execute(
            "UPDATE blobs SET data = ?1 WHERE device_id = ?2 AND seq = ?3",
            rusqlite::params![data, laptop.id, bad_seq as i64],
        )
    };
    let mut bad = original.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x01;
    store_blob(&bad)?;
    demo.say(format!(
        "flipped one bit (byte {at} of {}) of the laptop's bundle {bad_seq} in relay.sqlite3",
        original.len()
    ));
    desktop.events.take();
    let r = demo.sync(&desktop)?;
    let events = desktop.events.take();
    let integrity = events.iter().find_map(|e| match &e.kind {
        EventKind::BlobIntegrityError {
            device_id,
            seq,
            expected,
            actual,
        } if device_id == &laptop.id && *seq == bad_seq => Some((expected.clone(), actual.clone())),
        _ => None,
    });
    if let Some((expected, actual)) = &integrity {
        demo.say(format!(
            "desktop activity: {} laptop bundle {bad_seq}: SHA-256 expected {}…, got {}…",
            s.yellow("blobIntegrityError"),
            &expected[..16.min(expected.len())],
            &actual[..16.min(actual.len())]
        ));
    }
    demo.say(
        "checked before decrypting: a distinct integrity error, not a cryptic AES-GCM failure",
    );
    demo.check(
        integrity.is_some() && r.quarantined == 1,
        "blobIntegrityError reported and the bad bundle quarantined",
    );
    demo.check(
        desktop.snippet_text("work", "comments").as_deref() == Some(t2)
            && desktop.snippet_text("work", "tests").is_none(),
        "the rest of the pull applied: the laptop's next bundle reached the desktop",
    );
    store_blob(&original)?;
    demo.say("storage repaired; the quarantined bundle is retried on the next sync:");
    demo.sync(&desktop)?;
    let cleared = desktop
        .events
        .take()
        .iter()
        .any(|e| matches!(e.kind, EventKind::QuarantineCleared { .. }));
    demo.check(
        cleared
            && desktop.snippet_text("work", "tests").as_deref() == Some(t1)
            && desktop.dev.engine.status().quarantine.is_empty(),
        "quarantine cleared and its snippet applied",
    );
    drop(db);

    // ----------------------------------------------------------------- 7 --
    demo.section("What the relay stores");
    let files = files_under(&relay_dir);
    let mut total = 0u64;
    for (p, bytes) in &files {
        total += bytes.len() as u64;
        demo.say(format!(
            "file   {:<22} {:>9}",
            p.strip_prefix(&relay_dir).unwrap_or(p).display(),
            render::bytes(bytes.len() as u64)
        ));
    }
    let ro = rusqlite::Connection::open_with_flags(
        &db_path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let tables: Vec<String> = {
        let mut st = ro.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut counts = Vec::new();
    for t in &tables {
        let n: i64 = ro.query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))?;
        counts.push(format!("{t} {n}"));
    }
    demo.say(format!("tables {}", counts.join(" · ")));
    let (dev_id, seq, size, sha, head): (String, i64, i64, String, Vec<u8>) = ro.query_row(
        "SELECT device_id, seq, size, sha256, substr(data, 1, 29) FROM blobs ORDER BY seq LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )?;
    demo.say(format!(
        "a blob: device {dev_id} seq {seq}, {size} bytes, sha256 {}…",
        &sha[..16.min(sha.len())]
    ));
    if head.len() >= 13 {
        demo.say(format!(
            "  bytes: {} | iv {} | ciphertext {}…",
            hex::encode(&head[..1]),
            hex::encode(&head[1..13]),
            hex::encode(&head[13..])
        ));
        demo.say("  (version 1 | random 12-byte IV | AES-256-GCM ciphertext and tag)");
    }
    drop(ro);
    // The secrets: the receipt, the license key and every user text written.
    let plaintexts: Vec<String> = [receipt.clone(), license_key.clone()]
        .into_iter()
        .chain(laptop.plaintexts.take())
        .chain(desktop.plaintexts.take())
        .collect();
    demo.say(format!(
        "searching all {} files ({}) for {} secrets: every snippet, todo and memory text, the receipt, the license key",
        files.len(),
        render::bytes(total),
        plaintexts.len()
    ));
    let found: Vec<&String> = plaintexts
        .iter()
        .filter(|p| files.iter().any(|(_, b)| contains(b, p.as_bytes())))
        .collect();
    for f in &found {
        demo.say(s.red(&format!("FOUND: {}", render::one_line(f, 40))));
    }
    demo.check(
        found.is_empty(),
        "none of them is in the relay's files: it holds ciphertext only",
    );
    let names_found = ["demo-laptop", "demo-desktop"]
        .iter()
        .all(|n| files.iter().any(|(_, b)| contains(b, n.as_bytes())));
    demo.check(
        names_found,
        "the search does work: device names, which the relay needs as metadata, are found",
    );
    let device_files: Vec<(PathBuf, Vec<u8>)> = files_under(&root.join("laptop"))
        .into_iter()
        .chain(files_under(&root.join("desktop")))
        .collect();
    demo.check(
        !device_files
            .iter()
            .any(|(_, b)| contains(b, receipt.as_bytes())),
        "the receipt is in no file on either device either",
    );
    relay.shutdown();
    Ok(())
}

/// Section 4: both devices edit one snippet; the later edit wins on both.
fn conflict(demo: &mut Demo, laptop: &DemoDevice, desktop: &DemoDevice) -> CliResult {
    demo.section("Edit the same snippet on both devices (a conflict)");
    let a_text = "Summarise yesterday's commits grouped by repository";
    let b_text = "Summarise yesterday's commits in three bullet points";
    let a = laptop.snippet("work", "standup", a_text)?;
    std::thread::sleep(Duration::from_millis(5));
    let b = desktop.snippet("work", "standup", b_text)?;
    for (d, r, text) in [(laptop, &a, a_text), (desktop, &b, b_text)] {
        demo.say_write(d, "edits work/standup", r, &format!(": \"{text}\""));
    }
    demo.sync(laptop)?;
    demo.sync(desktop)?;
    demo.say("(the desktop kept its own edit: the laptop's is older)");
    demo.sync(laptop)?;
    let lt = laptop.snippet_text("work", "standup");
    let dt = desktop.snippet_text("work", "standup");
    for (d, text) in [(laptop, &lt), (desktop, &dt)] {
        demo.say(format!(
            "{} now: \"{}\"",
            d.name,
            text.as_deref().unwrap_or_default()
        ));
    }
    demo.check(
        lt.as_deref() == Some(b_text) && dt.as_deref() == Some(b_text),
        "both devices converged on the later edit (last write wins, per snippet id)",
    );
    Ok(())
}

/// Section 5: a delete beats an older offline edit, and stays.
fn delete_stays_deleted(demo: &mut Demo, laptop: &DemoDevice, desktop: &DemoDevice) -> CliResult {
    demo.section("Delete on one device; it stays deleted");
    let stale = "Plan the week with four priorities (edited offline)";
    let e = laptop.snippet("home", "plan", stale)?;
    std::thread::sleep(Duration::from_millis(5));
    let t = desktop.delete_snippet("home", "plan")?;
    demo.say_write(laptop, "edits home/plan offline", &e, " (not synced yet)");
    demo.say_write(desktop, "deletes home/plan", &t, "");
    demo.sync(desktop)?;
    demo.sync(laptop)?;
    demo.say("(the laptop pushed its stale edit, then applied the newer delete)");
    demo.sync(desktop)?;
    demo.say("(the desktop ignored the stale edit: its delete is newer)");
    let has_plan = |d: &DemoDevice| d.snippet_text("home", "plan").is_some();
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    demo.say(format!(
        "the delete wins everywhere: laptop has home/plan: {}, desktop has home/plan: {}",
        yes_no(has_plan(laptop)),
        yes_no(has_plan(desktop))
    ));
    let gone = || !has_plan(laptop) && !has_plan(desktop);
    demo.check(gone(), "the deleted snippet is gone on both devices");
    demo.sync(laptop)?;
    demo.sync(desktop)?;
    let still = gone() && laptop.view() == desktop.view();
    demo.check(
        still,
        "it stays deleted after more syncs, and both devices hold the same state",
    );
    Ok(())
}

fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
