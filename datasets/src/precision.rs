//! Precision you ask for (the plan's `precision`): what was asked, and per cell what the looks saw and where
//! measuring stopped. The stopping rule itself lives in `harness_analysis::stats::precision`.

use crate::Mode;
use serde::{Deserialize, Serialize};

/// How the intervals of a precision run are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionMode {
    /// The rule looks at interval widths only, and the report's intervals and tests stay at its own level:
    /// stopping on width distorts coverage far less than stopping on a p-value (Chow and Robbins 1965).
    #[default]
    Width,
    /// The final intervals and tests are at alpha/K for K planned looks (repeated confidence intervals,
    /// Jennison and Turnbull ch. 9): coverage holds whatever the stopping rule.
    Strict,
}

impl PrecisionMode {
    pub const VALUES: &'static str = "width (stop on interval widths, intervals at the report's level), strict (intervals and tests at alpha/K over K looks)";

    pub fn as_str(self) -> &'static str {
        match self {
            PrecisionMode::Width => "width",
            PrecisionMode::Strict => "strict",
        }
    }
}

impl std::str::FromStr for PrecisionMode {
    type Err = String;

    fn from_str(s: &str) -> Result<PrecisionMode, String> {
        match s {
            "width" => Ok(PrecisionMode::Width),
            "strict" => Ok(PrecisionMode::Strict),
            other => Err(format!(
                "unknown precision_mode `{other}`; valid values: {}",
                PrecisionMode::VALUES
            )),
        }
    }
}

/// The plan's precision target, as run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionPlan {
    /// The half-width asked of every ratio-of-medians interval against the baseline (0.02: +-2%).
    pub target: f64,
    /// The runtime every other one is compared with (the plan's `baseline`).
    pub baseline: String,
    #[serde(default)]
    pub mode: PrecisionMode,
    /// Sampled units (repetitions) a cell may reach at most.
    pub max_repetitions: u32,
    /// Wall-clock budget of the measured rounds, in seconds (none: repetitions alone bound the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration_s: Option<u64>,
    /// Repetitions per cell at each look, doubling from the plan's `repetitions` up to `max_repetitions`.
    pub looks: Vec<u32>,
}

/// Why a cell stopped being measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrecisionStop {
    /// Still being measured (a manifest written between looks).
    Running,
    /// Every interval it is part of reached the target.
    Met,
    /// It reached `max_repetitions` first.
    MaxRepetitions,
    /// The run's `max_duration` ran out first.
    MaxDuration,
    /// A stop signal, a digest mismatch or a write error ended the run.
    Interrupted,
    /// No interval could be formed (no baseline cell, or no successful invocation on a side): measured as a
    /// fixed design.
    NoInterval,
}

impl PrecisionStop {
    pub fn as_str(self) -> &'static str {
        match self {
            PrecisionStop::Running => "running",
            PrecisionStop::Met => "met",
            PrecisionStop::MaxRepetitions => "max_repetitions",
            PrecisionStop::MaxDuration => "max_duration",
            PrecisionStop::Interrupted => "interrupted",
            PrecisionStop::NoInterval => "no interval",
        }
    }
}

/// What one look saw of one cell: its repetitions so far and the widest interval half-width it is part of, per
/// metric (a candidate: its comparison with the baseline; the baseline: the widest of its comparisons).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionLook {
    pub repetitions: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_half_width: Option<f64>,
    /// On the whole-machine channel the report shows; absent where its energy is not usable yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_half_width: Option<f64>,
    /// Since the first measured round began.
    pub elapsed_ms: u64,
}

/// One cell of a precision run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionCell {
    pub workload: String,
    pub input: String,
    pub mode: Mode,
    pub runtime: String,
    pub looks: Vec<PrecisionLook>,
    /// Measured repetitions (sampled units: invocations, or batch windows) at the end.
    pub repetitions: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_half_width: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_half_width: Option<f64>,
    pub met: bool,
    pub stopped: PrecisionStop,
    /// Where the target was missed: the widest half-width reached minus the target (0.013: 1.3 points wide).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_by: Option<f64>,
}

/// The manifest's `precision`: the target as run, the level its looks used, and every cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionRecord {
    pub plan: PrecisionPlan,
    /// The confidence level of the intervals the looks measured (and the report must use): 0.95, or
    /// 1 - 0.05/K in strict mode.
    pub level: f64,
    pub cells: Vec<PrecisionCell>,
    /// Why the rounds ended: every cell met, or a budget ran out.
    pub ended: String,
}
