//! The paired-row fixture shared by the analysis tests and the top-level end-to-end tests.

use harness_data::{EnergyQuality, InvocationRecord, PairedRecord};

/// The paired row of `r` measured alone in its own window by `probe`'s `channel`: `watts` drawn over its latency
/// against a `baseline_w` idle draw, 2 samples, RAPL's 61 uJ energy unit as the uncertainty, quality ok, machine
/// scope, busy throughout, a cold start's teardown deferred past its window. A test changes the rest with struct update syntax:
/// `PairedRecord { estimated: true, ..paired_from(r, "model", "cpu", 15.0, 5.0) }`.
pub fn paired_from(r: &InvocationRecord, probe: &str, channel: &str, watts: f64, baseline_w: f64) -> PairedRecord {
    let seconds = r.latency_ns as f64 * 1e-9;
    PairedRecord {
        workload: r.workload.clone(),
        input: r.input.clone(),
        runtime: r.runtime.clone(),
        mode: r.mode,
        iteration: r.iteration,
        sequence: r.sequence,
        count: 1,
        window_start_ns: r.start_ns,
        window_end_ns: r.end_ns,
        latency_ns: r.latency_ns as f64,
        probe: probe.into(),
        channel: channel.into(),
        gross_j: Some(watts * seconds),
        net_j: Some((watts - baseline_w) * seconds),
        baseline_w: Some(baseline_w),
        power_w: Some(watts),
        samples: 2,
        uncertainty_j: Some(61e-6),
        quality: EnergyQuality::Ok,
        estimated: false,
        scope: harness_data::Scope::Machine,
        busy_share: Some(1.0),
        flag: None,
        teardown: (r.mode == harness_data::Mode::Cold).then_some(harness_data::Teardown::Deferred),
        idle_browser_w: None,
    }
}
