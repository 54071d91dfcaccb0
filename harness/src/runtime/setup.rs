//! A plan's set-up, done once before the first invocation: each workload's artifacts resolved (a command
//! module hashed once), what each runtime needs of them checked or built (an image looked up once), the
//! runtimes created and the inputs prepared. With `skip_unavailable`, the runtimes this machine cannot run are
//! dropped from the plan first, saying why. The measured invocations and load mode both use the result.

use super::{Limits, Runtime, create_at, ensure_artifacts};
use crate::artifacts::{Guest, WorkloadArtifacts};
use crate::plan::Plan;
use harness_data::plan::{ColdBoundary, PlanWorkload};
use harness_probes::model::ContainerLedger;
use std::collections::BTreeMap;
use std::path::Path;

/// A workload's artifacts and its prepared inputs (one per plan input, in its order).
pub struct PreparedWorkload {
    pub artifacts: WorkloadArtifacts,
    pub inputs: Vec<Vec<u8>>,
}

/// What a plan runs on, ready before its first invocation.
pub struct Prepared {
    /// One per workload of the plan, in its order.
    pub workloads: Vec<PreparedWorkload>,
    /// One per runtime left in the plan, in its order.
    pub runtimes: Vec<Box<dyn Runtime>>,
    /// Runtimes `skip_unavailable` dropped, and why (for the manifest).
    pub skipped: BTreeMap<String, String>,
}

/// Prepares `plan` with the artifacts under `dir`. Without `skip_unavailable`, the first runtime that cannot
/// run a workload is the error; with it, such runtimes leave `plan.runtimes` (printing why), and at least one
/// must remain. Container runtimes record the containers they start in `ledger`.
pub fn prepare(plan: &mut Plan, dir: &Path, ledger: &ContainerLedger) -> anyhow::Result<Prepared> {
    let limits = Limits {
        timeout_ms: plan.timeout_ms,
        interrupt: plan.interrupt,
        memory_mb: None,
        wasm_stack: plan.wasm_stack_kib,
    };
    check_host_stack(plan)?;
    if !plan.skip_unavailable {
        let workloads = plan
            .workloads
            .iter()
            .map(|entry| {
                let artifacts = WorkloadArtifacts::for_plan(dir, entry)?;
                check_cold_boundary(plan, entry, &artifacts)?;
                ensure_artifacts(&plan.runtimes, &artifacts)?;
                prepared(entry, artifacts)
            })
            .collect::<anyhow::Result<_>>()?;
        let runtimes = plan
            .runtimes
            .iter()
            .map(|&r| create_at(r, limits, plan.cold_boundary, ledger))
            .collect::<anyhow::Result<_>>()?;
        return Ok(Prepared {
            workloads,
            runtimes,
            skipped: BTreeMap::new(),
        });
    }
    // A workload that cannot be resolved makes every runtime unusable: its reason is each one's.
    let resolved: Vec<Result<WorkloadArtifacts, String>> = plan
        .workloads
        .iter()
        .map(|entry| WorkloadArtifacts::for_plan(dir, entry).map_err(|e| format!("{e:#}")))
        .collect();
    let mut skipped = BTreeMap::new();
    let runtimes = usable_runtimes(plan, limits, &resolved, &mut skipped, ledger)?;
    let workloads = plan
        .workloads
        .iter()
        .zip(resolved)
        .map(|(entry, artifacts)| {
            let artifacts = artifacts.map_err(anyhow::Error::msg)?;
            check_cold_boundary(plan, entry, &artifacts)?;
            prepared(entry, artifacts)
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Prepared {
        workloads,
        runtimes,
        skipped,
    })
}

/// Drops from the plan the runtimes this machine cannot run (the engine or node missing, an artifact that
/// cannot be built), printing why and adding runtime -> reason to `skipped`; returns the runtimes that remain,
/// created.
fn usable_runtimes(
    plan: &mut Plan,
    limits: Limits,
    resolved: &[Result<WorkloadArtifacts, String>],
    skipped: &mut BTreeMap<String, String>,
    ledger: &ContainerLedger,
) -> anyhow::Result<Vec<Box<dyn Runtime>>> {
    let boundary = plan.cold_boundary;
    let mut runtimes = Vec::new();
    plan.retain_runtimes(|kind, name| {
        let usable = create_at(kind, limits, boundary, ledger).and_then(|runtime| {
            for artifacts in resolved {
                let artifacts = artifacts.as_ref().map_err(|e| anyhow::Error::msg(e.clone()))?;
                ensure_artifacts(&[kind], artifacts)?;
            }
            Ok(runtime)
        });
        match usable {
            Ok(runtime) => {
                runtimes.push(runtime);
                true
            }
            Err(e) => {
                let reason = format!("{e:#}");
                eprintln!("skipping {name}: {reason}");
                skipped.insert(name.to_string(), reason);
                false
            }
        }
    });
    if plan.runtimes.is_empty() {
        anyhow::bail!("no runtime of the plan can run on this machine: {skipped:?}");
    }
    Ok(runtimes)
}

/// `harness invoke-once` runs only built-in modules: a WASI command cannot cross the process boundary.
fn check_cold_boundary(plan: &Plan, entry: &PlanWorkload, artifacts: &WorkloadArtifacts) -> anyhow::Result<()> {
    if matches!(artifacts.guest, Guest::Command(_))
        && plan.cold_boundary == ColdBoundary::Process
        && plan.runtimes.iter().any(|r| r.is_wasm_in_process())
    {
        anyhow::bail!(
            "workload `{}` is a WASI command, and cold_boundary = \"process\" runs only built-in modules in \
             `harness invoke-once`: measure commands at the default cold boundary (\"platform\")",
            entry.name
        );
    }
    Ok(())
}

fn prepared(entry: &PlanWorkload, artifacts: WorkloadArtifacts) -> anyhow::Result<PreparedWorkload> {
    let inputs = artifacts.plan_inputs(entry)?;
    Ok(PreparedWorkload { artifacts, inputs })
}

/// Guests of the in-process engines run on the harness's main thread (and on load workers, which get room for
/// the largest `wasm_stack_kib`), and node's V8 on its own: an OS stack smaller than the plan's Wasm stack would
/// crash the process where the engine should trap. Checked against `ulimit -s` before anything runs.
fn check_host_stack(plan: &Plan) -> anyhow::Result<()> {
    let Some(stack) = plan.wasm_stack_kib else {
        return Ok(());
    };
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the struct it is given and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return Ok(());
    }
    let needed_kib = libc::rlim_t::from(stack.kib) + HOST_STACK_MARGIN_KIB;
    let have_kib = limit.rlim_cur / 1024;
    if have_kib < needed_kib {
        anyhow::bail!(
            "the plan's wasm_stack_kib = {} needs an OS stack of at least {needed_kib} KiB, and this shell's is \
             {have_kib} KiB: raise it (`ulimit -s {needed_kib}`) or lower wasm_stack_kib",
            stack.kib
        );
    }
    Ok(())
}

/// Room the harness's own frames (and node's) need beside the guest's stack.
const HOST_STACK_MARGIN_KIB: libc::rlim_t = 1024;
