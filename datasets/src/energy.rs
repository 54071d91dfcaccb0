//! Energy records: raw probe samples (`samples.csv`) and the paired latency/energy dataset (`paired.csv`).

use serde::{Deserialize, Serialize};

/// What a sample's value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleKind {
    /// A cumulative energy counter, already unwrapped (monotonic over the run), in the channel's unit.
    EnergyCounter,
    /// An instantaneous (or sensor-averaged) power reading, in the channel's unit.
    Power,
    /// The probe could not read this channel at `t_ns` (file vanished, garbage, ENODATA, corrupt frame):
    /// no value. Attribution treats the span around it as a gap.
    Gap,
}

/// The physical unit of a channel's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Unit {
    #[serde(rename = "J")]
    Joule,
    #[serde(rename = "mJ")]
    Millijoule,
    #[serde(rename = "uJ")]
    Microjoule,
    #[serde(rename = "nJ")]
    Nanojoule,
    #[serde(rename = "W")]
    Watt,
    #[serde(rename = "mW")]
    Milliwatt,
    #[serde(rename = "uW")]
    Microwatt,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Joule => "J",
            Unit::Millijoule => "mJ",
            Unit::Microjoule => "uJ",
            Unit::Nanojoule => "nJ",
            Unit::Watt => "W",
            Unit::Milliwatt => "mW",
            Unit::Microwatt => "uW",
        }
    }

    /// How many joules (or watts) one of this unit is.
    pub fn si_scale(self) -> f64 {
        match self {
            Unit::Joule | Unit::Watt => 1.0,
            Unit::Millijoule | Unit::Milliwatt => 1e-3,
            Unit::Microjoule | Unit::Microwatt => 1e-6,
            Unit::Nanojoule => 1e-9,
        }
    }

    /// An energy unit (for counters), rather than a power unit.
    pub fn is_energy(self) -> bool {
        matches!(
            self,
            Unit::Joule | Unit::Millijoule | Unit::Microjoule | Unit::Nanojoule
        )
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A unit compares equal to its symbol.
impl PartialEq<&str> for Unit {
    fn eq(&self, symbol: &&str) -> bool {
        self.as_str() == *symbol
    }
}

/// One row of `samples.csv`. `t_ns` is CLOCK_MONOTONIC, stamped by the sampler right before the poll (or, for
/// probes with their own delay, corrected as recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub probe: String,
    pub channel: String,
    pub t_ns: u64,
    /// Empty for `gap` rows.
    pub value: Option<f64>,
    pub unit: Unit,
    pub kind: SampleKind,
}

impl SampleRecord {
    pub const COLUMNS: [&'static str; 6] = ["probe", "channel", "t_ns", "value", "unit", "kind"];
}

/// How far an energy figure can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergyQuality {
    /// Measured, with samples on both sides of the window.
    Ok,
    /// The counter did not move (or moved by less than its resolution) across the window: the energy is below
    /// what the probe can resolve. Never reported as zero joules.
    BelowResolution,
    /// A gap (missing samples, a vanished sensor) overlaps the window.
    Gap,
    /// Written by harness 0.1 runs for model rows that were otherwise `ok`; read as `ok` with `estimated`.
    /// New rows say `ok` and carry `estimated = true`: how good a figure is and where it came from are apart.
    Estimated,
}

impl EnergyQuality {
    /// Whether a row of this quality carries an energy figure: measured (or modelled) with samples around it.
    /// `below_resolution` and `gap` rows have none, whatever numbers a file holds for them.
    pub fn has_energy(self) -> bool {
        matches!(self, EnergyQuality::Ok | EnergyQuality::Estimated)
    }
}

/// One row of `paired.csv`: one measured invocation (or one batch window of warm invocations) and, for one
/// probe channel, the energy attributed to it. Long format: an invocation measured by three channels has
/// three rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairedRecord {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub mode: crate::Mode,
    /// Iteration of the invocation, or of the first invocation of the batch.
    pub iteration: u32,
    /// `sequence` of the invocation (or of the batch's first) in `invocations.csv`.
    pub sequence: u64,
    /// Invocations in the window: 1, or the batch size.
    pub count: u32,
    pub window_start_ns: u64,
    pub window_end_ns: u64,
    /// Latency per invocation: the invocation's own, or the batch window's mean.
    pub latency_ns: f64,
    pub probe: String,
    pub channel: String,
    /// Energy per invocation, in joules, before subtracting idle power.
    pub gross_j: Option<f64>,
    /// Energy per invocation after subtracting `baseline_w` over the invocation's share of the window.
    pub net_j: Option<f64>,
    /// Idle power of this channel measured before and after the run, in watts.
    pub baseline_w: Option<f64>,
    /// Mean power over the window, in watts.
    pub power_w: Option<f64>,
    /// Samples of this channel inside the window.
    pub samples: u32,
    /// Half-width of the energy per invocation's resolution bound, in joules (counter step or sample spacing).
    pub uncertainty_j: Option<f64>,
    pub quality: EnergyQuality,
    /// True when the energy comes from a model (the `model` probe), not a sensor: such figures are estimates.
    pub estimated: bool,
    /// What the channel sees, as [`ChannelInfo::scope`]; [`Scope::Unstated`] (an empty field) in rows
    /// written before the column existed.
    #[serde(default = "unstated_scope")]
    pub scope: Scope,
    /// Sum of the member invocations' latencies / the window's length: how much of the window the runtime was
    /// busy with the cell's work (1 for a single invocation). Windows under [`MIN_BUSY_SHARE`] are flagged.
    #[serde(default)]
    pub busy_share: Option<f64>,
    /// Why this row must stay out of energy comparisons (empty: it may be used).
    #[serde(default)]
    pub flag: Option<EnergyFlag>,
    /// Cold rows: whether the window holds each cold start's teardown (empty for warm rows, and in rows
    /// written before the column existed).
    #[serde(default)]
    pub teardown: Option<Teardown>,
    /// Browser runtimes: the power of the browser kept up with its page open and nothing running, net of the
    /// machine's idle power (`baseline_w`), W, from the run's idle span with the browser up; empty for other
    /// runtimes and where no such span was measured.
    #[serde(default)]
    pub idle_browser_w: Option<f64>,
}

