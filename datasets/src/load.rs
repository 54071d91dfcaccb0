//! Serving under load: the plan's `[load]` table, one row of `load.csv` per level, one row of `requests.csv`
//! per request. Times are nanoseconds on CLOCK_MONOTONIC, the clock of the probes and of `invocations.csv`.

use crate::Status;
use serde::{Deserialize, Serialize};

/// How a level offers load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadKind {
    /// Closed loop: `level` clients, each sends its next request when its last one is answered.
    Clients,
    /// Open loop: Poisson arrivals at `level` requests/s (seeded); latency counts from the intended send time.
    Rate,
    /// Scale from zero: `level` simultaneous requests with nothing warm.
    Burst,
}

impl LoadKind {
    pub const ALL: [LoadKind; 3] = [LoadKind::Clients, LoadKind::Rate, LoadKind::Burst];

    pub fn as_str(self) -> &'static str {
        match self {
            LoadKind::Clients => "clients",
            LoadKind::Rate => "rate",
            LoadKind::Burst => "burst",
        }
    }
}

impl std::fmt::Display for LoadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The plan's `[load]` table, as run (defaults applied).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadPlan {
    #[serde(default)]
    pub clients: Vec<u32>,
    #[serde(default)]
    pub rates: Vec<f64>,
    #[serde(default)]
    pub burst: Vec<u32>,
    pub duration_ms: u64,
    pub warmup_ms: u64,
    /// Warm instances serving an open-loop level (closed loop: one per client).
    pub instances: u32,
    /// Memory cap of each instance (container cgroup, Wasm store limit, node heap); none when absent.
    #[serde(default)]
    pub memory_mb: Option<u64>,
    /// Idle time with the warm pool up, before each level: memory per instance and idle pool power.
    pub idle_ms: u64,
    /// How the in-process Wasm engines serve a warm pool: worker threads of one host process (the default,
    /// left out of the as-run plan so that plans without the key record what they did before), or one
    /// pre-forked host process per instance.
    #[serde(default, skip_serializing_if = "Serving::is_threads")]
    pub serving: Serving,
}

/// The serving shape of the in-process Wasm engines (`wasmtime-jit`, `wasmtime-aot`, `wasmi`) under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Serving {
    /// One host process (the harness): N worker threads share one engine and one compiled module, as
    /// `wasmtime serve` and Spin do.
    #[default]
    Threads,
    /// N host processes (pre-forked workers, `harness serve-wasm`): each its own engine, compiled module and
    /// instance pool, one request at a time.
    Processes,
}

impl Serving {
    pub const VALUES: &'static str = "threads (one host process, a worker thread per instance sharing one engine), processes (a pre-forked host process per instance, each with its own engine)";

    pub fn as_str(self) -> &'static str {
        match self {
            Serving::Threads => "threads",
            Serving::Processes => "processes",
        }
    }

    pub fn is_threads(&self) -> bool {
        *self == Serving::Threads
    }
}

impl std::fmt::Display for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Serving {
    type Err = String;

    fn from_str(s: &str) -> Result<Serving, String> {
        match s {
            "threads" => Ok(Serving::Threads),
            "processes" => Ok(Serving::Processes),
            other => Err(format!("unknown serving `{other}`; valid values: {}", Serving::VALUES)),
        }
    }
}

pub fn default_load_duration_ms() -> u64 {
    5000
}

pub fn default_load_warmup_ms() -> u64 {
    1000
}

pub fn default_load_instances() -> u32 {
    8
}

pub fn default_load_idle_ms() -> u64 {
    1000
}

