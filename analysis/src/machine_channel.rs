//! The one rule that picks a run's whole-machine channel: the channel the terminal summary and the report's
//! energy glance show, the cold premium is computed on, load levels are attributed on, and `fit-model` fits
//! against (among its measured channels). Every caller uses [`choose`]; they differ only in which channels they
//! offer and what "has data" means to them (a sample with a value, a paired row with usable energy).
//!
//! 1. only channels with data; never a `gpu`-scoped channel, nor a sub-domain of a package (`package-0/core`,
//!    `dram`, `core`, `uncore`), nor a Jetson rail other than the total input rail;
//! 2. `machine`-scoped channels before `harness`-scoped ones (a harness-scoped model is the last resort: its
//!    blind spots are flagged `unseen`), and those before channels of rows that do not state a scope (runs
//!    written before the column existed);
//! 3. then the first probe in the manifest's order (channels only the data names come after every declared
//!    one);
//! 4. within the probe, `psys` (the platform) or a total input rail first, then `package-N` (on a machine
//!    with several sockets, `package-0` sees one socket only: psys is preferred where it exists), then the
//!    rest (a USB meter's reading, the model's estimate), in the probe's channel order.

use harness_data::{ChannelInfo, Scope};

/// Jetson's total input rails (JetPack 5/6, JetPack 4): the module's whole draw.
const TOTAL_INPUT_RAILS: [&str; 2] = ["VDD_IN", "POM_5V_IN"];

/// Package sub-domains: each sees one part of a package.
const SUB_DOMAINS: [&str; 3] = ["core", "uncore", "dram"];

/// The chosen channel among `probes` (each as its kind and its channels, in the manifest's order), or `None`
/// when no channel qualifies or none has data.
pub fn choose<'a>(
    probes: impl IntoIterator<Item = (&'a str, &'a [ChannelInfo])>,
    has_data: impl Fn(&ChannelInfo) -> bool,
) -> Option<ChannelInfo> {
    // (scope rank, probe index, name rank, channel index) of each candidate.
    type Rank = (u8, usize, u8, usize);
    let mut candidates: Vec<(Rank, &ChannelInfo)> = Vec::new();
    for (p, (kind, channels)) in probes.into_iter().enumerate() {
        for (c, info) in channels.iter().enumerate() {
            let scope_rank = match info.scope {
                Scope::Machine => 0,
                Scope::Harness => 1,
                Scope::Unstated => 2,
                Scope::Gpu => continue,
            };
            let Some(name_rank) = name_rank(kind, &info.channel) else {
                continue;
            };
            if !candidates
                .iter()
                .any(|(_, k)| (&k.probe, &k.channel) == (&info.probe, &info.channel))
            {
                candidates.push(((scope_rank, p, name_rank, c), info));
            }
        }
    }
    candidates.sort_by_key(|(rank, _)| *rank);
    candidates
        .into_iter()
        .find(|(_, info)| has_data(info))
        .map(|(_, info)| info.clone())
}

/// 0: the platform or the total input; 1: a package; 2: anything else whole; none: a part of the machine.
fn name_rank(probe_kind: &str, channel: &str) -> Option<u8> {
    if channel == "psys" || TOTAL_INPUT_RAILS.contains(&channel) {
        return Some(0);
    }
    if probe_kind == "jetson" || channel.contains('/') || SUB_DOMAINS.contains(&channel) {
        return None;
    }
    Some(if channel.starts_with("package") { 1 } else { 2 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness_data::{SampleKind, Unit};

    fn info(probe: &str, channel: &str, scope: Scope) -> ChannelInfo {
        ChannelInfo {
            probe: probe.into(),
            channel: channel.into(),
            unit: Unit::Joule,
            kind: SampleKind::EnergyCounter,
            resolution: 1e-6,
            update_period_ns: 1_000_000,
            estimated: false,
            scope,
        }
    }

    #[test]
    fn machine_before_harness_platform_before_package_and_parts_never() {
        let rapl = [
            info("rapl", "package-0/core", Scope::Machine),
            info("rapl", "package-0", Scope::Machine),
            info("rapl", "psys", Scope::Machine),
        ];
        let model = [info("model", "cpu-estimate", Scope::Harness)];
        let gpu = [info("nvml", "board", Scope::Gpu)];
        let all = || [("nvml", &gpu[..]), ("model", &model[..]), ("rapl", &rapl[..])];
        assert_eq!(choose(all(), |_| true).unwrap().channel, "psys");
        assert_eq!(choose(all(), |i| i.channel != "psys").unwrap().channel, "package-0");
        assert_eq!(
            choose(all(), |i| i.probe != "rapl").unwrap().channel,
            "cpu-estimate",
            "a harness-scoped model is the last resort"
        );
        assert_eq!(choose(all(), |i| i.probe == "nvml"), None, "never a gpu channel");
        assert_eq!(
            choose(all(), |i| i.channel == "package-0/core"),
            None,
            "never a sub-domain"
        );
    }
}
