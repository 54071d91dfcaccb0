//! From a run as read to its [`TerminalSummary`]: per workload and input and mode, each runtime's median
//! latency, its energy per invocation when probes ran (the one energy summary, `crate::energy_summary`, on the
//! whole-machine channel: what the report's energy glance shows for the same cell), and how it compares with
//! the fastest.

use super::model::{BestLoadLevel, RuntimeLine, ShownChannel, SummaryCell, TerminalSummary};
use crate::energy_summary::{Resampling, figure_name, shown_channel, summarize};
use crate::run::Run;
use crate::summary::median;
use harness_data::{InvocationRecord, LoadKind, LoadRecord, Mode, PairedRecord, Status};
use std::collections::BTreeMap;

/// One runtime's measured invocations in one cell: ok latencies, failures, paired rows on the shown channel.
#[derive(Debug, Default)]
struct Measured<'a> {
    latencies: Vec<f64>,
    failed: usize,
    paired: Vec<(&'a str, &'a PairedRecord)>,
}

/// (workload, input, mode) -> runtime -> what it measured.
type Cells<'a> = BTreeMap<(String, String, Mode), BTreeMap<String, Measured<'a>>>;

fn measured_cells<'a>(run: &'a Run, channel: Option<&ShownChannel>) -> Cells<'a> {
    let mut cells = Cells::new();
    let measured = |r: &&InvocationRecord| !r.warmup;
    for row in run.invocations.iter().filter(measured) {
        let entry = cells
            .entry((row.workload.clone(), row.input.clone(), row.mode))
            .or_default()
            .entry(row.runtime.clone())
            .or_default();
        if row.status == Status::Ok {
            entry.latencies.push(row.latency_ns as f64);
        } else {
            entry.failed += 1;
        }
    }
    if let (Some(shown), Some(paired)) = (channel, &run.paired) {
        for row in paired
            .iter()
            .filter(|r| r.probe == shown.probe && r.channel == shown.channel)
        {
            if let Some(cell) = cells.get_mut(&(row.workload.clone(), row.input.clone(), row.mode))
                && let Some(entry) = cell.get_mut(&row.runtime)
            {
                entry.paired.push((run.name.as_str(), row));
            }
        }
    }
    cells
}

fn summary_cell(
    (workload, input, mode): (String, String, Mode),
    runtimes: BTreeMap<String, Measured>,
    channel: Option<&ShownChannel>,
) -> SummaryCell {
    let mut lines: Vec<RuntimeLine> = runtimes
        .iter()
        .filter_map(|(runtime, m)| {
            Some(RuntimeLine {
                runtime: runtime.clone(),
                median_latency_ns: median(&m.latencies)?,
                slower_than_fastest: None,
                ok: m.latencies.len(),
                failed: m.failed,
                // The one energy summary, as the report's energy glance computes it for the same cell.
                energy: channel.map(|ch| {
                    let name = figure_name(&workload, &input, mode, runtime, ch);
                    summarize(ch, &m.paired, &name, Resampling::default())
                }),
            })
        })
        .collect();
    lines.sort_by(|a, b| a.median_latency_ns.total_cmp(&b.median_latency_ns));
    if let Some(fastest) = lines.first().map(|l| (l.runtime.clone(), l.median_latency_ns)) {
        for line in lines.iter_mut().filter(|l| l.runtime != fastest.0) {
            line.slower_than_fastest = Some(line.median_latency_ns / fastest.1);
        }
    }
    SummaryCell {
        workload,
        input,
        mode,
        runtimes: lines,
        all_failed: runtimes
            .iter()
            .filter(|(_, m)| m.latencies.is_empty())
            .map(|(runtime, m)| (runtime.clone(), m.failed))
            .collect(),
    }
}

/// Per (workload, input, runtime), the closed-loop level with the highest throughput (the first on a tie).
fn best_load_levels(load: &[LoadRecord]) -> Vec<BestLoadLevel> {
    let mut best: BTreeMap<(String, String, String), &LoadRecord> = BTreeMap::new();
    for row in load.iter().filter(|r| r.kind == LoadKind::Clients) {
        let key = (row.workload.clone(), row.input.clone(), row.runtime.clone());
        if best.get(&key).is_none_or(|b| row.achieved_rps > b.achieved_rps) {
            best.insert(key, row);
        }
    }
    best.into_iter()
        .map(|((workload, input, runtime), row)| BestLoadLevel {
            workload,
            input,
            runtime,
            achieved_rps: row.achieved_rps,
            clients: row.level,
            p99_ns: row.p99_ns,
        })
        .collect()
}

/// The summary of a finished run, or `None` when it has no measured invocation and no load level.
pub fn build(run: &Run) -> Option<TerminalSummary> {
    let energy_channel = shown_channel([run]);
    let cells: Vec<SummaryCell> = measured_cells(run, energy_channel.as_ref())
        .into_iter()
        .map(|(key, runtimes)| summary_cell(key, runtimes, energy_channel.as_ref()))
        .collect();
    if cells.is_empty() && run.load.is_empty() {
        return None;
    }
    let mut fastest_overall: BTreeMap<String, usize> = BTreeMap::new();
    for fastest in cells.iter().filter_map(|c| c.runtimes.first()) {
        *fastest_overall.entry(fastest.runtime.clone()).or_default() += 1;
    }
    // The report's baseline: the runtime most often fastest is the natural reference.
    let baseline = fastest_overall
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(r, _)| r.clone())
        .or_else(|| run.manifest.plan.runtimes.first().map(|r| r.to_string()))
        .unwrap_or_else(|| "native".into());
    Some(TerminalSummary {
        energy_channel,
        cells,
        load: (!run.load.is_empty()).then(|| best_load_levels(&run.load)),
        baseline,
        energy_notes: crate::net::busy_baseline_notes(&run.manifest, ""),
    })
}
