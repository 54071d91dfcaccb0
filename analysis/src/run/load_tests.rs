//! Damaged `load.csv` files refused with their line (issue 21, item 14).

use super::*;
use harness_data::files;

fn level(level: f64) -> LoadRecord {
    LoadRecord {
        workload: "noop".into(),
        input: "0".into(),
        runtime: "native".into(),
        kind: LoadKind::Clients,
        level,
        instances: 1,
        sequence: 0,
        partial: false,
        window_start_ns: 100,
        window_end_ns: 200,
        duration_ns: 100,
        offered_rps: None,
        achieved_rps: 10.0,
        sent: 1,
        completed: 1,
        failed: 0,
        timed_out: 0,
        p50_ns: Some(1),
        p90_ns: Some(1),
        p99_ns: Some(1),
        p999_ns: Some(1),
        mean_ns: Some(1.0),
        send_lag_p50_ns: Some(0),
        send_lag_p99_ns: Some(0),
        harness_cpu_cores: None,
        cpu_util: None,
        serving_cpu_cores: None,
        memory_bytes: None,
        memory_source: "pss".into(),
        memory_per_instance_bytes: None,
        idle_start_ns: None,
        idle_end_ns: None,
        energy_channel: String::new(),
        energy_j: None,
        energy_per_request_j: None,
        idle_pool_w: None,
        estimated: None,
        unseen: false,
        saturated: None,
    }
}

/// `rows` written as `load.csv` in a new folder; returns the folder and the file.
fn written(rows: &[LoadRecord]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(files::LOAD);
    let mut writer = csv::Writer::from_path(&path).unwrap();
    for row in rows {
        writer.serialize(row).unwrap();
    }
    writer.flush().unwrap();
    (dir, path)
}

fn refusal(rows: &[LoadRecord]) -> String {
    let (_dir, path) = written(rows);
    read_load_rows(&path).unwrap_err().to_string()
}

#[test]
fn sound_levels_read_back() {
    let (_dir, path) = written(&[level(1.0), level(2.0)]);
    assert_eq!(read_load_rows(&path).unwrap().len(), 2);
}

#[test]
fn a_repeated_level_is_refused_naming_both_lines() {
    let msg = refusal(&[level(1.0), level(2.0), level(1.0)]);
    assert!(msg.contains("load.csv:4:") && msg.contains("line 2"), "{msg}");
}

#[test]
fn a_zero_or_fractional_level_and_a_negative_rate_are_refused_at_their_line() {
    let msg = refusal(&[level(1.0), level(0.0)]);
    assert!(msg.contains("load.csv:3:") && msg.contains("column level"), "{msg}");
    assert!(refusal(&[level(1.5)]).contains("column level"));
    let mut negative = level(1.0);
    negative.achieved_rps = -3.0;
    let msg = refusal(&[negative]);
    assert!(msg.contains("load.csv:2:") && msg.contains("achieved_rps"), "{msg}");
    let mut rate = level(5.5);
    rate.kind = LoadKind::Rate;
    rate.offered_rps = Some(5.5);
    let (_dir, path) = written(&[rate]);
    assert!(read_load_rows(&path).is_ok(), "a rate may be fractional");
}

#[test]
fn a_missing_load_csv_of_a_plan_with_levels_is_a_note() {
    let dir = tempfile::tempdir().unwrap();
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
    std::fs::copy(reference.join(files::INVOCATIONS), dir.path().join(files::INVOCATIONS)).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference.join(files::MANIFEST)).unwrap()).unwrap();
    let plain = serde_json::to_vec(&manifest).unwrap();
    std::fs::write(dir.path().join(files::MANIFEST), &plain).unwrap();
    assert!(
        super::super::read_run(dir.path()).unwrap().notes.is_empty(),
        "no levels planned, no note"
    );
    manifest["plan"]["load"] = serde_json::json!({
        "clients": [1], "duration_ms": 500, "warmup_ms": 0, "instances": 1, "idle_ms": 0
    });
    std::fs::write(dir.path().join(files::MANIFEST), serde_json::to_vec(&manifest).unwrap()).unwrap();
    let run = super::super::read_run(dir.path()).unwrap();
    assert!(
        run.notes
            .iter()
            .any(|n| n.contains("load.csv is missing") && n.contains("complete")),
        "{:?}",
        run.notes
    );
}
