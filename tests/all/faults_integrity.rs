//! The fault matrix, run directories and writers (issue 11): two runs into one folder, an older run's files,
//! exports over a run, SIGTERM/SIGHUP/SIGKILL, a full disk, and re-pairing from no samples.

use crate::common::{
    PlanBuilder, csv_rows, harness, manifest, measure, paired_from, rows, spawn_measure_until, stderr,
};
use harness_data::{InvocationRecord, RunStatus};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A run of native warm invocations of `fibonacci 20`, long enough to stop midway.
fn long_plan(dir: &Path, repetitions: u32) -> PathBuf {
    PlanBuilder::new()
        .seed(11)
        .repetitions(repetitions)
        .warmup(0)
        .runtimes(&["native"])
        .modes(&["warm"])
        .workload("fibonacci", &["20"])
        .write(dir, "long.toml")
}

fn small_run(dir: &Path) -> PathBuf {
    let plan = PlanBuilder::new()
        .seed(2)
        .repetitions(3)
        .warmup(0)
        .runtimes(&["native"])
        .modes(&["warm"])
        .workload("fibonacci", &["20"])
        .write(dir, "small.toml");
    let run = dir.join("run");
    let output = measure(&plan, &run);
    assert!(output.status.success(), "{}", stderr(&output));
    run
}

/// Every line of `invocations.csv` is a whole row, and all of them parse.
fn assert_whole_rows(run: &Path) -> Vec<InvocationRecord> {
    let text = std::fs::read_to_string(run.join("invocations.csv")).unwrap();
    assert!(text.ends_with('\n'), "the last row is torn: {:?}", text.lines().last());
    csv_rows(&run.join("invocations.csv"))
}

#[test]
fn two_runs_into_one_folder_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = long_plan(dir.path(), 20_000);
    let run = dir.path().join("run");
    let start = || {
        harness()
            .args(["measure", "--plan"])
            .arg(&plan)
            .arg("--out")
            .arg(&run)
            .arg("--artifacts")
            .arg(crate::common::artifacts())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok: Vec<_> = outputs.iter().filter(|o| o.status.success()).collect();
    assert_eq!(
        ok.len(),
        1,
        "exactly one run may write the folder: {:?}",
        outputs.iter().map(stderr).collect::<Vec<_>>()
    );
    let refused = outputs.iter().find(|o| !o.status.success()).unwrap();
    assert!(stderr(refused).contains("already holds a run"), "{}", stderr(refused));
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Complete);
    let rows = assert_whole_rows(&run);
    assert_eq!(
        rows.len() as u64,
        manifest.scheduled_invocations,
        "one run's rows, none mixed in"
    );
}

