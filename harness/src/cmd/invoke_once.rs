//! `harness invoke-once` (hidden): the child side of `cold_boundary = "process"`.

use super::Outcome;
use clap::Args;

/// One cold invocation in this process (the process boundary of `cold_boundary = "process"`): input on stdin,
/// output on stdout, the outcome as a `HARNESS_OUTCOME {json}` line on stderr.
#[derive(Args)]
pub struct InvokeOnceArgs {
    #[command(flatten)]
    engine: super::child_engine::ChildEngineArgs,
}

pub fn run(args: InvokeOnceArgs) -> anyhow::Result<Outcome> {
    use harness::runtime::process_boundary::{ChildOutcome, OUTCOME_PREFIX};
    use std::io::{Read, Write};
    let main_ns = harness_probes::clock::monotonic_ns();
    let (artifacts, mut runtime) = args.engine.open(None)?;
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
