//! The `harness` command line. One clap struct per subcommand.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use harness::measure::{MeasureOptions, measure};
use harness_data::RunStatus;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Parser)]
#[command(
    name = "harness",
    version,
    about = "Energy and latency of the same workloads on several runtimes, side by side"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Measure(MeasureArgs),
    Workloads(WorkloadsArgs),
    Bench(harness::bench::BenchArgs),
}

/// Run a plan and write a run directory (invocations.csv, manifest.json) as it measures.
#[derive(Args)]
#[command(
    after_help = "Example:\n  harness measure --plan plans/default.toml --out runs/$(hostname)-$(date +%F)"
)]
struct MeasureArgs {
    /// The plan (TOML): workloads, inputs, runtimes, modes, repetitions, seed.
    #[arg(long)]
    plan: PathBuf,
    /// The run directory to create; it must not hold a run already.
    #[arg(long)]
    out: PathBuf,
    /// Where the built workloads are (scripts/build-workloads.sh writes them) [default: $HARNESS_ARTIFACTS, or the repository's artifacts/].
    #[arg(long)]
    artifacts: Option<PathBuf>,
    /// No progress bar (also off when stderr is not a terminal or CI is set).
    #[arg(long)]
    quiet: bool,
}

/// List the workloads, what their inputs mean, and the runtimes.
#[derive(Args)]
#[command(after_help = "Example:\n  harness workloads")]
struct WorkloadsArgs {
    /// Also list test-only workloads (fault).
    #[arg(long)]
    all: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Measure(args) => run_measure(args),
        Command::Workloads(args) => {
            for w in harness_workloads::WORKLOADS
                .iter()
                .filter(|w| args.all || !w.test_only)
            {
                println!(
                    "{:<14} {}  (e.g. \"{}\")",
                    w.name, w.input_doc, w.small_input
                );
            }
            println!("\nruntimes: {}", harness::plan::RUNTIMES.join(", "));
            Ok(())
        }
        Command::Bench(args) => harness::bench::run(&args),
    }
}

fn run_measure(args: MeasureArgs) -> anyhow::Result<()> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&interrupted);
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C: the rows already queued are flushed by the writer's own exit path only if we
            // let it run, so exit the hard way only when asked twice.
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the invocation in flight and writing what was measured (Ctrl-C again to abort)");
    })
    .context("installing the Ctrl-C handler")?;
    let progress =
        !args.quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let options = MeasureOptions {
        plan: args.plan,
        out: args.out.clone(),
        artifacts: args
            .artifacts
            .unwrap_or_else(harness::artifacts::default_dir),
        progress,
    };
    let summary = measure(&options, &interrupted)?;
    let failed = if summary.failed_rows > 0 {
        format!(", {} failed", summary.failed_rows)
    } else {
        String::new()
    };
    eprintln!(
        "{}: {} of {} invocations recorded{failed} in {}",
        match summary.status {
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "FAILED",
        },
        summary.rows,
        summary.scheduled,
        args.out.display()
    );
    match summary.status {
        RunStatus::Complete => Ok(()),
        RunStatus::Partial => {
            eprintln!("{}", summary.reason.unwrap_or_default());
            std::process::exit(130)
        }
        RunStatus::Failed => anyhow::bail!("{}", summary.reason.unwrap_or_default()),
    }
}
