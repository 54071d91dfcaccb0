//! `harness run` (issue 24): real commands from the project's artifacts (node, a Wasm engine in a process of
//! its own), hyperfine's JSON read by a reader written against hyperfine's documented fields, energy per run of
//! a 2 ms command on the model and on a fake 1 ms powercap counter (batched, never 0 J), parameters, order.

use crate::common::*;
use harness_data::{Mode, RunStatus, UsageRecord};
use harness_probes::testing::FakePowercap;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

/// hyperfine's `--export-json` as its documentation and its own exporter write it: what a script written for
/// hyperfine reads.
#[derive(Debug, Deserialize)]
struct HyperfineExport {
    results: Vec<HyperfineResult>,
}

#[derive(Debug, Deserialize)]
struct HyperfineResult {
    command: String,
    mean: f64,
    stddev: Option<f64>,
    median: f64,
    user: f64,
    system: f64,
    min: f64,
    max: f64,
    times: Vec<f64>,
    exit_codes: Vec<Option<i32>>,
    #[serde(default)]
    parameters: BTreeMap<String, String>,
}

/// A command busy on the CPU for about 2 ms (a shell counting to 1000).
pub(crate) const TWO_MS: &str = "i=0; while [ $i -lt 1000 ]; do i=$((i+1)); done";

