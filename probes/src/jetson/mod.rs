//! `jetson`: the power monitors of NVIDIA Jetson boards.
//!
//! - The module's INA3221 rails (`ina3221.rs`): JetPack 4 iio (`ina3221x`) or the hwmon driver `ina3221`
//!   (JetPack 5 and later).
//! - On Jetson Thor, the carrier board's INA238 on the system input (`ina238.rs`): the whole board, module plus
//!   carrier, as channel `VIN`, listed first because it is the total.
//!
//! Rails labelled `NC` are not connected and skipped. A read that fails (ENODATA on AGX Orin with JetPack 6.2,
//! a transient I2C error) is a gap, not a failure.

mod ina238;
mod ina3221;
#[cfg(test)]
mod tests;

pub use ina238::INPUT_CHANNEL;

use crate::counter::{CounterUpdate, WrappingCounter};
use crate::source::{Reading, Source, TimedReading};
use crate::{Discovery, ProbeError};
use harness_data::{ChannelInfo, SampleKind, Unit};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const KIND: &str = "jetson";

/// INA3221 rails that carry the whole module's input power, by board.
const MODULE_INPUT_RAILS: [&str; 2] = ["VDD_IN", "POM_5V_IN"];

/// The largest power a Jetson board can plausibly draw (Thor's module is rated 130 W); a larger step of an
/// energy counter between two reads is a garbage read.
const MAX_PLAUSIBLE_WATTS: f64 = 1_000.0;

/// Which chip a rail is on: it decides what to say when its files cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chip {
    Ina3221,
    Ina238,
}

impl Chip {
    fn permission_fix(self) -> &'static str {
        match self {
            Chip::Ina3221 => {
                "the INA3221 files are normally world-readable: check the permissions of \
                 /sys/bus/i2c/drivers/ina3221*/ or run the harness as root"
            }
            Chip::Ina238 => {
                "the ina238 driver makes its *_input files world-readable (0444): check the permissions under \
                 /sys/bus/i2c/drivers/ina238/*/hwmon/ (a udev rule or a hardened image may have changed them), \
                 or run the harness as root"
            }
        }
    }
}

/// How a rail is read.
#[derive(Debug, Clone, PartialEq)]
pub enum RailFiles {
    /// JetPack 4 INA3221 (iio): a power file in mW.
    PowerMilliwatt(PathBuf),
    /// INA238 `power1_input`: a power file in uW.
    PowerMicrowatt(PathBuf),
    /// Bus voltage (mV) and current (mA) files; power = V x I.
    VoltageCurrent(PathBuf, PathBuf),
    /// `energy1_input` of the INA238 family's energy-counting chips: a cumulative counter in uJ.
    EnergyMicrojoule(PathBuf),
}

/// A rail as discovered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rail {
    pub name: String,
    /// `1-0040`: which monitor it is on.
    pub device: String,
    pub chip: Chip,
    pub files: RailFiles,
    /// How often the chip itself has a new value, in ms, where known.
    pub sensor_period_ms: Option<f64>,
}

/// What discovery found: rails (the system input first), chip settings and the layouts.
#[derive(Debug, Clone, Default)]
pub struct JetsonTree {
    pub rails: Vec<Rail>,
    pub layouts: Vec<&'static str>,
    /// Chip settings, which rail is the total, monitors found but not readable.
    pub notes: Vec<String>,
}

