//! A run directory of load levels only (no invocations.csv), on disk: energy attributed from its samples,
//! loaded, reported and exported like any run.

use crate::common::load_level;
use harness_analysis::export::{load_export_rows, load_to_csv};
use harness_analysis::pair::levels::{attribute_load_energy, write_load_csv};
use harness_analysis::report::{ReportOptions, build_report, write_report};
use harness_analysis::run::read_run;
use harness_data::*;
use std::path::Path;

const MS: u64 = 1_000_000;

/// Levels of native, wasmi and container (which the probe cannot see), each with the power the machine drew
/// while serving it: native clients 1, 2 and rate 100, wasmi the same, container clients 2, one burst each.
fn levels() -> Vec<(LoadRecord, f64)> {
    let mut start_s = 2;
    let mut out = Vec::new();
    let mut add = |runtime: &str, kind: LoadKind, level: f64, completed: u64, p50_ms: f64, watts: f64| {
        out.push((load_level(runtime, kind, level, start_s, completed, p50_ms), watts));
        start_s += 2;
    };
    add("native", LoadKind::Clients, 1.0, 120, 4.0, 20.0);
    add("native", LoadKind::Clients, 2.0, 200, 5.0, 30.0);
    add("native", LoadKind::Rate, 100.0, 100, 4.5, 25.0);
    add("native", LoadKind::Burst, 8.0, 8, 9.0, 18.0);
    add("wasmi", LoadKind::Clients, 1.0, 40, 25.0, 35.0);
    add("wasmi", LoadKind::Clients, 2.0, 100, 40.0, 50.0);
    add("wasmi", LoadKind::Rate, 100.0, 70, 400.0, 60.0);
    add("wasmi", LoadKind::Burst, 8.0, 8, 30.0, 22.0);
    add("container", LoadKind::Clients, 2.0, 150, 7.0, 11.0);
    out
}

/// Watts at `ms`: 10 W idle, 12 W with a warm pool up, the level's own draw inside its window.
fn watts(levels: &[(LoadRecord, f64)], ms: u64) -> f64 {
    let t = ms * MS;
    for (l, w) in levels {
        if (l.window_start_ns..l.window_end_ns).contains(&t) {
            return *w;
        }
        if l.idle_start_ns
            .zip(l.idle_end_ns)
            .is_some_and(|(a, b)| (a..b).contains(&t))
        {
            return 12.0;
        }
    }
    10.0
}

fn manifest(end_ms: u64) -> Manifest {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
    let mut m: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    m.plan.modes = Vec::new();
    m.plan.repetitions = 0;
    m.scheduled_invocations = 0;
    m.recorded_invocations = 0;
    m.probes = vec![ProbeManifest {
        name: "rapl".into(),
        kind: "rapl".into(),
        options: serde_json::Value::Null,
        channels: vec![ChannelInfo {
            probe: "rapl".into(),
            channel: "package-0".into(),
            unit: Unit::Microjoule,
            kind: SampleKind::EnergyCounter,
            resolution: 61.0,
            update_period_ns: MS,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }],
        baselines: Default::default(),
        delay_ns: None,
        notes: Vec::new(),
        unseen: vec!["container".into()],
    }];
    m.baseline_before_ns = Some([100 * MS, 900 * MS]);
    m.baseline_after_ns = Some([(end_ms - 900) * MS, (end_ms - 100) * MS]);
    m
}

