//! A relay as a child process, for tests where the point is the binary
//! itself (flags, environment, logs) or a process death and a restart on
//! the same data directory.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// What the relay binary (and `azmx-sync relay serve`) prints first on
/// stdout, followed by its URL.
pub const LISTENING: &str = "listening on ";

/// A child relay, killed with SIGKILL when dropped (a failing test must not
/// leave it running).
pub struct RelayProcess {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    child: Option<Child>,
}

impl RelayProcess {
    /// `serve` of the relay binary `bin` on a free loopback port, with no
    /// rate limit, the given `--durability`, and its logs discarded.
    pub fn serve(bin: impl AsRef<OsStr>, data: &Path, durability: &str) -> Self {
        Self::spawn(
            Command::new(bin)
                .args(["serve", "--listen", "127.0.0.1:0", "--rate-per-sec", "0"])
                .args(["--durability", durability, "--data-dir"])
                .arg(data)
                .stderr(Stdio::null()),
        )
    }

    /// Spawns `cmd` and waits for its [`LISTENING`] line; panics with what
    /// it printed instead.
    pub fn spawn(cmd: &mut Command) -> Self {
        Self::try_spawn(cmd, LISTENING)
            .unwrap_or_else(|line| panic!("relay did not start: {line:?}"))
    }

    /// Spawns `cmd` (its stdout is taken over) and reads its first line:
    /// `<prefix><url>` gives the relay; anything else kills the child and
    /// comes back as the error.
    pub fn try_spawn(cmd: &mut Command, prefix: &str) -> Result<Self, String> {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn relay");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        let _ = out.read_line(&mut line);
        let Some(url) = line.trim().strip_prefix(prefix) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(line);
        };
        let url = url.to_string();
        // Keep reading, so the relay's stdout stays open until it exits.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Ok(Self {
            url,
            child: Some(child),
        })
    }

    /// `127.0.0.1:<port>`, to listen on again after a restart.
    pub fn addr(&self) -> &str {
        let u = self.url.as_str();
        u.strip_prefix("https://")
            .or_else(|| u.strip_prefix("http://"))
            .unwrap_or(u)
    }

    /// The child, for its pid or its piped stderr.
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("relay still running")
    }

    /// SIGKILL, as a crash or power loss would stop it, then reaps it.
    pub fn sigkill(mut self) {
        if let Some(mut c) = self.child.take() {
            // Already dead is fine: the point is that it is.
            let _ = signal(&c, "-KILL");
            let _ = c.wait();
        }
    }

    /// SIGTERM (what a service manager sends), then waits up to 15 s for
    /// the relay to stop and returns how it exited.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("relay still running");
        assert!(signal(&c, "-TERM"), "kill -TERM failed");
        let started = Instant::now();
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            if started.elapsed() > Duration::from_secs(15) {
                let _ = c.kill();
                let _ = c.wait();
                panic!("relay did not stop within 15 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Runs `cmd` to its end; panics with its stderr unless it succeeded.
#[track_caller]
pub fn output_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run command");
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        cmd.get_program(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The license key `license add` printed: the last word of its stdout.
pub fn printed_key(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .last()
        .expect("license add printed a key")
        .to_string()
}

/// kill(1) rather than `Child::kill`, which only sends SIGKILL.
fn signal(c: &Child, sig: &str) -> bool {
    Command::new("kill")
        .args([sig, &c.id().to_string()])
        .status()
        .expect("run kill")
        .success()
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
