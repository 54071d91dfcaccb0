//! Precision runs in a report: the level strict mode asks for, and per cell the looks, the repetitions, the
//! half-widths reached and whether the target was met (from each run's manifest, as measured).

use super::format::Block;
use super::options::ReportOptions;
use crate::run::Run;
use harness_data::precision::{PrecisionMode, PrecisionRecord, PrecisionStop};
use serde::{Deserialize, Serialize};

/// One run's precision record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrecisionSection {
    pub run: String,
    pub record: PrecisionRecord,
}

pub fn precision_sections(runs: &[Run]) -> Vec<PrecisionSection> {
    runs.iter()
        .filter_map(|r| {
            Some(PrecisionSection {
                run: r.name.clone(),
                record: r.manifest.precision.clone()?,
            })
        })
        .collect()
}

/// Strict mode's runs looked K times, so their intervals and tests are at alpha/K: the report takes the
/// strictest level any run asks for (and says so), never a looser one than the user's.
pub fn strict_options(runs: &[Run], options: &ReportOptions) -> (ReportOptions, Option<String>) {
    let strict = runs
        .iter()
        .filter_map(|r| r.manifest.precision.as_ref())
        .filter(|p| p.plan.mode == PrecisionMode::Strict)
        .max_by(|a, b| a.level.total_cmp(&b.level));
    match strict {
        Some(p) if p.level > options.level => {
            let level = p.level;
            let note = format!(
                "strict precision mode: {} looks, so every interval is at {:.2}% and every test at alpha {:.4} \
                 ({} / {}), which holds whatever the stopping rule did",
                p.plan.looks.len(),
                level * 100.0,
                1.0 - level,
                options.alpha,
                p.plan.looks.len()
            );
            (
                ReportOptions {
                    level,
                    alpha: options.alpha.min(1.0 - level),
                    ..options.clone()
                },
                Some(note),
            )
        }
        _ => (options.clone(), None),
    }
}

fn pct(h: Option<f64>) -> String {
    h.map_or_else(|| "-".into(), |h| format!("±{:.1}%", h * 100.0))
}

pub fn precision_blocks(sections: &[PrecisionSection]) -> Vec<Block> {
    let mut blocks = Vec::new();
    for s in sections {
        let p = &s.record.plan;
        blocks.push(Block::Heading(2, format!("Precision: run {}", s.run)));
        blocks.push(Block::Paragraph(format!(
            "Asked: every {:.2}% interval of the ratio of medians against {} within ±{:.1}% (half-width on the \
             ratio's log scale), {} mode; looks at {} repetitions per cell{}. The rule looked at interval widths \
             only. {}.",
            s.record.level * 100.0,
            p.baseline,
            p.target * 100.0,
            p.mode.as_str(),
            p.looks.iter().map(u32::to_string).collect::<Vec<_>>().join(", "),
            p.max_duration_s
                .map_or(String::new(), |d| format!(", within {d} s of measuring")),
            s.record.ended
        )));
        let rows = s
            .record
            .cells
            .iter()
            .filter(|c| c.stopped != PrecisionStop::NoInterval || !c.looks.is_empty())
            .map(|c| {
                vec![
                    c.workload.clone(),
                    c.input.clone(),
                    c.mode.as_str().into(),
                    c.runtime.clone(),
                    c.looks
                        .iter()
                        .map(|l| l.repetitions.to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    c.repetitions.to_string(),
                    pct(c.latency_half_width),
                    pct(c.energy_half_width),
                    if c.met {
                        "met".into()
                    } else {
                        format!(
                            "no: {}{}",
                            c.stopped.as_str(),
                            c.missed_by
                                .map_or(String::new(), |m| format!(", {:.1} points wide", m * 100.0))
                        )
                    },
                ]
            })
            .collect();
        blocks.push(Block::Table {
            header: [
                "workload",
                "input",
                "mode",
                "runtime",
                "looks (repetitions)",
                "repetitions",
                "latency",
                "energy",
                "target met",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
    }
    blocks
}
