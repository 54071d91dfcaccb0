//! `harness report` and `harness export` end to end, on real runs of the spine plan (plans/issue-spine.toml)
//! with a paired.csv written here, exactly per `PairedRecord`, where a test needs energy.

use crate::common::*;
use harness_data::{EnergyQuality, InvocationRecord, PairedRecord, Status};
use serde_json::Value;
use std::path::Path;

fn measured_run(dir: &Path, name: &str, plan: &PlanBuilder) -> std::path::PathBuf {
    let plan = plan.write(dir, &format!("{name}.toml"));
    let run = dir.join(name);
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    run
}

/// A paired.csv for every measured invocation: a RAPL-like channel and a model (estimated) channel.
fn add_energy(run: &Path) {
    let measured: Vec<InvocationRecord> = rows(run)
        .into_iter()
        .filter(|r| !r.warmup && r.status == Status::Ok)
        .collect();
    write_paired(
        run,
        measured.iter().flat_map(|r| {
            [
                paired_from(r, "rapl", "package-0", 25.0, 5.0),
                PairedRecord {
                    quality: EnergyQuality::Estimated,
                    estimated: true,
                    ..paired_from(r, "model", "cpu", 15.0, 5.0)
                },
            ]
        }),
    );
}

fn report(runs: &[&Path], baseline: &str, out: &Path) -> std::process::Output {
    let mut cmd = harness();
    cmd.arg("report");
    for run in runs {
        cmd.arg(run);
    }
    cmd.args(["--baseline", baseline, "--out"])
        .arg(out)
        .args(["--resamples", "500"]);
    cmd.output().unwrap()
}

fn results(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap()
}

fn is_interval(v: &Value) -> bool {
    let number = |k: &str| v.get(k).is_some_and(|x| x.is_number());
    number("estimate") && number("ci_low") && number("ci_high") && v["level"] == 0.95
}

#[test]
fn report_on_a_run_with_energy_writes_three_files_every_plot_and_labels_estimates() {
    let dir = tempfile::tempdir().unwrap();
    // 12 repetitions: with 5, even complete separation cannot survive Holm over 18 tests (exact p >= 2/252).
    let run = measured_run(dir.path(), "spine", &PlanBuilder::spine().repetitions(12));
    add_energy(&run);
    let out = dir.path().join("report");
    let output = report(&[&run], "wasmtime-aot", &out);
    assert!(output.status.success(), "{}", stderr(&output));
    for file in ["report.md", "report.html", "results.json"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let json = results(&out);
    assert_eq!(json["baseline"], "wasmtime-aot");
    assert_eq!(json["groups"].as_array().unwrap().len(), 8);
    let comparisons = json["comparisons"].as_array().unwrap();
    // 3 runtimes x 2 modes x (latency + 2 channels).
    assert_eq!(comparisons.len(), 18);
    for c in comparisons {
        assert!(is_interval(&c["ratio_of_medians"]), "{c}");
        assert!(c["p_holm"].as_f64().unwrap() >= c["test"]["p_value"].as_f64().unwrap());
        assert!(
            [
                "faster",
                "slower",
                "less_energy",
                "more_energy",
                "equivalent",
                "inconclusive"
            ]
            .contains(&c["verdict"].as_str().unwrap())
        );
    }
    // The JIT's cold start compiles with Cranelift: tens of milliseconds against well under one for AoT.
    let jit_cold = comparisons
        .iter()
        .find(|c| c["runtime"] == "wasmtime-jit" && c["mode"] == "cold" && c["metric"]["kind"] == "latency")
        .unwrap();
    assert_eq!(jit_cold["verdict"], "slower", "{jit_cold}");
    // Figures: a CDF and a distribution per (workload, input, mode), a scatter per channel too.
    let figures: Vec<&str> = json["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(figures.len(), 2 * 2 + 2 * 2, "{figures:?}");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for id in &figures {
        assert!(out.join(format!("{id}.svg")).is_file(), "{id}.svg");
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} in the HTML");
    }
    // Self-contained: nothing to load (the SVG namespace URI is a name, not a request).
    assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("<script") && !html.contains("url("));
    // Every figure of the model channel says it is estimated, and so does every energy row from it.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for line in md.lines().filter(|l| l.contains("model/cpu")) {
        assert!(line.contains("estimated"), "{line}");
    }
    for f in json["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().contains("model-cpu"))
    {
        assert!(
            f["title"].as_str().unwrap().contains("estimated") && f["y_label"].as_str().unwrap().contains("estimated"),
            "{f}"
        );
    }
    assert!(md.contains("energy figures marked \"estimated\""));
    // The results at a glance open the report: per mode, latency and each channel, every runtime across, each
    // cell the comparison's ratio and verdict.
    let glance = json["glance"].as_array().unwrap();
    assert_eq!(glance.len(), 2 * 3, "2 modes x (latency + 2 channels)");
    for table in glance {
        assert_eq!(table["runtimes"].as_array().unwrap().len(), 3, "{table}");
        for row in table["rows"].as_array().unwrap() {
            for (runtime, cell) in table["runtimes"]
                .as_array()
                .unwrap()
                .iter()
                .zip(row["cells"].as_array().unwrap())
            {
                let c = comparisons
                    .iter()
                    .find(|c| {
                        c["runtime"] == *runtime
                            && c["mode"] == table["mode"]
                            && c["workload"] == row["workload"]
                            && c["input"] == row["input"]
                            && c["metric"]["kind"] == table["metric"]["kind"]
                            && c["metric"]["channel"] == table["metric"]["channel"]
                    })
                    .unwrap();
                assert_eq!(
                    (&cell["verdict"], &cell["ratio_of_medians"]),
                    (&c["verdict"], &c["ratio_of_medians"])
                );
            }
        }
    }
    let at = |text: &str, what: &str| text.find(what).unwrap_or_else(|| panic!("{what} missing"));
    assert!(at(&md, "## Results at a glance") < at(&md, "## Runs"));
    assert!(md.contains("### cold: energy model/cpu (estimated) [machine]"));
    assert!(at(&html, "<h2>Results at a glance</h2>") < at(&html, "<h2>Runs</h2>"));
    assert_eq!(html.matches("<table class=\"glance\">").count(), 6);
    assert!(html.contains("class=\"legend\""));
    // With the artifact sizes the manifest recorded.
    let fibonacci = &json["artifacts"][0];
    assert_eq!(fibonacci["workload"], "fibonacci", "{fibonacci}");
    assert!(fibonacci["wasm_bytes"].as_u64().unwrap() > 0 && fibonacci["cwasm_bytes"].as_u64().unwrap() > 0);
    assert!(at(&md, "### Artifact sizes") < at(&md, "## Runs"));
}

