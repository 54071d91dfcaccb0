//! Results at a glance: what `harness measure` prints when it ends. Built and rendered in the analysis crate
//! ([`harness_analysis::terminal`]), as the report is.

use harness_analysis::run::Run;

/// The summary of a finished run, or `None` when it has no measured invocation and no load level.
pub fn summary(run: &Run, out_display: &str) -> Option<String> {
    harness_analysis::terminal::build(run).map(|summary| harness_analysis::terminal::render(&summary, out_display))
}

/// What a precision run's looks came to, for the terminal: the target, how the rounds ended, the cells that
/// missed, and the repetitions spent against a fixed design sized for the worst cell.
pub fn precision_summary(record: &harness_data::precision::PrecisionRecord) -> String {
    use harness_data::precision::PrecisionStop;
    let plan = &record.plan;
    let looks: Vec<String> = plan.looks.iter().map(u32::to_string).collect();
    let mut out = format!(
        "precision: +-{:.1}% asked of every ratio of medians against {} ({} mode, {:.2}% intervals; looks at {} \
         repetitions)\n  {}",
        plan.target * 100.0,
        plan.baseline,
        plan.mode.as_str(),
        record.level * 100.0,
        looks.join(", "),
        record.ended
    );
    let compared: Vec<_> = record
        .cells
        .iter()
        .filter(|c| c.stopped != PrecisionStop::NoInterval)
        .collect();
    for c in compared.iter().filter(|c| !c.met) {
        let widest = [c.latency_half_width, c.energy_half_width]
            .into_iter()
            .flatten()
            .fold(None, |m: Option<f64>, h| Some(m.map_or(h, |m| m.max(h))));
        out.push_str(&format!(
            "\n  missed: {} {}/{} {}: {} after {} repetitions ({})",
            c.runtime,
            c.workload,
            c.input,
            c.mode.as_str(),
            widest.map_or("no interval".into(), |h| format!(
                "+-{:.1}%, {:.1} points wide of the target",
                h * 100.0,
                (h - plan.target) * 100.0
            )),
            c.repetitions,
            c.stopped.as_str()
        ));
    }
    if let Some(cost) = precision_cost(record) {
        out.push_str(&format!(
            "\n  {} repetitions in all: {:.0}% of the {} a fixed design sized for the worst cell would take ({} x {} \
             cells){}",
            cost.used,
            100.0 * cost.used as f64 / cost.fixed as f64,
            cost.fixed,
            cost.worst,
            cost.cells,
            if cost.worst_met {
                ""
            } else {
                "; the worst cell missed, so a fixed design would need more"
            }
        ));
    }
    out
}

/// Repetitions a precision run spent on its compared cells, against a fixed design that gives every cell the
/// repetitions its worst cell needed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrecisionCost {
    pub used: u64,
    pub fixed: u64,
    pub worst: u32,
    pub cells: usize,
    pub worst_met: bool,
}

pub fn precision_cost(record: &harness_data::precision::PrecisionRecord) -> Option<PrecisionCost> {
    use harness_data::precision::PrecisionStop;
    let compared: Vec<_> = record
        .cells
        .iter()
        .filter(|c| c.stopped != PrecisionStop::NoInterval)
        .collect();
    let worst = compared.iter().max_by_key(|c| c.repetitions)?;
    let used: u64 = compared.iter().map(|c| u64::from(c.repetitions)).sum();
    let fixed = u64::from(worst.repetitions) * compared.len() as u64;
    (fixed > 0).then_some(PrecisionCost {
        used,
        fixed,
        worst: worst.repetitions,
        cells: compared.len(),
        worst_met: compared
            .iter()
            .filter(|c| c.repetitions == worst.repetitions)
            .all(|c| c.met),
    })
}
