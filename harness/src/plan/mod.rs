//! Plans: what to measure, read from TOML. Every error names the file, the line and the field.
//!
//! serde reads the file into its written shape (`file`); then one validator per section checks it and returns
//! the span of what it refuses: `runtimes`, `modes`, `load`, `probes`, `workloads` (built-in ones there, WASI
//! command modules in [`commands`]) and `bounds`. [`Plan::parse_with_vars`] runs them in
//! order and turns a span into the file:line:column the error starts with.

mod bounds;
pub mod commands;
mod file;
mod load;
mod modes;
pub mod precision;
mod probes;
mod runtimes;
pub(crate) mod span;
#[cfg(test)]
mod tests;
mod workloads;

pub use bounds::{MAX_IDLE_MS, MAX_SCHEDULED, MAX_TIMEOUT_MS};
pub use harness_data::plan::{ColdBoundary, Interrupt, PlanWorkload, WasmStack};
pub use harness_probes::spec::ProbeSpec;
pub use load::{MAX_CONCURRENCY, check_duration_ms, check_rate, level_requests};

use file::PlanFile;
use harness_data::load::LoadPlan;
use harness_data::plan::AsRunPlan;
use harness_data::precision::PrecisionPlan;
use harness_data::{Mode, RuntimeKind};
use serde::Serialize;
use span::SpannedError;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read plan {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// A validated plan, as run. Serialized into the manifest.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub seed: u64,
    pub repetitions: u32,
    pub warmup: u32,
    pub runtimes: Vec<RuntimeKind>,
    /// The name each runtime's rows carry, one per `runtimes` entry: the kind's, or `kind:arm` for a second
    /// arm of it.
    pub runtime_names: Vec<String>,
    pub modes: Vec<Mode>,
    pub cooldown_ms: u64,
    pub timeout_ms: u64,
    pub cold_boundary: ColdBoundary,
    /// Deadlines inside Wasm engines: `epoch` (default) or `none` (see [`Interrupt`]).
    pub interrupt: Interrupt,
    /// The Wasm stack of every engine (`wasm_stack_kib`); `None`: wasmtime's default for wasmtime and wasmi,
    /// node's own.
    pub wasm_stack_kib: Option<WasmStack>,
    /// Idle time measured before and after the invocations, for baseline power (when probes are present).
    pub baseline_ms: u64,
    /// Play a load pattern at the start and measure each probe's delay (default: when a probe has its own
    /// latency, i.e. NVML or a serial meter).
    pub calibrate_delay: bool,
    /// Leave out, with the reason in the terminal and the manifest, runtimes this machine cannot run (no
    /// Docker engine, no node 20) instead of failing the run. The default plan sets it.
    pub skip_unavailable: bool,
    pub workloads: Vec<PlanWorkload>,
    pub probes: Vec<ProbeSpec>,
    /// Load levels, when `modes` includes `load`.
    pub load: Option<LoadPlan>,
    /// The runtime comparisons are against (`baseline`): the report's default, and `precision`'s.
    pub baseline: Option<String>,
    /// Measure until every interval against the baseline is narrow enough (`precision` and its budget).
    pub precision: Option<PrecisionPlan>,
}

impl Plan {
    /// The plan as the manifest records it (probes as their options).
    pub fn as_run(&self) -> AsRunPlan {
        AsRunPlan {
            seed: self.seed,
            repetitions: self.repetitions,
            warmup: self.warmup,
            runtimes: self.runtimes.clone(),
            modes: self.modes.clone(),
            cooldown_ms: self.cooldown_ms,
            timeout_ms: self.timeout_ms,
            cold_boundary: self.cold_boundary,
            interrupt: self.interrupt,
            wasm_stack_kib: self.wasm_stack_kib,
            baseline_ms: self.baseline_ms,
            calibrate_delay: self.calibrate_delay,
            skip_unavailable: self.skip_unavailable,
            workloads: self.workloads.clone(),
            probes: self
                .probes
                .iter()
                .map(|p| serde_json::to_value(p).unwrap_or_default())
                .collect(),
            load: self.load.clone(),
            baseline: self.baseline.clone(),
            arms: if self.has_arms() {
                self.runtime_names.clone()
            } else {
                Vec::new()
            },
            precision: self.precision.clone(),
        }
    }

    /// Whether a runtime runs as a second arm (`kind:arm`).
    pub fn has_arms(&self) -> bool {
        self.runtimes
            .iter()
            .zip(&self.runtime_names)
            .any(|(k, n)| k.as_str() != n)
    }

    /// Drops the runtimes `keep` refuses, with their names.
    pub fn retain_runtimes(&mut self, mut keep: impl FnMut(RuntimeKind, &str) -> bool) {
        let (kinds, names): (Vec<_>, Vec<_>) = self
            .runtimes
            .iter()
            .copied()
            .zip(std::mem::take(&mut self.runtime_names))
            .filter(|(k, n)| keep(*k, n))
            .unzip();
        self.runtimes = kinds;
        self.runtime_names = names;
    }

    pub fn load(path: &Path) -> Result<Plan, PlanError> {
        Plan::load_with_vars(path, &[])
    }

