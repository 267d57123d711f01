//! Global memory as a folder, end to end: the real `azmx-sync` binary, a
//! real relay on loopback, two (or three) devices, each with its own state
//! directory and its own memory folder, written with std::fs as an editor
//! or another tool would.
#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use azmx_sync_test_support::RelayProcess;
use common::{add_license, base_cmd, init_args, run_cmd, run_raw, start_relay, Out, Receipt};
use serde_json::Value;

const RECEIPT: &str = "RCPT-MEM-51C2-8E0A-77B4";
const LID: &str = "lic_mem";

struct Env {
    tmp: tempfile::TempDir,
    relay: RelayProcess,
    key: String,
}

impl Env {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("relay");
        let key = add_license(&data, LID);
        let relay = start_relay(&data, "127.0.0.1:0");
        Self { tmp, relay, key }
    }

    fn state(&self, d: &str) -> PathBuf {
        self.tmp.path().join(d)
    }

    /// The folder the harness gives a device (`<state dir>-memory`).
    fn mem(&self, d: &str) -> PathBuf {
        self.tmp.path().join(format!("{d}-memory"))
    }

    fn cli(&self, d: &str, args: &[&str]) -> Out {
        let state = self.state(d);
        let mut all = vec!["--state-dir", state.to_str().unwrap()];
        all.extend_from_slice(args);
        run_raw(&all, Receipt::Env(RECEIPT))
    }

    fn init(&self, d: &str) {
        let args = init_args(&self.relay.url, LID, &self.key, &["--name", d]);
        self.cli(d, &args).ok();
        std::fs::create_dir_all(self.mem(d)).unwrap();
    }

    fn sync(&self, d: &str) {
        self.cli(d, &["sync"]).ok();
    }

    /// Writes a memory file as an editor would, finished a while ago.
    fn write(&self, d: &str, name: &str, text: &str) {
        let p = self.mem(d).join(name);
        std::fs::write(&p, text).unwrap();
        age(&p);
    }

    /// The folder's memory files (not the hidden bookkeeping), name -> text.
    fn files(&self, d: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(self.mem(d)).unwrap().flatten() {
            let name = e.file_name().into_string().unwrap();
            if !name.starts_with('.') && e.file_type().unwrap().is_file() {
                out.insert(name, std::fs::read_to_string(e.path()).unwrap());
            }
        }
        out
    }

    fn list(&self, d: &str) -> Value {
        let out = self.cli(d, &["--json", "memory", "list"]);
        out.ok();
        out.json()
    }
}

/// Sets a file's modification time 10 s back: written, and left alone since.
fn age(p: &Path) {
    let past = SystemTime::now() - Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(past)
        .unwrap();
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every byte of every file under `dir`, for searching.
fn bytes_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p);
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn two_folders_converge_deletes_propagate_and_absence_deletes_nothing() {
    let env = Env::new();
    env.init("a");
    env.init("b");
    env.write("a", "editor.indent", "four spaces in Rust");
    env.write("a", "notes.md", "line one\nline two\n");
    env.write("a", "shell", "fish everywhere");
    env.write("b", "only-on-b", "written on b");
    env.sync("a");
    env.sync("b");
    env.sync("a");
    let all = map(&[
        ("editor.indent", "four spaces in Rust"),
        ("notes.md", "line one\nline two\n"),
        ("shell", "fish everywhere"),
        ("only-on-b", "written on b"),
    ]);
    assert_eq!(env.files("a"), all, "a's files kept, b's arrived");
    assert_eq!(env.files("b"), all, "b's file kept although a never had it");

    // Edits by any tool, on either side, are taken in at the next cycle.
    env.write("a", "editor.indent", "tabs");
    env.write("b", "notes.md", "line one\nline two\nline three\n");
    env.sync("a");
    env.sync("b");
    env.sync("a");
    assert_eq!(env.files("a"), env.files("b"));
    assert_eq!(env.files("b")["editor.indent"], "tabs");
    assert_eq!(
        env.files("a")["notes.md"],
        "line one\nline two\nline three\n"
    );
    let indent = env.list("b");
    let indent = indent
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "editor.indent")
        .unwrap();
    assert_eq!(indent["version"], 2, "one edit, one version: {indent}");

    // A removed file is a delete, and the delete reaches b as a removal.
    std::fs::remove_file(env.mem("a").join("shell")).unwrap();
    env.sync("a");
    env.sync("b");
    assert!(!env.mem("b").join("shell").exists());
    assert!(!env.list("b").to_string().contains("fish everywhere"));
    env.sync("a");
    assert!(!env.mem("a").join("shell").exists(), "the delete stays");

    // A new device with an empty folder deletes nothing: it only receives.
    env.init("c");
    env.sync("c");
    env.sync("a");
    env.sync("b");
    assert_eq!(env.files("c"), env.files("a"));
    assert_eq!(env.files("a"), env.files("b"));
    assert_eq!(env.files("a").len(), 3);
}

