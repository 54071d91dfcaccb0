//! Tests of `levels.rs`: synthetic power and counter traces with known windows.

use super::*;
use harness_data::{LoadKind, ProbeManifest, SampleKind, Unit};
use std::collections::BTreeMap;

const MS: u64 = 1_000_000;

/// Watts at `ms`: 10 W idle host, 14 W with the warm pool up (500-1000 ms), 40 W serving (1000-2000 ms),
/// 10 W again until 3000 ms. Baselines are measured over 50-450 ms and 2550-2950 ms.
fn watts(ms: u64) -> f64 {
    match ms {
        500..1000 => 14.0,
        1000..2000 => 40.0,
        _ => 10.0,
    }
}

fn channel(probe: &str, name: &str, kind: SampleKind, unit: Unit, scope: &str) -> ChannelInfo {
    ChannelInfo {
        probe: probe.into(),
        channel: name.into(),
        unit,
        kind,
        resolution: if kind == SampleKind::EnergyCounter { 61.0 } else { 0.0 },
        update_period_ns: MS,
        estimated: probe == "model",
        scope: scope.parse().unwrap(),
    }
}

/// The profile as power readings (W) every millisecond, stamped `delay_ms` late.
fn power_trace(probe: &str, name: &str, delay_ms: u64) -> Vec<SampleRecord> {
    (0..=3000)
        .map(|ms| SampleRecord {
            probe: probe.into(),
            channel: name.into(),
            t_ns: (ms + delay_ms) * MS,
            value: Some(watts(ms)),
            unit: Unit::Watt,
            kind: SampleKind::Power,
        })
        .collect()
}

/// The profile as a cumulative counter in uJ, every millisecond.
fn counter_trace(probe: &str, name: &str) -> Vec<SampleRecord> {
    let mut energy_uj = 0.0;
    (0..=3000)
        .map(|ms| {
            let row = SampleRecord {
                probe: probe.into(),
                channel: name.into(),
                t_ns: ms * MS,
                value: Some(energy_uj),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
            };
            // Power over [ms, ms + 1) is watts(ms): 1 ms at P watts is 1000 P uJ.
            energy_uj += watts(ms) * 1000.0;
            row
        })
        .collect()
}

fn probe(name: &str, kind: &str, channels: Vec<ChannelInfo>, unseen: &[&str]) -> ProbeManifest {
    ProbeManifest {
        name: name.into(),
        kind: kind.into(),
        options: serde_json::Value::Null,
        channels,
        baselines: BTreeMap::new(),
        delay_ns: None,
        notes: Vec::new(),
        unseen: unseen.iter().map(|r| r.to_string()).collect(),
    }
}

fn manifest(probes: Vec<ProbeManifest>) -> Manifest {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    manifest.probes = probes;
    manifest.baseline_before_ns = Some([50 * MS, 450 * MS]);
    manifest.baseline_after_ns = Some([2550 * MS, 2950 * MS]);
    manifest
}

fn rapl_manifest(unseen: &[&str]) -> Manifest {
    let package = channel(
        "rapl",
        "package-0",
        SampleKind::EnergyCounter,
        Unit::Microjoule,
        "machine",
    );
    manifest(vec![probe("rapl", "rapl", vec![package], unseen)])
}

/// A closed-loop level of `runtime` measured over 1100-1900 ms after an idle span over 600-900 ms.
fn level(runtime: &str, completed: u64) -> LoadRecord {
    LoadRecord {
        workload: "fibonacci".into(),
        input: "25".into(),
        runtime: runtime.into(),
        kind: LoadKind::Clients,
        level: 4.0,
        instances: 4,
        sequence: 0,
        partial: false,
        window_start_ns: 1100 * MS,
        window_end_ns: 1900 * MS,
        duration_ns: 800 * MS,
        offered_rps: None,
        achieved_rps: completed as f64 / 0.8,
        sent: completed,
        completed,
        failed: 0,
        timed_out: 0,
        p50_ns: Some(MS),
        p90_ns: Some(2 * MS),
        p99_ns: Some(3 * MS),
        p999_ns: Some(4 * MS),
        mean_ns: Some(1.2e6),
        send_lag_p50_ns: Some(0),
        send_lag_p99_ns: Some(0),
        harness_cpu_cores: Some(0.1),
        cpu_util: Some(0.5),
        serving_cpu_cores: Some(0.9),
        memory_bytes: Some(64 << 20),
        memory_source: "pss".into(),
        memory_per_instance_bytes: Some(4e6),
        idle_start_ns: Some(600 * MS),
        idle_end_ns: Some(900 * MS),
        energy_channel: String::new(),
        energy_j: None,
        energy_per_request_j: None,
        idle_pool_w: None,
        estimated: None,
        unseen: false,
        saturated: None,
    }
}

