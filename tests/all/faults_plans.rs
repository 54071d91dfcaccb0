//! Issue 21, items 3, 6, 12 and 14: plans that once ran into a wall mid-run (or never ended) are refused at
//! file:line before anything runs; damaged or stale load files are refused or named by the verbs that read
//! them; a start section looping past the deadline is a `timeout` row; a fleet device holding a stale run
//! folder fails without that run joining the study. docs/faults.md lists each with its test.

use crate::common::*;
use harness_data::{LoadKind, LoadRecord, Manifest, SampleKind, SampleRecord, Status, Unit};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs the harness with `args` under a 16 GiB address-space cap and a minute's deadline: the old code spun a
/// NaN rate until out of memory, and must fail here rather than take the machine with it.
fn bounded(args: &[&std::ffi::OsStr]) -> Output {
    machine::share();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 16777216; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_harness"))
        .args(args)
        .env("CI", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

/// `harness measure` of `text` (written to `dir/plan.toml`) under [`bounded`]; asserts it was refused at
/// `line` of the plan with `needle`, and that nothing ran.
fn refused_at(dir: &Path, text: &str, line: usize, needle: &str) {
    let plan = write_plan(dir, "plan.toml", text);
    let run = dir.join("run");
    let output = bounded(&[
        os("measure"),
        os("--plan"),
        plan.as_os_str(),
        os("--out"),
        run.as_os_str(),
        os("--artifacts"),
        artifacts().as_os_str(),
    ]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}\n{err}");
    assert!(
        err.contains(&format!("{}:{line}:", plan.display())) && err.contains(needle),
        "{text}\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!run.join("invocations.csv").exists(), "nothing runs: {text}");
    let _ = std::fs::remove_dir_all(&run);
}

fn load_plan(runtimes: &[&str], load: &str) -> String {
    let plan = PlanBuilder::new()
        .seed(3)
        .repetitions(1)
        .warmup(0)
        .runtimes(runtimes)
        .modes(&["load"])
        .workload("noop", &["0"]);
    format!("{}[load]\n{load}", plan.text())
}

/// The `[load]` table starts after the plan's 8 lines (seed to the workload's inputs) and its header.
const FIRST_LOAD_LINE: usize = 10;

#[test]
fn absurd_load_values_and_repeated_levels_are_refused_at_their_line_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    for (load, needle) in [
        ("rates = [1e12]\n", "not a rate"),
        ("rates = [1e300]\n", "not a rate"),
        ("clients = [1]\nduration_ms = 9223372036854775807\n", "duration_ms"),
        ("clients = [1]\nwarmup_ms = 9223372036854775000\n", "warmup_ms"),
        ("clients = [1]\nidle_ms = 9223372036854775000\n", "idle_ms"),
        ("clients = [1, 1]\n", "listed twice"),
    ] {
        let line = FIRST_LOAD_LINE + load.lines().count() - 1;
        refused_at(dir.path(), &load_plan(&["native"], load), line, needle);
    }
}

#[test]
fn bench_load_refuses_a_nan_rate_and_a_zero_duration() {
    for (args, needle) in [
        (&["--rates", "NaN"][..], "not a rate"),
        (&["--rates", "1000", "--duration-ms", "0"][..], "--duration-ms"),
        (&["--rates", "1e12"][..], "not a rate"),
    ] {
        let artifacts = artifacts();
        let mut all = vec![os("bench-load"), os("--artifacts"), artifacts.as_os_str()];
        all.extend(args.iter().map(|a| os(a)));
        let output = bounded(&all);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle) && !err.contains("inf cores"), "{args:?}: {err}");
    }
}

