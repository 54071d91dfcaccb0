//! `model`: energy *estimated* from CPU time and a declared (or fitted) power curve, for cloud VMs and machines
//! with no sensor. Every value it produces is labelled estimated.
//!
//! E(t) = idle_w x (t - t0) + busy_w_per_core x (cpu(t) - cpu(t0)). What `cpu` counts is the model's scope:
//! - `machine` (default): every CPU-second of the machine, as a package sensor sees it: the root cgroup's CPU
//!   time (cgroup v2 `cpu.stat` `usage_usec`, cgroup v1 `cpuacct.usage`), else `/proc/stat`. Node servers,
//!   containers and the engine daemons that move a container's bytes are all part of it, and so is anything
//!   else running on the machine (the idle baseline removes what is steady).
//! - `harness`: the harness, its live and reaped descendants (read from `/proc`, so a warm node server is seen
//!   while it runs) and the cgroups of the containers it started. The Docker daemon's own work is not seen.

use crate::ProbeError;
use crate::source::{Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const KIND: &str = "model";

/// The declared power curve.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerCurve {
    pub idle_w: f64,
    pub busy_w_per_core: f64,
}

impl PowerCurve {
    /// Generic defaults when nothing is declared: a server-class core. Declare your machine's for a better
    /// estimate (a TDP, measured idle and per-core figures, or `harness fit-model` on a machine with a sensor).
    pub const DEFAULT: PowerCurve = PowerCurve {
        idle_w: 10.0,
        busy_w_per_core: 15.0,
    };

    /// From the plan's options: explicit figures win; a TDP spreads over the logical cores, with idle at 20%
    /// of it (the share typical of server parts at idle).
    pub fn from_options(
        idle_w: Option<f64>,
        busy_w_per_core: Option<f64>,
        tdp_w: Option<f64>,
        cores: usize,
    ) -> Result<PowerCurve, ProbeError> {
        let (idle, busy) = match tdp_w {
            Some(tdp) => (
                idle_w.unwrap_or(0.2 * tdp),
                busy_w_per_core.unwrap_or(tdp / cores.max(1) as f64),
            ),
            None => (
                idle_w.unwrap_or(Self::DEFAULT.idle_w),
                busy_w_per_core.unwrap_or(Self::DEFAULT.busy_w_per_core),
            ),
        };
        if !(idle >= 0.0 && busy >= 0.0 && idle.is_finite() && busy.is_finite()) {
            return Err(ProbeError::Option {
                probe: KIND,
                message: format!("power figures must be non-negative watts (idle_w {idle}, busy_w_per_core {busy})"),
            });
        }
        Ok(PowerCurve {
            idle_w: idle,
            busy_w_per_core: busy,
        })
    }
}

/// Whose CPU time the model counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelScope {
    #[default]
    Machine,
    Harness,
}

impl ModelScope {
    /// The scope of the model's channel: a plan can ask for the two a CPU-time model can count.
    pub fn channel_scope(self) -> harness_data::Scope {
        match self {
            ModelScope::Machine => harness_data::Scope::Machine,
            ModelScope::Harness => harness_data::Scope::Harness,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.channel_scope().as_str()
    }
}

/// A CPU-time clock, in nanoseconds, with what it counts and its resolution.
pub trait CpuClock: Send {
    fn cpu_ns(&mut self) -> Option<u64>;
    /// What the clock reads, for the manifest.
    fn describe(&self) -> String;
    /// Smallest step of the clock, in nanoseconds.
    fn resolution_ns(&self) -> u64 {
        1_000
    }
    /// Runtimes whose work this clock could not see (their energy rows are flagged).
    fn unseen_runtimes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// `getrusage(RUSAGE_SELF)` + `getrusage(RUSAGE_CHILDREN)`: the harness and the children it has reaped.
pub fn rusage_ns() -> Option<u64> {
    let mut total = 0u64;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: rusage is plain old data, for which all-zero bytes are a valid value.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes the struct we own.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            return None;
        }
        let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        total += (us(usage.ru_utime) + us(usage.ru_stime)) * 1000;
    }
    Some(total)
}

/// Where the machine's CPU time is read.
#[derive(Debug, Clone, PartialEq)]
enum MachineCounter {
    /// cgroup v2 root `cpu.stat`, `usage_usec`.
    CgroupV2(PathBuf),
    /// cgroup v1 root `cpuacct.usage`, nanoseconds.
    CgroupV1(PathBuf),
    /// `/proc/stat` line `cpu`: user + nice + system + irq + softirq, in clock ticks.
    ProcStat(PathBuf, u64),
}

