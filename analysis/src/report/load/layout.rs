//! The load sections laid out as report blocks (shared by the Markdown and HTML renderers). Only formatting
//! happens here.

use super::model::{LoadComparison, LoadLevel, MemoryDensity};
use crate::report::format::{Block, DASH, duration, joules, memory, or_dash as opt};
use crate::report::model::Report;
use harness_data::LoadKind;

fn nanos(value: Option<u64>) -> String {
    opt(value, |v| if v == 0 { "0".into() } else { duration(v as f64) })
}

fn rate(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}/s")
    } else {
        format!("{value:.2}/s")
    }
}

/// A level: whole numbers without decimals (clients, burst sizes), rates as given.
fn level(kind: LoadKind, value: f64) -> String {
    let number = if value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value}")
    };
    match kind {
        LoadKind::Rate => format!("{number}/s"),
        LoadKind::Clients | LoadKind::Burst => number,
    }
}

fn yes(flag: bool) -> String {
    if flag { "yes".into() } else { DASH.into() }
}

/// Energy per request as the tables show it: left out where unseen, labelled where estimated.
fn energy_cell(l: &LoadLevel) -> String {
    if l.record.unseen && l.record.energy_per_request_j.is_some() {
        return "left out (unseen)".into();
    }
    let tag = if l.record.estimated == Some(true) {
        " (estimated)"
    } else {
        ""
    };
    opt(l.usable_energy_per_request_j(), |j| format!("{}{tag}", joules(j)))
}

pub fn load_blocks(report: &Report) -> Vec<Block> {
    let several_runs = report.runs.len() > 1;
    let mut blocks = Vec::new();
    for section in &report.load {
        blocks.push(Block::Heading(
            2,
            format!("Under load: {} {}", section.workload, section.input),
        ));
        if !section.notes.is_empty() {
            blocks.push(Block::Bullets(section.notes.clone()));
        }
        blocks.push(Block::Heading(3, "Levels".into()));
        blocks.push(level_table(&section.levels, several_runs));
        let bursts: Vec<&LoadLevel> = section
            .levels
            .iter()
            .filter(|l| l.record.kind == LoadKind::Burst)
            .collect();
        if !bursts.is_empty() {
            blocks.push(Block::Heading(3, "Scale from zero (burst)".into()));
            blocks.push(burst_table(&bursts, several_runs));
        }
        if !section.density.is_empty() {
            blocks.push(Block::Heading(3, "Memory density".into()));
            blocks.push(density_table(&section.density));
        }
        if !section.comparisons.is_empty() {
            blocks.push(Block::Heading(
                3,
                format!("Against {} at matched load", report.baseline),
            ));
            blocks.push(Block::Paragraph(super::section::SINGLE_OBSERVATION_NOTE.into()));
            blocks.push(comparison_table(&section.comparisons, several_runs));
        }
        for id in &section.figures {
            if let Some(i) = report.figures.iter().position(|f| &f.id == id) {
                blocks.push(Block::Figure(i));
            }
        }
    }
    blocks
}

fn with_run(several_runs: bool, run: &str, mut row: Vec<String>) -> Vec<String> {
    if several_runs {
        row.insert(1, run.to_owned());
    }
    row
}

fn header(several_runs: bool, names: &[&str]) -> Vec<String> {
    let mut header: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    if several_runs {
        header.insert(1, "run".into());
    }
    header
}

