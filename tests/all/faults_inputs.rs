//! Issue 11, the fault matrix (inputs): inputs no host can hold, options that blew up, and files or plans that
//! were accepted without a word. Each one now ends in an error naming the file (and line) and what to do, or,
//! for a partial run killed mid-write, in a note; never in a panic, an abort or a silently wrong number.

use crate::common::*;
use harness_probes::testing::FakePowercap;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The committed reference run (complete, 48 invocations of fibonacci 25 on four runtimes).
fn reference_run() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../datasets/reference/vm-spine")
}

/// A copy of the reference run in `dir/name`, to damage.
fn reference_copy(dir: &Path, name: &str) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    for file in ["manifest.json", "invocations.csv"] {
        std::fs::copy(reference_run().join(file), run.join(file)).unwrap();
    }
    run
}

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    std::fs::write(path, f(text)).unwrap();
}

fn report(runs: &[&Path], out: &Path, extra: &[&str]) -> Output {
    let resamples: &[&str] = if extra.contains(&"--resamples") {
        &[]
    } else {
        &["--resamples", "50"]
    };
    harness()
        .arg("report")
        .args(runs)
        .args(["--baseline", "native", "--out"])
        .arg(out)
        .args(resamples)
        .args(extra)
        .output()
        .unwrap()
}

fn export(runs: &[&Path], out: &Path) -> Output {
    harness()
        .arg("export")
        .args(runs)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// Fails with exit code 1 (an error, not a panic's 101 or an abort's 134) and returns stderr.
fn refused(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn measure_plan(plan: &PlanBuilder) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().unwrap();
    let path = plan.write(dir.path(), "plan.toml");
    let output = measure(&path, &dir.path().join("run"));
    (dir, output)
}

fn small_plan() -> PlanBuilder {
    PlanBuilder::new()
        .seed(1)
        .repetitions(1)
        .warmup(0)
        .runtimes(&["native"])
        .modes(&["warm"])
}

/// `18446744073709551615` overflowed a capacity (rc 101), `100GiB` aborted the allocation (rc 134). Now every
/// workload's input range is checked by the plan parser, which names the input's line.
#[test]
fn inputs_beyond_what_the_host_can_hold_are_plan_errors_with_their_line() {
    for (workload, input) in [
        ("sha256", "18446744073709551615"),
        ("sha256", "100GiB"),
        ("aes-gcm", "100GiB"),
        ("transfer", "18446744073709551615"),
        ("fuzzy", "100GiB"),
        ("sieve", "18446744073709551615"),
        ("json", "18446744073709551615"),
        ("matmul", "1000000"),
        ("image-resize", "1000000"),
    ] {
        let (dir, output) = measure_plan(&small_plan().workload(workload, &[input]));
        let err = refused(&output);
        assert!(
            err.contains("plan.toml:8:") && err.contains("outside what this workload accepts"),
            "{workload} {input}: {err}"
        );
        assert!(!dir.path().join("run/invocations.csv").exists());
    }
}

/// `repetitions = 4294967295` aborted on a 64 GiB schedule (rc 134).
#[test]
fn a_schedule_beyond_what_the_host_can_hold_is_a_plan_error() {
    let (_dir, output) = measure_plan(&small_plan().repetitions(u32::MAX).workload("noop", &["0"]));
    let err = refused(&output);
    assert!(
        err.contains("plan.toml:2:") && err.contains("lower `repetitions`"),
        "{err}"
    );
}

/// `report --resamples 18446744073709551615` panicked.
#[test]
fn report_options_out_of_range_are_refused_before_any_run_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let run = reference_run();
    for (option, value) in [
        ("--resamples", "18446744073709551615"),
        ("--resamples", "0"),
        ("--band", "NaN"),
        ("--band", "inf"),
    ] {
        let err = refused(&report(&[&run], &out, &[option, value]));
        assert!(
            err.contains(option) && err.contains("out of range"),
            "{option} {value}: {err}"
        );
    }
}

