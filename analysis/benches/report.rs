//! The report's speed target: 100,000 invocation rows, 2,000 bootstrap resamples per comparison, in seconds.
//!
//!     cargo bench -p harness-analysis --bench report
//!
//! Writes a synthetic run (5 workloads x 4 runtimes x 2 modes = 40 groups of 2,500 measured invocations, plus
//! one warm-up each; half the warm rows in batches of 50) to a temporary directory, once without and once with
//! a `paired.csv` of one energy channel per invocation, and times `harness report`'s work on it: reading the
//! files, the statistics, and writing report.md, report.html, results.json and the SVGs.

#[path = "../tests/common/mod.rs"]
mod common;

use common::paired_from;
use harness_analysis::report::{ReportOptions, build_report, write_report};
use harness_analysis::run::read_run;
use harness_data::{Anchor, HostFingerprint, InvocationRecord, Manifest, Mode, PairedRecord, RunStatus, Status};
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Instant;

const WORKLOADS: [&str; 5] = ["noop", "fibonacci", "sha256", "json", "transfer"];
const RUNTIMES: [&str; 4] = ["native", "wasmtime-jit", "wasmtime-aot", "wasmi"];
const PER_GROUP: u32 = 2500;
const BATCH: u32 = 50;

fn write_run(dir: &Path, with_energy: bool) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let mut invocations = csv::Writer::from_path(dir.join("invocations.csv")).unwrap();
    let mut paired = with_energy.then(|| csv::Writer::from_path(dir.join("paired.csv")).unwrap());
    let (mut sequence, mut clock, mut measured) = (0u64, 1_000_000u64, 0usize);
    for (w, workload) in WORKLOADS.iter().enumerate() {
        for (r, runtime) in RUNTIMES.iter().enumerate() {
            for mode in Mode::ALL {
                let typical =
                    50_000.0 * (1.0 + w as f64) * (1.0 + r as f64 * 0.7) * if mode == Mode::Cold { 4.0 } else { 1.0 };
                let mut batch = None;
                for iteration in 0..=PER_GROUP {
                    let warmup = iteration == 0;
                    if mode == Mode::Warm && w % 2 == 0 && !warmup && (iteration - 1) % BATCH == 0 {
                        batch = Some(sequence);
                    }
                    let latency = (typical * (1.0 + rng.random::<f64>().powi(4) * 0.5)) as u64;
                    let row = InvocationRecord {
                        workload: workload.to_string(),
                        input: "1".into(),
                        runtime: runtime.to_string(),
                        mode,
                        iteration,
                        warmup,
                        sequence,
                        batch: if warmup { None } else { batch },
                        start_ns: clock,
                        end_ns: clock + latency,
                        latency_ns: latency,
                        startup_ns: None,
                        compile_ns: None,
                        instantiate_ns: Some(latency / 10),
                        input_ns: Some(100),
                        execute_ns: Some(latency / 2),
                        output_ns: Some(100),
                        input_bytes: 8,
                        output_bytes: 8,
                        status: Status::Ok,
                        digest: "0123456789abcdef".into(),
                        error: String::new(),
                    };
                    invocations.serialize(&row).unwrap();
                    if let (Some(p), false) = (paired.as_mut(), warmup) {
                        let power = 20.0 + 10.0 * rng.random::<f64>();
                        p.serialize(PairedRecord {
                            samples: 3,
                            ..paired_from(&row, "rapl", "package-0", power, 5.0)
                        })
                        .unwrap();
                    }
                    measured += usize::from(!warmup);
                    sequence += 1;
                    clock += latency + 1000;
                }
            }
        }
    }
    invocations.flush().unwrap();
    if let Some(mut p) = paired {
        p.flush().unwrap();
    }
    let plan = serde_json::json!({
        "seed": 1, "repetitions": PER_GROUP, "warmup": 1, "runtimes": RUNTIMES, "modes": ["cold", "warm"],
        "workloads": WORKLOADS.iter().map(|w| serde_json::json!({"name": w, "inputs": ["1"]})).collect::<Vec<_>>(),
    });
    let manifest = Manifest {
        format_version: 1,
        harness_version: "bench".into(),
        status: RunStatus::Complete,
        status_reason: None,
        seed: 1,
        anchor: Anchor {
            monotonic_ns: 0,
            unix_ns: 0,
            uncertainty_ns: 0,
        },
        started_unix_ns: 0,
        finished_unix_ns: None,
        host: HostFingerprint {
            hostname: "synthetic".into(),
            ..Default::default()
        },
        engines: Default::default(),
        artifacts: Default::default(),
        plan: serde_json::from_value(plan).unwrap(),
        scheduled_invocations: sequence,
        recorded_invocations: sequence,
        probes: vec![],
        energy_estimated: false,
        batching: vec![],
        baseline_before_ns: None,
        baseline_after_ns: None,
        baseline_load_before: None,
        baseline_load_after: None,
        calibration_busy_ns: vec![],
        interrupt: Default::default(),
        stack: Default::default(),
        serving: Default::default(),
        serving_shape: Default::default(),
        precision: None,
        exec: None,
        browsers: Default::default(),
        skipped: Default::default(),
    };
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    measured
}

fn main() {
    let tmp = std::env::temp_dir().join(format!("harness-report-bench-{}", std::process::id()));
    println!("| data | measured rows | comparisons | load | statistics | render + write | total |");
    println!("|---|---|---|---|---|---|---|");
    for with_energy in [false, true] {
        let run_dir = tmp.join(if with_energy { "energy" } else { "latency" });
        let rows = write_run(&run_dir, with_energy);
        let out = run_dir.join("report");
        let t0 = Instant::now();
        let run = read_run(&run_dir).unwrap();
        let t1 = Instant::now();
        let options = ReportOptions {
            baseline: "native".into(),
            resamples: 2000,
            ..ReportOptions::default()
        };
        let report = build_report(std::slice::from_ref(&run), &options).unwrap();
        let t2 = Instant::now();
        write_report(&report, &out).unwrap();
        let t3 = Instant::now();
        println!(
            "| {} | {rows} | {} | {:.2} s | {:.2} s | {:.2} s | **{:.2} s** |",
            if with_energy {
                "invocations.csv + paired.csv (1 channel)"
            } else {
                "invocations.csv"
            },
            report.comparisons.len(),
            (t1 - t0).as_secs_f64(),
            (t2 - t1).as_secs_f64(),
            (t3 - t2).as_secs_f64(),
            (t3 - t0).as_secs_f64(),
        );
    }
    std::fs::remove_dir_all(&tmp).ok();
}
