//! A look of a precision run (`harness measure` with `precision`): the report's comparisons with the baseline,
//! computed as `build_report` computes them, for the stopping rule to read their widths.

use super::compare::compare;
use super::gather::gather;
use super::model::{Comparison, ShownChannel};
use super::options::ReportOptions;
use crate::energy_summary::shown_channel;
use crate::run::Run;

/// What a look of a precision run needs of the report, and no more: every comparison with the baseline
/// (latency and each energy channel, intervals at the rule's level, as `build_report` makes them) and the
/// whole-machine channel the report would show. Tests, Holm and verdicts are left out: the rule never sees them.
pub fn look_comparisons(runs: &[Run], options: &ReportOptions) -> (Vec<Comparison>, Option<ShownChannel>) {
    let gathered = gather(runs);
    let mut comparisons = Vec::new();
    for (key, candidate) in &gathered {
        if key.runtime == options.baseline {
            continue;
        }
        let base_key = harness_data::CellKey {
            runtime: options.baseline.clone(),
            ..key.clone()
        };
        if let Some(baseline) = gathered.get(&base_key) {
            comparisons.extend(compare(key, candidate, baseline, options, None));
        }
    }
    (comparisons, shown_channel(runs))
}