#[test]
fn an_older_runs_files_are_never_taken_for_a_new_run() {
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(dir.path());
    let plan = dir.path().join("small.toml");
    // A finished run, and a folder that kept only an older run's energy files.
    let stale = dir.path().join("stale");
    std::fs::create_dir(&stale).unwrap();
    std::fs::write(stale.join("samples.csv"), "old").unwrap();
    std::fs::write(stale.join("paired.csv"), "old").unwrap();
    for (out, says) in [(&run, "already holds a run"), (&stale, "is not empty")] {
        let before = std::fs::read_dir(out).unwrap().count();
        let output = measure(&plan, out);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("--out"),
            "says what to do: {}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read_dir(out).unwrap().count(),
            before,
            "the folder is left as it was"
        );
    }
    assert_eq!(std::fs::read_to_string(stale.join("paired.csv")).unwrap(), "old");
    // An empty folder is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = measure(&plan, &empty);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn export_never_writes_into_a_run_directory() {
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(dir.path());
    let before = std::fs::read(run.join("invocations.csv")).unwrap();
    for out in [run.join("invocations.csv"), run.join("study.csv")] {
        let output = harness()
            .arg("export")
            .arg(&run)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("inside the run directory"),
            "{}",
            stderr(&output)
        );
    }
    assert_eq!(std::fs::read(run.join("invocations.csv")).unwrap(), before);
    assert!(!run.join("study.csv").exists());
    let output = harness()
        .arg("export")
        .arg(&run)
        .arg("--out")
        .arg(dir.path().join("study.csv"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn sigterm_and_sighup_end_a_run_as_partial_with_128_plus_the_signal() {
    for (signal, name, code) in [(libc::SIGTERM, "SIGTERM", 143), (libc::SIGHUP, "SIGHUP", 129)] {
        let dir = tempfile::tempdir().unwrap();
        let plan = long_plan(dir.path(), 1_000_000);
        let run = dir.path().join("run");
        let child = spawn_measure_until(&plan, &run, 200);
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(child.id() as i32, signal) };
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{name}: {}", stderr(&output));
        let manifest = manifest(&run);
        assert_eq!(manifest.status, RunStatus::Partial, "{name}");
        let reason = manifest.status_reason.unwrap_or_default();
        assert!(reason.contains(name), "{name}: {reason}");
        let rows = assert_whole_rows(&run);
        assert!(rows.len() >= 200, "{name}");
        assert_eq!(manifest.recorded_invocations, rows.len() as u64, "{name}");
    }
}

#[test]
fn after_sigkill_rows_are_whole_and_the_manifest_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let plan = long_plan(dir.path(), 1_000_000);
    let run = dir.path().join("run");
    let mut child = spawn_measure_until(&plan, &run, 200);
    // Past the writer's manifest refresh (about every second).
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap(); // SIGKILL: no handler runs.
    child.wait().unwrap();
    let rows = assert_whole_rows(&run);
    let manifest = manifest(&run);
    assert_eq!(manifest.status_reason.as_deref(), Some("running"));
    assert!(
        manifest.recorded_invocations > 0 && manifest.recorded_invocations <= rows.len() as u64,
        "recorded {} of {} rows on disk",
        manifest.recorded_invocations,
        rows.len()
    );
}

/// A small tmpfs, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// `None` where this test cannot mount one (not root, no mount permission in the container).
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_ends_the_run_as_failed_with_whole_rows_and_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let plan = long_plan(dir.path(), 200_000);
    let Some(disk) = Tmpfs::mount(&dir.path().join("disk"), "2m") else {
        eprintln!("skipped: cannot mount a tmpfs here (the recorder's unit tests cover a full disk)");
        return;
    };
    let run = disk.0.join("run");
    let output = measure(&plan, &run);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("No space left on device"),
        "{}",
        stderr(&output)
    );
    let manifest = manifest(&run);
    assert_eq!(manifest.status, RunStatus::Failed);
    let reason = manifest.status_reason.unwrap_or_default();
    assert!(reason.contains("No space left on device"), "{reason}");
    let rows = assert_whole_rows(&run);
    assert!(!rows.is_empty() && rows.len() < 200_000);
    assert_eq!(manifest.recorded_invocations, rows.len() as u64);
}

#[test]
fn pair_refuses_empty_or_unreadable_samples_and_keeps_paired_csv() {
    let dir = tempfile::tempdir().unwrap();
    let run = small_run(dir.path());
    crate::common::write_paired(
        &run,
        rows(&run)
            .iter()
            .map(|r| paired_from(r, "rapl", "package-0", 20.0, 5.0)),
    );
    let before = std::fs::read(run.join("paired.csv")).unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let header_only = dir.path().join("header.csv");
    std::fs::write(&header_only, "probe,channel,kind,unit,t_ns,value\n").unwrap();
    let cases: [(&str, Option<&Path>); 5] = [
        ("an empty file", Some(&empty)),
        ("a header alone", Some(&header_only)),
        ("/dev/null", Some(Path::new("/dev/null"))),
        ("a directory", Some(dir.path())),
        ("the run's own, missing", None),
    ];
    for (what, samples) in cases {
        let mut cmd = harness();
        cmd.arg("pair").arg(&run);
        if let Some(samples) = samples {
            cmd.arg("--samples").arg(samples);
        }
        let output = cmd.output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{what}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("no samples to pair with"),
            "{what}: {}",
            stderr(&output)
        );
        assert_eq!(
            std::fs::read(run.join("paired.csv")).unwrap(),
            before,
            "{what}: paired.csv kept"
        );
    }
}