/// A WASI command module in `dir/name/cmd.wasm` from `wat`; returns the module's path.
fn command_module(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    let path = folder.join("cmd.wasm");
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

#[test]
fn a_command_under_load_and_a_container_cap_under_dockers_minimum_are_refused_at_their_line() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = command_module(dir.path(), "quiet", r#"(module (memory 1) (func (export "_start")))"#);
    // The command's table comes after the built-in's: its `name` is line 10.
    let text = load_plan(&["wasmtime-jit"], "clients = [1]\nduration_ms = 100\n").replace(
        "[load]",
        &format!("[[workloads]]\nname = \"quiet\"\nwasm = \"{}\"\n[load]", wasm.display()),
    );
    refused_at(dir.path(), &text, 10, "built-in workloads only");
    let text = load_plan(&["native", "container"], "clients = [1]\nmemory_mb = 2\n");
    refused_at(dir.path(), &text, FIRST_LOAD_LINE + 1, "6 MiB");
}

/// A copy of the committed reference run (complete, 48 rows of fibonacci) in `dir`, its own run (start
/// shifted by `shift_ns`), with `[load]` in its plan and `levels` in its load.csv when given.
fn reference_copy(dir: &Path, shift_ns: u128, levels: Option<&[LoadRecord]>) -> PathBuf {
    let reference = Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine");
    std::fs::create_dir_all(dir).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference.join("manifest.json")).unwrap()).unwrap();
    let started = manifest["started_unix_ns"].as_u64().unwrap() as u128 + shift_ns;
    manifest["started_unix_ns"] = serde_json::json!(started as u64);
    if let Some(levels) = levels {
        manifest["plan"]["load"] = serde_json::json!({
            "clients": [1, 2], "duration_ms": 500, "warmup_ms": 0, "instances": 1, "idle_ms": 0
        });
        let mut writer = csv::Writer::from_path(dir.join("load.csv")).unwrap();
        for level in levels {
            writer.serialize(level).unwrap();
        }
        writer.flush().unwrap();
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    std::fs::copy(reference.join("invocations.csv"), dir.join("invocations.csv")).unwrap();
    dir.to_path_buf()
}

