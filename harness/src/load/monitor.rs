//! What the serving side uses while a level runs: memory (PSS of processes, cgroup memory of containers) and
//! CPU time, read from `/proc` and `/sys/fs/cgroup` under a root (`/` on a real machine).
//!
//! The serving side is the harness process for in-process runtimes, the node processes for node, and the
//! containers' cgroups plus their `containerd-shim` processes for containers (a shim is per container, so
//! it is part of what a warm container costs; dockerd and containerd are shared and left out).

use crate::runtime::ServedBy;
use harness_probes::clock::monotonic_ns;
use harness_probes::model::{CpuClock, MachineCpu, container_cpu_ns};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The processes or containers of each instance of a level, kept current as instances are replaced (the
/// load driver's `Servers`).
type Servers = Mutex<Vec<Vec<ServedBy>>>;

/// Memory of one part of the serving side, and what was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryReading {
    pub bytes: u64,
    pub source: MemorySource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySource {
    /// Proportional set size: shared pages split among the processes sharing them.
    Pss,
    /// Resident set size, where PSS is not readable (`/proc/<pid>/smaps_rollup` needs Linux 4.14).
    Rss,
    /// The container's cgroup (`memory.current`, v1 `memory.usage_in_bytes`) plus its shim's PSS.
    Cgroup,
}

impl MemorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::Pss => "pss",
            MemorySource::Rss => "rss",
            MemorySource::Cgroup => "cgroup",
        }
    }
}

/// Reads memory and CPU of processes and containers.
#[derive(Debug, Clone)]
pub struct ServingMeter {
    root: PathBuf,
    ticks_per_s: u64,
}

fn kb_field(text: &str, field: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl ServingMeter {
    pub fn new(root: &Path) -> ServingMeter {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        ServingMeter {
            root: root.to_path_buf(),
            ticks_per_s: if hz > 0 { hz as u64 } else { 100 },
        }
    }

    /// PSS of a process, else its RSS.
    pub fn process_memory(&self, pid: u32) -> Option<MemoryReading> {
        let dir = self.root.join(format!("proc/{pid}"));
        if let Some(bytes) = std::fs::read_to_string(dir.join("smaps_rollup"))
            .ok()
            .and_then(|t| kb_field(&t, "Pss:"))
        {
            return Some(MemoryReading {
                bytes,
                source: MemorySource::Pss,
            });
        }
        let status = std::fs::read_to_string(dir.join("status")).ok()?;
        Some(MemoryReading {
            bytes: kb_field(&status, "VmRSS:")?,
            source: MemorySource::Rss,
        })
    }

    /// utime + stime of a process, in ns.
    pub fn process_cpu_ns(&self, pid: u32) -> Option<u64> {
        let stat = std::fs::read_to_string(self.root.join(format!("proc/{pid}/stat"))).ok()?;
        // The command name may hold spaces; fields count from after its closing parenthesis.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks * 1_000_000_000 / self.ticks_per_s)
    }

    fn container_dir(&self, controller: &str, id: &str) -> Option<PathBuf> {
        let cgroup = self.root.join("sys/fs/cgroup");
        [
            cgroup.join(format!("{controller}/docker/{id}")),
            cgroup.join(format!("system.slice/docker-{id}.scope")),
            cgroup.join(format!("docker/{id}")),
        ]
        .into_iter()
        .find(|d| d.is_dir())
    }

    /// The container's `containerd-shim`: the parent of the first process in its cgroup.
    fn shim_pid(&self, id: &str) -> Option<u32> {
        let dir = self
            .container_dir("memory", id)
            .or_else(|| self.container_dir("pids", id))?;
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).ok()?;
        let init: u32 = procs.lines().next()?.trim().parse().ok()?;
        let stat = std::fs::read_to_string(self.root.join(format!("proc/{init}/stat"))).ok()?;
        stat[stat.rfind(')')? + 2..].split_whitespace().nth(1)?.parse().ok()
    }

    /// The container's cgroup memory plus its shim's PSS.
    pub fn container_memory(&self, id: &str) -> Option<MemoryReading> {
        let dir = self.container_dir("memory", id)?;
        let cgroup = read_u64(&dir.join("memory.current")).or_else(|| read_u64(&dir.join("memory.usage_in_bytes")))?;
        let shim = self
            .shim_pid(id)
            .and_then(|pid| self.process_memory(pid))
            .map_or(0, |m| m.bytes);
        Some(MemoryReading {
            bytes: cgroup + shim,
            source: MemorySource::Cgroup,
        })
    }

    /// The container's cgroup CPU plus its shim's.
    pub fn container_cpu_ns(&self, id: &str) -> Option<u64> {
        let cgroup = container_cpu_ns(&self.root, id)?;
        let shim = self.shim_pid(id).and_then(|pid| self.process_cpu_ns(pid)).unwrap_or(0);
        Some(cgroup + shim)
    }

    /// Memory of the serving side: the harness itself when `servers` is empty (in-process runtimes).
    pub fn memory(&self, servers: &[ServedBy]) -> Option<MemoryReading> {
        if servers.is_empty() {
            return self.process_memory(std::process::id());
        }
        let mut total = 0;
        let mut source = MemorySource::Pss;
        for server in servers {
            let reading = match server {
                ServedBy::Process(pid) => self.process_memory(*pid),
                ServedBy::Container(id) => self.container_memory(id),
            }?;
            total += reading.bytes;
            // The weakest source names the sum.
            if reading.source != MemorySource::Pss {
                source = reading.source;
            }
        }
        Some(MemoryReading { bytes: total, source })
    }

    /// Memory of the serving side while it serves: for the harness itself (in-process runtimes) its RSS from
    /// `statm`, which the kernel keeps as a counter; PSS would walk the page tables of the very process being
    /// measured under its memory-map lock (and wasmtime's instance pool reserves gigabytes of address space),
    /// which stalls its threads. Other processes' PSS costs the harness nothing.
    pub fn memory_under_load(&self, servers: &[ServedBy]) -> Option<MemoryReading> {
        if !servers.is_empty() {
            return self.memory(servers);
        }
        let statm = std::fs::read_to_string(self.root.join(format!("proc/{}/statm", std::process::id()))).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        Some(MemoryReading {
            bytes: pages * page,
            source: MemorySource::Rss,
        })
    }

    /// CPU time of the serving side (the harness process when `servers` is empty), in ns.
    pub fn cpu_ns(&self, servers: &[ServedBy]) -> Option<u64> {
        if servers.is_empty() {
            return self_cpu_ns();
        }
        servers
            .iter()
            .map(|server| match server {
                ServedBy::Process(pid) => self.process_cpu_ns(*pid),
                ServedBy::Container(id) => self.container_cpu_ns(id),
            })
            .sum()
    }

    /// The machine's busy CPU time, in ns (as the model probe reads it).
    pub fn machine(&self) -> Option<MachineCpu> {
        MachineCpu::open(&self.root).ok()
    }
}

