//! From the runs' `load.csv` rows to the report's load sections and their figures. A level is one
//! observation: nothing here resamples or tests, and no interval is made up for a single level.

use super::model::{LoadComparison, LoadCurve, LoadLevel, LoadSection, MemoryDensity};
use crate::report::figures::slug;
use crate::report::format::{ENERGY_UNITS, TIME_UNITS, scale};
use crate::report::model::{Figure, FigureData};
use crate::run::Run;
use crate::summary::median;
use harness_data::{LoadKind, LoadRecord};
use std::collections::{BTreeMap, BTreeSet};

/// Said beside every table of load comparisons.
pub const SINGLE_OBSERVATION_NOTE: &str = "Ratios at matched load (same kind and level, same run) set one level of one runtime against one level of the baseline: each is a single observation, so there is no confidence interval and no test; repeat the run to see how much they move.";

/// One section per (workload, input) with load levels, and the figures the sections name.
pub fn load_sections(runs: &[Run], baseline: &str) -> (Vec<LoadSection>, Vec<Figure>) {
    let mut cells: BTreeMap<(&str, &str), Vec<LoadLevel>> = BTreeMap::new();
    for run in runs {
        for record in &run.load {
            cells
                .entry((&record.workload, &record.input))
                .or_default()
                .push(LoadLevel {
                    run: run.name.clone(),
                    record: record.clone(),
                });
        }
    }
    let mut sections = Vec::new();
    let mut figures = Vec::new();
    for ((workload, input), mut levels) in cells {
        levels.sort_by(|a, b| {
            let (x, y) = (&a.record, &b.record);
            (&x.runtime, x.kind)
                .cmp(&(&y.runtime, y.kind))
                .then(x.level.total_cmp(&y.level))
                .then(a.run.cmp(&b.run))
                .then(x.sequence.cmp(&y.sequence))
        });
        let own: Vec<Figure> = [
            latency_figure(workload, input, &levels),
            energy_figure(workload, input, &levels),
        ]
        .into_iter()
        .flatten()
        .collect();
        let comparisons = comparisons(&levels, baseline);
        sections.push(LoadSection {
            workload: workload.to_owned(),
            input: input.to_owned(),
            density: density(&levels),
            notes: notes(&levels, baseline, !comparisons.is_empty()),
            comparisons,
            figures: own.iter().map(|f| f.id.clone()).collect(),
            levels,
        });
        figures.extend(own);
    }
    (sections, figures)
}

/// The runtimes with load levels in any run.
pub fn load_runtimes(runs: &[Run]) -> BTreeSet<&str> {
    runs.iter()
        .flat_map(|r| r.load.iter().map(|l| l.runtime.as_str()))
        .collect()
}

fn ratio(candidate: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    let (c, b) = (candidate?, baseline?);
    (b > 0.0 && c.is_finite() && b.is_finite()).then(|| c / b)
}

fn comparisons(levels: &[LoadLevel], baseline: &str) -> Vec<LoadComparison> {
    let matched = |l: &LoadLevel| {
        levels.iter().find(|b| {
            b.record.runtime == baseline
                && b.run == l.run
                && b.record.kind == l.record.kind
                && b.record.level == l.record.level
        })
    };
    let p = |v: Option<u64>| v.map(|v| v as f64);
    levels
        .iter()
        .filter(|l| l.record.runtime != baseline)
        .filter_map(|l| {
            let b = matched(l)?;
            let (c, base) = (&l.record, &b.record);
            Some(LoadComparison {
                run: l.run.clone(),
                runtime: c.runtime.clone(),
                baseline: baseline.to_owned(),
                kind: c.kind,
                level: c.level,
                p50_ratio: ratio(p(c.p50_ns), p(base.p50_ns)),
                p99_ratio: ratio(p(c.p99_ns), p(base.p99_ns)),
                achieved_rps_ratio: ratio(Some(c.achieved_rps), Some(base.achieved_rps)),
                energy_per_request_ratio: ratio(l.usable_energy_per_request_j(), b.usable_energy_per_request_j()),
                estimated: c.estimated == Some(true) || base.estimated == Some(true),
            })
        })
        .collect()
}