/// Where a cold start's teardown (removing a finished container, dropping an engine, a process's exit) falls
/// relative to its energy window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Teardown {
    /// Inside: the window holds each cold start's teardown (a one-shot process's exit, say).
    InWindow,
    /// After the window: what a cold start leaves behind is held until the window closed, then torn down.
    Deferred,
}

impl Teardown {
    pub fn as_str(self) -> &'static str {
        match self {
            Teardown::InWindow => "in_window",
            Teardown::Deferred => "deferred",
        }
    }
}

/// Batch windows whose members kept the runtime busy for less than this share of the window carry the
/// harness's own idle time; their energy per invocation is biased high, so they are flagged.
pub const MIN_BUSY_SHARE: f64 = 0.9;

/// Why a paired row's energy is kept out of comparisons (it is still written, never dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergyFlag {
    /// The probe cannot see this runtime's work (a `harness`-scoped model and a container whose cgroup it
    /// cannot read, say): its energy would be biased low.
    Unseen,
    /// A batch window with `busy_share` under [`MIN_BUSY_SHARE`].
    LowBusyShare,
    /// The channel's idle baseline was taken while the machine was not idle (the manifest's
    /// [`Baseline::busy_baseline`] says why): `net_j` is left out of comparisons; `gross_j` stays usable.
    BusyBaseline,
}

impl EnergyFlag {
    /// Whether a row with this flag still has a usable gross figure: only the baseline, so only net, is
    /// in doubt for `busy_baseline`; the other flags bias the window's energy itself.
    pub fn keeps_gross(self) -> bool {
        matches!(self, EnergyFlag::BusyBaseline)
    }
}

impl PairedRecord {
    pub const COLUMNS: [&'static str; 25] = [
        "workload",
        "input",
        "runtime",
        "mode",
        "iteration",
        "sequence",
        "count",
        "window_start_ns",
        "window_end_ns",
        "latency_ns",
        "probe",
        "channel",
        "gross_j",
        "net_j",
        "baseline_w",
        "power_w",
        "samples",
        "uncertainty_j",
        "quality",
        "estimated",
        "scope",
        "busy_share",
        "flag",
        "teardown",
        "idle_browser_w",
    ];
}

/// A channel as a probe declares it (recorded in the manifest).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelInfo {
    pub probe: String,
    pub channel: String,
    pub unit: Unit,
    pub kind: SampleKind,
    /// Smallest step the value moves in, in `unit` (a RAPL energy unit, an ADC step).
    pub resolution: f64,
    /// How often the sensor itself updates, in nanoseconds (RAPL ~1 ms, NVML 20-100 ms, meters 100 ms-1 s).
    pub update_period_ns: u64,
    /// The value is modelled, not measured.
    pub estimated: bool,
    /// Whose work the channel sees: `machine` (a package or board sensor, or the model counting the whole
    /// machine's CPU time), `harness` (the model counting the harness, its live children and its containers),
    /// `gpu` (an NVML board).
    #[serde(default)]
    pub scope: Scope,
}

/// Whose work a channel sees: what its energy can be compared across. Written as today's strings (`machine`,
/// `harness`, `gpu`; an empty field where unstated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The whole machine: a package or board sensor, or the model counting the whole machine's CPU time.
    #[default]
    Machine,
    /// The model counting the harness, its live children and its containers only.
    Harness,
    /// An NVML board: the GPU only.
    Gpu,
    /// A paired row written before the `scope` column existed: not known.
    #[serde(rename = "")]
    Unstated,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Machine => "machine",
            Scope::Harness => "harness",
            Scope::Gpu => "gpu",
            Scope::Unstated => "",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(name: &str) -> Result<Scope, UnknownScope> {
        [Scope::Machine, Scope::Harness, Scope::Gpu, Scope::Unstated]
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| UnknownScope(name.to_owned()))
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a scope (machine, harness, gpu)")]
pub struct UnknownScope(pub String);