/// The whole machine's CPU time, as a package sensor sees its load.
pub struct MachineCpu {
    counter: MachineCounter,
}

impl MachineCpu {
    /// Finds the first readable counter under `root` (`/` on a real machine).
    pub fn open(root: &Path) -> Result<MachineCpu, ProbeError> {
        let cgroup = root.join("sys/fs/cgroup");
        let ticks = clock_ticks();
        let candidates = [
            MachineCounter::CgroupV2(cgroup.join("cpu.stat")),
            MachineCounter::CgroupV1(cgroup.join("cpuacct/cpuacct.usage")),
            MachineCounter::CgroupV1(cgroup.join("cpu,cpuacct/cpuacct.usage")),
            MachineCounter::ProcStat(root.join("proc/stat"), ticks),
        ];
        let mut tried = Vec::new();
        for counter in candidates {
            let mut clock = MachineCpu {
                counter: counter.clone(),
            };
            if clock.cpu_ns().is_some() {
                return Ok(clock);
            }
            tried.push(clock.describe());
        }
        Err(ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "no machine CPU-time counter is readable (tried {}); use `scope = \"harness\"`",
                tried.join(", ")
            ),
        })
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as u64 } else { 100 }
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `usage_usec` of a cgroup v2 `cpu.stat`, in nanoseconds.
fn cpu_stat_usage_ns(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("usage_usec "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|us| us * 1000)
}

impl CpuClock for MachineCpu {
    fn cpu_ns(&mut self) -> Option<u64> {
        match &self.counter {
            MachineCounter::CgroupV2(path) => cpu_stat_usage_ns(path),
            MachineCounter::CgroupV1(path) => read_u64(path),
            MachineCounter::ProcStat(path, hz) => {
                let text = std::fs::read_to_string(path).ok()?;
                let line = text.lines().find(|l| l.starts_with("cpu "))?;
                let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
                // user nice system idle iowait irq softirq steal: idle, iowait and steal are not this machine's work.
                let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum();
                (fields.len() >= 7).then(|| busy * 1_000_000_000 / hz)
            }
        }
    }

    fn describe(&self) -> String {
        match &self.counter {
            MachineCounter::CgroupV2(p) => format!("root cgroup (v2) {} usage_usec", p.display()),
            MachineCounter::CgroupV1(p) => format!("root cgroup (v1) {}", p.display()),
            MachineCounter::ProcStat(p, _) => format!("{} (user + nice + system + irq + softirq)", p.display()),
        }
    }

    fn resolution_ns(&self) -> u64 {
        match &self.counter {
            MachineCounter::CgroupV2(_) => 1_000,
            MachineCounter::CgroupV1(_) => 1,
            MachineCounter::ProcStat(_, hz) => 1_000_000_000 / hz,
        }
    }
}

/// CPU time of a Docker container's cgroup under `root` (`/` on a real machine), cgroup v1 or v2, in ns.
pub fn container_cpu_ns(root: &Path, id: &str) -> Option<u64> {
    let cgroup = root.join("sys/fs/cgroup");
    read_u64(&cgroup.join(format!("cpuacct/docker/{id}/cpuacct.usage")))
        .or_else(|| read_u64(&cgroup.join(format!("cpu,cpuacct/docker/{id}/cpuacct.usage"))))
        .or_else(|| cpu_stat_usage_ns(&cgroup.join(format!("system.slice/docker-{id}.scope/cpu.stat"))))
        .or_else(|| cpu_stat_usage_ns(&cgroup.join(format!("docker/{id}/cpu.stat"))))
}

/// The containers a run's runtimes started, cold ones included: (runtime, container id). One handle per measure
/// session, given to the container runtime (which records each container as it creates it) and to the model
/// probe (which reads their cgroups while they live). Not `Runtime::served_by`: that names what serves a warm
/// pool *now*; a cold container lives only inside one invocation and must still be counted.
#[derive(Debug, Clone, Default)]
pub struct ContainerLedger(Arc<Mutex<Vec<(String, String)>>>);

impl ContainerLedger {
    /// Called by a container runtime right after it creates a container.
    pub fn record(&self, runtime: &str, id: &str) {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !list.iter().any(|(_, i)| i == id) {
            list.push((runtime.to_string(), id.to_string()));
        }
    }

