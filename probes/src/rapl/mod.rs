//! `rapl`: Intel and AMD RAPL energy counters, through powercap (`/sys/class/powercap/intel-rapl:*`), or the
//! `power` perf PMU where powercap is not readable.
//!
//! Zones are identified by their `name` file, never by index (`psys` can sit at `intel-rapl:1`, a second socket
//! at `intel-rapl:2`); the `intel-rapl-mmio` zones duplicate the package zone and are skipped so nothing is
//! counted twice.

mod perf;
mod powercap;

pub use perf::{PerfEvent, discover_perf};
pub use powercap::{PowercapZone, RaplSource, discover_powercap};

use crate::{Discovery, ProbeError, Source};
use std::path::Path;

pub const KIND: &str = "rapl";

/// How the energy files can be made readable, for error messages (root-only since the CVE-2020-8694 fix).
pub const PERMISSION_FIX: &str = "energy_uj is readable by root only since Linux 5.10 (CVE-2020-8694 fix). Either run the harness as root, or grant a group read access: `sudo groupadd -f powercap && sudo chgrp powercap /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj && sudo chmod g+r /sys/class/powercap/intel-rapl:*/energy_uj /sys/class/powercap/intel-rapl:*:*/energy_uj` and add yourself to `powercap`; make it permanent with a udev rule (`SUBSYSTEM==\"powercap\", ACTION==\"add\", RUN+=\"/bin/chgrp -R powercap /sys%p\", RUN+=\"/bin/chmod -R g+r /sys%p\"`) or a systemd-tmpfiles line (`z /sys/class/powercap/intel-rapl:*/energy_uj 0440 root powercap`)";

/// Options of the `rapl` probe.
#[derive(Debug, Clone)]
pub struct RaplOptions {
    /// `/` on a real machine; a fake tree in tests.
    pub sysfs_root: std::path::PathBuf,
    pub interval_ms: f64,
}

/// The reason alone, without the `rapl: not available:` prefix the error's Display adds.
fn reason(error: &ProbeError) -> String {
    match error {
        ProbeError::Unavailable { reason, .. } => reason.clone(),
        other => other.to_string(),
    }
}

/// Why RAPL cannot exist on a CPU of architecture `arch` (`std::env::consts::ARCH` spelling), or `None` on x86.
/// Said before any file is looked at, so an Arm board is told "x86-only", not "permission denied" or "no powercap".
pub fn not_on_arch(arch: &str) -> Option<String> {
    if matches!(arch, "x86_64" | "x86") {
        return None;
    }
    Some(format!(
        "RAPL is x86-only (Intel and AMD) and this harness runs on {arch}: on a Jetson use the `jetson` probe, on a \
         Raspberry Pi a USB meter (`usb-meter`), otherwise the `model` (ESTIMATED)"
    ))
}

/// What RAPL this machine offers, without opening anything for reading.
pub fn discover(root: &Path) -> Discovery {
    discover_on(root, std::env::consts::ARCH)
}

/// [`discover`] as it would answer on a CPU of architecture `arch` (tests give another one).
pub fn discover_on(root: &Path, arch: &str) -> Discovery {
    let mut notes = Vec::new();
    if let Some(why) = not_on_arch(arch) {
        return Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(why),
            notes,
        };
    }
    let powercap_problem = match discover_powercap(root) {
        Ok((zones, skipped)) => {
            notes.extend(
                skipped
                    .into_iter()
                    .map(|z| format!("skipped {z}: it duplicates the package zone")),
            );
            match zones.iter().find_map(|z| z.check_readable().err()) {
                None => {
                    notes.push("interface: powercap".into());
                    let channels = zones.iter().map(|z| z.channel_info(1.0)).collect();
                    return Discovery {
                        kind: KIND,
                        channels,
                        missing: None,
                        notes,
                    };
                }
                Some(problem) => reason(&problem),
            }
        }
        Err(problem) => reason(&problem),
    };
    match discover_perf(root) {
        Ok(events) if !events.is_empty() => {
            notes.push(format!("interface: perf_event (powercap unusable: {powercap_problem})"));
            let channels = events.iter().map(|e| e.channel_info(1.0)).collect();
            Discovery {
                kind: KIND,
                channels,
                missing: None,
                notes,
            }
        }
        _ => Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(powercap_problem),
            notes,
        },
    }
}

/// Opens RAPL: powercap when every zone is readable, else the perf PMU, else the powercap error (which says
/// how to grant access). A source whose counters all read 0 and stay there is refused: some hypervisors
/// expose the PMU or the zones without passing the energy MSRs through (seen on a GPU cloud VM, 2026-11-23).
pub fn open(options: &RaplOptions) -> Result<Box<dyn Source>, ProbeError> {
    if let Some(reason) = not_on_arch(std::env::consts::ARCH) {
        return Err(ProbeError::Unavailable { probe: KIND, reason });
    }
    let mut source = open_unchecked(options)?;
    let mut first = Vec::new();
    source.poll(0, &mut first);
    std::thread::sleep(std::time::Duration::from_millis(30));
    let mut second = Vec::new();
    source.poll(1, &mut second);
    let raw_zero = |r: &crate::TimedReading| r.reading == crate::Reading::Value(0.0);
    // The first poll of a powercap counter is its origin (0 by construction), so look at the second.
    if !second.is_empty() && second.iter().all(raw_zero) && first.iter().all(raw_zero) {
        return Err(ProbeError::Unavailable {
            probe: KIND,
            reason: "the RAPL counters read 0 and did not move in 30 ms: this machine (typically a VM) exposes RAPL without passing the energy counters through".into(),
        });
    }
    Ok(source)
}

