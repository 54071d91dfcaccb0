//! The report as data: everything `report.md`, `report.html` and `results.json` show, computed once by
//! [`super::build`]; the renderers only format it. Times are nanoseconds, energies joules, powers watts.

use crate::stats::cliff::CliffsDelta;
use crate::stats::describe::Summary;
pub use crate::stats::detectable::DetectableEffect;
use crate::stats::{Interval, RankTestResult};
use harness_data::{Mode, RunStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the `results.json` layout.
pub const RESULTS_FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub format_version: u32,
    pub harness_version: String,
    pub baseline: String,
    pub settings: Settings,
    pub runs: Vec<RunInfo>,
    /// The results at a glance: per mode and metric, (workload, input) down and runtimes across, each
    /// runtime's ratio of medians against the baseline with its interval and verdict (from `comparisons`).
    #[serde(default)]
    pub glance: Vec<GlanceTable>,
    /// Artifact sizes per workload, from the manifests (runs that recorded the same sizes share a row).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactRow>,
    /// One per (workload, input, runtime, mode), in that order.
    pub groups: Vec<GroupReport>,
    /// Every runtime against the baseline, per (workload, input, mode), for latency and per energy channel.
    pub comparisons: Vec<Comparison>,
    /// Groups with fewer measured invocations than the plan scheduled.
    pub incomplete: Vec<Incomplete>,
    pub figures: Vec<Figure>,
    /// Things a reader must know (estimated energy, partial runs, missing baselines), in plain words.
    pub notes: Vec<String>,
    /// The whole-machine channel the energy glance and the cold premium use (the terminal summary's), by the
    /// one rule of `crate::machine_channel`; absent without usable energy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_channel: Option<ShownChannel>,
    /// Per (workload, input, runtime) measured cold and warm: energy of a cold start minus a warm invocation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cold_premium: Vec<ColdPremium>,
    /// Serving under load, one section per (workload, input) with load levels; absent when the runs have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<LoadSection>,
    /// Per run measured with `precision`: its looks, and per cell the width reached and whether it met the
    /// target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub precision: Vec<PrecisionSection>,
}

pub use super::precision::PrecisionSection;

pub use super::cold_premium::ColdPremium;
pub use super::load::model::{LoadComparison, LoadCurve, LoadLevel, LoadSection, MemoryDensity};
pub use crate::energy_summary::{Basis, EnergySummary, ShownChannel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub resamples: usize,
    pub seed: u64,
    /// Confidence level of every interval, e.g. 0.95.
    pub level: f64,
    /// Relative half-width of the equivalence band: 0.02 means ratios within [0.98, 1.02] are "equivalent".
    pub equivalence_band: f64,
    /// Significance level applied to Holm-adjusted p-values.
    pub alpha: f64,
    /// IQR ratio at or above which two samples count as differently spread (Brunner-Munzel instead of
    /// Mann-Whitney).
    pub spread_ratio_for_brunner_munzel: f64,
    /// What the bootstrap resamples (clusters, and runs where the report has several).
    pub ci_method: String,
    /// The unit rank tests and Cliff's delta count (one value per batch window, paired row or invocation).
    pub test_unit: String,
    pub outlier_rule: String,
    pub energy_metric: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub name: String,
    pub dir: String,
    pub hostname: String,
    pub cpu_model: String,
    pub status: RunStatus,
    pub status_reason: Option<String>,
    pub scheduled_invocations: u64,
    pub recorded_invocations: u64,
    /// The run has `paired.csv`.
    pub has_energy: bool,
    pub energy_estimated: bool,
    pub probes: Vec<String>,
    pub engines: BTreeMap<String, String>,
    /// Per runtime, how its deadline was enforced (`epoch`, `fuel`, `watchdog`, `none`): it changes guest speed.
    pub interrupt: BTreeMap<String, String>,
}

/// Groups are keyed by the cell they measured.
pub use harness_data::CellKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupReport {
    #[serde(flatten)]
    pub key: CellKey,
    /// Measured (non-warm-up) invocations, whatever their status.
    pub measured: usize,
    pub warmups: usize,
    /// Measured invocations with status `ok`: the latency sample.
    pub ok: usize,
    /// Measured invocations by status other than `ok`, left out of latency statistics.
    pub failed: BTreeMap<String, usize>,
    /// Batch windows, when warm invocations were measured in batches.
    pub batches: Option<usize>,
    /// Runs the group's rows come from.
    pub runs: usize,
    /// Coefficient of variation of the per-run median latencies, with 2 runs or more.
    pub between_run_cv: Option<f64>,
    pub latency_ns: Option<Summary>,
    pub outliers: Option<LatencyOutliers>,
    pub energy: Vec<ChannelEnergy>,
    /// Energy per invocation on the report's `energy_channel`, as the terminal summary shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_at_a_glance: Option<EnergySummary>,
}