/// One row of `load.csv`: one (workload, input, runtime, level). Written when the level ends; the energy
/// columns are filled in when the run's samples are paired (`harness pair` recomputes them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadRecord {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub kind: LoadKind,
    /// Clients, requests/s, or burst size.
    pub level: f64,
    /// Instances that served the level (closed loop and burst: one per client or request).
    pub instances: u32,
    /// Position of the level in the run's shuffled order.
    pub sequence: u64,
    /// Interrupted (Ctrl-C) before the level's measured time ended: its numbers cover less than `duration_ns`.
    pub partial: bool,
    /// The measured window (after warm-up); requests intended inside it are the level's requests.
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    pub duration_ns: u64,
    /// Open loop: the rate asked for. Burst: the burst size over its makespan. Closed loop: none.
    pub offered_rps: Option<f64>,
    /// Requests intended inside the window and answered (status ok) by its end, per second of window.
    pub achieved_rps: f64,
    /// Requests intended inside the window.
    pub sent: u64,
    pub completed: u64,
    /// Failed other than by a timeout (trap, error, a killed instance).
    pub failed: u64,
    pub timed_out: u64,
    /// Latency percentiles of completed and timed-out requests, from the intended send time.
    pub p50_ns: Option<u64>,
    pub p90_ns: Option<u64>,
    pub p99_ns: Option<u64>,
    pub p999_ns: Option<u64>,
    pub mean_ns: Option<f64>,
    /// Actual minus intended send time (open loop: the generator's lag; zero by construction elsewhere).
    pub send_lag_p50_ns: Option<u64>,
    pub send_lag_p99_ns: Option<u64>,
    /// CPU time of the harness's own dispatch (generator, clients, minus time inside in-process runtimes), in
    /// cores (1.0 = one core busy for the whole window).
    pub harness_cpu_cores: Option<f64>,
    /// The machine's CPU busy share over the window, 0..1 of all cores; none for windows under 100 ms (a
    /// burst), where the counters' tick steps would read above 100%.
    pub cpu_util: Option<f64>,
    /// CPU of the serving side in cores: the harness process (in-process runtimes), node processes, or the
    /// containers' cgroups.
    pub serving_cpu_cores: Option<f64>,
    /// Peak memory of the serving side during the window: PSS of the harness (in-process runtimes) or of the
    /// node processes, cgroup memory of the containers.
    pub memory_bytes: Option<u64>,
    /// What `memory_bytes` measured: `pss`, `rss` or `cgroup`.
    pub memory_source: String,
    /// (Idle warm pool - empty host) / instances, measured before the level (not for burst).
    pub memory_per_instance_bytes: Option<f64>,
    /// The idle span with the warm pool up, before the level.
    pub idle_start_ns: Option<u64>,
    pub idle_end_ns: Option<u64>,
    /// Which channel the energy columns come from (`probe/channel`).
    pub energy_channel: String,
    /// Net energy of the window (gross minus the run's baseline power x duration), J.
    pub energy_j: Option<f64>,
    /// `energy_j` / completed.
    pub energy_per_request_j: Option<f64>,
    /// Mean power of the idle warm pool minus the run's baseline power, W.
    pub idle_pool_w: Option<f64>,
    /// The energy came from a model, not a sensor.
    pub estimated: Option<bool>,
    /// The energy channel cannot see all the serving side's work (a harness-scoped model and containers).
    pub unseen: bool,
    /// Open loop: achieved below 90% of the requests that arrived in the window (the Poisson draw, so a short
    /// window's chance shortfall against the nominal rate is not saturation). Closed loop and burst: none.
    pub saturated: Option<bool>,
}

impl LoadRecord {
    pub const COLUMNS: &'static [&'static str] = &[
        "workload",
        "input",
        "runtime",
        "kind",
        "level",
        "instances",
        "sequence",
        "partial",
        "window_start_ns",
        "window_end_ns",
        "duration_ns",
        "offered_rps",
        "achieved_rps",
        "sent",
        "completed",
        "failed",
        "timed_out",
        "p50_ns",
        "p90_ns",
        "p99_ns",
        "p999_ns",
        "mean_ns",
        "send_lag_p50_ns",
        "send_lag_p99_ns",
        "harness_cpu_cores",
        "cpu_util",
        "serving_cpu_cores",
        "memory_bytes",
        "memory_source",
        "memory_per_instance_bytes",
        "idle_start_ns",
        "idle_end_ns",
        "energy_channel",
        "energy_j",
        "energy_per_request_j",
        "idle_pool_w",
        "estimated",
        "unseen",
        "saturated",
    ];

    /// Achieved below this share of offered marks an open-loop level saturated.
    pub const SATURATION_SHARE: f64 = 0.9;
}

/// One row of `requests.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub kind: LoadKind,
    pub level: f64,
    /// The level's `sequence` in `load.csv`.
    pub sequence: u64,
    /// Which instance served it.
    pub instance: u32,
    /// Sent during the level's warm-up (left out of its numbers).
    pub warmup: bool,
    /// When it should have been sent (open loop: the Poisson schedule; burst: the release).
    pub intended_ns: u64,
    /// When the harness sent it (open loop: put it on the dispatch queue).
    pub sent_ns: u64,
    /// When an instance began serving it.
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: Status,
    /// Why it failed, empty when ok.
    pub error: String,
}

impl RequestRecord {
    pub const COLUMNS: &'static [&'static str] = &[
        "workload",
        "input",
        "runtime",
        "kind",
        "level",
        "sequence",
        "instance",
        "warmup",
        "intended_ns",
        "sent_ns",
        "start_ns",
        "end_ns",
        "status",
        "error",
    ];
}