/// A scope compares with its written name: `scope == "machine"`.
impl PartialEq<&str> for Scope {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

fn unstated_scope() -> Scope {
    Scope::Unstated
}

/// Idle power of one channel, measured before and after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub before_w: Option<f64>,
    pub after_w: Option<f64>,
    /// What attribution subtracted: the mean of the two where both exist.
    pub used_w: Option<f64>,
    /// Standard error of `before_w` and of `after_w` (from the spread of the span's tenths), W: the noise the
    /// two are compared within. Absent where a span had too few samples to say, and in older runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_se_w: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_se_w: Option<f64>,
    /// Why this baseline is not the machine's idle power (foreign load in an idle span, or before and after
    /// differing beyond their noise): the channel's paired rows carry `flag = busy_baseline` and their net
    /// energy is left out of comparisons. Absent: the baseline is clean (or the run predates the check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub busy_baseline: Option<String>,
}

/// An idle span above this many cores of foreign busy CPU (machine busy CPU minus the harness's own,
/// averaged over the span) is not idle: the baseline of a machine-scope channel taken there is flagged.
/// A quiet machine shows 0.00-0.05 cores of background work; one busy thread elsewhere shows ~1.
pub const BUSY_BASELINE_FOREIGN_CORES: f64 = 0.25;

/// Before and after differ beyond their noise when they are further apart than this many standard errors of
/// the difference plus [`BASELINE_DRIFT_SHARE`] of the larger: idle power of a steady machine drifts a little
/// (temperature, clocks), which is not a reason to drop its net figures.
pub const BASELINE_DIFFER_SE: f64 = 4.0;
pub const BASELINE_DRIFT_SHARE: f64 = 0.1;

/// A probe as it ran: its options, channels, baselines, and any delay measured and applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeManifest {
    /// The probe's name in this run (default: its kind, then `kind-2`, ...): samples, channels, delays and
    /// baselines are keyed by it, so two probes of one kind never merge.
    #[serde(default)]
    pub name: String,
    pub kind: String,
    pub options: serde_json::Value,
    pub channels: Vec<ChannelInfo>,
    /// Keyed by channel name.
    pub baselines: std::collections::BTreeMap<String, Baseline>,
    /// The probe's own delay, measured by calibration and subtracted from its timestamps.
    pub delay_ns: Option<i64>,
    /// Facts worth keeping (chip settings, firmware, the sensor's averaging).
    pub notes: Vec<String>,
    /// Runtimes whose work this probe could not see: their paired rows carry the `unseen` flag.
    #[serde(default)]
    pub unseen: Vec<String>,
}

impl ProbeManifest {
    /// The key the probe's samples, delays and baselines go by: its name (manifests written before probes had
    /// names: its kind).
    pub fn key(&self) -> &str {
        if self.name.is_empty() { &self.kind } else { &self.name }
    }
}

impl BatchPlan {
    /// The cell it batched.
    pub fn key(&self) -> crate::CellKey {
        crate::CellKey {
            workload: self.workload.clone(),
            input: self.input.clone(),
            runtime: self.runtime.clone(),
            mode: self.mode,
        }
    }
}

fn warm() -> crate::Mode {
    crate::Mode::Warm
}

/// A cell measured in batch windows: a warm cell whose invocations are shorter than a probe can resolve, or
/// any cold cell of a run with probes (cold windows hold K complete cold starts, K >= 1, teardown deferred
/// where the runtime allows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchPlan {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    /// Invocations per batch window.
    pub batch_size: u32,
    /// Median latency of the pilot invocations that chose the size.
    pub pilot_latency_ns: u64,
    /// The window the batch must fill: about 20 x the coarsest channel's update period.
    pub target_window_ns: u64,
    /// `warm`, or `cold` for cold batch windows (manifests before cold windows: warm).
    #[serde(default = "warm")]
    pub mode: crate::Mode,
    /// Cold windows: whether each cold start's teardown is inside the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<Teardown>,
    /// Cold windows: what the window holds of a cold start's teardown and what was deferred, in words.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub teardown_note: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_their_symbols_and_unknown_ones_are_refused() {
        for (unit, symbol, scale) in [
            (Unit::Microjoule, "uJ", 1e-6),
            (Unit::Milliwatt, "mW", 1e-3),
            (Unit::Joule, "J", 1.0),
        ] {
            assert_eq!(serde_json::to_string(&unit).unwrap(), format!("\"{symbol}\""));
            assert_eq!(serde_json::from_str::<Unit>(&format!("\"{symbol}\"")).unwrap(), unit);
            assert_eq!(unit.si_scale(), scale);
            assert_eq!(format!("{unit:<4}|"), format!("{symbol:<4}|"));
        }
        assert!(serde_json::from_str::<Unit>("\"kW\"").is_err());
        assert!(Unit::Nanojoule.is_energy() && !Unit::Microwatt.is_energy());
    }
}