#[test]
fn a_file_still_being_written_is_not_pushed_until_it_settles() {
    let env = Env::new();
    env.init("a");
    env.init("b");
    // A writer holds the file open and appends while a syncs.
    let path = env.mem("a").join("draft");
    let mut f = std::fs::File::create(&path).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                writeln!(f, "part {n}").unwrap();
                n += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            writeln!(f, "the end").unwrap();
            n
        })
    };
    env.sync("a");
    env.sync("a");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let parts = writer.join().unwrap();
    // Just finished: still within the settle time, still not pushed.
    env.sync("a");
    env.sync("b");
    assert!(
        !env.mem("b").join("draft").exists(),
        "a half-written file reached b"
    );
    assert!(!env.list("b").to_string().contains("part 0"));
    // Left alone for the settle time: pushed whole at the next cycle.
    std::thread::sleep(Duration::from_millis(2200));
    env.sync("a");
    env.sync("b");
    let got = std::fs::read_to_string(env.mem("b").join("draft")).unwrap();
    assert_eq!(got, std::fs::read_to_string(&path).unwrap());
    assert!(
        got.starts_with("part 0\n") && got.ends_with(&format!("part {}\nthe end\n", parts - 1))
    );
}

#[test]
fn a_workspace_memory_folder_is_never_read() {
    let env = Env::new();
    const WS_FACT: &str = "WORKSPACE-ONLY-7c41e9: project-scoped fact";
    const NESTED_FACT: &str = "NESTED-ONLY-0b93d2: inside a subfolder";
    // A workspace next to the state directories, with its own memory.
    let ws = env.tmp.path().join("ws");
    std::fs::create_dir_all(ws.join(".azmx/memory")).unwrap();
    std::fs::write(ws.join(".azmx/memory/fact.md"), WS_FACT).unwrap();
    age(&ws.join(".azmx/memory/fact.md"));
    env.init("a");
    env.init("b");
    // And one inside the global folder: subfolders are never read either.
    let nested = env.mem("a").join("proj/.azmx/memory");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::write(nested.join("fact.md"), NESTED_FACT).unwrap();
    env.write("a", "global.md", "a global fact");
    // Run from inside the workspace, as a tool started there would be.
    let mut c = base_cmd();
    c.current_dir(&ws)
        .arg("--state-dir")
        .arg(env.state("a"))
        .arg("sync");
    run_cmd(c, Receipt::Env(RECEIPT)).ok();
    env.sync("b");
    env.sync("a");
    assert_eq!(env.files("b"), map(&[("global.md", "a global fact")]));
    for secret in [WS_FACT, NESTED_FACT] {
        for d in ["a", "b"] {
            assert!(
                !env.list(d).to_string().contains(secret),
                "{d} lists {secret}"
            );
        }
        // Not in the relay's data, b's state or folder, nor a's state or
        // bookkeeping: a never read it.
        let mut searched = bytes_under(&env.tmp.path().join("relay"));
        for d in ["a", "b"] {
            searched.extend(bytes_under(&env.state(d)));
            searched.extend(bytes_under(&env.mem(d).join(".azmx-sync")));
        }
        searched.extend(bytes_under(&env.mem("b")));
        for (p, b) in &searched {
            assert!(!contains(b, secret), "{secret} found in {}", p.display());
        }
    }
    // Pointing the device at a workspace's memory folder is refused.
    let wsm = ws.join(".azmx/memory");
    for args in [
        vec!["--memory-dir", wsm.to_str().unwrap(), "memory", "list"],
        vec!["--memory-dir", wsm.to_str().unwrap(), "sync"],
    ] {
        let out = env.cli("a", &args);
        out.code(2);
        assert!(out.stderr.contains("workspace memory"), "{out:?}");
    }
}

#[test]
fn the_memory_commands_work_on_the_folder() {
    let env = Env::new();
    env.init("a");
    let out = env.cli("a", &["memory", "dir"]);
    assert_eq!(out.ok().stdout.trim(), env.mem("a").to_str().unwrap());
    env.cli("a", &["memory", "put", "editor", "tabs"]).ok();
    env.cli("a", &["memory", "put", "a/b", "slash in the key"])
        .ok();
    assert_eq!(
        env.files("a"),
        map(&[("editor", "tabs"), ("a%2Fb", "slash in the key")])
    );
    assert_eq!(
        env.cli("a", &["memory", "get", "a/b"]).stdout,
        "slash in the key\n"
    );
    // Edited by hand: `get` sees it, one version later.
    env.write("a", "editor", "spaces");
    let got = env.cli("a", &["--json", "memory", "get", "editor"]);
    let got = got.ok().json();
    assert_eq!(
        (got["text"].as_str(), got["version"].as_u64()),
        (Some("spaces"), Some(2))
    );
    env.cli("a", &["memory", "rm", "editor"]).ok();
    assert!(!env.mem("a").join("editor").exists());
    env.cli("a", &["memory", "get", "editor"]).code(1);
    let bad = env.cli("a", &["memory", "put", "x.tmp", "t"]);
    bad.code(2);
    assert!(bad.stderr.contains("cannot be a file name"), "{bad:?}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&env.mem("a").join("a%2Fb")), 0o600);
        assert_eq!(mode(&env.mem("a").join(".azmx-sync")), 0o700);
    }
    // The state directory remembers the folder: no variable needed later.
    let mut c = base_cmd();
    c.args([
        "--state-dir",
        env.state("a").to_str().unwrap(),
        "memory",
        "get",
        "a/b",
    ]);
    assert_eq!(run_cmd(c, Receipt::None).stdout, "slash in the key\n");
}
