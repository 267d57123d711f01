//! The real relay binary as a child process, for tests where the point is
//! a process death (SIGKILL) and a restart on the same data directory.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_azmx-sync-relay");

/// A child relay, killed with SIGKILL when dropped (a failing test must not
/// leave it running).
pub struct RelayProc {
    pub child: Child,
    pub url: String,
}

impl RelayProc {
    pub fn spawn(data: &Path, durability: &str) -> Self {
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--rate-per-sec",
                "0",
                "--durability",
                durability,
                "--data-dir",
            ])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("relay did not start: {line:?}"))
            .to_string();
        Self { child, url }
    }

    pub fn sigkill(mut self) {
        Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        let _ = self.child.wait();
    }
}

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
