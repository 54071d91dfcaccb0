//! `harness run`'s faults (issue 24): a command that fails (without and with `-i`), hangs past `--timeout`, is
//! killed, floods its output or is missing gets a clear error and keeps every row measured; no process it
//! started outlives the harness (SIGINT, SIGTERM, SIGKILL); option combinations hyperfine refuses are refused.

use super::run::run;
use crate::common::*;
use harness_data::{RunStatus, Status, UsageRecord};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Pids of live processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = state.rfind(')').is_some_and(|i| state[i + 2..].starts_with('Z'));
            !zombie && String::from_utf8_lossy(&cmdline).replace('\0', " ").contains(marker)
        })
        .collect()
}

/// The `sleep` processes of a command: the harness's own command line (and a forked copy of it not yet
/// exec'd) names the marker too, and only an exec'd `sleep` shows the command really started.
fn sleeps_with(marker: &str) -> usize {
    processes_with(marker)
        .into_iter()
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep"))
        .count()
}

fn wait_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn out_args(out: &Path) -> [String; 2] {
    ["--out".into(), out.display().to_string()]
}

#[test]
fn a_failing_command_stops_the_run_keeping_its_rows_and_with_ignore_failure_counts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failed");
    let [o, d] = out_args(&out);
    let output = run(&["-r", "4", "--probe", "none", "--seed", "3", &o, &d, "true", "exit 3"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("`exit 3` terminated with exit code 3") && stderr.contains("-i/--ignore-failure"),
        "{stderr}"
    );
    // The failing run is a row of its own, with its exit code; what ran before it is kept.
    let rows = rows(&out);
    let failed: Vec<_> = rows.iter().filter(|r| r.status != Status::Ok).collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(
        (failed[0].runtime.as_str(), failed[0].error.as_str()),
        ("exit 3", "exit code 3")
    );
    let usage: Vec<UsageRecord> = csv_rows(&out.join("usage.csv"));
    assert!(
        usage
            .iter()
            .any(|u| u.sequence == failed[0].sequence && u.exit_code == Some(3))
    );
    assert_eq!(manifest(&out).status, RunStatus::Failed);

    let export = dir.path().join("ignored.json");
    let out = dir.path().join("ignored");
    let [o, d] = out_args(&out);
    let output = run(&[
        "-r",
        "4",
        "-i",
        "--probe",
        "none",
        "--export-json",
        export.to_str().unwrap(),
        &o,
        &d,
        "exit 3",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("Ignoring non-zero exit code"));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&export).unwrap()).unwrap();
    assert_eq!(json["results"][0]["exit_codes"], serde_json::json!([3, 3, 3, 3]));
    assert_eq!(json["results"][0]["times"].as_array().unwrap().len(), 4);
}

#[test]
fn a_hang_past_the_timeout_and_a_killed_command_are_stopped_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hang");
    let [o, d] = out_args(&out);
    let marker = "sleep 31.2417";
    let started = Instant::now();
    let output = run(&[
        "-r",
        "3",
        "--probe",
        "none",
        "--timeout",
        "0.3",
        &o,
        &d,
        &format!("{marker} & {marker}"),
    ]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("ran past the --timeout"),
        "{}",
        text(&output.stderr)
    );
    assert_eq!(rows(&out)[0].status, Status::Timeout);
    // Its background child went with it.
    wait_until(Duration::from_secs(5), "the timed-out command's processes gone", || {
        processes_with(marker).is_empty()
    });

    let out = dir.path().join("killed");
    let [o, d] = out_args(&out);
    let output = run(&["-r", "2", "--probe", "none", &o, &d, "kill -9 $$"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("`kill -9 $$` was terminated by signal 9 (SIGKILL)"),
        "{stderr}"
    );
    assert_eq!(rows(&out)[0].status, Status::Trap);
}

