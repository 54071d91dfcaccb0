//! `harness probes`: every probe and channel this machine has, and why the others are missing.

use super::Outcome;
use clap::Args;
use std::path::PathBuf;

/// List every probe and channel this machine has (unit, resolution, update period), and why the others are missing.
#[derive(Args)]
#[command(after_help = "Examples:\n  harness probes\n  harness probes --sysfs-root /tmp/fake-sysfs")]
pub struct ProbesArgs {
    /// Root of the sysfs tree to read (a fake tree in tests).
    #[arg(long, default_value = "/")]
    sysfs_root: PathBuf,
}

pub fn run(args: ProbesArgs) -> anyhow::Result<Outcome> {
    print!(
        "{}",
        render_probes(&harness_probes::open::discover_all(&args.sysfs_root))
    );
    Ok(Outcome::Complete)
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
