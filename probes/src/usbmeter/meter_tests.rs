//! The source against the emulator on a real pseudo-terminal pair: the parsing, stamping, resync and reopen
//! code paths that a real meter exercises.

use super::*;
use crate::usbmeter::emulator::MeterEmulator;
use crate::usbmeter::rdtech_um::UmFields;
use crate::usbmeter::tc66c::Tc66Fields;
use crate::usbmeter::{UsbMeterOptions, open};

const UM25C_FIELDS: UmFields = UmFields {
    voltage: 5120,
    current: 9876,
    power_mw: 5057,
};

fn options(model: &str, port: &Path, timeout_ms: f64) -> UsbMeterOptions {
    let mut options = UsbMeterOptions::new(model, port).unwrap();
    options.timeout_ms = timeout_ms;
    options
}

fn poll(source: &mut UsbMeterSource) -> TimedReading {
    let mut out = Vec::new();
    source.poll(monotonic_ns(), &mut out);
    assert_eq!(out.len(), 1);
    out.pop().unwrap()
}

fn value(r: &TimedReading) -> f64 {
    match &r.reading {
        Reading::Value(v) => *v,
        Reading::Gap(why) => panic!("gap: {why}"),
    }
}

fn gap(r: &TimedReading) -> String {
    match &r.reading {
        Reading::Gap(why) => why.clone(),
        Reading::Value(v) => panic!("expected a gap, got {v}"),
    }
}

fn um25c() -> MeterEmulator {
    let meter = MeterEmulator::start(Model::Um(UmModel::Um25c)).unwrap();
    meter.set_um_fields(UM25C_FIELDS);
    meter
}

#[test]
fn um25c_power_is_exact_and_stamped_at_the_midpoint_of_request_and_answer() {
    let meter = um25c();
    meter.set_delay(Duration::from_millis(40));
    let mut source = UsbMeterSource::open(&options("um25c", meter.path(), 2000.0)).unwrap();
    assert_eq!(source.model(), Model::Um(UmModel::Um25c));
    assert_eq!(source.channels()[0].unit, "W");
    assert_eq!(source.channels()[0].channel, "um25c");
    assert_eq!(source.channels()[0].resolution, 0.001);
    for _ in 0..3 {
        let before = monotonic_ns();
        let r = poll(&mut source);
        let after = monotonic_ns();
        assert_eq!(value(&r), 5.057);
        // The answer came at least 40 ms after the request: the midpoint is at least 20 ms after it.
        assert!(
            r.t_ns >= before + 20_000_000 && r.t_ns <= after,
            "{before} {} {after}",
            r.t_ns
        );
    }
    let trips = source.round_trips_ns();
    assert_eq!(trips.len(), 3);
    assert!(trips.iter().all(|&t| t >= 40_000_000), "{trips:?}");
    let notes = source.notes();
    assert!(
        notes.iter().any(|n| n.contains("round trip over 3 answers")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("frame's id 0x09C9 agrees")),
        "{notes:?}"
    );
}

#[test]
fn auto_detects_every_um_model_by_its_id_and_the_tc66c_by_getva() {
    for model in UmModel::ALL {
        let meter = MeterEmulator::start(Model::Um(model)).unwrap();
        meter.set_um_fields(UmFields {
            voltage: 500,
            current: 200,
            power_mw: 1000,
        });
        let mut source = UsbMeterSource::open(&options("auto", meter.path(), 2000.0)).unwrap();
        assert_eq!(source.model(), Model::Um(model));
        assert_eq!(value(&poll(&mut source)), 1.0);
        assert!(source.notes()[0].contains("auto: id"), "{:?}", source.notes());
    }
    // The TC66C ignores 0xF0: auto falls back to `getva` after the UM tries time out.
    let meter = MeterEmulator::start(Model::Tc66c).unwrap();
    meter.set_tc66c_fields(Tc66Fields {
        voltage: 51_200,
        current: 98_760,
        power: 50_565,
    });
    let mut source = UsbMeterSource::open(&options("auto", meter.path(), 300.0)).unwrap();
    assert_eq!(source.model(), Model::Tc66c);
    assert_eq!(source.channels()[0].resolution, 0.0001);
    assert_eq!(value(&poll(&mut source)), 5.0565);
}

