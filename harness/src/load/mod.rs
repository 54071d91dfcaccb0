//! Load mode: each (workload, input, runtime) served at the plan's `[load]` levels, in the seeded shuffled
//! order the rest of a plan uses. Per level: a warm pool sized for it (see [`crate::runtime::warm_pool`]),
//! an idle span with the pool up (memory per instance, idle pool power), then warm-up and the measured window
//! while a monitor thread reads the serving side's memory and CPU. `requests.csv` gets each request as it is
//! served ([`log`]) and `load.csv` a level's row as soon as the level ends, so a crash or Ctrl-C keeps every
//! finished level.

pub mod drive;
pub mod log;
pub mod monitor;
pub mod output;
mod schedule;
pub mod summary;

pub use schedule::{Level, levels, serving_models};

use crate::plan::Plan;
use crate::runtime::setup::PreparedWorkload;
use crate::runtime::{self, Limits, ServedBy};
use anyhow::Context;
use drive::{Driven, Servers, Target};
use harness_analysis::pair::levels::LoadCsv;
use harness_analysis::report::format::{or_dash, short_duration};
use harness_data::{LoadKind, LoadPlan, LoadRecord, RuntimeKind, Serving, files};
use harness_probes::clock::monotonic_ns;
use harness_probes::model::ContainerLedger;
use log::{LevelColumns, LevelLog, RequestsCsv};
use monitor::{Monitored, ServingMeter, machine_share};
pub use output::KnownDigests;
use output::{ExpectedOutput, check_output};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use summary::{LevelLatency, LevelTally};

/// How the load part of a run ended.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    pub levels: u64,
    pub requests: u64,
    pub interrupted: bool,
}

/// `load.csv`, a row per finished level, and `requests.csv`, streamed while levels run.
struct LoadFiles {
    load: LoadCsv,
    requests: Arc<Mutex<RequestsCsv>>,
}

impl LoadFiles {
    fn create(out: &Path) -> anyhow::Result<LoadFiles> {
        Ok(LoadFiles {
            load: LoadCsv::create(out).with_context(|| format!("creating {}", out.join(files::LOAD).display()))?,
            requests: Arc::new(Mutex::new(RequestsCsv::create(out)?)),
        })
    }

    /// Appends a finished level's row; then stops the run if `requests.csv` could not be written (the row
    /// comes first: the level's numbers do not depend on its log).
    fn write(&mut self, row: &LoadRecord) -> anyhow::Result<()> {
        self.load.append(row)?;
        let failure = self.requests.lock().unwrap_or_else(|p| p.into_inner()).failure();
        match failure {
            Some(failure) => anyhow::bail!(failure),
            None => Ok(()),
        }
    }
}

/// Runs every level. `stop` is the Ctrl-C flag: the level in progress ends early and is marked `partial`.
/// `known` holds the digests the run's invocations gave; a level that answers otherwise fails the run, after
/// its row is written.
pub fn run(
    plan: &Plan,
    load: &LoadPlan,
    workloads: &[PreparedWorkload],
    out: &Path,
    stop: &AtomicBool,
    ledger: &ContainerLedger,
    mut known: KnownDigests,
) -> anyhow::Result<LoadOutcome> {
    let mut files = LoadFiles::create(out)?;
    let meter = ServingMeter::new(Path::new("/"));
    let levels = levels(plan, load);
    let mut outcome = LoadOutcome::default();
    for (sequence, level) in levels.iter().enumerate() {
        if stop.load(Ordering::Relaxed) {
            outcome.interrupted = true;
            break;
        }
        let runner = LevelRunner {
            plan,
            load,
            workload: &workloads[level.workload],
            level,
            sequence: sequence as u64,
            meter: &meter,
            ledger,
            requests: &files.requests,
            expected: ExpectedOutput::default(),
        };
        let (row, requests) = runner.run(stop).with_context(|| runner.describe())?;
        eprintln!(
            "load {}/{}: {}: {:.1} req/s, p50 {}, p99 {}{}{}",
            sequence + 1,
            levels.len(),
            runner.describe(),
            row.achieved_rps,
            format_ns(row.p50_ns),
            format_ns(row.p99_ns),
            if row.failed + row.timed_out > 0 {
                format!(", {} failed, {} timed out", row.failed, row.timed_out)
            } else {
                String::new()
            },
            if row.saturated == Some(true) {
                " (saturated)"
            } else {
                ""
            }
        );
        let here = format!("{} ({} {})", row.runtime, row.kind, row.level);
        let checked = check_output(&mut known, (&row.workload, &row.input), &here, &runner.expected)
            .with_context(|| runner.describe());
        files.write(&row)?;
        checked?;
        outcome.levels += 1;
        outcome.requests += requests;
        if row.partial {
            outcome.interrupted = true;
            break;
        }
    }
    Ok(outcome)
}