    /// Every (runtime, container id) recorded so far.
    pub fn containers(&self) -> Vec<(String, String)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The harness, its descendants, and its containers.
pub struct HarnessCpu {
    root: PathBuf,
    pid: u32,
    /// Last value read of each container's cgroup: a removed container keeps what it used.
    containers: BTreeMap<String, (String, Option<u64>)>,
    ledger: ContainerLedger,
    /// The last total, so a child moving from "live" (clock ticks) to "reaped" (microseconds) never steps back.
    last: u64,
    /// The descendants of the last walk: pid -> (parent, clock ticks).
    walked: BTreeMap<u32, (u32, u64)>,
    /// Clock ticks of descendants that left the walk with nobody in it to reap them: a browser's zygote and
    /// renderers when its group is killed (reparented to init, reaped there), a child whose parent died first.
    /// Their time, counted while they lived, stays counted; a child reaped by the harness or by a walked
    /// parent moves into that one's `cutime` instead.
    departed_ticks: u64,
}

impl HarnessCpu {
    pub fn new(root: &Path, ledger: ContainerLedger) -> HarnessCpu {
        HarnessCpu {
            root: root.to_path_buf(),
            pid: std::process::id(),
            containers: BTreeMap::new(),
            ledger,
            last: 0,
            walked: BTreeMap::new(),
            departed_ticks: 0,
        }
    }

    fn container_ns(&self, id: &str) -> Option<u64> {
        container_cpu_ns(&self.root, id)
    }

    /// The live descendants of the harness: pid -> (parent, utime + stime + cutime + cstime in clock ticks).
    /// Walks the kernel's `task/<tid>/children` lists from the harness down (a few small reads per poll);
    /// where the kernel has no such lists (CONFIG_PROC_CHILDREN off), scans every process of `/proc`.
    fn descendants(&self) -> BTreeMap<u32, (u32, u64)> {
        let proc = self.root.join("proc");
        match children_of(&proc, self.pid) {
            Some(children) => {
                let mut found = BTreeMap::new();
                let mut queue = children;
                while let Some(pid) = queue.pop() {
                    if let Some(stat) = read_stat(&proc.join(pid.to_string()).join("stat")) {
                        found.insert(pid, stat);
                    }
                    queue.extend(children_of(&proc, pid).unwrap_or_default());
                }
                found
            }
            None => self.scan_descendants(&proc),
        }
    }

    /// The fallback: every process's parent from its `stat`.
    fn scan_descendants(&self, proc: &Path) -> BTreeMap<u32, (u32, u64)> {
        let Ok(entries) = std::fs::read_dir(proc) else {
            return BTreeMap::new();
        };
        let mut parent: BTreeMap<u32, (u32, u64)> = BTreeMap::new();
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            if let Some((ppid, ticks)) = read_stat(&entry.path().join("stat")) {
                parent.insert(pid, (ppid, ticks));
            }
        }
        let is_descendant = |mut pid: u32| {
            for _ in 0..64 {
                match parent.get(&pid) {
                    Some(&(ppid, _)) if ppid == self.pid => return true,
                    Some(&(ppid, _)) if ppid > 1 => pid = ppid,
                    _ => return false,
                }
            }
            false
        };
        parent
            .iter()
            .filter(|(pid, _)| **pid != self.pid && is_descendant(**pid))
            .map(|(pid, stat)| (*pid, *stat))
            .collect()
    }
}

/// Clock ticks in nanoseconds.
fn ticks_ns(ticks: u64) -> u64 {
    ticks * 1_000_000_000 / clock_ticks()
}

/// The children of every thread of `pid`, from `/proc/<pid>/task/<tid>/children`; `None` when the kernel does
/// not provide the lists.
fn children_of(proc: &Path, pid: u32) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(proc.join(pid.to_string()).join("task")).ok()?;
    let mut children = Vec::new();
    let mut any = false;
    for task in tasks.flatten() {
        let Ok(text) = std::fs::read_to_string(task.path().join("children")) else {
            continue;
        };
        any = true;
        children.extend(text.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
    }
    any.then_some(children)
}

/// (ppid, utime + stime + cutime + cstime) from a `/proc/<pid>/stat`.
fn read_stat(path: &Path) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is the state (field 3); ppid is field 4, utime..cstime are fields 14-17.
    let ppid = fields.get(1)?.parse().ok()?;
    let ticks: u64 = (11..15).filter_map(|i| fields.get(i)?.parse::<u64>().ok()).sum();
    Some((ppid, ticks))
}

