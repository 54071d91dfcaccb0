//! The energy glance and the cold premium as report blocks: per mode, each (workload, input) and runtime's
//! energy per invocation on the whole-machine channel, written as the terminal summary writes it (the one
//! energy summary, `crate::energy_summary`), then the cold premium beside the latency cold/warm ratio.

use super::format::{Block, DASH, significant};
use super::model::{Basis, ColdPremium, EnergySummary, Report};
use crate::energy_summary::{ShownChannel, plus_minus};
use crate::report::format::short_joules;
use harness_data::Mode;
use std::collections::BTreeSet;

fn channel_label(ch: &ShownChannel) -> String {
    format!(
        "{}/{}{}",
        ch.probe,
        ch.channel,
        if ch.estimated { ", estimated" } else { "" }
    )
}

/// A cell: the summary's text, `(gross)` where the figure is not net of idle, `(estimated)` where a model's.
pub fn energy_cell(e: &EnergySummary) -> String {
    let gross = if e.basis == Basis::Gross && e.figure.is_some() {
        " (gross)"
    } else {
        ""
    };
    let estimated = if e.estimated && e.figure.is_some() {
        " (estimated)"
    } else {
        ""
    };
    format!("{}{gross}{estimated}", e.text())
}

/// The premium with its interval, or the reason there is none.
pub fn premium_cells(p: &ColdPremium) -> (String, String) {
    match (&p.premium_j, &p.reason) {
        (Some(i), _) => (
            format!(
                "{}{}{}",
                short_joules(i.estimate),
                if p.basis == Basis::Gross { " (gross)" } else { "" },
                if p.cold.estimated || p.warm.estimated {
                    " (estimated)"
                } else {
                    ""
                }
            ),
            format!(
                "[{}, {}]{}",
                short_joules(i.ci_low),
                short_joules(i.ci_high),
                if i.ci_low <= 0.0 && i.ci_high >= 0.0 {
                    format!(
                        " within noise: {}",
                        plus_minus(i.estimate, (i.ci_high - i.ci_low) / 2.0)
                    )
                } else {
                    String::new()
                }
            ),
        ),
        (None, reason) => (DASH.into(), reason.clone().unwrap_or_default()),
    }
}

/// The energy glance (one table per mode) and the cold premium table; nothing without a shown channel.
pub fn energy_blocks(report: &Report) -> Vec<Block> {
    let Some(ch) = &report.energy_channel else {
        return Vec::new();
    };
    let mut blocks = vec![
        Block::Heading(3, format!("Energy per invocation ({})", channel_label(ch))),
        Block::Paragraph(format!(
            "Median energy per invocation on the whole-machine channel, net of idle where the idle baseline allows (else gross, marked), as harness measure prints it: a figure only where at least half of the cell's units (invocations, or batch windows counted once) have usable energy, otherwise a dash and why; a net {:.0}% interval that spans zero reads \"within noise\".",
            report.settings.level * 100.0
        )),
    ];
    let runtimes: Vec<&str> = report
        .groups
        .iter()
        .map(|g| g.key.runtime.as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for mode in [Mode::Cold, Mode::Warm] {
        let groups: Vec<_> = report.groups.iter().filter(|g| g.key.mode == mode).collect();
        let cells: Vec<(&str, &str)> = groups
            .iter()
            .map(|g| (g.key.workload.as_str(), g.key.input.as_str()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if cells.is_empty() {
            continue;
        }
        let mut header = vec![format!("{} workload", mode.as_str()), "input".into()];
        header.extend(runtimes.iter().map(|r| r.to_string()));
        let rows = cells
            .iter()
            .map(|(w, i)| {
                let mut row = vec![w.to_string(), i.to_string()];
                row.extend(runtimes.iter().map(|r| {
                    groups
                        .iter()
                        .find(|g| g.key.workload == *w && g.key.input == *i && g.key.runtime == *r)
                        .and_then(|g| g.energy_at_a_glance.as_ref())
                        .map_or(DASH.into(), energy_cell)
                }));
                row
            })
            .collect();
        blocks.push(Block::Table { header, rows });
    }
    if !report.cold_premium.is_empty() {
        blocks.push(Block::Heading(3, format!("Cold premium ({})", channel_label(ch))));
        blocks.push(Block::Paragraph(format!(
            "Energy of a cold start minus the energy of a warm invocation (medians on the channel above, net of idle where both sides allow), with a seeded {:.0}% percentile-bootstrap interval over the sampled units; only where both sides have usable energy on at least half their units. Beside it, the latency ratio of medians, cold / warm.",
            report.settings.level * 100.0
        )));
        let header = [
            "workload",
            "input",
            "runtime",
            "cold",
            "warm",
            "cold premium",
            "interval",
            "latency cold/warm",
        ]
        .map(String::from)
        .to_vec();
        let rows = report
            .cold_premium
            .iter()
            .map(|p| {
                let (premium, interval) = premium_cells(p);
                vec![
                    p.workload.clone(),
                    p.input.clone(),
                    p.runtime.clone(),
                    energy_cell(&p.cold),
                    energy_cell(&p.warm),
                    premium,
                    interval,
                    p.latency_ratio.map_or(DASH.into(), |r| format!("{}x", significant(r))),
                ]
            })
            .collect();
        blocks.push(Block::Table { header, rows });
    }
    blocks
}