/// What the monitor thread saw over a level's window.
#[derive(Debug, Default)]
pub struct Monitored {
    pub span_ns: [u64; 2],
    pub peak_memory: Option<MemoryReading>,
    pub serving_cpu_ns: Option<u64>,
    pub machine_busy_ns: Option<u64>,
}

/// How often the monitor reads memory (a PSS read walks the process's page tables: not free).
const MONITOR_PERIOD: Duration = Duration::from_millis(100);

/// Reads the serving side from `from_ns` until `done`: peak memory, CPU per server (a replaced server keeps
/// what it used up to its last reading), the machine's busy time.
pub fn watch(meter: &ServingMeter, servers: &Servers, from_ns: u64, done: &AtomicBool) -> Monitored {
    while monotonic_ns() < from_ns && !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5).min(Duration::from_nanos(from_ns.saturating_sub(monotonic_ns()))));
    }
    let flat = |servers: &Servers| -> Vec<ServedBy> {
        servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect()
    };
    let mut machine = meter.machine();
    let machine_start = machine_busy_ns(&mut machine);
    let start_ns = monotonic_ns();
    // server -> (first reading, last reading)
    let mut cpu: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let read_cpu = |now: &[ServedBy], cpu: &mut BTreeMap<String, (u64, u64)>| {
        let keyed: Vec<(String, Option<u64>)> = if now.is_empty() {
            vec![("self".into(), meter.cpu_ns(&[]))]
        } else {
            now.iter()
                .map(|s| (format!("{s:?}"), meter.cpu_ns(std::slice::from_ref(s))))
                .collect()
        };
        for (key, value) in keyed {
            if let Some(v) = value {
                cpu.entry(key).and_modify(|e| e.1 = v).or_insert((v, v));
            }
        }
    };
    let mut peak: Option<MemoryReading> = None;
    loop {
        let now = flat(servers);
        read_cpu(&now, &mut cpu);
        if let Some(m) = meter.memory_under_load(&now)
            && peak.is_none_or(|p| m.bytes > p.bytes)
        {
            peak = Some(m);
        }
        if done.load(Ordering::Relaxed) {
            break;
        }
        let until = monotonic_ns() + MONITOR_PERIOD.as_nanos() as u64;
        while monotonic_ns() < until && !done.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let end_ns = monotonic_ns();
    let machine_end = machine_busy_ns(&mut machine);
    Monitored {
        span_ns: [start_ns, end_ns],
        peak_memory: peak,
        serving_cpu_ns: (!cpu.is_empty()).then(|| cpu.values().map(|(a, b)| b - a).sum()),
        machine_busy_ns: machine_start.zip(machine_end).map(|(a, b)| b.saturating_sub(a)),
    }
}

