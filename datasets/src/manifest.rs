//! `manifest.json`: what was run, where, with what, and how it ended.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `format_version` this harness writes and reads; a reader refuses any other.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Every scheduled invocation ran.
    Complete,
    /// Interrupted (Ctrl-C, crash) or still being written: every row on disk is valid, some are missing.
    Partial,
    /// Stopped by a fault that makes the run unusable (a digest mismatch, a probe that failed to start).
    Failed,
}

/// One reading of the monotonic clock and the wall clock taken back to back, so monotonic times in the run
/// can be placed on the calendar. `uncertainty_ns` is the gap between the two reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub monotonic_ns: u64,
    pub unix_ns: u128,
    pub uncertainty_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFingerprint {
    pub hostname: String,
    /// The device name given with `harness measure --device` (a fleet names each host so): the `device` of
    /// exports and digest checks, before `hostname`. Absent when none was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    pub cpu_model: String,
    pub logical_cores: usize,
    pub memory_bytes: u64,
    pub kernel: String,
    pub arch: String,
    /// `scaling_governor` of cpu0, when cpufreq is exposed.
    pub governor: Option<String>,
    /// What a board's power state was where readable: `model` (device tree), `governors` (per CPU where they
    /// differ), `nvpmodel` (Jetson power mode), `jetson_clocks` (CPU clocks pinned: min = max), `throttled`
    /// (Raspberry Pi firmware flags, decoded). Runs of one device in different states are not comparable.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub power_state: BTreeMap<String, String>,
}

/// Engine name to version, e.g. `wasmtime` -> `48.0.8`.
pub type EngineVersions = BTreeMap<String, String>;

/// Sizes in bytes of each workload's artifacts, keyed by workload name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArtifactSizes {
    pub native_bytes: Option<u64>,
    pub wasm_bytes: Option<u64>,
    pub cwasm_bytes: Option<u64>,
    pub container_image_bytes: Option<u64>,
    /// The container image's architecture as its config says (`amd64`, `arm64`): built for the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_image_architecture: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub harness_version: String,
    pub status: RunStatus,
    /// Why the run is partial or failed.
    pub status_reason: Option<String>,
    pub seed: u64,
    pub anchor: Anchor,
    pub started_unix_ns: u128,
    pub finished_unix_ns: Option<u128>,
    pub host: HostFingerprint,
    pub engines: EngineVersions,
    pub artifacts: BTreeMap<String, ArtifactSizes>,
    /// The plan as run, after defaults were applied.
    pub plan: crate::plan::AsRunPlan,
    pub scheduled_invocations: u64,
    pub recorded_invocations: u64,
    /// Energy probes as they ran (empty: latency only).
    #[serde(default)]
    pub probes: Vec<crate::ProbeManifest>,
    /// True when every energy figure of the run comes from a model: the run's energy is estimated.
    #[serde(default)]
    pub energy_estimated: bool,
    /// Warm cells measured in batch windows, and why.
    #[serde(default)]
    pub batching: Vec<crate::BatchPlan>,
    /// Idle spans measured before and after the invocations ([start, end] on the run clock), from which
    /// each channel's baseline power is taken.
    #[serde(default)]
    pub baseline_before_ns: Option<[u64; 2]>,
    #[serde(default)]
    pub baseline_after_ns: Option<[u64; 2]>,
    /// What the machine's CPUs did during each idle span (absent in runs written before it was measured, and
    /// where `/proc/stat` is unreadable): a span busy with foreign load flags the baselines taken there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_load_before: Option<crate::IdleLoad>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_load_after: Option<crate::IdleLoad>,
    /// The busy spans of the load pattern played for delay calibration (empty: no calibration).
    #[serde(default)]
    pub calibration_busy_ns: Vec<[u64; 2]>,
    /// Per runtime, how an endless guest is stopped: `epoch` (wasmtime epoch interruption), `fuel` (wasmi),
    /// `watchdog` (a killed child process), `none` (the engine at its own speed). Deadline mechanisms cost
    /// guest speed, so every comparison involving the runtime must say which one ran.
    #[serde(default)]
    pub interrupt: BTreeMap<String, String>,
    /// Per Wasm runtime, the stack its engine was given (`wasm_stack_kib`): wasmtime's `max_wasm_stack`,
    /// wasmi's frame and value-stack limits, node's V8 `--stack-size`. A program deeper than that traps, so a
    /// comparison must say what each engine admitted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stack: BTreeMap<String, String>,
    /// Load mode: per runtime, how it serves concurrent requests (the table in docs/load.md).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serving: BTreeMap<String, String>,
    /// Load mode: per runtime, the shape of its serving side: `threads` (worker threads of one host process:
    /// native, and the in-process Wasm engines with `[load] serving = "threads"`), `processes` (a process per
    /// instance: node, and the in-process Wasm engines with `serving = "processes"`) or `containers`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub serving_shape: BTreeMap<String, String>,
    /// Runtimes of the plan left out because this machine cannot run them (`skip_unavailable`), and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skipped: BTreeMap<String, String>,
    /// The plan's `precision`: every look per cell and where measuring stopped (absent without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<crate::precision::PrecisionRecord>,
    /// Per browser runtime (`chromium-wasm`, `chromium-js`): what its last page said of its timer and clock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub browsers: BTreeMap<String, BrowserFacts>,
    /// `harness run`: the commands as asked (each a runtime of the run, by its name) and how they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecRecord>,
}

