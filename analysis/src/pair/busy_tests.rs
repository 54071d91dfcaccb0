//! The two rules of [`super::busy`] on a synthetic counter: foreign load in an idle span, and spans before and
//! after the run that differ beyond their noise.

use super::*;
use harness_data::{IdleLoad, Mode, ProbeManifest, SampleKind, Scope, Unit};

/// A counter sampled every millisecond for 2 s, at `before_w` until 1 s and `after_w` from then.
fn samples(before_w: f64, after_w: f64) -> Vec<SampleRecord> {
    let mut joules = 0.0;
    (0..=2000u64)
        .map(|ms| {
            if ms > 0 {
                joules += if ms <= 1000 { before_w } else { after_w } * 1e-3;
            }
            SampleRecord {
                probe: "p".into(),
                channel: "c".into(),
                t_ns: ms * 1_000_000,
                value: Some(joules * 1e6),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
            }
        })
        .collect()
}

fn manifest(scope: Scope, load_before: Option<f64>) -> Manifest {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    manifest.probes = vec![ProbeManifest {
        name: "p".into(),
        kind: "rapl".into(),
        options: serde_json::Value::Null,
        channels: vec![ChannelInfo {
            probe: "p".into(),
            channel: "c".into(),
            unit: Unit::Microjoule,
            kind: SampleKind::EnergyCounter,
            resolution: 1.0,
            update_period_ns: 1_000_000,
            estimated: false,
            scope,
        }],
        baselines: BTreeMap::new(),
        delay_ns: None,
        notes: Vec::new(),
        unseen: Vec::new(),
    }];
    // Idle before (0-400 ms) and after (1600-2000 ms); the invocation sits between.
    manifest.baseline_before_ns = Some([0, 400_000_000]);
    manifest.baseline_after_ns = Some([1_600_000_000, 2_000_000_000]);
    manifest.baseline_load_before = load_before.map(|foreign| IdleLoad {
        machine_cores: foreign + 0.01,
        harness_cores: 0.01,
        foreign_cores: foreign,
        source: "/proc/stat".into(),
    });
    manifest.baseline_load_after = None;
    manifest
}

fn invocation() -> InvocationRecord {
    let row = "fibonacci,25,wasmi,cold,0,false,0,,900000000,1100000000,200000000,,,,,,,0,0,ok,,";
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(row.as_bytes());
    let mut r: InvocationRecord = reader.deserialize().next().unwrap().unwrap();
    r.mode = Mode::Cold;
    r
}

fn row(samples: &[SampleRecord], manifest: &Manifest) -> (PairedRecord, Baseline) {
    let (rows, pairing) = pair(samples, &[invocation()], manifest, &[]);
    let baseline = pairing.baselines[&("p".to_string(), "c".to_string())].clone();
    (rows.into_iter().next().unwrap(), baseline)
}

#[test]
fn a_baseline_taken_beside_foreign_load_flags_net_energy_and_keeps_gross() {
    // Clean: 0.1 cores of background work.
    let (clean, baseline) = row(&samples(20.0, 20.0), &manifest(Scope::Machine, Some(0.1)));
    assert_eq!((clean.flag, baseline.busy_baseline.as_deref()), (None, None));
    assert!(baseline.before_se_w.unwrap() < 1e-6, "{baseline:?}");
    assert!(crate::net::net_usable(&clean).is_some());
    // Another process kept 1.8 cores busy during the span before: flagged, net left out, gross kept.
    let busy_manifest = manifest(Scope::Machine, Some(1.8));
    let (busy, baseline) = row(&samples(20.0, 20.0), &busy_manifest);
    assert_eq!(busy.flag, Some(EnergyFlag::BusyBaseline));
    let why = baseline.busy_baseline.unwrap();
    assert!(why.contains("1.80 cores") && why.contains("before"), "{why}");
    assert!(
        (crate::net::gross_usable(&busy).unwrap() - 20.0 * 0.2).abs() < 1e-6,
        "{busy:?}"
    );
    assert_eq!(crate::net::net_usable(&busy), None);
    assert!(busy.net_j.is_some(), "the figure is still written, flagged");
    // The same load leaves a harness-scoped channel alone: foreign CPU is not in its baseline.
    let (harness, _) = row(&samples(20.0, 20.0), &manifest(Scope::Harness, Some(1.8)));
    assert_eq!(harness.flag, None);
    // The summary and the report say why.
    let mut recorded = busy_manifest.clone();
    recorded.probes[0].baselines.insert(
        "c".into(),
        Baseline {
            busy_baseline: Some(why.clone()),
            ..Default::default()
        },
    );
    let notes = crate::net::busy_baseline_notes(&recorded, "r1");
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].starts_with("run r1: net energy on p/c left out") && notes[0].contains(&why),
        "{notes:?}"
    );
}

#[test]
fn before_and_after_differing_beyond_their_noise_flag_any_channel() {
    // 20 W before, 35 W after: a steady counter, so the noise is tiny and the difference is far beyond it.
    let (shifted, baseline) = row(&samples(20.0, 35.0), &manifest(Scope::Harness, None));
    assert_eq!(shifted.flag, Some(EnergyFlag::BusyBaseline));
    assert!(baseline.busy_baseline.unwrap().contains("differ"));
    // A drift within 10% is a steady machine's.
    let (drift, baseline) = row(&samples(20.0, 21.0), &manifest(Scope::Machine, None));
    assert_eq!((drift.flag, baseline.busy_baseline), (None, None));
}