/// A closed-loop level of the reference run's cell.
fn level(clients: f64) -> LoadRecord {
    LoadRecord {
        workload: "fibonacci".into(),
        input: "25".into(),
        runtime: "native".into(),
        kind: LoadKind::Clients,
        level: clients,
        instances: clients as u32,
        sequence: clients as u64,
        partial: false,
        window_start_ns: 1_000_000,
        window_end_ns: 501_000_000,
        duration_ns: 500_000_000,
        offered_rps: None,
        achieved_rps: 1000.0 * clients,
        sent: 500 * clients as u64,
        completed: 500 * clients as u64,
        failed: 0,
        timed_out: 0,
        p50_ns: Some(1_000_000),
        p90_ns: Some(1_100_000),
        p99_ns: Some(1_200_000),
        p999_ns: Some(1_300_000),
        mean_ns: Some(1.05e6),
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

fn run_harness(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let output = harness().args(args).output().unwrap();
    (output.status.code(), stderr(&output))
}

#[test]
fn a_second_export_to_one_out_removes_the_first_exports_load_file() {
    let dir = tempfile::tempdir().unwrap();
    let with_load = reference_copy(&dir.path().join("with-load"), 0, Some(&[level(1.0), level(2.0)]));
    let without = reference_copy(&dir.path().join("without"), 1, None);
    let out = dir.path().join("study.csv");
    let sibling = dir.path().join("study.load.csv");
    let (code, err) = run_harness(&[os("export"), with_load.as_os_str(), os("--out"), out.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(sibling.is_file(), "{err}");
    let (code, err) = run_harness(&[os("export"), without.as_os_str(), os("--out"), out.as_os_str()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !sibling.exists(),
        "the first export's load levels pass for the second's: {err}"
    );
    assert!(err.contains("removed") && err.contains("study.load.csv"), "{err}");
}

#[test]
fn report_export_and_pair_refuse_a_damaged_load_csv_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut negative = level(2.0);
    negative.achieved_rps = -5.0;
    for (name, levels, needle) in [
        ("repeated", vec![level(1.0), level(1.0)], "repeats the row at line 2"),
        ("negative", vec![level(1.0), negative], "achieved_rps"),
        ("zero", vec![level(1.0), level(0.0)], "column level"),
    ] {
        let run = reference_copy(&dir.path().join(name), 0, Some(&levels));
        // One sample, so that `pair` gets as far as the run's files.
        let mut samples = csv::Writer::from_path(run.join("samples.csv")).unwrap();
        samples
            .serialize(SampleRecord {
                probe: "rapl".into(),
                channel: "package-0".into(),
                t_ns: 1,
                value: Some(1.0),
                unit: Unit::Microjoule,
                kind: SampleKind::EnergyCounter,
            })
            .unwrap();
        samples.flush().unwrap();
        let report = dir.path().join(format!("{name}-report"));
        let study = dir.path().join(format!("{name}.csv"));
        for args in [
            vec![
                os("report"),
                run.as_os_str(),
                os("--baseline"),
                os("native"),
                os("--out"),
                report.as_os_str(),
            ],
            vec![os("export"), run.as_os_str(), os("--out"), study.as_os_str()],
            vec![os("pair"), run.as_os_str()],
        ] {
            let (code, err) = run_harness(&args);
            assert_eq!(code, Some(1), "{name} {args:?}: {err}");
            assert!(
                err.contains("load.csv:3:") && err.contains(needle),
                "{name} {args:?}: {err}"
            );
        }
        assert!(!run.join("paired.csv").exists(), "{name}: pair wrote nothing");
    }
}

#[test]
fn report_names_a_deleted_load_csv_and_export_tells_two_runs_of_one_name_apart() {
    let dir = tempfile::tempdir().unwrap();
    let run = reference_copy(&dir.path().join("a/run"), 0, Some(&[level(1.0)]));
    std::fs::remove_file(run.join("load.csv")).unwrap();
    let (code, err) = run_harness(&[
        os("report"),
        run.as_os_str(),
        os("--baseline"),
        os("native"),
        os("--out"),
        dir.path().join("report").as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("load.csv is missing"), "{err}");

    let other = reference_copy(&dir.path().join("b/run"), 1, None);
    let out = dir.path().join("study.csv");
    let (code, err) = run_harness(&[
        os("export"),
        run.as_os_str(),
        other.as_os_str(),
        os("--out"),
        out.as_os_str(),
    ]);
    assert_eq!(code, Some(0), "{err}");
    let study: Vec<harness_analysis::export::ExportRecord> = csv_rows(&out);
    let names: std::collections::BTreeSet<&str> = study.iter().map(|r| r.run.as_str()).collect();
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["a/run", "b/run"]);
}

#[test]
fn fit_model_refuses_a_sensor_that_ignores_the_load() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("flat");
    crate::fit_model::write_run_with(
        &run,
        vec![crate::fit_model::rapl_probe(), crate::fit_model::model_probe()],
        0.0,
    );
    let output = harness().arg("fit-model").arg(&run).output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not follow the CPU time") && err.contains("R^2"),
        "{err}"
    );
    assert!(output.stdout.is_empty(), "no curve is printed");
}

#[test]
fn a_start_section_looping_past_the_deadline_is_a_timeout_row() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = command_module(
        dir.path(),
        "spin",
        r#"(module (memory 1) (func $spin (loop $l (br $l))) (start $spin) (func (export "_start")))"#,
    );
    let text = format!(
        "{}[[workloads]]\nname = \"spin\"\nwasm = \"{}\"\n",
        PlanBuilder::new()
            .seed(5)
            .repetitions(1)
            .warmup(0)
            .timeout_ms(300)
            .baseline_ms(0)
            .runtimes(&["wasmtime-jit", "wasmtime-aot", "wasmi"])
            .modes(&["cold"])
            .text(),
        wasm.display()
    );
    let plan = write_plan(dir.path(), "plan.toml", &text);
    let run = dir.path().join("run");
    let output = measure(&plan, &run);
    let measured = rows(&run);
    assert_eq!(measured.len(), 3, "{}", stderr(&output));
    for row in &measured {
        assert_eq!(row.status, Status::Timeout, "{}: {}", row.runtime, row.error);
    }
    let manifest: Manifest = manifest(&run);
    assert_eq!(manifest.recorded_invocations, 3);
}

#[test]
fn a_fleet_device_holding_a_stale_run_folder_fails_and_its_old_run_is_not_pooled() {
    use crate::fleet::{HOSTS, SSHD, free_port, repository, require, start_sshd, write_inventory};
    machine::share();
    require("ansible-playbook");
    require("ssh-keygen");
    assert!(Path::new(SSHD).is_file(), "{SSHD} is missing: run scripts/setup-lab.sh");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _sshd = start_sshd(dir.path(), port);
    let inventory = write_inventory(dir.path(), port);
    let plan = PlanBuilder::new()
        .seed(17)
        .repetitions(1)
        .warmup(0)
        .baseline_ms(0)
        .runtimes(&["native"])
        .modes(&["cold"])
        .workload("fibonacci", &["20"])
        .write(dir.path(), "fleet.toml");
    // An earlier fleet run into a results folder of this name left device-a's run behind (another device).
    let (stale_device, fresh_device) = (HOSTS[0].0, HOSTS[1].0);
    let stale = dir
        .path()
        .join(format!("home-{stale_device}/runs/results/{stale_device}"));
    reference_copy(&stale, 0, None);
    let results = dir.path().join("fresh/results");
    std::fs::create_dir_all(results.parent().unwrap()).unwrap();
    let variables = serde_json::json!({
        "harness_plan": plan,
        "harness_results": results,
        "harness_builds": { std::env::consts::ARCH: {
            "binary": env!("CARGO_BIN_EXE_harness"), "artifacts": artifacts() } },
    });
    let output = Command::new("ansible-playbook")
        .arg("-i")
        .arg(&inventory)
        .arg(repository().join("deploy/ansible/measure.yml"))
        .arg("-e")
        .arg(variables.to_string())
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_LOCAL_TEMP", dir.path().join("ansible-tmp"))
        .env("ANSIBLE_SSH_ARGS", "-o ControlMaster=no")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the stale device fails the play:\n{text}");
    assert!(
        text.contains(&format!("{stale_device} already holds")) && text.contains("remove that folder"),
        "{text}"
    );
    assert!(
        !results.join(stale_device).exists(),
        "the stale run is not fetched:\n{text}"
    );
    let study: Vec<harness_analysis::export::ExportRecord> = csv_rows(&results.join("study.csv"));
    assert!(!study.is_empty(), "{text}");
    assert!(
        study.iter().all(|r| r.device == fresh_device),
        "only this play's run is pooled:\n{text}"
    );
    // The stale folder is left as it was.
    assert_eq!(rows(&stale).len(), 48);
}

#[test]
fn a_memory_cap_no_wasm_instance_starts_under_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    // noop's module starts with more than 1 MiB of linear memory: no wasmtime-aot instance fits under 1.
    let text = load_plan(
        &["native", "wasmtime-aot"],
        "clients = [1, 2]\nduration_ms = 200\nwarmup_ms = 0\nidle_ms = 0\nmemory_mb = 1\n",
    );
    refused_at(
        dir.path(),
        &text,
        FIRST_LOAD_LINE + 4,
        "no wasmtime-aot instance could start",
    );
}

#[test]
fn the_summary_counts_the_levels_a_failed_load_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    // Seed 3 plays native's two levels first; under a 3 GB address-space cap wasmtime-aot's pool (4 GiB a
    // slot) cannot reserve its memory, so its first level fails the run.
    let plan = write_plan(
        dir.path(),
        "plan.toml",
        &load_plan(
            &["native", "wasmtime-aot"],
            "clients = [1, 2]\nduration_ms = 200\nwarmup_ms = 0\nidle_ms = 0\n",
        ),
    );
    let run = dir.path().join("run");
    machine::share();
    let output = Command::new("sh")
        .arg("-c")
        .arg("ulimit -v 3000000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_harness"))
        .args(["measure", "--quiet", "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&run)
        .arg("--artifacts")
        .arg(artifacts())
        .output()
        .unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    let levels: Vec<LoadRecord> = csv_rows(&run.join("load.csv"));
    assert_eq!(levels.len(), 2, "{err}");
    assert!(err.contains("load.csv: 2 levels"), "{err}");
}
