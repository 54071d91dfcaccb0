//! The plan file as written: the TOML shape serde reads, before any validation. Every value a validator may
//! refuse keeps its span, so the error can name its line.

use super::modes::PlanMode;
use harness_data::plan::{ColdBoundary, default_baseline_ms, default_timeout_ms, default_warmup};
use harness_probes::spec::ProbeSpec;
use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PlanFile {
    pub seed: Option<u64>,
    pub repetitions: Spanned<u32>,
    #[serde(default = "default_warmup")]
    pub warmup: u32,
    pub runtimes: Vec<Spanned<String>>,
    pub modes: Spanned<Vec<Spanned<PlanMode>>>,
    #[serde(default)]
    pub cooldown_ms: u64,
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default)]
    pub cold_boundary: ColdBoundary,
    pub interrupt: Option<Spanned<String>>,
    /// Signed, so a negative value is refused with its line rather than by serde.
    pub wasm_stack_kib: Option<Spanned<i64>>,
    #[serde(default = "default_baseline_ms")]
    pub baseline_ms: u64,
    pub calibrate_delay: Option<bool>,
    #[serde(default)]
    pub skip_unavailable: bool,
    pub workloads: Spanned<Vec<WorkloadFile>>,
    #[serde(default)]
    pub probes: Vec<Spanned<ProbeSpec>>,
    pub load: Option<Spanned<LoadFile>>,
    /// The runtime comparisons are against (the report's default `--baseline`; required by `precision`).
    pub baseline: Option<Spanned<String>>,
    /// Half-width asked of every ratio interval against the baseline (0.02: +-2%).
    pub precision: Option<Spanned<f64>>,
    pub precision_mode: Option<Spanned<String>>,
    /// Signed, so a negative value is refused with its line rather than by serde.
    pub max_repetitions: Option<Spanned<i64>>,
    pub max_duration: Option<Spanned<String>>,
}

/// `[load]`: levels as signed integers, so a negative one is refused with its line rather than by serde.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoadFile {
    #[serde(default)]
    pub clients: Vec<Spanned<i64>>,
    #[serde(default)]
    pub rates: Vec<Spanned<f64>>,
    #[serde(default)]
    pub burst: Vec<Spanned<i64>>,
    pub duration_ms: Option<Spanned<i64>>,
    pub warmup_ms: Option<Spanned<i64>>,
    pub instances: Option<Spanned<i64>>,
    pub memory_mb: Option<Spanned<i64>>,
    pub idle_ms: Option<Spanned<i64>>,
    pub serving: Option<Spanned<String>>,
}

/// A `[[workloads]]` table: a built-in by `name` and `inputs`, or a WASI command module by `wasm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WorkloadFile {
    pub name: Spanned<String>,
    /// Required for built-ins; a command's input is its `stdin` file and `args`.
    pub inputs: Option<Spanned<Vec<Spanned<String>>>>,
    /// A WASI command module by path (see [`super::commands`]).
    pub wasm: Option<Spanned<String>>,
    pub args: Option<Spanned<Vec<String>>>,
    pub stdin: Option<Spanned<String>>,
    pub native: Option<Spanned<String>>,
    pub js: Option<Spanned<String>>,
    pub preopen_writable: Option<Spanned<bool>>,
}
