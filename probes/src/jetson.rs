//! `jetson`: the INA3221 power monitors of NVIDIA Jetson boards.
//!
//! - JetPack 4 (iio driver `ina3221x`): `sys/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device<N>/` with
//!   `rail_name_K`, `in_voltageK_input` (mV), `in_currentK_input` (mA), `in_powerK_input` (mW), K = 0..2.
//! - JetPack 5/6 (hwmon driver `ina3221`): `sys/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon<N>/` with
//!   `inK_label`, `inK_input` (mV), `currK_input` (mA), K = 1..3; no power file, so power = V x I. `in7` is a sum
//!   of shunt voltages and is skipped.
//!
//! Rails labelled `NC` are not connected and skipped. A read that fails (ENODATA on AGX Orin with JetPack 6.2,
//! a transient I2C error) is a gap, not a failure.

use crate::source::{Reading, Source, TimedReading};
use crate::{Discovery, ProbeError};
use harness_data::{ChannelInfo, SampleKind};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

pub const KIND: &str = "jetson";

/// Rails that carry the whole module's input power, by board.
const TOTAL_INPUT_RAILS: [&str; 2] = ["VDD_IN", "POM_5V_IN"];

/// How a rail's power is read.
#[derive(Debug, Clone, PartialEq)]
pub enum RailFiles {
    /// JetPack 4: a power file in mW.
    Power(PathBuf),
    /// JetPack 5/6: bus voltage (mV) and current (mA) files; power = V x I.
    VoltageCurrent(PathBuf, PathBuf),
}

/// A rail as discovered.
#[derive(Debug, Clone, PartialEq)]
pub struct Rail {
    pub name: String,
    /// `6-0040`: which monitor it is on.
    pub device: String,
    pub files: RailFiles,
}

/// What discovery found: rails, chip settings and the layout.
#[derive(Debug, Clone, Default)]
pub struct JetsonTree {
    pub rails: Vec<Rail>,
    pub layout: &'static str,
    /// `update_interval` (ms) and `samples` of each monitor, where readable.
    pub notes: Vec<String>,
    /// The smallest `update_interval` seen, in ms.
    pub update_interval_ms: Option<f64>,
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

/// Finds INA3221 rails under `root` (JetPack 5/6 hwmon first, then JetPack 4 iio).
pub fn discover_tree(root: &Path) -> Result<JetsonTree, ProbeError> {
    let mut tree = JetsonTree::default();
    let hwmon_driver = root.join("sys/bus/i2c/drivers/ina3221");
    for device in sorted_dirs(&hwmon_driver)
        .into_iter()
        .filter(|d| d.join("hwmon").is_dir())
    {
        let device_name = device.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for hwmon in sorted_dirs(&device.join("hwmon")) {
            tree.layout = "JetPack 5/6 hwmon (ina3221)";
            chip_settings(&hwmon, &device_name, &mut tree);
            for k in 1..=3 {
                let Some(label) = read_trimmed(&hwmon.join(format!("in{k}_label"))) else {
                    continue;
                };
                if label == "NC" {
                    continue;
                }
                tree.rails.push(Rail {
                    name: label,
                    device: device_name.clone(),
                    files: RailFiles::VoltageCurrent(
                        hwmon.join(format!("in{k}_input")),
                        hwmon.join(format!("curr{k}_input")),
                    ),
                });
            }
        }
    }
    let iio_driver = root.join("sys/bus/i2c/drivers/ina3221x");
    for device in sorted_dirs(&iio_driver) {
        let device_name = device.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for iio in sorted_dirs(&device).into_iter().filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("iio:device"))
        }) {
            tree.layout = "JetPack 4 iio (ina3221x)";
            chip_settings(&iio, &device_name, &mut tree);
            for k in 0..=2 {
                let Some(label) = read_trimmed(&iio.join(format!("rail_name_{k}"))) else {
                    continue;
                };
                if label == "NC" {
                    continue;
                }
                tree.rails.push(Rail {
                    name: label,
                    device: device_name.clone(),
                    files: RailFiles::Power(iio.join(format!("in_power{k}_input"))),
                });
            }
        }
    }
    if tree.rails.is_empty() {
        return Err(ProbeError::Unavailable {
            probe: KIND,
            reason: format!(
                "no INA3221 rails under {} or {} (not a Jetson, or the ina3221 driver is not bound)",
                hwmon_driver.display(),
                iio_driver.display()
            ),
        });
    }
    match tree.rails.iter().find(|r| TOTAL_INPUT_RAILS.contains(&r.name.as_str())) {
        Some(total) => tree.notes.push(format!("total input rail: {} (module only: the carrier board is not included; use a wall or USB meter for it)", total.name)),
        None if tree.rails.iter().any(|r| r.name == "VIN_SYS_5V0") => tree.notes.push(
            "no total-input rail on this board (AGX Orin): VIN_SYS_5V0 is the carrier's I/O rail, not the module total; sum the rails or use an external meter".into(),
        ),
        None => tree.notes.push("no total-input rail among these rails".into()),
    }
    Ok(tree)
}

