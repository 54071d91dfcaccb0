//! The report's load section as data: what `report.md`, `report.html` and `results.json` show of the load
//! levels, computed once by `section.rs`. Times are nanoseconds, energies joules, powers watts, memory
//! bytes.

use harness_data::{LoadKind, LoadRecord};
use serde::{Deserialize, Serialize};

/// One (workload, input): every level of every runtime, the memory density, and the comparisons against the
/// baseline runtime at matched load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSection {
    pub workload: String,
    pub input: String,
    /// Every level, sorted by runtime, kind, level, run.
    pub levels: Vec<LoadLevel>,
    /// Per runtime and pool size: memory per warm instance and the idle pool's power.
    pub density: Vec<MemoryDensity>,
    /// Each runtime against the baseline at the same kind and level, within one run.
    pub comparisons: Vec<LoadComparison>,
    /// Ids of this section's figures in `Report::figures`.
    pub figures: Vec<String>,
    /// Things a reader must know about these numbers, in plain words.
    pub notes: Vec<String>,
}

/// One row of `load.csv` with the run it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadLevel {
    pub run: String,
    #[serde(flatten)]
    pub record: LoadRecord,
}

impl LoadLevel {
    /// The energy per request a comparison or a figure may use: none where the channel cannot see the
    /// runtime's work (biased low) or where nothing was attributed.
    pub fn usable_energy_per_request_j(&self) -> Option<f64> {
        self.record
            .energy_per_request_j
            .filter(|j| !self.record.unseen && j.is_finite())
    }
}

/// Memory and idle power of one runtime's warm pool of `instances`, over the levels that measured it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryDensity {
    pub runtime: String,
    pub instances: u32,
    /// Levels behind the row (closed-loop and open-loop levels with this pool size, across runs).
    pub levels: usize,
    /// Median over the levels of (idle warm pool - empty host) / instances.
    pub memory_per_instance_bytes: Option<f64>,
    /// Peak memory of the serving side over the levels' windows.
    pub memory_bytes: Option<u64>,
    /// What the memory figures measured (`pss`, `rss`, `cgroup`; joined with `/` where levels differ).
    pub memory_source: String,
    /// Median over the levels of the idle pool's power above the baseline; none where the channel cannot see
    /// the runtime.
    pub idle_pool_w: Option<f64>,
    pub estimated: bool,
}

/// One runtime against the baseline at one matched level of one run: ratios of single observations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadComparison {
    pub run: String,
    pub runtime: String,
    pub baseline: String,
    pub kind: LoadKind,
    pub level: f64,
    /// Candidate / baseline.
    pub p50_ratio: Option<f64>,
    pub p99_ratio: Option<f64>,
    pub achieved_rps_ratio: Option<f64>,
    /// None where either side's energy is unseen or missing.
    pub energy_per_request_ratio: Option<f64>,
    /// Either side's energy comes from a model.
    pub estimated: bool,
}

/// One line of a load figure: one runtime, one kind of load, one statistic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadCurve {
    pub runtime: String,
    pub kind: LoadKind,
    /// `p50`, `p99`, or `energy per request`.
    pub statistic: String,
    pub label: String,
    /// (achieved requests/s, value in the figure's unit), in level order.
    pub points: Vec<[f64; 2]>,
}
