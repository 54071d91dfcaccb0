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
    Probes(ProbesArgs),
    Pair(PairArgs),
    Bench(harness::bench::BenchArgs),
    BenchEnergy(harness::bench_energy::BenchEnergyArgs),
    Report(ReportArgs),
    Export(ExportArgs),
    FitModel(harness::fit_model::FitModelArgs),
    #[command(hide = true)]
    InvokeOnce(InvokeOnceArgs),
}

/// One cold invocation in this process (the process boundary of `cold_boundary = "process"`): input on stdin,
/// output on stdout, the outcome as a `HARNESS_OUTCOME {json}` line on stderr.
#[derive(Args)]
struct InvokeOnceArgs {
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
    interrupt: harness::plan::Interrupt,
}

fn invoke_once(args: InvokeOnceArgs) -> anyhow::Result<()> {
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
        },
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
    Ok(())
}

/// List every probe and channel this machine has (unit, resolution, update period), and why the others are missing.
#[derive(Args)]
#[command(after_help = "Examples:\n  harness probes\n  harness probes --sysfs-root /tmp/fake-sysfs")]
struct ProbesArgs {
    /// Root of the sysfs tree to read (a fake tree in tests).
    #[arg(long, default_value = "/")]
    sysfs_root: PathBuf,
}

/// Pair a run's invocations with its samples again (re-analysis), rewriting paired.csv.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  harness pair runs/xeon-2026-11-23\n  harness pair runs/xeon-2026-11-23 --samples other-samples.csv"
)]
struct PairArgs {
    /// A run directory written by `harness measure`.
    run: PathBuf,
    /// Attribute from this samples.csv instead of the run's own (a replayed or corrected trace).
    #[arg(long)]
    samples: Option<PathBuf>,
}

/// Run a plan and write a run directory (invocations.csv, manifest.json) as it measures.
#[derive(Args)]
#[command(after_help = "Example:\n  harness measure --plan plans/default.toml --out runs/$(hostname)-$(date +%F)")]
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

/// Statistics of one or more runs of one plan against a baseline runtime: report.md, a self-contained
/// report.html with plots, results.json, and each plot as an SVG file.
#[derive(Args)]
#[command(after_help = "Example:\n  harness report runs/xeon-2026-11-23 --baseline wasmtime-aot --out report/")]
struct ReportArgs {
    /// Run directories (each holds manifest.json and invocations.csv, and paired.csv when probes ran).
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The runtime every other runtime is compared against (e.g. native, wasmtime-aot).
    #[arg(long)]
    baseline: String,
    /// Directory for report.md, report.html, results.json and the SVG plots (created if needed).
    #[arg(long)]
    out: PathBuf,
    /// Bootstrap resamples per comparison.
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Relative half-width of the equivalence band (0.02: ratios of medians within [0.98, 1.02]).
    #[arg(long, default_value_t = 0.02)]
    band: f64,
}

/// One tidy paired latency/energy dataset (CSV) across runs and devices; datasets/SCHEMA.md describes it.
#[derive(Args)]
#[command(
    after_help = "Example:\n  harness export runs/xeon-* runs/jetson-* --out study.csv\n  harness export runs/a --device xeon-lab --out a.csv"
)]
struct ExportArgs {
    /// Run directories, from any plans and devices.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// The CSV file to write.
    #[arg(long)]
    out: PathBuf,
    /// The `device` column for every run [default: each manifest's host.hostname].
    #[arg(long)]
    device: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Measure(args) => run_measure(args),
        Command::Workloads(args) => {
            for w in harness_workloads::WORKLOADS.iter().filter(|w| args.all || !w.test_only) {
                println!("{:<14} {}  (e.g. \"{}\")", w.name, w.input_doc, w.small_input);
            }
            println!("\nruntimes: {}", harness_data::RuntimeKind::names());
            Ok(())
        }
        Command::Probes(args) => {
            print!("{}", render_probes(&harness::energy::discover_all(&args.sysfs_root)));
            Ok(())
        }
        Command::Pair(args) => {
            let path = args.run.join(harness_data::files::MANIFEST);
            let manifest: harness_data::Manifest =
                serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?)
                    .with_context(|| format!("parsing {}", path.display()))?;
            let pairing = harness::energy::pair_run(&args.run, &manifest, args.samples.as_deref())?;
            println!(
                "{} paired rows over {} windows in {}",
                pairing.rows,
                pairing.windows,
                args.run.join(harness_data::files::PAIRED).display()
            );
            for (quality, n) in &pairing.qualities {
                println!("  {quality:?}: {n}");
            }
            Ok(())
        }
        Command::Bench(args) => harness::bench::run(&args),
        Command::BenchEnergy(args) => harness::bench_energy::run(&args),
        Command::Report(args) => run_report(args),
        Command::InvokeOnce(args) => invoke_once(args),
        Command::Export(args) => run_export(args),
        Command::FitModel(args) => harness::fit_model::run(&args),
    }
}

