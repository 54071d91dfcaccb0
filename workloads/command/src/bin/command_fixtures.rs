//! `command-fixtures WORKLOAD DIR`: writes DIR/default.input (the bytes the harness's own
//! `prepare_input(small_input)` gives) and DIR/benchmark.stdout.expected (the built-in workload's output for
//! them), so a sightglass-style run of the command computes, and is checked against, what the built-in does.
//! A command whose input the plan supplies (transfer-wasi) gets no fixtures: its output depends on that input.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, dir] = args.as_slice() else {
        eprintln!("usage: command-fixtures WORKLOAD DIR");
        return ExitCode::from(1);
    };
    match write_fixtures(workload, &PathBuf::from(dir)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("command-fixtures {workload}: {message}");
            ExitCode::from(1)
        }
    }
}

fn write_fixtures(workload: &str, dir: &std::path::Path) -> Result<(), String> {
    let spec = harness_workloads::find(workload).ok_or_else(|| {
        format!(
            "no built-in workload of that name; choose one of {}",
            harness_workloads::names().join(", ")
        )
    })?;
    let input = spec
        .prepare_input(spec.small_input)
        .map_err(|e| format!("preparing its small input `{}`: {e}", spec.small_input))?;
    let output = (spec.run)(&input).map_err(|e| format!("running it on its small input: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for (name, bytes) in [("default.input", &input), ("benchmark.stdout.expected", &output)] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
