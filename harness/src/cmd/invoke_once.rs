//! `harness invoke-once` (hidden): the child side of `cold_boundary = "process"`.

use super::Outcome;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// One cold invocation in this process (the process boundary of `cold_boundary = "process"`): input on stdin,
/// output on stdout, the outcome as a `HARNESS_OUTCOME {json}` line on stderr.
#[derive(Args)]
pub struct InvokeOnceArgs {
    #[arg(long)]
    runtime: harness_data::RuntimeKind,
    #[arg(long)]
    workload: String,
    #[arg(long)]
    artifacts: PathBuf,
    #[arg(long, default_value_t = 60_000)]
    timeout_ms: u64,
    /// The plan's `interrupt`: `epoch` or `none`.
    #[arg(long, default_value = "epoch")]
    interrupt: harness_data::plan::Interrupt,
    /// The plan's `wasm_stack_kib` (absent: the engines' default).
    #[arg(long)]
    wasm_stack_kib: Option<u32>,
}

pub fn run(args: InvokeOnceArgs) -> anyhow::Result<Outcome> {
    use harness::runtime::process_boundary::{ChildOutcome, OUTCOME_PREFIX};
    use std::io::{Read, Write};
    let main_ns = harness_probes::clock::monotonic_ns();
    let spec =
        harness_workloads::find(&args.workload).with_context(|| format!("unknown workload `{}`", args.workload))?;
    let artifacts = harness::artifacts::WorkloadArtifacts::at(&args.artifacts, spec);
    let mut runtime = harness::runtime::create(
        args.runtime,
        harness::runtime::Limits {
            timeout_ms: args.timeout_ms,
            interrupt: args.interrupt,
            memory_mb: None,
            wasm_stack: args.wasm_stack_kib.map(|kib| harness_data::plan::WasmStack { kib }),
        },
        // In-process Wasm only (the process boundary's child): no containers to record.
        &harness_probes::model::ContainerLedger::default(),
    )?;
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let invoke_ns = harness_probes::clock::monotonic_ns();
    let outcome = runtime.invoke(harness_data::Mode::Cold, &artifacts, &input);
    let done_ns = harness_probes::clock::monotonic_ns();
    let report = ChildOutcome {
        main_ns,
        invoke_ns,
        done_ns,
        phases: outcome.phases,
        status: outcome.status(),
        error: outcome.error,
    };
    std::io::stdout().write_all(&outcome.output)?;
    std::io::stdout().flush()?;
    eprintln!("{OUTCOME_PREFIX}{}", serde_json::to_string(&report)?);
    Ok(Outcome::Complete)
}
