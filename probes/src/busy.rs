//! How busy the machine was over an idle span, and how much of that was the harness itself: the idle
//! baseline is the machine's idle power only if nothing else ran. Read for every run with probes, whatever
//! their kind, from `/proc/stat` (under an injectable root, so tests use a fake tree) and `getrusage`.

use crate::clock;
use crate::model::rusage_ns;
use harness_data::IdleLoad;
use std::path::{Path, PathBuf};

/// Where the machine's busy CPU is read.
const SOURCE: &str = "/proc/stat";

/// Reads the machine's and the harness's CPU time.
#[derive(Debug, Clone)]
pub struct BusyMeter {
    stat: PathBuf,
    ticks_per_s: u64,
}

/// CPU time at one instant: the machine's busy time and the harness's own, with the monotonic time read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuSnapshot {
    pub t_ns: u64,
    pub machine_busy_ns: u64,
    pub harness_ns: u64,
}

impl BusyMeter {
    /// A meter reading `proc/stat` under `root` (`/` on a real machine).
    pub fn new(root: &Path) -> BusyMeter {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        BusyMeter {
            stat: root.join("proc/stat"),
            ticks_per_s: if hz > 0 { hz as u64 } else { 100 },
        }
    }

    /// Now; `None` when `/proc/stat` or `getrusage` cannot be read (not Linux, a fake tree without it).
    pub fn snapshot(&self) -> Option<CpuSnapshot> {
        let harness_ns = rusage_ns()?;
        let machine_busy_ns = self.machine_busy_ticks()? * 1_000_000_000 / self.ticks_per_s;
        Some(CpuSnapshot {
            t_ns: clock::monotonic_ns(),
            machine_busy_ns,
            harness_ns,
        })
    }

    /// The `cpu` line's user + nice + system + irq + softirq, in clock ticks: idle, iowait and steal (another
    /// guest's time) are not this machine's work, and guest time is already inside user.
    fn machine_busy_ticks(&self) -> Option<u64> {
        let text = std::fs::read_to_string(&self.stat).ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
        (fields.len() >= 7).then(|| [0, 1, 2, 5, 6].iter().map(|&i| fields[i]).sum())
    }
}

impl CpuSnapshot {
    /// What the machine did between `earlier` and this snapshot, in cores (CPU-seconds per second).
    pub fn load_since(&self, earlier: &CpuSnapshot) -> IdleLoad {
        let span_s = (self.t_ns.saturating_sub(earlier.t_ns) as f64 * 1e-9).max(1e-9);
        let cores = |a: u64, b: u64| b.saturating_sub(a) as f64 * 1e-9 / span_s;
        let machine_cores = cores(earlier.machine_busy_ns, self.machine_busy_ns);
        let harness_cores = cores(earlier.harness_ns, self.harness_ns);
        IdleLoad {
            machine_cores,
            harness_cores,
            foreign_cores: (machine_cores - harness_cores).max(0.0),
            source: SOURCE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `/proc/stat` as the kernel writes it: the `cpu` line, then one per CPU.
    fn write_stat(root: &Path, user: u64, system: u64, idle: u64, steal: u64) {
        std::fs::create_dir_all(root.join("proc")).unwrap();
        std::fs::write(
            root.join("proc/stat"),
            format!(
                "cpu  {user} 0 {system} {idle} 7 3 2 {steal} 0 0\ncpu0 {user} 0 {system} {idle} 7 3 2 {steal} 0 0\nintr 1 2 3\nctxt 99\n"
            ),
        )
        .unwrap();
    }

    #[test]
    fn foreign_load_is_the_machines_busy_cpu_less_the_harnesss_over_the_span() {
        let dir = tempfile::tempdir().unwrap();
        let meter = BusyMeter::new(dir.path());
        assert_eq!(meter.snapshot(), None, "no proc/stat under the root");
        write_stat(dir.path(), 1000, 500, 90_000, 40);
        let mut before = meter.snapshot().unwrap();
        // Over a 2 s span, another process burns 3 CPU-seconds (user + system) and a neighbour guest steals
        // some; idle time passes too.
        let hz = meter.ticks_per_s;
        write_stat(dir.path(), 1000 + 2 * hz, 500 + hz, 90_000 + hz, 40 + 5 * hz);
        let mut after = meter.snapshot().unwrap();
        before.t_ns = 1_000_000_000;
        after.t_ns = 3_000_000_000;
        // The harness itself used 0.5 CPU-seconds of them.
        after.harness_ns = before.harness_ns + 500_000_000;
        let load = after.load_since(&before);
        assert!((load.machine_cores - 1.5).abs() < 1e-9, "{load:?}");
        assert!((load.harness_cores - 0.25).abs() < 1e-9, "{load:?}");
        assert!((load.foreign_cores - 1.25).abs() < 1e-9, "{load:?}");
        assert!(load.is_busy());
        assert_eq!(load.source, "/proc/stat");
        // A quiet span: the machine busy only with the harness's own work, which is never foreign.
        let mut quiet = after;
        quiet.t_ns += 1_000_000_000;
        quiet.harness_ns += 400_000_000;
        let load = quiet.load_since(&after);
        assert_eq!(load.machine_cores, 0.0);
        assert_eq!(load.foreign_cores, 0.0);
        assert!(!load.is_busy());
    }

    #[test]
    fn this_machine_has_a_readable_proc_stat() {
        let meter = BusyMeter::new(Path::new("/"));
        let a = meter.snapshot().expect("/proc/stat and getrusage on Linux");
        // Burn 100 ms of CPU in this thread (however long a loaded machine takes to give it): the machine's
        // busy time includes the harness's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        while rusage_ns().unwrap() < a.harness_ns + 100_000_000 && std::time::Instant::now() < deadline {
            for _ in 0..10_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
        }
        std::hint::black_box(x);
        let b = meter.snapshot().unwrap();
        let harness = b.harness_ns - a.harness_ns;
        assert!(harness >= 100_000_000, "{harness} ns");
        // /proc/stat counts in ticks (10 ms per CPU): allow a few.
        let machine = b.machine_busy_ns - a.machine_busy_ns;
        assert!(
            machine + 50_000_000 >= harness,
            "machine {machine} ns, harness {harness} ns"
        );
        let load = b.load_since(&a);
        assert!(load.harness_cores > 0.0 && load.machine_cores > 0.0, "{load:?}");
    }
}