#[test]
fn a_named_model_that_disagrees_with_the_meter_is_refused() {
    let meter = MeterEmulator::start(Model::Um(UmModel::Um24c)).unwrap();
    let err = open(&options("um25c", meter.path(), 2000.0)).err().unwrap().to_string();
    assert!(err.contains("UM24C") && err.contains("model = \"um24c\""), "{err}");
}

#[test]
fn a_meter_that_never_answers_fails_the_open_with_what_to_check() {
    let meter = um25c();
    meter.set_stalled(true);
    let err = open(&options("um25c", meter.path(), 100.0)).err().unwrap().to_string();
    assert!(err.contains("no valid answer") && err.contains("stalled"), "{err}");
    assert!(meter.requests() >= 3);
    let err = open(&options("auto", meter.path(), 100.0)).err().unwrap().to_string();
    assert!(err.contains("getva") && err.contains("0xF0"), "{err}");
}

#[test]
fn corrupt_short_and_stalled_answers_are_gaps_and_the_next_poll_recovers() {
    let meter = um25c();
    let mut source = UsbMeterSource::open(&options("um25c", meter.path(), 300.0)).unwrap();
    meter.corrupt_next(1);
    assert!(gap(&poll(&mut source)).contains("bad end marker 0xFF0E"));
    assert_eq!(value(&poll(&mut source)), 5.057);
    meter.short_next(1);
    assert!(gap(&poll(&mut source)).contains("short read: 65 of 130 bytes"));
    assert_eq!(value(&poll(&mut source)), 5.057);
    meter.set_stalled(true);
    assert!(gap(&poll(&mut source)).contains("no answer (stalled meter?)"));
    meter.set_stalled(false);
    assert_eq!(value(&poll(&mut source)), 5.057);
    // Stray bytes (including a false id) before a good frame: found by scanning for the id.
    meter.garbage_before_next(&[0x00, 0x09, 0xC9, 0x13]);
    assert_eq!(value(&poll(&mut source)), 5.057);
    let notes = source.notes().join("\n");
    assert!(
        notes.contains("1 bad or short answers, 2 timeouts, 0 port errors")
            && notes.contains("1 answers found after stray"),
        "{notes}"
    );
}

#[test]
fn a_vanished_port_is_a_gap_and_is_reopened_when_it_comes_back() {
    let dir = tempfile::tempdir().unwrap();
    // A stable name, as udev's /dev/serial/by-id links are: the pty behind it changes.
    let link = dir.path().join("meter");
    let mut first = um25c();
    std::os::unix::fs::symlink(first.path(), &link).unwrap();
    let mut source = UsbMeterSource::open(&options("um25c", &link, 1000.0)).unwrap();
    assert_eq!(value(&poll(&mut source)), 5.057);
    first.vanish();
    std::fs::remove_file(&link).unwrap();
    assert!(gap(&poll(&mut source)).contains("port error"));
    assert!(gap(&poll(&mut source)).contains("is gone"));
    let second = MeterEmulator::start(Model::Um(UmModel::Um25c)).unwrap();
    second.set_um_fields(UmFields {
        voltage: 12_000,
        current: 5_000,
        power_mw: 6_000,
    });
    std::os::unix::fs::symlink(second.path(), &link).unwrap();
    assert_eq!(value(&poll(&mut source)), 6.0);
    let notes = source.notes().join("\n");
    assert!(notes.contains("1 port errors (reopened 1 times)"), "{notes}");
}

#[test]
fn tc66c_answers_decrypt_and_a_bad_crc_is_a_gap() {
    let meter = MeterEmulator::start(Model::Tc66c).unwrap();
    meter.set_tc66c_fields(Tc66Fields {
        voltage: 51_200,
        current: 98_760,
        power: 50_565,
    });
    let mut source = UsbMeterSource::open(&options("tc66c", meter.path(), 1000.0)).unwrap();
    assert_eq!(
        source.notes()[0],
        "model tc66c (from the plan; the answer decrypted with valid CRCs)"
    );
    assert_eq!(value(&poll(&mut source)), 5.0565);
    meter.corrupt_next(1);
    // A corrupt answer is not recognised as a frame; the reader waits out its timeout for a valid one.
    assert!(gap(&poll(&mut source)).contains("bad CRC in block 1"));
    assert_eq!(value(&poll(&mut source)), 5.0565);
}
