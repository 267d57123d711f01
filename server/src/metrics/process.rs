//! The standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`), read from
//! `/proc/self` at each scrape: a few small reads, no background work.
//! Elsewhere than Linux they are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `/proc` reports CPU time in USER_HZ ticks, 100 per second on every
/// Linux architecture Rust targets (as Prometheus's own procfs library
/// assumes).
const USER_HZ: f64 = 100.0;

#[derive(Debug)]
pub(super) struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(secs) = cpu_seconds() {
            let c = ConstCounter::new(secs);
            let m = encoder.encode_descriptor(
                "process_cpu_seconds",
                "User and system CPU time the relay process spent, in seconds",
                None,
                c.metric_type(),
            )?;
            c.encode(m)?;
        }
        if let Some(bytes) = resident_bytes() {
            let g = ConstGauge::new(bytes);
            let m = encoder.encode_descriptor(
                "process_resident_memory_bytes",
                "Resident memory of the relay process, in bytes",
                None,
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        if let Some(n) = open_fds() {
            let g = ConstGauge::new(n);
            let m = encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors of the relay process (connections included)",
                None,
                g.metric_type(),
            )?;
            g.encode(m)?;
        }
        Ok(())
    }
}

/// utime + stime from `/proc/self/stat` (fields 14 and 15; the command
/// name in field 2 may hold spaces and parentheses, so count from its
/// closing parenthesis).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11); // field 3 is the first here
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

/// `VmRSS` from `/proc/self/status` (in kB: no page size needed).
fn resident_bytes() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// Entries of `/proc/self/fd`: as many as the process has open, which the
/// relay's connection cap bounds.
fn open_fds() -> Option<i64> {
    let n = std::fs::read_dir("/proc/self/fd").ok()?.count();
    // The directory handle being read is one of them.
    i64::try_from(n.saturating_sub(1)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn proc_reads_give_plausible_numbers() {
        assert!(cpu_seconds().is_some_and(|s| s >= 0.0));
        assert!(resident_bytes().is_some_and(|b| b > 1024 * 1024));
        // stdin, stdout, stderr at least (other tests open files meanwhile).
        assert!(open_fds().is_some_and(|n| n >= 3));
    }
}
