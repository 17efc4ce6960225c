//! Process and host figures read from `/proc` at scrape time (Linux; on
//! other systems every reading is absent and the series are left out).
//!
//! Owns only reading; what is exposed, and under which names, is
//! [`super`]'s business.

use std::time::Instant;

use parking_lot::Mutex;

/// One reading of the process and the host.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reading {
    /// Resident memory, bytes.
    pub rss_bytes: Option<u64>,
    /// Virtual memory, bytes.
    pub virtual_bytes: Option<u64>,
    /// CPU time used by the process (user + system), seconds.
    pub cpu_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The file descriptor limit.
    pub max_fds: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Start time, seconds since the epoch.
    pub start_time_seconds: Option<f64>,
    /// Host CPU busy share since the last reading (0..1).
    pub system_cpu_usage: Option<f64>,
    /// Process CPU share of the host since the last reading (0..1).
    pub process_cpu_usage: Option<f64>,
    /// Host load average over 1 minute.
    pub load_1m: Option<f64>,
    /// CPUs available.
    pub cpus: u64,
}

/// Reads `/proc`, keeping what CPU shares need between readings.
#[derive(Debug)]
pub struct Reader {
    last: Mutex<Option<Last>>,
    ticks: f64,
    page: u64,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    at: Instant,
    busy: u64,
    total: u64,
    proc_seconds: f64,
}

impl Default for Reader {
    fn default() -> Self {
        Self::new()
    }
}

impl Reader {
    /// A reader; the first reading has no CPU shares yet.
    pub fn new() -> Self {
        Self {
            last: Mutex::new(None),
            // USER_HZ is 100 on every Linux target Rust supports.
            ticks: 100.0,
            page: 4096,
        }
    }

    /// Takes a reading.
    pub fn read(&self) -> Reading {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u64)
            .unwrap_or(1);
        let mut r = Reading {
            cpus,
            ..Reading::default()
        };
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        // Fields after the command name (which may hold spaces), from
        // field 3 (`state`) on.
        let fields: Vec<&str> = stat
            .as_deref()
            .and_then(|s| s.rsplit_once(')'))
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        if let (Some(utime), Some(stime)) = (field(14), field(15)) {
            r.cpu_seconds = Some((utime + stime) as f64 / self.ticks);
        }
        r.threads = field(20);
        r.virtual_bytes = field(23);
        r.rss_bytes = field(24).map(|p| p * self.page);
        if let (Some(start), Some(boot)) = (field(22), boot_time()) {
            r.start_time_seconds = Some(boot as f64 + start as f64 / self.ticks);
        }
        r.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        r.max_fds = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Max open files"))
                    .and_then(|l| l.split_whitespace().nth(3))
                    .and_then(|v| v.parse().ok())
            });
        r.load_1m = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()));
        let host = host_cpu();
        let now = Instant::now();
        let mut last = self.last.lock();
        if let (Some((busy, total)), Some(proc_seconds)) = (host, r.cpu_seconds) {
            if let Some(prev) = *last {
                let dt = total.saturating_sub(prev.total);
                if dt > 0 {
                    r.system_cpu_usage = Some(busy.saturating_sub(prev.busy) as f64 / dt as f64);
                }
                let wall = now.duration_since(prev.at).as_secs_f64();
                if wall > 0.0 {
                    r.process_cpu_usage = Some(
                        ((proc_seconds - prev.proc_seconds) / (wall * cpus as f64)).clamp(0.0, 1.0),
                    );
                }
            }
            *last = Some(Last {
                at: now,
                busy,
                total,
                proc_seconds,
            });
        }
        r
    }
}

/// Host CPU ticks: (busy, total), from the first line of `/proc/stat`.
fn host_cpu() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

fn boot_time() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let r = Reader::new();
        let first = r.read();
        let second = r.read();
        assert!(first.cpus >= 1);
        if cfg!(target_os = "linux") {
            assert!(first.rss_bytes.unwrap_or(0) > 0);
            assert!(first.open_fds.unwrap_or(0) > 0);
            assert!(first.threads.unwrap_or(0) > 0);
            assert!(
                second
                    .system_cpu_usage
                    .is_none_or(|v| (0.0..=1.0).contains(&v))
            );
        }
    }
}