fn chip_settings(dir: &Path, device: &str, tree: &mut JetsonTree) {
    for setting in ["update_interval", "samples"] {
        if let Some(value) = read_trimmed(&dir.join(setting)) {
            tree.notes.push(format!("{device}: {setting} = {value}"));
            if setting == "update_interval"
                && let Ok(ms) = value.parse::<f64>()
            {
                tree.update_interval_ms = Some(tree.update_interval_ms.map_or(ms, |m: f64| m.min(ms)));
            }
        }
    }
}

/// What `harness probes` shows.
pub fn discover(root: &Path) -> Discovery {
    match discover_tree(root) {
        Ok(tree) => {
            let channels = channel_infos(&tree, 10.0);
            let mut notes = vec![format!("layout: {}", tree.layout)];
            notes.extend(tree.notes);
            Discovery {
                kind: KIND,
                channels,
                missing: None,
                notes,
            }
        }
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

fn channel_infos(tree: &JetsonTree, interval_ms: f64) -> Vec<ChannelInfo> {
    // The chip averages over `samples` conversions every `update_interval`; polling faster repeats values.
    let period_ms = tree.update_interval_ms.unwrap_or(interval_ms).max(interval_ms);
    tree.rails
        .iter()
        .map(|r| ChannelInfo {
            probe: KIND.into(),
            channel: r.name.clone(),
            unit: harness_data::Unit::Milliwatt,
            kind: SampleKind::Power,
            // 1 mV x 1 mA steps on hwmon; 1 mW on the iio power file.
            resolution: 1.0,
            update_period_ns: (period_ms * 1e6) as u64,
            estimated: false,
            scope: "machine".into(),
        })
        .collect()
}

enum OpenRail {
    Power(File, PathBuf),
    VoltageCurrent(File, File, PathBuf),
}

pub struct JetsonSource {
    rails: Vec<OpenRail>,
    channels: Vec<ChannelInfo>,
    notes: Vec<String>,
}

fn open_file(path: &Path) -> Result<File, ProbeError> {
    File::open(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::PermissionDenied {
            ProbeError::PermissionDenied {
                probe: KIND,
                path: path.into(),
                fix: "the INA3221 files are normally world-readable: check the permissions of /sys/bus/i2c/drivers/ina3221*/ or run the harness as root".into(),
            }
        } else {
            ProbeError::Io { probe: KIND, path: path.into(), source }
        }
    })
}

fn read_number(file: &File, buffer: &mut [u8; 32]) -> std::io::Result<f64> {
    let n = file.read_at(buffer, 0)?;
    std::str::from_utf8(&buffer[..n])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("unreadable value {:?}", String::from_utf8_lossy(&buffer[..n])),
            )
        })
}

