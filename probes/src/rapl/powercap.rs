//! RAPL through powercap sysfs.

use super::EnergyUnit;
use super::{KIND, io_error, read_text};
use crate::counter::{CounterUpdate, WrappingCounter};
use crate::{ProbeError, Reading, Source, TimedReading};
use harness_data::{ChannelInfo, SampleKind};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// A zone as discovered: where it is and what it is called. Opening happens later.
#[derive(Debug, Clone, PartialEq)]
pub struct PowercapZone {
    /// `intel-rapl:0`, `intel-rapl:0:1`.
    pub id: String,
    pub dir: PathBuf,
    /// `package-0`, `package-0/core`, `psys`: the zone's name, under its parent's for subzones.
    pub channel: String,
    pub max_energy_range_uj: u64,
}

impl PowercapZone {
    pub fn channel_info(&self, interval_ms: f64) -> ChannelInfo {
        ChannelInfo {
            probe: KIND.into(),
            channel: self.channel.clone(),
            unit: harness_data::Unit::Microjoule,
            kind: SampleKind::EnergyCounter,
            // The file counts microjoules; the hardware moves it in steps of its energy unit (61 uJ on most
            // Intel client parts, 15.3 uJ on AMD Zen), which powercap does not expose.
            resolution: 1.0,
            // The hardware updates the counter about every millisecond; polling slower than that is the limit.
            update_period_ns: (interval_ms.max(1.0) * 1e6) as u64,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }
    }

    /// Whether `energy_uj` can be read (it is root-only on patched kernels).
    pub fn check_readable(&self) -> Result<(), ProbeError> {
        let path = self.dir.join("energy_uj");
        File::open(&path).map(|_| ()).map_err(|e| io_error(&path, e))
    }
}

/// `intel-rapl:N` -> (N, None); `intel-rapl:N:M` -> (N, Some(M)).
fn parse_zone_id(name: &str) -> Option<(u32, Option<u32>)> {
    let rest = name.strip_prefix("intel-rapl:")?;
    let mut parts = rest.split(':');
    let top = parts.next()?.parse().ok()?;
    let sub = match parts.next() {
        Some(m) => Some(m.parse().ok()?),
        None => None,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((top, sub))
}

/// Lists powercap RAPL zones under `root`, and the duplicate `intel-rapl-mmio` zones it skipped.
pub fn discover_powercap(root: &Path) -> Result<(Vec<PowercapZone>, Vec<String>), ProbeError> {
    let class = root.join("sys/class/powercap");
    let entries = std::fs::read_dir(&class).map_err(|e| ProbeError::Unavailable {
        probe: KIND,
        reason: format!(
            "{} cannot be listed ({e}): no powercap (not Linux, not x86, the intel_rapl_common/intel_rapl_msr modules not loaded (`sudo modprobe intel_rapl_msr`), or AMD before Linux 5.8)",
            class.display()
        ),
    })?;
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("intel-rapl-mmio") {
            skipped.push(name);
            continue;
        }
        if let Some(id) = parse_zone_id(&name) {
            found.push((id, name, entry.path()));
        }
    }
    if found.is_empty() {
        return Err(ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "{} has no intel-rapl zones (not an Intel/AMD CPU with RAPL, or a VM that hides it)",
                class.display()
            ),
        });
    }
    found.sort();
    let mut names = std::collections::HashMap::new();
    for ((top, sub), _, dir) in &found {
        if sub.is_none() {
            names.insert(*top, read_text(&dir.join("name"))?);
        }
    }
    let mut zones = Vec::new();
    for ((top, sub), id, dir) in found {
        let own = read_text(&dir.join("name"))?;
        let channel = match sub {
            None => own,
            Some(_) => format!("{}/{own}", names.get(&top).map_or("package-?", String::as_str)),
        };
        let range_path = dir.join("max_energy_range_uj");
        let max_energy_range_uj = match read_text(&range_path) {
            Ok(text) => text.parse().map_err(|_| ProbeError::Malformed {
                probe: KIND,
                path: range_path.clone(),
                message: format!("`{text}` is not a whole number"),
            })?,
            Err(_) => 0,
        };
        zones.push(PowercapZone {
            id,
            dir,
            channel,
            max_energy_range_uj,
        });
    }
    Ok((zones, skipped))
}

