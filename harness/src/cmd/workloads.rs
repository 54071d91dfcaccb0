//! `harness workloads`: the workloads, what their inputs mean, and the runtimes.

use super::Outcome;
use clap::Args;

/// List the workloads, what their inputs mean, and the runtimes.
#[derive(Args)]
#[command(after_help = "Example:\n  harness workloads")]
pub struct WorkloadsArgs {
    /// Also list test-only workloads (fault).
    #[arg(long)]
    all: bool,
}

pub fn run(args: WorkloadsArgs) -> anyhow::Result<Outcome> {
    for w in harness_workloads::WORKLOADS.iter().filter(|w| args.all || !w.test_only) {
        println!("{:<14} {}  (e.g. \"{}\")", w.name, w.input_doc, w.small_input);
    }
    println!("\nruntimes: {}", harness_data::RuntimeKind::names());
    Ok(Outcome::Complete)
}