/// `interval_ms` 0 / NaN / -1 / inf was accepted on every probe (inf gave an update period of 2^64-1 ns).
#[test]
fn probe_intervals_that_cannot_be_polled_are_plan_errors_with_their_line() {
    let fake = FakePowercap::new();
    fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 0);
    for kind in ["rapl", "model"] {
        for value in [0.0, f64::NAN, -1.0, f64::INFINITY] {
            let mut probe = Probe::new(kind).set("interval_ms", value);
            if kind == "rapl" {
                probe = probe.path("sysfs_root", fake.root());
            }
            let (_dir, output) = measure_plan(&small_plan().workload("noop", &["0"]).probe(probe));
            let err = refused(&output);
            assert!(
                err.contains("plan.toml:11:") && err.contains("interval_ms"),
                "{kind} {value}: {err}"
            );
        }
    }
}

/// A repeated input tripled its cell and repeated its iteration numbers; a newline in an input broke the
/// report's headings. Both are plan errors now (control characters are refused, not escaped).
#[test]
fn duplicate_inputs_and_control_characters_are_plan_errors() {
    let (_dir, output) = measure_plan(&small_plan().workload("fibonacci", &["20", "20", "20"]));
    let err = refused(&output);
    assert!(err.contains("plan.toml:8:") && err.contains("listed twice"), "{err}");
    let (_dir, output) = measure_plan(
        &small_plan()
            .workload("fibonacci", &["20"])
            .workload("fibonacci", &["20"]),
    );
    let err = refused(&output);
    assert!(err.contains("plan.toml:11:") && err.contains("listed twice"), "{err}");
    let (_dir, output) = measure_plan(&small_plan().workload("noop", &["a\nb"]));
    let err = refused(&output);
    assert!(
        err.contains("plan.toml:8:") && err.contains("control character"),
        "{err}"
    );
}

/// The same run given twice doubled n and narrowed the intervals.
#[test]
fn a_run_given_twice_to_report_or_export_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = reference_run();
    let same = run.join(".");
    let copy = reference_copy(dir.path(), "copy");
    for second in [&same, &copy] {
        let err = refused(&report(&[&run, second], &dir.path().join("report"), &[]));
        assert!(err.contains("doubles n"), "{err}");
        let err = refused(&export(&[&run, second], &dir.path().join("all.csv")));
        assert!(err.contains("doubles n"), "{err}");
    }
    let ok = report(&[&run], &dir.path().join("report"), &[]);
    assert!(ok.status.success(), "{}", stderr(&ok));
}

/// Files that were read as if nothing were wrong: each is now an error naming the file and line.
#[test]
fn damaged_run_files_are_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    // A 0-byte invocations.csv was reported "complete 42259/42259".
    let empty = reference_copy(dir.path(), "empty");
    std::fs::write(empty.join("invocations.csv"), "").unwrap();
    let err = refused(&report(&[&empty], &out, &[]));
    assert!(err.contains("invocations.csv:1:") && err.contains("0 bytes"), "{err}");
    // A repeated row (same sequence).
    let repeated = reference_copy(dir.path(), "repeated");
    edit(&repeated.join("invocations.csv"), |text| {
        let row = text.lines().nth(5).unwrap().to_owned();
        format!("{text}{row}\n")
    });
    let err = refused(&export(&[&repeated], &dir.path().join("x.csv")));
    assert!(err.contains("invocations.csv:50:") && err.contains("line 6"), "{err}");
    // A manifest format this reader does not know (results.json's own version is another matter).
    let newer = reference_copy(dir.path(), "newer");
    edit(&newer.join("manifest.json"), |text| {
        text.replace("\"format_version\": 1", "\"format_version\": 2")
    });
    let err = refused(&report(&[&newer], &out, &[]));
    assert!(
        err.contains("manifest.json") && err.contains("format_version 2"),
        "{err}"
    );
    // inf / NaN in a value column was dropped silently.
    let infinite = reference_copy(dir.path(), "infinite");
    let rows = rows(&infinite);
    write_paired(
        &infinite,
        rows.iter().map(|r| paired_from(r, "rapl", "package-0", 10.0, 2.0)),
    );
    edit(&infinite.join("paired.csv"), |text| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let fields: Vec<&str> = lines[3].split(',').collect();
        let gross = 12; // gross_j
        let mut fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        fields[gross] = "inf".into();
        lines[3] = fields.join(",");
        lines.join("\n") + "\n"
    });
    let err = refused(&report(&[&infinite], &out, &[]));
    assert!(err.contains("paired.csv:4:") && err.contains("gross_j"), "{err}");
}