fn open_unchecked(options: &RaplOptions) -> Result<Box<dyn Source>, ProbeError> {
    let root = &options.sysfs_root;
    let powercap_error = match discover_powercap(root)
        .and_then(|(zones, skipped)| RaplSource::open(zones, skipped, options.interval_ms))
    {
        Ok(mut source) => {
            match energy_unit(root) {
                Some(unit) => source.set_energy_unit(unit),
                None => source.set_energy_unit(EnergyUnit {
                    uj: 1.0,
                    from: "unknown: /dev/cpu/0/msr is not readable (`modprobe msr` as root), so 1 uJ is declared",
                }),
            }
            return Ok(Box::new(source));
        }
        Err(e) => e,
    };
    if let Ok(events) = discover_perf(root)
        && !events.is_empty()
        && let Ok(source) = perf::PerfSource::open(events, &powercap_error)
    {
        return Ok(Box::new(source));
    }
    Err(powercap_error)
}

/// The hardware's RAPL energy unit: the step the counter moves in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnergyUnit {
    pub uj: f64,
    pub from: &'static str,
}

/// Reads the energy status unit from the power-unit MSR (Intel 0x606, AMD 0xC0010299: bits 12:8, the unit is
/// 1/2^ESU J: 61 uJ on most Intel client parts, 15.3 uJ on AMD Zen). `None` when the MSR device is not
/// readable (it needs root and the `msr` module) or the vendor is neither.
pub fn energy_unit(root: &Path) -> Option<EnergyUnit> {
    use std::os::unix::fs::FileExt;
    let cpuinfo = std::fs::read_to_string(root.join("proc/cpuinfo")).ok()?;
    let (offset, from) = if cpuinfo.contains("GenuineIntel") {
        (0x606u64, "MSR_RAPL_POWER_UNIT")
    } else if cpuinfo.contains("AuthenticAMD") || cpuinfo.contains("HygonGenuine") {
        (0xC001_0299u64, "MSR_AMD_RAPL_POWER_UNIT")
    } else {
        return None;
    };
    let msr = std::fs::File::open(root.join("dev/cpu/0/msr")).ok()?;
    let mut bytes = [0u8; 8];
    msr.read_exact_at(&mut bytes, offset).ok()?;
    let esu = (u64::from_le_bytes(bytes) >> 8) & 0x1f;
    Some(EnergyUnit {
        uj: 1e6 / (1u64 << esu) as f64,
        from,
    })
}

/// Reads a small sysfs text file.
pub(crate) fn read_text(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| io_error(path, source))
}

pub(crate) fn io_error(path: &Path, source: std::io::Error) -> ProbeError {
    if source.kind() == std::io::ErrorKind::PermissionDenied {
        ProbeError::PermissionDenied {
            probe: KIND,
            path: path.into(),
            fix: PERMISSION_FIX.into(),
        }
    } else {
        ProbeError::Io {
            probe: KIND,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod unit_tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn machine(vendor: &str, offset: u64, esu: u64) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        std::fs::write(root.path().join("proc/cpuinfo"), format!("vendor_id\t: {vendor}\n")).unwrap();
        std::fs::create_dir_all(root.path().join("dev/cpu/0")).unwrap();
        // A sparse file standing in for the MSR device: the power-unit register at its address.
        let msr = std::fs::File::create(root.path().join("dev/cpu/0/msr")).unwrap();
        let value: u64 = 0x000A_0003 | (esu << 8);
        msr.write_all_at(&value.to_le_bytes(), offset).unwrap();
        root
    }

    #[test]
    fn the_energy_unit_comes_from_the_power_unit_msr() {
        let intel = machine("GenuineIntel", 0x606, 14);
        let unit = energy_unit(intel.path()).unwrap();
        assert!((unit.uj - 61.035).abs() < 0.001, "{unit:?}");
        let amd = machine("AuthenticAMD", 0xC001_0299, 16);
        assert!((energy_unit(amd.path()).unwrap().uj - 15.259).abs() < 0.001);
        let unreadable = tempfile::tempdir().unwrap();
        assert_eq!(energy_unit(unreadable.path()), None);
    }

    #[test]
    fn on_arm_rapl_is_said_to_be_x86_only_even_with_a_readable_powercap_tree() {
        let fake = crate::testing::FakePowercap::new();
        fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 1_000);
        let x86 = discover_on(fake.root(), "x86_64");
        assert_eq!(x86.missing, None, "{x86:?}");
        assert_eq!(x86.channels.len(), 1);
        for arch in ["aarch64", "arm", "riscv64"] {
            let arm = discover_on(fake.root(), arch);
            let why = arm.missing.expect("not on x86: missing");
            assert!(why.starts_with("RAPL is x86-only") && why.contains(arch), "{why}");
            assert!(why.contains("`jetson`") && !why.contains("permission"), "{why}");
            assert!(arm.channels.is_empty());
        }
        assert_eq!(not_on_arch("x86"), None);
    }
}
