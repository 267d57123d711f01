//! What the kernel says about a process (Linux /proc): peak and current
//! resident memory, CPU time; and the disk use of a directory. Elsewhere
//! every figure is `None` and the bench reports it as missing.

use std::path::Path;

/// A `kB` field of /proc/<pid>/status (`VmHWM`, `VmRSS`), in KiB.
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident set (VmHWM) of this process, KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("self", "VmHWM:")
}

/// Resident set now (VmRSS) of this process, KiB.
pub fn rss_kib() -> Option<u64> {
    status_kib("self", "VmRSS:")
}

/// Resident set after handing freed heap pages back to the kernel: closer
/// to what is live than VmRSS, which keeps what the allocator has freed but
/// not returned (glibc only; elsewhere plain VmRSS).
pub fn trimmed_rss_kib() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only releases free memory of glibc's own
        // arenas; it touches no allocation of ours.
        unsafe {
            malloc_trim(0);
        }
    }
    rss_kib()
}

/// Starts a new peak: VmHWM drops to the current RSS (Linux ≥ 4.0), so each
/// phase's peak is its own and not an earlier phase's.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User + system CPU seconds of process `pid` ("self" for this one), from
/// /proc/<pid>/stat (fields 14 and 15, in USER_HZ = 100 ticks/s).
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// MemAvailable, KiB.
pub fn mem_available_kib() -> Option<u64> {
    let m = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = m.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The 1/5/15-minute load averages as printed by the kernel.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Bytes of every regular file under `dir` (apparent size, like `du -b`).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}
