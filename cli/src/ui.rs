//! Output helpers: colour only on a terminal (and never with `NO_COLOR`),
//! aligned tables, human times and sizes, and a progress line on stderr
//! that exists only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn colour_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// ANSI styling for one stream, disabled when the stream is not a terminal.
#[derive(Clone, Copy)]
pub struct Style {
    on: bool,
}

impl Style {
    pub fn stdout() -> Self {
        Self {
            on: std::io::stdout().is_terminal() && colour_allowed(),
        }
    }
    pub fn stderr() -> Self {
        Self {
            on: std::io::stderr().is_terminal() && colour_allowed(),
        }
    }
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    pub fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    pub fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    pub fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    pub fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    pub fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    pub fn cyan(&self, s: &str) -> String {
        self.paint("36", s)
    }
}

/// Prints rows with every column padded to its widest cell (the last
/// column is not padded). The header is dimmed on a terminal.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let style = Style::stdout();
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(c);
                let pad = widths[i].saturating_sub(c.chars().count()) + 2;
                out.push_str(&" ".repeat(pad));
            }
        }
        out.trim_end().to_string()
    };
    println!(
        "{}",
        style.dim(&line(header.iter().map(|h| h.to_string()).collect()))
    );
    for r in rows {
        println!("{}", line(r.clone()));
    }
}

/// Shortens to at most `max` characters on one line.
pub fn one_line(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        flat
    } else {
        let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago" (or "in 3 s" for the future).
pub fn ago(at_ms: i64) -> String {
    let d = now_ms() - at_ms;
    let (future, secs) = if d < 0 {
        (true, -d / 1000)
    } else {
        (false, d / 1000)
    };
    let span = if secs < 60 {
        format!("{secs} s")
    } else if secs < 3600 {
        format!("{} min", secs / 60)
    } else if secs < 86_400 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} d", secs / 86_400)
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// `YYYY-MM-DD HH:MM:SSZ` in UTC.
pub fn utc(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// `HH:MM:SS.mmm` in UTC.
pub fn clock(at_ms: i64) -> String {
    let ms = at_ms.rem_euclid(1000);
    let rem = at_ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

// Howard Hinnant's days-from-civil inverse.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn bytes(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A one-line spinner with a message on stderr, only when stderr is a
/// terminal and output is for humans; otherwise it does nothing.
pub struct Progress {
    state: Option<Arc<ProgressState>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct ProgressState {
    message: Mutex<String>,
    done: AtomicBool,
}

impl Progress {
    pub fn start(message: &str, enabled: bool) -> Self {
        if !enabled || !std::io::stderr().is_terminal() {
            return Self {
                state: None,
                thread: None,
            };
        }
        let state = Arc::new(ProgressState {
            message: Mutex::new(message.to_string()),
            done: AtomicBool::new(false),
        });
        let s = Arc::clone(&state);
        let started = Instant::now();
        let thread = std::thread::spawn(move || {
            const FRAMES: [&str; 4] = ["-", "\\", "|", "/"];
            let mut i = 0usize;
            // Stay silent for quick work: only long work gets a progress line.
            std::thread::sleep(Duration::from_millis(300));
            while !s.done.load(Ordering::SeqCst) {
                let msg = s.message.lock().map(|m| m.clone()).unwrap_or_default();
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K{} {} ({:.0} s)",
                    FRAMES[i % FRAMES.len()],
                    msg,
                    started.elapsed().as_secs_f64()
                );
                let _ = err.flush();
                drop(err);
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Self {
            state: Some(state),
            thread: Some(thread),
        }
    }

    /// A cheap handle that can update the message from another thread.
    pub fn handle(&self) -> ProgressHandle {
        ProgressHandle {
            state: self.state.clone(),
        }
    }

    pub fn finish(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(s) = &self.state {
            s.done.store(true, Ordering::SeqCst);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Clone)]
pub struct ProgressHandle {
    state: Option<Arc<ProgressState>>,
}

impl ProgressHandle {
    pub fn set(&self, message: String) {
        if let Some(s) = &self.state {
            if let Ok(mut m) = s.message.lock() {
                *m = message;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20Z");
        assert_eq!(clock(1_700_000_000_123), "22:13:20.123");
    }

    #[test]
    fn one_line_truncates_and_flattens() {
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdefghijk", 5), "abcd…");
    }
}
