//! `[load] memory_mb` against the modules the plan's Wasm runtimes instantiate: a cap below a module's own
//! initial linear memory lets no instance start (wasmtime and wasmi fail the first level's idle instance and,
//! with it, the whole run). Known once the artifacts are found, so it is checked then, before anything runs.

use crate::plan::span::{field_span, line_column};
use crate::plan::{Plan, PlanError};
use crate::runtime::setup::PreparedWorkload;
use crate::runtime::wasmtime::pool::declared_memory;
use harness_data::RuntimeKind;
use std::path::Path;

/// The runtimes whose cap is a limit on each instance's linear memory.
const LINEAR_MEMORY_CAPPED: [RuntimeKind; 3] = [RuntimeKind::WasmtimeJit, RuntimeKind::WasmtimeAot, RuntimeKind::Wasmi];

/// Refuses a `memory_mb` under the initial linear memory of a module one of the plan's Wasm runtimes loads,
/// naming the plan's `memory_mb` line and the least cap that starts every module.
pub fn check_instance_memory(path: &Path, plan: &Plan, workloads: &[PreparedWorkload]) -> Result<(), PlanError> {
    let Some(cap_mb) = plan.load.as_ref().and_then(|l| l.memory_mb) else {
        return Ok(());
    };
    let Some(runtime) = plan.runtimes.iter().find(|r| LINEAR_MEMORY_CAPPED.contains(r)) else {
        return Ok(());
    };
    let cap = cap_mb << 20;
    let too_big: Vec<(&str, u64)> = workloads
        .iter()
        .filter_map(|w| {
            let bytes = std::fs::read(&w.artifacts.wasm).ok()?;
            let initial = declared_memory(&bytes).initial;
            (initial > cap).then_some((w.artifacts.name, initial))
        })
        .collect();
    let Some(&(name, initial)) = too_big.iter().max_by_key(|(_, initial)| *initial) else {
        return Ok(());
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let header = text.find("[load]").map_or(0..0, |at| at..at + "[load]".len());
    let (line, column) = line_column(&text, field_span(&text, header, "memory_mb").start);
    Err(PlanError::Invalid {
        path: path.into(),
        line,
        column,
        message: format!(
            "field `load.memory_mb`: {cap_mb} MiB is less than the {:.2} MiB of linear memory workload `{name}` \
             starts with, so no {runtime} instance could start and the run would fail at its first level; raise \
             it to at least {} (or leave {runtime} out of this plan)",
            initial as f64 / f64::from(1 << 20),
            initial.div_ceil(1 << 20)
        ),
    })
}