impl JetsonTree {
    fn layout(&self) -> String {
        format!("layout: {}", self.layouts.join(" + "))
    }
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Finds the INA238 system-input monitor and the INA3221 rails under `root`.
pub fn discover_tree(root: &Path) -> Result<JetsonTree, ProbeError> {
    let mut tree = JetsonTree::default();
    let input = ina238::discover(root);
    if !input.rails.is_empty() {
        tree.layouts.push(ina238::LAYOUT);
    }
    tree.rails.extend(input.rails);
    tree.notes.extend(input.notes);
    tree.notes.extend(input.problems.iter().cloned());
    ina3221::discover(root, &mut tree);
    if tree.rails.is_empty() {
        let mut reason = format!(
            "no INA3221 rails under {} or {} and no INA238 under {} (not a Jetson, or the drivers are not bound)",
            ina3221::hwmon_driver(root).display(),
            ina3221::iio_driver(root).display(),
            ina238::driver_dir(root).display(),
        );
        for problem in &input.problems {
            reason += &format!("; {problem}");
        }
        return Err(ProbeError::Unavailable { probe: KIND, reason });
    }
    let note = total_note(&tree.rails);
    tree.notes.push(note);
    Ok(tree)
}

/// Which rail is the total, and what it leaves out.
fn total_note(rails: &[Rail]) -> String {
    if rails.iter().any(|r| r.chip == Chip::Ina238 && r.name == INPUT_CHANNEL) {
        return format!(
            "total input rail: {INPUT_CHANNEL} (INA238 on the system input: module plus carrier board, not the \
             power supply's own loss); the INA3221 rails are parts of it: never add them to it"
        );
    }
    match rails
        .iter()
        .find(|r| r.chip == Chip::Ina3221 && MODULE_INPUT_RAILS.contains(&r.name.as_str()))
    {
        Some(total) => format!(
            "total input rail: {} (module only: the carrier board is not included; use a wall or USB meter for it)",
            total.name
        ),
        None if rails.iter().any(|r| r.name == "VIN_SYS_5V0") => "no total-input rail on this board (AGX Orin): \
             VIN_SYS_5V0 is the carrier's I/O rail, not the module total; sum the rails or use an external meter"
            .into(),
        None => "no total-input rail among these rails".into(),
    }
}

/// What `harness probes` shows: what a run would open, so an unreadable file shows here with its fix.
pub fn discover(root: &Path) -> Discovery {
    match JetsonSource::open(root, 10.0) {
        Ok(source) => Discovery {
            kind: KIND,
            channels: source.channels,
            missing: None,
            notes: source.notes,
        },
        Err(ProbeError::Unavailable { reason, .. }) => Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(reason),
            notes: Vec::new(),
        },
        Err(other) => Discovery {
            kind: KIND,
            channels: Vec::new(),
            missing: Some(other.to_string()),
            notes: Vec::new(),
        },
    }
}

fn channel_info(rail: &Rail, interval_ms: f64) -> ChannelInfo {
    // A chip averaging over its update period repeats values when polled faster.
    let period_ms = rail.sensor_period_ms.unwrap_or(interval_ms).max(interval_ms);
    let (unit, kind, resolution) = match rail.files {
        RailFiles::EnergyMicrojoule(_) => (Unit::Microjoule, SampleKind::EnergyCounter, 1.0),
        // The file's step is 1 uW; the chip's own step depends on its shunt, which sysfs does not show.
        RailFiles::PowerMicrowatt(_) => (Unit::Milliwatt, SampleKind::Power, 1e-3),
        // 1 mV x 1 mA steps on hwmon; 1 mW on the iio power file.
        RailFiles::PowerMilliwatt(_) | RailFiles::VoltageCurrent(..) => (Unit::Milliwatt, SampleKind::Power, 1.0),
    };
    ChannelInfo {
        probe: KIND.into(),
        channel: rail.name.clone(),
        unit,
        kind,
        resolution,
        update_period_ns: (period_ms * 1e6) as u64,
        estimated: false,
        scope: harness_data::Scope::Machine,
    }
}

enum OpenRail {
    /// A power file; its value times `to_milliwatts` is the channel's mW.
    Power {
        file: File,
        path: PathBuf,
        to_milliwatts: f64,
    },
    VoltageCurrent {
        voltage: File,
        current: File,
        path: PathBuf,
    },
    Energy {
        file: File,
        path: PathBuf,
        counter: WrappingCounter,
    },
}

pub struct JetsonSource {
    rails: Vec<OpenRail>,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
}

fn open_file(path: &Path, chip: Chip) -> Result<File, ProbeError> {
    File::open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::PermissionDenied => ProbeError::PermissionDenied {
            probe: KIND,
            path: path.into(),
            fix: chip.permission_fix().into(),
        },
        std::io::ErrorKind::NotFound => ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "{} is gone (the monitor's driver was unbound, or the device removed, since discovery): run \
                 `harness probes` to see what this board has now",
                path.display()
            ),
        },
        _ => ProbeError::Io {
            probe: KIND,
            path: path.into(),
            source,
        },
    })
}