/// Writes the run directory: manifest.json, load.csv (energy columns empty, as the harness writes them) and a
/// 1 kHz RAPL counter in samples.csv. No invocations.csv.
fn write_run(dir: &Path) -> Manifest {
    let levels = levels();
    let end_ms = levels.last().unwrap().0.window_end_ns / MS + 2000;
    let manifest = manifest(end_ms);
    std::fs::write(dir.join(files::MANIFEST), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let rows: Vec<LoadRecord> = levels.iter().map(|(l, _)| l.clone()).collect();
    write_load_csv(&dir.join(files::LOAD), &rows).unwrap();
    let mut samples = csv::Writer::from_path(dir.join(files::SAMPLES)).unwrap();
    let mut energy_uj = 0.0;
    for ms in 0..=end_ms {
        samples
            .serialize(SampleRecord {
                probe: "rapl".into(),
                channel: "package-0".into(),
                t_ns: ms * MS,
                value: Some(energy_uj),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
            })
            .unwrap();
        energy_uj += watts(&levels, ms) * 1000.0;
    }
    samples.flush().unwrap();
    manifest
}

fn options() -> ReportOptions {
    ReportOptions {
        baseline: "native".into(),
        resamples: 200,
        ..ReportOptions::default()
    }
}

#[test]
fn a_run_of_load_levels_only_is_attributed_loaded_reported_and_exported() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_run(dir.path());
    assert_eq!(attribute_load_energy(dir.path(), &manifest).unwrap(), levels().len());
    let run = read_run(dir.path()).unwrap();
    assert!(run.invocations.is_empty());
    let native_2 = run
        .load
        .iter()
        .find(|l| l.runtime == "native" && l.kind == LoadKind::Clients && l.level == 2.0)
        .unwrap();
    // 30 W for 1 s over a 10 W baseline, 200 requests: 0.1 J each; the pool idled at 12 W.
    assert!(
        (native_2.energy_per_request_j.unwrap() - 0.1).abs() < 1e-6,
        "{native_2:?}"
    );
    assert!((native_2.idle_pool_w.unwrap() - 2.0).abs() < 1e-6, "{native_2:?}");
    assert_eq!(native_2.energy_channel, "rapl/package-0");

    let report = build_report(std::slice::from_ref(&run), &options()).unwrap();
    assert!(report.groups.is_empty() && report.comparisons.is_empty());
    let section = &report.load[0];
    assert_eq!((section.workload.as_str(), section.levels.len()), ("fibonacci", 9));
    // Warm pools only in the density table: native and wasmi at 1, 2 and 8 instances, container at 2.
    let pools: Vec<(&str, u32)> = section
        .density
        .iter()
        .map(|d| (d.runtime.as_str(), d.instances))
        .collect();
    assert_eq!(
        pools,
        [
            ("container", 2),
            ("native", 1),
            ("native", 2),
            ("native", 8),
            ("wasmi", 1),
            ("wasmi", 2),
            ("wasmi", 8)
        ]
    );
    let container_pool = &section.density[0];
    assert_eq!(
        container_pool.idle_pool_w, None,
        "unseen: no idle power for the container"
    );
    assert_eq!(container_pool.memory_per_instance_bytes, Some(2.5e6));
    // wasmi against native at clients 2: 40 / 5 ms at p50, (40 W - 10 W) / 100 vs (30 W - 10 W) / 200.
    let wasmi_2 = section
        .comparisons
        .iter()
        .find(|c| c.runtime == "wasmi" && c.kind == LoadKind::Clients && c.level == 2.0)
        .unwrap();
    assert!((wasmi_2.p50_ratio.unwrap() - 8.0).abs() < 1e-9);
    assert!((wasmi_2.achieved_rps_ratio.unwrap() - 0.5).abs() < 1e-9);
    assert!(
        (wasmi_2.energy_per_request_ratio.unwrap() - 4.0).abs() < 1e-6,
        "{wasmi_2:?}"
    );
    let container = section.comparisons.iter().find(|c| c.runtime == "container").unwrap();
    assert_eq!(
        container.energy_per_request_ratio, None,
        "unseen energy is never compared"
    );
    assert!(container.p50_ratio.is_some());
    assert!(
        section
            .notes
            .iter()
            .any(|n| n.contains("container") && n.contains("unseen"))
    );
    assert!(section.notes.iter().any(|n| n.contains("single observation")));
    assert_eq!(
        section.figures,
        ["load-latency-fibonacci-25", "load-energy-fibonacci-25"]
    );

    let out = dir.path().join("report");
    write_report(&report, &out).unwrap();
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for heading in [
        "## Under load: fibonacci 25",
        "### Levels",
        "### Scale from zero (burst)",
        "### Memory density",
        "### Against native at matched load",
        "![Latency against throughput: fibonacci 25](load-latency-fibonacci-25.svg)",
    ] {
        assert!(md.contains(heading), "{heading} missing from:\n{md}");
    }
    assert!(md.contains("left out (unseen)"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<figure class=\"plot\" id=\"load-energy-fibonacci-25\">"));
    let svg = std::fs::read_to_string(out.join("load-latency-fibonacci-25.svg")).unwrap();
    assert!(svg.contains("wasmi clients") && svg.contains("native rate"), "legend");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["load"][0]["levels"].as_array().unwrap().len(), 9);
    assert_eq!(json["load"][0]["levels"][0]["run"], run.name);

    let csv = String::from_utf8(load_to_csv(&load_export_rows(&run, Some("lab")))).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("device,run,workload,input,runtime,kind,level,")
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first.len(), 2 + LoadRecord::COLUMNS.len());
    assert_eq!(&first[..3], ["lab", run.name.as_str(), "fibonacci"]);
}

#[test]
fn without_a_baseline_runtime_among_the_levels_the_report_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_run(dir.path());
    attribute_load_energy(dir.path(), &manifest).unwrap();
    let run = read_run(dir.path()).unwrap();
    let missing = ReportOptions {
        baseline: "wasmtime-aot".into(),
        ..options()
    };
    let error = build_report(std::slice::from_ref(&run), &missing)
        .unwrap_err()
        .to_string();
    assert!(error.contains("container, native, wasmi"), "{error}");
}