/// Warm pools only: a burst starts from nothing, so it has no idle pool to measure.
fn density(levels: &[LoadLevel]) -> Vec<MemoryDensity> {
    let mut pools: BTreeMap<(&str, u32), Vec<&LoadRecord>> = BTreeMap::new();
    for l in levels.iter().filter(|l| l.record.kind != LoadKind::Burst) {
        pools
            .entry((&l.record.runtime, l.record.instances))
            .or_default()
            .push(&l.record);
    }
    pools
        .into_iter()
        .map(|((runtime, instances), rows)| {
            let per_instance: Vec<f64> = rows.iter().filter_map(|r| r.memory_per_instance_bytes).collect();
            let seen: Vec<&&LoadRecord> = rows.iter().filter(|r| !r.unseen).collect();
            let idle: Vec<f64> = seen.iter().filter_map(|r| r.idle_pool_w).collect();
            let sources: BTreeSet<&str> = rows
                .iter()
                .map(|r| r.memory_source.as_str())
                .filter(|s| !s.is_empty())
                .collect();
            MemoryDensity {
                runtime: runtime.to_owned(),
                instances,
                levels: rows.len(),
                memory_per_instance_bytes: median(&per_instance),
                memory_bytes: rows.iter().filter_map(|r| r.memory_bytes).max(),
                memory_source: sources.into_iter().collect::<Vec<_>>().join("/"),
                idle_pool_w: median(&idle),
                estimated: seen
                    .iter()
                    .any(|r| r.idle_pool_w.is_some() && r.estimated == Some(true)),
            }
        })
        .collect()
}

