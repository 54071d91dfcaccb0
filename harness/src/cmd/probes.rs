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
    print!("{}", probes_on(&args.sysfs_root, std::env::consts::ARCH));
    Ok(Outcome::Complete)
}

/// The listing as a harness running on `arch` prints it (tests give another architecture than the host's).
fn probes_on(sysfs_root: &std::path::Path, arch: &str) -> String {
    render_probes(arch, &harness_probes::open::discover_all_on(sysfs_root, arch))
}

fn render_probes(arch: &str, found: &[harness_probes::Discovery]) -> String {
    // The architecture first: it decides which sensors can exist at all (RAPL on x86 only).
    let mut out = format!("architecture: {arch} (harness built for {})\n", env!("HARNESS_TARGET"));
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

#[cfg(test)]
mod tests {
    use super::probes_on;
    use harness_probes::testing::{FakeJetson, FakePowercap};

    #[test]
    fn on_arm64_jetson_rails_are_listed_and_rapl_is_x86_only() {
        let jetson = FakeJetson::agx_orin();
        let text = probes_on(jetson.root(), "aarch64");
        assert!(text.starts_with("architecture: aarch64"), "{text}");
        assert!(text.contains("jetson: available"), "{text}");
        for rail in ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"] {
            assert!(
                text.lines().any(|l| l.contains(rail) && l.contains("mW")),
                "{rail}: {text}"
            );
        }
        assert!(
            text.contains("rapl: not available: RAPL is x86-only (Intel and AMD) and this harness runs on aarch64"),
            "{text}"
        );
    }

    #[test]
    fn on_x86_a_readable_powercap_tree_is_rapl_and_the_jetson_is_missing() {
        let powercap = FakePowercap::new();
        powercap.zone("intel-rapl:0", "package-0", 262_143_328_850, 1_000);
        let text = probes_on(powercap.root(), "x86_64");
        assert!(text.contains("rapl: available"), "{text}");
        assert!(!text.contains("x86-only"), "{text}");
        assert!(text.contains("jetson: not available"), "{text}");
    }
}
