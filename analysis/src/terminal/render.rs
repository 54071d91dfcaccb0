//! A [`TerminalSummary`] as the text `harness measure` prints.

use super::model::{SummaryCell, TerminalSummary};
use crate::report::format::{short_duration, short_joules};
use std::fmt::Write;

/// The summary as text; `out_display` is the run directory as the user gave it, for the next command.
pub fn render(summary: &TerminalSummary, out_display: &str) -> String {
    let mut text = String::new();
    let energy_label = match &summary.energy_channel {
        Some(c) if c.estimated => format!(
            "; energy per invocation net of idle, ESTIMATED by the model ({}/{})",
            c.probe, c.channel
        ),
        Some(c) => format!(
            "; energy per invocation net of idle, measured by {}/{}",
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
        // A dash where the channel exists but this runtime's windows were below its resolution.
        let energy = match (line.median_energy_j, has_channel) {
            (Some(j), _) => short_joules(j),
            (None, true) => "-".into(),
            (None, false) => String::new(),
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
            short_duration(line.median_latency_ns),
            energy,
            line.ok
        );
    }
    for (runtime, failed) in &cell.all_failed {
        let _ = writeln!(text, "    {runtime:<14}{:>11}  all {failed} failed", "-");
    }
}
