//! The one energy summary: what a cell's energy per invocation is, on the whole-machine channel, for the
//! terminal summary (`crate::terminal`), the report's energy glance and cold premium (`crate::report`) and the
//! export's cold premium. Every figure they show comes from here, so they never disagree for the same cell:
//!
//! - **Channel**: [`shown_channel`], by the one whole-machine rule ([`crate::machine_channel`]).
//! - **Units**: a cell's paired rows on that channel, one per invocation or per batch window (a window counts
//!   once, whatever its size). A unit is usable when its quality carries energy, it has no flag and a finite
//!   gross figure ([`usable_gross`]).
//! - **Majority**: a cell shows a figure only when at least half of its units are usable ([`majority`]);
//!   otherwise a dash and the reason ("8 of 10 below resolution"). A figure from the few units that happened to
//!   straddle a sensor update is biased in a known direction.
//! - **Net or gross**: net of idle where every usable unit has a net figure and the idle baseline is usable
//!   ([`net_usable`], the one hook for "net unusable"); gross otherwise, and the summary says which.
//! - **Figure**: the median with a seeded percentile-bootstrap interval over the usable units; a net interval
//!   that spans zero reads "within noise: 0.1 +- 0.6 mJ", one wholly below zero "below idle: ...".

use crate::machine_channel;
use crate::report::format::short_joules;
use crate::run::Run;
use crate::stats::Interval;
use crate::stats::bootstrap::{Clustered, median_interval};
use harness_data::{ChannelInfo, EnergyFlag, EnergyQuality, PairedRecord, SampleKind, Unit};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A channel as the summaries name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShownChannel {
    pub probe: String,
    pub channel: String,
    pub estimated: bool,
}

/// Which energy a figure is: net of the idle baseline, or gross.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Net,
    Gross,
}

impl Basis {
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Net => "net",
            Basis::Gross => "gross",
        }
    }
}

/// How intervals are drawn: the report's `--resamples`, `--level` and `--seed` (the terminal uses their
/// defaults, so its figures are the default report's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resampling {
    pub resamples: usize,
    pub level: f64,
    pub seed: u64,
}

impl Default for Resampling {
    fn default() -> Self {
        Resampling {
            resamples: 2000,
            level: 0.95,
            seed: 2026,
        }
    }
}

/// A cell's rows on one channel, each with its run's name.
pub type Rows<'a> = [(&'a str, &'a PairedRecord)];

/// A unit's gross energy per invocation, when it is usable: measured (or modelled) without a gap, above
/// resolution, with no flag but `busy_baseline` (which takes only the net figure out) and a finite figure.
pub fn usable_gross(r: &PairedRecord) -> Option<f64> {
    crate::net::gross_usable(r)
}

/// A usable unit's net energy per invocation.
pub fn usable_net(r: &PairedRecord) -> Option<f64> {
    crate::net::net_usable(r)
}

/// Why a unit's energy is left out, in words; `None` for a usable unit.
pub fn left_out_reason(r: &PairedRecord) -> Option<&'static str> {
    match (r.flag, r.quality) {
        (Some(EnergyFlag::Unseen), _) => Some("unseen"),
        (Some(EnergyFlag::LowBusyShare), _) => Some("low busy share"),
        (None, EnergyQuality::BelowResolution) => Some("below resolution"),
        (None, EnergyQuality::Gap) => Some("with a gap"),
        _ => usable_gross(r).is_none().then_some("without a figure"),
    }
}

/// Whether the net figures of these units may be shown: every usable unit has one (the run had an idle
/// baseline). The one place that decides "net unusable": a baseline taken on a busy machine belongs here.
pub fn net_usable(rows: &Rows) -> bool {
    rows.iter()
        .filter(|(_, r)| usable_gross(r).is_some())
        .all(|(_, r)| usable_net(r).is_some())
}

/// A cell may show a figure when at least half of its units are usable.
pub fn majority(usable: usize, units: usize) -> bool {
    units > 0 && 2 * usable >= units
}

