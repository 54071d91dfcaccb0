//! A group's energy per probe channel: which paired rows count, which are left out and why, and the notes
//! that say so. A flagged row (`unseen`, `low_busy_share`) is counted and named, never used: a number biased
//! in a known direction is worse than none. A `busy_baseline` row keeps its gross figure, not its net one.

use super::gather::Gathered;
use super::model::{CellKey, ChannelEnergy};
use crate::energy_summary::{majority, usable_gross};
use crate::stats::describe::describe;
use crate::summary::median;
use harness_data::{EnergyFlag, EnergyQuality, MIN_BUSY_SHARE, PairedRecord};
use std::collections::{BTreeMap, BTreeSet};

/// Paired rows of one channel, each with its run's name.
pub(super) type ChannelRows<'a> = Vec<(&'a str, &'a PairedRecord)>;

/// A paired row's energy counts when it was measured (or modelled) without a gap, is above resolution, and
/// carries no flag that biases it: the one rule of [`crate::energy_summary`] (`busy_baseline` only takes the
/// row's net figure out: [`crate::net`]).
pub(super) fn usable(r: &PairedRecord) -> Option<f64> {
    usable_gross(r)
}

pub(super) fn is_estimated(r: &PairedRecord) -> bool {
    r.estimated || r.quality == EnergyQuality::Estimated
}

pub(super) fn channels<'a>(g: &Gathered<'a>) -> BTreeMap<(&'a str, &'a str), ChannelRows<'a>> {
    let mut by_channel: BTreeMap<(&str, &str), ChannelRows> = BTreeMap::new();
    for &(run, r) in &g.paired {
        by_channel
            .entry((r.probe.as_str(), r.channel.as_str()))
            .or_default()
            .push((run, r));
    }
    by_channel
}

/// The name serde gives a value (`low_busy_share`, `below_resolution`).
fn snake_name<T: serde::Serialize>(value: T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub(super) fn flag_counts(rows: &ChannelRows) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (_, r) in rows {
        if let Some(flag) = r.flag {
            *counts.entry(snake_name(flag)).or_insert(0) += 1;
        }
    }
    counts
}

/// The distinct scopes of the rows, joined (normally exactly one).
pub(super) fn scope_of(rows: &ChannelRows) -> String {
    let scopes: BTreeSet<&str> = rows
        .iter()
        .map(|(_, r)| r.scope.as_str())
        .filter(|s| !s.is_empty())
        .collect();
    scopes.into_iter().collect::<Vec<_>>().join(", ")
}

/// Coefficient of variation (n - 1) of the per-run medians; `None` under 2 runs with values or a zero mean.
pub(super) fn between_run_cv<'a>(values: impl Iterator<Item = (&'a str, f64)>) -> Option<f64> {
    let mut per_run: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (run, v) in values {
        per_run.entry(run).or_default().push(v);
    }
    let medians: Vec<f64> = per_run.values().filter_map(|v| median(v)).collect();
    if medians.len() < 2 {
        return None;
    }
    let n = medians.len() as f64;
    let mean = medians.iter().sum::<f64>() / n;
    let variance = medians.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean != 0.0).then(|| variance.sqrt() / mean.abs())
}