/// Tukey-fence outliers of a group's latency: counted and listed, never dropped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyOutliers {
    /// `[low severe, low mild, high mild, high severe]`, ns.
    pub fences_ns: [f64; 4],
    pub low_severe: usize,
    pub low_mild: usize,
    pub high_mild: usize,
    pub high_severe: usize,
    /// `sequence` of each flagged invocation (with its run where the report has several).
    pub flagged: Vec<FlaggedInvocation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedInvocation {
    pub run: String,
    pub sequence: u64,
    pub latency_ns: f64,
}

/// Energy per invocation of one group on one probe channel (from `paired.csv`; a batch window counts once,
/// with its energy divided by its invocations).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelEnergy {
    pub probe: String,
    pub channel: String,
    /// Whose work the channel sees (`machine`, `harness`, `gpu`), from the rows; empty when they do not say.
    pub scope: String,
    /// From a model, not a sensor: every figure here is an estimate.
    pub estimated: bool,
    /// Rows of `paired.csv` (invocations or batch windows).
    pub windows: usize,
    pub invocations: u64,
    /// Rows by `quality`.
    pub quality: BTreeMap<String, usize>,
    /// Rows by `flag` (`unseen`, `low_busy_share`): kept out of the summaries below and of comparisons.
    pub flagged: BTreeMap<String, usize>,
    /// Rows the summaries use: usable quality and no flag.
    pub used: usize,
    /// Coefficient of variation of the per-run medians of `gross_j`, with 2 runs or more.
    pub between_run_cv: Option<f64>,
    /// Energy per invocation before subtracting idle power, J.
    pub gross_j: Option<Summary>,
    /// Energy per invocation after subtracting idle power, J.
    pub net_j: Option<Summary>,
    /// Mean power over each window, W.
    pub power_w: Option<Summary>,
    /// Energy-delay product per invocation: gross energy (J) x latency (s), J*s.
    pub edp_js: Option<Summary>,
    /// Idle power subtracted, W (the mean over the group's rows).
    pub baseline_w: Option<f64>,
    /// Browser runtimes: the browser's own idle power (page open, nothing running) above the machine's, W (the
    /// median over the group's rows); absent for other runtimes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_browser_w: Option<f64>,
    /// Browser runtimes: energy per invocation net of the machine's idle power and of the browser's idle power
    /// over the invocation's latency, J: what the work costs beyond keeping a browser up that long.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_browser_j: Option<Summary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Metric {
    Latency,
    /// Gross energy per invocation on one channel.
    Energy {
        probe: String,
        channel: String,
        estimated: bool,
        /// Whose work the channel sees, as [`ChannelEnergy::scope`].
        #[serde(default)]
        scope: String,
    },
}

