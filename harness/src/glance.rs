//! Results at a glance: what `harness measure` prints when it ends, on a terminal and in CI logs alike (as
//! hyperfine ends with its summary). Per workload and input and mode, each runtime's median latency, its
//! median energy per invocation when probes ran (labelled as the probe is), and how it compares with the
//! fastest; then the command that makes the full report.

use harness_analysis::load::Run;
use harness_analysis::summary::median;
use harness_data::{InvocationRecord, Mode, PairedRecord, Status};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One runtime's line.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    runtime: String,
    latency_ns: f64,
    ok: usize,
    failed: usize,
    energy_j: Option<f64>,
}

fn time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.2} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.2} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} us", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

fn energy(j: f64) -> String {
    match j.abs() {
        a if a >= 1.0 => format!("{j:.2} J"),
        a if a >= 1e-3 => format!("{:.2} mJ", j * 1e3),
        _ => format!("{:.1} uJ", j * 1e6),
    }
}

/// The channel the summary shows: the first one (in manifest order) with energy on any row, whole-machine
/// channels first. The report has all of them.
fn shown_channel(paired: &[PairedRecord]) -> Option<(String, String, bool)> {
    let usable = |r: &&PairedRecord| r.quality.has_energy() && r.flag.is_none() && r.net_j.is_some();
    paired
        .iter()
        .filter(usable)
        .min_by_key(|r| (r.scope != "machine", r.channel.contains('/')))
        .map(|r| (r.probe.clone(), r.channel.clone(), r.estimated))
}

/// One runtime's measured invocations in one cell: ok latencies, failures, net energies.
#[derive(Debug, Default)]
struct Measured {
    latencies: Vec<f64>,
    failed: usize,
    energies: Vec<f64>,
}

/// (workload, input, mode) -> runtime -> what it measured.
type Cells = BTreeMap<(String, String, Mode), BTreeMap<String, Measured>>;

/// The summary of a finished run, or `None` when it has no measured invocation and no load level.
pub fn summary(run: &Run, out_display: &str) -> Option<String> {
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
    let channel = run.paired.as_deref().and_then(shown_channel);
    if let (Some((probe, name, _)), Some(paired)) = (&channel, &run.paired) {
        for row in paired.iter().filter(|r| &r.probe == probe && &r.channel == name) {
            if let (true, None, Some(net)) = (row.quality.has_energy(), row.flag, row.net_j)
                && let Some(cell) = cells.get_mut(&(row.workload.clone(), row.input.clone(), row.mode))
                && let Some(entry) = cell.get_mut(&row.runtime)
            {
                entry.energies.push(net);
            }
        }
    }
    if cells.is_empty() && run.load.is_empty() {
        return None;
    }
    let mut text = String::new();
    let energy_label = match &channel {
        Some((probe, name, true)) => {
            format!("; energy per invocation net of idle, ESTIMATED by the model ({probe}/{name})")
        }
        Some((probe, name, false)) => format!("; energy per invocation net of idle, measured by {probe}/{name}"),
        None => String::new(),
    };
    if !cells.is_empty() {
        let _ = writeln!(text, "\nSummary (median latency per invocation{energy_label})");
    }
    let mut fastest_overall: BTreeMap<String, usize> = BTreeMap::new();
    for ((workload, input, mode), runtimes) in &cells {
        let mut lines: Vec<Line> = runtimes
            .iter()
            .filter_map(|(runtime, m)| {
                Some(Line {
                    runtime: runtime.clone(),
                    latency_ns: median(&m.latencies)?,
                    ok: m.latencies.len(),
                    failed: m.failed,
                    energy_j: median(&m.energies),
                })
            })
            .collect();
        lines.sort_by(|a, b| a.latency_ns.total_cmp(&b.latency_ns));
        let _ = writeln!(text, "  {workload} {input}, {}", mode.as_str());
        let Some(fastest) = lines.first().cloned() else {
            let _ = writeln!(text, "    no invocation ended ok");
            continue;
        };
        *fastest_overall.entry(fastest.runtime.clone()).or_default() += 1;
        for line in &lines {
            let compared = if line.runtime == fastest.runtime {
                "fastest".to_string()
            } else {
                format!("{:.2}x slower", line.latency_ns / fastest.latency_ns)
            };
            // A dash where the channel exists but this runtime's windows were below its resolution.
            let energy = match (line.energy_j, &channel) {
                (Some(j), _) => energy(j),
                (None, Some(_)) => "-".into(),
                (None, None) => String::new(),
            };
            let failed = if line.failed > 0 {
                format!("  ({} failed)", line.failed)
            } else {
                String::new()
            };
            let _ = writeln!(
                text,
                "    {:<14}{:>11}  {:>10}  {compared}  (n={}){failed}",
                line.runtime,
                time(line.latency_ns),
                energy,
                line.ok
            );
        }
        for (runtime, m) in runtimes.iter().filter(|(_, m)| m.latencies.is_empty()) {
            let _ = writeln!(text, "    {runtime:<14}{:>11}  all {} failed", "-", m.failed);
        }
    }
    if !run.load.is_empty() {
        let _ = writeln!(
            text,
            "\nUnder load (closed loop: best throughput over its client levels; p99 there)"
        );
        let mut best: BTreeMap<(String, String, String), &harness_data::LoadRecord> = BTreeMap::new();
        for row in run.load.iter().filter(|r| r.kind == harness_data::LoadKind::Clients) {
            let key = (row.workload.clone(), row.input.clone(), row.runtime.clone());
            if best.get(&key).is_none_or(|b| row.achieved_rps > b.achieved_rps) {
                best.insert(key, row);
            }
        }
        for ((workload, input, runtime), row) in &best {
            let _ = writeln!(
                text,
                "  {workload} {input}  {runtime:<14}{:>12.0} req/s at {} clients, p99 {}",
                row.achieved_rps,
                row.level,
                row.p99_ns.map_or("-".into(), |p| time(p as f64))
            );
        }
        let _ = writeln!(text, "  every level: load.csv (requests: requests.csv)");
    }
    // The report's baseline: the runtime most often fastest is the natural reference.
    let baseline = fastest_overall
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(r, _)| r.clone())
        .or_else(|| run.manifest.plan.runtimes.first().map(|r| r.to_string()))
        .unwrap_or_else(|| "native".into());
    let _ = writeln!(
        text,
        "\nNext: harness report {out_display} --baseline {baseline} --out {out_display}/report"
    );
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_energies_read_at_a_glance() {
        assert_eq!(time(850.0), "850 ns");
        assert_eq!(time(21_300.0), "21.3 us");
        assert_eq!(time(2_500_000.0), "2.50 ms");
        assert_eq!(energy(0.00052), "520.0 uJ");
        assert_eq!(energy(0.0123), "12.30 mJ");
    }
}
