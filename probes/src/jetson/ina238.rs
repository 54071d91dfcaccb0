//! The INA238 of Jetson Thor's carrier board, on the system input: the whole board, module plus carrier.
//!
//! Mainline hwmon driver `ina238` (kernel `Documentation/hwmon/ina238.rst`), one hwmon device per monitor:
//! `sys/bus/i2c/drivers/ina238/<bus>-<addr>/hwmon/hwmon<N>/` with `name` (the chip: `ina238`; the same driver
//! binds `ina228`, `ina237`, `ina780` and `sq52206`), `in1_input` bus voltage (mV), `curr1_input` (mA),
//! `power1_input` (uW), and `energy1_input` (uJ) on the chips that count energy (INA228, INA780, SQ52206: not
//! the INA238 itself). `in0_input` is the shunt voltage, never a rail. The driver gives no channel labels; a
//! device-tree `label` appears as the hwmon device's `label` file.
//!
//! Read, best first: `energy1_input` as a cumulative counter (nothing between two polls is lost), else
//! `power1_input`, else `in1_input` x `curr1_input`.

use super::{Chip, Rail, RailFiles, read_trimmed, sorted_dirs};
use std::path::{Path, PathBuf};

pub(super) const LAYOUT: &str = "hwmon (ina238, system input)";

/// The name of the system-input channel when the device tree gives the monitor no label.
pub const INPUT_CHANNEL: &str = "VIN";

/// The driver programs ADC_CONFIG = 0xfb6a: bus, shunt and temperature each converted in 1052 us, averaged over
/// 16, so the chip has a new value about every 16 x 3 x 1.052 ms. The driver exposes no `update_interval`.
const DEFAULT_PERIOD_MS: f64 = 50.5;

pub(super) fn driver_dir(root: &Path) -> PathBuf {
    root.join("sys/bus/i2c/drivers/ina238")
}

/// What discovery found of the INA238 monitors.
#[derive(Debug, Default)]
pub(super) struct Found {
    pub rails: Vec<Rail>,
    pub notes: Vec<String>,
    /// Monitors that are there but cannot be read as a rail, each with what to do.
    pub problems: Vec<String>,
}

/// The INA238 monitors under `root`, found under the driver's device directories (the `hwmon<N>` number is
/// assigned at boot), never by number.
pub(super) fn discover(root: &Path) -> Found {
    let mut monitors = Vec::new();
    for device in sorted_dirs(&driver_dir(root)) {
        let device_name = device.file_name().unwrap_or_default().to_string_lossy().into_owned();
        for hwmon in sorted_dirs(&device.join("hwmon")) {
            monitors.push((device_name.clone(), hwmon));
        }
    }
    let unlabelled = monitors.iter().filter(|(_, h)| label(h).is_none()).count();
    let mut found = Found::default();
    for (device, hwmon) in monitors {
        let chip = read_trimmed(&hwmon.join("name")).unwrap_or_else(|| "ina238".into());
        let name = match label(&hwmon) {
            Some(label) => label,
            None if unlabelled == 1 => INPUT_CHANNEL.into(),
            // Several unlabelled monitors: which one is the system input is not known, so none is called VIN.
            None => format!("{chip}-{device}"),
        };
        let energy = hwmon.join("energy1_input");
        let power = hwmon.join("power1_input");
        let (voltage, current) = (hwmon.join("in1_input"), hwmon.join("curr1_input"));
        // `exists` only needs the directory to be searchable: an unreadable file is found here and its
        // permission problem reported, with the fix, when it is opened.
        let (files, read) = if energy.exists() {
            (RailFiles::EnergyMicrojoule(energy), "energy1_input (uJ, cumulative)")
        } else if power.exists() {
            (RailFiles::PowerMicrowatt(power), "power1_input (uW)")
        } else if voltage.exists() && current.exists() {
            (
                RailFiles::VoltageCurrent(voltage, current),
                "in1_input (mV) x curr1_input (mA): no power1_input",
            )
        } else {
            found.problems.push(format!(
                "{device} ({chip}): none of energy1_input, power1_input or in1_input + curr1_input in {}, so the \
                 system input is not read: check that the mainline ina238 driver is bound (`cat {}/name`, \
                 `dmesg | grep ina238`), or use an external meter for whole-board energy",
                hwmon.display(),
                hwmon.display()
            ));
            continue;
        };
        let period_ms = match read_trimmed(&hwmon.join("update_interval")).and_then(|v| v.parse::<f64>().ok()) {
            Some(ms) => {
                found.notes.push(format!("{device}: update_interval = {ms}"));
                ms
            }
            None => DEFAULT_PERIOD_MS,
        };
        found.notes.push(format!(
            "{name}: {chip} at {device}, reads {read}; a new value about every {period_ms} ms"
        ));
        found.rails.push(Rail {
            name,
            device,
            chip: Chip::Ina238,
            files,
            sensor_period_ms: Some(period_ms),
        });
    }
    if found.rails.len() > 1 && unlabelled > 1 {
        found.notes.push(format!(
            "{unlabelled} unlabelled INA238 monitors: which one is the system input is not known, so none is \
             named {INPUT_CHANNEL}"
        ));
    }
    found
}

/// The hwmon device's `label` (from the device tree), or a channel label should a vendor driver add one.
fn label(hwmon: &Path) -> Option<String> {
    ["label", "power1_label", "in1_label"]
        .iter()
        .find_map(|f| read_trimmed(&hwmon.join(f)))
        .filter(|l| !l.is_empty())
}
