//! The `usb-meter` probe end to end: `harness measure` reads a UM25C emulator on a pseudo-terminal pair through
//! the real serial code, parser, sampler and attribution.

use crate::common::*;
use harness_data::{EnergyQuality, PairedRecord, RunStatus, SampleKind, SampleRecord};
use harness_probes::usbmeter::emulator::MeterEmulator;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Cold native fibonacci(43): each invocation lasts over a second here (1.3-1.4 s measured), a dozen samples.
fn plan(dir: &Path, port: &Path, repetitions: u32) -> std::path::PathBuf {
    PlanBuilder::new()
        .seed(5)
        .repetitions(repetitions)
        .warmup(0)
        .baseline_ms(400)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("fibonacci", &["43"])
        .probe(um25c_probe(port, None))
        .write(dir, "meter.toml")
}

/// Runs `action` from a thread once the meter has answered `polls` requests (the sampler is running).
fn after_polls(
    meter: &Arc<Mutex<MeterEmulator>>,
    polls: u64,
    action: impl FnOnce(&mut MeterEmulator) + Send + 'static,
) -> std::thread::JoinHandle<bool> {
    let meter = Arc::clone(meter);
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            let mut m = meter.lock().unwrap();
            if m.requests() >= polls {
                action(&mut m);
                return true;
            }
            drop(m);
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    })
}

#[test]
fn a_um25c_on_a_pty_gives_exact_power_and_consistent_paired_energy() {
    let meter = um25c();
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(&plan(dir.path(), meter.path(), 2), &run);
    assert!(output.status.success(), "{}", stderr(&output));

    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    let probe = &manifest.probes[0];
    assert_eq!(probe.kind, "usb-meter");
    assert_eq!(probe.channels[0].channel, "um25c");
    assert_eq!(probe.channels[0].unit, "W");
    assert_eq!(probe.channels[0].update_period_ns, 100_000_000);
    assert!(
        probe.notes.iter().any(|n| n.contains("id 0x09C9 agrees")),
        "{:?}",
        probe.notes
    );
    assert!(
        probe.notes.iter().any(|n| n.contains("round trip over")),
        "{:?}",
        probe.notes
    );
    eprintln!("usb-meter notes: {:#?}", probe.notes);

    let samples: Vec<SampleRecord> = csv_rows(&run.join("samples.csv"));
    let values: Vec<f64> = samples.iter().filter_map(|s| s.value).collect();
    assert!(values.len() >= 20, "{} samples", values.len());
    // Exactly the emulated power field: no rescaling error anywhere between the wire and samples.csv.
    assert!(values.iter().all(|&v| v == UM25C_WATTS), "{values:?}");
    assert!(
        samples
            .iter()
            .all(|s| s.kind != SampleKind::EnergyCounter && s.unit == "W")
    );
    assert!(samples.windows(2).all(|w| w[0].t_ns < w[1].t_ns));

    let paired: Vec<PairedRecord> = csv_rows(&run.join("paired.csv"));
    assert_eq!(paired.len(), 2);
    let ok: Vec<&PairedRecord> = paired.iter().filter(|p| p.quality == EnergyQuality::Ok).collect();
    assert!(!ok.is_empty(), "{paired:?}");
    for p in ok {
        let power = p.power_w.unwrap();
        assert!((power - UM25C_WATTS).abs() < 1e-9, "power {power}");
        let seconds = (p.window_end_ns - p.window_start_ns) as f64 * 1e-9;
        assert!(seconds > 0.3, "a window of {seconds} s");
        // Energy per cold start = window energy / K (a cold window of K = 1 or 2 cold starts of ~1.3 s).
        let window_j = p.gross_j.unwrap() * f64::from(p.count);
        assert!((window_j - UM25C_WATTS * seconds).abs() < 1e-6 * UM25C_WATTS * seconds.max(1.0));
        assert!(p.samples >= 3, "{} samples in the window", p.samples);
        // Idle draws the same: net energy is zero.
        assert!(p.net_j.unwrap().abs() < 1e-6, "net {:?}", p.net_j);
    }
}