#[test]
fn latency_only_partial_run_reports_its_incomplete_groups() {
    let dir = tempfile::tempdir().unwrap();
    let run = measured_run(dir.path(), "spine", &PlanBuilder::spine());
    // Cut the run short as a crash would: drop the last 15 rows and mark the manifest partial.
    let text = std::fs::read_to_string(run.join("invocations.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(run.join("invocations.csv"), lines[..lines.len() - 15].join("\n") + "\n").unwrap();
    let mut manifest: Value = serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    manifest["status"] = "partial".into();
    manifest["status_reason"] = "interrupted (Ctrl-C)".into();
    std::fs::write(run.join("manifest.json"), serde_json::to_vec(&manifest).unwrap()).unwrap();

    let out = dir.path().join("report");
    let output = report(&[&run], "native", &out);
    assert!(output.status.success(), "{}", stderr(&output));
    let json = results(&out);
    let incomplete = json["incomplete"].as_array().unwrap();
    assert!(!incomplete.is_empty());
    for i in incomplete {
        assert!(i["measured"].as_u64().unwrap() < 5, "{i}");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        md.contains("## Incomplete groups") && md.contains("partial") && md.contains("latency only"),
        "{md}"
    );
    assert!(
        json["figures"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| !f["id"].as_str().unwrap().starts_with("energy"))
    );
}

#[test]
fn bad_input_gives_errors_that_say_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let run = measured_run(dir.path(), "spine", &PlanBuilder::spine());
    let out = dir.path().join("report");

    let output = report(&[&run], "container", &out);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("`container`") && err.contains("native, wasmi, wasmtime-aot, wasmtime-jit"),
        "{err}"
    );

    let other = measured_run(dir.path(), "other", &PlanBuilder::spine().modes(&["warm"]));
    let output = report(&[&run, &other], "native", &out);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("different plans") && err.contains("modes cold,warm") && err.contains("modes warm;"),
        "{err}"
    );

    // A corrupt row: the error names the file and the line.
    let path = run.join("invocations.csv");
    let mut lines: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    lines[4] = lines[4].replacen(",ok,", ",exploded,", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let output = report(&[&run], "native", &out);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("invocations.csv:5: column 20 (status)") && err.contains("exploded"),
        "{err}"
    );

    let output = report(&[dir.path()], "native", &out);
    assert!(stderr(&output).contains("not a run directory"), "{}", stderr(&output));
}

