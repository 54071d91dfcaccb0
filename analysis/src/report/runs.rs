//! Run-level checks of a report: one plan across the runs, groups the plan scheduled but the run lacks, and the
//! notes a reader must see.

use super::energy::flag_notes;
use super::gather::{Gathered, key_of};
use super::model::{CellKey, Incomplete};
use super::options::{ReportError, ReportOptions};
use crate::run::Run;
use harness_data::plan::AsRunPlan;
use std::collections::{BTreeMap, BTreeSet};

/// Plans compared without their seed: runs of one plan with different seeds are repetitions.
pub(super) fn check_same_plan(runs: &[Run]) -> Result<(), ReportError> {
    let without_seed = |run: &Run| AsRunPlan {
        seed: 0,
        ..run.manifest.plan.clone()
    };
    let first = without_seed(&runs[0]);
    if runs.iter().all(|r| without_seed(r) == first) {
        return Ok(());
    }
    let listing = runs
        .iter()
        .map(|r| format!("  {}: {}", r.dir.display(), plan_summary(&r.manifest.plan)))
        .collect::<Vec<_>>()
        .join("\n");
    Err(ReportError::MixedPlans(listing))
}

fn plan_summary(plan: &AsRunPlan) -> String {
    let workloads = plan
        .workloads
        .iter()
        .map(|w| format!("{}[{}]", w.name, w.inputs.join(",")))
        .collect::<Vec<_>>()
        .join(" ");
    let runtimes = plan.runtime_names();
    let modes: Vec<&str> = plan.modes.iter().map(|m| m.as_str()).collect();
    format!(
        "workloads {workloads}; runtimes {}; modes {}; repetitions {}",
        runtimes.join(","),
        modes.join(","),
        plan.repetitions
    )
}

/// Cells of each run's plan with fewer measured invocations than scheduled.
pub(super) fn incomplete_groups(runs: &[Run]) -> Vec<Incomplete> {
    let mut out = Vec::new();
    for run in runs {
        let plan = &run.manifest.plan;
        let repetitions = u64::from(plan.repetitions);
        let mut measured: BTreeMap<CellKey, u64> = BTreeMap::new();
        for r in run.invocations.iter().filter(|r| !r.warmup) {
            *measured
                .entry(key_of(&r.workload, &r.input, &r.runtime, r.mode))
                .or_insert(0) += 1;
        }
        for w in &plan.workloads {
            for input in &w.inputs {
                for runtime in &plan.runtime_names() {
                    for &mode in &plan.modes {
                        let key = key_of(&w.name, input, runtime, mode);
                        let got = measured.get(&key).copied().unwrap_or(0);
                        if got < repetitions {
                            out.push(Incomplete {
                                run: run.name.clone(),
                                key,
                                scheduled: repetitions,
                                measured: got,
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

pub(super) fn notes(
    runs: &[Run],
    gathered: &BTreeMap<CellKey, Gathered>,
    options: &ReportOptions,
    incomplete: &[Incomplete],
) -> Vec<String> {
    let mut notes = Vec::new();
    for run in runs {
        let m = &run.manifest;
        if m.status != harness_data::RunStatus::Complete {
            notes.push(
                format!(
                    "run {} is {:?}: {} of {} scheduled invocations recorded ({})",
                    run.name,
                    m.status,
                    m.recorded_invocations,
                    m.scheduled_invocations,
                    m.status_reason.as_deref().unwrap_or("no reason recorded")
                )
                .replace("Partial", "partial")
                .replace("Failed", "failed"),
            );
        }
        if run.paired.is_none() {
            notes.push(format!("run {} has no paired.csv: latency only", run.name));
        }
        notes.extend(crate::net::busy_baseline_notes(m, &run.name));
        if m.energy_estimated || run.paired.iter().flatten().any(|r| r.estimated) {
            notes.push(format!("run {}: energy figures marked \"estimated\" come from a model (CPU time x a declared power curve), not a sensor", run.name));
        }
    }
    let hosts: BTreeSet<String> = runs.iter().map(|r| crate::export::device_name(r, None)).collect();
    if hosts.len() > 1 {
        notes.push(format!(
            "the runs come from {} devices ({}) and are pooled per group: report each device separately to compare devices",
            hosts.len(),
            hosts.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    if !incomplete.is_empty() {
        notes.push(format!(
            "{} group(s) have fewer measured invocations than the plan scheduled: see \"Incomplete groups\"",
            incomplete.len()
        ));
    }
    let mut without_baseline = BTreeSet::new();
    for key in gathered.keys() {
        let base = CellKey {
            runtime: options.baseline.clone(),
            ..key.clone()
        };
        if !gathered.contains_key(&base) {
            without_baseline.insert(format!("{}/{}/{}", key.workload, key.input, key.mode.as_str()));
        }
    }
    for cell in without_baseline {
        notes.push(format!("{cell}: no {} rows, so no comparisons", options.baseline));
    }
    notes.extend(flag_notes(gathered));
    let mut interrupted: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for run in runs {
        for (runtime, mechanism) in run.manifest.interrupt.iter().filter(|(_, m)| m.as_str() != "none") {
            interrupted.entry(runtime).or_default().insert(mechanism);
        }
    }
    if !interrupted.is_empty() {
        let listing: Vec<String> = interrupted
            .iter()
            .map(|(r, m)| format!("{r} {}", m.iter().copied().collect::<Vec<_>>().join("/")))
            .collect();
        notes.push(format!(
            "deadlines enforced by {}: the mechanism costs guest speed, and every comparison involving these runtimes names it",
            listing.join(", ")
        ));
    }
    notes.push(if runs.len() == 1 {
        ONE_RUN_NOTE.to_owned()
    } else {
        format!(
            "{} runs: intervals resample runs, then batches or invocations within each run (hierarchical bootstrap), so they cover run-to-run variation; rank tests still count batches or invocations",
            runs.len()
        )
    });
    notes
}

/// Said in the notes and next to every comparison table of a one-run report.
pub const ONE_RUN_NOTE: &str = "one run: every interval covers within-run variation only; repeat the run (other days, boots, devices of the model) and report the runs together to cover run-to-run variation";
