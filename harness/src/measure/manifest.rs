//! The run's manifest as `harness measure` first writes it (status `partial`, everything known before the
//! first invocation), and the label of every cell of the schedule.

use crate::plan::Plan;
use crate::recorder::CellLabel;
use crate::runtime::{self, setup::PreparedWorkload};
use crate::scheduler::Schedule;
use harness_data::{CellKey, EngineVersions, Manifest, RunStatus};
use harness_probes::clock;
use harness_probes::open::OpenProbe;
use std::collections::BTreeMap;
use std::path::Path;

pub fn engine_versions() -> EngineVersions {
    let mut engines = BTreeMap::new();
    engines.insert("wasmtime".to_string(), env!("HARNESS_WASMTIME_VERSION").to_string());
    engines.insert("wasmi".to_string(), env!("HARNESS_WASMI_VERSION").to_string());
    engines.insert("rustc".to_string(), env!("HARNESS_RUSTC_VERSION").to_string());
    engines
}

pub(super) fn initial_manifest(
    plan: &Plan,
    workloads: &[PreparedWorkload],
    probes: &[OpenProbe],
    schedule: &Schedule,
) -> anyhow::Result<Manifest> {
    let channels: Vec<_> = probes.iter().flat_map(|p| p.manifest.channels.iter()).collect();
    let mut manifest = Manifest {
        format_version: harness_data::manifest::MANIFEST_FORMAT_VERSION,
        harness_version: env!("CARGO_PKG_VERSION").to_string(),
        status: RunStatus::Partial,
        status_reason: Some("running".into()),
        seed: plan.seed,
        anchor: clock::anchor(),
        started_unix_ns: clock::unix_ns(),
        finished_unix_ns: None,
        host: crate::host::fingerprint(Path::new("/")),
        engines: engine_versions(),
        artifacts: workloads
            .iter()
            .map(|w| (w.artifacts.name.to_string(), w.artifacts.sizes()))
            .collect(),
        plan: plan.as_run(),
        scheduled_invocations: schedule.slots.len() as u64,
        recorded_invocations: 0,
        probes: probes.iter().map(|p| p.manifest.clone()).collect(),
        energy_estimated: !channels.is_empty() && channels.iter().all(|c| c.estimated),
        batching: Vec::new(),
        baseline_before_ns: None,
        baseline_after_ns: None,
        baseline_load_before: None,
        baseline_load_after: None,
        calibration_busy_ns: Vec::new(),
        interrupt: Default::default(),
        stack: Default::default(),
        skipped: BTreeMap::new(),
        serving: BTreeMap::new(),
        serving_shape: BTreeMap::new(),
        precision: None,
        exec: None,
        browsers: Default::default(),
    };
    if let Some(load) = &plan.load {
        for (runtime, (shape, model)) in crate::load::serving_models(&plan.runtimes, load.serving) {
            manifest.serving.insert(runtime.clone(), model);
            manifest.serving_shape.insert(runtime, shape);
        }
    }
    runtime::add_engine_versions(&plan.runtimes, &mut manifest.engines);
    manifest.interrupt = runtime::interrupt_mechanisms(plan);
    manifest.stack = runtime::stack_limits(plan);
    if let Some(pool) = runtime::wasmtime::pool::manifest_note(plan) {
        manifest.engines.insert("wasmtime-pool".into(), pool);
    }
    Ok(manifest)
}

pub(super) fn cell_labels(plan: &Plan, schedule: &Schedule) -> Vec<CellLabel> {
    // A cell's group is the index of the first cell with its (workload, input). Found through a map: a
    // `position` search per cell made plan setup quadratic (100k inputs 2.9 s, 1M over two minutes).
    let mut first = std::collections::HashMap::with_capacity(schedule.cells.len());
    schedule
        .cells
        .iter()
        .enumerate()
        .map(|(i, c)| CellLabel {
            key: CellKey {
                workload: plan.workloads[c.workload].name.clone(),
                input: plan.workloads[c.workload].inputs[c.input].clone(),
                runtime: plan.runtime_names[c.runtime].clone(),
                mode: c.mode,
            },
            group: *first.entry((c.workload, c.input)).or_insert(i),
        })
        .collect()
}

/// Groups are the first cell of each (workload, input). 200k inputs: the old quadratic search would take
/// hours here, the map a fraction of a second (a correctness test that cannot finish when quadratic).
#[cfg(test)]
#[test]
fn cell_labels_groups_are_the_first_cell_of_each_input_and_setup_is_linear() {
    let inputs: Vec<String> = (0..200_000).map(|i| format!("\"{i}\"")).collect();
    let text = format!(
        "seed = 1\nrepetitions = 1\nruntimes = [\"native\", \"wasmi\"]\nmodes = [\"cold\", \"warm\"]\n\
         [[workloads]]\nname = \"noop\"\ninputs = [{}]\n",
        inputs.join(",")
    );
    let plan = Plan::parse(&text, std::path::Path::new("big.toml")).unwrap();
    let schedule = Schedule::new(&plan);
    let labels = cell_labels(&plan, &schedule);
    assert_eq!(labels.len(), 800_000);
    for (i, (label, cell)) in labels.iter().zip(&schedule.cells).enumerate() {
        let first = &schedule.cells[label.group];
        assert!(label.group <= i);
        assert_eq!((first.workload, first.input), (cell.workload, cell.input));
    }
    assert_eq!(labels[5].group, 4);
}
