//! A progress line on stderr that exists only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