/// A percentile for the progress line, as the summary at the end writes durations.
fn format_ns(ns: Option<u64>) -> String {
    or_dash(ns, |ns| short_duration(ns as f64))
}

/// The shortest window (and monitored span) over which CPU shares are given: counters step by scheduler
/// ticks, so a burst of a few milliseconds would read above 100%.
const MIN_CPU_SPAN_NS: u64 = 100_000_000;

/// Sleeps `ms` unless `stop` is raised first.
fn idle(ms: u64, stop: &AtomicBool) -> [u64; 2] {
    let start = monotonic_ns();
    let until = start + ms * 1_000_000;
    while monotonic_ns() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10).min(Duration::from_nanos(until.saturating_sub(monotonic_ns()))));
    }
    [start, monotonic_ns()]
}

struct LevelRunner<'a> {
    plan: &'a Plan,
    load: &'a LoadPlan,
    workload: &'a PreparedWorkload,
    level: &'a Level,
    sequence: u64,
    meter: &'a ServingMeter,
    /// Where burst levels' fresh container runtimes record their containers (for a harness-scoped model).
    ledger: &'a ContainerLedger,
    requests: &'a Arc<Mutex<RequestsCsv>>,
    expected: ExpectedOutput,
}

/// What a level's driving and monitoring gave, for its row.
struct LevelRun {
    window: [u64; 2],
    instances: u32,
    driven: Driven,
    latency: LevelLatency,
    /// Requests logged, warm-up included.
    logged: u64,
    pool: PoolFacts,
    monitored: Monitored,
}

/// The pool side of a closed- or open-loop level: what the idle pool measured.
struct PoolFacts {
    idle: Option<[u64; 2]>,
    memory_per_instance: Option<f64>,
}