/// The usable units as a bootstrap sample (one single-value cluster each, with its run), on `basis`.
pub fn sample(rows: &Rows, basis: Basis) -> Clustered {
    let mut runs: Vec<&str> = Vec::new();
    let mut out = Clustered::default();
    for (run, r) in rows {
        let value = match basis {
            Basis::Net => usable_net(r),
            Basis::Gross => usable_gross(r),
        };
        if let Some(v) = value {
            let index = runs.iter().position(|x| x == run).unwrap_or_else(|| {
                runs.push(run);
                runs.len() - 1
            });
            out.clusters.push(vec![v]);
            out.run_of.push(index);
        }
    }
    out
}

/// Seed of one figure: the report's seed mixed with the figure's name (FNV-1a), as comparisons are seeded.
pub fn seed_of(seed: u64, name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325 ^ seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A cell's energy per invocation on the shown channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergySummary {
    pub probe: String,
    pub channel: String,
    /// From a model: the figure is an estimate.
    pub estimated: bool,
    /// Sampled units: paired rows, one per invocation or batch window.
    pub units: usize,
    /// Units with usable energy.
    pub usable: usize,
    /// Units left out, by reason (`below resolution`, `with a gap`, `unseen`, `low busy share`).
    pub left_out: BTreeMap<String, usize>,
    pub basis: Basis,
    /// Median energy per invocation (J) on `basis` with its bootstrap interval; none when fewer than half of
    /// the units are usable.
    pub figure: Option<Interval>,
}

/// The name a cell's figure is seeded with: the same in the terminal and the report.
pub fn figure_name(workload: &str, input: &str, mode: harness_data::Mode, runtime: &str, ch: &ShownChannel) -> String {
    format!(
        "{workload}/{input}/{}/{runtime}/energy {}/{}",
        mode.as_str(),
        ch.probe,
        ch.channel
    )
}

/// The summary of a cell's `rows` (on `channel` only; other rows are ignored), its interval seeded by `name`.
pub fn summarize(channel: &ShownChannel, rows: &Rows, name: &str, resampling: Resampling) -> EnergySummary {
    let rows: Vec<(&str, &PairedRecord)> = rows
        .iter()
        .filter(|(_, r)| r.probe == channel.probe && r.channel == channel.channel)
        .copied()
        .collect();
    let mut left_out = BTreeMap::new();
    for (_, r) in &rows {
        if let Some(reason) = left_out_reason(r) {
            *left_out.entry(reason.to_owned()).or_insert(0) += 1;
        }
    }
    let usable = rows.iter().filter(|(_, r)| usable_gross(r).is_some()).count();
    let basis = if net_usable(&rows) { Basis::Net } else { Basis::Gross };
    let figure = majority(usable, rows.len())
        .then(|| {
            median_interval(
                &sample(&rows, basis),
                resampling.resamples,
                resampling.level,
                seed_of(resampling.seed, name),
            )
        })
        .flatten();
    EnergySummary {
        probe: channel.probe.clone(),
        channel: channel.channel.clone(),
        estimated: channel.estimated || rows.iter().any(|(_, r)| r.estimated),
        units: rows.len(),
        usable,
        left_out,
        basis,
        figure,
    }
}

impl EnergySummary {
    /// Why there is no figure: "8 of 10 below resolution", "9 of 10 left out (8 below resolution, 1 unseen)".
    pub fn reason(&self) -> Option<String> {
        if self.figure.is_some() {
            return None;
        }
        Some(minority_reason(self.units, &self.left_out))
    }

    /// A net figure whose interval spans zero.
    pub fn within_noise(&self) -> bool {
        self.basis == Basis::Net && self.figure.is_some_and(|f| f.ci_low <= 0.0 && f.ci_high >= 0.0)
    }