/// Hands memory the allocator keeps after frees back to the kernel, so the harness's PSS before and after
/// building a pool differs by the pool, not by what an earlier level freed.
pub fn return_freed_memory() {
    // SAFETY: malloc_trim only releases free heap memory; it is safe to call at any time in a glibc process.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// CPU time of this process (all its threads), in ns.
pub fn self_cpu_ns() -> Option<u64> {
    clock_ns(libc::CLOCK_PROCESS_CPUTIME_ID)
}

/// CPU time of the calling thread, in ns.
pub fn thread_cpu_ns() -> u64 {
    clock_ns(libc::CLOCK_THREAD_CPUTIME_ID).unwrap_or(0)
}

fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the timespec we own.
    (unsafe { libc::clock_gettime(clock, &mut ts) } == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// The machine's CPU busy share between two readings of its busy time, 0..1 of all cores.
pub fn machine_share(busy_ns: u64, wall_ns: u64) -> Option<f64> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    (wall_ns > 0).then(|| busy_ns as f64 / (wall_ns as f64 * cores))
}

/// Reads a [`MachineCpu`] once.
pub fn machine_busy_ns(machine: &mut Option<MachineCpu>) -> Option<u64> {
    machine.as_mut().and_then(|m| m.cpu_ns())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    #[test]
    fn reads_pss_then_rss_and_a_v1_container_with_its_shim() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "proc/10/smaps_rollup",
            "55-66 ---p 0 00:00 0 [rollup]\nRss: 2048 kB\nPss: 1024 kB\n",
        );
        write(root, "proc/11/status", "Name:\tnode\nVmRSS:\t  300 kB\n");
        // The stat of pid 20 (the container's init) names 19 (its shim) as parent; the name has a space.
        write(
            root,
            "proc/20/stat",
            "20 (my app) S 19 20 20 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0",
        );
        write(root, "proc/19/smaps_rollup", "Pss: 4 kB\n");
        write(
            root,
            "proc/19/stat",
            "19 (containerd-shim) S 1 19 19 0 -1 0 0 0 0 0 100 100 0 0 20 0 1 0",
        );
        write(root, "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes", "8192\n");
        write(root, "sys/fs/cgroup/memory/docker/abc/cgroup.procs", "20\n");
        write(root, "sys/fs/cgroup/cpuacct/docker/abc/cpuacct.usage", "5000\n");
        let meter = ServingMeter::new(root);
        assert_eq!(
            meter.process_memory(10),
            Some(MemoryReading {
                bytes: 1 << 20,
                source: MemorySource::Pss
            })
        );
        assert_eq!(
            meter.process_memory(11),
            Some(MemoryReading {
                bytes: 300 * 1024,
                source: MemorySource::Rss
            })
        );
        let container = meter.container_memory("abc").unwrap();
        assert_eq!(container.bytes, 8192 + 4096);
        let hz = meter.ticks_per_s;
        assert_eq!(meter.process_cpu_ns(20), Some(10 * 1_000_000_000 / hz));
        assert_eq!(meter.container_cpu_ns("abc"), Some(5000 + 200 * 1_000_000_000 / hz));
        let both = meter
            .memory(&[ServedBy::Process(11), ServedBy::Container("abc".into())])
            .unwrap();
        assert_eq!(both.bytes, 300 * 1024 + 8192 + 4096);
        assert_eq!(both.source, MemorySource::Cgroup);
        assert_eq!(meter.memory(&[ServedBy::Process(99)]), None);
    }

    #[test]
    fn this_process_has_memory_and_cpu() {
        let meter = ServingMeter::new(Path::new("/"));
        assert!(meter.memory(&[]).unwrap().bytes > 0);
        assert!(thread_cpu_ns() > 0);
        assert!(self_cpu_ns().unwrap() >= thread_cpu_ns());
    }
}
