//! Whether a channel's idle baseline is the machine's idle power. It is not when other processes kept the
//! machine busy during an idle span (the manifest's `baseline_load_before`/`_after`, for channels that see the
//! whole machine), or when the spans before and after the run differ beyond their noise (any channel): its
//! rows are then flagged `busy_baseline` and their net energy is left out of comparisons.

use crate::align::{self, ChannelSeries, Window};
use harness_data::{
    BASELINE_DIFFER_SE, BASELINE_DRIFT_SHARE, BUSY_BASELINE_FOREIGN_CORES, Baseline, IdleLoad, Manifest, Scope,
};

/// Parts an idle span is cut into to see how much its power moves.
const PARTS: u64 = 10;
/// Parts that must resolve for a standard error to be stated.
const MIN_PARTS: usize = 5;

/// Mean power over `[a, b]` and its standard error from the spread of the span's tenths (`None` where fewer
/// than [`MIN_PARTS`] of them resolve: a sensor slower than a tenth of the span).
pub fn span_power(series: &ChannelSeries, span: Option<[u64; 2]>) -> (Option<f64>, Option<f64>) {
    let Some([a, b]) = span else {
        return (None, None);
    };
    let mean = align::mean_power(series, a, b);
    let part = (b.saturating_sub(a)) / PARTS;
    if part == 0 {
        return (mean, None);
    }
    let windows: Vec<Window> = (0..PARTS)
        .map(|i| Window {
            start_ns: a + i * part,
            end_ns: a + (i + 1) * part,
            count: 1,
        })
        .collect();
    let powers: Vec<f64> = align::attribute(series, &windows)
        .iter()
        .filter_map(|x| x.window_j.map(|j| j / (part as f64 * 1e-9)))
        .collect();
    if powers.len() < MIN_PARTS {
        return (mean, None);
    }
    let n = powers.len() as f64;
    let m = powers.iter().sum::<f64>() / n;
    let variance = powers.iter().map(|p| (p - m).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, Some((variance / n).sqrt()))
}

/// Why `baseline` (of a channel with `scope`) is not the machine's idle power, or `None` when it is (as far
/// as the run can tell).
pub fn busy_reason(scope: Scope, manifest: &Manifest, baseline: &Baseline) -> Option<String> {
    if scope == Scope::Machine {
        let spans = [
            ("before", &manifest.baseline_load_before),
            ("after", &manifest.baseline_load_after),
        ];
        if let Some((when, load)) = spans
            .into_iter()
            .find_map(|(w, l)| l.as_ref().filter(|l| l.is_busy()).map(|l| (w, l)))
        {
            return Some(foreign(when, load));
        }
    }
    let (before, after) = (baseline.before_w?, baseline.after_w?);
    let se = baseline.before_se_w?.hypot(baseline.after_se_w?);
    let tolerance = BASELINE_DIFFER_SE * se + BASELINE_DRIFT_SHARE * before.abs().max(after.abs());
    ((before - after).abs() > tolerance).then(|| {
        format!(
            "idle power before ({before:.3} W) and after ({after:.3} W) the run differ by more than their noise allows ({tolerance:.3} W: {BASELINE_DIFFER_SE} standard errors + {:.0}% drift), so the machine's load changed between them",
            BASELINE_DRIFT_SHARE * 100.0
        )
    })
}

fn foreign(when: &str, load: &IdleLoad) -> String {
    format!(
        "other processes kept {:.2} cores busy during the idle span {when} the run (machine {:.2} cores, the harness {:.2}, from {}; the limit is {BUSY_BASELINE_FOREIGN_CORES} cores)",
        load.foreign_cores, load.machine_cores, load.harness_cores, load.source
    )
}