/// SIGKILL mid-write leaves a torn final row: a partial run is read up to it, with a note; in a complete run
/// the same tear is an error with its line.
#[test]
fn a_torn_final_row_is_a_note_in_a_partial_run_and_an_error_in_a_complete_one() {
    let dir = tempfile::tempdir().unwrap();
    let torn = reference_copy(dir.path(), "torn");
    edit(&torn.join("invocations.csv"), |text| text[..text.len() - 25].to_owned());
    let err = refused(&report(&[&torn], &dir.path().join("r1"), &[]));
    assert!(
        err.contains("invocations.csv:49:") && err.contains("cut short"),
        "{err}"
    );
    edit(&torn.join("manifest.json"), |text| {
        text.replace("\"status\": \"complete\"", "\"status\": \"partial\"")
    });
    let output = report(&[&torn], &dir.path().join("r2"), &[]);
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("invocations.csv:49: dropped the torn final row"), "{err}");
    let md = std::fs::read_to_string(dir.path().join("r2/report.md")).unwrap();
    assert!(
        md.contains("dropped the torn final row"),
        "the note is in the report too"
    );
    let output = export(&[&torn], &dir.path().join("torn.csv"));
    assert!(output.status.success() && stderr(&output).contains("torn final row"));
}

/// A RAPL counter that is garbage from the start gave a "complete" run of gaps only, with no word said: the
/// channel's rows are all gaps, and report and export now say that the probe produced no valid sample there.
#[test]
fn a_rapl_counter_garbage_from_the_start_is_named_by_report_and_export() {
    let fake = FakePowercap::new();
    fake.zone("intel-rapl:0", "package-0", 262_143_328_850, 0);
    fake.zone("intel-rapl:0:0", "core", 262_143_328_850, 0);
    let _driver = fake.drive("intel-rapl:0", 20.0, 200);
    fake.write_raw("intel-rapl:0:0", "garbage\n");
    let plan = small_plan()
        .repetitions(5)
        .baseline_ms(100)
        .workload("fibonacci", &["20"])
        .probe(Probe::new("rapl").path("sysfs_root", fake.root()));
    let (dir, output) = measure_plan(&plan);
    let run = dir.path().join("run");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        paired(&run)
            .iter()
            .filter(|p| p.channel == "package-0/core")
            .all(|p| p.quality == harness_data::EnergyQuality::Gap)
    );
    let output = report(&[&run], &dir.path().join("report"), &[]);
    let err = stderr(&output);
    assert!(
        err.contains("produced no valid sample on channel `package-0/core`"),
        "{err}"
    );
    let output = export(&[&run], &dir.path().join("x.csv"));
    assert!(stderr(&output).contains("produced no valid sample"));
}

/// `harness pair` reads invocations by the same rules as `report`: a partial run's torn final row is dropped
/// with a note, not a refusal of the whole run (it was strict before).
#[test]
fn pair_drops_a_partial_runs_torn_final_row_with_a_note() {
    let plan = small_plan()
        .repetitions(5)
        .modes(&["cold"])
        .baseline_ms(100)
        .workload("fibonacci", &["20"])
        .probe(Probe::new("model"));
    let (dir, output) = measure_plan(&plan);
    assert!(output.status.success(), "{}", stderr(&output));
    let run = dir.path().join("run");
    edit(&run.join("invocations.csv"), |text| text[..text.len() - 25].to_owned());
    edit(&run.join("manifest.json"), |text| {
        text.replace("\"status\": \"complete\"", "\"status\": \"partial\"")
    });
    let output = harness().arg("pair").arg(&run).output().unwrap();
    let err = stderr(&output);
    assert!(output.status.success(), "{err}");
    assert!(err.contains("dropped the torn final row"), "{err}");
    // The rows before it are paired: every measured cold start but the torn last one, in 5 cold windows of K
    // cold starts each (the last window one short).
    let k = manifest(&run).batching[0].batch_size;
    let paired = paired(&run);
    let channel = &paired[0].channel;
    let windows: Vec<_> = paired.iter().filter(|r| &r.channel == channel).collect();
    assert_eq!(windows.len(), if k == 1 { 4 } else { 5 }, "{windows:?}");
    let cold_starts: u32 = windows.iter().map(|r| r.count).sum();
    assert_eq!(cold_starts, 5 * k - 1, "{windows:?}");
}