impl CpuClock for HarnessCpu {
    fn cpu_ns(&mut self) -> Option<u64> {
        let own = rusage_ns()?;
        let registered = self.ledger.containers();
        for (runtime, id) in registered {
            let now = self.container_ns(&id);
            let entry = self.containers.entry(id).or_insert((runtime, None));
            if now.is_some() {
                entry.1 = now;
            }
        }
        let containers: u64 = self.containers.values().filter_map(|(_, v)| *v).sum();
        let now = self.descendants();
        for (pid, (parent, ticks)) in &self.walked {
            if !now.contains_key(pid) && *parent != self.pid && !now.contains_key(parent) {
                self.departed_ticks += ticks;
            }
        }
        let live: u64 = now.values().map(|(_, t)| t).sum();
        self.walked = now;
        let total = own + ticks_ns(live + self.departed_ticks) + containers;
        self.last = self.last.max(total);
        Some(self.last)
    }

    fn describe(&self) -> String {
        "the harness, its live and reaped descendants (/proc), and its containers' cgroups; not the Docker daemon"
            .into()
    }

    fn resolution_ns(&self) -> u64 {
        1_000_000_000 / clock_ticks()
    }

    /// Every runtime that started containers: even with their cgroups read, the Docker daemon and
    /// containerd-shim that move a container's bytes work outside the harness (a quarter of a warm container
    /// invocation's CPU time on the development VM), so their energy would be biased low.
    fn unseen_runtimes(&self) -> Vec<String> {
        let mut unseen: Vec<String> = self.containers.values().map(|(r, _)| r.clone()).collect();
        unseen.sort();
        unseen.dedup();
        unseen
    }
}

pub struct ModelSource {
    curve: PowerCurve,
    clock: Box<dyn CpuClock>,
    start: Option<(u64, u64)>,
    channels: Vec<ChannelInfo>,
    scope: ModelScope,
}

impl ModelSource {
    pub fn new(curve: PowerCurve, interval_ms: f64, scope: ModelScope, clock: Box<dyn CpuClock>) -> ModelSource {
        let channels = vec![ChannelInfo {
            probe: KIND.into(),
            channel: "cpu-estimate".into(),
            unit: harness_data::Unit::Joule,
            kind: SampleKind::EnergyCounter,
            resolution: curve.busy_w_per_core * clock.resolution_ns() as f64 * 1e-9,
            update_period_ns: (interval_ms.max(0.1) * 1e6) as u64,
            estimated: true,
            scope: scope.channel_scope(),
        }];
        ModelSource {
            curve,
            clock,
            start: None,
            channels,
            scope,
        }
    }

    /// Opens the model with the clock its scope reads, under `root` (`/` on a real machine); a harness-scoped
    /// model also reads the containers `ledger` names.
    pub fn open(
        curve: PowerCurve,
        interval_ms: f64,
        scope: ModelScope,
        root: &Path,
        ledger: &ContainerLedger,
    ) -> Result<Self, ProbeError> {
        let clock: Box<dyn CpuClock> = match scope {
            ModelScope::Machine => Box::new(MachineCpu::open(root)?),
            ModelScope::Harness => Box::new(HarnessCpu::new(root, ledger.clone())),
        };
        Ok(ModelSource::new(curve, interval_ms, scope, clock))
    }
}

impl Source for ModelSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        let reading = match self.clock.cpu_ns() {
            Some(cpu) => {
                let (t0, cpu0) = *self.start.get_or_insert((now_ns, cpu));
                let joules = self.curve.idle_w * (now_ns - t0) as f64 * 1e-9
                    + self.curve.busy_w_per_core * cpu.saturating_sub(cpu0) as f64 * 1e-9;
                Reading::Value(joules)
            }
            None => Reading::Gap(format!("cannot read {}", self.clock.describe())),
        };
        out.push(TimedReading {
            channel: 0,
            t_ns: now_ns,
            reading,
        });
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "ESTIMATED energy: idle {} W + {} W per busy core; scope {}: CPU time of {}",
            self.curve.idle_w,
            self.curve.busy_w_per_core,
            self.scope.as_str(),
            self.clock.describe()
        )];
        let unseen = self.clock.unseen_runtimes();
        if !unseen.is_empty() {
            notes.push(format!(
                "the harness scope does not see the Docker daemon's work for {}: their energy is flagged `unseen`",
                unseen.join(", ")
            ));
        }
        notes
    }

    fn unseen_runtimes(&self) -> Vec<String> {
        self.clock.unseen_runtimes()
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
