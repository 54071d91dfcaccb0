//! The module's INA3221 rails.
//!
//! - JetPack 4 (iio driver `ina3221x`): `sys/bus/i2c/drivers/ina3221x/<bus>-<addr>/iio:device<N>/` with
//!   `rail_name_K`, `in_voltageK_input` (mV), `in_currentK_input` (mA), `in_powerK_input` (mW), K = 0..2.
//! - JetPack 5 and later (hwmon driver `ina3221`): `sys/bus/i2c/drivers/ina3221/<bus>-<addr>/hwmon/hwmon<N>/`
//!   with `inK_label`, `inK_input` (mV), `currK_input` (mA), K = 1..3; no power file, so power = V x I. `in7`
//!   is a sum of shunt voltages and is skipped.

use super::{Chip, JetsonTree, Rail, RailFiles, read_trimmed, sorted_dirs};
use std::path::{Path, PathBuf};

pub(super) const HWMON_LAYOUT: &str = "hwmon (ina3221, JetPack 5 and later)";
pub(super) const IIO_LAYOUT: &str = "JetPack 4 iio (ina3221x)";

pub(super) fn hwmon_driver(root: &Path) -> PathBuf {
    root.join("sys/bus/i2c/drivers/ina3221")
}

pub(super) fn iio_driver(root: &Path) -> PathBuf {
    root.join("sys/bus/i2c/drivers/ina3221x")
}

fn device_name(device: &Path) -> String {
    device.file_name().unwrap_or_default().to_string_lossy().into_owned()
}

fn add_layout(tree: &mut JetsonTree, layout: &'static str) {
    if !tree.layouts.contains(&layout) {
        tree.layouts.push(layout);
    }
}

/// Appends the INA3221 rails under `root` to `tree` (hwmon first, then JetPack 4 iio).
pub(super) fn discover(root: &Path, tree: &mut JetsonTree) {
    for device in sorted_dirs(&hwmon_driver(root))
        .into_iter()
        .filter(|d| d.join("hwmon").is_dir())
    {
        let device_name = device_name(&device);
        for hwmon in sorted_dirs(&device.join("hwmon")) {
            add_layout(tree, HWMON_LAYOUT);
            let period_ms = chip_settings(&hwmon, &device_name, &mut tree.notes);
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
                    chip: Chip::Ina3221,
                    files: RailFiles::VoltageCurrent(
                        hwmon.join(format!("in{k}_input")),
                        hwmon.join(format!("curr{k}_input")),
                    ),
                    sensor_period_ms: period_ms,
                });
            }
        }
    }
    for device in sorted_dirs(&iio_driver(root)) {
        let device_name = device_name(&device);
        for iio in sorted_dirs(&device).into_iter().filter(|d| {
            d.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("iio:device"))
        }) {
            add_layout(tree, IIO_LAYOUT);
            let period_ms = chip_settings(&iio, &device_name, &mut tree.notes);
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
                    chip: Chip::Ina3221,
                    files: RailFiles::PowerMilliwatt(iio.join(format!("in_power{k}_input"))),
                    sensor_period_ms: period_ms,
                });
            }
        }
    }
}

/// Records `update_interval` (ms) and `samples` (the chip's averaging) in the notes; returns the interval.
fn chip_settings(dir: &Path, device: &str, notes: &mut Vec<String>) -> Option<f64> {
    let mut interval_ms = None;
    for setting in ["update_interval", "samples"] {
        if let Some(value) = read_trimmed(&dir.join(setting)) {
            notes.push(format!("{device}: {setting} = {value}"));
            if setting == "update_interval" {
                interval_ms = value.parse::<f64>().ok();
            }
        }
    }
    interval_ms
}
