//! The `harness` command line: parse, dispatch to the subcommand, map its result to the exit code.
//! Each subcommand lives in its own module under `cmd/`; the exit-code policy is [`cmd::exit_code`].

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

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
    Measure(cmd::measure::MeasureArgs),
    // Boxed: its many options make it the largest variant by far.
    Run(Box<cmd::run::RunArgs>),
    Workloads(cmd::workloads::WorkloadsArgs),
    Probes(cmd::probes::ProbesArgs),
    Pair(cmd::pair::PairArgs),
    Bench(harness::bench::BenchArgs),
    BenchEnergy(harness::bench_energy::BenchEnergyArgs),
    BenchLoad(harness::bench_load::BenchLoadArgs),
    Report(cmd::report::ReportArgs),
    Export(cmd::export::ExportArgs),
    FitModel(harness::fit_model::FitModelArgs),
    Selfcheck(harness::selfcheck::SelfcheckArgs),
    #[command(hide = true)]
    InvokeOnce(cmd::invoke_once::InvokeOnceArgs),
    #[command(hide = true)]
    BenchFloor(harness::bench_serving::BenchFloorArgs),
    #[command(hide = true)]
    ServeWasm(cmd::serve_wasm::ServeWasmArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Measure(args) => cmd::measure::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Workloads(args) => cmd::workloads::run(args),
        Command::Probes(args) => cmd::probes::run(args),
        Command::Pair(args) => cmd::pair::run(args),
        Command::Bench(args) => harness::bench::run(&args).map(cmd::Outcome::from),
        Command::BenchEnergy(args) => harness::bench_energy::run(&args).map(cmd::Outcome::from),
        Command::BenchLoad(args) => harness::bench_load::run(&args).map(cmd::Outcome::from),
        Command::Report(args) => cmd::report::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::FitModel(args) => harness::fit_model::run(&args).map(cmd::Outcome::from),
        Command::Selfcheck(args) => harness::selfcheck::run(&args).map(cmd::Outcome::from),
        Command::InvokeOnce(args) => cmd::invoke_once::run(args),
        Command::BenchFloor(args) => harness::bench_serving::run_floor(&args).map(cmd::Outcome::from),
        Command::ServeWasm(args) => cmd::serve_wasm::run(args),
    };
    cmd::exit_code(result)
}