fn close(actual: Option<f64>, expected: f64) -> bool {
    actual.is_some_and(|a| (a - expected).abs() < 1e-6)
}

#[test]
fn a_counter_gives_net_window_energy_per_request_and_idle_pool_power() {
    let mut rows = vec![level("wasmi", 100), level("wasmi", 0)];
    let used = attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &rapl_manifest(&[]), &[]);
    assert_eq!(used.as_deref(), Some("rapl/package-0"));
    let row = &rows[0];
    // 40 W over 0.8 s is 32 J gross; the 10 W baseline over 0.8 s is 8 J.
    assert!(close(row.energy_j, 24.0), "{row:?}");
    assert!(close(row.energy_per_request_j, 0.24), "{row:?}");
    // 14 W with the pool up, 10 W without.
    assert!(close(row.idle_pool_w, 4.0), "{row:?}");
    assert_eq!(
        (row.energy_channel.as_str(), row.estimated, row.unseen),
        ("rapl/package-0", Some(false), false)
    );
    // Nothing completed: energy, but no energy per request.
    assert!(close(rows[1].energy_j, 24.0));
    assert_eq!(rows[1].energy_per_request_j, None);
}

#[test]
fn a_power_trace_is_integrated_and_a_probe_delay_applied() {
    let model = channel("model", "cpu-estimate", SampleKind::Power, Unit::Watt, "machine");
    let mut delayed = probe("model", "model", vec![model], &[]);
    // 300 ms late: uncorrected, the window would catch 200 ms of the idle pool.
    delayed.delay_ns = Some(300 * MS as i64);
    let manifest = manifest(vec![delayed]);
    let mut rows = vec![level("native", 50)];
    attribute_load_rows(&mut rows, &power_trace("model", "cpu-estimate", 300), &manifest, &[]);
    assert!(close(rows[0].energy_j, 24.0), "{:?}", rows[0]);
    assert!(close(rows[0].energy_per_request_j, 24.0 / 50.0));
    assert!(close(rows[0].idle_pool_w, 4.0));
    assert_eq!(rows[0].estimated, Some(true), "a model's energy is estimated");
}

#[test]
fn the_baseline_is_what_pairing_subtracts_and_none_leaves_net_energy_unknown() {
    // Only the idle span before the run: still 10 W.
    let mut before_only = rapl_manifest(&[]);
    before_only.baseline_after_ns = None;
    let mut rows = vec![level("wasmi", 100)];
    attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &before_only, &[]);
    assert!(close(rows[0].energy_j, 24.0));
    // A baseline taken over the busy window itself would leave nothing: the subtraction is the run's own.
    let mut over_window = rapl_manifest(&[]);
    over_window.baseline_before_ns = Some([1100 * MS, 1900 * MS]);
    over_window.baseline_after_ns = None;
    attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &over_window, &[]);
    assert!(close(rows[0].energy_j, 0.0), "{:?}", rows[0]);
    assert!(close(rows[0].idle_pool_w, 14.0 - 40.0));
    // No baseline at all: gross energy is known, net is not, and no number is made up.
    let mut none = rapl_manifest(&[]);
    none.baseline_before_ns = None;
    none.baseline_after_ns = None;
    attribute_load_rows(&mut rows, &counter_trace("rapl", "package-0"), &none, &[]);
    assert_eq!(
        (rows[0].energy_j, rows[0].energy_per_request_j, rows[0].idle_pool_w),
        (None, None, None)
    );
    assert_eq!(rows[0].energy_channel, "rapl/package-0");
}

#[test]
fn without_samples_the_energy_columns_are_cleared() {
    let mut rows = vec![LoadRecord {
        energy_channel: "stale/channel".into(),
        energy_j: Some(1.0),
        energy_per_request_j: Some(0.1),
        idle_pool_w: Some(2.0),
        estimated: Some(false),
        unseen: true,
        ..level("wasmi", 10)
    }];
    assert_eq!(
        attribute_load_rows(&mut rows, &[], &rapl_manifest(&["wasmi"]), &[]),
        None
    );
    let r = &rows[0];
    assert_eq!(
        (
            r.energy_channel.as_str(),
            r.energy_j,
            r.energy_per_request_j,
            r.idle_pool_w,
            r.estimated,
            r.unseen
        ),
        ("", None, None, None, None, false)
    );
}