#[test]
fn a_corrupt_frame_mid_run_is_a_gap_and_the_run_completes() {
    let meter = Arc::new(Mutex::new(um25c()));
    let port = meter.lock().unwrap().path().to_path_buf();
    let corrupted = after_polls(&meter, 6, |m| m.corrupt_next(2));
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(&plan(dir.path(), &port, 2), &run);
    assert!(corrupted.join().unwrap(), "the sampler never polled 6 times");
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    let samples: Vec<SampleRecord> = csv_rows(&run.join("samples.csv"));
    let gaps = samples.iter().filter(|s| s.kind == SampleKind::Gap).count();
    assert!(gaps >= 2, "{gaps} gaps");
    let first_gap = samples.iter().position(|s| s.kind == SampleKind::Gap).unwrap();
    // Values before and after the gap, all exact.
    assert!(samples[..first_gap].iter().any(|s| s.value == Some(UM25C_WATTS)));
    assert!(samples[first_gap..].iter().any(|s| s.value == Some(UM25C_WATTS)));
    assert!(samples.iter().filter_map(|s| s.value).all(|v| v == UM25C_WATTS));
    let notes = &manifest.probes[0].notes;
    assert!(notes.iter().any(|n| n.contains("bad end marker")), "{notes:?}");
    assert!(!csv_rows::<PairedRecord>(&run.join("paired.csv")).is_empty());
}

#[test]
fn a_port_that_vanishes_mid_run_leaves_gaps_and_the_run_completes() {
    let dir = tempfile::tempdir().unwrap();
    // The plan names a link, as /dev/serial/by-id names are; unplugging removes it.
    let link = dir.path().join("meter");
    let meter = um25c();
    std::os::unix::fs::symlink(meter.path(), &link).unwrap();
    let meter = Arc::new(Mutex::new(meter));
    let unplugged = after_polls(&meter, 8, {
        let link = link.clone();
        move |m| {
            // The link goes first, as udev removes it on unplug, so a reopen never reaches a reused pty number.
            std::fs::remove_file(&link).unwrap();
            m.vanish();
        }
    });
    let run = dir.path().join("run");
    let output = measure(&plan(dir.path(), &link, 2), &run);
    assert!(unplugged.join().unwrap(), "the sampler never polled 8 times");
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    let samples: Vec<SampleRecord> = csv_rows(&run.join("samples.csv"));
    let first_gap = samples
        .iter()
        .position(|s| s.kind == SampleKind::Gap)
        .expect("gaps after the port vanished");
    assert!(first_gap >= 6, "values came first: {first_gap}");
    assert!(samples[first_gap..].iter().all(|s| s.kind == SampleKind::Gap));
    let rows = rows(&run);
    assert!(
        samples.len() - first_gap >= 5,
        "the sampler kept polling: {} samples, first gap at {first_gap} ({} ns), invocations {:?}, notes {:?}",
        samples.len(),
        samples[first_gap].t_ns,
        rows.iter().map(|r| (r.start_ns, r.end_ns)).collect::<Vec<_>>(),
        manifest.probes[0].notes
    );
    let notes = &manifest.probes[0].notes;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("first gap:") && n.contains("port error")),
        "the hang-up is seen as a port error: {notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.contains("1 port errors (reopened 0 times)")),
        "later polls try to reopen the vanished port: {notes:?}"
    );
    let paired: Vec<PairedRecord> = csv_rows(&run.join("paired.csv"));
    assert!(paired.iter().any(|p| p.quality != EnergyQuality::Ok), "{paired:?}");
}

#[test]
fn a_missing_meter_port_fails_the_run_before_any_workload_and_probes_lists_usb_meter() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let output = measure(&plan(dir.path(), Path::new("/dev/ttyUSB-none-here"), 1), &run);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("/dev/ttyUSB-none-here") && err.contains("ls /dev/ttyUSB*") && err.contains("rfcomm bind"),
        "{err}"
    );
    assert!(!run.join("invocations.csv").exists());

    let empty = tempfile::tempdir().unwrap();
    let output = harness()
        .args(["probes", "--sysfs-root"])
        .arg(empty.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        text.contains("usb-meter: not available") && text.contains("port ="),
        "{text}"
    );
}
