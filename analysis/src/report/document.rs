//! The report laid out as blocks (headings, paragraphs, tables, figures; [`Block`]), shared by the Markdown and
//! HTML renderers so the two show the same numbers. Only formatting happens here, with the formatters of
//! [`super::format`].

use super::energy_glance::energy_blocks;
use super::format::{Block, bytes, duration, joules, or_dash as opt, p_value, significant};
use super::model::*;
use crate::stats::RankTest;
use std::collections::BTreeMap;

fn ratio(i: &crate::stats::Interval) -> String {
    if i.ci_low.is_finite() && i.ci_high.is_finite() {
        format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.ci_low, i.ci_high)
    } else {
        format!("{:.3} [-]", i.estimate)
    }
}

fn estimated(flag: bool) -> &'static str {
    if flag { " (estimated)" } else { "" }
}

fn cell_title(workload: &str, input: &str, mode: harness_data::Mode) -> String {
    format!("{workload} {input}, {}", mode.as_str())
}

pub fn layout(report: &Report) -> Vec<Block> {
    let s = &report.settings;
    let mut blocks = vec![
        Block::Heading(1, "harness report".into()),
        Block::Paragraph(format!(
            "Baseline runtime: {}. Ratios are candidate median / baseline median with a {:.0}% percentile bootstrap interval ({} resamples, seed {}; whole batch windows resampled where the run has them, and with several runs, runs first, then units within each drawn run; with few units the percentiles are taken at Hesterberg's expanded level, e.g. 97.8% for 12 units a side, so the stated level holds). Rank tests are two-sided and count one value per batch window (its median latency), per paired row (energy) or per invocation where nothing was batched: n is that count (Mann-Whitney U, exact for a side of 8 or fewer without ties; Brunner-Munzel where the IQRs differ by {}x or more and both sides have more than 8 units, unless complete separation leaves it undefined), Holm-adjusted across the {} comparisons of this report; alpha {}. Verdicts: equivalent when the whole interval lies within ±{}% of 1; faster/slower (less/more energy) when the adjusted p is below alpha and the whole interval lies on one side of 1; inconclusive otherwise, with the reason where too few units make alpha unreachable. Cliff's delta > 0: the runtime tends to be larger (slower, more energy) than the baseline. Outliers: {}. Warm-up invocations are left out; invocations that did not end ok are counted, not timed.",
            report.baseline,
            s.level * 100.0,
            s.resamples,
            s.seed,
            s.spread_ratio_for_brunner_munzel,
            report.comparisons.len(),
            s.alpha,
            s.equivalence_band * 100.0,
            s.outlier_rule
        )),
    ];
    blocks.extend(glance_blocks(report));
    blocks.extend(super::precision::precision_blocks(&report.precision));
    blocks.extend([Block::Heading(2, "Runs".into()), run_table(report)]);
    if !report.notes.is_empty() {
        blocks.push(Block::Heading(2, "Notes".into()));
        blocks.push(Block::Bullets(report.notes.clone()));
    }
    if !report.incomplete.is_empty() {
        blocks.push(Block::Heading(2, "Incomplete groups".into()));
        blocks.push(Block::Table {
            header: ["run", "workload", "input", "runtime", "mode", "measured", "scheduled"]
                .map(String::from)
                .to_vec(),
            rows: report
                .incomplete
                .iter()
                .map(|i| {
                    vec![
                        i.run.clone(),
                        i.key.workload.clone(),
                        i.key.input.clone(),
                        i.key.runtime.clone(),
                        i.key.mode.as_str().into(),
                        i.measured.to_string(),
                        i.scheduled.to_string(),
                    ]
                })
                .collect(),
        });
    }
    // One section per (workload, input, mode).
    let mut cells: BTreeMap<(&str, &str, harness_data::Mode), Vec<&GroupReport>> = BTreeMap::new();
    for g in &report.groups {
        cells
            .entry((&g.key.workload, &g.key.input, g.key.mode))
            .or_default()
            .push(g);
    }
    for ((workload, input, mode), groups) in cells {
        blocks.push(Block::Heading(2, cell_title(workload, input, mode)));
        blocks.push(Block::Heading(3, "Latency".into()));
        blocks.push(latency_table(&groups));
        let energy: Vec<_> = groups
            .iter()
            .flat_map(|g| g.energy.iter().map(move |e| (g, e)))
            .collect();
        if !energy.is_empty() {
            blocks.push(Block::Heading(3, "Energy per invocation".into()));
            blocks.push(energy_table(&energy));
        }
        let comparisons: Vec<&Comparison> = report
            .comparisons
            .iter()
            .filter(|c| c.workload == workload && c.input == input && c.mode == mode)
            .collect();
        if !comparisons.is_empty() {
            blocks.push(Block::Heading(3, format!("Against {}", report.baseline)));
            if report.runs.len() == 1 {
                blocks.push(Block::Paragraph(
                    "One run: these intervals cover within-run variation only.".into(),
                ));
            }
            blocks.push(comparison_table(&comparisons));
        }
        for (i, f) in report.figures.iter().enumerate() {
            let prefix = super::figures::slug(&[workload, input, mode.as_str()]);
            if f.id.ends_with(&prefix) || f.id.contains(&format!("-{prefix}-")) {
                blocks.push(Block::Figure(i));
            }
        }
    }
    blocks.extend(super::load::layout::load_blocks(report));
    blocks
}

