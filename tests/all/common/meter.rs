//! A UM25C USB power meter emulated on a pseudo-terminal pair, and the probe that reads it through the real
//! serial code.

use super::Probe;
use harness_data::{EnergyQuality, PairedRecord};
use harness_probes::usbmeter::emulator::MeterEmulator;
use harness_probes::usbmeter::rdtech_um::UmFields;
use harness_probes::usbmeter::{Model, UmModel};
use std::path::Path;

/// 5.120 V x 0.9876 A on a UM25C (1 mV, 0.1 mA steps); its power field says 5.057 W.
const UM25C_FIELDS: UmFields = UmFields {
    voltage: 5120,
    current: 9876,
    power_mw: 5057,
};

/// The power [`UM25C_FIELDS`] say, W.
pub const UM25C_WATTS: f64 = 5.057;

/// A UM25C emulator showing [`UM25C_FIELDS`].
pub fn um25c() -> MeterEmulator {
    let meter = MeterEmulator::start(Model::Um(UmModel::Um25c)).expect("pty pair");
    meter.set_um_fields(UM25C_FIELDS);
    meter
}

/// The `usb-meter` probe of a UM25C on `port`, polled every `interval_ms` (`None`: the probe's default).
pub fn um25c_probe(port: &Path, interval_ms: Option<i64>) -> Probe {
    let probe = Probe::new("usb-meter").set("model", "um25c").path("port", port);
    match interval_ms {
        Some(ms) => probe.set("interval_ms", ms),
        None => probe,
    }
    .set("timeout_ms", 1000)
}

/// A window read on a UM25C showing [`UM25C_FIELDS`] holds the meter's constant power over the window, shared
/// evenly by the `count` invocations in it: each gets exactly `UM25C_WATTS x window / count`.
pub fn assert_um25c_window_split(p: &PairedRecord) {
    assert_eq!(p.quality, EnergyQuality::Ok, "{p:?}");
    let per_invocation = UM25C_WATTS * (p.window_end_ns - p.window_start_ns) as f64 * 1e-9 / f64::from(p.count);
    assert!(
        (p.gross_j.unwrap() - per_invocation).abs() < 1e-6 * per_invocation.max(1.0),
        "{p:?}"
    );
}