pub(crate) fn run(args: &[&str]) -> Output {
    harness().arg("run").args(args).output().expect("running harness run")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn node_against_a_wasm_engine_prints_time_energy_and_the_comparison_and_exports_hyperfines_json() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("input");
    std::fs::write(&input, "25").unwrap();
    let out = dir.path().join("run");
    let export = dir.path().join("results.json");
    let node = "node -e \"function f(n){return n<2?n:f(n-1)+f(n-2)} console.log(f(25))\"";
    let wasm = format!(
        "{} invoke-once --runtime wasmtime-jit --workload fibonacci --artifacts {}",
        env!("CARGO_BIN_EXE_harness"),
        artifacts().display()
    );
    let output = run(&[
        "-N",
        "--warmup",
        "3",
        "-r",
        "6",
        "--idle",
        "0.5",
        "--seed",
        "24",
        "-n",
        "node-js fib",
        "-n",
        "wasmtime-jit fib",
        "--input",
        input.to_str().unwrap(),
        "--export-json",
        export.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        node,
        &wasm,
    ]);
    let (stdout, errors) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{errors}");
    for line in [
        "Benchmark 1: node-js fib",
        "Benchmark 2: wasmtime-jit fib",
        "Time (mean ± σ):",
        "Range (min … max):",
        "Energy (median, ",
        "Power (median):",
        "Summary\n",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    // Net of idle where the idle baseline was idle; on a busy machine gross, saying why.
    assert!(
        stdout.contains("Energy (median, net):") || stdout.contains("No net figure: the idle baseline is not idle"),
        "{stdout}"
    );
    // The comparison carries its interval and the report's verdict, in time and in energy.
    let summary = &stdout[stdout.find("Summary").unwrap()..];
    assert!(summary.contains(" times ") && summary.contains(" [") && summary.contains("energy per run (gross"));

    let hyperfine: HyperfineExport = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(hyperfine.results.len(), 2);
    for r in &hyperfine.results {
        assert!(r.min <= r.median && r.median <= r.max && r.mean > 0.0, "{r:?}");
        assert!(r.stddev.is_some() && r.user + r.system > 0.0, "{r:?}");
        assert!(
            r.times.len() >= 6 && r.exit_codes.iter().all(|c| *c == Some(0)),
            "{r:?}"
        );
        assert!(r.parameters.is_empty());
    }
    assert_eq!(hyperfine.results[0].command, "node-js fib");
    // The additions: energy per run with its provenance, the comparisons, where the rows are.
    let full = json(&export);
    // `auto` picks RAPL where the host has it, else the model: each result says which, as the run does.
    let estimated = &full["provenance"]["energy_estimated"];
    assert!(estimated.is_boolean(), "{full}");
    for r in full["results"].as_array().unwrap() {
        assert_eq!(&r["energy_j"]["estimated"], estimated, "{r}");
        assert!(r["energy_j"]["median_gross"].as_f64().unwrap() > 0.0, "{r}");
        assert_eq!(
            r["times"].as_array().unwrap().len(),
            r["memory_usage_byte"].as_array().unwrap().len()
        );
    }
    let comparisons = full["comparisons"].as_array().unwrap();
    let metrics: Vec<&str> = comparisons.iter().map(|c| c["metric"].as_str().unwrap()).collect();
    assert_eq!(metrics, ["time", "energy"], "{comparisons:?}");
    for c in comparisons {
        let [lo, hi] = [c["interval"][0].as_f64().unwrap(), c["interval"][1].as_f64().unwrap()];
        assert!(
            lo <= c["ratio"].as_f64().unwrap() && c["ratio"].as_f64().unwrap() <= hi,
            "{c}"
        );
    }
    assert_eq!(full["provenance"]["run_dir"], out.to_str().unwrap());

    // An ordinary run directory: every run a cold row of its command, its usage by sequence, and `harness
    // report` needs no --baseline.
    let manifest = manifest(&out);
    assert_eq!(manifest.status, RunStatus::Complete);
    assert_eq!(manifest.exec.as_ref().unwrap().shell, "none");
    let rows = rows(&out);
    assert!(rows.iter().all(|r| r.mode == Mode::Cold && r.workload == "command"));
    let usage: Vec<UsageRecord> = csv_rows(&out.join("usage.csv"));
    assert_eq!(usage.len(), rows.len());
    let report = harness()
        .arg("report")
        .arg(&out)
        .arg("--out")
        .arg(dir.path().join("report"))
        .output()
        .unwrap();
    assert!(report.status.success(), "{}", stderr(&report));
}

/// Energy per run of `command` in a run into `out` with `probe`, from its JSON export.
fn energy_of_two_ms(out: &Path, probe: &str) -> serde_json::Value {
    let export = out.with_extension("json");
    let output = run(&[
        "-r",
        "8",
        "--idle",
        "0.5",
        "--probe",
        probe,
        "--export-json",
        export.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        TWO_MS,
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let results = json(&export);
    results["results"][0].clone()
}

#[test]
fn a_two_millisecond_command_gets_energy_per_run_in_windows_of_many_runs_never_zero() {
    // Net figures need an idle baseline taken on an idle machine (one taken while other tests ran is flagged
    // busy, and its net figures left out, as they should be): this test has the machine to itself.
    let _alone = machine::alone();
    let dir = tempfile::tempdir().unwrap();
    // The model (1 ms polling of the machine's CPU time): windows of many runs, a positive net figure.
    let model = energy_of_two_ms(&dir.path().join("model"), "model,interval_ms=1");
    let energy = &model["energy_j"];
    assert!(energy["runs_per_window"].as_f64().unwrap() > 1.0, "{model}");
    let gross = energy["median_gross"].as_f64().unwrap();
    assert!(gross > 0.0 && energy["median"].as_f64().unwrap() > 0.0, "{model}");
    assert_eq!(energy["estimated"], true);
    // Net of idle where the baseline was idle; where something else kept the machine busy, the figure is gross
    // and says why (the harness detects it; this test does not rely on an idle host).
    match energy["basis"].as_str().unwrap() {
        "net" => assert!(energy["median_net"].as_f64().unwrap() < gross, "{model}"),
        _ => assert!(energy["no_net"].as_str().unwrap().contains("idle baseline"), "{model}"),
    }

    // A fake powercap counter at 20 W that moves every 1 ms, as RAPL does: each run's gross energy is what
    // 20 W over its time gives, measured in windows of many runs.
    let fake = FakePowercap::new();
    fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 0);
    let _driver = fake.drive("intel-rapl:0", 20.0, 1000);
    let probe = format!("rapl,sysfs_root={},interval_ms=1", fake.root().display());
    let rapl = energy_of_two_ms(&dir.path().join("rapl"), &probe);
    let energy = &rapl["energy_j"];
    assert_eq!(energy["estimated"], false, "{rapl}");
    assert!(energy["runs_per_window"].as_f64().unwrap() > 1.0, "{rapl}");
    // `-r 8` counts runs, as hyperfine's does: windows of K runs cut to the budget, never under 8 windows.
    let runs = rapl["times"].as_array().unwrap().len() as f64;
    let windows = energy["windows"].as_f64().unwrap();
    assert!(
        windows == 8.0 && runs >= 8.0 && runs == windows * energy["runs_per_window"].as_f64().unwrap(),
        "{rapl}"
    );
    let gross = energy["median_gross"].as_f64().unwrap();
    let expected = 20.0 * rapl["median"].as_f64().unwrap();
    assert!(
        (gross - expected).abs() < 0.25 * expected,
        "gross {gross} J per run, 20 W x median time = {expected} J: {rapl}"
    );
}

#[test]
fn parameters_names_and_hyperfines_order_reach_every_export() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let csv = dir.path().join("r.csv");
    let md = dir.path().join("r.md");
    let output = run(&[
        "-r",
        "3",
        "--probe",
        "none",
        "--order",
        "sequential",
        "-P",
        "n",
        "1",
        "3",
        "-n",
        "count {n}",
        "--export-csv",
        csv.to_str().unwrap(),
        "--export-markdown",
        md.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "sleep 0.00{n}",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(
        csv.starts_with("command,mean,stddev,median,user,system,min,max,parameter_n,"),
        "{csv}"
    );
    assert!(csv.contains("\ncount 2,") && csv.lines().count() == 4, "{csv}");
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(
        md.starts_with("| Command | Mean [ms] | Min [ms] | Max [ms] | Relative |"),
        "{md}"
    );
    assert!(md.contains("| `count 1` |") && md.contains("| 1.00 |"), "{md}");
    // Sequential: each command's runs back to back, in the order given.
    let order: Vec<String> = rows(&out).into_iter().map(|r| r.runtime).collect();
    let expected: Vec<String> = ["count 1", "count 2", "count 3"]
        .iter()
        .flat_map(|n| std::iter::repeat_n(n.to_string(), 3))
        .collect();
    assert_eq!(order, expected);
    assert_eq!(manifest(&out).exec.unwrap().order, "sequential");
}

#[test]
fn precision_measures_until_every_interval_against_the_reference_is_narrow_enough() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    // A target an idle machine meets at the first look (a busy one may need more rounds, up to the budget): the
    // rounds' path, not this machine's noise, is under test.
    let output = run(&[
        "--precision",
        "50%",
        "-r",
        "5",
        "--probe",
        "none",
        "--reference",
        "sleep 0.002",
        "--out",
        out.to_str().unwrap(),
        "sleep 0.004",
    ]);
    let errors = text(&output.stderr);
    assert!(output.status.success(), "{errors}");
    assert!(
        errors.contains("precision: +-50.0% asked of every ratio of medians against sleep 0.002"),
        "{errors}"
    );
    let record = manifest(&out).precision.unwrap();
    assert_eq!(record.plan.baseline, "sleep 0.002");
    assert!(
        record
            .cells
            .iter()
            .all(|c| c.met || c.stopped == harness_data::precision::PrecisionStop::MaxRepetitions),
        "{record:?}"
    );
}