struct OpenZone {
    file: File,
    path: PathBuf,
    counter: WrappingCounter,
}

/// Open powercap zones, read with `pread` on kept descriptors (sysfs regenerates the value on every read at
/// offset 0, and keeping the descriptor halves the cost of a poll).
pub struct RaplSource {
    zones: Vec<OpenZone>,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
    buffer: [u8; 32],
}

/// The largest power one zone can plausibly draw; a larger step between two reads is a garbage read.
const MAX_PLAUSIBLE_WATTS: f64 = 5_000.0;

impl RaplSource {
    /// Declares the hardware's energy unit (in uJ) as every channel's resolution.
    pub fn set_energy_unit(&mut self, unit: EnergyUnit) {
        for c in &mut self.channels {
            c.resolution = unit.uj;
        }
        self.notes
            .push(format!("energy unit {:.2} uJ ({})", unit.uj, unit.from));
    }

    pub fn open(zones: Vec<PowercapZone>, skipped: Vec<String>, interval_ms: f64) -> Result<RaplSource, ProbeError> {
        let mut notes: Vec<String> = skipped
            .into_iter()
            .map(|z| format!("skipped {z}: it duplicates the package zone"))
            .collect();
        notes.push("interface: powercap".into());
        // Allow for a poll delayed by up to 100 intervals (a descheduled sampler) before calling a step garbage.
        let max_step = (MAX_PLAUSIBLE_WATTS * interval_ms.max(1.0) * 1e-3 * 100.0 * 1e6) as u64;
        let mut open = Vec::new();
        for zone in &zones {
            let path = zone.dir.join("energy_uj");
            let file = File::open(&path).map_err(|e| io_error(&path, e))?;
            if zone.max_energy_range_uj == 0 {
                notes.push(format!(
                    "{}: max_energy_range_uj is 0: a wrap cannot be told from garbage, and becomes a gap",
                    zone.channel
                ));
            }
            open.push(OpenZone {
                file,
                path,
                counter: WrappingCounter::new(zone.max_energy_range_uj, max_step),
            });
        }
        let channels = zones.iter().map(|z| z.channel_info(interval_ms)).collect();
        Ok(RaplSource {
            zones: open,
            channels,
            notes,
            buffer: [0; 32],
        })
    }
}