    /// The figure as every summary writes it: `12.30 mJ`, `within noise: 0.10 +- 0.60 mJ`,
    /// `below idle: -5.00 +- 1.00 mJ`, or `- (8 of 10 below resolution)`.
    pub fn text(&self) -> String {
        let Some(f) = self.figure else {
            return format!("- ({})", self.reason().unwrap_or_default());
        };
        let half = (f.ci_high - f.ci_low).abs() / 2.0;
        if self.within_noise() {
            format!("within noise: {}", plus_minus(f.estimate, half))
        } else if self.basis == Basis::Net && f.ci_high < 0.0 {
            format!("below idle: {}", plus_minus(f.estimate, half))
        } else {
            short_joules(f.estimate)
        }
    }

    /// The figure alone, when there is one that is neither within noise nor below idle.
    pub fn clean(&self) -> Option<f64> {
        let f = self.figure?;
        let below_idle = self.basis == Basis::Net && f.ci_high < 0.0;
        (!(self.within_noise() || below_idle)).then_some(f.estimate)
    }
}

/// "8 of 10 below resolution", "9 of 10 left out (8 below resolution, 1 unseen)", "no energy rows".
pub fn minority_reason(units: usize, left_out: &BTreeMap<String, usize>) -> String {
    let total: usize = left_out.values().sum();
    match left_out.len() {
        _ if units == 0 => "no energy rows".into(),
        1 => {
            let (reason, n) = left_out.iter().next().map(|(r, n)| (r.as_str(), *n)).unwrap_or(("", 0));
            format!("{n} of {units} {reason}")
        }
        _ => format!(
            "{total} of {units} left out ({})",
            left_out
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// "0.10 +- 0.60 mJ": value and half-width in the unit of the larger.
pub fn plus_minus(value: f64, half: f64) -> String {
    let (unit, factor) = match value.abs().max(half) {
        a if a >= 1.0 => ("J", 1.0),
        a if a >= 1e-3 => ("mJ", 1e-3),
        a if a >= 1e-6 => ("uJ", 1e-6),
        _ => ("nJ", 1e-9),
    };
    format!("{:.2} +- {:.2} {unit}", value / factor, half / factor)
}

/// The whole-machine channel of `runs` with usable energy, by the one rule: the manifests' declared channels
/// in order, then channels only the paired rows name.
pub fn shown_channel<'a>(runs: impl IntoIterator<Item = &'a Run>) -> Option<ShownChannel> {
    let runs: Vec<&Run> = runs.into_iter().collect();
    let rows = || runs.iter().flat_map(|run| run.paired.iter().flatten());
    let with_energy: BTreeSet<(&str, &str)> = rows()
        .filter(|r| usable_gross(r).is_some())
        .map(|r| (r.probe.as_str(), r.channel.as_str()))
        .collect();
    let mut extra: Vec<ChannelInfo> = Vec::new();
    let declared = |probe: &str, channel: &str| {
        runs.iter()
            .flat_map(|run| &run.manifest.probes)
            .flat_map(|p| &p.channels)
            .any(|c| c.probe == probe && c.channel == channel)
    };
    for r in rows() {
        if !declared(&r.probe, &r.channel) && !extra.iter().any(|c| c.probe == r.probe && c.channel == r.channel) {
            extra.push(ChannelInfo {
                probe: r.probe.clone(),
                channel: r.channel.clone(),
                unit: Unit::Joule,
                kind: SampleKind::EnergyCounter,
                resolution: 0.0,
                update_period_ns: 0,
                estimated: r.estimated,
                scope: r.scope,
            });
        }
    }
    let probes = runs
        .iter()
        .flat_map(|run| &run.manifest.probes)
        .map(|p| (p.kind.as_str(), p.channels.as_slice()))
        .chain(std::iter::once(("", extra.as_slice())));
    let info = machine_channel::choose(probes, |c| {
        with_energy.contains(&(c.probe.as_str(), c.channel.as_str()))
    })?;
    let estimated = info.estimated
        || rows().any(|r| {
            r.probe == info.probe && r.channel == info.channel && (r.estimated || r.quality == EnergyQuality::Estimated)
        });
    Some(ShownChannel {
        probe: info.probe,
        channel: info.channel,
        estimated,
    })
}