pub(super) fn channel_energy(g: &Gathered) -> Vec<ChannelEnergy> {
    channels(g)
        .into_iter()
        .map(|((probe, channel), rows)| {
            let mut quality = BTreeMap::new();
            for (_, r) in &rows {
                *quality.entry(snake_name(r.quality)).or_insert(0) += 1;
            }
            let used: Vec<&PairedRecord> = rows.iter().map(|(_, r)| *r).filter(|r| usable(r).is_some()).collect();
            // Figures only where at least half of the units are usable: a minority's median is no figure.
            let shown = majority(used.len(), rows.len());
            let collect = |f: &dyn Fn(&PairedRecord) -> Option<f64>| {
                used.iter().filter(|_| shown).filter_map(|r| f(r)).collect::<Vec<f64>>()
            };
            let baselines: Vec<f64> = rows.iter().filter_map(|(_, r)| r.baseline_w).collect();
            ChannelEnergy {
                probe: probe.into(),
                channel: channel.into(),
                scope: scope_of(&rows),
                estimated: rows.iter().any(|(_, r)| is_estimated(r)),
                windows: rows.len(),
                invocations: rows.iter().map(|(_, r)| u64::from(r.count)).sum(),
                quality,
                flagged: flag_counts(&rows),
                used: used.len(),
                between_run_cv: between_run_cv(
                    rows.iter()
                        .filter(|_| shown)
                        .filter_map(|(run, r)| usable(r).map(|e| (*run, e))),
                ),
                gross_j: describe(&collect(&|r| r.gross_j)),
                net_j: describe(&collect(&crate::net::net_usable)),
                power_w: describe(&collect(&|r| r.power_w)),
                edp_js: describe(&collect(&|r| r.gross_j.map(|e| e * r.latency_ns * 1e-9))),
                baseline_w: (!baselines.is_empty()).then(|| baselines.iter().sum::<f64>() / baselines.len() as f64),
                idle_browser_w: describe(&rows.iter().filter_map(|(_, r)| r.idle_browser_w).collect::<Vec<f64>>())
                    .map(|s| s.median),
                net_browser_j: describe(&collect(&|r| {
                    let net = crate::net::net_usable(r)?;
                    Some(net - r.idle_browser_w? * r.latency_ns * 1e-9)
                })),
            }
        })
        .collect()
}

/// One note per (runtime, channel, flag) with flagged rows, summed over the runtime's cells.
pub(super) fn flag_notes(gathered: &BTreeMap<CellKey, Gathered>) -> Vec<String> {
    // (runtime, probe/channel, flag) -> (rows, scope)
    let mut flagged: BTreeMap<(&str, String, EnergyFlag), (usize, String)> = BTreeMap::new();
    for (key, g) in gathered {
        for ((probe, channel), rows) in channels(g) {
            for (_, r) in &rows {
                // A busy baseline is noted per channel, with why, from the manifest (`crate::net`).
                if let Some(flag) = r.flag.filter(|f| !f.keeps_gross()) {
                    // Estimates stay labelled wherever they appear.
                    let estimated = if rows.iter().any(|(_, r)| is_estimated(r)) {
                        " (estimated)"
                    } else {
                        ""
                    };
                    let entry = flagged
                        .entry((key.runtime.as_str(), format!("{probe}/{channel}{estimated}"), flag))
                        .or_insert((0, r.scope.as_str().to_owned()));
                    entry.0 += 1;
                }
            }
        }
    }
    flagged
        .into_iter()
        .map(|((runtime, channel, flag), (rows, scope))| match flag {
            EnergyFlag::Unseen => {
                let who = if scope.is_empty() {
                    "the channel".to_owned()
                } else {
                    format!("the {scope}-scoped channel")
                };
                format!(
                    "energy of {runtime} on {channel} left out of comparisons: {who} cannot see its work ({rows} rows flagged unseen)"
                )
            }
            EnergyFlag::LowBusyShare => format!(
                "energy of {runtime} on {channel}: {rows} batch window{} with busy share under {MIN_BUSY_SHARE} left out of comparisons (idle time inside a window would bias its energy per invocation high)",
                if rows == 1 { "" } else { "s" }
            ),
            EnergyFlag::BusyBaseline => format!(
                "net energy of {runtime} on {channel} left out of comparisons: {rows} rows flagged busy_baseline"
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_run_cv_is_of_the_per_run_medians() {
        let values = [("a", 90.0), ("a", 91.0), ("a", 10.0), ("b", 110.0)];
        // Medians 90 and 110: mean 100, sd sqrt(200).
        let cv = between_run_cv(values.iter().copied()).unwrap();
        assert!((cv - 200f64.sqrt() / 100.0).abs() < 1e-12);
        assert_eq!(between_run_cv([("a", 1.0), ("a", 2.0)].into_iter()), None);
    }
}