/// A browser runtime's page, as it reported itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrowserFacts {
    /// `crossOriginIsolated` in the page: the loopback server's COOP/COEP headers took effect.
    pub cross_origin_isolated: bool,
    /// The smallest step `performance.now()` took in the page, microseconds (5 in Chromium when isolated).
    pub timer_step_us: f64,
    /// Half-width of the handshake that maps the page's clock onto CLOCK_MONOTONIC, ns: phases inside the page
    /// are placed within this of the run's clock.
    pub clock_bound_ns: u64,
    /// The idle span with this runtime's browser up (launched, its page open, nothing running), on the run's
    /// clock: pairing turns it into `idle_browser_w`. Absent where the run measured no energy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_span_ns: Option<[u64; 2]>,
    /// What the machine's CPUs did over that span (the browser's own processes count as foreign there): a busy
    /// span gives no `idle_browser_w` on machine-wide channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_load: Option<IdleLoad>,
}

/// What `harness run` was asked: its commands and the options that shape every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecRecord {
    /// `sh` (or `--shell`'s program) runs each line with `-c`; `none` (`-N`) runs it directly.
    pub shell: String,
    /// `interleaved` (the seeded shuffle) or `sequential` (hyperfine's order).
    pub order: String,
    pub commands: Vec<ExecCommand>,
    /// `--input`: each run's stdin (else /dev/null).
    pub input: Option<String>,
    /// `null` or `inherit` (`--show-output`).
    pub output: String,
    pub timeout_ms: Option<u64>,
    pub ignore_failure: bool,
    /// Runs per command: `runs` (`-r`), or estimated from one trial run (`min_runs`..`max_runs`, 3 s).
    pub runs_from: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecCommand {
    /// The runtime name its rows carry.
    pub name: String,
    pub command: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<(String, String)>,
    pub reference: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepare: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclude: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

/// What the machine's CPUs did over one idle span: the whole machine's busy CPU (from `/proc/stat`), the
/// harness's own (its threads and reaped children: `getrusage`), and the rest, in cores (CPU-seconds per
/// second of the span).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdleLoad {
    pub machine_cores: f64,
    pub harness_cores: f64,
    /// `machine_cores - harness_cores`, at least 0: what other processes kept busy.
    pub foreign_cores: f64,
    /// Where `machine_cores` came from (`/proc/stat`).
    pub source: String,
}

impl IdleLoad {
    /// Whether the span was busy beyond [`crate::BUSY_BASELINE_FOREIGN_CORES`].
    pub fn is_busy(&self) -> bool {
        self.foreign_cores > crate::BUSY_BASELINE_FOREIGN_CORES
    }
}

/// Why a `manifest.json` could not be read as this harness's [`Manifest`].
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(
        "format_version {found}, but this harness ({reader}) reads format_version {MANIFEST_FORMAT_VERSION} only; the run was written by harness {writer}: read it with that version or a newer one",
        reader = env!("CARGO_PKG_VERSION")
    )]
    UnknownFormat { found: u32, writer: String },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl Manifest {
    /// Parses a `manifest.json`, refusing one written in a format this harness does not know before its fields
    /// are read: a newer format may mean something else by the same fields. Every reader of a run's manifest
    /// (report, export, pair, fit-model, the replay probe) goes through here.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        #[derive(Deserialize)]
        struct Version {
            format_version: Option<u32>,
            harness_version: Option<String>,
        }
        // Not JSON with those fields: the full parse names what is wrong.
        if let Ok(version) = serde_json::from_slice::<Version>(bytes)
            && let Some(found) = version.format_version
            && found != MANIFEST_FORMAT_VERSION
        {
            return Err(ManifestError::UnknownFormat {
                found,
                writer: version.harness_version.unwrap_or_else(|| "unknown".into()),
            });
        }
        Ok(serde_json::from_slice(bytes)?)
    }
}