#[test]
fn runtimes_the_probe_cannot_see_are_flagged_unseen() {
    let mut rows = vec![level("container", 100), level("wasmi", 100)];
    attribute_load_rows(
        &mut rows,
        &counter_trace("rapl", "package-0"),
        &rapl_manifest(&["container"]),
        &[],
    );
    assert_eq!((rows[0].unseen, rows[1].unseen), (true, false));
    // The energy is still written; the report leaves unseen rows out of its figures.
    assert!(close(rows[0].energy_j, 24.0));
}

#[test]
fn the_channel_is_the_whole_machine_psys_first_and_never_a_part() {
    let counter = |name: &str| channel("rapl", name, SampleKind::EnergyCounter, Unit::Microjoule, "machine");
    let rapl = probe(
        "rapl",
        "rapl",
        vec![counter("package-0/core"), counter("package-0"), counter("psys")],
        &[],
    );
    let gpu = probe(
        "nvml",
        "nvml",
        vec![channel("nvml", "gpu0", SampleKind::Power, Unit::Watt, "gpu")],
        &[],
    );
    let m = manifest(vec![gpu, rapl]);
    let mut samples = counter_trace("rapl", "package-0/core");
    samples.extend(counter_trace("rapl", "package-0"));
    samples.extend(power_trace("nvml", "gpu0", 0));
    // psys declared but silent: the package it is.
    assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "package-0");
    samples.extend(counter_trace("rapl", "psys"));
    assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "psys");
    // A harness-scoped model is a last resort, behind any machine-wide channel of a later probe.
    let harness = channel("model", "cpu-estimate", SampleKind::Power, Unit::Watt, "harness");
    let m = manifest(vec![
        probe("model", "model", vec![harness], &[]),
        probe(
            "jetson",
            "jetson",
            vec![
                channel(
                    "jetson",
                    "VDD_CPU_GPU_CV",
                    SampleKind::Power,
                    Unit::Milliwatt,
                    "machine",
                ),
                channel("jetson", "VDD_IN", SampleKind::Power, Unit::Milliwatt, "machine"),
            ],
            &[],
        ),
    ]);
    let mut samples = power_trace("model", "cpu-estimate", 0);
    samples.extend(power_trace("jetson", "VDD_CPU_GPU_CV", 0));
    assert_eq!(
        choose_channel(&samples, &m, &[]).unwrap().channel,
        "cpu-estimate",
        "a Jetson sub-rail never"
    );
    samples.extend(power_trace("jetson", "VDD_IN", 0));
    assert_eq!(choose_channel(&samples, &m, &[]).unwrap().channel, "VDD_IN");
}

#[test]
fn the_file_is_rewritten_in_place_with_rows_and_order_kept() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(),
        0,
        "no load.csv"
    );
    let path = dir.path().join(files::LOAD);
    let rows = vec![
        LoadRecord {
            sequence: 1,
            ..level("wasmi", 100)
        },
        LoadRecord {
            sequence: 0,
            ..level("native", 40)
        },
    ];
    write_load_csv(&path, &rows).unwrap();
    // No samples.csv: the rows stay, without energy.
    assert_eq!(attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(), 2);
    assert_eq!(read_load_csv(dir.path()).unwrap(), rows);
    let mut writer = csv::Writer::from_path(dir.path().join(files::SAMPLES)).unwrap();
    for s in counter_trace("rapl", "package-0") {
        writer.serialize(s).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(attribute_load_energy(dir.path(), &rapl_manifest(&[])).unwrap(), 2);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().next().unwrap(), LoadRecord::COLUMNS.join(","));
    let back = read_load_csv(dir.path()).unwrap();
    assert_eq!(
        back.iter().map(|r| r.runtime.as_str()).collect::<Vec<_>>(),
        ["wasmi", "native"]
    );
    assert!(close(back[1].energy_per_request_j, 24.0 / 40.0), "{:?}", back[1]);
    // `harness pair` on a run of load levels only (no invocations.csv): no paired rows, the levels again.
    let pairing = crate::pair::pair_run(dir.path(), &rapl_manifest(&[]), None).unwrap();
    assert_eq!((pairing.rows, pairing.load.rows, pairing.load.with_energy), (0, 2, 2));
    assert_eq!(pairing.load.channel.as_deref(), Some("rapl/package-0"));
    let paired = std::fs::read_to_string(dir.path().join(files::PAIRED)).unwrap();
    assert_eq!(paired.trim_end(), harness_data::PairedRecord::COLUMNS.join(","));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