impl Source for RaplSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        for (channel, zone) in self.zones.iter_mut().enumerate() {
            let reading = match zone.file.read_at(&mut self.buffer, 0) {
                Ok(n) => match std::str::from_utf8(&self.buffer[..n])
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                {
                    Some(raw) => match zone.counter.update(raw) {
                        CounterUpdate::Total(total) => Reading::Value(total as f64),
                        CounterUpdate::Implausible => {
                            Reading::Gap(format!("{}: implausible step to {raw}", zone.path.display()))
                        }
                    },
                    None => Reading::Gap(format!(
                        "{}: unreadable value {:?}",
                        zone.path.display(),
                        String::from_utf8_lossy(&self.buffer[..n])
                    )),
                },
                Err(e) => Reading::Gap(format!("{}: {e}", zone.path.display())),
            };
            out.push(TimedReading {
                channel,
                t_ns: now_ns,
                reading,
            });
        }
    }

    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakePowercap;

    fn poll(source: &mut RaplSource, readings: &mut Vec<Reading>) {
        let mut out = Vec::new();
        source.poll(1, &mut out);
        readings.extend(out.into_iter().map(|r| r.reading));
    }

    #[test]
    fn zone_ids_parse() {
        assert_eq!(parse_zone_id("intel-rapl:0"), Some((0, None)));
        assert_eq!(parse_zone_id("intel-rapl:1:2"), Some((1, Some(2))));
        assert_eq!(parse_zone_id("intel-rapl"), None);
        assert_eq!(parse_zone_id("intel-rapl:0:1:2"), None);
    }

    #[test]
    fn two_sockets_psys_at_index_1_and_mmio_skipped() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 1000);
        fake.zone("intel-rapl:0:0", "core", 262_143_328_850, 500);
        fake.zone("intel-rapl:0:1", "dram", 65_712_999_613, 200);
        fake.zone("intel-rapl:1", "psys", 262_143_328_850, 3000);
        fake.zone("intel-rapl:2", "package-1", 262_143_328_850, 900);
        fake.zone("intel-rapl:2:0", "core", 262_143_328_850, 400);
        fake.zone("intel-rapl-mmio:0", "package-0", 262_143_328_850, 1000);
        let (zones, skipped) = discover_powercap(fake.root()).unwrap();
        let channels: Vec<&str> = zones.iter().map(|z| z.channel.as_str()).collect();
        assert_eq!(
            channels,
            [
                "package-0",
                "package-0/core",
                "package-0/dram",
                "psys",
                "package-1",
                "package-1/core"
            ]
        );
        assert_eq!(skipped, ["intel-rapl-mmio:0"]);
        assert_eq!(zones[2].max_energy_range_uj, 65_712_999_613);
    }

    #[test]
    fn reads_advance_and_wrap() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1_000_000, 999_000);
        let (zones, skipped) = discover_powercap(fake.root()).unwrap();
        let mut source = RaplSource::open(zones, skipped, 1.0).unwrap();
        let mut readings = Vec::new();
        poll(&mut source, &mut readings);
        fake.set("intel-rapl:0", 999_500);
        poll(&mut source, &mut readings);
        fake.set("intel-rapl:0", 400); // wrapped: 500 to the top (which reads 0), 400 after
        poll(&mut source, &mut readings);
        assert_eq!(
            readings,
            [
                Reading::Value(0.0),
                Reading::Value(500.0),
                Reading::Value(500.0 + 900.0)
            ]
        );
    }

    #[test]
    fn a_vanished_or_garbage_file_is_a_gap_and_reading_resumes() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1_000_000, 100);
        let (zones, skipped) = discover_powercap(fake.root()).unwrap();
        let mut source = RaplSource::open(zones, skipped, 1.0).unwrap();
        let mut readings = Vec::new();
        poll(&mut source, &mut readings);
        fake.write_raw("intel-rapl:0", "garbage\n");
        poll(&mut source, &mut readings);
        fake.set("intel-rapl:0", 300);
        poll(&mut source, &mut readings);
        assert_eq!(readings[0], Reading::Value(0.0));
        assert!(matches!(&readings[1], Reading::Gap(why) if why.contains("unreadable")));
        assert_eq!(readings[2], Reading::Value(200.0));
    }

    #[test]
    fn zero_range_makes_backwards_steps_gaps_and_says_so() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 0, 5000);
        let (zones, skipped) = discover_powercap(fake.root()).unwrap();
        let mut source = RaplSource::open(zones, skipped, 1.0).unwrap();
        assert!(source.notes().iter().any(|n| n.contains("max_energy_range_uj is 0")));
        let mut readings = Vec::new();
        poll(&mut source, &mut readings);
        fake.set("intel-rapl:0", 10);
        poll(&mut source, &mut readings);
        assert!(matches!(readings[1], Reading::Gap(_)));
    }

    #[test]
    fn missing_subzones_are_fine_and_missing_tree_explains_itself() {
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1000, 1);
        let (zones, _) = discover_powercap(fake.root()).unwrap();
        assert_eq!(zones.len(), 1);
        let empty = tempfile::tempdir().unwrap();
        let err = discover_powercap(empty.path()).unwrap_err().to_string();
        assert!(err.contains("powercap") && err.contains("modprobe"), "{err}");
    }

    #[test]
    fn unreadable_energy_file_gives_the_fix() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // root reads files whatever their mode: the permission path cannot be exercised as root.
            let fake = FakePowercap::new();
            fake.zone("intel-rapl:0", "package-0", 1000, 1);
            let err = super::super::io_error(
                Path::new("/x/energy_uj"),
                std::io::Error::from(std::io::ErrorKind::PermissionDenied),
            );
            assert!(
                err.to_string().contains("chmod g+r") && err.to_string().contains("udev"),
                "{err}"
            );
            return;
        }
        let fake = FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 1000, 1);
        fake.make_unreadable("intel-rapl:0");
        let (zones, skipped) = discover_powercap(fake.root()).unwrap();
        let err = RaplSource::open(zones, skipped, 1.0).err().unwrap().to_string();
        assert!(err.contains("permission denied") && err.contains("chmod g+r"), "{err}");
    }
}