fn notes(levels: &[LoadLevel], baseline: &str, compared: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let unseen: BTreeMap<&str, BTreeSet<&str>> =
        levels
            .iter()
            .filter(|l| l.record.unseen)
            .fold(BTreeMap::new(), |mut m, l| {
                m.entry(l.record.runtime.as_str())
                    .or_default()
                    .insert(l.record.energy_channel.as_str());
                m
            });
    for (runtime, channels) in unseen {
        notes.push(format!(
            "energy of {runtime} under load left out: {} cannot see its work (unseen), so its figure would be biased low",
            channels.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let estimated: BTreeSet<&str> = levels
        .iter()
        .filter(|l| l.record.estimated == Some(true))
        .map(|l| l.record.energy_channel.as_str())
        .collect();
    if !estimated.is_empty() {
        notes.push(format!(
            "energy under load marked \"estimated\" comes from a model ({}), not a sensor",
            estimated.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if levels.iter().all(|l| l.record.energy_j.is_none()) {
        notes.push("no level has an energy figure (a run without a whole-machine energy channel, or without an idle baseline to subtract)".into());
    }
    let count = |f: fn(&LoadRecord) -> bool| levels.iter().filter(|l| f(&l.record)).count();
    let saturated = count(|r| r.saturated == Some(true));
    if saturated > 0 {
        notes.push(format!(
            "{saturated} open-loop level(s) saturated (achieved under {:.0}% of offered): their latency is mostly queueing",
            LoadRecord::SATURATION_SHARE * 100.0
        ));
    }
    let partial = count(|r| r.partial);
    if partial > 0 {
        notes.push(format!(
            "{partial} level(s) were interrupted before their measured time ended (partial): their numbers cover less time"
        ));
    }
    if !levels.iter().any(|l| l.record.runtime == baseline) {
        notes.push(format!("no {baseline} levels, so no comparisons at matched load"));
    } else if compared {
        notes.push(SINGLE_OBSERVATION_NOTE.to_owned());
    }
    notes
}

/// A statistic a figure draws: its name and how a level gives it (none: no point).
type Statistic<'a> = (&'a str, fn(&LoadLevel) -> Option<f64>);

/// Lines of `levels` (burst left out: it has no rate axis), one per runtime, kind and statistic.
fn curves(levels: &[LoadLevel], statistics: &[Statistic], factor: f64) -> Vec<LoadCurve> {
    let mut lines: BTreeMap<(&str, LoadKind, usize), Vec<[f64; 2]>> = BTreeMap::new();
    for l in levels.iter().filter(|l| l.record.kind != LoadKind::Burst) {
        for (s, (_, value)) in statistics.iter().enumerate() {
            if let Some(v) = value(l).filter(|v| v.is_finite()) {
                lines
                    .entry((&l.record.runtime, l.record.kind, s))
                    .or_default()
                    .push([l.record.achieved_rps, v / factor]);
            }
        }
    }
    lines
        .into_iter()
        .map(|((runtime, kind, s), points)| LoadCurve {
            runtime: runtime.to_owned(),
            kind,
            statistic: statistics[s].0.to_owned(),
            label: format!("{runtime} {kind} {}", statistics[s].0),
            points,
        })
        .collect()
}

fn spans_decades(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    lo > 0.0 && hi / lo > 20.0
}

fn latency_figure(workload: &str, input: &str, levels: &[LoadLevel]) -> Option<Figure> {
    let p50s: Vec<f64> = levels
        .iter()
        .filter_map(|l| l.record.p50_ns)
        .map(|v| v as f64)
        .collect();
    let (unit, factor) = scale(median(&p50s)?, &TIME_UNITS);
    let p50: fn(&LoadLevel) -> Option<f64> = |l| l.record.p50_ns.map(|v| v as f64);
    let p99: fn(&LoadLevel) -> Option<f64> = |l| l.record.p99_ns.map(|v| v as f64);
    let series = curves(levels, &[("p50", p50), ("p99", p99)], factor);
    if series.is_empty() {
        return None;
    }
    let log_y = spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p[1])));
    Some(Figure {
        id: slug(&["load-latency", workload, input]),
        title: format!("Latency against throughput: {workload} {input}"),
        x_label: "achieved requests/s".into(),
        y_label: format!(
            "latency from intended send ({unit}){}",
            if log_y { ", log scale" } else { "" }
        ),
        log_x: false,
        data: FigureData::LoadCurves { series, log_y },
    })
}

fn energy_figure(workload: &str, input: &str, levels: &[LoadLevel]) -> Option<Figure> {
    let values: Vec<f64> = levels
        .iter()
        .filter_map(LoadLevel::usable_energy_per_request_j)
        .collect();
    let (unit, factor) = scale(median(&values)?, &ENERGY_UNITS);
    let energy: fn(&LoadLevel) -> Option<f64> = LoadLevel::usable_energy_per_request_j;
    let series = curves(levels, &[("energy per request", energy)], factor);
    if series.is_empty() {
        return None;
    }
    let used: Vec<&LoadLevel> = levels
        .iter()
        .filter(|l| l.usable_energy_per_request_j().is_some())
        .collect();
    let channels: BTreeSet<&str> = used.iter().map(|l| l.record.energy_channel.as_str()).collect();
    let estimated = if used.iter().any(|l| l.record.estimated == Some(true)) {
        " (estimated)"
    } else {
        ""
    };
    let log_y = spans_decades(series.iter().flat_map(|s| s.points.iter().map(|p| p[1])));
    Some(Figure {
        id: slug(&["load-energy", workload, input]),
        title: format!(
            "Energy per request against throughput, {}{estimated}: {workload} {input}",
            channels.into_iter().collect::<Vec<_>>().join(", ")
        ),
        x_label: "achieved requests/s (circles: clients, triangles: rate)".into(),
        y_label: format!(
            "net energy per request ({unit}){estimated}{}",
            if log_y { ", log scale" } else { "" }
        ),
        log_x: false,
        data: FigureData::LoadCurves { series, log_y },
    })
}