/// "cold: latency", "warm: energy model/cpu (estimated) [machine]".
pub fn glance_title(table: &GlanceTable) -> String {
    let metric = match &table.metric {
        Metric::Energy { scope: s, .. } => format!("{}{}", table.metric.label(), scope(s)),
        Metric::Latency => table.metric.label(),
    };
    format!("{}: {metric}", table.mode.as_str())
}

pub fn glance_header(table: &GlanceTable, baseline: &str) -> Vec<String> {
    let tag = match table.metric {
        Metric::Energy { estimated: e, .. } => estimated(e),
        Metric::Latency => "",
    };
    [
        "workload".to_string(),
        "input".into(),
        format!("{baseline} median{tag}"),
    ]
    .into_iter()
    .chain(table.runtimes.iter().cloned())
    .collect()
}

/// A cell as two parts, the ratio with its interval and the verdict: "0.405 [0.398, 0.411]", "faster".
pub fn glance_cell(cell: Option<&GlanceCell>) -> (String, String) {
    let Some(cell) = cell else {
        return ("-".into(), String::new());
    };
    if let Some(why) = &cell.left_out {
        return ("left out".into(), format!("({why})"));
    }
    let ratio = match &cell.ratio_of_medians {
        Some(i) if i.ci_low.is_finite() && i.ci_high.is_finite() => format!(
            "{} [{}, {}]",
            significant(i.estimate),
            significant(i.ci_low),
            significant(i.ci_high)
        ),
        Some(i) => format!("{} [-]", significant(i.estimate)),
        None => "-".into(),
    };
    (ratio, cell.verdict.as_str().into())
}

/// A row's text: workload, input, the baseline's median, then one cell per runtime.
pub fn glance_row(table: &GlanceTable, row: &GlanceRow) -> Vec<String> {
    let median = match (&table.metric, row.baseline_median) {
        (_, None) => "-".into(),
        (Metric::Latency, Some(v)) => duration(v),
        (Metric::Energy { estimated: e, .. }, Some(v)) => format!("{}{}", joules(v), estimated(*e)),
    };
    [row.workload.clone(), row.input.clone(), median]
        .into_iter()
        .chain(row.cells.iter().map(|c| {
            let (ratio, verdict) = glance_cell(c.as_ref());
            if verdict.is_empty() {
                ratio
            } else {
                format!("{ratio} {verdict}")
            }
        }))
        .collect()
}

fn artifact_table(report: &Report) -> Block {
    let several_runs = report.runs.len() > 1;
    let size = |v: Option<u64>| v.map(bytes).unwrap_or_else(|| "-".into());
    let times = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if b > 0 => format!("{}x", significant(a as f64 / b as f64)),
        _ => "-".into(),
    };
    let mut header: Vec<String> = [
        "workload",
        "native",
        ".wasm",
        ".cwasm",
        "container image",
        "image / .cwasm",
        "image / .wasm",
    ]
    .map(String::from)
    .to_vec();
    if several_runs {
        header.push("runs".into());
    }
    let rows = report
        .artifacts
        .iter()
        .map(|a| {
            let s = &a.sizes;
            let mut row = vec![
                a.workload.clone(),
                size(s.native_bytes),
                size(s.wasm_bytes),
                size(s.cwasm_bytes),
                size(s.container_image_bytes),
                times(s.container_image_bytes, s.cwasm_bytes),
                times(s.container_image_bytes, s.wasm_bytes),
            ];
            if several_runs {
                row.push(a.runs.join(", "));
            }
            row
        })
        .collect();
    Block::Table { header, rows }
}

