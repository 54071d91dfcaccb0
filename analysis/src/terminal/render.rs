//! A [`TerminalSummary`] as the text `harness measure` prints.

use super::model::{EnergySummary, SummaryCell, TerminalSummary};
use crate::energy_summary::Basis;
use crate::report::format::{short_duration, short_joules};
use std::fmt::Write;

/// The summary as text; `out_display` is the run directory as the user gave it, for the next command.
pub fn render(summary: &TerminalSummary, out_display: &str) -> String {
    let mut text = String::new();
    let energy_label = match &summary.energy_channel {
        Some(c) if c.estimated => format!(
            "; energy per invocation net of idle, ESTIMATED by the model ({}/{}), from at least half the units",
            c.probe, c.channel
        ),
        Some(c) => format!(
            "; energy per invocation net of idle, measured by {}/{}, from at least half the units",
            c.probe, c.channel
        ),
        None => String::new(),
    };
    if !summary.cells.is_empty() {
        let _ = writeln!(text, "\nSummary (median latency per invocation{energy_label})");
    }
    for cell in &summary.cells {
        render_cell(&mut text, cell, summary.energy_channel.is_some());
    }
    for note in &summary.energy_notes {
        let _ = writeln!(text, "  note: {note}");
    }
    if let Some(load) = &summary.load {
        let _ = writeln!(
            text,
            "\nUnder load (closed loop: best throughput over its client levels; p99 there)"
        );
        for row in load {
            let _ = writeln!(
                text,
                "  {} {}  {:<14}{:>12.0} req/s at {} clients, p99 {}",
                row.workload,
                row.input,
                row.runtime,
                row.achieved_rps,
                row.clients,
                row.p99_ns.map_or("-".into(), |p| short_duration(p as f64))
            );
        }
        let _ = writeln!(text, "  every level: load.csv (requests: requests.csv)");
    }
    let _ = writeln!(
        text,
        "\nNext: harness report {out_display} --baseline {} --out {out_display}/report",
        summary.baseline
    );
    text
}

fn render_cell(text: &mut String, cell: &SummaryCell, has_channel: bool) {
    let _ = writeln!(text, "  {} {}, {}", cell.workload, cell.input, cell.mode.as_str());
    if cell.runtimes.is_empty() {
        let _ = writeln!(text, "    no invocation ended ok");
        return;
    }
    for line in &cell.runtimes {
        let compared = match line.slower_than_fastest {
            None => "fastest".to_string(),
            Some(ratio) => format!("{ratio:.2}x slower"),
        };
        // A figure only from a majority of usable units; otherwise a dash, and why at the end of the line.
        let (energy, note) = match (&line.energy, has_channel) {
            (Some(e), _) => energy_cells(e),
            (None, true) => ("-".into(), String::new()),
            (None, false) => (String::new(), String::new()),
        };
        let failed = if line.failed > 0 {
            format!("  ({} failed)", line.failed)
        } else {
            String::new()
        };
        let _ = writeln!(
            text,
            "    {:<14}{:>11}  {:>10}  {compared}  (n={}){failed}{note}",
            line.runtime,
            short_duration(line.median_latency_ns),
            energy,
            line.ok
        );
    }
    for (runtime, failed) in &cell.all_failed {
        let _ = writeln!(text, "    {runtime:<14}{:>11}  all {failed} failed", "-");
    }
}

/// The energy column and the note at the end of the line: `12.30 mJ`; `-` with `[energy: 8 of 10 below
/// resolution]`; `~0` with `[energy within noise: 0.10 +- 0.60 mJ]`; a gross figure says so.
fn energy_cells(e: &EnergySummary) -> (String, String) {
    match (e.clean(), e.reason()) {
        (Some(j), _) if e.basis == Basis::Gross => (short_joules(j), "  [energy gross: no idle baseline]".into()),
        (Some(j), _) => (short_joules(j), String::new()),
        (None, Some(reason)) => ("-".into(), format!("  [energy: {reason}]")),
        (None, None) if e.within_noise() => ("~0".into(), format!("  [energy {}]", e.text())),
        (None, None) => ("-".into(), format!("  [energy {}]", e.text())),
    }
}