fn level_table(levels: &[LoadLevel], several_runs: bool) -> Block {
    let rows = levels
        .iter()
        .map(|l| {
            let r = &l.record;
            with_run(
                several_runs,
                &l.run,
                vec![
                    r.runtime.clone(),
                    r.kind.to_string(),
                    level(r.kind, r.level),
                    opt(r.offered_rps, rate),
                    rate(r.achieved_rps),
                    r.completed.to_string(),
                    r.failed.to_string(),
                    r.timed_out.to_string(),
                    nanos(r.p50_ns),
                    nanos(r.p99_ns),
                    nanos(r.p999_ns),
                    opt(r.cpu_util, |u| format!("{:.1}%", u * 100.0)),
                    opt(r.harness_cpu_cores, |c| format!("{c:.2}")),
                    nanos(r.send_lag_p99_ns),
                    // Open loop says yes or no; closed loop and burst have no saturation test (a dash).
                    opt(r.saturated, |s| if s { "yes".into() } else { "no".into() }),
                    yes(r.partial),
                    energy_cell(l),
                ],
            )
        })
        .collect();
    Block::Table {
        header: header(
            several_runs,
            &[
                "runtime",
                "kind",
                "level",
                "offered",
                "achieved",
                "completed",
                "failed",
                "timed out",
                "p50",
                "p99",
                "p99.9",
                "CPU",
                "harness CPU (cores)",
                "send lag p99",
                "saturated",
                "partial",
                "net energy / request",
            ],
        ),
        rows,
    }
}

fn burst_table(bursts: &[&LoadLevel], several_runs: bool) -> Block {
    let rows = bursts
        .iter()
        .map(|l| {
            let r = &l.record;
            with_run(
                several_runs,
                &l.run,
                vec![
                    r.runtime.clone(),
                    level(r.kind, r.level),
                    r.completed.to_string(),
                    r.failed.to_string(),
                    r.timed_out.to_string(),
                    nanos(r.p50_ns),
                    nanos(r.p99_ns),
                    nanos(r.p999_ns),
                    opt(r.offered_rps, rate),
                    opt(r.memory_bytes, |b| memory(b as f64)),
                    energy_cell(l),
                ],
            )
        })
        .collect();
    Block::Table {
        header: header(
            several_runs,
            &[
                "runtime",
                "burst",
                "completed",
                "failed",
                "timed out",
                "p50",
                "p99",
                "p99.9",
                "burst / makespan",
                "peak memory",
                "net energy / request",
            ],
        ),
        rows,
    }
}

fn density_table(density: &[MemoryDensity]) -> Block {
    let rows = density
        .iter()
        .map(|d| {
            let tag = if d.estimated { " (estimated)" } else { "" };
            vec![
                d.runtime.clone(),
                d.instances.to_string(),
                d.levels.to_string(),
                opt(d.memory_per_instance_bytes, memory),
                opt(d.memory_bytes, |b| memory(b as f64)),
                if d.memory_source.is_empty() {
                    DASH.into()
                } else {
                    d.memory_source.clone()
                },
                opt(d.idle_pool_w, |w| format!("{w:.3} W{tag}")),
            ]
        })
        .collect();
    Block::Table {
        header: [
            "runtime",
            "instances",
            "levels",
            "memory per instance (median)",
            "peak memory",
            "memory source",
            "idle pool power above baseline (median)",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    }
}

fn comparison_table(comparisons: &[LoadComparison], several_runs: bool) -> Block {
    let ratio = |v: Option<f64>| opt(v, |r| format!("{r:.3}"));
    let rows = comparisons
        .iter()
        .map(|c| {
            with_run(
                several_runs,
                &c.run,
                vec![
                    c.runtime.clone(),
                    c.kind.to_string(),
                    level(c.kind, c.level),
                    ratio(c.p50_ratio),
                    ratio(c.p99_ratio),
                    ratio(c.achieved_rps_ratio),
                    opt(c.energy_per_request_ratio, |r| {
                        format!("{r:.3}{}", if c.estimated { " (estimated)" } else { "" })
                    }),
                ],
            )
        })
        .collect();
    Block::Table {
        header: header(
            several_runs,
            &[
                "runtime",
                "kind",
                "level",
                "p50 ratio",
                "p99 ratio",
                "achieved ratio",
                "energy / request ratio",
            ],
        ),
        rows,
    }
}