    /// Reads a plan whose paths may use `${NAME}`, from `vars` (`--var NAME=VALUE`) or the environment.
    pub fn load_with_vars(path: &Path, vars: &commands::Vars) -> Result<Plan, PlanError> {
        let text = std::fs::read_to_string(path).map_err(|source| PlanError::Read {
            path: path.into(),
            source,
        })?;
        Plan::parse_with_vars(&text, path, vars)
    }

    /// Parses and validates; `path` only labels errors (and is where a command's relative paths start).
    pub fn parse(text: &str, path: &Path) -> Result<Plan, PlanError> {
        Plan::parse_with_vars(text, path, &[])
    }

    /// [`Plan::parse`] with values for `${NAME}` in command workloads' paths.
    pub fn parse_with_vars(text: &str, path: &Path, vars: &commands::Vars) -> Result<Plan, PlanError> {
        let invalid = |(span, message): SpannedError| {
            let (line, column) = span::line_column(text, span.start);
            PlanError::Invalid {
                path: path.into(),
                line,
                column,
                message,
            }
        };
        let file: PlanFile =
            toml::from_str(text).map_err(|e| invalid((e.span().unwrap_or(0..0), e.message().trim().to_string())))?;
        let plan_dir = path.parent().unwrap_or(Path::new("."));
        validate(file, text, plan_dir, vars).map_err(invalid)
    }
}

/// The sections' validators, in the order their errors take precedence.
fn validate(file: PlanFile, text: &str, plan_dir: &Path, vars: &commands::Vars) -> Result<Plan, SpannedError> {
    bounds::repetitions(&file.repetitions)?;
    let runtimes::Named {
        kinds: runtimes,
        names: runtime_names,
    } = runtimes::validate(&file.runtimes)?;
    let modes = modes::validate(&file.modes)?;
    let load = load::validate(file.load.as_ref(), modes.load, file.modes.span())?;
    workloads::not_empty(&file.workloads)?;
    let interrupt = interrupt(file.interrupt.as_ref())?;
    let wasm_stack_kib = file.wasm_stack_kib.as_ref().map(bounds::wasm_stack).transpose()?;
    let probes = probes::validate(text, file.probes)?;
    let workloads = workloads::validate(file.workloads.get_ref(), plan_dir, vars)?;
    load::fits(
        file.load.as_ref(),
        load.as_ref(),
        &runtimes,
        file.workloads.get_ref(),
        &workloads,
    )?;
    let waits = bounds::Waits {
        timeout_ms: file.timeout_ms,
        cooldown_ms: file.cooldown_ms,
        baseline_ms: file.baseline_ms,
    };
    bounds::waits(text, &waits)?;
    let cells: u128 = workloads.iter().map(|w| w.inputs.len() as u128).sum::<u128>()
        * runtimes.len() as u128
        * modes.invocation.len() as u128;
    let (baseline, precision) = precision::validate(
        &precision::PrecisionKeys {
            precision: file.precision.as_ref(),
            baseline: file.baseline.as_ref(),
            mode: file.precision_mode.as_ref(),
            max_repetitions: file.max_repetitions.as_ref(),
            max_duration: file.max_duration.as_ref(),
        },
        &runtime_names,
        &file.repetitions,
    )?;
    if load.is_some() && runtimes.iter().zip(&runtime_names).any(|(k, n)| k.as_str() != n) {
        return Err((
            file.modes.span(),
            "field `modes`: load levels serve one instance per runtime; measure second arms (`kind:arm`) in \
             cold and warm modes only"
                .into(),
        ));
    }
    // A precision run may grow every cell to its budget: that is what must fit.
    let most = precision
        .as_ref()
        .map_or(*file.repetitions.get_ref(), |p| p.max_repetitions);
    let most = Spanned::new(
        file.max_repetitions
            .as_ref()
            .map_or(file.repetitions.span(), Spanned::span),
        most,
    );
    bounds::schedule(cells, &most, file.warmup)?;
    Ok(Plan {
        seed: file.seed.unwrap_or_else(random_seed),
        repetitions: *file.repetitions.get_ref(),
        warmup: file.warmup,
        runtimes,
        runtime_names,
        modes: modes.invocation,
        cooldown_ms: file.cooldown_ms,
        timeout_ms: file.timeout_ms.max(1),
        cold_boundary: file.cold_boundary,
        interrupt,
        wasm_stack_kib,
        baseline_ms: file.baseline_ms,
        calibrate_delay: file
            .calibrate_delay
            .unwrap_or_else(|| probes.iter().any(ProbeSpec::has_own_delay)),
        skip_unavailable: file.skip_unavailable,
        workloads,
        probes,
        load,
        baseline,
        precision,
    })
}

/// `interrupt`: `epoch` (the default) or `none`.
fn interrupt(value: Option<&Spanned<String>>) -> Result<Interrupt, SpannedError> {
    match value {
        Some(value) => value
            .get_ref()
            .parse::<Interrupt>()
            .map_err(|e| (value.span(), format!("field `interrupt`: {e}"))),
        None => Ok(Interrupt::default()),
    }
}

/// A seed for plans that name none; recorded in the manifest so the run can be repeated.
pub fn random_seed() -> u64 {
    let t = harness_probes::clock::unix_ns() as u64;
    t ^ (u64::from(std::process::id()) << 32)
}
