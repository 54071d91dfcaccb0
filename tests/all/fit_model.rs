//! `harness fit-model` end to end on synthetic runs: a RAPL-like package counter whose power is 7 W + 11 W per
//! busy core beside the model's counter (the default curve, 10 W + 15 W per busy core) over a varying load.

use crate::common::harness;
use harness_data::{ChannelInfo, Manifest, ProbeManifest, SampleKind, SampleRecord};
use rand::{Rng, SeedableRng};
use std::path::Path;

pub(crate) fn rapl_probe() -> ProbeManifest {
    ProbeManifest {
        unseen: Vec::new(),
        name: "rapl".into(),
        kind: "rapl".into(),
        options: serde_json::json!({"kind": "rapl", "sysfs_root": null, "interval_ms": 1.0}),
        channels: vec![ChannelInfo {
            probe: "rapl".into(),
            channel: "package-0".into(),
            unit: harness_data::Unit::Microjoule,
            kind: SampleKind::EnergyCounter,
            resolution: 61.0,
            // Polled every 5 ms, as the samples below are (a channel's period is its poll interval, at least
            // the hardware's 1 ms).
            update_period_ns: 5_000_000,
            estimated: false,
            scope: harness_data::Scope::Machine,
        }],
        baselines: Default::default(),
        delay_ns: None,
        notes: Vec::new(),
    }
}

/// The model with nothing declared: options as the plan serializes them, the default curve.
pub(crate) fn model_probe() -> ProbeManifest {
    ProbeManifest {
        unseen: Vec::new(),
        name: "model".into(),
        kind: "model".into(),
        options: serde_json::json!({
            "kind": "model", "idle_w": null, "busy_w_per_core": null, "tdp_w": null, "interval_ms": null,
            "fitted": null
        }),
        channels: vec![ChannelInfo {
            probe: "model".into(),
            channel: "cpu-estimate".into(),
            unit: harness_data::Unit::Joule,
            kind: SampleKind::EnergyCounter,
            resolution: 15e-6,
            update_period_ns: 10_000_000,
            estimated: true,
            scope: harness_data::Scope::Machine,
        }],
        baselines: Default::default(),
        delay_ns: None,
        notes: vec![
            "ESTIMATED energy: idle 10 W + 15 W per busy core, from the CPU time of the harness".into(),
            "model curve declared".into(),
        ],
    }
}

/// A run directory with the reference manifest's shape, this host name, these probes, and 6 s of samples
/// every 5 ms over a load that changes every 250 ms (seeded, 0 to 4 busy cores), the package with some noise.
fn write_run(dir: &Path, probes: Vec<ProbeManifest>) {
    write_run_with(dir, probes, 11.0);
}

/// [`write_run`] with the package drawing `busy_w_per_core` per busy core (0: a sensor that ignores the load).
pub(crate) fn write_run_with(dir: &Path, probes: Vec<ProbeManifest>, busy_w_per_core: f64) {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine/manifest.json");
    let mut manifest: Manifest = serde_json::from_slice(&std::fs::read(reference).unwrap()).unwrap();
    manifest.host.hostname = "lab-xeon".into();
    manifest.probes = probes;
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let loads: Vec<f64> = (0..24).map(|_| rng.random_range(0.0..4.0)).collect();
    let (start, step) = (1_000_000_000u64, 5_000_000u64);
    let mut writer = csv::Writer::from_path(dir.join("samples.csv")).unwrap();
    let (mut package_uj, mut model_j) = (0.0f64, 0.0f64);
    for k in 0..1200u64 {
        let t = start + k * step;
        for p in &manifest.probes {
            let c = &p.channels[0];
            let value = if c.estimated {
                model_j
            } else {
                // RAPL counts in steps of its energy unit.
                (package_uj / 61.0).floor() * 61.0
            };
            writer
                .serialize(SampleRecord {
                    probe: c.probe.clone(),
                    channel: c.channel.clone(),
                    t_ns: t,
                    value: Some(value),
                    unit: c.unit,
                    kind: SampleKind::EnergyCounter,
                })
                .unwrap();
        }
        let busy = loads[(k * step / 250_000_000) as usize];
        let seconds = step as f64 * 1e-9;
        // The package also draws what the CPU time does not explain: noise of up to 1 W.
        package_uj += (7.0 + busy_w_per_core * busy + rng.random_range(-1.0..1.0)) * seconds * 1e6;
        model_j += (10.0 + 15.0 * busy) * seconds;
    }
    writer.flush().unwrap();
}

fn number(stdout: &str, key: &str) -> f64 {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no `{key} =` line in:\n{stdout}"));
    line[key.len() + 3..].trim().parse().unwrap()
}

#[test]
fn fit_model_recovers_the_sensor_curve_from_the_model_counter() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("xeon-fit");
    write_run(&run, vec![rapl_probe(), model_probe()]);
    let output = harness().arg("fit-model").arg(&run).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}\n{}", crate::common::stderr(&output));

    assert!(stdout.contains("[[probes]]\nkind = \"model\"\n"), "{stdout}");
    assert!(stdout.contains("fitted = \"lab-xeon from xeon-fit\""), "{stdout}");
    let (idle, busy) = (number(&stdout, "idle_w"), number(&stdout, "busy_w_per_core"));
    assert!((idle - 7.0).abs() < 0.02 * 7.0, "idle {idle}:\n{stdout}");
    assert!((busy - 11.0).abs() < 0.02 * 11.0, "busy {busy}:\n{stdout}");
    let fit_line = stdout.lines().find(|l| l.starts_with("# fit: R^2 = ")).expect(&stdout);
    let r2: f64 = fit_line["# fit: R^2 = ".len()..]
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(r2 > 0.99, "{stdout}");
    assert!(
        fit_line.contains("W per window") && fit_line.contains(" windows"),
        "{stdout}"
    );

    // The printed block is a probe a plan accepts (everything else is a TOML comment).
    let parsed: toml::Table = toml::from_str(&stdout).unwrap();
    assert_eq!(parsed["probes"].as_array().unwrap()[0]["kind"].as_str(), Some("model"));
}

#[test]
fn fit_model_refuses_a_run_without_a_sensor_or_without_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, probes, missing) in [
        ("model-only", vec![model_probe()], "no real sensor"),
        ("rapl-only", vec![rapl_probe()], "no `model` probe"),
    ] {
        let run = tmp.path().join(name);
        write_run(&run, probes);
        let output = harness().arg("fit-model").arg(&run).output().unwrap();
        let stderr = crate::common::stderr(&output);
        assert!(!output.status.success(), "{name}: {stderr}");
        assert!(stderr.contains(missing), "{name}: {stderr}");
        assert!(
            stderr.contains("`[[probes]] kind = \"rapl\"`") && stderr.contains("`[[probes]] kind = \"model\"`"),
            "{name}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{name}: no block is printed");
    }
}
