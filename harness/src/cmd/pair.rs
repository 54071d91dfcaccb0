//! `harness pair`: pair a run's invocations with its samples again.

use super::Outcome;
use clap::Args;
use std::path::PathBuf;

/// Pair a run's invocations with its samples again (re-analysis), rewriting paired.csv and the energy columns
/// of load.csv.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  harness pair runs/xeon-2026-11-23\n  harness pair runs/xeon-2026-11-23 --samples other-samples.csv"
)]
pub struct PairArgs {
    /// A run directory written by `harness measure`.
    run: PathBuf,
    /// Attribute from this samples.csv instead of the run's own (a replayed or corrected trace). It must hold at
    /// least one sample: from none, pairing is refused and paired.csv and load.csv are left as they were.
    #[arg(long)]
    samples: Option<PathBuf>,
}

pub fn run(args: PairArgs) -> anyhow::Result<Outcome> {
    let manifest = harness_analysis::run::read_manifest(&args.run)?;
    let pairing = harness_analysis::pair::pair_run(&args.run, &manifest, args.samples.as_deref())?;
    println!(
        "{} paired rows over {} windows in {}",
        pairing.rows,
        pairing.windows,
        args.run.join(harness_data::files::PAIRED).display()
    );
    for (quality, n) in &pairing.qualities {
        println!("  {quality:?}: {n}");
    }
    for note in &pairing.notes {
        eprintln!("note: {note}");
    }
    let load = &pairing.load;
    if load.rows > 0 {
        println!(
            "{} load rows re-attributed ({} with energy, channel {}) in {}",
            load.rows,
            load.with_energy,
            load.channel.as_deref().unwrap_or("none"),
            args.run.join(harness_data::files::LOAD).display()
        );
    }
    Ok(Outcome::Complete)
}