fn read_text<'a>(file: &File, buffer: &'a mut [u8; 32]) -> std::io::Result<&'a str> {
    let n = file.read_at(buffer, 0)?;
    std::str::from_utf8(&buffer[..n]).map(str::trim).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unreadable value {:?}", String::from_utf8_lossy(&buffer[..n])),
        )
    })
}

fn parse<T: std::str::FromStr>(text: &str) -> std::io::Result<T> {
    text.parse()
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("unreadable value {text:?}")))
}

fn read_number(file: &File, buffer: &mut [u8; 32]) -> std::io::Result<f64> {
    parse(read_text(file, buffer)?)
}

impl JetsonSource {
    pub fn open(root: &Path, interval_ms: f64) -> Result<JetsonSource, ProbeError> {
        let tree = discover_tree(root)?;
        // Allow for a poll delayed by up to 100 intervals (a descheduled sampler) before calling a step garbage.
        let max_step_uj = (MAX_PLAUSIBLE_WATTS * interval_ms.max(1.0) * 1e-3 * 100.0 * 1e6) as u64;
        let mut rails = Vec::new();
        for rail in &tree.rails {
            let open = |path: &PathBuf| open_file(path, rail.chip);
            rails.push(match &rail.files {
                RailFiles::PowerMilliwatt(p) => OpenRail::Power {
                    file: open(p)?,
                    path: p.clone(),
                    to_milliwatts: 1.0,
                },
                RailFiles::PowerMicrowatt(p) => OpenRail::Power {
                    file: open(p)?,
                    path: p.clone(),
                    to_milliwatts: 1e-3,
                },
                RailFiles::VoltageCurrent(v, i) => OpenRail::VoltageCurrent {
                    voltage: open(v)?,
                    current: open(i)?,
                    path: v.clone(),
                },
                // The kernel scales a 40-bit register to uJ: where it wraps is not exposed, so a wrap is a gap.
                RailFiles::EnergyMicrojoule(p) => OpenRail::Energy {
                    file: open(p)?,
                    path: p.clone(),
                    counter: WrappingCounter::new(0, max_step_uj),
                },
            });
        }
        let mut notes = vec![tree.layout()];
        notes.extend(tree.notes.iter().cloned());
        Ok(JetsonSource {
            rails,
            channels: tree.rails.iter().map(|r| channel_info(r, interval_ms)).collect(),
            notes,
        })
    }
}

impl Source for JetsonSource {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn channels(&self) -> &[ChannelInfo] {
        &self.channels
    }

    fn poll(&mut self, now_ns: u64, out: &mut Vec<TimedReading>) {
        let mut buffer = [0u8; 32];
        for (channel, rail) in self.rails.iter_mut().enumerate() {
            let reading = match rail {
                OpenRail::Power {
                    file,
                    path,
                    to_milliwatts,
                } => match read_number(file, &mut buffer) {
                    Ok(value) => Reading::Value(value * *to_milliwatts),
                    Err(e) => Reading::Gap(format!("{}: {e}", path.display())),
                },
                OpenRail::VoltageCurrent { voltage, current, path } => {
                    match (read_number(voltage, &mut buffer), read_number(current, &mut buffer)) {
                        // mV x mA = uW; the channel is in mW.
                        (Ok(mv), Ok(ma)) => Reading::Value(mv * ma / 1000.0),
                        (Err(e), _) | (_, Err(e)) => Reading::Gap(format!("{}: {e}", path.display())),
                    }
                }
                OpenRail::Energy { file, path, counter } => match read_text(file, &mut buffer).and_then(parse::<u64>) {
                    Ok(raw) => match counter.update(raw) {
                        CounterUpdate::Total(total) => Reading::Value(total as f64),
                        CounterUpdate::Implausible => Reading::Gap(format!(
                            "{}: the counter stepped back or jumped implausibly, to {raw}",
                            path.display()
                        )),
                    },
                    Err(e) => Reading::Gap(format!("{}: {e}", path.display())),
                },
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