#[test]
fn a_flood_of_output_costs_nothing_and_a_missing_command_is_named_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("flood");
    let [o, d] = out_args(&out);
    let output = run(&["-r", "2", "--probe", "none", &o, &d, "head -c 20000000 /dev/zero"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    // With --show-output it reaches the harness's own stdout, whole.
    let out = dir.path().join("shown");
    let [o, d] = out_args(&out);
    let output = run(&[
        "-r",
        "2",
        "--show-output",
        "--probe",
        "none",
        &o,
        &d,
        "head -c 3000000 /dev/zero",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout.iter().filter(|b| **b == 0).count() >= 6_000_000);

    let out = dir.path().join("missing");
    let [o, d] = out_args(&out);
    let output = run(&["-N", "--probe", "none", &o, &d, "no-such-program-2417 x"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("cannot start `no-such-program-2417`: it was not found (is it on PATH?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("before anything was measured") && !out.exists(),
        "{stderr}"
    );
    let output = run(&["--probe", "none", &o, &d, "no-such-program-2417"]);
    assert!(text(&output.stderr).contains("exit code 127 (the shell's code for a command it could not find)"));
}

#[test]
fn no_process_a_command_started_outlives_the_harness() {
    for (signal, code) in [
        (libc::SIGINT, Some(130)),
        (libc::SIGTERM, Some(143)),
        (libc::SIGKILL, None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let marker = format!("sleep 47.{signal}913");
        let mut child = harness()
            .args(["run", "-r", "3", "--probe", "none", "--out"])
            .arg(&out)
            .arg(format!("{marker} & {marker}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until(Duration::from_secs(30), "the command started", || {
            sleeps_with(&marker) >= 2
        });
        // SAFETY: our child's pid.
        unsafe { libc::kill(child.id() as i32, signal) };
        let started = Instant::now();
        let status = child.wait().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "signal {signal}");
        assert_eq!(status.code(), code, "signal {signal}");
        wait_until(Duration::from_secs(10), "every process of the command gone", || {
            processes_with(&marker).is_empty()
        });
        if signal != libc::SIGKILL {
            let manifest = manifest(&out);
            assert_eq!(manifest.status, RunStatus::Partial, "signal {signal}");
        }
    }
}

#[test]
fn option_combinations_hyperfine_refuses_are_refused() {
    let refused_by_clap: [&[&str]; 5] = [
        &["-r", "5", "-m", "3", "true"],
        &["-N", "-S", "bash", "true"],
        &["-P", "n", "1", "3", "-L", "m", "a,b", "true"],
        &["-D", "1", "true"],
        &["--show-output", "--output", "null", "true"],
    ];
    for args in refused_by_clap {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
    }
    let refused: [(&[&str], &str); 7] = [
        (&["-m", "5", "-M", "3", "true"], "larger than --max-runs"),
        (&["-p", "a", "-p", "b", "-p", "c", "x", "y"], "just once or 2 times"),
        (&["-n", "a", "-n", "b", "true"], "too many --command-name"),
        (&["--probe", "bogus", "true"], "--probe bogus"),
        (&["--timeout=0", "true"], "--timeout 0"),
        (&["-P", "n", "0.1", "0.3", "true"], "needs a step"),
        (&["-N", "echo 'a", "true"], "unclosed quote"),
    ];
    for (args, message) in refused {
        let output = run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(message) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn after_ctrl_c_the_cleanup_still_runs_and_the_run_is_partial() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let marker = dir.path().join("cleaned");
    let command = "sleep 45.8131";
    let mut child = harness()
        .args(["run", "-r", "3", "--probe", "none", "--cleanup"])
        .arg(format!("touch {}", marker.display()))
        .arg("--out")
        .arg(&out)
        .arg(command)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the command started", || {
        sleeps_with(command) >= 1
    });
    // SAFETY: our child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(marker.exists(), "the cleanup did not run after Ctrl-C");
    assert_eq!(manifest(&out).status, RunStatus::Partial);
    assert!(processes_with(command).is_empty());
}
