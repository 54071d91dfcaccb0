//! The cold premium: for every (workload, input, runtime) measured both cold and warm, the energy of a cold
//! start minus the energy of a warm invocation on the whole-machine channel, with a seeded bootstrap interval
//! over the sampled units (invocations or batch windows), only where both sides pass the majority rule of
//! [`crate::energy_summary`]. Beside it, the latency cold/warm ratio.

use super::gather::{Gathered, gather, measured_ok};
use crate::energy_summary::{
    Basis, EnergySummary, Resampling, Rows, ShownChannel, figure_name, net_usable, sample, seed_of, summarize,
};
use crate::run::Run;
use crate::stats::Interval;
use crate::stats::bootstrap::difference_of_medians;
use crate::summary::median;
use harness_data::{CellKey, Mode, PairedRecord};
use serde::{Deserialize, Serialize};

/// One (workload, input, runtime)'s cold premium.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdPremium {
    pub workload: String,
    pub input: String,
    pub runtime: String,
    /// Energy per cold start, as the energy glance shows it.
    pub cold: EnergySummary,
    /// Energy per warm invocation, as the energy glance shows it.
    pub warm: EnergySummary,
    /// Net where both sides' net figures are usable, else gross (both sides alike).
    pub basis: Basis,
    /// Median cold minus median warm energy per invocation, J, with its bootstrap interval; none where either
    /// side has usable energy on fewer than half of its units.
    pub premium_j: Option<Interval>,
    /// Why there is no premium: "cold: 9 of 10 below resolution".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Median latency of a cold start / median latency of a warm invocation.
    pub latency_ratio: Option<f64>,
}

/// The premium of one (workload, input, runtime) from its cold and warm rows (each with its run's name).
pub fn cold_premium(
    key: &CellKey,
    channel: &ShownChannel,
    (cold_rows, warm_rows): (&Rows, &Rows),
    latency_ratio: Option<f64>,
    resampling: Resampling,
) -> ColdPremium {
    let (cold_rows, warm_rows) = (on_channel(cold_rows, channel), on_channel(warm_rows, channel));
    let name = |mode| figure_name(&key.workload, &key.input, mode, &key.runtime, channel);
    let cold = summarize(channel, &cold_rows, &name(Mode::Cold), resampling);
    let warm = summarize(channel, &warm_rows, &name(Mode::Warm), resampling);
    let basis = if net_usable(&cold_rows) && net_usable(&warm_rows) {
        Basis::Net
    } else {
        Basis::Gross
    };
    let reason = [("cold", &cold), ("warm", &warm)]
        .iter()
        .filter_map(|(side, s)| s.reason().map(|r| format!("{side}: {r}")))
        .collect::<Vec<_>>();
    let premium_j = reason
        .is_empty()
        .then(|| {
            difference_of_medians(
                &sample(&cold_rows, basis),
                &sample(&warm_rows, basis),
                resampling.resamples,
                resampling.level,
                seed_of(resampling.seed, &format!("{}/cold premium", name(Mode::Cold))),
            )
        })
        .flatten();
    ColdPremium {
        workload: key.workload.clone(),
        input: key.input.clone(),
        runtime: key.runtime.clone(),
        cold,
        warm,
        basis,
        premium_j,
        reason: (!reason.is_empty()).then(|| reason.join("; ")),
        latency_ratio,
    }
}

fn on_channel<'a>(rows: &Rows<'a>, channel: &ShownChannel) -> Vec<(&'a str, &'a PairedRecord)> {
    rows.iter()
        .filter(|(_, r)| r.probe == channel.probe && r.channel == channel.channel)
        .copied()
        .collect()
}

fn median_latency(g: &Gathered) -> Option<f64> {
    median(&measured_ok(g).map(|(_, r)| r.latency_ns as f64).collect::<Vec<_>>())
}

/// Every (workload, input, runtime) of `runs` with cold and warm cells, on `channel`, in key order.
pub fn cold_premiums(runs: &[Run], channel: &ShownChannel, resampling: Resampling) -> Vec<ColdPremium> {
    let gathered = gather(runs);
    gathered
        .iter()
        .filter(|(key, _)| key.mode == Mode::Cold)
        .filter_map(|(key, cold)| {
            let warm = gathered.get(&CellKey {
                mode: Mode::Warm,
                ..key.clone()
            })?;
            let ratio = median_latency(cold)
                .zip(median_latency(warm))
                .filter(|(_, w)| *w > 0.0)
                .map(|(c, w)| c / w);
            Some(cold_premium(
                key,
                channel,
                (&cold.paired, &warm.paired),
                ratio,
                resampling,
            ))
        })
        .collect()
}