impl JetsonSource {
    pub fn open(root: &Path, interval_ms: f64) -> Result<JetsonSource, ProbeError> {
        let tree = discover_tree(root)?;
        let mut rails = Vec::new();
        for rail in &tree.rails {
            rails.push(match &rail.files {
                RailFiles::Power(p) => OpenRail::Power(open_file(p)?, p.clone()),
                RailFiles::VoltageCurrent(v, i) => OpenRail::VoltageCurrent(open_file(v)?, open_file(i)?, v.clone()),
            });
        }
        let mut notes = vec![format!("layout: {}", tree.layout)];
        notes.extend(tree.notes.iter().cloned());
        Ok(JetsonSource {
            rails,
            channels: channel_infos(&tree, interval_ms),
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
        for (channel, rail) in self.rails.iter().enumerate() {
            let reading = match rail {
                OpenRail::Power(file, path) => match read_number(file, &mut buffer) {
                    Ok(mw) => Reading::Value(mw),
                    Err(e) => Reading::Gap(format!("{}: {e}", path.display())),
                },
                OpenRail::VoltageCurrent(v, i, path) => {
                    match (read_number(v, &mut buffer), read_number(i, &mut buffer)) {
                        // mV x mA = uW; the channel is in mW.
                        (Ok(mv), Ok(ma)) => Reading::Value(mv * ma / 1000.0),
                        (Err(e), _) | (_, Err(e)) => Reading::Gap(format!("{}: {e}", path.display())),
                    }
                }
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
    use crate::testing::FakeJetson;

    #[test]
    fn jetpack5_hwmon_rails_power_is_v_times_i_and_nc_is_skipped() {
        let fake = FakeJetson::orin_nx();
        let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
        let names: Vec<&str> = source.channels().iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]);
        assert!(
            source
                .channels()
                .iter()
                .all(|c| c.unit == "mW" && c.kind == SampleKind::Power)
        );
        assert_eq!(source.channels()[0].update_period_ns, 10_000_000);
        let mut out = Vec::new();
        source.poll(7, &mut out);
        // VDD_IN: 5080 mV x 1234 mA = 6268.72 mW.
        assert_eq!(
            out[0],
            TimedReading {
                channel: 0,
                t_ns: 7,
                reading: Reading::Value(5080.0 * 1234.0 / 1000.0)
            }
        );
        assert!(source.notes().iter().any(|n| n.contains("total input rail: VDD_IN")));
        assert!(source.notes().iter().any(|n| n.contains("update_interval = 1")));
        assert!(source.notes().iter().any(|n| n.contains("samples = 4")));
    }

    #[test]
    fn jetpack4_iio_rails_read_the_power_file() {
        let fake = FakeJetson::nano_jetpack4();
        let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
        let names: Vec<&str> = source.channels().iter().map(|c| c.channel.as_str()).collect();
        assert_eq!(names, ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
        let mut out = Vec::new();
        source.poll(1, &mut out);
        assert_eq!(out[0].reading, Reading::Value(3200.0));
        assert!(source.notes().iter().any(|n| n.contains("JetPack 4")));
    }

    #[test]
    fn agx_orin_states_that_there_is_no_total_rail() {
        let fake = FakeJetson::agx_orin();
        let tree = discover_tree(fake.root()).unwrap();
        let names: Vec<&str> = tree.rails.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]);
        assert!(
            tree.notes
                .iter()
                .any(|n| n.contains("no total-input rail") && n.contains("AGX Orin"))
        );
    }

    #[test]
    fn enodata_and_garbage_are_gaps_and_reading_resumes() {
        let fake = FakeJetson::orin_nx();
        let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
        fake.write("1-0040", 1, "curr", "");
        let mut out = Vec::new();
        source.poll(1, &mut out);
        assert!(matches!(&out[0].reading, Reading::Gap(why) if why.contains("unreadable")));
        assert_eq!(
            out[1].reading,
            Reading::Value(5080.0 * 500.0 / 1000.0),
            "other rails still read"
        );
        fake.write("1-0040", 1, "curr", "1000\n");
        out.clear();
        source.poll(2, &mut out);
        assert_eq!(out[0].reading, Reading::Value(5080.0));
    }

    #[test]
    fn no_jetson_explains_itself() {
        let empty = tempfile::tempdir().unwrap();
        let found = discover(empty.path());
        assert!(found.missing.unwrap().contains("not a Jetson"));
    }
}