impl Metric {
    pub fn label(&self) -> String {
        match self {
            Metric::Latency => "latency".into(),
            Metric::Energy {
                probe,
                channel,
                estimated,
                ..
            } => format!(
                "energy {probe}/{channel}{}",
                if *estimated { " (estimated)" } else { "" }
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Faster,
    Slower,
    LessEnergy,
    MoreEnergy,
    Equivalent,
    Inconclusive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Faster => "faster",
            Verdict::Slower => "slower",
            Verdict::LessEnergy => "less energy",
            Verdict::MoreEnergy => "more energy",
            Verdict::Equivalent => "equivalent",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub workload: String,
    pub input: String,
    pub mode: Mode,
    pub runtime: String,
    pub baseline: String,
    pub metric: Metric,
    /// What `n_*` counts: `batch` (a batch window's median latency), `window` (a paired row's energy per
    /// invocation) or `invocation`.
    pub unit: String,
    /// Units the rank test and Cliff's delta use (batches, windows or invocations, pooled across runs).
    pub n_candidate: usize,
    pub n_baseline: usize,
    /// Invocations behind those units.
    pub invocations_candidate: u64,
    pub invocations_baseline: u64,
    /// Units resampled by the bootstrap (batches or single invocations).
    pub clusters_candidate: usize,
    pub clusters_baseline: usize,
    /// Runs resampled by the bootstrap (several: hierarchical, runs then clusters).
    pub runs_candidate: usize,
    pub runs_baseline: usize,
    /// Median of the candidate / median of the baseline.
    pub ratio_of_medians: Option<Interval>,
    pub test: Option<RankTestResult>,
    /// The test's p-value after Holm's correction across every comparison of the report.
    pub p_holm: Option<f64>,
    /// The smallest p-value Mann-Whitney can give at these unit counts (complete separation, no ties); with
    /// Holm, what decides whether `verdict_note` says the counts cannot reach alpha.
    pub min_attainable_p: Option<f64>,
    /// Positive: the candidate tends to be larger (slower, more energy).
    pub cliffs_delta: Option<CliffsDelta>,
    pub verdict: Verdict,
    /// Why the verdict is what it is when the data cannot say more, e.g. "inconclusive: 5 batches per side
    /// cannot reach alpha 0.05 after Holm".
    pub verdict_note: Option<String>,
    /// For an inconclusive verdict with an interval: the smallest effect its data could have detected (at its
    /// Holm-adjusted alpha, 80% power) and about how many more units would resolve the equivalence band.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detectable: Option<DetectableEffect>,
    /// How the deadlines of the two runtimes were enforced, when either is not `none`, e.g.
    /// "wasmtime-jit: epoch, native: none": the mechanism costs guest speed.
    pub interrupt: Option<String>,
    /// Energy rows left out by flag, per side (`unseen`, `low_busy_share`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flagged_candidate: BTreeMap<String, usize>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub flagged_baseline: BTreeMap<String, usize>,
}

/// One matrix of the results at a glance: one mode, one metric (latency, or one energy channel), every
/// (workload, input) with a comparison down, every runtime compared across. Built from `Report::comparisons`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlanceTable {
    pub mode: Mode,
    /// For energy, `estimated` when either side of any comparison in the table comes from a model.
    pub metric: Metric,
    /// The columns, in plan order (then by name); the baseline is not one of them.
    pub runtimes: Vec<String>,
    /// In plan order of workloads and inputs (then by name).
    pub rows: Vec<GlanceRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlanceRow {
    pub workload: String,
    pub input: String,
    /// The baseline's median: latency in ns, or gross energy per invocation in J (usable rows only).
    pub baseline_median: Option<f64>,
    /// One per entry of `GlanceTable::runtimes`, in that order; null where that runtime has no comparison
    /// for this (workload, input).
    pub cells: Vec<Option<GlanceCell>>,
}

/// A runtime against the baseline, as its [`Comparison`] says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlanceCell {
    /// Candidate median / baseline median, with its interval.
    pub ratio_of_medians: Option<Interval>,
    pub verdict: Verdict,
    /// Why there is no ratio, in a few words (energy rows left out as `unseen` or `low_busy_share`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub left_out: Option<String>,
}

/// A workload's artifact sizes in bytes, as the manifests of `runs` recorded them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArtifactRow {
    pub workload: String,
    pub runs: Vec<String>,
    #[serde(flatten)]
    pub sizes: harness_data::ArtifactSizes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incomplete {
    pub run: String,
    #[serde(flatten)]
    pub key: CellKey,
    pub scheduled: u64,
    pub measured: u64,
}

/// A plot as data; `plots::render_svg` draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Unique, usable as an HTML id and a file name (`<id>.svg`).
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub data: FigureData,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FigureData {
    /// Empirical CDF per runtime as a step line: points (latency in the figure's unit, cumulative fraction).
    LatencyCdf { series: Vec<Series> },
    /// Energy per invocation against latency per runtime: points (latency, energy). `log_y`: energy drawn as
    /// log10 (when it spans more than 20x), as `Figure::log_x` does for latency.
    EnergyScatter {
        series: Vec<Series>,
        #[serde(default)]
        log_y: bool,
    },
    /// Per runtime: box from p25 to p75 with the median, whiskers p5 to p95, and the mean.
    Distribution { boxes: Vec<BoxStats> },
    /// A statistic against achieved requests/s, one line per runtime, kind of load and statistic (lines and
    /// markers, in level order). `log_y`: values drawn as log10, as `Figure::log_x` does for x.
    LoadCurves { series: Vec<LoadCurve>, log_y: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub label: String,
    pub points: Vec<[f64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoxStats {
    pub label: String,
    pub p5: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub p95: f64,
    pub mean: f64,
    /// Values beyond the whiskers (at most 200, evenly picked), so the tails stay visible.
    pub tail_points: Vec<f64>,
}

/// "batches", "windows", "invocations": a comparison's `unit` counted.
pub fn plural(unit: &str) -> String {
    if unit.ends_with("ch") {
        format!("{unit}es")
    } else {
        format!("{unit}s")
    }
}