#[test]
fn export_over_two_runs_gives_one_tidy_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let with_energy = measured_run(dir.path(), "xeon-a", &PlanBuilder::spine());
    add_energy(&with_energy);
    let latency_only = measured_run(dir.path(), "xeon-b", &PlanBuilder::spine());
    let file = dir.path().join("study.csv");
    let output = harness()
        .arg("export")
        .arg(&with_energy)
        .arg(&latency_only)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    let mut reader = csv::Reader::from_path(&file).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_owned).collect();
    assert_eq!(header, harness_analysis::export::ExportRecord::COLUMNS);
    let rows: Vec<harness_analysis::export::ExportRecord> = reader.deserialize().collect::<Result<_, _>>().unwrap();
    assert_eq!(
        rows.len(),
        40 * 2 + 40,
        "two channels per invocation of the first run, one row per invocation of the second"
    );
    let hostname = manifest(&with_energy).host.hostname;
    assert!(rows.iter().all(|r| r.device == hostname));
    assert_eq!(rows.iter().filter(|r| r.run == "xeon-a").count(), 80);
    let latency_rows: Vec<_> = rows.iter().filter(|r| r.run == "xeon-b").collect();
    assert!(
        latency_rows
            .iter()
            .all(|r| r.probe.is_empty() && r.gross_j.is_none() && r.quality.is_none())
    );
    assert!(
        rows.iter()
            .filter(|r| r.channel == "cpu")
            .all(|r| r.estimated == Some(true))
    );
    // The cold premium beside it: one row per runtime of the run with energy, on its whole-machine channel
    // (rapl/package-0 before the model), every side usable.
    let premiums: Vec<harness_analysis::export::ColdPremiumRecord> =
        csv::Reader::from_path(dir.path().join("study.cold-premium.csv"))
            .unwrap()
            .deserialize()
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(premiums.len(), 4, "{premiums:?}");
    for p in &premiums {
        assert_eq!(
            (p.run.as_str(), p.probe.as_str(), p.channel.as_str()),
            ("xeon-a", "rapl", "package-0")
        );
        let (cold, warm, premium) = (p.cold_j.unwrap(), p.warm_j.unwrap(), p.premium_j.unwrap());
        assert!((premium - (cold - warm)).abs() < 1e-12, "{p:?}");
        assert!(
            p.ci_low_j.unwrap() <= premium && premium <= p.ci_high_j.unwrap(),
            "{p:?}"
        );
        assert!(p.reason.is_empty() && p.latency_ratio.is_some(), "{p:?}");
    }

    let output = harness()
        .arg("export")
        .arg(&latency_only)
        .args(["--device", "lab-xeon", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let rows: Vec<harness_analysis::export::ExportRecord> = csv::Reader::from_path(&file)
        .unwrap()
        .deserialize()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(rows.iter().all(|r| r.device == "lab-xeon"));
}

/// Issue 20: the summary `harness measure` prints and the report's energy glance give the same energy for the
/// same cell (one energy summary, one channel rule), on a real run with the model probe.
#[test]
fn the_terminal_summary_and_the_report_give_the_same_energy_per_cell() {
    use harness_analysis::report::Report;
    let dir = tempfile::tempdir().unwrap();
    let plan = PlanBuilder::spine()
        .baseline_ms(200)
        .probe(Probe::new("model"))
        .write(dir.path(), "glance.toml");
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = String::from_utf8(output.stdout).unwrap();
    // Default resamples and seed: the terminal's.
    let out = dir.path().join("report");
    let status = harness()
        .arg("report")
        .arg(&run)
        .args(["--baseline", "native", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    let report: Report = serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    let channel = report.energy_channel.as_ref().expect("the model's channel");
    assert!(
        printed.contains(&format!("({}/{})", channel.probe, channel.channel)),
        "{printed}"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let mut compared = 0;
    for group in &report.groups {
        let energy = group
            .energy_at_a_glance
            .as_ref()
            .expect("every group has the glance's energy");
        let cell = format!(
            "{} {}, {}\n",
            group.key.workload,
            group.key.input,
            group.key.mode.as_str()
        );
        let lines = printed
            .split(&cell)
            .nth(1)
            .unwrap_or_else(|| panic!("no {cell} in\n{printed}"));
        let line = lines
            .lines()
            .take_while(|l| l.starts_with("    "))
            .find(|l| l.trim_start().starts_with(&format!("{} ", group.key.runtime)))
            .unwrap_or_else(|| panic!("no {} line in\n{printed}", group.key.runtime));
        // The printed figure is the report's, or the printed dash carries the report's reason.
        let expected = match (energy.clean(), energy.reason()) {
            (Some(j), _) => harness_analysis::report::format::short_joules(j),
            (None, Some(reason)) => format!("[energy: {reason}]"),
            (None, None) => format!("[energy {}]", energy.text()),
        };
        assert!(line.contains(&expected), "report {expected:?}, terminal {line:?}");
        assert!(md.contains(&energy.text()), "report.md shows {:?}", energy.text());
        compared += 1;
    }
    assert_eq!(compared, 8, "4 runtimes, cold and warm");
    assert_eq!(
        report.cold_premium.len(),
        4,
        "a cold premium row per runtime: {:?}",
        report.cold_premium
    );
}
