//! `[[workloads]]`: built-in workloads by name with their inputs, and WASI command modules by path (see
//! [`super::commands`]). Every (workload, input) pair is one cell, listed once.

use super::commands::{self, Vars};
use super::file::WorkloadFile;
use super::span::SpannedError;
use harness_data::plan::PlanWorkload;
use harness_workloads::WorkloadSpec;
use std::collections::HashSet;
use std::path::Path;
use toml::Spanned;

pub(super) fn not_empty(workloads: &Spanned<Vec<WorkloadFile>>) -> Result<(), SpannedError> {
    if workloads.get_ref().is_empty() {
        return Err((
            workloads.span(),
            "field `workloads` is empty: add a [[workloads]] table".into(),
        ));
    }
    Ok(())
}

/// Each table, built-in or command. `plan_dir` is where a command's relative paths start.
pub(super) fn validate(
    workloads: &[WorkloadFile],
    plan_dir: &Path,
    vars: &Vars,
) -> Result<Vec<PlanWorkload>, SpannedError> {
    // Every (workload, input) pair once: a repeated one would triple a cell and repeat its iteration
    // numbers. A set keeps the check linear in the number of inputs.
    let mut seen = HashSet::new();
    workloads
        .iter()
        .map(|entry| {
            if commands::is_command(entry) {
                commands::validate(entry, &mut seen, plan_dir, vars)
            } else {
                builtin(entry, &mut seen)
            }
        })
        .collect()
}

/// A built-in workload: a known name, no command keys, and a non-empty list of inputs.
fn builtin<'a>(entry: &'a WorkloadFile, seen: &mut HashSet<(&'a str, &'a str)>) -> Result<PlanWorkload, SpannedError> {
    let name = entry.name.get_ref();
    if let Some((span, key)) = commands::stray_command_key(entry) {
        return Err((
            span,
            format!("field `workloads.{key}` of `{name}`: only a command module (a table with `wasm`) takes `{key}`"),
        ));
    }
    let Some(spec) = harness_workloads::find(name) else {
        return Err((
            entry.name.span(),
            format!(
                "field `workloads.name`: unknown workload `{name}`; valid workloads: {}",
                harness_workloads::names().join(", ")
            ),
        ));
    };
    let Some(inputs) = &entry.inputs else {
        return Err((
            entry.name.span(),
            format!(
                "workload `{name}` has no field `inputs`; add e.g. `inputs = [\"{}\"]` ({})",
                spec.small_input, spec.input_doc
            ),
        ));
    };
    if inputs.get_ref().is_empty() {
        return Err((inputs.span(), format!("field `workloads.inputs` of `{name}` is empty")));
    }
    for input in inputs.get_ref() {
        check_input(name, spec, input, seen)?;
    }
    Ok(PlanWorkload {
        name: name.clone(),
        inputs: inputs.get_ref().iter().map(|i| i.get_ref().clone()).collect(),
        command: None,
    })
}

/// One input: printable, listed once for its workload, and in the workload's range, checked from the spec
/// alone (a plan of `256MiB` inputs allocates nothing until the run prepares them).
fn check_input<'a>(
    name: &'a str,
    spec: &WorkloadSpec,
    input: &'a Spanned<String>,
    seen: &mut HashSet<(&'a str, &'a str)>,
) -> Result<(), SpannedError> {
    let text = input.get_ref();
    // A newline or other control character would break report headings and CSV rows.
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err((
            input.span(),
            format!(
                "field `workloads.inputs` of `{name}`: {text:?} holds the control character {c:?}; inputs are \
                 printed in report headings and CSV rows, so use printable text"
            ),
        ));
    }
    if !seen.insert((name, text.as_str())) {
        return Err((
            input.span(),
            format!(
                "field `workloads.inputs` of `{name}`: `{text}` is listed twice; list each input once (raise \
                 `repetitions` to measure it more)"
            ),
        ));
    }
    spec.check_input(text).map_err(|e| {
        (
            input.span(),
            format!(
                "field `workloads.inputs` of `{name}`: {e} (expected: {})",
                spec.input_doc
            ),
        )
    })
}