fn render_probes(found: &[harness_probes::Discovery]) -> String {
    let mut out = String::new();
    for probe in found {
        match &probe.missing {
            None => out += &format!("{}: available\n", probe.kind),
            Some(why) => out += &format!("{}: not available: {why}\n", probe.kind),
        }
        for c in &probe.channels {
            out += &format!(
                "  {:<24} {:<4} {:<15} resolution {:.3e} {}, updates every {:.3} ms{}\n",
                c.channel,
                c.unit,
                format!("{:?}", c.kind),
                c.resolution,
                c.unit,
                c.update_period_ns as f64 / 1e6,
                if c.estimated { ", ESTIMATED" } else { "" }
            );
        }
        for note in &probe.notes {
            out += &format!("  note: {note}\n");
        }
    }
    out
}

fn load_runs(dirs: &[PathBuf]) -> anyhow::Result<Vec<harness_analysis::load::Run>> {
    dirs.iter()
        .map(|dir| harness_analysis::load::load_run(dir).map_err(anyhow::Error::from))
        .collect()
}

fn run_report(args: ReportArgs) -> anyhow::Result<()> {
    use harness_analysis::report::{ReportOptions, build_report, write_report};
    anyhow::ensure!(args.resamples > 0, "--resamples must be at least 1");
    anyhow::ensure!(
        (0.0..1.0).contains(&args.band),
        "--band is a fraction in [0, 1): 0.02 means ±2%"
    );
    let runs = load_runs(&args.runs)?;
    let options = ReportOptions {
        baseline: args.baseline,
        resamples: args.resamples,
        seed: args.seed,
        equivalence_band: args.band,
        ..ReportOptions::default()
    };
    let report = build_report(&runs, &options)?;
    write_report(&report, &args.out)?;
    for note in &report.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "report: {} groups, {} comparisons, {} figures in {}",
        report.groups.len(),
        report.comparisons.len(),
        report.figures.len(),
        args.out.display()
    );
    Ok(())
}

fn run_export(args: ExportArgs) -> anyhow::Result<()> {
    use harness_analysis::export::{export_rows, to_csv};
    let runs = load_runs(&args.runs)?;
    let rows: Vec<_> = runs
        .iter()
        .flat_map(|run| export_rows(run, args.device.as_deref()))
        .collect();
    std::fs::write(&args.out, to_csv(&rows)).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "export: {} rows from {} runs in {}",
        rows.len(),
        runs.len(),
        args.out.display()
    );
    Ok(())
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
        eprintln!(
            "\ninterrupted: finishing the invocation in flight and writing what was measured (Ctrl-C again to abort)"
        );
    })
    .context("installing the Ctrl-C handler")?;
    let progress = !args.quiet && std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
    let options = MeasureOptions {
        plan: args.plan,
        out: args.out.clone(),
        artifacts: args.artifacts.unwrap_or_else(harness::artifacts::default_dir),
        progress,
    };
    let summary = measure(&options, &interrupted)?;
    let failed = if summary.failed_rows > 0 {
        format!(", {} failed", summary.failed_rows)
    } else {
        String::new()
    };
    if let Some(rows) = summary.paired_rows {
        let label = if summary.energy_estimated {
            " (energy ESTIMATED by the model probe)"
        } else {
            ""
        };
        eprintln!("paired.csv: {rows} rows{label}");
    }
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
