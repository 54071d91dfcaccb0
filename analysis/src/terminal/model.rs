//! The summary `harness measure` prints as data: computed once by `build.rs` from the run as read, written
//! by `render.rs`. Times are nanoseconds, energies joules.

use harness_data::Mode;
use serde::{Deserialize, Serialize};

/// Results at a glance of one finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TerminalSummary {
    /// The energy channel the summary shows (the report has all of them); none without usable energy.
    pub energy_channel: Option<ShownChannel>,
    /// One per (workload, input, mode) with measured invocations, in that order.
    pub cells: Vec<SummaryCell>,
    /// Load mode's best closed-loop level per (workload, input, runtime); `None` when the run served no level.
    pub load: Option<Vec<BestLoadLevel>>,
    /// The runtime most often fastest: the natural baseline of the report the summary points to.
    pub baseline: String,
    /// Why net energy is missing where it is: channels whose idle baseline was taken on a busy machine.
    #[serde(default)]
    pub energy_notes: Vec<String>,
}

pub use crate::energy_summary::{EnergySummary, ShownChannel};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryCell {
    pub workload: String,
    pub input: String,
    pub mode: Mode,
    /// Runtimes with at least one invocation that ended ok, fastest (lowest median latency) first; empty when
    /// no invocation of the cell ended ok.
    pub runtimes: Vec<RuntimeLine>,
    /// Runtimes of which every measured invocation failed, by name: (runtime, failures).
    pub all_failed: Vec<(String, usize)>,
}

/// One runtime's line of a cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeLine {
    pub runtime: String,
    pub median_latency_ns: f64,
    /// Median latency / the fastest runtime's; `None` for the fastest itself.
    pub slower_than_fastest: Option<f64>,
    /// Invocations that ended ok.
    pub ok: usize,
    pub failed: usize,
    /// Energy per invocation on the shown channel (a figure only where at least half its units are usable);
    /// none without a shown channel.
    pub energy: Option<EnergySummary>,
}

/// A closed-loop level with the best throughput of its (workload, input, runtime).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BestLoadLevel {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    pub achieved_rps: f64,
    pub clients: f64,
    pub p99_ns: Option<u64>,
}