fn glance_blocks(report: &Report) -> Vec<Block> {
    if report.glance.is_empty() && report.artifacts.is_empty() && report.energy_channel.is_none() {
        return Vec::new();
    }
    let mut blocks = vec![Block::Heading(2, "Results at a glance".into())];
    if !report.glance.is_empty() {
        blocks.push(Block::Paragraph(format!(
            "Each runtime against {}: ratio of medians (runtime / {}) with its {:.0}% interval, and the verdict; below 1 is faster or less energy. Cold and warm, latency and each energy channel with usable rows (rows flagged unseen or low_busy_share are left out); the sections below give n, tests and effect sizes.",
            report.baseline,
            report.baseline,
            report.settings.level * 100.0
        )));
        blocks.push(Block::GlanceLegend);
    }
    for (i, table) in report.glance.iter().enumerate() {
        blocks.push(Block::Heading(3, glance_title(table)));
        blocks.push(Block::Glance(i));
    }
    blocks.extend(energy_blocks(report));
    if !report.artifacts.is_empty() {
        blocks.push(Block::Heading(3, "Artifact sizes".into()));
        blocks.push(artifact_table(report));
    }
    blocks
}

fn run_table(report: &Report) -> Block {
    Block::Table {
        header: [
            "run",
            "host",
            "CPU",
            "status",
            "recorded / scheduled",
            "energy",
            "engines",
            "interrupt",
        ]
        .map(String::from)
        .to_vec(),
        rows: report
            .runs
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    r.hostname.clone(),
                    r.cpu_model.clone(),
                    format!("{:?}", r.status).to_lowercase()
                        + &r.status_reason
                            .as_ref()
                            .map(|why| format!(": {why}"))
                            .unwrap_or_default(),
                    format!("{} / {}", r.recorded_invocations, r.scheduled_invocations),
                    if r.has_energy {
                        format!("{}{}", r.probes.join(", "), estimated(r.energy_estimated))
                    } else {
                        "latency only".into()
                    },
                    r.engines
                        .iter()
                        .map(|(k, v)| format!("{k} {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    if r.interrupt.is_empty() {
                        "-".into()
                    } else {
                        r.interrupt
                            .iter()
                            .map(|(k, v)| format!("{k} {v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                ]
            })
            .collect(),
    }
}

fn percent(value: Option<f64>) -> String {
    opt(value, |v| format!("{:.1}%", v * 100.0))
}

fn latency_table(groups: &[&GroupReport]) -> Block {
    let several_runs = groups.iter().any(|g| g.runs > 1);
    let rows = groups
        .iter()
        .map(|g| {
            let failed = g
                .failed
                .iter()
                .map(|(k, v)| format!("{v} {k}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut row = vec![
                g.key.runtime.clone(),
                g.ok.to_string(),
                if failed.is_empty() { "0".into() } else { failed },
            ];
            match &g.latency_ns {
                Some(s) => row.extend([
                    duration(s.median),
                    duration(s.mean),
                    duration(s.p5),
                    duration(s.p25),
                    duration(s.p75),
                    duration(s.p95),
                    duration(s.p99),
                    percent(s.cv),
                ]),
                None => row.extend(std::iter::repeat_n("-".to_string(), 8)),
            }
            row.push(
                g.outliers
                    .as_ref()
                    .map(|o| {
                        format!(
                            "{} mild, {} severe",
                            o.low_mild + o.high_mild,
                            o.low_severe + o.high_severe
                        )
                    })
                    .unwrap_or_else(|| "-".into()),
            );
            row.push(g.batches.map(|b| b.to_string()).unwrap_or_else(|| "-".into()));
            if several_runs {
                row.push(g.runs.to_string());
                row.push(percent(g.between_run_cv));
            }
            row
        })
        .collect();
    let mut header: Vec<String> = [
        "runtime", "n", "failed", "median", "mean", "p5", "p25", "p75", "p95", "p99", "CV", "outliers", "batches",
    ]
    .map(String::from)
    .to_vec();
    if several_runs {
        header.extend(["runs".into(), "between-run CV".into()]);
    }
    Block::Table { header, rows }
}

fn counts(map: &BTreeMap<String, usize>) -> String {
    map.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn energy_table(energy: &[(&&GroupReport, &ChannelEnergy)]) -> Block {
    let several_runs = energy.iter().any(|(g, _)| g.runs > 1);
    // Browser runtimes add their own idle power and the energy net of it.
    let browsers = energy.iter().any(|(_, e)| e.idle_browser_w.is_some());
    let rows = energy
        .iter()
        .map(|(g, e)| {
            let tag = estimated(e.estimated);
            let median = |s: &Option<crate::stats::describe::Summary>, f: fn(f64) -> String| {
                s.as_ref()
                    .map(|s| format!("{}{tag}", f(s.median)))
                    .unwrap_or_else(|| "-".into())
            };
            let mut row = vec![
                g.key.runtime.clone(),
                format!("{}/{}{tag}{}", e.probe, e.channel, scope(&e.scope)),
                format!("{} ({} inv.)", e.windows, e.invocations),
                median(&e.gross_j, joules),
                median(&e.net_j, joules),
                e.power_w
                    .as_ref()
                    .map(|s| format!("{:.3} W{tag}", s.mean))
                    .unwrap_or_else(|| "-".into()),
                e.edp_js
                    .as_ref()
                    .map(|s| format!("{:.3e} J·s{tag}", s.median))
                    .unwrap_or_else(|| "-".into()),
                e.baseline_w
                    .map(|w| format!("{w:.3} W{tag}"))
                    .unwrap_or_else(|| "-".into()),
                counts(&e.quality),
                if e.flagged.is_empty() {
                    "0".into()
                } else {
                    counts(&e.flagged)
                },
            ];
            if browsers {
                row.push(
                    e.idle_browser_w
                        .map(|w| format!("{w:.3} W{tag}"))
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(median(&e.net_browser_j, joules));
            }
            if several_runs {
                row.push(percent(e.between_run_cv));
            }
            row
        })
        .collect();
    let mut header: Vec<String> = [
        "runtime",
        "channel",
        "windows",
        "gross (median)",
        "net (median)",
        "power (mean)",
        "EDP (median)",
        "idle power",
        "quality",
        "left out (flag)",
    ]
    .map(String::from)
    .to_vec();
    if browsers {
        header.extend(["browser idle power".into(), "net of browser idle (median)".into()]);
    }
    if several_runs {
        header.push("between-run CV".into());
    }
    Block::Table { header, rows }
}

fn scope(scope: &str) -> String {
    if scope.is_empty() {
        String::new()
    } else {
        format!(" [{scope}]")
    }
}

fn verdict_cell(c: &Comparison) -> String {
    let cell = match &c.verdict_note {
        Some(note) if note.starts_with(c.verdict.as_str()) => note.clone(),
        Some(note) => format!("{}: {note}", c.verdict.as_str()),
        None => c.verdict.as_str().to_string(),
    };
    match &c.detectable {
        Some(d) if cell == c.verdict.as_str() => format!("{cell}: {}", d.describe(&plural(&c.unit))),
        Some(d) => format!("{cell}; {}", d.describe(&plural(&c.unit))),
        None => cell,
    }
}

fn comparison_table(comparisons: &[&Comparison]) -> Block {
    let interrupts = comparisons.iter().any(|c| c.interrupt.is_some());
    let rows = comparisons
        .iter()
        .map(|c| {
            let metric = match &c.metric {
                Metric::Energy { scope: s, .. } => format!("{}{}", c.metric.label(), scope(s)),
                Metric::Latency => c.metric.label(),
            };
            let mut row = vec![
                c.runtime.clone(),
                metric,
                format!("{} vs {} {}", c.n_candidate, c.n_baseline, plural(&c.unit)),
                c.ratio_of_medians.as_ref().map(ratio).unwrap_or_else(|| "-".into()),
                c.test
                    .map(|t| {
                        match t.test {
                            RankTest::MannWhitney => "Mann-Whitney",
                            RankTest::BrunnerMunzel => "Brunner-Munzel",
                        }
                        .to_string()
                    })
                    .unwrap_or_else(|| "-".into()),
                opt(c.p_holm, p_value),
                c.cliffs_delta
                    .map(|d| format!("{:+.3} ({})", d.estimate, d.magnitude.as_str()))
                    .unwrap_or_else(|| "-".into()),
                verdict_cell(c),
            ];
            if interrupts {
                row.push(c.interrupt.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut header: Vec<String> = [
        "runtime",
        "metric",
        "n",
        "ratio of medians [CI]",
        "test",
        "p (Holm)",
        "Cliff's delta",
        "verdict",
    ]
    .map(String::from)
    .to_vec();
    if interrupts {
        header.push("interrupt".into());
    }
    Block::Table { header, rows }
}

#[cfg(test)]
mod tests {
    #[test]
    fn three_significant_digits() {
        let f = super::significant;
        assert_eq!(
            [
                f(0.002114),
                f(0.405),
                f(36.84),
                f(1234.4),
                f(9.9996),
                f(0.099996),
                f(1.0)
            ],
            ["0.00211", "0.405", "36.8", "1234", "10.0", "0.100", "1.00"]
        );
    }
}