impl LevelRunner<'_> {
    fn kind(&self) -> RuntimeKind {
        self.plan.runtimes[self.level.runtime]
    }

    fn describe(&self) -> String {
        let workload = &self.plan.workloads[self.level.workload];
        format!(
            "{} {} on {}, {} {}",
            workload.name,
            workload.inputs[self.level.input],
            self.kind(),
            self.level.kind,
            self.level.level
        )
    }

    fn limits(&self) -> Limits {
        Limits {
            timeout_ms: self.plan.timeout_ms,
            interrupt: self.plan.interrupt,
            memory_mb: self.load.memory_mb,
            wasm_stack: self.plan.wasm_stack_kib,
        }
    }

    /// Whether the level's warm pool serves in the harness's own threads: native, and the in-process Wasm
    /// engines unless the plan pre-forks them (`serving = "processes"`).
    fn serves_in_process(&self) -> bool {
        let forked = self.load.serving == Serving::Processes && self.kind().is_wasm_in_process();
        self.kind().is_in_process() && !forked
    }

    fn target(&self) -> Target<'_> {
        Target {
            artifacts: &self.workload.artifacts,
            input: &self.workload.inputs[self.level.input],
            in_process: self.serves_in_process(),
            timeout_ns: self.plan.timeout_ms * 1_000_000,
            expected: &self.expected,
        }
    }

    /// Runs the level; returns its row and the number of requests it logged.
    fn run(&self, stop: &AtomicBool) -> anyhow::Result<(LoadRecord, u64)> {
        let servers: Servers = Mutex::new(Vec::new());
        let done = AtomicBool::new(false);
        let run = match self.level.kind {
            LoadKind::Burst => self.burst(&servers, &done, stop)?,
            LoadKind::Clients | LoadKind::Rate => self.pooled(&servers, &done, stop)?,
        };
        let row = self.record(
            run.window,
            run.instances,
            &run.driven,
            &run.latency,
            &run.pool,
            &run.monitored,
        );
        Ok((row, run.logged))
    }

    /// The level's log into `requests.csv`: requests intended before `window_start_ns` are its warm-up.
    fn start_log(&self, window_start_ns: u64, tally: LevelTally) -> anyhow::Result<LevelLog> {
        let workload = &self.plan.workloads[self.level.workload];
        let columns = LevelColumns {
            workload: workload.name.clone(),
            input: workload.inputs[self.level.input].clone(),
            runtime: self.kind().to_string(),
            kind: self.level.kind,
            level: self.level.level,
            sequence: self.sequence,
            window_start_ns,
        };
        LevelLog::start(Some(Arc::clone(self.requests)), columns, tally)
    }

    /// Runs `drive` with the monitor reading the serving side from `from_ns`; the monitor stops when the
    /// driver ends, however it ends.
    fn monitored<T>(
        &self,
        servers: &Servers,
        from_ns: u64,
        done: &AtomicBool,
        drive: impl FnOnce() -> anyhow::Result<T>,
    ) -> anyhow::Result<(T, Monitored)> {
        std::thread::scope(|scope| {
            let watcher = std::thread::Builder::new()
                .name("monitor".into())
                .spawn_scoped(scope, || monitor::watch(self.meter, servers, from_ns, done))
                .map_err(|e| log::no_thread("the level's monitor", e))?;
            let driven = drive();
            done.store(true, Ordering::Relaxed);
            let monitored = watcher.join().unwrap_or_default();
            Ok((driven?, monitored))
        })
    }

    /// A burst level: `n` fresh runtimes, nothing warm, released at one instant.
    fn burst(&self, servers: &Servers, done: &AtomicBool, stop: &AtomicBool) -> anyhow::Result<LevelRun> {
        let n = self.level.level as u32;
        let (kind, limits, boundary) = (self.kind(), self.limits(), self.plan.cold_boundary);
        // Cold native and cold at the process boundary spawn processes: the harness's memory and CPU
        // are then not the serving side's, and the monitor's readings are left out.
        let in_process = kind.is_wasm_in_process() && boundary == harness_data::plan::ColdBoundary::Platform;
        let target = Target {
            in_process,
            ..self.target()
        };
        let ledger = self.ledger;
        let make = move || runtime::create_at(kind, limits, boundary, ledger);
        // Every request is intended at the release, inside the window, which ends with the last answer.
        let log = self.start_log(0, LevelTally::new(0, u64::MAX))?;
        let driven = self.monitored(servers, 0, done, || drive::burst(&make, &target, n, stop, log.sender()));
        let tally = log.finish()?;
        let ((release, driven), monitored) = driven?;
        let monitored = if in_process {
            monitored
        } else {
            Monitored {
                peak_memory: None,
                serving_cpu_ns: None,
                ..monitored
            }
        };
        let end = tally.last_end_ns.unwrap_or(release).max(release + 1);
        let facts = PoolFacts {
            idle: None,
            memory_per_instance: None,
        };
        Ok(LevelRun {
            window: [release, end],
            instances: n,
            driven,
            logged: tally.seen,
            latency: tally.finish(release, end),
            pool: facts,
            monitored,
        })
    }

    /// A closed- or open-loop level: a warm pool sized for it, its idle span, then warm-up and the window.
    fn pooled(&self, servers: &Servers, done: &AtomicBool, stop: &AtomicBool) -> anyhow::Result<LevelRun> {
        let target = self.target();
        let n = match self.level.kind {
            LoadKind::Clients => self.level.level as u32,
            _ => self.load.instances,
        };
        let empty_host = if target.in_process {
            monitor::return_freed_memory();
            self.meter.memory(&[])
        } else {
            None
        };
        let mut pool = runtime::warm_pool(
            self.kind(),
            self.limits(),
            self.load.serving,
            &self.workload.artifacts,
            n,
            self.ledger,
        )
        .context("starting the warm pool")?;
        // One request each first, so every instance has done its lazy set-up before it idles.
        for instance in pool.iter_mut() {
            let _ = instance.invoke(harness_data::Mode::Warm, target.artifacts, target.input);
        }
        *servers.lock().unwrap_or_else(|p| p.into_inner()) = pool.iter().map(|r| r.served_by()).collect();
        for instance in pool.iter_mut() {
            instance
                .keep_idle_instance(target.artifacts)
                .context("keeping an idle instance for the pool's memory")?;
        }
        let idle_span = idle(self.load.idle_ms, stop);
        let flat: Vec<ServedBy> = pool.iter().flat_map(|r| r.served_by()).collect();
        if target.in_process {
            monitor::return_freed_memory();
        }
        let pool_memory = self.meter.memory(&flat);
        for instance in pool.iter_mut() {
            instance.drop_idle_instances();
        }
        let memory_per_instance = pool_memory.map(|m| {
            let empty = empty_host.map_or(0, |e| e.bytes);
            (m.bytes as f64 - empty as f64) / f64::from(n)
        });
        let start = monotonic_ns();
        let window_start = start + self.load.warmup_ms * 1_000_000;
        let window_end = window_start + self.load.duration_ms * 1_000_000;
        let log = self.start_log(window_start, LevelTally::new(window_start, window_end))?;
        let driven = self.monitored(servers, window_start, done, || match self.level.kind {
            LoadKind::Clients => drive::closed_loop(&mut pool, &target, window_end, stop, servers, log.sender()),
            _ => {
                // A saturated level's backlog is served for at most this long after the window.
                let drain_ns = (self.plan.timeout_ms * 1_000_000).min(5_000_000_000);
                let seed = self.plan.seed ^ self.sequence.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                drive::open_loop(
                    &mut pool,
                    &target,
                    self.level.level,
                    start,
                    window_end,
                    drain_ns,
                    seed,
                    stop,
                    servers,
                    log.sender(),
                )
            }
        });
        let tally = log.finish()?;
        let (driven, monitored) = driven?;
        // Containers are removed and node processes ended here, before the next level.
        drop(pool);
        let end = if driven.interrupted {
            monotonic_ns().clamp(window_start, window_end)
        } else {
            window_end
        };
        let facts = PoolFacts {
            idle: (self.load.idle_ms > 0).then_some(idle_span),
            memory_per_instance,
        };
        let window = [window_start, end.max(window_start + 1)];
        Ok(LevelRun {
            window,
            instances: n,
            driven,
            logged: tally.seen,
            latency: tally.finish(window[0], window[1]),
            pool: facts,
            monitored,
        })
    }

    fn record(
        &self,
        window: [u64; 2],
        instances: u32,
        driven: &Driven,
        latency: &LevelLatency,
        pool: &PoolFacts,
        monitored: &Monitored,
    ) -> LoadRecord {
        let workload = &self.plan.workloads[self.level.workload];
        let duration_ns = window[1] - window[0];
        let level_span_ns = match self.level.kind {
            LoadKind::Burst => duration_ns,
            _ => (self.load.warmup_ms + self.load.duration_ms) * 1_000_000,
        };
        let harness_cpu_cores = driven.dispatch_cpu_ns as f64 / level_span_ns.max(1) as f64;
        let monitor_ns = monitored.span_ns[1].saturating_sub(monitored.span_ns[0]);
        // CPU counters advance in scheduler-tick steps: over a span of a few milliseconds (a burst) a share
        // reads above 100%, so none is given.
        let readable = monitor_ns >= MIN_CPU_SPAN_NS && duration_ns >= MIN_CPU_SPAN_NS;
        let in_process = self.serves_in_process();
        let serving_cpu_cores = monitored.serving_cpu_ns.filter(|_| readable).map(|cpu| {
            let cores = cpu as f64 / monitor_ns as f64;
            // The harness process also runs the generator and clients: theirs is dispatch, not serving.
            if in_process {
                (cores - harness_cpu_cores).max(0.0)
            } else {
                cores
            }
        });
        let offered_rps = match self.level.kind {
            LoadKind::Clients => None,
            LoadKind::Rate => Some(self.level.level),
            LoadKind::Burst => Some(self.level.level / (duration_ns as f64 / 1e9)),
        };
        LoadRecord {
            workload: workload.name.clone(),
            input: workload.inputs[self.level.input].clone(),
            runtime: self.kind().to_string(),
            kind: self.level.kind,
            level: self.level.level,
            instances,
            sequence: self.sequence,
            partial: driven.interrupted,
            window_start_ns: window[0],
            window_end_ns: window[1],
            duration_ns,
            offered_rps,
            achieved_rps: latency.achieved_rps,
            sent: latency.sent,
            completed: latency.completed,
            failed: latency.failed,
            timed_out: latency.timed_out,
            p50_ns: latency.p50_ns,
            p90_ns: latency.p90_ns,
            p99_ns: latency.p99_ns,
            p999_ns: latency.p999_ns,
            mean_ns: latency.mean_ns,
            send_lag_p50_ns: latency.send_lag_p50_ns,
            send_lag_p99_ns: latency.send_lag_p99_ns,
            harness_cpu_cores: Some(harness_cpu_cores),
            cpu_util: monitored
                .machine_busy_ns
                .filter(|_| readable)
                .and_then(|busy| machine_share(busy, monitor_ns)),
            serving_cpu_cores,
            memory_bytes: monitored.peak_memory.map(|m| m.bytes),
            memory_source: monitored
                .peak_memory
                .map(|m| m.source.as_str().to_string())
                .unwrap_or_default(),
            memory_per_instance_bytes: pool.memory_per_instance,
            idle_start_ns: pool.idle.map(|s| s[0]),
            idle_end_ns: pool.idle.map(|s| s[1]),
            energy_channel: String::new(),
            energy_j: None,
            energy_per_request_j: None,
            idle_pool_w: None,
            estimated: None,
            unseen: false,
            saturated: match self.level.kind {
                LoadKind::Rate => Some(summary::saturated(latency)),
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_cover_every_cell_and_kind_in_a_seeded_order() {
        let text = "seed = 3\nrepetitions = 1\nruntimes = [\"native\", \"wasmi\"]\nmodes = [\"load\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"0\"]\n[load]\nclients = [1, 4]\nrates = [100.0]\nburst = [2]\n";
        let plan = Plan::parse(text, Path::new("p.toml")).unwrap();
        let load = plan.load.clone().unwrap();
        let order = levels(&plan, &load);
        assert_eq!(order.len(), 2 * 4);
        assert_eq!(order, levels(&plan, &load));
        let kinds = |k| order.iter().filter(|l| l.kind == k).count();
        assert_eq!(
            (kinds(LoadKind::Clients), kinds(LoadKind::Rate), kinds(LoadKind::Burst)),
            (4, 2, 2)
        );
        let mut other = plan.clone();
        other.seed = 4;
        assert_ne!(order, levels(&other, &load));
    }
}
