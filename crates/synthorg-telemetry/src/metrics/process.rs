//! Process metrics read from `/proc/self` (Linux); absent elsewhere.

use super::{Collect, Exposition, Family, Kind};

/// CPU time, resident memory, open file descriptors and start time of this process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
    pub start_time_seconds: f64,
}

/// Reads the stats; `None` where `/proc` is not available.
pub fn read() -> Option<ProcessStats> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name, which may itself hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers from proc(5), minus 3 for pid, comm and the shift to 0-based.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let starttime: f64 = fields.get(19)?.parse().ok()?;
    let vsize: f64 = fields.get(20)?.parse().ok()?;
    let rss_pages: f64 = fields.get(21)?.parse().ok()?;
    let ticks = 100.0; // USER_HZ is 100 on every Linux ABI synthorg targets
    let page = 4096.0;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok()))?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as f64;
    let max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|limits| {
        limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse().ok())
    });
    Some(ProcessStats {
        cpu_seconds: (utime + stime) / ticks,
        resident_bytes: rss_pages * page,
        virtual_bytes: vsize,
        open_fds,
        max_fds,
        start_time_seconds: boot_time + starttime / ticks,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let s = super::read().expect("/proc is available on Linux");
        assert!(s.resident_bytes > 1e6, "{s:?}");
        assert!(s.open_fds >= 3.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0 * 365.0, "{s:?}");
    }
}

/// The standard `process_*` families (the names every Prometheus client library uses).
#[derive(Debug)]
pub struct ProcessMetrics {
    cpu: Family,
    resident: Family,
    virtual_memory: Family,
    open_fds: Family,
    max_fds: Family,
    start_time: Family,
}

impl Default for ProcessMetrics {
    fn default() -> Self {
        Self {
            cpu: Family::new(
                "",
                "process_cpu_seconds",
                Kind::Counter,
                "Total user and system CPU time spent in seconds.",
            ),
            resident: Family::new("", "process_resident_memory_bytes", Kind::Gauge, "Resident memory size in bytes."),
            virtual_memory: Family::new(
                "",
                "process_virtual_memory_bytes",
                Kind::Gauge,
                "Virtual memory size in bytes.",
            ),
            open_fds: Family::new("", "process_open_fds", Kind::Gauge, "Number of open file descriptors."),
            max_fds: Family::new("", "process_max_fds", Kind::Gauge, "Maximum number of open file descriptors."),
            start_time: Family::new(
                "",
                "process_start_time_seconds",
                Kind::Gauge,
                "Start time of the process since unix epoch in seconds.",
            ),
        }
    }
}

impl Collect for ProcessMetrics {
    fn collect(&self, e: &mut Exposition) {
        let Some(s) = read() else { return };
        self.cpu.header(e);
        self.cpu.counter(e, [], s.cpu_seconds);
        for (family, value) in
            [(&self.resident, s.resident_bytes), (&self.virtual_memory, s.virtual_bytes), (&self.open_fds, s.open_fds)]
        {
            family.header(e);
            family.gauge(e, [], value);
        }
        if let Some(max) = s.max_fds {
            self.max_fds.header(e);
            self.max_fds.gauge(e, [], max);
        }
        self.start_time.header(e);
        self.start_time.gauge(e, [], s.start_time_seconds);
    }
}
